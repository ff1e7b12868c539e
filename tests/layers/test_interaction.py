import itertools

import keras
import numpy as np

from deepfm_keras.layers import FirstOrderFM, SecondOrderFM
from tests.helpers import assert_config_round_trip, assert_layer_save_load

RNG = np.random.default_rng(1)


def naive_pairwise(e):
    """sum_{i<j} <e_i, e_j> with an explicit double loop over field pairs."""
    batch, fields, _ = e.shape
    out = np.zeros((batch, 1), "float64")
    for b in range(batch):
        for i, j in itertools.combinations(range(fields), 2):
            out[b, 0] += float(np.dot(e[b, i].astype("float64"), e[b, j].astype("float64")))
    return out


def test_second_order_matches_double_loop():
    e = RNG.normal(size=(7, 6, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(SecondOrderFM()(e))
    np.testing.assert_allclose(out, naive_pairwise(e), rtol=1e-4, atol=1e-4)


def test_second_order_single_field_is_zero():
    out = keras.ops.convert_to_numpy(SecondOrderFM()(RNG.normal(size=(3, 1, 4)).astype("float32")))
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


def test_first_order_sum():
    w = RNG.normal(size=(4, 5, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(FirstOrderFM()(w))
    np.testing.assert_allclose(out, w[..., 0].sum(axis=1, keepdims=True), rtol=1e-6)
    out2 = keras.ops.convert_to_numpy(FirstOrderFM()(w[..., 0]))
    np.testing.assert_allclose(out2, out)


def test_config_and_save_load(tmp_path):
    assert_config_round_trip(FirstOrderFM(name="fm_1d"))
    assert_config_round_trip(SecondOrderFM(name="fm_2d"))
    e = RNG.normal(size=(4, 3, 2)).astype("float32")
    assert_layer_save_load(SecondOrderFM(), e, tmp_path, ((3, 2), "float32"))
