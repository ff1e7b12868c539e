"""Strategy handling: the one module of deepfm_keras that knows about `tf.distribute`.

Everything uses TensorFlow's own strategies; layers never see them. The usual
flow is:

```
strategy = get_strategy()                 # default, Mirrored, MultiWorkerMirrored or yours
batch = global_batch_size(256, strategy)  # per-replica size x replicas
with strategy.scope():                    # variables are created mirrored
    model = build_deepfm(spec)
    model.compile(optimizer="adam", loss="binary_crossentropy")
train = prepare_dataset(dataset.batch(batch), strategy)
model.fit(train, epochs=3)                # Keras distributes the batches
```

Under a multi-worker `MultiWorkerMirroredStrategy`, Keras 3's `model.fit`
fails (see `multi_worker_fit`); `deepfm_keras.training.fit(model, train,
epochs=3)` runs on one or many workers alike.

`get_strategy()` picks, in order:

1. the strategy passed in;
2. `tf.distribute.MultiWorkerMirroredStrategy` when the `TF_CONFIG`
   environment variable describes a cluster with more than one worker (chief
   and workers); every worker runs the same script with its own `TF_CONFIG`;
3. `tf.distribute.MirroredStrategy` over all visible GPUs when there are
   more than one;
4. else (one GPU, or none) TensorFlow's default strategy,
   `tf.distribute.get_strategy()`: one replica on the one device, with no
   distribution machinery (no per-replica values, no "Using
   MirroredStrategy" start-up notices), as a plain `model.fit` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

WORKER_TASK_TYPES = ("chief", "worker")


def _tf_config(tf_config: str | Mapping | None = None) -> dict:
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if isinstance(tf_config, Mapping):
        return dict(tf_config)
    if not tf_config.strip():
        return {}
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise ValueError(f"`TF_CONFIG` should be JSON. Received: TF_CONFIG={tf_config!r} ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"`TF_CONFIG` should be a JSON object. Received: TF_CONFIG={tf_config!r}")
    return config


def num_workers(tf_config: str | Mapping | None = None) -> int:
    """Number of training processes (chief + workers) a `TF_CONFIG` describes.

    Args:
        tf_config: the JSON string or dict; defaults to the `TF_CONFIG`
            environment variable. Parameter servers and evaluators do not count.

    Returns:
        0 when there is no cluster, else the number of chief and worker tasks.

    Example:

    >>> num_workers({"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
    ...              "task": {"type": "worker", "index": 0}})
    2
    """
    cluster = _tf_config(tf_config).get("cluster", {}) or {}
    return sum(len(cluster.get(task_type, []) or []) for task_type in WORKER_TASK_TYPES)


def get_strategy(strategy: tf.distribute.Strategy | None = None) -> tf.distribute.Strategy:
    """Returns the strategy to build, compile and fit a model under.

    Args:
        strategy: a `tf.distribute.Strategy` to use as is. When `None`:
            `MultiWorkerMirroredStrategy` if `TF_CONFIG` describes more than
            one worker, else `MirroredStrategy` over all visible GPUs when
            there are several, else (one GPU or none) the default strategy
            `tf.distribute.get_strategy()` (one replica). Pass
            `tf.distribute.MirroredStrategy()` yourself to force it on one
            device.

    Returns:
        A `tf.distribute.Strategy`. Build and compile the model inside
        `strategy.scope()`; batch the data at `global_batch_size(...)`.

    Raises:
        TypeError: if `strategy` is not a `tf.distribute.Strategy`.
        ValueError: if `TF_CONFIG` is not valid JSON.

    Note:
        `MultiWorkerMirroredStrategy` must be created at program start-up,
        before any other TensorFlow op runs, and every worker must create it
        (it blocks until all workers have joined).

    Example:

    >>> strategy = get_strategy()
    >>> strategy.num_replicas_in_sync >= 1
    True
    >>> with strategy.scope():
    ...     pass  # build and compile the model here
    """
    if strategy is not None:
        if not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(f"`strategy` should be a tf.distribute.Strategy. Received: strategy={strategy!r}")
        return strategy
    if num_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica_batch_size: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """The global batch size: per-replica size x number of replicas in sync.

    Keras splits each global batch of a distributed dataset evenly across
    replicas, so a dataset should be batched at this size.

    Args:
        per_replica_batch_size: rows each replica processes per step.
        strategy: the strategy; defaults to the current one
            (`tf.distribute.get_strategy()`, one replica outside any scope).

    Raises:
        ValueError: if `per_replica_batch_size` is not a positive integer.
    """
    if (
        isinstance(per_replica_batch_size, bool)
        or not isinstance(per_replica_batch_size, int)
        or per_replica_batch_size < 1
    ):
        raise ValueError(
            "`per_replica_batch_size` should be a positive integer. "
            f"Received: per_replica_batch_size={per_replica_batch_size!r}"
        )
    strategy = strategy or tf.distribute.get_strategy()
    return per_replica_batch_size * strategy.num_replicas_in_sync


def prepare_dataset(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy | None = None) -> tf.data.Dataset:
    """Sets a batched `tf.data.Dataset` up to be distributed by Keras under `strategy`.

    Keras' `fit` hands the dataset to `strategy.experimental_distribute_dataset`,
    which splits each global batch across the replicas. Under a multi-worker
    strategy the dataset is also sharded by data (`AutoShardPolicy.DATA`),
    which works for in-memory and file-based pipelines alike and avoids
    TensorFlow's AUTO policy falling back with a warning: TensorFlow first
    rebatches each global batch into one part per replica, then every worker
    keeps its own parts, so with n one-replica workers worker i gets the
    i-th of n consecutive slices of every global batch. The dataset is
    prefetched.

    Args:
        dataset: a dataset batched at the global batch size.
        strategy: the strategy it will be distributed under; defaults to the
            current one.

    Returns:
        The prepared dataset.
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` should be a tf.data.Dataset. Received: dataset={type(dataset).__name__}")
    if is_multi_worker(strategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process should write shared outputs (logs, checkpoints, exports).

    True for single-process strategies, and for the chief (or worker 0 when
    the cluster has no chief) under `MultiWorkerMirroredStrategy`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return True
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type in (None, "worker") and (resolver.task_id or 0) == 0


def is_multi_worker(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` spanning more than one worker."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return sum(len(cluster.get(t, [])) for t in WORKER_TASK_TYPES) > 1


