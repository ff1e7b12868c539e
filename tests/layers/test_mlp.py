import keras
import numpy as np
import pytest

from deepfm_keras.layers import MLP
from tests.helpers import assert_config_round_trip, assert_layer_save_load

RNG = np.random.default_rng(2)


def test_mlp_matches_numpy_and_output_is_linear():
    mlp = MLP(hidden_units=(8, 4))
    x = RNG.normal(size=(16, 3, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(mlp(x))
    h = x.reshape(16, 15)
    for block in mlp.hidden_layers:
        k, b = (w.numpy() for w in block.dense.weights)
        h = np.maximum(h @ k + b, 0.0)
    k, b = (w.numpy() for w in mlp.output_layer.weights)
    np.testing.assert_allclose(out, h @ k + b, rtol=1e-5, atol=1e-5)
    # Weight count: (15*8 + 8) + (8*4 + 4) + (4*1 + 1).
    assert mlp.count_params() == 128 + 36 + 5
    # No ReLU clamp on the output: a negative bias gives negative outputs.
    mlp.output_layer.bias.assign([-100.0])
    assert (keras.ops.convert_to_numpy(mlp(x)) < 0).all()


def test_dropout_only_in_training():
    mlp = MLP(hidden_units=(32,), dropout=0.5)
    x = RNG.normal(size=(64, 10)).astype("float32")
    a, b = mlp(x, training=False), mlp(x, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    c = mlp(x, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(c))


def test_batch_norm_variant_and_config(tmp_path):
    mlp = MLP(hidden_units=(6,), batch_norm=True, activation="tanh", kernel_regularizer="l2")
    clone = assert_config_round_trip(mlp)
    assert clone.batch_norm and clone.hidden_units == [6]
    x = RNG.normal(size=(5, 2, 3)).astype("float32")
    assert_layer_save_load(mlp, x, tmp_path, ((2, 3), "float32"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_units": (8, -3)}, "hidden_units"),
        ({"dropout": 1.0}, "dropout.*Received: dropout=1.0"),
        ({"output_units": 0}, "output_units"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)
