"""DeepFM over the issue-15 field options: combiners, weights, shared tables, own sizes, numeric sequences.

Every output is checked against a NumPy reference that builds each field's
vector by hand (one field and one position at a time) from the model's own
tables.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    build_deepfm,
    field_order,
    part_models,
    part_names,
)
from deepfm_keras.layers import CategoricalEmbedding
from deepfm_keras.model import build_embedding_views, build_inputs
from deepfm_keras.spec.feature_spec import field_groups
from deepfm_keras.spec.features import NumericSequenceFeature
from tests.helpers import save_and_load

SPEC = [
    NumericFeature("age"),
    NumericSequenceFeature("prices", max_len=4, combiner="max"),
    CategoricalFeature("movie", vocabulary_size=30),
    MultiCategoricalFeature("history", vocabulary_size=30, max_len=5, weight_name="history_w", embedding_name="movie"),
    MultiCategoricalFeature("genres", vocabulary_size=8, max_len=3, combiner="sum"),
    MultiCategoricalFeature("tags", vocabulary_size=12, max_len=4, combiner="max", weight_name="tag_w"),
    CategoricalFeature("zip", vocabulary_size=40, embedding_dim=7),
    CategoricalFeature("gender", vocabulary_size=3, embedding_dim=2),
    NumericFeature("year", embedding_dim=6),
]
K = 4


def make_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    prices = rng.normal(size=(n, 4)).astype("float32")
    prices[rng.random((n, 4)) < 0.4] = np.nan
    prices[0] = np.nan  # an all-padding numeric sequence
    history = rng.integers(0, 30, size=(n, 5))
    history[1] = 0  # an all-padding id list
    tags = rng.integers(0, 12, size=(n, 4))
    tags[2, 1:] = 0
    return {
        "age": rng.normal(size=(n, 1)).astype("float32"),
        "prices": prices,
        "movie": rng.integers(0, 30, size=(n, 1)),
        "history": history,
        "history_w": rng.normal(size=(n, 5)).astype("float32"),  # negative weights too
        "genres": rng.integers(0, 8, size=(n, 3)),
        "tags": tags,
        "tag_w": rng.random((n, 4)).astype("float32"),
        "zip": rng.integers(0, 40, size=(n, 1)),
        "gender": rng.integers(0, 3, size=(n, 1)),
        "year": rng.normal(size=(n, 1)).astype("float32"),
    }


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))


def _pool_ids(rows, ids, weights, combiner):
    """rows (cols, d) of one row's list: pooled one position at a time."""
    picked = [(rows[j] * (1.0 if weights is None else weights[j])) for j in range(len(ids)) if ids[j] != 0]
    if not picked:
        return np.zeros(rows.shape[1])
    if combiner == "sum":
        return np.sum(picked, axis=0)
    if combiner == "max":
        return np.max(picked, axis=0)
    return np.sum(picked, axis=0) / len(picked)


def _pool_numbers(values, combiner):
    present = [v for v in values if not np.isnan(v)]
    if not present:
        return 0.0
    return {"sum": np.sum, "max": np.max, "mean": np.mean}[combiner](present)


def reference_vectors(model, x, prefix, width_of):
    """{field: (n, width)} by hand from the model's tables, tables shared by `embedding_name`."""
    n = len(x["age"])
    vectors = {}
    for kind, dim, features in field_groups(SPEC):
        suffix = "" if dim is None else f"_d{dim}"
        if kind == "numeric":
            kernel = model.get_layer(f"{prefix}_numeric{suffix}").weights[0].numpy()
            for i, f in enumerate(features):
                if isinstance(f, NumericSequenceFeature):
                    s = np.array([_pool_numbers(x[f.name][r], f.combiner) for r in range(n)])
                else:
                    s = x[f.name][:, 0]
                vectors[f.name] = s[:, None] * kernel[i][None]
            continue
        table = model.get_layer(f"{prefix}_categorical{suffix}").weights[0].numpy()
        offsets, next_row = {}, 0
        for f in features:
            table_name = getattr(f, "embedding_name", None) or f.name
            if table_name not in offsets:
                offsets[table_name] = next_row
                next_row += f.vocabulary_size + 1
        assert next_row == len(table)
        for f in features:
            off = offsets[getattr(f, "embedding_name", None) or f.name]
            ids = x[f.name].reshape(n, -1)
            if isinstance(f, CategoricalFeature):
                vectors[f.name] = table[off + ids[:, 0]]
                continue
            w = x[f.weight_name] if f.weight_name else None
            vectors[f.name] = np.stack(
                [_pool_ids(table[off + ids[r]], ids[r], None if w is None else w[r], f.combiner) for r in range(n)]
            )
    return vectors


