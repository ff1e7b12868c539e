"""tf.data pipelines: in-memory arrays (or a raw table and its encoder) to batched, prefetched datasets.

```python
train = make_dataset(encoder.transform(train_df), y, batch_size=4096, seed=0)     # encoded arrays
train = make_dataset(train_df, y, encoder=encoder, batch_size=4096, seed=0)       # raw table, encoded per batch
train = make_dataset(x, y, sample_weight=w, batch_size=4096, seed=0)              # (x, y, w) batches
```

With `encoder`, the pipeline holds the raw columns and every batch goes
through `FeatureEncoder.encode`: the same encoding layers the serving
signature runs, so training input and served requests are encoded by the same
ops.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping

import numpy as np

from deepfm_keras import validation

# The epoch counter of every live seeded dataset (see `set_shuffle_epoch`); weak, so a dataset's counter goes with it.
_EPOCH_COUNTERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_COUNTER_IDS = itertools.count()


def set_shuffle_epoch(epoch: int) -> None:
    """Makes the next iteration of every seeded `make_dataset` dataset shuffle as epoch `epoch` (0-based) does.

    A seeded dataset shuffles its `e`-th iteration with the permutation of
    `(seed, e)`; `e` counts the iterations of that dataset object (Keras'
    `fit` iterates once per epoch). A run resumed at epoch 3 makes a fresh
    dataset, whose count starts at 0: the backup callback of
    `deepfm_keras.training.make_callbacks(backup_dir=...)` calls this at the
    start of training with the epoch it resumes from, so the resumed epochs
    see the orders of an uninterrupted run.

    Args:
        epoch: a non-negative integer.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"`epoch` should be a non-negative integer. Received: epoch={epoch!r}")
    for counter in list(_EPOCH_COUNTERS.values()):
        counter.assign(int(epoch))


def _seeded_orders(n: int, seed: int):
    """A dataset of one permutation of `range(n)` per iteration: the `e`-th iteration's is a function of (seed, e)."""
    import tensorflow as tf

    with tf.init_scope():
        counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="shuffle_epoch")
    _EPOCH_COUNTERS[next(_COUNTER_IDS)] = counter

    def order(_):
        epoch = counter.assign_add(1) - 1  # read and advance in one op: each iteration reads it exactly once
        key = tf.stack([tf.constant(seed, tf.int64), epoch])
        return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)

    return tf.data.Dataset.from_tensors(0).map(order)


