"""Pooling of field columns: masked mean (or sum, max) of id-list embeddings, and of numeric sequences."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from deepfm_keras.layers.arguments import positive_int_list
from deepfm_keras.spec.pooling import COMBINERS


def _masked_pool(part, ids, weights, combiner: str, masked: bool):
    """Pools `(batch, columns, dim)` over the columns whose id is not padding (0), each scaled by its weight."""
    if not masked and weights is None and combiner == "mean":
        return ops.mean(part, axis=1, keepdims=True)
    present = ops.cast(ops.not_equal(ids, 0), part.dtype) if masked else ops.ones_like(ids, dtype=part.dtype)
    scaled = part if weights is None else part * ops.expand_dims(ops.cast(weights, part.dtype), -1)
    if combiner == "max":
        # Padding can never win the max; an all-padding row is 0, not the lowest representable number.
        lowest = ops.convert_to_tensor(np.finfo(keras.backend.standardize_dtype(part.dtype)).min, part.dtype)
        scaled = ops.where(ops.expand_dims(present > 0, -1), scaled, lowest)
        best = ops.max(scaled, axis=1, keepdims=True)
        any_present = ops.expand_dims(ops.max(present, axis=1, keepdims=True) > 0, -1)
        return ops.where(any_present, best, ops.zeros_like(best))
    total = ops.sum(scaled * ops.expand_dims(present, -1), axis=1, keepdims=True)
    if combiner == "sum":
        return total
    count = ops.maximum(ops.sum(present, axis=1, keepdims=True), 1.0)
    return total / ops.expand_dims(count, -1)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class MaskedMeanPooling(keras.layers.Layer):
    """Pools the columns of each field into one vector: masked mean (the default), sum or max, optionally weighted.

    Columns are grouped into fields by `field_lengths`. For a field whose
    `masked` flag is set (a multi-level field), columns whose id is 0 are
    padding and never count; a row whose list is all padding gives a zero
    vector, never NaN, with every combiner. Other fields (single-level) count
    every column. With `e_j` the embeddings of a field's non-padding columns,
    `n` their number and `w_j` their weights (1 for an unweighted field):
    `"mean"` is `sum_j w_j e_j / n`, `"sum"` is `sum_j w_j e_j`, `"max"` the
    element-wise max of `w_j e_j`.

    Inputs: `[embeddings, ids]`, or `[embeddings, ids, weights]` when a field
    is weighted, with shapes `(batch, columns, dim)`, `(batch, columns)` and
    `(batch, weighted_columns)`, where `columns = sum(field_lengths)` and
    `weighted_columns` is the sum of the weighted fields' lengths (their
    weights side by side, in field order).
    Output shape: `(batch, num_fields, dim)`.

    Args:
        field_lengths: number of columns of each field.
        masked: per field, whether id 0 is padding.
        combiners: per field, `"mean"`, `"sum"` or `"max"` (default: all
            `"mean"`).
        weighted: per field, whether it reads weights (default: none).

    Example:

    >>> pool = MaskedMeanPooling(field_lengths=[1, 3], masked=[False, True])
    >>> emb = np.ones((2, 4, 8), "float32")
    >>> ids = np.array([[7, 1, 2, 0], [0, 0, 0, 0]])
    >>> out = pool([emb, ids])
    >>> tuple(out.shape), float(out[1, 1, 0]), float(out[1, 0, 0])
    ((2, 2, 8), 0.0, 1.0)
    >>> weighted = MaskedMeanPooling([3], [True], combiners=["sum"], weighted=[True])
    >>> float(weighted([emb[:, 1:], ids[:, 1:], np.array([[2.0, 0.5, 9.0]] * 2, "float32")])[0, 0, 0])
    2.5
    """

    def __init__(
        self,
        field_lengths: Sequence[int],
        masked: Sequence[bool],
        combiners: Sequence[str] | None = None,
        weighted: Sequence[bool] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.field_lengths = positive_int_list("field_lengths", field_lengths)
        self.masked = [bool(m) for m in masked]
        if len(self.masked) != len(self.field_lengths):
            raise ValueError(
                "`masked` should have one flag per field. "
                f"Received: {len(self.masked)} flags for {len(self.field_lengths)} fields"
            )
        self.combiners = list(combiners) if combiners is not None else ["mean"] * len(self.field_lengths)
        self.weighted = [bool(w) for w in weighted] if weighted is not None else [False] * len(self.field_lengths)
        for arg, values in (("combiners", self.combiners), ("weighted", self.weighted)):
            if len(values) != len(self.field_lengths):
                raise ValueError(
                    f"`{arg}` should have one entry per field. "
                    f"Received: {len(values)} entries for {len(self.field_lengths)} fields"
                )
        bad = [c for c in self.combiners if c not in COMBINERS]
        if bad:
            raise ValueError(f"`combiners` should each be one of {COMBINERS}. Received: {bad[0]!r}")
        # A static plan of column segments: each run of consecutive plain single-level fields passes through as
        # one segment; every other field is a segment pooled on its own. Splitting at static boundaries keeps the
        # graph small (its gradient is one concat).
        segments = []  # [columns, pooled, masked, combiner, weighted]
        for length, is_masked, combiner, is_weighted in zip(
            self.field_lengths, self.masked, self.combiners, self.weighted, strict=True
        ):
            plain = length == 1 and not is_masked and not is_weighted  # one column: every combiner is identity
            if plain and segments and not segments[-1][1]:
                segments[-1][0] += 1
            else:
                segments.append([length, not plain, is_masked, combiner, is_weighted])
        self._segments = [tuple(s) for s in segments]
        self._split_at = np.cumsum([s[0] for s in segments])[:-1].tolist()
        self._identity = len(segments) == 1 and not segments[0][1]
        weighted_lengths = [s[0] for s in segments if s[4]]
        self._weight_split_at = np.cumsum(weighted_lengths)[:-1].tolist()

    def call(self, inputs):
        embeddings, ids = inputs[0], inputs[1]
        weights = inputs[2] if len(inputs) > 2 else None
        if any(self.weighted) and weights is None:
            raise ValueError("MaskedMeanPooling has weighted fields: call it on [embeddings, ids, weights].")
        if self._identity:
            return embeddings
        if self._split_at:
            embedding_parts = ops.split(embeddings, self._split_at, axis=1)
            id_parts = ops.split(ids, self._split_at, axis=1)
        else:
            embedding_parts, id_parts = [embeddings], [ids]
        weight_parts = []
        if any(self.weighted):
            weight_parts = ops.split(weights, self._weight_split_at, axis=1) if self._weight_split_at else [weights]
        weight_parts = list(weight_parts)
        pooled = []
        for (_, pool, is_masked, combiner, is_weighted), part, part_ids in zip(
            self._segments, embedding_parts, id_parts, strict=True
        ):
            if not pool:
                pooled.append(part)
            else:
                w = weight_parts.pop(0) if is_weighted else None
                pooled.append(_masked_pool(part, part_ids, w, combiner, is_masked))
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=1)

    def compute_output_shape(self, input_shape):
        emb_shape = input_shape[0]
        return (emb_shape[0], len(self.field_lengths), emb_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(field_lengths=list(self.field_lengths), masked=list(self.masked))
        if any(c != "mean" for c in self.combiners):
            config["combiners"] = list(self.combiners)
        if any(self.weighted):
            config["weighted"] = list(self.weighted)
        return config


@keras.saving.register_keras_serializable(package="deepfm_keras")
class NumericSequencePooling(keras.layers.Layer):
    """Pools a numeric sequence into one number per row: mean, sum or max of its non-padding (non-NaN) values.

    NaN marks padding; a row with no value pools to 0. The NaNs are replaced
    before any arithmetic, so none reaches a gradient.

    Input shape: `(batch, max_len)` float.
    Output shape: `(batch, 1)`.

    Args:
        combiner: `"mean"`, `"sum"` or `"max"`.
        field_name: the model input it pools (`deepfm_keras.validation`
            reads it to accept NaN padding in that input only).

    Example:

    >>> pool = NumericSequencePooling("mean")
    >>> pool(np.array([[1.0, 3.0, np.nan], [np.nan, np.nan, np.nan]], "float32")).numpy().tolist()
    [[2.0], [0.0]]
    """

    def __init__(self, combiner: str = "mean", field_name: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if combiner not in COMBINERS:
            raise ValueError(f"`combiner` should be one of {COMBINERS}. Received: combiner={combiner!r}")
        self.combiner = combiner
        self.field_name = field_name

    def call(self, inputs):
        values = ops.cast(inputs, self.compute_dtype)
        present = ops.logical_not(ops.isnan(values))
        clean = ops.where(present, values, ops.zeros_like(values))
        weights = ops.cast(present, self.compute_dtype)
        count = ops.sum(weights, axis=1, keepdims=True)
        if self.combiner == "max":
            lowest = ops.convert_to_tensor(np.finfo(keras.backend.standardize_dtype(values.dtype)).min, values.dtype)
            best = ops.max(ops.where(present, clean, lowest), axis=1, keepdims=True)
            return ops.where(count > 0, best, ops.zeros_like(best))
        total = ops.sum(clean, axis=1, keepdims=True)
        return total if self.combiner == "sum" else total / ops.maximum(count, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(combiner=self.combiner, field_name=self.field_name)
        return config
