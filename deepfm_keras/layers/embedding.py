"""Field embeddings: the numeric projection and the fused categorical lookup."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepfm_keras import chunked
from deepfm_keras.layers.arguments import positive_int, positive_int_list
from deepfm_keras.optimizers import mark_row_sparse

REGULARIZE_SCOPES = ("auto", "table", "rows")
# Up to this many table rows, `regularize="auto"` regularizes the whole table.
DENSE_REGULARIZER_MAX_ROWS = 2**18


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
        self.num_fields = positive_int("num_fields", num_fields)
        self.output_dim = positive_int("output_dim", output_dim)
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

    A table over `deepfm_keras.chunked.CHUNK_BYTES` (16 MiB) is filled in
    place block by block when it is built, and saved and loaded block by
    block, so it is never in memory twice: its initial values follow
    `embeddings_initializer`'s distribution, but are not the numbers of one
    whole-table draw (smaller tables get exactly Keras' values).

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
        self.vocabulary_sizes = positive_int_list("vocabulary_sizes", vocabulary_sizes)
        self.field_lengths = positive_int_list("field_lengths", field_lengths)
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
        self.output_dim = positive_int("output_dim", output_dim)
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
        # A large table is filled in place, block by block (`deepfm_keras.chunked`): no table-sized temporaries.
        self.embeddings = chunked.add_table(
            self,
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

    def save_own_variables(self, store):
        # The table goes into the weights file block by block (same datasets as Keras writes).
        chunked.save_variables(self._trainable_variables + self._non_trainable_variables, store)

    def load_own_variables(self, store):
        variables = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) != len(variables):
            return super().load_own_variables(store)  # Keras' own error for a file of another layer
        chunked.load_variables(variables, store)

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
