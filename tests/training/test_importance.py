"""field_importance against a naive NumPy double loop over fields built from the layers' weights."""

import json

import keras
import numpy as np
import pytest

from deepfm_keras import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    build_deep,
    build_deepfm,
    build_field_embeddings,
    build_first_order,
    build_inputs,
    combine_parts,
    field_order,
)
from deepfm_keras.training.importance import FieldImportance, _plain_heatmap, field_importance, heatmap_image
from tests.helpers import save_and_load

# Numeric fields first in the model whatever the spec order: x, age, user, tags.
SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=7),
    MultiCategoricalFeature("tags", vocabulary_size=5, max_len=3),
    NumericFeature("age"),
]
ROWS = 24


def make_batch(seed=0):
    rng = np.random.default_rng(seed)
    tags = rng.integers(0, 5, size=(ROWS, 3))
    tags[0] = 0  # an all-padding row: a zero vector, no interaction
    tags[1] = [3, 0, 0]
    return {
        "x": rng.normal(size=(ROWS, 1)).astype("float32"),
        "age": rng.normal(size=(ROWS, 1)).astype("float32"),
        "user": rng.integers(0, 7, size=(ROWS, 1)),
        "tags": tags,
    }


@pytest.fixture(scope="module")
def model():
    """A DeepFM with random first-order weights (zeros at build) and combine weights other than 1."""
    model = build_deepfm(SPEC, embedding_dim=3, hidden_units=(4,), dtype_policy="float32")
    rng = np.random.default_rng(1)
    for name in ("linear_numeric", "embedding_numeric"):
        kernel = model.get_layer(name).kernel
        kernel.assign(rng.normal(size=kernel.shape).astype("float32"))
    for name in ("linear_categorical", "embedding_categorical"):
        table = model.get_layer(name).embeddings
        table.assign(rng.normal(size=table.shape).astype("float32"))
    model.get_layer("combine").kernel.assign(np.array([[-0.7], [1.9], [0.4]], "float32"))
    return model


def naive_importance(model, batch):
    """Each field's first-order term and vector per row, from the weights, then a double loop over fields."""
    numeric = ["x", "age"]
    categorical = [("user", 7, False), ("tags", 5, True)]
    offsets = {"user": 0, "tags": 8}  # each field owns vocabulary_size + 1 rows of the fused table
    linear_num = model.get_layer("linear_numeric").kernel.numpy()
    embed_num = model.get_layer("embedding_numeric").kernel.numpy()
    linear_cat = model.get_layer("linear_categorical").embeddings.numpy()
    embed_cat = model.get_layer("embedding_categorical").embeddings.numpy()
    c_first, c_second, _ = model.get_layer("combine").kernel.numpy().reshape(-1).astype("float64")
    m = len(numeric) + len(categorical)
    first = np.zeros(m)
    pairs = np.zeros((m, m))
    for r in range(ROWS):
        w, e = [], []
        for i, name in enumerate(numeric):
            value = float(batch[name][r, 0])
            w.append(value * linear_num[i, 0])
            e.append(value * embed_num[i])
        for name, _, multi in categorical:
            ids = [int(v) for v in batch[name][r] if not (multi and v == 0)]
            rows = [offsets[name] + v for v in ids]
            w.append(np.mean(linear_cat[rows, 0]) if rows else 0.0)
            e.append(np.mean(embed_cat[rows], axis=0) if rows else np.zeros(embed_cat.shape[1]))
        for i in range(m):
            first[i] += abs(c_first * w[i]) / ROWS
            for j in range(m):
                if i != j:
                    pairs[i, j] += abs(c_second * float(np.dot(e[i], e[j]))) / ROWS
    return first, pairs


