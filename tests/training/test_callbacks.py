"""ContributionLogger: combine weights and scale-aware shares in TensorBoard, read back with TensorBoard's reader."""

import keras
import numpy as np
import pytest

from deepfm_keras import (
    CategoricalFeature,
    ContributionLogger,
    MultiCategoricalFeature,
    NumericFeature,
    build_deepfm,
    get_strategy,
    part_models,
)
from deepfm_keras.training.callbacks import FieldImportanceLogger, HParamsLogger, log_hparams
from deepfm_keras.training.importance import field_importance
from tests.workers.events import read_scalars

PARTS = ("fm_1d", "fm_2d", "deep")
SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=30),
    MultiCategoricalFeature("tags", vocabulary_size=8, max_len=3),
]
EPOCHS = 3


def make_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 30, size=(n, 1)).astype("int32"),
        "tags": rng.integers(0, 8, size=(n, 3)).astype("int32"),
    }
    logit = np.linspace(-2, 2, 30)[inputs["user"][:, 0]] + inputs["x"][:, 0]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32").reshape(-1, 1)
    return inputs, labels


def build(strategy=None):
    strategy = strategy or get_strategy()
    with strategy.scope():
        model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
    return model


def expected_shares(model, batch):
    kernel = model.get_layer("combine").kernel.numpy().reshape(-1)
    parts = part_models(model)
    std = np.array([np.std(parts[p].predict(batch, verbose=0)) for p in PARTS])
    scaled = kernel * std
    return scaled / np.abs(scaled).sum()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained EPOCHS epochs under MirroredStrategy with Keras' TensorBoard and ContributionLogger."""
    log_dir = tmp_path_factory.mktemp("logs")
    inputs, labels = make_data()
    batch = {name: values[:128] for name, values in inputs.items()}
    model = build()
    logger = ContributionLogger(log_dir, validation_data=batch)
    model.fit(
        inputs,
        labels,
        batch_size=64,
        epochs=EPOCHS,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(str(log_dir), write_graph=False),
            logger,
            FieldImportanceLogger(log_dir, batch, top_pairs=2),
            HParamsLogger(log_dir, {"batch_size": 64, "label": "test"}),
        ],
    )
    return model, logger, log_dir, batch


def test_one_value_per_epoch_per_tag(trained):
    _, _, log_dir, _ = trained
    scalars = read_scalars(log_dir / "contributions")
    expected_tags = (
        {f"contribution/{p}" for p in (*PARTS, "bias")}
        | {f"contribution_share/{p}" for p in PARTS}
        | {f"contribution_std/{p}" for p in PARTS}
    )
    assert set(scalars) == expected_tags
    for tag in expected_tags:
        assert [step for step, _ in scalars[tag]] == list(range(EPOCHS)), tag


def test_last_values_are_the_final_combine_weights(trained):
    model, _, log_dir, batch = trained
    scalars = read_scalars(log_dir / "contributions")
    combine = model.get_layer("combine")
    kernel = combine.kernel.numpy().reshape(-1)
    for part, weight in zip(PARTS, kernel, strict=True):
        assert scalars[f"contribution/{part}"][-1][1] == pytest.approx(float(weight), abs=1e-6)
    assert scalars["contribution/bias"][-1][1] == pytest.approx(float(combine.bias.numpy()[0]), abs=1e-6)
    # The weights move during training, so the per-epoch values are not all equal.
    assert len({value for _, value in scalars["contribution/deep"]}) > 1


def test_shares_are_scale_aware_and_normalised(trained):
    model, logger, log_dir, batch = trained
    scalars = read_scalars(log_dir / "contributions")
    shares = np.array([scalars[f"contribution_share/{p}"][-1][1] for p in PARTS])
    assert np.abs(shares).sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(shares, expected_shares(model, batch), atol=1e-5)
    assert logger.contributions()["contribution_share"] == pytest.approx(
        dict(zip(PARTS, shares, strict=True)), abs=1e-6
    )


def test_keras_tensorboard_shares_the_log_dir(trained):
    _, _, log_dir, _ = trained
    loss = read_scalars(log_dir / "train")["epoch_loss"]
    assert [step for step, _ in loss] == list(range(EPOCHS))


