"""Field embeddings: numeric projection, fused categorical lookup, masked mean pooling."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepfm_keras.optimizers import mark_row_sparse

REGULARIZE_SCOPES = ("auto", "table", "rows")
# Up to this many table rows, `regularize="auto"` regularizes the whole table.
DENSE_REGULARIZER_MAX_ROWS = 2**18


def _positive_int_list(name: str, values, minimum: int = 1) -> list[int]:
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` should be a list of integers. Received: {name}={values!r}") from None
    if not values or any(v < minimum for v in values):
        raise ValueError(f"`{name}` should be a non-empty list of integers >= {minimum}. Received: {name}={values}")
    return values


def _check_output_dim(output_dim) -> int:
    if isinstance(output_dim, bool) or not isinstance(output_dim, (int, np.integer)) or output_dim < 1:
        raise ValueError(f"`output_dim` should be a positive integer. Received: output_dim={output_dim!r}")
    return int(output_dim)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class NumericEmbedding(keras.layers.Layer):
    """Projects each numeric field to its own learned vector: `e_i = x_i * v_i`.

    With `output_dim=1` this is the first-order term `w_i * x_i` of each field.

    Input shape: `(batch, num_fields)` float.
    Output shape: `(batch, num_fields, output_dim)`.

    Args:
        num_fields: number of numeric fields.
        output_dim: size of each field's vector.
        embeddings_initializer: initializer of the `(num_fields, output_dim)` kernel.
        embeddings_regularizer: optional regularizer of the kernel.

    Example:

    >>> layer = NumericEmbedding(num_fields=2, output_dim=4)
    >>> tuple(layer(np.ones((3, 2), "float32")).shape)
    (3, 2, 4)

    Reference: Guo et al., "DeepFM: A Factorization-Machine based Neural Network
    for CTR Prediction", IJCAI 2017 (arXiv:1703.04247).
    """

    def __init__(
        self,
        num_fields: int,
        output_dim: int,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(num_fields, bool) or not isinstance(num_fields, (int, np.integer)) or num_fields < 1:
            raise ValueError(f"`num_fields` should be a positive integer. Received: num_fields={num_fields!r}")
        self.num_fields = int(num_fields)
        self.output_dim = _check_output_dim(output_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.num_fields:
            raise ValueError(
                f"NumericEmbedding expects {self.num_fields} fields on the last axis. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_fields, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
        )

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return ops.expand_dims(inputs, -1) * ops.expand_dims(ops.cast(self.kernel, self.compute_dtype), 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_fields=self.num_fields,
            output_dim=self.output_dim,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
            embeddings_regularizer=keras.regularizers.serialize(self.embeddings_regularizer),
        )
        return config


@keras.saving.register_keras_serializable(package="deepfm_keras")
class CategoricalEmbedding(keras.layers.Layer):
    """Looks up the ids of several categorical fields in one fused table.

    Field `f` owns `vocabulary_sizes[f] + 1` consecutive rows of one table: its
    ids `0 .. vocabulary_size - 1`, then one "out-of-range" row. Every column
    of the input belongs to one field (`field_lengths[f]` columns for field
    `f`); an id outside `[0, vocabulary_size)`, negative or too large, is read
    from its field's out-of-range row, so it can never reach another id's
    (or another field's) embedding. Ids and row numbers are int64 all the way,
    so an id >= 2^31 (hashed logs have them) never wraps onto another row.

    One gather serves all fields, and it reads only the rows the batch asks
    for: its gradient is row-sparse (`tf.IndexedSlices`), which the optimizers
    of `deepfm_keras.optimizers` apply to those rows only (a step costs what
    the batch costs, not what the table costs). The table is marked
    row-sparse for them (`deepfm_keras.optimizers.mark_row_sparse`).

    `embeddings_regularizer` applies to the whole table (`regularize="table"`,
    Keras' usual weight regularizer: its gradient is table-sized at every
    step, which a 10^6-row table cannot afford) or to the distinct rows a
    batch looks up (`regularize="rows"`, added with `add_loss`; the gradient
    stays row-sparse). `"auto"` (the default) takes `"table"` up to
    `DENSE_REGULARIZER_MAX_ROWS` rows (2^18: 4M parameters at embedding size
    16, a few ms a step) and `"rows"` above, the same for the embedding and
    the first-order table of a spec:
    on MovieLens (tables of ~10^5 parameters) the whole-table L2 gave holdout
    RMSE 0.8630 and the row L2 0.8701 (with Adam, the whole-table penalty
    keeps shrinking the rows of rare ids between their batches). Under a
    mixed precision policy the table stays float32 and only the looked-up
    rows are cast.

    Input shape: `(batch, sum(field_lengths))` int.
    Output shape: `(batch, sum(field_lengths), output_dim)`.

    Args:
        vocabulary_sizes: number of ids of each field.
        field_lengths: number of input columns of each field (1 for a
            single-level field, `max_len` for a multi-level one).
        output_dim: embedding size.
        embeddings_initializer: initializer of the fused table.
        embeddings_regularizer: optional regularizer of the table.
        regularize: `"table"`, `"rows"` (each distinct looked-up row counted
            once per step) or `"auto"`: where `embeddings_regularizer` applies.
        field_names: optional name of each field (the model's input names):
            `deepfm_keras.validation` reads the id range of each input from
            them.

    Example:

    >>> layer = CategoricalEmbedding([5, 3], [1, 2], output_dim=4)
    >>> tuple(layer(np.array([[4, 1, 2]])).shape)
    (1, 3, 4)
    """

    def __init__(
        self,
        vocabulary_sizes: Sequence[int],
        field_lengths: Sequence[int],
        output_dim: int,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        regularize: str = "auto",
        field_names: Sequence[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if regularize not in REGULARIZE_SCOPES:
            raise ValueError(f"`regularize` should be one of {REGULARIZE_SCOPES}. Received: regularize={regularize!r}")
        self.regularize = regularize
        self.vocabulary_sizes = _positive_int_list("vocabulary_sizes", vocabulary_sizes)
        self.field_lengths = _positive_int_list("field_lengths", field_lengths)
        if len(self.vocabulary_sizes) != len(self.field_lengths):
            raise ValueError(
                "`vocabulary_sizes` and `field_lengths` should have one entry per field. "
                f"Received: {len(self.vocabulary_sizes)} and {len(self.field_lengths)}"
            )
        self.field_names = list(field_names) if field_names is not None else None
        if self.field_names is not None and len(self.field_names) != len(self.vocabulary_sizes):
            raise ValueError(
                f"`field_names` should have one entry per field ({len(self.vocabulary_sizes)}). "
                f"Received: field_names={self.field_names}"
            )
        self.output_dim = _check_output_dim(output_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        sizes = np.asarray(self.vocabulary_sizes, "int64")
        offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype("int64")
        self._column_vocab = np.repeat(sizes, self.field_lengths)
        self._column_offset = np.repeat(offsets, self.field_lengths)
        self.table_size = int(np.sum(sizes + 1))

    def build(self, input_shape):
        columns = sum(self.field_lengths)
        if input_shape[-1] is not None and input_shape[-1] != columns:
            raise ValueError(f"CategoricalEmbedding expects {columns} id columns. Received: input_shape={input_shape}")
        # autocast=False: under mixed precision only the looked-up rows are cast, never the table.
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.table_size, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer if self.regularizes_table else None,
            autocast=False,
        )
        mark_row_sparse(self.embeddings)

    @property
    def regularizes_table(self) -> bool:
        """Whether `embeddings_regularizer` applies to the whole table (else to the looked-up rows)."""
        if self.regularize == "auto":
            return self.table_size <= DENSE_REGULARIZER_MAX_ROWS
        return self.regularize == "table"

    def table_indices(self, ids):
        """Maps ids `(batch, columns)` to int64 rows of the fused table (out-of-range ids to their field's extra row)."""
        ids = ops.cast(ids, "int64")
        vocab = ops.convert_to_tensor(self._column_vocab)
        offset = ops.convert_to_tensor(self._column_offset)
        in_range = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, vocab))
        return offset + ops.where(in_range, ids, vocab)

    def call(self, inputs):
        indices = self.table_indices(inputs)
        # tf.gather on the variable itself reads only the rows asked for (ResourceGather); ops.take would read
        # the whole table first (and copy it, once sparse updates have put the variable in copy-on-read mode).
        rows = tf.gather(self.embeddings.value, indices)
        if self.embeddings_regularizer is not None and not self.regularizes_table:
            unique_rows, _ = tf.unique(tf.reshape(indices, [-1]))
            self.add_loss(self.embeddings_regularizer(tf.gather(self.embeddings.value, unique_rows)))
        return ops.cast(rows, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_sizes=list(self.vocabulary_sizes),
            field_lengths=list(self.field_lengths),
            output_dim=self.output_dim,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
            embeddings_regularizer=keras.regularizers.serialize(self.embeddings_regularizer),
            regularize=self.regularize,
            field_names=self.field_names,
        )
        return config


@keras.saving.register_keras_serializable(package="deepfm_keras")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean-pools the columns of each field, ignoring padding ids (0).

    Columns are grouped into fields by `field_lengths`. For a field whose
    `masked` flag is set (a multi-level field), columns whose id is 0 are
    padding and never count; a row whose list is all padding gives a zero
    vector, never NaN. Other fields (single-level) count every column.

    Inputs: `[embeddings, ids]` with shapes `(batch, columns, dim)` and
    `(batch, columns)`, where `columns = sum(field_lengths)`.
    Output shape: `(batch, num_fields, dim)`.

    Args:
        field_lengths: number of columns of each field.
        masked: per field, whether id 0 is padding.

    Example:

    >>> pool = MaskedMeanPooling(field_lengths=[1, 3], masked=[False, True])
    >>> emb = np.ones((2, 4, 8), "float32")
    >>> ids = np.array([[7, 1, 2, 0], [0, 0, 0, 0]])
    >>> out = pool([emb, ids])
    >>> tuple(out.shape), float(out[1, 1, 0]), float(out[1, 0, 0])
    ((2, 2, 8), 0.0, 1.0)
    """

    def __init__(self, field_lengths: Sequence[int], masked: Sequence[bool], **kwargs):
        super().__init__(**kwargs)
        self.field_lengths = _positive_int_list("field_lengths", field_lengths)
        self.masked = [bool(m) for m in masked]
        if len(self.masked) != len(self.field_lengths):
            raise ValueError(
                "`masked` should have one flag per field. "
                f"Received: {len(self.masked)} flags for {len(self.field_lengths)} fields"
            )
        # A static plan of column segments: each run of consecutive plain single-level fields
        # passes through as one segment; every other field is a segment pooled on its own.
        # Splitting at static boundaries keeps the graph small (its gradient is one concat).
        segments = []  # [columns, pooled, masked]
        for length, is_masked in zip(self.field_lengths, self.masked, strict=True):
            plain = length == 1 and not is_masked
            if plain and segments and not segments[-1][1]:
                segments[-1][0] += 1
            else:
                segments.append([length, not plain, is_masked])
        self._segments = [tuple(s) for s in segments]
        self._split_at = np.cumsum([s[0] for s in segments])[:-1].tolist()
        self._identity = len(segments) == 1 and not segments[0][1]

    def call(self, inputs):
        embeddings, ids = inputs
        if self._identity:
            return embeddings
        if self._split_at:
            embedding_parts = ops.split(embeddings, self._split_at, axis=1)
            id_parts = ops.split(ids, self._split_at, axis=1)
        else:
            embedding_parts, id_parts = [embeddings], [ids]
        pooled = []
        for (_, pool, is_masked), part, part_ids in zip(self._segments, embedding_parts, id_parts, strict=True):
            if not pool:
                pooled.append(part)
            elif is_masked:
                weights = ops.cast(ops.not_equal(part_ids, 0), part.dtype)
                total = ops.sum(part * ops.expand_dims(weights, -1), axis=1, keepdims=True)
                count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
                pooled.append(total / ops.expand_dims(count, -1))
            else:
                pooled.append(ops.mean(part, axis=1, keepdims=True))
        return pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=1)

    def compute_output_shape(self, input_shape):
        emb_shape = input_shape[0]
        return (emb_shape[0], len(self.field_lengths), emb_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(field_lengths=list(self.field_lengths), masked=list(self.masked))
        return config
