"""Large tables in row chunks: initialised, saved, loaded and read without a whole-table copy.

An embedding table of 10^8 rows is most of a machine's memory, so every
whole-table temporary is a second (third, ...) copy of it; and on CPU
TensorFlow keeps the memory of a freed temporary for its next tensors, so a
passing peak stays resident. The usual Keras paths make such temporaries:

- initialising: `keras.initializers.RandomUniform` computed eagerly is three
  table-sized tensors (`[0, 1)` draws, scaled, shifted);
- saving: `H5IOStore.__setitem__` converts the variable to one NumPy array, and
  a `.keras` file small enough for `keras.saving`'s "memory is sufficient"
  test is built in an in-memory HDF5 file and copied once more into the zip;
- loading: `variable.assign(store[key])` reads the whole dataset into NumPy;
- any dense read of a table that sparse updates have touched
  (TensorFlow's copy-on-read mode) copies the whole table (the SavedModel
  writer reads without that copy: `read_value_no_copy`).

Here each of those works on blocks of rows (`CHUNK_BYTES`, 16 MiB) of the
variable itself: `initialize_in_place` fills a zero table block by block,
`save_variables` / `load_variables` write and read `.weights.h5` / `.keras`
datasets block by block (the files are the ones Keras writes: same groups,
same contiguous datasets), and `read_rows` gathers a block with `ResourceGather`
(never a dense read). Variables under `CHUNK_BYTES`
take Keras' own paths, unchanged.

Example:

>>> import keras
>>> v = keras.Variable(np.arange(6, dtype="float32").reshape(3, 2))
>>> read_rows(v, 1, 3).tolist()
[[2.0, 3.0], [4.0, 5.0]]
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

# A block of rows moved at once: big enough that per-block overhead is nothing, small next to the table.
CHUNK_BYTES = 16 << 20


def _tf_variable(variable):
    """The TensorFlow variable behind a `keras.Variable` (a `tf.Variable` or a distributed one)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def nbytes(variable) -> int:
    """Bytes of `variable` (its shape times its dtype's size)."""
    return math.prod(variable.shape) * np.dtype(keras.backend.standardize_dtype(variable.dtype)).itemsize


def is_large(variable) -> bool:
    """Whether `variable` is worth moving in row blocks: over `CHUNK_BYTES`, at least 1-D, float32."""
    return (
        len(variable.shape) >= 1
        and nbytes(variable) > CHUNK_BYTES
        and keras.backend.standardize_dtype(variable.dtype) == "float32"
    )


