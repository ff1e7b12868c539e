import itertools

import keras
import numpy as np
import pytest

from deepfm_keras import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    build_deepfm,
    build_field_embeddings,
    build_first_order,
    build_inputs,
    build_second_order,
    combine_parts,
    field_order,
    part_models,
)
from tests.helpers import save_and_load

SPEC = [
    NumericFeature("age"),
    CategoricalFeature("user_id", vocabulary_size=50),
    MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6),
    NumericFeature("year"),
    CategoricalFeature("gender", vocabulary_size=3),
]


def make_inputs(n, seed=0, flat=True):
    rng = np.random.default_rng(seed)
    genres = rng.integers(0, 19, size=(n, 6))
    genres[0] = 0  # an all-padding list
    genres[1, 2:] = 0
    x = {
        "age": rng.normal(size=n).astype("float32"),
        "user_id": rng.integers(0, 50, size=n),
        "genres": genres,
        "year": rng.normal(size=n).astype("float32"),
        "gender": rng.integers(0, 3, size=n),
    }
    if not flat:
        x = {k: v.reshape(n, -1) for k, v in x.items()}
    return x


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))


def numpy_reference(model, x):
    """DeepFM from the paper's formula, one field and one pair at a time."""
    order = field_order(SPEC)
    by_name = {f.name: f for f in SPEC}
    n = len(x["age"])

    def fields(prefix):
        num_k = model.get_layer(f"{prefix}_numeric").weights[0].numpy()
        table = model.get_layer(f"{prefix}_categorical").weights[0].numpy()
        cats = [f for f in SPEC if not isinstance(f, NumericFeature)]
        offsets = np.cumsum([0] + [f.vocabulary_size + 1 for f in cats])
        vectors = {}
        nums = [f for f in SPEC if isinstance(f, NumericFeature)]
        for i, f in enumerate(nums):
            vectors[f.name] = x[f.name].reshape(n, 1) * num_k[i][None]
        for f, off in zip(cats, offsets[:-1], strict=True):
            ids = x[f.name].reshape(n, -1)
            rows = table[off + ids]  # (n, cols, dim)
            if isinstance(f, MultiCategoricalFeature):
                mask = (ids != 0).astype("float32")
                vectors[f.name] = (rows * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            else:
                vectors[f.name] = rows[:, 0]
        return np.stack([vectors[name] for name in order], axis=1)

    emb = fields("embedding")
    fm_1d = fields("linear")[..., 0].sum(axis=1, keepdims=True)
    fm_2d = np.zeros((n, 1))
    for i, j in itertools.combinations(range(len(order)), 2):
        fm_2d[:, 0] += (emb[:, i] * emb[:, j]).sum(axis=1)
    deep = keras.ops.convert_to_numpy(model.get_layer("deep")(emb.astype("float32")))
    kernel, bias = (w.numpy() for w in model.get_layer("combine").weights)
    logit = np.concatenate([fm_1d, fm_2d, deep], axis=1) @ kernel + bias
    assert by_name  # spec used above
    return emb, fm_1d, fm_2d, deep, 1.0 / (1.0 + np.exp(-logit))


def test_model_matches_numpy_reference():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8, 4))
    randomize(model)
    x = make_inputs(32)
    emb, fm_1d, fm_2d, deep, prob = numpy_reference(model, x)
    parts = {k: m.predict(x, verbose=0) for k, m in part_models(model).items()}
    np.testing.assert_allclose(parts["embeddings"], emb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(parts["fm_1d"], fm_1d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["fm_2d"], fm_2d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["deep"], deep, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.predict(x, verbose=0), prob, rtol=1e-4, atol=1e-5)


def test_output_is_sigmoid_of_combine_over_parts():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    randomize(model, seed=3)
    x = make_inputs(16)
    parts = part_models(model)
    stacked = np.concatenate([parts[k].predict(x, verbose=0) for k in ("fm_1d", "fm_2d", "deep")], axis=1)
    kernel, bias = (w.numpy() for w in model.get_layer("combine").weights)
    assert kernel.shape == (3, 1)
    expected = 1.0 / (1.0 + np.exp(-(stacked @ kernel + bias)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_inputs_accept_flat_and_column_shapes():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    twin = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    twin.set_weights(model.get_weights())
    # Separate models: Keras' predict retraces with an unknown rank when one model sees both shapes.
    flat = model.predict(make_inputs(8), verbose=0)
    cols = twin.predict(make_inputs(8, flat=False), verbose=0)
    assert flat.shape == (8, 1)
    np.testing.assert_allclose(flat, cols)


def test_padding_and_out_of_range_ids_stay_finite():
    """In the graph, out-of-range ids read their field's extra row (`predict` refuses them before that)."""
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    x = make_inputs(4)
    x["genres"][:] = 0
    x["user_id"] = np.array([-5, 50, 10**6, 3])
    out = keras.ops.convert_to_numpy(model(x))
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match=r"Feature 'user_id', row 0: id -5 is outside \[0, 50\)"):
        model.predict(x, verbose=0)
    emb = keras.ops.convert_to_numpy(part_models(model)["embeddings"](x))
    genres_pos = field_order(SPEC).index("genres")
    np.testing.assert_array_equal(emb[:, genres_pos], 0.0)
    user_pos = field_order(SPEC).index("user_id")
    # All out-of-range ids share the field's out-of-range row.
    np.testing.assert_allclose(emb[0, user_pos], emb[1, user_pos])
    np.testing.assert_allclose(emb[0, user_pos], emb[2, user_pos])


def test_part_models_share_weights_with_the_full_model():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    parts = part_models(model)
    x, y = make_inputs(64), np.random.default_rng(0).integers(0, 2, size=64)
    before = {k: m.predict(x, verbose=0) for k, m in parts.items()}
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.train_on_batch(x, y)
    after = {k: m.predict(x, verbose=0) for k, m in parts.items()}
    for name in ("embeddings", "deep"):
        assert not np.allclose(before[name], after[name]), name
    # And the changed parts still combine into the model's output.
    stacked = np.concatenate([after[k] for k in ("fm_1d", "fm_2d", "deep")], axis=1)
    kernel, bias = (w.numpy() for w in model.get_layer("combine").weights)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), 1 / (1 + np.exp(-(stacked @ kernel + bias))), rtol=1e-5, atol=1e-6
    )


