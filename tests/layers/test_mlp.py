from pathlib import Path

import keras
import numpy as np
import pytest

from deepfm_keras.layers import MLP
from tests.helpers import assert_config_round_trip, assert_layer_save_load, save_and_load

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


LEGACY = Path(__file__).resolve().parents[1] / "data" / "keras315_nested_mlp"


def test_every_weight_is_restored_after_save_and_load(tmp_path):
    """Keras 3.10-3.14 do not track a list nested in a list: the hidden blocks are a flat list of layers."""
    inputs = keras.Input((6,))
    model = keras.Model(inputs, MLP((5, 3), batch_norm=True, dropout=0.1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(RNG.normal(size=(32, 6)), RNG.normal(size=(32, 1)), verbose=0)  # moves the batch-norm statistics
    for w in model.weights:
        w.assign(RNG.normal(size=w.shape).astype("float32") + (2.0 if "variance" in w.path else 0.0))
    loaded = save_and_load(model, tmp_path)
    assert len(loaded.weights) == len(model.weights) == 2 * (1 + 4) + 2  # per block: kernel + 4 batch-norm vars
    for a, b in zip(model.weights, loaded.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)


KERAS_VERSION = tuple(int(p) for p in keras.version().split(".")[:2])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "deepfm",
            marks=pytest.mark.skipif(
                KERAS_VERSION < (3, 15),
                reason="Keras before 3.15 cannot read the Dense configs 3.15 writes ('quantization_config')",
            ),
        ),
        "mlp_bn",
    ],
)
def test_files_saved_with_the_nested_list_structure_still_load(name):
    """Files written by Keras 3.15 when the blocks were nested lists keep their weights (same paths).

    The files were saved by commit aba9e92 with Keras 3.15.1: a `build_deepfm` model (3 fields, embedding 4,
    hidden (8, 4)) and a functional `MLP((5, 3), batch_norm=True, dropout=0.1)` trained one SGD epoch;
    `expected.npz` holds the inputs and the predictions made then.
    """
    from deepfm_keras import load_model  # a public name imports (registers) every layer; a bare import is lazy

    expected = np.load(LEGACY / "expected.npz")
    model = load_model(LEGACY / f"{name}.keras")
    if name == "deepfm":
        x = {k[2:]: expected[k] for k in expected.files if k.startswith("x_")}
        got = model.predict(x, verbose=0)
    else:
        got = model.predict(np.ones((2, 6)), verbose=0)
    # Equal up to float32 rounding: oneDNN picks other kernels on other CPUs (AMX on Intel), 1 ulp apart here;
    # a block reloaded with fresh weights moved the predictions by ~1e-2.
    np.testing.assert_allclose(got, expected[f"{name}_pred"], rtol=1e-6, atol=1e-7)
