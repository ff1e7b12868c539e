import gc
import weakref

import numpy as np
import pytest

from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, NumericFeature, batch_predict, build_deepfm
from deepfm_keras.spec.tasks import Task
from tests.helpers import save_and_load

SPEC = [
    NumericFeature("x"),
    CategoricalFeature("u", vocabulary_size=30),
    MultiCategoricalFeature("g", vocabulary_size=7, max_len=3),
]


def make_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=n).astype("float32"),
        "u": rng.integers(0, 30, size=n),
        "g": rng.integers(0, 7, size=(n, 3)),
    }


@pytest.fixture(scope="module")
def model():
    m = build_deepfm(SPEC, embedding_dim=4, hidden_units=(16, 8))
    rng = np.random.default_rng(1)
    for w in m.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    return m


@pytest.mark.parametrize("jit_compile", [False, True])
def test_matches_model_predict_with_a_partial_last_batch(model, jit_compile):
    x = make_inputs(1000)
    expected = model.predict(x, batch_size=256, verbose=0)
    out = batch_predict(model, x, batch_size=300, jit_compile=jit_compile)
    assert out.shape == (1000, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_column_shaped_inputs_and_loaded_models(model, tmp_path):
    x = make_inputs(50, seed=2)
    cols = {k: v.reshape(50, -1) for k, v in x.items()}
    loaded = save_and_load(model, tmp_path)
    np.testing.assert_allclose(batch_predict(loaded, cols), batch_predict(model, x), rtol=1e-6, atol=1e-7)


def test_empty_input(model):
    assert batch_predict(model, make_inputs(0)).shape == (0, 1)


def test_bad_inputs_name_the_feature(model):
    x = make_inputs(10)
    with pytest.raises(ValueError, match=r"Feature\(s\) \['u'\] missing"):
        batch_predict(model, {k: v for k, v in x.items() if k != "u"})
    with pytest.raises(ValueError, match=r"Unexpected key\(s\) \['a'\]"):  # "a" sorts first: it would shift inputs
        batch_predict(model, {**x, "a": x["u"]})
    with pytest.raises(ValueError, match=r"Feature 'g' should have shape \(n, 3\)"):
        batch_predict(model, {**x, "g": x["g"][:, :2]})
    with pytest.raises(ValueError, match="same number of rows.*'u': 9"):
        batch_predict(model, {**x, "u": x["u"][:9]})
    with pytest.raises(ValueError, match="batch_size"):
        batch_predict(model, x, batch_size=0)


def test_a_scored_model_can_be_freed():
    m = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    batch_predict(m, make_inputs(10))
    batch_predict(m, make_inputs(10), jit_compile=True)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


@pytest.fixture(scope="module")
def two_heads():
    m = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), tasks=[Task("click"), Task("buy")])
    rng = np.random.default_rng(3)
    for w in m.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    return m


@pytest.mark.parametrize("rows", [0, 1, 301, 1000])
def test_a_model_with_several_heads_scores_like_predict(two_heads, rows):
    x = make_inputs(rows, seed=4)
    expected = two_heads.predict(x, batch_size=256, verbose=0)
    out = batch_predict(two_heads, x, batch_size=300)
    assert isinstance(out, dict) and sorted(out) == sorted(expected) == ["buy", "click"]
    for name in expected:
        assert out[name].shape == expected[name].shape == (rows, 1)
        assert out[name].dtype == expected[name].dtype
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-5, atol=1e-6)
    if rows:
        assert not np.allclose(out["buy"], out["click"])  # each head's own numbers, not one head twice
