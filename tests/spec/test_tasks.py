"""Multi-class and multi-task heads: NumPy references, shared layers, label checks, save/load, serving, logging."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras import (
    CategoricalFeature,
    ContributionLogger,
    FeatureEncoder,
    MultiCategoricalFeature,
    NumericFeature,
    build_deepfm,
    export_serving_model,
    field_importance,
    make_dataset,
    part_models,
    serving_request,
)
from deepfm_keras.model import head_names, part_names
from deepfm_keras.serving import predictions
from deepfm_keras.spec.tasks import Task, compile_kwargs
from tests.helpers import save_and_load

SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=20),
    MultiCategoricalFeature("tags", vocabulary_size=9, max_len=3),
]
TASKS = [Task("click"), Task("conversion", loss_weight=0.25), Task("genre", "multiclass", num_classes=4)]


def make_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 20, size=(n, 1)),
        "tags": rng.integers(0, 9, size=(n, 3)),
    }


def make_labels(n, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "click": (rng.random(n) < 0.5).astype("float32"),
        "conversion": (rng.random(n) < 0.2).astype("float32"),
        "genre": rng.integers(0, 4, size=n),
    }


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def test_multiclass_output_is_softmax_of_per_class_part_weights():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="multiclass", num_classes=5)
    randomize(model)
    x = make_inputs(16)
    parts = {k: v.predict(x, verbose=0).astype("float64") for k, v in part_models(model).items()}
    assert parts["fm_1d"].shape == (16, 5) and parts["fm_2d"].shape == (16, 1) and parts["deep"].shape == (16, 5)
    kernel, bias = (w.numpy().astype("float64") for w in model.get_layer("combine").weights)
    logit = kernel[0] * parts["fm_1d"] + kernel[1] * parts["fm_2d"] + kernel[2] * parts["deep"] + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), softmax(logit), rtol=1e-4, atol=1e-6)


def test_multiclass_first_order_is_a_per_class_weight_per_field():
    spec = [CategoricalFeature("a", 6), CategoricalFeature("b", 4)]
    model = build_deepfm(spec, embedding_dim=2, hidden_units=(4,), task="multiclass", num_classes=3)
    randomize(model)
    x = {"a": np.array([[1], [5]]), "b": np.array([[0], [3]])}
    table = model.get_layer("linear_categorical").embeddings.numpy()  # rows: a 0..5, a's extra row, b 0..3, ...
    expected = table[x["a"][:, 0]] + table[7 + x["b"][:, 0]]
    np.testing.assert_allclose(part_models(model)["fm_1d"].predict(x, verbose=0), expected, rtol=1e-6)


def test_heads_share_the_embeddings_and_fm_2d_and_own_the_rest():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    assert head_names(model) == ["click", "conversion", "genre"]
    assert part_names(model, "click") == ["fm_1d_click", "fm_2d", "deep_click"]
    names = {layer.name for layer in model.layers}
    assert {"embedding_categorical", "fm_2d", "combine_click", "combine_conversion", "combine_genre"} <= names
    assert "linear_click_categorical" in names and "linear_genre_categorical" in names
    assert model.get_layer("combine_genre").kernel.shape == (3, 4)
    out = model.predict(make_inputs(8), verbose=0)
    assert sorted(out) == ["click", "conversion", "genre"]
    assert out["click"].shape == (8, 1) and out["genre"].shape == (8, 4)
    np.testing.assert_allclose(out["genre"].sum(axis=1), 1.0, rtol=1e-5)


def test_head_names_line_up_with_the_model_outputs_whatever_the_task_order():
    tasks = [Task("zeta"), Task("click"), Task("buy", task="multiclass", num_classes=3)]
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=tasks)
    heads = head_names(model)
    assert sorted(heads) == ["buy", "click", "zeta"]
    assert heads == list(model.output_names)
    assert [t.shape[-1] for t in model.outputs] == [3 if h == "buy" else 1 for h in heads]


def test_total_loss_is_the_loss_weighted_sum_of_the_heads():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    randomize(model)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y = make_inputs(64), make_labels(64)
    result = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    p = {k: v.astype("float64") for k, v in model.predict(x, verbose=0).items()}
    eps = 1e-7
    click = np.clip(p["click"][:, 0], eps, 1 - eps)
    conv = np.clip(p["conversion"][:, 0], eps, 1 - eps)
    losses = {
        "click": -np.mean(y["click"] * np.log(click) + (1 - y["click"]) * np.log(1 - click)),
        "conversion": -np.mean(y["conversion"] * np.log(conv) + (1 - y["conversion"]) * np.log(1 - conv)),
        "genre": -np.mean(np.log(np.clip(p["genre"][np.arange(64), y["genre"]], eps, 1))),
    }
    for name, value in losses.items():
        assert result[f"{name}_loss"] == pytest.approx(value, rel=1e-3)
    assert result["loss"] == pytest.approx(losses["click"] + 0.25 * losses["conversion"] + losses["genre"], rel=1e-3)


def test_a_zero_loss_weight_head_is_refused_and_weights_steer_training():
    with pytest.raises(ValueError, match=r"Task 'conversion': `loss_weight` should be a positive number"):
        Task("conversion", loss_weight=0)
    # With the conversion head's loss weighted 1e-6, its own deep part barely moves; click's moves.
    tasks = [Task("click"), Task("conversion", loss_weight=1e-6)]
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=tasks)
    model.compile(optimizer="sgd", **compile_kwargs(tasks))
    before = {n: model.get_layer(f"deep_{n}").weights[0].numpy().copy() for n in ("click", "conversion")}
    y = make_labels(128)
    model.fit(make_inputs(128), {"click": y["click"], "conversion": y["conversion"]}, epochs=3, verbose=0)
    moved = {n: np.abs(model.get_layer(f"deep_{n}").weights[0].numpy() - before[n]).max() for n in before}
    assert moved["click"] > 0 and moved["conversion"] < 1e-3 * moved["click"]


def test_labels_are_checked_per_head_naming_it():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y = make_inputs(16), make_labels(16)
    with pytest.raises(ValueError, match=r"Missing: \['genre'\]"):
        model.fit(x, {"click": y["click"], "conversion": y["conversion"]}, verbose=0)
    with pytest.raises(ValueError, match=r"y of fit\['genre'\]`, row 3: 4 should be a class id in 0 .. 3"):
        model.fit(x, dict(y, genre=np.where(np.arange(16) == 3, 4, y["genre"])), verbose=0)
    with pytest.raises(ValueError, match=r"y of fit\['click'\]`, row 2: 2.0 should be 0 or 1"):
        model.fit(x, dict(y, click=np.where(np.arange(16) == 2, 2.0, y["click"])), verbose=0)
    with pytest.raises(ValueError, match=r"should be a dict from head name to labels"):
        model.fit(x, y["click"], verbose=0)
    single = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="multiclass", num_classes=4)
    single.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"row 0: -1 should be a class id in 0 .. 3"):
        single.fit(x, np.full(16, -1), verbose=0)


def test_labels_of_a_dataset_are_checked_in_the_graph_per_head():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y = make_inputs(16), make_labels(16)
    y["genre"] = np.full(16, 7)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"Labels \W+genre\W+ of a batch should be class ids in 0 .. 3"
    ):
        model.fit(ds, verbose=0)


def per_head_losses(model, x, y, w):
    """Keras' weighted loss of each head by hand: sum(w * loss) / rows."""
    p = {k: v.astype("float64") for k, v in model.predict(x, verbose=0).items()}
    eps = 1e-7
    out = {}
    for name in ("click", "conversion"):
        q = np.clip(p[name][:, 0], eps, 1 - eps)
        out[name] = np.mean(w[name] * -(y[name] * np.log(q) + (1 - y[name]) * np.log(1 - q)))
    out["genre"] = np.mean(w["genre"] * -np.log(np.clip(p["genre"][np.arange(len(w["genre"])), y["genre"]], eps, 1)))
    return out