def test_equals_the_naive_double_loop(model):
    batch = make_batch()
    importance = field_importance(model, batch)
    first, pairs = naive_importance(model, batch)
    assert importance.fields == ("x", "age", "user", "tags") == tuple(field_order(SPEC))
    np.testing.assert_allclose(importance.first_order, first, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(importance.interaction, pairs, rtol=1e-5, atol=1e-7)
    assert np.all(importance.interaction == importance.interaction.T)
    assert np.all(np.diag(importance.interaction) == 0) and np.all(importance.interaction[~np.eye(4, dtype=bool)] > 0)
    # The combine weight of the part scales every value of that part (in absolute value).
    model.get_layer("combine").kernel.assign(np.array([[1.4], [-3.8], [0.4]], "float32"))
    try:
        doubled = field_importance(model, batch)
    finally:
        model.get_layer("combine").kernel.assign(np.array([[-0.7], [1.9], [0.4]], "float32"))
    np.testing.assert_allclose(doubled.first_order, 2 * first, rtol=1e-5)
    np.testing.assert_allclose(doubled.interaction, 2 * pairs, rtol=1e-5)


def test_a_loaded_model_gives_the_same_values(model, tmp_path):
    batch = make_batch(seed=3)
    expected = field_importance(model, batch)
    loaded = field_importance(save_and_load(model, tmp_path), batch)
    assert loaded.fields == expected.fields
    np.testing.assert_allclose(loaded.interaction, expected.interaction, rtol=1e-6)
    np.testing.assert_allclose(loaded.first_order, expected.first_order, rtol=1e-6)


def test_top_pairs_and_json():
    importance = FieldImportance(
        ("a", "b", "c", "d"),
        np.array([0.1, 0.2, 0.3, 0.4]),
        np.array([[0, 5, 1, 2], [5, 0, 3, np.nan], [1, 3, 0, 4], [2, np.nan, 4, 0]], float),
    )
    assert importance.top_pairs(3) == [("a", "b", 5.0), ("c", "d", 4.0), ("b", "c", 3.0)]
    assert len(importance.top_pairs(10)) == 6 and np.isnan(importance.top_pairs(10)[-1][2])
    assert importance.top_pairs(0) == []
    with pytest.raises(ValueError, match="`n` should be a non-negative integer"):
        importance.top_pairs(-1)
    data = json.loads(json.dumps(importance.to_dict()))
    restored = FieldImportance(tuple(data["fields"]), data["first_order"], data["interaction"])
    assert restored.fields == importance.fields
    np.testing.assert_array_equal(restored.interaction, importance.interaction)
    table = importance.to_markdown(2)
    assert "| 1 | a | b | 5 |" in table and "| 2 | c | d | 4 |" in table and "| d | 0.4 |" in table
    with pytest.raises(ValueError, match=r"`interaction` \(4, 4\)"):
        FieldImportance(("a", "b", "c", "d"), np.zeros(4), np.zeros((3, 3)))


def test_a_model_without_an_fm_part_is_refused():
    inputs = build_inputs(SPEC)
    embeddings = build_field_embeddings(SPEC, inputs, embedding_dim=3)
    model = keras.Model(inputs, combine_parts([build_first_order(SPEC, inputs), build_deep(embeddings)]))
    with pytest.raises(ValueError, match=r"no 'fm_2d' part \(its parts: \['fm_1d', 'deep'\]\)"):
        field_importance(model, make_batch())


def test_inputs_are_checked(model):
    batch = make_batch()
    batch["user"] = batch["user"] + 7
    with pytest.raises(ValueError, match="Feature 'user'.*outside"):
        field_importance(model, batch)


def test_heatmaps():
    matrix = np.array([[0.0, 2.0], [2.0, np.nan]])
    plain = _plain_heatmap(matrix, cell=4)
    assert plain.shape == (8, 8, 3) and plain.dtype == np.uint8
    assert tuple(plain[0, 0]) == (68, 1, 84) and tuple(plain[0, 4]) == (253, 231, 37)  # 0 and the largest value
    assert tuple(plain[4, 4]) == (255, 0, 255)  # NaN
    importance = FieldImportance(("a", "b"), np.zeros(2), np.array([[0.0, 1.0], [1.0, 0.0]]))
    image = heatmap_image(importance)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and image.shape[0] > 100
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # labelled figure (matplotlib) or cells
