"""MaskedMeanPooling and NumericSequencePooling (deepfm_keras/layers/pooling.py) against NumPy."""

import keras
import numpy as np
import pytest

from deepfm_keras.layers import MaskedMeanPooling, NumericSequencePooling
from tests.helpers import assert_config_round_trip

RNG = np.random.default_rng(0)


def _numpy_masked_mean(emb, ids, lengths, masked):
    out, start = [], 0
    for n, m in zip(lengths, masked, strict=True):
        e, i = emb[:, start : start + n], ids[:, start : start + n]
        w = (i != 0).astype("float32") if m else np.ones_like(i, dtype="float32")
        count = w.sum(axis=1, keepdims=True)
        pooled = (e * w[..., None]).sum(axis=1) / np.maximum(count, 1.0)
        out.append(pooled)
        start += n
    return np.stack(out, axis=1)


def test_masked_mean_pooling_matches_numpy():
    lengths, masked = [1, 4, 1, 3], [False, True, False, True]
    emb = RNG.normal(size=(6, 9, 5)).astype("float32")
    ids = RNG.integers(0, 4, size=(6, 9))
    ids[0, 1:5] = 0  # an all-padding list
    ids[1, 6:9] = [3, 0, 0]
    out = keras.ops.convert_to_numpy(MaskedMeanPooling(lengths, masked)([emb, ids]))
    expected = _numpy_masked_mean(emb, ids, lengths, masked)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[0, 1], 0.0)  # all padding -> zero vector, not NaN
    assert np.isfinite(out).all()


def test_single_level_zero_id_is_a_value_not_padding():
    emb = RNG.normal(size=(2, 1, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(MaskedMeanPooling([1], [False])([emb, np.zeros((2, 1), "int32")]))
    np.testing.assert_allclose(out, emb)


def test_configs_round_trip():
    for layer in (
        MaskedMeanPooling([1, 2], [False, True]),
        MaskedMeanPooling([3], [True], combiners=["max"], weighted=[True]),
        NumericSequencePooling("sum", field_name="prices"),
    ):
        assert_config_round_trip(layer)


def test_registered_names_did_not_move_with_the_module():
    # `.keras` files written while the poolings lived in embedding.py name them so.
    for cls in (MaskedMeanPooling, NumericSequencePooling):
        assert keras.saving.get_registered_name(cls) == f"deepfm_keras>{cls.__name__}"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: MaskedMeanPooling([1, 2], [True]), "one flag per field"),
        (lambda: MaskedMeanPooling([0], [True]), "field_lengths"),
        (lambda: MaskedMeanPooling([2], [True], combiners=["median"]), "combiners"),
        (lambda: NumericSequencePooling("median"), "Received: combiner='median'"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