def head_weights(n, seed=2):
    rng = np.random.default_rng(seed)
    y = make_labels(n)
    # The conversion head learns from the clicked rows only: weight 0 elsewhere.
    return {"click": rng.uniform(0.5, 2.0, n), "conversion": y["click"].copy(), "genre": rng.uniform(0, 3, n)}


def test_each_head_takes_its_own_sample_weights():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    randomize(model)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y, w = make_inputs(64), make_labels(64), head_weights(64)
    result = model.evaluate(x, y, sample_weight=w, batch_size=64, verbose=0, return_dict=True)
    expected = per_head_losses(model, x, y, w)
    for name, value in expected.items():
        assert result[f"{name}_loss"] == pytest.approx(value, rel=1e-3)
    assert result["loss"] == pytest.approx(
        expected["click"] + 0.25 * expected["conversion"] + expected["genre"], rel=1e-3
    )
    # One array weights every head alike.
    one = np.random.default_rng(3).uniform(0, 2, 64)
    shared = model.evaluate(x, y, sample_weight=one, batch_size=64, verbose=0, return_dict=True)
    alike = model.evaluate(x, y, sample_weight=dict.fromkeys(y, one), batch_size=64, verbose=0, return_dict=True)
    assert shared == pytest.approx(alike, rel=1e-6)


