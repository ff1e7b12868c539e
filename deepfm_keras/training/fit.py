"""Training helpers: reproducible seeds and the usual callbacks, one option each.

```
set_seed(42)                                   # same seed + same device -> same weights
strategy = get_strategy()
with strategy.scope():
    model = build_deepfm(spec)
    model.compile(optimizer="adam", loss="binary_crossentropy")
callbacks = make_callbacks(
    log_dir="logs",                            # TensorBoard (+ contribution weights)
    contribution_data=fixed_batch,
    backup_dir="backup",                       # resume after a crash: run the same script again
    best_model_path="best.keras",              # keep the best epoch's model
    early_stopping_patience=3,                 # stop when val_loss stops improving
    strategy=strategy,
)
model.fit(train, validation_data=val, epochs=20, callbacks=callbacks)
```
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from deepfm_keras.progress import fit_verbose
from deepfm_keras.training.callbacks import ContributionLogger
from deepfm_keras.training.checkpoints import AtomicBackupAndRestore, AtomicModelCheckpoint
from deepfm_keras.training.distribute import is_chief, is_multi_worker, multi_worker_fit, prepare_dataset


def set_seed(seed: int, *, deterministic: bool = True) -> None:
    """Seeds Python, NumPy and TensorFlow, and optionally makes TensorFlow ops deterministic.

    With the same seed, data order and device, two runs then produce
    identical weights. Call it once at program start, before building the
    model and the datasets.

    Args:
        seed: the seed, a non-negative integer (`keras.utils.set_random_seed`).
        deterministic: also call `tf.config.experimental.enable_op_determinism()`.
            It is process-wide and cannot be undone. What it costs: ops that
            only have a non-deterministic kernel raise instead of running
            (mostly GPU scatter/segment ops), GPU gradients of embedding
            lookups may switch to slower deterministic kernels, and `tf.data`
            keeps element order in parallel stages. On a CPU its cost was not
            measurable (benchmarks/README.md, "Figures behind the package's
            defaults"); on a GPU it was not measured.

    Raises:
        ValueError: if `seed` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` should be a non-negative integer. Received: seed={seed!r}")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


class _RemoveAtTrainEnd(keras.callbacks.Callback):
    """Removes a non-chief worker's scratch directory once training ends."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        shutil.rmtree(self.path, ignore_errors=True)


def _worker_suffix(strategy) -> str:
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}_{resolver.task_id}"


def make_callbacks(
    *,
    log_dir: str | os.PathLike | None = None,
    contribution_data: Mapping | None = None,
    backup_dir: str | os.PathLike | None = None,
    best_model_path: str | os.PathLike | None = None,
    early_stopping_patience: int | None = None,
    monitor: str = "val_loss",
    strategy: tf.distribute.Strategy | None = None,
    field_importance: bool = False,
    hparams: Mapping | None = None,
) -> list[keras.callbacks.Callback]:
    """The standard DeepFM training callbacks, each switched on by one option.

    Args:
        log_dir: adds `keras.callbacks.TensorBoard(log_dir, write_graph=False)`
            (Keras 3 writes a graph that TensorBoard's Graphs tab cannot
            parse, "Malformed GraphDef": none is written) and a
            `ContributionLogger(log_dir, contribution_data)` (run
            `contributions/`, with a custom-scalars layout: the parts'
            weights on one chart, their shares on another).
        contribution_data: a fixed batch (dict of input arrays) for the
            contribution shares; see `ContributionLogger`.
        backup_dir: adds an `AtomicBackupAndRestore(backup_dir)`
            (`keras.callbacks.BackupAndRestore`, written atomically; see
            `deepfm_keras.training.checkpoints`): the weights, optimizer state and
            epoch are backed up at every epoch end, and a run started again
            after a crash, even a SIGKILL during a save, continues from the
            last finished epoch (the backup is deleted when training
            completes). A seeded `make_dataset` then shuffles the resumed
            epochs as an uninterrupted run would. Use a directory of its
            own. EarlyStopping's patience counter and ModelCheckpoint's best
            value are not backed up: they restart.
        best_model_path: adds an `AtomicModelCheckpoint`
            (`keras.callbacks.ModelCheckpoint`, written to a temporary file
            then `os.replace`d) saving the whole model (`.keras`) whenever
            `monitor` improves.
        early_stopping_patience: adds `keras.callbacks.EarlyStopping` with
            that patience on `monitor`, restoring the best weights at the end.
        monitor: the metric for the checkpoint and early stopping; lower is
            better for losses, higher for `auc`/`accuracy` (Keras' `"auto"`
            mode).
        strategy: the training strategy. Under `MultiWorkerMirroredStrategy`
            only the chief writes to `log_dir` and `best_model_path`; other
            workers write to a temporary directory (removed when training
            ends), and back up to
            `<backup_dir>_<task_type>_<task_id>`.
        field_importance: adds a `FieldImportanceLogger(log_dir,
            contribution_data)` (run `field_importance/`): per epoch, the
            field x field FM interaction heatmap, the top pairs as text and
            per-field scalars. Needs `contribution_data`.
        hparams: adds an `HParamsLogger(log_dir, hparams)` (run `hparams/`):
            one HParams session with the model's embedding size, hidden
            units, dropout, optimizer and learning rate, updated with this
            dict (e.g. `{"batch_size": 512}`; `{}` for the model's only),
            and the last epoch's metrics. Add holdout metrics after
            evaluation with `log_hparams(log_dir, metrics=...)`.

    Returns:
        The callbacks, `BackupAndRestore` first; pass them to `model.fit`.

    Raises:
        ValueError: for a non-positive `early_stopping_patience`, a
            `best_model_path` not ending in `.keras`, `contribution_data`
            or `hparams` without `log_dir`, or `field_importance` without
            `contribution_data`.
    """
    from deepfm_keras.training.callbacks import FieldImportanceLogger, HParamsLogger

    if early_stopping_patience is not None and (
        isinstance(early_stopping_patience, bool)
        or not isinstance(early_stopping_patience, int)
        or early_stopping_patience < 1
    ):
        raise ValueError(
            "`early_stopping_patience` should be a positive integer or None. "
            f"Received: early_stopping_patience={early_stopping_patience!r}"
        )
    if best_model_path is not None and not os.fspath(best_model_path).endswith(".keras"):
        raise ValueError(
            f"`best_model_path` should end in '.keras'. Received: best_model_path={os.fspath(best_model_path)!r}"
        )
    if contribution_data is not None and log_dir is None:
        raise ValueError("`contribution_data` needs a `log_dir` to write the contributions to.")
    if hparams is not None and log_dir is None:
        raise ValueError("`hparams` needs a `log_dir` to write the HParams record to.")
    if field_importance and contribution_data is None:
        raise ValueError("`field_importance=True` needs `contribution_data`, the batch it is measured on.")

    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    callbacks: list[keras.callbacks.Callback] = []
    if backup_dir is not None:
        backup_dir = os.fspath(backup_dir)
        if not chief:
            backup_dir = f"{backup_dir.rstrip(os.sep)}_{_worker_suffix(strategy)}"
        callbacks.append(AtomicBackupAndRestore(backup_dir))
    scratch = None if chief else tempfile.mkdtemp(prefix=f"deepfm_{_worker_suffix(strategy)}_")
    if log_dir is not None:
        log_dir = os.fspath(log_dir) if chief else os.path.join(scratch, "logs")
        callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))
        callbacks.append(ContributionLogger(log_dir, validation_data=contribution_data))
        if field_importance:
            callbacks.append(FieldImportanceLogger(log_dir, contribution_data))
        if hparams is not None:
            callbacks.append(HParamsLogger(log_dir, hparams))
    if best_model_path is not None:
        path = os.fspath(best_model_path) if chief else os.path.join(scratch, os.path.basename(best_model_path))
        callbacks.append(AtomicModelCheckpoint(path, monitor=monitor, save_best_only=True))
    if early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, patience=early_stopping_patience, restore_best_weights=True)
        )
    if scratch is not None:
        callbacks.append(_RemoveAtTrainEnd(scratch))
    return callbacks


def fit(
    model: keras.Model,
    train_data: tf.data.Dataset,
    *,
    epochs: int,
    validation_data: tf.data.Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: str | int = "auto",
) -> keras.callbacks.History:
    """Trains a model built and compiled inside `strategy.scope()`, on one or many workers.

    Under `MirroredStrategy` (or any single-process strategy) this is
    `model.fit`; under a multi-worker `MultiWorkerMirroredStrategy` it is
    `deepfm_keras.training.distribute.multi_worker_fit`, the same loop written with
    `strategy.run(model.train_step)`, because Keras 3's `fit` cannot run
    there. Either way the datasets go through `prepare_dataset` and the
    callbacks (`make_callbacks(...)`) behave the same.

    Args:
        model: the compiled model.
        train_data: a `tf.data.Dataset` of `(inputs, labels)` or
            `(inputs, labels, sample_weights)` batched at the global batch
            size (`global_batch_size(...)`): `make_dataset(...,
            sample_weight=w)` and `CriteoReader.dataset(...,
            class_weight=...)` yield the weighted form, which both loops
            pass to `model.train_step` as Keras' sample weights.
        epochs: number of epochs (in total, counting epochs restored by
            `BackupAndRestore`).
        validation_data: optional dataset like `train_data`.
        callbacks: Keras callbacks.
        strategy: the strategy the model was built under; defaults to
            `model.distribute_strategy`.
        verbose: `"auto"` (a progress bar on a terminal, one line per epoch
            when output goes to a file or pipe: `deepfm_keras.progress.fit_verbose`),
            or 0, 1, 2 as in `model.fit` (the multi-worker loop prints nothing).

    Returns:
        The `keras.callbacks.History`.
    """
    strategy = strategy or model.distribute_strategy
    if is_multi_worker(strategy):
        return multi_worker_fit(
            model, train_data, epochs=epochs, validation_data=validation_data, callbacks=callbacks, strategy=strategy
        )
    verbose = fit_verbose(verbose)
    train_data = prepare_dataset(train_data, strategy)
    if validation_data is not None:
        validation_data = prepare_dataset(validation_data, strategy)
    return model.fit(
        train_data, validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=verbose, shuffle=False
    )