def test_share_keeps_the_sign():
    model = build()
    inputs, _ = make_data(n=64)
    model.get_layer("combine").kernel.assign(np.array([[1.0], [-2.0], [0.0]], dtype="float32"))
    logger = ContributionLogger("unused", validation_data=inputs)
    logger.set_model(model)
    values = logger.contributions()
    assert values["contribution"]["fm_2d"] == -2.0
    share = values["contribution_share"]
    assert share["fm_2d"] < 0  # negative weight, negative share
    assert abs(share["fm_1d"]) + abs(share["fm_2d"]) + abs(share["deep"]) == pytest.approx(1.0)
    assert share["deep"] == 0.0
    np.testing.assert_allclose([share[p] for p in PARTS], expected_shares(model, inputs), atol=1e-6)


def test_without_validation_data_logs_raw_weights_only(tmp_path):
    model = build()
    inputs, labels = make_data(n=64)
    model.fit(inputs, labels, epochs=2, verbose=0, callbacks=[ContributionLogger(tmp_path)])
    assert set(read_scalars(tmp_path / "contributions")) == {f"contribution/{p}" for p in (*PARTS, "bias")}


def test_bad_arguments():
    with pytest.raises(ValueError, match="`log_dir` should be a non-empty path"):
        ContributionLogger("")
    with pytest.raises(ValueError, match="`validation_data` should be a dict"):
        ContributionLogger("logs", validation_data=[np.zeros(3)])
    with pytest.raises(ValueError, match="`run_name` should be a non-empty string"):
        ContributionLogger("logs", run_name="")


def test_model_without_combine_layer_fails_clearly(tmp_path):
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="not_deepfm")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no layer named 'combine'"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0, callbacks=[ContributionLogger(tmp_path)])


def test_combine_kernel_must_match_the_parts(tmp_path):
    model = build()
    inputs, labels = make_data(n=64)
    logger = ContributionLogger(tmp_path, part_names=("fm_1d", "fm_2d"))
    with pytest.raises(ValueError, match=r"kernel of shape \(2, 1\)"):
        model.fit(inputs, labels, verbose=0, callbacks=[logger])


def test_a_nan_weight_or_part_output_is_reported_as_nan_never_as_a_share_of_zero(tmp_path):
    model = build()
    inputs, _ = make_data(n=64)
    logger = ContributionLogger(tmp_path, validation_data=inputs)
    logger.set_model(model)
    logger.on_train_begin()
    model.get_layer("combine").kernel.assign(np.array([[1.0], [np.nan], [1.0]], dtype="float32"))
    logger.on_epoch_end(0)
    model.get_layer("combine").kernel.assign(np.ones((3, 1), dtype="float32"))
    model.get_layer("deep").output_layer.bias.assign([np.nan])  # a NaN part output, finite weights
    logger.on_epoch_end(1)
    logger.on_train_end()
    scalars = read_scalars(tmp_path / "contributions")
    assert np.isnan(scalars["contribution/fm_2d"][0][1]) and scalars["contribution/fm_1d"][0][1] == 1.0
    assert np.isnan(scalars["contribution_std/deep"][1][1])
    for epoch in (0, 1):
        for part in PARTS:
            assert np.isnan(scalars[f"contribution_share/{part}"][epoch][1]), (epoch, part)