def test_make_dataset_gathers_every_heads_labels_and_weights_with_the_same_rows():
    n = 50
    x, y, w = make_inputs(n), make_labels(n), head_weights(n)
    x["x"] = np.arange(n, dtype="float32")[:, None]  # the row number, to find each row in the batches
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    batches = list(make_dataset(x, y, sample_weight=w, batch_size=16, seed=5, model=model))
    assert [b[0]["x"].shape[0] for b in batches] == [16, 16, 16, 2]
    seen = []
    for xb, yb, wb in batches:
        rows = xb["x"].numpy()[:, 0].astype(int)
        seen += rows.tolist()
        assert sorted(yb) == sorted(wb) == sorted(y)
        for head in y:
            np.testing.assert_allclose(yb[head].numpy().reshape(-1), y[head][rows])
            np.testing.assert_allclose(wb[head].numpy(), w[head][rows], rtol=1e-6)
    assert sorted(seen) == list(range(n)) and seen != list(range(n))  # every row once, shuffled
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    history = model.fit(make_dataset(x, y, sample_weight=w, batch_size=16, seed=5), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_per_head_weights_are_checked_naming_the_head_and_row():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y, w = make_inputs(16), make_labels(16), head_weights(16)
    bad = dict(w, genre=np.where(np.arange(16) == 5, -1.0, w["genre"]))
    with pytest.raises(ValueError, match=r"`sample_weight of fit\['genre'\]`, row 5: -1.0 should be a finite number"):
        model.fit(x, y, sample_weight=bad, verbose=0)
    with pytest.raises(ValueError, match=r"`sample_weight of make_dataset\['genre'\]`, row 5: -1.0"):
        make_dataset(x, y, sample_weight=bad, batch_size=4)
    with pytest.raises(ValueError, match=r"one entry per head .* Missing: \['genre'\]"):
        model.evaluate(x, y, sample_weight={"click": w["click"], "conversion": w["conversion"]}, verbose=0)
    with pytest.raises(ValueError, match=r"Unexpected: \['klick'\]"):
        model.fit(x, y, sample_weight=dict(w, klick=w["click"]), verbose=0)
    with pytest.raises(ValueError, match=r"`sample_weight of fit\['conversion'\]` is 0 in every row"):
        model.fit(x, y, sample_weight=dict(w, conversion=np.zeros(16)), verbose=0)
    with pytest.raises(ValueError, match=r"has several heads .* `y` should be a dict of labels"):
        make_dataset(x, y["click"], batch_size=4, model=model)
    with pytest.raises(ValueError, match=r"is a dict, but `y` is one array"):
        make_dataset(x, y["click"], sample_weight=w, batch_size=4)
    # A dataset built by hand is checked in the graph, head by head.
    ds = tf.data.Dataset.from_tensor_slices((x, y, bad)).batch(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Sample weights of a batch should be finite and >= 0"):
        model.fit(ds, verbose=0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Task("g", "multiclass"), r"needs `num_classes`"),
        (lambda: Task("g", "binary", num_classes=3), r"`num_classes` is for multiclass tasks only"),
        (lambda: Task("g", "ranking"), r"`task` should be one of"),
        (lambda: Task("_g"), r"starts with a letter"),
        (lambda: build_deepfm(SPEC, tasks=[Task("a"), Task("A")]), r"Task names should be distinct"),
        (lambda: build_deepfm(SPEC, tasks=[Task("user")]), r"\['user'\] are also input names"),
        (lambda: build_deepfm(SPEC, tasks=[Task("prediction")]), r"may not be named 'prediction'"),
        (lambda: build_deepfm(SPEC, tasks=[]), r"non-empty list of Task"),
    ],
)
def test_bad_tasks_fail_clearly(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_save_load_round_trip_keeps_every_head_and_the_compile_state(tmp_path):
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y = make_inputs(32), make_labels(32)
    model.fit(x, y, epochs=1, verbose=0)
    loaded = save_and_load(model, tmp_path)
    expected, got = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6)
    a = model.evaluate(x, y, verbose=0, return_dict=True)
    b = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)