def numpy_reference(model, x):
    n = len(x["age"])
    order = field_order(SPEC)
    by_name = {f.name: f for f in SPEC}
    own = reference_vectors(model, x, "embedding", None)

    def fit(v):  # the FM view: first K coordinates, or zero-padded to K
        return v[:, :K] if v.shape[1] >= K else np.pad(v, [(0, 0), (0, K - v.shape[1])])

    emb = np.stack([fit(own[name]) for name in order], axis=1)
    deep_view = np.concatenate([own[name] for name in order], axis=1)
    linear = reference_vectors(model, x, "linear", None)
    fm_1d = np.sum([linear[name][:, 0] for name in order], axis=0)[:, None]
    fm_2d = np.zeros((n, 1))
    for i, j in itertools.combinations(range(len(order)), 2):
        fm_2d[:, 0] += (emb[:, i] * emb[:, j]).sum(axis=1)
    deep = keras.ops.convert_to_numpy(model.get_layer("deep")(deep_view.astype("float32")))
    kernel, bias = (w.numpy() for w in model.get_layer("combine").weights)
    logit = np.concatenate([fm_1d, fm_2d, deep], axis=1) @ kernel + bias
    assert all(
        by_name[name].embedding_dim in (None, K) or own[name].shape[1] == by_name[name].embedding_dim for name in order
    )
    return emb, fm_1d, fm_2d, deep, 1.0 / (1.0 + np.exp(-logit))


def test_every_field_option_matches_the_numpy_reference():
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    randomize(model)
    x = make_inputs(24)
    emb, fm_1d, fm_2d, deep, prob = numpy_reference(model, x)
    parts = {k: m.predict(x, verbose=0) for k, m in part_models(model).items()}
    np.testing.assert_allclose(parts["embeddings"], emb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(parts["fm_1d"], fm_1d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["fm_2d"], fm_2d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["deep"], deep, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.predict(x, verbose=0), prob, rtol=1e-4, atol=1e-5)


def test_a_shared_table_is_one_block_of_rows_for_both_fields():
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    table = model.get_layer("embedding_categorical")
    # movie and history share one block; genres and tags have their own: (30+1) + (8+1) + (12+1) rows.
    assert table.table_size == 31 + 9 + 13
    x = make_inputs(4)
    x["movie"][:, 0] = [5, 6, 7, 8]
    x["history"][:] = 0
    x["history"][:, 0] = [5, 6, 7, 8]
    x["history_w"][:] = 1.0
    vectors = part_models(model)["embeddings"].predict(x, verbose=0)
    order = field_order(SPEC)
    np.testing.assert_array_equal(vectors[:, order.index("movie")], vectors[:, order.index("history")])


def test_deep_view_holds_each_fields_own_size():
    inputs = build_inputs(SPEC)
    fm_view, deep_view = build_embedding_views(SPEC, inputs, embedding_dim=K)
    sizes = [f.embedding_dim or K for f in SPEC]
    assert tuple(fm_view.shape) == (None, len(SPEC), K)
    assert tuple(deep_view.shape) == (None, sum(sizes))


def test_a_plain_spec_keeps_one_embeddings_tensor_for_both_parts():
    spec = [NumericFeature("a"), CategoricalFeature("b", 5), MultiCategoricalFeature("c", 5, max_len=2)]
    fm_view, deep_view = build_embedding_views(spec, build_inputs(spec), embedding_dim=K)
    assert fm_view is deep_view
    model = build_deepfm(spec, embedding_dim=K, hidden_units=(4,))
    names = {layer.name for layer in model.layers}
    assert "deep_embeddings" not in names and not any(n.endswith("_fit") for n in names)


def test_save_load_round_trip_with_every_field_option(tmp_path):
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,), task="regression")
    randomize(model)
    x = make_inputs(16)
    loaded = save_and_load(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_gradients_of_every_table_stay_row_sparse():
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    x = make_inputs(16)
    y = np.ones((16, 1), "float32")
    tables = [layer.embeddings for layer in model.layers if isinstance(layer, CategoricalEmbedding)]
    assert len(tables) == 6  # (default, d7, d2 groups) x (embedding, linear)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, [t.value for t in tables])
    assert all(isinstance(g, tf.IndexedSlices) for g in grads), [type(g).__name__ for g in grads]


def test_nan_padding_is_accepted_in_numeric_sequences_only():
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    x = make_inputs(8)
    assert np.isfinite(model.predict(x, verbose=0)).all()
    bad = dict(x, age=np.where(np.arange(8)[:, None] == 3, np.nan, x["age"]).astype("float32"))
    with pytest.raises(ValueError, match=r"Feature 'age', row 3: nan"):
        model.predict(bad, verbose=0)
    bad = dict(x, prices=np.full((8, 4), np.inf, "float32"))
    with pytest.raises(ValueError, match=r"Feature 'prices', row 0.*inf"):
        model.predict(bad, verbose=0)
    bad = dict(x, history_w=np.where(np.arange(8)[:, None] == 5, np.nan, x["history_w"]).astype("float32"))
    with pytest.raises(ValueError, match=r"Feature 'history_w', row 5"):
        model.predict(bad, verbose=0)


def test_training_on_numeric_sequence_padding_keeps_weights_finite():
    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = make_inputs(64)
    y = (np.random.default_rng(1).random((64, 1)) < 0.5).astype("float32")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)


