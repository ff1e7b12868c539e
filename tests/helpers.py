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