def test_multiclass_save_load_round_trip(tmp_path):
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="multiclass", num_classes=3)
    randomize(model)
    x = make_inputs(16)
    np.testing.assert_allclose(
        save_and_load(model, tmp_path).predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def test_contributions_are_logged_per_head_and_class(tmp_path):
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    model.compile(optimizer="adam", **compile_kwargs(TASKS))
    x, y = make_inputs(64), make_labels(64)
    logger = ContributionLogger(tmp_path, validation_data=make_inputs(32, seed=3))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    values = logger.contributions()
    kernel = model.get_layer("combine_conversion").kernel.numpy()[:, 0]
    assert values["contribution"]["conversion/deep_conversion"] == pytest.approx(float(kernel[2]))
    genre = model.get_layer("combine_genre").kernel.numpy()
    assert values["contribution"]["genre/fm_2d/class_3"] == pytest.approx(float(genre[1, 3]))
    for head in ("click", "conversion"):
        shares = [v for k, v in values["contribution_share"].items() if k.startswith(f"{head}/")]
        assert len(shares) == 3 and sum(abs(s) for s in shares) == pytest.approx(1.0)
    shares = [v for k, v in values["contribution_share"].items() if k.startswith("genre/") and k.endswith("/class_0")]
    assert len(shares) == 3 and sum(abs(s) for s in shares) == pytest.approx(1.0)
    assert (tmp_path / "contributions").is_dir()


def test_field_importance_reads_one_head_of_a_multi_task_model():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=TASKS)
    randomize(model)
    importance = field_importance(model, make_inputs(16), head="conversion")
    assert importance.fields == ("x", "user", "tags")
    with pytest.raises(ValueError, match="one-output head; this head has 4 classes"):
        field_importance(model, make_inputs(16), head="genre")


def test_multi_task_serving_export_returns_one_output_per_head(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=40), "user": rng.integers(0, 9, 40), "tags": ["a|b", "c", "", "b|c|a"] * 10}
    )
    encoder = FeatureEncoder(numeric=["x"], categorical=["user"], multi_categorical={"tags": "|"}).fit(frame)
    keras.utils.set_random_seed(0)
    model = build_deepfm(encoder.feature_spec, embedding_dim=2, hidden_units=(4,), tasks=TASKS)
    expected = model.predict(encoder.transform(frame), verbose=0)
    path = export_serving_model(model, encoder, tmp_path / "1")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    response = serve(**{k: tf.constant(v) for k, v in serving_request(frame, encoder).items()})
    assert sorted(response) == ["click", "conversion", "genre"]
    np.testing.assert_allclose(predictions(response, "click"), expected["click"][:, 0], atol=1e-5)
    np.testing.assert_allclose(predictions(response, "genre"), expected["genre"], atol=1e-5)
