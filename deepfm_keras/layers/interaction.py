"""The factorization-machine parts of DeepFM: first-order sum and second-order interactions."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deepfm_keras")
class FirstOrderFM(keras.layers.Layer):
    """Sums the per-field first-order terms: `y_1 = sum_i w_i(x_i)`.

    Takes each field's scalar weight (a width-1 embedding for a categorical
    field, `w * x` for a numeric one, a masked mean of width-1 embeddings for a
    multi-level one) and adds them up. The global bias lives in the model's
    `combine` layer.

    Input shape: `(batch, num_fields, units)` or `(batch, num_fields)`.
    Output shape: `(batch, units)` (`(batch, 1)` for the second form); a
    multi-class model has one weight per class (`units` classes).

    Example:

    >>> import numpy as np
    >>> FirstOrderFM()(np.array([[[1.0], [2.0], [0.5]]], "float32")).numpy().tolist()
    [[3.5]]

    Reference: Guo et al., DeepFM, IJCAI 2017, eq. (2), the `<w, x>` term.
    """

    def call(self, inputs):
        if len(inputs.shape) == 3:
            return ops.sum(inputs, axis=1)
        return ops.sum(inputs, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2] if len(input_shape) == 3 else 1)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SecondOrderFM(keras.layers.Layer):
    """Sum of the pairwise dot products of field embeddings.

    `y_2 = sum_{i<j} <e_i, e_j> = 0.5 * sum_k ((sum_i e_ik)^2 - sum_i e_ik^2)`,
    which costs `O(fields * k)` instead of `O(fields^2 * k)`.

    Input shape: `(batch, num_fields, k)`.
    Output shape: `(batch, 1)`.

    Example:

    >>> import numpy as np
    >>> e = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], "float32")
    >>> SecondOrderFM()(e).numpy().tolist()  # 11 + 17 + 39
    [[67.0]]

    Reference: Rendle, "Factorization Machines", ICDM 2010, lemma 3.1; Guo et
    al., DeepFM, IJCAI 2017, eq. (2).
    """

    def call(self, inputs):
        square_of_sum = ops.square(ops.sum(inputs, axis=1))
        sum_of_square = ops.sum(ops.square(inputs), axis=1)
        return 0.5 * ops.sum(square_of_sum - sum_of_square, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class PartCombine(keras.layers.Layer):
    """Combines part outputs into `units` logits, with one learned weight per part and output unit.

    `logit_c = sum_p kernel[p, c] * part_p[:, c] + bias[c]`, where a part of
    width 1 (the 2nd-order FM's one interaction score) is read by every unit
    and a part of width `units` (a multi-class first-order or deep part) gives
    unit `c` its own column `c`. `kernel[:, c]` are the per-part contribution
    weights of class `c`, initialised to 1 (DeepFM's plain sum).

    Inputs: a list of `(batch, 1)` or `(batch, units)` tensors.
    Output shape: `(batch, units)`.

    Args:
        units: number of outputs (classes).

    Example:

    >>> import numpy as np
    >>> combine = PartCombine(3)
    >>> parts = [np.ones((2, 3), "float32"), np.full((2, 1), 2.0, "float32")]
    >>> combine(parts).numpy().tolist()
    [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` should be a positive integer. Received: units={units!r}")
        self.units = units

    def build(self, input_shape):
        widths = [shape[-1] for shape in input_shape]
        bad = [w for w in widths if w not in (1, self.units)]
        if bad:
            raise ValueError(
                f"PartCombine({self.units}) takes parts of width 1 or {self.units}. Received widths {widths}"
            )
        self.kernel = self.add_weight(name="kernel", shape=(len(widths), self.units), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        total = ops.cast(self.bias, self.compute_dtype)
        for p, part in enumerate(inputs):
            total = total + ops.cast(part, self.compute_dtype) * kernel[p]
        return total

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