@pytest.mark.parametrize(
    "make_spec, match",
    [
        (
            lambda: [CategoricalFeature("movie", 30), MultiCategoricalFeature("h", 31, 3, embedding_name="movie")],
            r"share the table 'movie' but differ in `vocabulary_size` \(30 vs 31\)",
        ),
        (
            lambda: [
                CategoricalFeature("movie", 30),
                MultiCategoricalFeature("h", 30, 3, embedding_name="movie", embedding_dim=8),
            ],
            r"differ in `embedding_dim`",
        ),
        (
            lambda: [NumericFeature("x"), MultiCategoricalFeature("h", 30, 3, embedding_name="x")],
            r"'x' is a numeric feature",
        ),
        (lambda: [MultiCategoricalFeature("h", 30, 3, weight_name="h")], r"Duplicate input name 'h'"),
        (
            lambda: [MultiCategoricalFeature("h", 30, 3, weight_name="w"), NumericFeature("W")],
            r"'w' and 'W' differ only in case",
        ),
        (lambda: [MultiCategoricalFeature("h", 30, 3, combiner="median")], r"Feature 'h': `combiner` should be one of"),
        (lambda: [NumericSequenceFeature("s", 0)], r"Feature 's': `max_len` should be an integer >= 1"),
        (lambda: [CategoricalFeature("c", 5, embedding_dim=0)], r"Feature 'c': `embedding_dim` should be an integer"),
        (lambda: [CategoricalFeature("c", 5, embedding_name="bad name")], r"Feature 'c': `embedding_name` should be"),
    ],
)
def test_bad_field_options_fail_naming_the_feature(make_spec, match):
    with pytest.raises(ValueError, match=match):
        build_deepfm(make_spec(), embedding_dim=K, hidden_units=(4,))


def test_field_importance_names_every_field_of_every_group():
    from deepfm_keras import field_importance

    model = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,))
    randomize(model)
    importance = field_importance(model, make_inputs(16))
    assert list(importance.fields) == field_order(SPEC)
    assert importance.interaction.shape == (len(SPEC), len(SPEC))


def test_parts_selects_the_ablations_over_the_same_inputs():
    x = make_inputs(8)
    deep_only = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,), parts=("deep",))
    assert part_names(deep_only) == ["deep"] and deep_only.get_layer("combine").kernel.shape == (1, 1)
    fm_only = build_deepfm(SPEC, embedding_dim=K, hidden_units=(8,), parts=("fm_1d", "fm_2d"))
    assert part_names(fm_only) == ["fm_1d", "fm_2d"]
    assert not any(layer.name == "deep" for layer in fm_only.layers)
    for model in (deep_only, fm_only):
        assert model.predict(x, verbose=0).shape == (8, 1)
    with pytest.raises(ValueError, match=r"`parts` should be distinct names of"):
        build_deepfm(SPEC, embedding_dim=K, parts=("deep", "deep"))
    with pytest.raises(ValueError, match=r"`parts` should be distinct names of"):
        build_deepfm(SPEC, embedding_dim=K, parts=("wide",))