def _first_replica(values, strategy):
    """The first local replica's value of each output of `strategy.run`, as a float.

    No collective runs: under `MultiWorkerMirroredStrategy` these are one
    replica's running metrics over its own share of the batches seen so far,
    which differ between workers. They serve the per-batch callbacks only.
    """
    return {
        name: float(strategy.experimental_local_results(value)[0])
        if isinstance(value, tf.distribute.DistributedValues)
        else float(value)
        for name, value in values.items()
    }


def _global_logs(model, step_outputs, strategy):
    """The model's metrics over every replica of every worker, as floats; the same on all workers.

    Keras keeps metric state (`Mean`'s total and count, `AUC`'s confusion
    counts) in `synchronization="on_read"`, `aggregation="sum"` variables, so
    `model.get_metrics_result()` read in cross-replica context all-reduces the
    state before `result()`: means are weighted by rows (and sample weights)
    across workers, and AUC is that of the union of the shards. When the step
    returns other keys than `model.metrics` (a custom `train_step`), the last
    step's outputs are averaged over all replicas instead. Every worker must
    call it at the same point: it runs collectives.
    """
    results = model.get_metrics_result()
    if set(results) != set(step_outputs):
        results = {
            name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            if isinstance(value, tf.distribute.DistributedValues)
            else value
            for name, value in step_outputs.items()
        }
    return {name: float(value) for name, value in results.items()}


