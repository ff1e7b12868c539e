"""TensorBoard's HParams tab for DeepFM runs: one session per run, its settings and its metrics.

```
HParamsLogger(log_dir, {"batch_size": 512})           # run hparams/: one session, the final epoch's metrics
log_hparams(log_dir, metrics={"holdout/auc": 0.81})  # after evaluation: holdout metrics for the same session
```

Both are re-exported by `deepfm_keras.training.callbacks` and `deepfm_keras`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from deepfm_keras.training.distribute import is_chief


def _hparam_value(name: str, value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Sequence):  # e.g. hidden units (256, 128, 64): "256,128,64"
        return ",".join(str(v) for v in value)
    if value is None:
        return "None"
    raise ValueError(
        f"Hyperparameter {name!r} should be a bool, number, string or sequence. Received: {type(value).__name__}"
    )


def log_hparams(
    log_dir: str | os.PathLike,
    hparams: Mapping | None = None,
    metrics: Mapping[str, float] | None = None,
    *,
    step: int = 0,
    run_name: str = "hparams",
) -> None:
    """Records a run's hyperparameters and/or metrics for TensorBoard's HParams tab.

    Writes to `os.path.join(log_dir, run_name)`: `hparams` as one HParams
    session (`tensorboard.plugins.hparams.api.hparams`), and each metric as
    a scalar of that name, which the HParams tab shows as a column of the
    session. `HParamsLogger` calls it during training; call it yourself
    after evaluating, with the same `log_dir`, to add holdout metrics to
    the run's session. Under `MultiWorkerMirroredStrategy` call it on the
    chief only (`deepfm_keras.training.distribute.is_chief`).

    Args:
        log_dir: the run's TensorBoard log directory. To compare runs, give
            each run its own (`runs/<name>`) and start
            `tensorboard --logdir runs`.
        hparams: name -> bool, int, float or string (a sequence is written
            as `"a,b,c"`, None as `"None"`); `None` writes no session.
        metrics: name -> number, e.g. `{"holdout/auc": 0.81}`.
        step: the step of the metric scalars.
        run_name: sub-folder of `log_dir`.

    Raises:
        ValueError: for a value of another type.

    Example:

    ```python
    log_hparams("runs/k16", {"embedding_dim": 16, "batch_size": 512}, {"holdout/auc": 0.81})
    ```
    """
    writer = tf.summary.create_file_writer(os.path.join(os.fspath(log_dir), run_name))
    try:
        _write_record(writer, hparams, metrics, step)
    finally:
        writer.close()


def _write_record(writer, hparams: Mapping | None, metrics: Mapping | None, step: int) -> None:
    from tensorboard.plugins.hparams import api as hp

    record = {str(k): _hparam_value(str(k), v) for k, v in (hparams or {}).items()}
    values = {str(k): float(v) for k, v in (metrics or {}).items()}
    with writer.as_default(step=step):
        if hparams is not None:
            hp.hparams(record)
        for name, value in values.items():
            tf.summary.scalar(name, value)
    writer.flush()


def _model_hparams(model: keras.Model) -> dict:
    """Embedding size, deep part and optimizer of a DeepFM model, for its HParams record."""
    values = {}
    layers = {layer.name: layer for layer in model.layers}
    if "embeddings" in layers:
        values["embedding_dim"] = int(layers["embeddings"].output.shape[-1])
    deep = layers.get("deep")
    if deep is not None and hasattr(deep, "hidden_units"):
        values["hidden_units"] = list(deep.hidden_units)
        values["dropout"] = float(deep.dropout)
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # unwrap a LossScaleOptimizer
    if optimizer is not None:
        values["optimizer"] = type(optimizer).__name__
        try:
            values["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except (TypeError, ValueError, AttributeError):
            pass
    return values


class HParamsLogger(keras.callbacks.Callback):
    """Records one HParams session per training run, with the last epoch's metrics.

    When training begins it writes the hyperparameters read from the model
    (`embedding_dim`, `hidden_units`, `dropout`, `optimizer` class name and
    initial `learning_rate`) updated with `hparams` (for what the model does
    not know: batch size, epochs, a run label); when training ends, every
    value of the last epoch's logs as a scalar `final/<name>`
    (`final/loss`, `final/val_loss`, ...). Both go to
    `os.path.join(log_dir, run_name)`, where `log_hparams` adds holdout
    metrics after evaluation. TensorBoard's HParams tab then lists
    one row per run directory, comparable across runs started with
    `tensorboard --logdir <parent of the log_dirs>`. Under
    `MultiWorkerMirroredStrategy` only the chief writes.

    Args:
        log_dir: the run's TensorBoard log directory.
        hparams: extra or overriding hyperparameters (see `log_hparams` for
            the value types).
        run_name: sub-folder of `log_dir`.

    Example:

    ```python
    callbacks = [HParamsLogger("runs/k16", {"batch_size": 512})]
    model.fit(train, validation_data=val, epochs=5, callbacks=callbacks)
    log_hparams("runs/k16", metrics={"holdout/auc": auc})
    ```
    """

    def __init__(self, log_dir: str | os.PathLike, hparams: Mapping | None = None, *, run_name: str = "hparams"):
        super().__init__()
        if not log_dir:
            raise ValueError(f"`log_dir` should be a non-empty path. Received: log_dir={log_dir!r}")
        if hparams is not None and not isinstance(hparams, Mapping):
            raise ValueError(f"`hparams` should be a dict. Received: hparams={type(hparams).__name__}")
        if not run_name or not isinstance(run_name, str):
            raise ValueError(f"`run_name` should be a non-empty string. Received: run_name={run_name!r}")
        self.log_dir = os.fspath(log_dir)
        self.hparams = dict(hparams or {})
        for name, value in self.hparams.items():
            _hparam_value(str(name), value)  # refuse a bad value now, not after training
        self.run_name = run_name
        self.record = None
        self._writer = None
        self._last = None

    def on_train_begin(self, logs=None):
        self.record = {**_model_hparams(self.model), **self.hparams}
        self._last = None
        if is_chief(self.model.distribute_strategy):
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, self.run_name))
            _write_record(self._writer, self.record, None, 0)

    def on_epoch_end(self, epoch, logs=None):
        self._last = (epoch, dict(logs or {}))

    def on_train_end(self, logs=None):
        if self._writer is None:
            return
        if self._last is not None:
            epoch, values = self._last
            metrics = {}
            for name, value in values.items():
                try:
                    metrics[f"final/{name}"] = float(keras.ops.convert_to_numpy(value))
                except (TypeError, ValueError):
                    continue  # not a number (a callback's own log entry): not a metric
            _write_record(self._writer, None, metrics, epoch)
        self._writer.close()
        self._writer = None