def make_dataset(
    x: Mapping[str, np.ndarray],
    y: np.ndarray | None = None,
    *,
    sample_weight: np.ndarray | None = None,
    batch_size: int,
    shuffle: bool = True,
    seed: int | None = None,
    drop_remainder: bool = False,
    encoder=None,
    model=None,
):
    """Builds a batched, prefetched `tf.data.Dataset` of `(x_dict, y)`, `(x_dict, y, w)` or `x_dict` from arrays.

    The arrays are held as tensors; each epoch (each new iteration of the
    dataset, as Keras' `fit` does) draws a fresh permutation of the row
    indices, cuts it into batches and gathers every batch with one
    `tf.gather` per input: far cheaper than `from_tensor_slices(...).shuffle(n)`
    (benchmarks/README.md, "Figures behind the package's defaults"). With a
    `seed`, epoch `e`'s permutation is a function of `(seed, e)`:
    reproducible, different in each epoch, and the same after a resume from a
    backup (see `set_shuffle_epoch`; `e` counts this dataset's iterations, so
    a dataset also iterated outside `fit` shifts its epochs).
    Without a seed every iteration draws a fresh random permutation.
    `batch_size` is the global batch size: under
    `tf.distribute.MirroredStrategy`, Keras splits each batch across replicas.

    Args:
        x: dict name -> array with the same first dimension (e.g. from
            `FeatureEncoder.transform`).
        y: optional labels, first dimension the number of rows (cast to float32);
            for a several-head model (`build_deepfm(tasks=...)`) a dict from
            head name to labels.
        sample_weight: optional per-row weights `(n,)` or `(n, 1)`, with `y`:
            the dataset then yields `(x_dict, y, w)`, `w` float32 `(batch,)`
            gathered with the same indices as `x` and `y`, which Keras' `fit`
            and `evaluate` take as sample weights. Keras 3 averages a batch's
            loss as `sum(w * loss) / batch_size` (not `/ sum(w)`): weights
            scale the gradient, so keep their mean near 1 to keep the learning
            rate's scale. Checked here (`validation.check_sample_weights`):
            numbers, finite, `>= 0`, not all zero, one per row. With a dict
            `y`: a dict with one array per head (a conversion head weighted 0
            on the rows without a click), or one array for every head.
        batch_size: rows per batch.
        shuffle: whether to reshuffle the rows every epoch.
        seed: seed of the shuffling.
        drop_remainder: whether to drop the last, smaller batch.
        encoder: optional fitted `FeatureEncoder`; then `x` is the raw table
            (a DataFrame or dict of columns) and each batch is encoded in the
            pipeline with `encoder.encode`.
        model: optional model the dataset is for: then encoded `x` is checked
            against its inputs here (`deepfm_keras.validation.check_inputs`:
            exact keys, shapes, finite numbers, ids in range) and `y` against
            its task (0 or 1 for a binary model), each error naming the field,
            row and value. Without it the model checks the keys when `fit`
            starts and every batch's ids in the graph.

    Labels and weights are always checked here: numbers, finite, `(n,)` or
    `(n, 1)` (`deepfm_keras.validation.check_labels`, `check_sample_weights`,
    naming the row).

    Returns:
        A `tf.data.Dataset` with known cardinality (the number of batches).

    Example:

    >>> ds = make_dataset({"a": np.arange(10)}, np.zeros(10), batch_size=4, seed=0)
    >>> [b[0]["a"].shape[0] for b in ds]
    [4, 4, 2]
    >>> ds = make_dataset({"a": np.arange(4)}, np.zeros(4), sample_weight=[1, 2, 3, 4], batch_size=4, shuffle=False)
    >>> [w.numpy().tolist() for _, _, w in ds]
    [[1.0, 2.0, 3.0, 4.0]]
    """
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` should be a positive integer. Received: batch_size={batch_size!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"`seed` should be an integer or None. Received: seed={seed!r}")
    if encoder is not None:
        x = encoder.raw_inputs(x)
    elif model is not None:
        x = validation.check_inputs(model, x, what="the x of make_dataset")
    if not isinstance(x, Mapping) or not x:
        raise ValueError("`x` should be a non-empty dict of arrays.")
    heads = validation.model_tasks(model) if model is not None else {}
    if isinstance(y, Mapping):  # one label array per head of a several-head model
        if model is not None and heads:
            y = validation.check_task_labels(model, y, what="y of make_dataset")
        else:
            y = {k: validation.check_labels(v, what=f"y['{k}'] of make_dataset") for k, v in y.items()}
    elif y is not None:
        if heads:
            raise ValueError(f"Model {model.name!r} has several heads {list(heads)}: `y` should be a dict of labels.")
        task = validation.model_task(model) if model is not None else None
        validation.check_labels(y, task=task, what="y of make_dataset")
    if sample_weight is not None:
        if y is None:
            raise ValueError("`sample_weight` needs labels: pass `y` too.")
        if isinstance(y, Mapping):
            sample_weight = validation.check_head_weights(sample_weight, y, what="sample_weight of make_dataset")
        elif isinstance(sample_weight, Mapping):
            raise ValueError("`sample_weight` of make_dataset is a dict, but `y` is one array: pass one array.")
        else:
            sample_weight = validation.check_sample_weights(sample_weight, what="sample_weight of make_dataset")
    rows = {name: len(value) for name, value in x.items()}
    for what, value in (("y", y), ("sample_weight", sample_weight)):
        if isinstance(value, Mapping):
            rows.update({f"<{what}['{k}']>": len(v) for k, v in value.items()})
        elif value is not None:
            rows[f"<{what}>"] = len(value)
    n = next(iter(rows.values()))
    if any(r != n for r in rows.values()):
        raise ValueError(f"All inputs should have the same number of rows. Received: {rows}")
    if n == 0:
        raise ValueError("`x` has no rows.")
    batch_size = int(batch_size)
    num_batches = n // batch_size if drop_remainder else -(-n // batch_size)
    if num_batches == 0:
        raise ValueError(f"`drop_remainder=True` with {n} rows and batch_size={batch_size} leaves no batch.")

    features = {name: tf.constant(np.asarray(value)) for name, value in x.items()}
    labels = tf.nest.map_structure(lambda v: tf.constant(np.asarray(v, dtype="float32")), y) if y is not None else None
    weights = tf.nest.map_structure(tf.constant, sample_weight) if sample_weight is not None else None

    def batches(order):
        starts = tf.data.Dataset.range(num_batches).map(lambda i: i * batch_size)
        return starts.map(lambda s: order[s : tf.minimum(s + batch_size, n)])

    if shuffle and seed is not None:
        orders = _seeded_orders(n, int(seed))
    elif shuffle:
        # One random draw per iteration (a new one in every epoch), used as the stateless seed of the permutation.
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        orders = draws.map(
            lambda r: tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([r, 0]))
        )
    else:
        orders = tf.data.Dataset.from_tensors(tf.range(n, dtype=tf.int64))
    indices = orders.flat_map(batches)

    def gather(index):
        xb = {name: tf.gather(t, index) for name, t in features.items()}
        if encoder is not None:
            xb = encoder.encode(xb)
        if labels is None:
            return xb
        yb = tf.nest.map_structure(lambda t: tf.gather(t, index), labels)
        if weights is None:
            return xb, yb
        return xb, yb, tf.nest.map_structure(lambda t: tf.gather(t, index), weights)

    dataset = indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)
