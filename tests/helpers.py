"""Test helpers shared by the layer and model tests."""

import keras
import numpy as np


def assert_config_round_trip(layer: keras.layers.Layer) -> keras.layers.Layer:
    """Rebuilds `layer` from its config (via Keras' registered-object lookup) and checks the config survives."""
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    return clone


def save_and_load(model: keras.Model, tmp_path, name: str = "model.keras") -> keras.Model:
    """Saves to a `.keras` file and loads it back with no custom_objects, in safe mode."""
    path = tmp_path / name
    model.save(path)
    return keras.saving.load_model(path, safe_mode=True)


def wrap_layer(layer: keras.layers.Layer, *input_specs) -> keras.Model:
    """A one-layer functional model over inputs given as (shape, dtype) pairs."""
    inputs = [keras.Input(shape=shape, dtype=dtype) for shape, dtype in input_specs]
    outputs = layer(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, outputs)


def assert_layer_save_load(layer, inputs, tmp_path, *input_specs):
    """Wraps `layer` in a model, saves/loads it and checks equal predictions on `inputs`."""
    model = wrap_layer(layer, *input_specs)
    expected = model.predict(inputs, verbose=0)
    loaded = save_and_load(model, tmp_path)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), expected, rtol=1e-6, atol=1e-6)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_data,
    tmp_path,
    *,
    expected_output_shape: tuple,
    expected_num_trainable_weights: int,
    expected_output=None,
    rtol: float = 1e-6,
):
    """The checks every public layer passes, in the manner of keras-hub's `run_layer_test`.

    - the layer is a registered Keras object whose config survives a serialize / deserialize round trip;
    - called on `input_data` (an array, or a list of arrays for a layer of several inputs) it returns
      `expected_output_shape` (and `expected_output`, when given) with `expected_num_trainable_weights` weights;
    - a layer rebuilt from its config with the same weights returns the same numbers;
    - in a functional model saved as a `.keras` file and loaded in safe mode with no `custom_objects`, it
      returns the same numbers.

    Returns:
        The layer's output on `input_data`, as NumPy.
    """
    layer = layer_cls(**init_kwargs)
    assert keras.saving.get_registered_name(layer_cls).startswith("deepfm_keras>"), layer_cls
    assert_config_round_trip(layer)
    several = isinstance(input_data, (list, tuple))
    arrays = list(input_data) if several else [input_data]
    output = keras.ops.convert_to_numpy(layer(arrays if several else arrays[0]))
    assert output.shape == expected_output_shape, (output.shape, expected_output_shape)
    assert len(layer.trainable_weights) == expected_num_trainable_weights, [w.path for w in layer.trainable_weights]
    if expected_output is not None:
        np.testing.assert_allclose(output, expected_output, rtol=rtol, atol=rtol)
    clone = layer_cls.from_config(layer.get_config())
    clone(arrays if several else arrays[0])
    clone.set_weights(layer.get_weights())
    again = keras.ops.convert_to_numpy(clone(arrays if several else arrays[0]))
    np.testing.assert_allclose(again, output, rtol=rtol, atol=rtol)
    specs = [(a.shape[1:], str(a.dtype)) for a in arrays]
    inputs = [keras.Input(shape=shape, dtype=dtype) for shape, dtype in specs]
    model = keras.Model(inputs, layer(inputs if several else inputs[0]))
    loaded = save_and_load(model, tmp_path, name=f"{layer_cls.__name__}.keras")
    np.testing.assert_allclose(
        loaded.predict(arrays if several else arrays[0], verbose=0), output, rtol=rtol, atol=rtol
    )
    return output
