"""The deep part of DeepFM: an MLP over the flattened field embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


class Container(keras.layers.Layer):
    """One hidden block of `MLP`: `Dense(units)`, then batch norm and the activation if `batch_norm`.

    Internal to `MLP` (built in its `__init__`, never serialised on its own).
    The class name and the attribute names `dense` and `batch_normalization`
    give the weights the paths `hidden_layers/container_<i>/dense` that Keras
    3.15 wrote for the earlier nested-list structure, so `.keras` files saved
    then still load.

    Input shape: `(batch, features)`. Output shape: `(batch, units)`.
    """

    def __init__(self, units, activation, batch_norm, kernel_regularizer, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self.dense = keras.layers.Dense(
            units,
            activation=None if batch_norm else activation,
            use_bias=not batch_norm,
            kernel_regularizer=kernel_regularizer,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.batch_normalization = (
            keras.layers.BatchNormalization(dtype=self.dtype_policy, name="batch_norm") if batch_norm else None
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        if self.batch_normalization is not None:
            self.batch_normalization.build(self.dense.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = self.dense(inputs)
        if self.batch_normalization is None:
            return x
        return self.activation(self.batch_normalization(x, training=training))

    def compute_output_shape(self, input_shape):
        return self.dense.compute_output_shape(input_shape)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class MLP(keras.layers.Layer):
    """Feed-forward network ending in a linear unit.

    Flattens all axes after the batch axis, then applies `Dense(units,
    activation)` (optionally batch norm and dropout) for each entry of
    `hidden_units`, and a final linear `Dense(output_units)` with no activation
    (no ReLU clamp on the output).

    Input shape: `(batch, ...)`, e.g. `(batch, num_fields, k)`.
    Output shape: `(batch, output_units)`.

    Args:
        hidden_units: sizes of the hidden layers, may be empty (then a linear model).
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer, in `[0, 1)`.
        batch_norm: whether to batch-normalise each hidden layer before its activation.
        kernel_regularizer: optional regularizer of the Dense kernels.
        output_units: size of the linear output.

    Example:

    >>> import numpy as np
    >>> mlp = MLP(hidden_units=(8, 4))
    >>> tuple(mlp(np.ones((2, 3, 5), "float32")).shape)
    (2, 1)
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (256, 128, 64),
        activation="relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        kernel_regularizer=None,
        output_units: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = list(hidden_units) if hidden_units is not None else []
        if any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
            raise ValueError(
                f"`hidden_units` should be a list of positive integers. Received: hidden_units={hidden_units!r}"
            )
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` should be in [0, 1). Received: dropout={dropout!r}")
        if isinstance(output_units, bool) or not isinstance(output_units, int) or output_units < 1:
            raise ValueError(f"`output_units` should be positive. Received: output_units={output_units!r}")
        self.hidden_units = units
        self.activation = keras.activations.get(activation)
        self.dropout = float(dropout)
        self.batch_norm = bool(batch_norm)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.output_units = output_units
        # A flat list of block layers: every Keras 3 version tracks it (3.10-3.14 do not track a list nested
        # in a list, and saved models lost the hidden weights there).
        self.hidden_layers = [
            Container(
                n,
                activation=self.activation,
                batch_norm=self.batch_norm,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name=f"hidden_{i}",
            )
            for i, n in enumerate(units)
        ]
        self.dropout_layer = keras.layers.Dropout(self.dropout) if self.dropout > 0 else None
        self.output_layer = keras.layers.Dense(
            output_units, kernel_regularizer=self.kernel_regularizer, dtype=self.dtype_policy, name="output"
        )

    def build(self, input_shape):
        width = 1
        for dim in input_shape[1:]:
            width *= dim
        self._input_width = width
        shape = (input_shape[0], width)
        for block in self.hidden_layers:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.output_layer.build(shape)

    def call(self, inputs, training=None):
        x = ops.reshape(inputs, (-1, self._input_width))
        for block in self.hidden_layers:
            x = block(x, training=training)
            if self.dropout_layer is not None:
                x = self.dropout_layer(x, training=training)
        return self.output_layer(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_units)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_units=list(self.hidden_units),
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            output_units=self.output_units,
        )
        return config
