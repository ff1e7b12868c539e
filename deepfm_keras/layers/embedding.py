"""Field embeddings: numeric projection, fused categorical lookup, masked mean pooling."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepfm_keras.optimizers import mark_row_sparse
from deepfm_keras.spec.pooling import COMBINERS

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
    16) and `"rows"` above, the same for the embedding and the first-order
    table of a spec. The two differ: with Adam, the whole-table penalty keeps
    shrinking the rows of rare ids between their batches, which small tables
    (MovieLens) reward; benchmarks/README.md ("Figures behind the package's
    defaults") has the measurements behind the threshold. Under a
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
        table_names: optional name of the table each field looks up: fields
            with the same table name share one block of rows (a history of
            movie ids and the `movie_id` field), and must have the same
            vocabulary size. Default: every field has its own block.

    Example:

    >>> layer = CategoricalEmbedding([5, 3], [1, 2], output_dim=4)
    >>> tuple(layer(np.array([[4, 1, 2]])).shape)
    (1, 3, 4)
    >>> shared = CategoricalEmbedding([5, 5], [1, 2], output_dim=4, table_names=["item", "item"])
    >>> shared.table_size  # one block of 5 ids + 1 out-of-range row
    6
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
        table_names: Sequence[str] | None = None,
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
        self.table_names = [str(t) for t in table_names] if table_names is not None else None
        if self.table_names is not None and len(self.table_names) != len(self.vocabulary_sizes):
            raise ValueError(
                f"`table_names` should have one entry per field ({len(self.vocabulary_sizes)}). "
                f"Received: table_names={self.table_names}"
            )
        # Each table owns `vocabulary_size + 1` consecutive rows (its ids, then its out-of-range row); a field
        # reads its table's block.
        tables = self.table_names or [str(i) for i in range(len(self.vocabulary_sizes))]
        block: dict[str, tuple[int, int]] = {}  # table -> (offset, vocabulary size)
        offsets = []
        next_row = 0
        for field, (table, size) in enumerate(zip(tables, self.vocabulary_sizes, strict=True)):
            if table not in block:
                block[table] = (next_row, size)
                next_row += size + 1
            elif block[table][1] != size:
                raise ValueError(
                    f"Fields sharing table '{table}' should have the same vocabulary size. Received: "
                    f"{block[table][1]} and {size} (field {self.field_names[field] if self.field_names else field})"
                )
            offsets.append(block[table][0])
        sizes = np.asarray(self.vocabulary_sizes, "int64")
        self._column_vocab = np.repeat(sizes, self.field_lengths)
        self._column_offset = np.repeat(np.asarray(offsets, "int64"), self.field_lengths)
        self.table_size = int(next_row)

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
        if self.table_names is not None:
            config["table_names"] = list(self.table_names)
        return config


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
        self.field_lengths = _positive_int_list("field_lengths", field_lengths)
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

    >>> tuple(FitWidth(3)(np.ones((1, 2, 5), "float32")).shape)
    (1, 2, 3)
    >>> FitWidth(3)(np.ones((1, 2, 2), "float32"))[0, 0].numpy().tolist()
    [1.0, 1.0, 0.0]
    """

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.width = _check_output_dim(width)

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