def row_blocks(shape: Sequence[int], itemsize: int = 4, chunk_bytes: int | None = None) -> Iterator[tuple[int, int]]:
    """`(start, stop)` row ranges of about `chunk_bytes` (default `CHUNK_BYTES`) each that cover `shape[0]` rows.

    >>> list(row_blocks((10, 4), itemsize=4, chunk_bytes=64))
    [(0, 4), (4, 8), (8, 10)]
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rows = int(shape[0])
    row_bytes = max(1, math.prod(shape[1:]) * itemsize)
    step = max(1, chunk_bytes // row_bytes)
    for start in range(0, rows, step):
        yield start, min(rows, start + step)


def read_rows(variable, start: int, stop: int) -> np.ndarray:
    """Rows `start:stop` of `variable` as NumPy, gathered from the variable (no read of the whole table)."""
    with tf.init_scope():
        return tf.gather(_tf_variable(variable), tf.range(start, stop, dtype=tf.int64)).numpy()


def assign_rows(variable, start: int, values) -> None:
    """Writes `values` into rows `start:start + len(values)` of `variable`, in place."""
    with tf.init_scope():
        values = tf.convert_to_tensor(values, dtype=_tf_variable(variable).dtype)
        indices = tf.range(start, start + int(values.shape[0]), dtype=tf.int64)
        _tf_variable(variable).scatter_update(tf.IndexedSlices(values, indices))


# ---------------------------------------------------------------------------------------------- initialise


def _chunk_initializer(initializer, shape: Sequence[int], start: int, stop: int, block: int):
    """An initializer that draws rows `start:stop` of `shape` from `initializer`'s distribution, or None.

    Element-wise initializers (uniform, normal, truncated normal, constants)
    give the same distribution on any block; each block gets a seed of its
    own derived from the initializer's (else every block would repeat the
    first). Variance-scaling ones (Glorot, He, LeCun) scale by the fans of the
    whole shape, so the block's initializer gets the scale that gives the
    whole table's variance. Others (orthogonal, identity, user classes)
    return None.
    """
    initializers = keras.initializers
    if isinstance(initializer, (initializers.Zeros, initializers.Ones, initializers.Constant)):
        return initializer
    element_wise = (initializers.RandomUniform, initializers.RandomNormal, initializers.TruncatedNormal)
    if not isinstance(initializer, (*element_wise, initializers.VarianceScaling)):
        return None
    config = initializer.get_config()
    seed = initializer.seed  # an int (Keras draws one for seed=None) or a SeedGenerator, which each call advances
    config["seed"] = seed if isinstance(seed, keras.random.SeedGenerator) else (seed * 1_000_003 + block) % (2**31 - 1)
    if isinstance(initializer, element_wise):
        return type(initializer)(**config)
    rows, width = int(shape[0]), math.prod(shape[1:])
    mode = initializer.mode  # Glorot/He/LeCun keep only their seed in get_config: read the attributes

    def fan(r):
        return {"fan_in": r, "fan_out": width, "fan_avg": (r + width) / 2}[mode]

    scale = initializer.scale * fan(stop - start) / fan(rows)
    return initializers.VarianceScaling(scale, mode, initializer.distribution, seed=config["seed"])


def can_initialize_in_place(initializer, shape: Sequence[int]) -> bool:
    """Whether `initialize_in_place` can fill a table of `shape` from `initializer` block by block."""
    return _chunk_initializer(keras.initializers.get(initializer), shape, 0, 1, 0) is not None


def initialize_in_place(variable, initializer) -> None:
    """Fills `variable` (created with zeros) with `initializer`'s values, one block of rows at a time.

    The table's memory is the only table-sized buffer: each block is drawn
    (about `CHUNK_BYTES`) and scattered into its rows. The values follow the
    initializer's distribution but are not the numbers one whole-table call
    would draw.

    Raises:
        ValueError: for an initializer `can_initialize_in_place` refuses.
    """
    initializer = keras.initializers.get(initializer)
    shape = tuple(int(d) for d in variable.shape)
    if isinstance(initializer, keras.initializers.Zeros):
        return
    for block, (start, stop) in enumerate(row_blocks(shape)):
        chunk = _chunk_initializer(initializer, shape, start, stop, block)
        if chunk is None:
            raise ValueError(f"Initializer {initializer!r} cannot fill a table block by block.")
        assign_rows(variable, start, chunk((stop - start,) + shape[1:], dtype="float32"))


_DRAW_TABLES = contextvars.ContextVar("deepfm_keras_draw_tables", default=True)


@contextlib.contextmanager
def tables_read_next() -> Iterator[None]:
    """Within it, large tables are created as zeros, not drawn: for a model whose weights a file overwrites next.

    `deepfm_keras.load_model` builds the model inside it (drawing 3.5B
    random numbers only to overwrite them took 16 s of a 37 s load at 8M ids
    per field). Small tables are built as always.
    """
    token = _DRAW_TABLES.set(False)
    try:
        yield
    finally:
        _DRAW_TABLES.reset(token)


def add_table(layer: keras.layers.Layer, name: str, shape: Sequence[int], initializer, **kwargs):
    """`layer.add_weight(name, shape, initializer, **kwargs)`, but a large table is filled in place.

    A table over `CHUNK_BYTES` whose initializer can be drawn block by block
    is created from zeros (which TensorFlow hands to the variable without a
    copy) and filled by `initialize_in_place`; smaller tables (and other
    initializers) are created by Keras as usual, with the same values as
    `add_weight` gives.
    """
    shape = tuple(int(d) for d in shape)
    initializer = keras.initializers.get(initializer)
    size = math.prod(shape) * 4
    if size <= CHUNK_BYTES or (_DRAW_TABLES.get() and not can_initialize_in_place(initializer, shape)):
        return layer.add_weight(name=name, shape=shape, initializer=initializer, **kwargs)
    variable = layer.add_weight(name=name, shape=shape, initializer="zeros", **kwargs)
    if _DRAW_TABLES.get():
        initialize_in_place(variable, initializer)
    return variable


class Fill(keras.initializers.Initializer):
    """`keras.initializers.Constant` made with ONE tensor (`ops.full`), for optimizer slots the size of a table.

    Keras' `Constant` multiplies the value by `ops.ones(shape)`: two
    slot-sized temporaries, which TensorFlow's CPU allocator keeps.

    >>> Fill(0.1)((2, 1), "float32").numpy().tolist()
    [[0.10000000149011612], [0.10000000149011612]]
    """

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return keras.ops.full(shape, self.value, dtype=keras.backend.standardize_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


# ---------------------------------------------------------------------------------------------- save / load


def _h5_group(store, create: bool):
    """The h5py group behind a Keras `H5IOStore` entry, or None for any other store (sharded, npz, a dict)."""
    try:
        import h5py
        from keras.src.saving.saving_lib import H5IOStore, ShardedH5IOStore
    except ImportError:  # pragma: no cover - another Keras layout: Keras' own path
        return None
    if not isinstance(store, H5IOStore) or isinstance(store, ShardedH5IOStore):
        return None
    if create and not getattr(store, "_h5_entry_initialized", True):
        store._create_h5_group(store._h5_entry_path)
    group = getattr(store, "_h5_entry_group", None)
    return group if isinstance(group, h5py.Group) else None


def save_variables(variables: Sequence, store, *, as_numpy: bool = False) -> None:
    """Writes `variables` into a Keras weights store as datasets `"0"`, `"1"`, ... (Keras' layout).

    A large float32 variable going into an HDF5 store is written block by
    block into a dataset created with its full shape; anything else takes
    `store[key] = variable` (`variable.numpy()` with `as_numpy`, as Keras'
    optimizers save).
    """
    for i, variable in enumerate(variables):
        key = str(i)
        group = _h5_group(store, create=True) if is_large(variable) else None
        if group is None:
            store[key] = variable.numpy() if as_numpy else variable
            continue
        shape = tuple(int(d) for d in variable.shape)
        dataset = group.create_dataset(key, shape=shape, dtype="float32")
        for start, stop in row_blocks(shape):
            dataset[start:stop] = read_rows(variable, start, stop)


def _dataset(store, key: str, variable):
    group = _h5_group(store, create=False)
    if group is None or key not in group:
        return None
    try:
        from keras.src.saving.saving_lib import safe_get_h5_dataset
    except ImportError:  # Keras 3.10: no guard of its own; the shape check below bounds the read
        dataset = group[key]
    else:
        dataset = safe_get_h5_dataset(group, key)
    if tuple(dataset.shape) != tuple(int(d) for d in variable.shape):
        raise ValueError(
            f"The saved weight '{key}' has shape {tuple(dataset.shape)}, but variable '{variable.path}' has shape "
            f"{tuple(variable.shape)}."
        )
    return dataset


def load_variables(variables: Sequence, store) -> None:
    """Reads datasets `"0"`, `"1"`, ... of a Keras weights store into `variables`, large ones block by block."""
    for i, variable in enumerate(variables):
        key = str(i)
        dataset = _dataset(store, key, variable) if is_large(variable) else None
        if dataset is None:
            variable.assign(store[key])
            continue
        for start, stop in row_blocks(dataset.shape):
            assign_rows(variable, start, np.asarray(dataset[start:stop], dtype="float32"))


class TableSlots:
    """Optimizer mixin (before the Keras optimizer class): slots of large tables made, saved and loaded in blocks.

    Slots that start at a constant (Adagrad's initial accumulator) are one
    filled tensor (`Fill`); the slots go into the weights file block by block
    and come back the same way (`save_variables`, `load_variables`).
    """

    def add_variable(self, *args, **kwargs):
        initializer = kwargs.get("initializer")
        if isinstance(initializer, keras.initializers.Constant) and np.ndim(initializer.value) == 0:
            kwargs["initializer"] = Fill(float(keras.ops.convert_to_numpy(initializer.value)))
        return super().add_variable(*args, **kwargs)  # type: ignore[misc]

    def save_own_variables(self, store):
        save_variables(self.variables, store, as_numpy=True)  # type: ignore[attr-defined]

    def load_own_variables(self, store):
        if len(store.keys()) != len(self.variables):  # type: ignore[attr-defined]
            return super().load_own_variables(store)  # type: ignore[misc]  # Keras' warning, nothing loaded
        load_variables(self.variables, store)  # type: ignore[attr-defined]