def test_a_fourth_part_of_the_users_is_logged_by_its_name(tmp_path):
    from deepfm_keras import (
        DeepFMModel,
        build_deep,
        build_field_embeddings,
        build_first_order,
        build_inputs,
        build_second_order,
        combine_parts,
        part_names,
    )

    inputs = build_inputs(SPEC)
    embeddings = build_field_embeddings(SPEC, inputs, embedding_dim=4)
    parts = [
        build_first_order(SPEC, inputs),
        build_second_order(embeddings),
        build_deep(embeddings, hidden_units=(8,)),
        build_deep(embeddings, hidden_units=(4,), name="tower"),
    ]
    model = DeepFMModel(inputs, combine_parts(parts))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert part_names(model) == ["fm_1d", "fm_2d", "deep", "tower"]
    assert sorted(part_models(model)) == ["deep", "embeddings", "fm_1d", "fm_2d", "tower"]
    data, labels = make_data(n=128)
    model.fit(data, labels, epochs=2, verbose=0, callbacks=[ContributionLogger(tmp_path, validation_data=data)])
    scalars = read_scalars(tmp_path / "contributions")
    names = ("fm_1d", "fm_2d", "deep", "tower")
    assert {f"contribution_share/{p}" for p in names} <= set(scalars)
    shares = np.array([scalars[f"contribution_share/{p}"][-1][1] for p in names])
    assert np.abs(shares).sum() == pytest.approx(1.0, abs=1e-6)
    kernel = model.get_layer("combine").kernel.numpy().reshape(-1)
    assert scalars["contribution/tower"][-1][1] == pytest.approx(float(kernel[3]), abs=1e-6)


def test_validation_data_with_an_extra_key_is_refused_when_training_begins(tmp_path):
    model = build()
    inputs, labels = make_data(n=64)
    logger = ContributionLogger(tmp_path, validation_data={**inputs, "a": inputs["x"]})
    with pytest.raises(ValueError, match=r"Unexpected key\(s\) \['a'\] in the validation_data of ContributionLogger"):
        model.fit(inputs, labels, verbose=0, callbacks=[logger])