def test_save_load_round_trip(tmp_path):
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8, 4), dropout=0.2, embedding_l2=1e-4)
    randomize(model)
    x = make_inputs(32)
    loaded = save_and_load(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)
    parts, loaded_parts = part_models(model), part_models(loaded)
    for name in parts:
        np.testing.assert_allclose(loaded_parts[name].predict(x, verbose=0), parts[name].predict(x, verbose=0))


def test_model_config_round_trip():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="regression")
    randomize(model)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = make_inputs(8)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_regression_output_is_unbounded():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="regression")
    model.get_layer("combine").bias.assign([7.0])
    out = model.predict(make_inputs(8), verbose=0)
    assert (out > 1.5).all()


def test_layer_names_and_parameter_count():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    for name in ("fm_1d", "fm_2d", "deep", "combine", "embeddings", "prediction"):
        model.get_layer(name)
    cat_rows = (50 + 1) + (19 + 1) + (3 + 1)
    expected = cat_rows * 4 + 2 * 4 + cat_rows + 2 + (5 * 4 * 8 + 8) + (8 + 1) + (3 + 1)
    assert model.count_params() == expected


@pytest.mark.parametrize(
    "spec, kwargs, match",
    [
        ([NumericFeature("a"), CategoricalFeature("a", 3)], {}, "Duplicate feature name 'a'"),
        ([], {}, "empty"),
        ([CategoricalFeature("u", 3)], {"embedding_dim": 0}, "embedding_dim.*Received: embedding_dim=0"),
        ([CategoricalFeature("u", 3)], {"task": "ranking"}, "task.*Received: task='ranking'"),
        ([CategoricalFeature("u", 3)], {"dropout": 1.5}, "dropout"),
        ([CategoricalFeature("u", 3)], {"embedding_l2": -1.0}, "embedding_l2"),
        ([{"kind": "categorical", "name": "u", "vocabulary_size": 1}], {}, "'u'.*vocabulary_size"),
        ([{"kind": "multi_categorical", "name": "g", "vocabulary_size": 5, "max_len": 0}], {}, "'g'.*max_len"),
    ],
)
def test_bad_specs_fail_at_build_time(spec, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_deepfm(spec, **kwargs)


def test_bad_feature_objects_fail_naming_the_feature():
    with pytest.raises(ValueError, match="'user_id'.*vocabulary_size"):
        build_deepfm([CategoricalFeature("user_id", vocabulary_size=1)])
    with pytest.raises(ValueError, match="'genres'.*max_len"):
        build_deepfm([MultiCategoricalFeature("genres", vocabulary_size=19, max_len=0)])


def test_fm_only_variant_from_public_builders(tmp_path):
    inputs = build_inputs(SPEC)
    embeddings = build_field_embeddings(SPEC, inputs, embedding_dim=4)
    fm_1d = build_first_order(SPEC, inputs)
    fm_2d = build_second_order(embeddings)
    model = keras.Model(inputs, combine_parts([fm_1d, fm_2d], task="binary"))
    assert model.get_layer("combine").kernel.shape == (2, 1)
    x = make_inputs(8)
    loaded = save_and_load(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_training_learns_a_pairwise_interaction():
    """Clicks driven by a latent user x item dot product: only the interaction parts can learn them."""
    rng = np.random.default_rng(7)
    n_users, n_items, n = 30, 30, 20000
    u_vec, i_vec = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    logits = 2.0 * (u_vec[users] * i_vec[items]).sum(axis=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype("float32")
    spec = [CategoricalFeature("user", n_users), CategoricalFeature("item", n_items)]
    keras.utils.set_random_seed(0)
    model = build_deepfm(spec, embedding_dim=8, hidden_units=(32, 16))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    x = {"user": users, "item": items}
    start = model.evaluate(x, y, verbose=0, batch_size=1024)
    history = model.fit(x, y, epochs=6, batch_size=256, verbose=0)
    end = history.history["loss"][-1]
    # Best loss with main effects only (per-user and per-item rates) stays near log(2) here.
    assert start > 0.6
    assert end < 0.5, history.history["loss"]


def test_compile_resolves_names_and_sets_tuned_defaults(tmp_path):
    from deepfm_keras.model import DEFAULT_STEPS_PER_EXECUTION, DeepFMModel
    from deepfm_keras.optimizers import LazyAdam

    model = build_deepfm([CategoricalFeature("u", 10), NumericFeature("x")], embedding_dim=4, hidden_units=(8,))
    assert isinstance(model, DeepFMModel)
    model.compile(optimizer="adam", loss="mse")
    assert isinstance(model.optimizer, LazyAdam)
    assert model.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION
    assert model.jit_compile is False  # XLA slows the row-sparse table update
    model.fit({"u": np.arange(8) % 10, "x": np.ones(8, "float32")}, np.zeros(8), epochs=1, verbose=0)
    loaded = save_and_load(model, tmp_path)
    assert isinstance(loaded, DeepFMModel) and isinstance(loaded.optimizer, LazyAdam)
    assert loaded.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="mse", steps_per_execution=1, jit_compile=True)
    assert type(model.optimizer) is keras.optimizers.RMSprop
    assert model.steps_per_execution == 1 and model.jit_compile is True


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # Keras' own, for a dataset of unknown length
def test_progress_bar_counts_the_steps_a_multi_step_execution_ran(capsys):
    import re
    import time

    import tensorflow as tf

    model = build_deepfm([CategoricalFeature("u", 20)], embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")  # 32 steps per execution
    x = {"u": (np.arange(193 * 2) % 18 + 2).astype("int32")}
    known = tf.data.Dataset.from_tensor_slices((x, (x["u"] % 2).astype("float32"))).batch(2)  # 193 batches
    unknown = known.filter(lambda features, label: True)
    # Keras' bar redraws at most every 0.05 s: slow batch ends so that each update shows.
    slow = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(0.06))

    def steps_shown(data, **kwargs):
        capsys.readouterr()
        model.fit(data, callbacks=[slow], verbose=1, **kwargs)
        return [tuple(map(int, m)) for m in re.findall(r"(?<!Epoch )(\d+)/(\d+)", capsys.readouterr().out)]

    shown = steps_shown(known, epochs=1)
    assert shown[-1] == (193, 193) and max(done for done, _ in shown) == 193  # Keras alone shows 224/193
    assert [done for done, _ in shown[:-1]] == [32, 64, 96, 128, 160, 192, 193][: len(shown) - 1]
    # Unknown length: the first epoch finds 193 steps (Keras alone: 224), the target of the second.
    output = steps_shown(unknown, epochs=2)
    assert (193, 193) in output and all(done <= 193 and total == 193 for done, total in output)
    capsys.readouterr()
    model.fit(known, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