def _any_worker(flag: bool, strategy) -> bool:
    """Whether `flag` is true on at least one worker (a collective: every worker must call it)."""
    flags = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(float(flag)))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None) > 0)


def multi_worker_fit(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    epochs: int,
    validation_data: tf.data.Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.callbacks.History:
    """`model.fit` for `MultiWorkerMirroredStrategy`, which Keras 3's own `fit` cannot run.

    Keras 3 (up to at least 3.15) fails in `fit` under a multi-worker strategy:
    it all-reduces the whole input batch to build the model (which fails for
    dict inputs, keras-team/keras#20329) and reduces scalar logs along axis 0
    (tensorflow/tensorflow#72388). This loop does what `fit` does with
    TensorFlow's and Keras' own pieces: `strategy.experimental_distribute_dataset`,
    `strategy.run(model.train_step)` (Keras' train step: loss, gradients
    all-reduced by the optimizer, metrics) and a `keras.callbacks.CallbackList`,
    so `BackupAndRestore`, `ModelCheckpoint`, `EarlyStopping`,
    `ReduceLROnPlateau`, `TensorBoard` and `ContributionLogger` work as with `fit`.

    Every worker runs the same callbacks, and a worker that stops or saves
    alone leaves the others waiting in (or crashing on) a collective, so
    their decisions must agree. The epoch logs the callbacks get (training
    metrics over the epoch, `val_` metrics over the whole validation set)
    are therefore reduced across workers from the metric variables (see
    `_global_logs`): identical on every worker. After `on_epoch_end`, all
    workers stop if any callback set `model.stop_training` on any worker.
    Per-batch logs (`on_train_batch_end`) are the first local replica's
    running values, not reduced (a reduction per step would cost a
    collective per step); `model.stop_training` set during an epoch takes
    effect at its end.

    Args:
        model: a compiled model built inside `strategy.scope()`.
        dataset: training data, batched at the global batch size; it is
            split across workers (see `prepare_dataset`). Keep every batch
            full; uneven last steps are left to `tf.distribute`.
        epochs: the epoch to stop at (as in `fit`).
        validation_data: optional dataset, split across workers like
            `dataset` and evaluated at each epoch end with `model.test_step`;
            its metrics, reduced over all workers, are logged with a `val_`
            prefix.
        callbacks: Keras callbacks.
        strategy: the strategy the model was built under; defaults to the
            current one.

    Returns:
        The `keras.callbacks.History` of the run.
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        train_data = strategy.experimental_distribute_dataset(prepare_dataset(dataset, strategy))
        val_data = (
            strategy.experimental_distribute_dataset(prepare_dataset(validation_data, strategy))
            if validation_data is not None
            else None
        )

        @tf.function
        def train_step(batch):
            return strategy.run(model.train_step, args=(batch,))

        @tf.function
        def test_step(batch):
            return strategy.run(model.test_step, args=(batch,))

        callback_list = keras.callbacks.CallbackList(
            callbacks, add_history=True, add_progbar=False, model=model, epochs=epochs
        )
        model.stop_training = False
        callback_list.on_train_begin()
        # BackupAndRestore sets the epoch to resume from here, as `fit` reads it.
        initial_epoch = getattr(model, "_initial_epoch", None) or 0
        logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            outputs = {}
            for step, batch in enumerate(train_data):
                callback_list.on_train_batch_begin(step)
                outputs = train_step(batch)
                callback_list.on_train_batch_end(step, _first_replica(outputs, strategy))
            epoch_logs = _global_logs(model, outputs, strategy)
            if val_data is not None:
                model.reset_metrics()
                outputs = {}
                for batch in val_data:
                    outputs = test_step(batch)
                epoch_logs.update(
                    {f"val_{name}": value for name, value in _global_logs(model, outputs, strategy).items()}
                )
            callback_list.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            model.stop_training = _any_worker(model.stop_training, strategy)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
    return model.history