def read_events(run_dir):
    """`{tag: (plugin name, [(step, value as NumPy), ...])}` of every tensor summary of a run."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return {
        tag: (
            acc.SummaryMetadata(tag).plugin_data.plugin_name,
            [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)],
        )
        for tag in acc.Tags()["tensors"]
    }


def read_layout(run_dir):
    from tensorboard.plugins.custom_scalar import layout_pb2

    plugin, [(step, content)] = read_events(run_dir)["custom_scalars__config__"]
    assert plugin == "custom_scalars" and step == 0
    return layout_pb2.Layout.FromString(content.item())


def test_custom_scalars_layout_puts_the_parts_on_one_chart(trained):
    _, _, log_dir, _ = trained
    (category,) = read_layout(log_dir / "contributions").category
    charts = {chart.title: list(chart.multiline.tag) for chart in category.chart}
    assert category.title == "DeepFM parts"
    assert charts == {
        "combine weights c_part": ["^contribution/(fm_1d|fm_2d|deep)$"],
        "scale-aware shares": ["^contribution_share/(fm_1d|fm_2d|deep)$"],
        "std of each part's output": ["^contribution_std/(fm_1d|fm_2d|deep)$"],
        "global bias b": ["^contribution/bias$"],
    }
    import re

    tags = set(read_scalars(log_dir / "contributions"))
    matched = {t for regexes in charts.values() for t in tags if any(re.search(r, t) for r in regexes)}
    assert matched == tags  # every scalar is on exactly one chart
    assert all(sum(bool(re.search(r[0], t)) for r in charts.values()) == 1 for t in tags)


def test_field_importance_logger_writes_heatmap_text_and_scalars(trained):
    model, _, log_dir, batch = trained
    events = read_events(log_dir / "field_importance")
    plugin, images = events["field_importance/interaction"]
    assert plugin == "images" and [step for step, _ in images] == list(range(EPOCHS))
    width, height, png = images[-1][1][:3]
    assert int(width) > 50 and int(height) > 50 and png[:8] == b"\x89PNG\r\n\x1a\n"
    plugin, texts = events["field_importance/summary"]
    assert plugin == "text" and len(texts) == EPOCHS
    importance = field_importance(model, batch)  # the model after the last epoch
    (a, b, value), _ = importance.top_pairs(2)
    text = texts[-1][1].item().decode()
    assert f"| 1 | {a} | {b} | {value:.4g} |" in text and "| 3 |" not in text
    scalars = read_scalars(log_dir / "field_importance")
    assert len(scalars) == 2 * len(importance.fields)
    for i, name in enumerate(importance.fields):
        assert scalars[f"field_importance/first_order/{name}"][-1] == (
            EPOCHS - 1,
            pytest.approx(importance.first_order[i], rel=1e-5),
        )
        total = importance.interaction[i].sum()
        assert scalars[f"field_importance/interaction/{name}"][-1][1] == pytest.approx(total, rel=1e-5)
    assert {c.title for c in read_layout(log_dir / "field_importance").category} == {"DeepFM fields"}


def test_hparams_logger_records_the_model_and_the_final_metrics(trained, tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    model, _, log_dir, _ = trained
    plugin, [_] = read_events(log_dir / "hparams")["_hparams_/session_start_info"]  # one session
    assert plugin == "hparams"
    session = plugin_data_pb2.HParamsPluginData.FromString(
        read_events_metadata(log_dir / "hparams", "_hparams_/session_start_info")
    ).session_start_info
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in session.hparams.items()}
    assert values == {
        "embedding_dim": 4,
        "hidden_units": "8",
        "dropout": 0.0,
        "optimizer": "Adam",
        "learning_rate": pytest.approx(0.02),
        "batch_size": 64,
        "label": "test",
    }
    scalars = read_scalars(log_dir / "hparams")
    assert set(scalars) == {"final/loss"}
    history_loss = model.history.history["loss"][-1]
    assert scalars["final/loss"] == [(EPOCHS - 1, pytest.approx(history_loss, rel=1e-6))]
    log_hparams(tmp_path, metrics={"holdout/auc": 0.75})
    assert read_scalars(tmp_path / "hparams") == {"holdout/auc": [(0, 0.75)]}
    assert "_hparams_/session_start_info" not in read_events(tmp_path / "hparams")  # metrics only


def read_events_metadata(run_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return acc.SummaryMetadata(tag).plugin_data.content


def test_importance_and_hparams_bad_arguments():
    with pytest.raises(ValueError, match="`data` should be a dict"):
        FieldImportanceLogger("logs", [np.zeros(3)])
    with pytest.raises(ValueError, match="`top_pairs` should be a positive integer"):
        FieldImportanceLogger("logs", {}, top_pairs=0)
    with pytest.raises(ValueError, match="`hparams` should be a dict"):
        HParamsLogger("logs", [("a", 1)])
    with pytest.raises(ValueError, match="Hyperparameter 'f' should be a bool, number, string or sequence"):
        HParamsLogger("logs", {"f": object()})


def test_make_callbacks_options_for_the_tensorboard_explainers(tmp_path):
    from deepfm_keras.training import make_callbacks

    batch = {"x": np.zeros((2, 1))}
    tensorboard, contributions, importance, hparams = make_callbacks(
        log_dir=tmp_path, contribution_data=batch, field_importance=True, hparams={"batch_size": 8}
    )
    assert isinstance(tensorboard, keras.callbacks.TensorBoard) and not tensorboard.write_graph
    assert isinstance(contributions, ContributionLogger) and isinstance(importance, FieldImportanceLogger)
    assert isinstance(hparams, HParamsLogger) and hparams.hparams == {"batch_size": 8}
    assert importance.data.keys() == {"x"} and importance.log_dir == hparams.log_dir == str(tmp_path)
    assert [type(c) for c in make_callbacks(log_dir=tmp_path)] == [keras.callbacks.TensorBoard, ContributionLogger]
    with pytest.raises(ValueError, match="`field_importance=True` needs `contribution_data`"):
        make_callbacks(log_dir=tmp_path, field_importance=True)
    with pytest.raises(ValueError, match="`hparams` needs a `log_dir`"):
        make_callbacks(hparams={})


def test_only_the_chief_writes(tmp_path, monkeypatch):
    import deepfm_keras.training.callbacks as callbacks_module
    import deepfm_keras.training.hparams as hparams_module

    monkeypatch.setattr(callbacks_module, "is_chief", lambda strategy=None: False)
    monkeypatch.setattr(hparams_module, "is_chief", lambda strategy=None: False)
    model = build()
    inputs, labels = make_data(n=64)
    loggers = [ContributionLogger(tmp_path, inputs), FieldImportanceLogger(tmp_path, inputs), HParamsLogger(tmp_path)]
    model.fit(inputs, labels, epochs=1, verbose=0, callbacks=loggers)
    assert list(tmp_path.iterdir()) == []
