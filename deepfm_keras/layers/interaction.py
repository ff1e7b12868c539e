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
