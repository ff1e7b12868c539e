"""Fitting field vectors to the FM's common width: cut or zero-pad the last axis."""

from __future__ import annotations

import keras
from keras import ops

from deepfm_keras.layers.arguments import positive_int


@keras.saving.register_keras_serializable(package="deepfm_keras")
class FitWidth(keras.layers.Layer):
    """Cuts or zero-pads the last axis to `width`: how a field with its own embedding size enters the FM parts.

    A field whose vector is longer than the FM's common size `k` gives the FM
    its first `k` coordinates (the deep part reads all of them); a shorter one
    is zero-padded, so it interacts through its own coordinates only.

    Input shape: `(batch, fields, d)`.
    Output shape: `(batch, fields, width)`.

    Args:
        width: the output size of the last axis.

    Example:

    >>> import numpy as np
    >>> tuple(FitWidth(3)(np.ones((1, 2, 5), "float32")).shape)
    (1, 2, 3)
    >>> FitWidth(3)(np.ones((1, 2, 2), "float32"))[0, 0].numpy().tolist()
    [1.0, 1.0, 0.0]
    """

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.width = positive_int("width", width)

    def call(self, inputs):
        size = inputs.shape[-1]
        if size >= self.width:
            return inputs[..., : self.width]
        return ops.pad(inputs, [[0, 0], [0, 0], [0, self.width - size]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.width)

    def get_config(self):
        config = super().get_config()
        config.update(width=self.width)
        return config
