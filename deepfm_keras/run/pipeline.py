"""One training pipeline for every source: a `RunConfig` in, a trained, saved and exported model out.

`run(config)` is the same five steps for tables (CSV, Parquet, MovieLens) and
streamed Criteo files alike:

1. the source (`deepfm_keras.run.sources.prepare`) reads and splits the rows,
   fits the `FeatureEncoder` on the training rows only, and gives training and
   validation datasets;
2. DeepFM is built and compiled inside `get_strategy()`'s scope;
3. `deepfm_keras.training.fit` trains it with the callbacks of the config
   (early stopping and learning-rate decay on the task's validation metric,
   TensorBoard with the contribution weights);
4. the holdout rows are scored (`deepfm_keras.metrics.holdout_metrics`);
5. the chief writes `metrics.json`, `model.keras`, `encoder.json` and the
   TensorFlow Serving SavedModel `serving/1`, whose scores of holdout rows are
   checked against the Keras model's (`metrics["serving"]`).

The command line (`deepfm-keras train`) and `examples/` are thin users of it.

Example (a run on a few rows; `runs/...` is written):

```python
from deepfm_keras.run.config import config_from_dict
from deepfm_keras.run.pipeline import run

config = config_from_dict({
    "data": {"format": "csv", "train": "clicks.csv", "label": "clicked", "group": "user_id"},
    "features": {"categorical": ["user_id", "item_id"], "numeric": ["price"]},
    "output": {"dir": "runs/clicks"},
})
metrics = run(config)
```
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from deepfm_keras.run.config import RunConfig
from deepfm_keras.run.tables import DataError
from deepfm_keras.run.values import ConfigError

__all__ = ["ConfigError", "DataError", "run"]


def build_and_compile(spec, config: RunConfig):
    """`build_deepfm` with `[model]`'s settings, compiled with `[training]`'s optimizer and the task's loss and metric."""
    from deepfm_keras.model import build_deepfm
    from deepfm_keras.spec.tasks import make_metric

    m, t = config.model, config.training
    model = build_deepfm(
        spec,
        embedding_dim=m.embedding_dim,
        hidden_units=m.hidden_units,
        dropout=m.dropout,
        embedding_l2=m.embedding_l2,
        task=m.task,
        num_classes=m.num_classes,
        parts=m.parts,
    )
    model.compile(make_optimizer(t.optimizer, t.learning_rate), metrics=[make_metric(m.task)])
    return model


def _callbacks(config: RunConfig, prepared, out: Path, strategy, monitor: str, mode: str) -> list:
    import keras

    from deepfm_keras.training import make_callbacks

    t, tensorboard = config.training, config.output.tensorboard
    has_validation = prepared.validation is not None
    if not has_validation and (t.patience or t.lr_decay < 1):
        raise ConfigError(
            "`training.patience` and `training.lr_decay` watch the validation rows, and this run has none: "
            "give data.validation files or a data.validation_fraction > 0, or set training.patience = 0."
        )
    callbacks = make_callbacks(
        log_dir=out / "logs" if tensorboard else None,
        contribution_data=prepared.contribution_data if tensorboard else None,
        early_stopping_patience=t.patience or None,
        monitor=monitor,
        strategy=strategy,
        field_importance=tensorboard,  # per-field first-order and FM interaction strength
        hparams=_hparams(config) if tensorboard else None,  # one HParams session per run
    )
    if t.lr_decay < 1:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor, factor=t.lr_decay, patience=t.lr_patience, cooldown=1, mode=mode, min_lr=1e-5
            )
        )
    return [*callbacks, *prepared.callbacks]


def run(
    config: RunConfig,
    *,
    frame: pd.DataFrame | None = None,
    verbose: str | int = "auto",
    log: Callable[[str], None] = print,
) -> dict:
    """Trains, evaluates, saves and exports one DeepFM model as `config` says.

    Args:
        config: the `RunConfig` (`deepfm_keras.run.config.load_config`).
        frame: the rows of a table source, already loaded (what
            `examples/movielens.py` passes after adding its own columns);
            None reads `config.data.train`.
        verbose: Keras' `verbose` for `fit`: `"auto"` draws a progress bar on a
            terminal and writes one line per epoch to a log file
            (`deepfm_keras.progress.fit_verbose`); 0 is silent.
        log: where the summary lines go.

    Returns:
        The metrics written to `metrics.json`.

    Raises:
        ConfigError: for settings that cannot work with this data or source.
        DataError: for a missing column, an unusable label or malformed files.
    """
    import keras

    from deepfm_keras.io import save_model
    from deepfm_keras.metrics import holdout_metrics
    from deepfm_keras.run.sources import prepare
    from deepfm_keras.spec.tasks import task_kind
    from deepfm_keras.training import fit
    from deepfm_keras.training.callbacks import ContributionLogger
    from deepfm_keras.training.distribute import get_strategy, is_chief

    started = time.perf_counter()
    task, t = config.model.task, config.training
    monitor, mode = task_kind(task).monitor, task_kind(task).mode
    keras.utils.set_random_seed(t.seed)
    out = Path(config.output.dir)
    out.mkdir(parents=True, exist_ok=True)

    prepared = prepare(config, frame=frame, verbose=verbose)
    strategy = get_strategy()
    with strategy.scope():
        model = build_and_compile(prepared.feature_spec, config)
    callbacks = _callbacks(config, prepared, out, strategy, monitor, mode)
    timer = _train_timer()
    history = fit(model, prepared.train, validation_data=prepared.validation, epochs=t.epochs,
                  callbacks=[*callbacks, timer], strategy=strategy, verbose=verbose)  # fmt: skip
    train_seconds = float(sum(timer.seconds))
    epochs_run = len(history.history["loss"])

    y_test, pred, groups = prepared.holdout(model)
    pred = pred if task == "multiclass" else np.asarray(pred).reshape(-1)  # multi-class: (n, classes)
    validation = {}
    best = epochs_run - 1
    if monitor in history.history:
        curve = [float(x) for x in history.history[monitor]]
        best = int(np.argmin(curve) if mode == "min" else np.argmax(curve))
        validation = {("logloss" if monitor == "val_loss" else monitor.removeprefix("val_")): curve[best]}
        if task == "multiclass":
            validation["accuracy"] = float(history.history["val_accuracy"][best])
        validation["curve"] = curve
    logger = next((c for c in callbacks if isinstance(c, ContributionLogger)), None)
    if logger is None:
        logger = ContributionLogger(out / "logs", validation_data=prepared.contribution_data)
        logger.set_model(model)
    holdout = holdout_metrics(task, y_test, pred, groups=groups)
    metrics = {
        "task": task,
        "holdout": holdout,
        **({"auc": holdout["auc"], "logloss": holdout["logloss"]} if config.data.format == "criteo" else {}),
        **({"test_positive_rate": float(np.mean(y_test))} if task == "binary" else {}),
        "validation": validation,
        **logger.contributions(),
        "epochs_run": epochs_run,
        "best_epoch": best + 1,
        "train_examples_per_sec": prepared.train_rows() * epochs_run / train_seconds if train_seconds else None,
        "train_seconds": train_seconds,
        "replicas": strategy.num_replicas_in_sync,
        "settings": config.to_dict(),
    }
    metrics.update(prepared.report())
    if is_chief(strategy):  # under multi-worker training only the chief writes the shared outputs
        save_model(model, out / "model.keras")
        prepared.encoder.save(out / "encoder.json")
        if config.output.export:
            metrics["serving"] = serving_check(model, prepared, os.fspath(out / "serving" / "1"))
        metrics["wall_seconds"] = time.perf_counter() - started
        _log_hparams(config, out, metrics)
        _write_json(out / "metrics.json", metrics)
    _summary(metrics, config, out, strategy, started, log)
    return metrics


def _summary(metrics: dict, config: RunConfig, out: Path, strategy, started: float, log) -> None:
    holdout = ", ".join(f"{k} {v:.4f}" for k, v in metrics["holdout"].items())
    parts = ", ".join(f"{k} {v:+.3f}" for k, v in metrics["contribution"].items())
    speed = metrics["train_examples_per_sec"] or 0.0
    served = metrics.get("serving", {}).get("max_abs_diff_vs_keras")
    log(
        f"holdout {holdout}\n"
        f"epochs run {metrics['epochs_run']} (best {metrics['best_epoch']}), {speed:,.0f} training examples/s "
        f"on {strategy.num_replicas_in_sync} replica(s), wall {time.perf_counter() - started:.0f} s\n"
        f"contribution weights: {parts}\n"
        f"outputs in {out}/: metrics.json, model.keras, encoder.json"
        + (f", serving/1 (served = Keras to {served:.1e})" if served is not None else "")
        + (", logs/" if config.output.tensorboard else "")
    )


def serving_check(model, prepared, path: str) -> dict:
    """Exports the serving SavedModel to `path` and compares its scores of holdout rows with the Keras model's."""
    import tensorflow as tf

    from deepfm_keras.serving import export_serving_model

    export_serving_model(model, prepared.encoder, path)
    request, inputs = prepared.serving_rows()
    request = {k: tf.constant(v) for k, v in request.items()}
    served = tf.saved_model.load(path).signatures["serving_default"](**request)["prediction"].numpy().reshape(-1)
    expected = np.asarray(model.predict_on_batch(inputs)).reshape(-1)
    return {
        "path": path,
        "rows_checked": int(served.size),
        "max_abs_diff_vs_keras": float(np.abs(served - expected).max()),
    }


def make_optimizer(name: str, learning_rate: float):
    """The optimizer of `training.optimizer`: a name of `deepfm_keras.optimizer_names`, as `compile` takes."""
    from deepfm_keras import optimizers

    try:
        return optimizers.get(name, learning_rate=learning_rate)
    except ValueError as error:
        raise ConfigError(f"`training.optimizer`: {error}") from None


def task_objective(task: str):
    """`(loss, metric, monitor, mode)` of a task, from the task table (`deepfm_keras.spec.tasks.TASK_KINDS`)."""
    from deepfm_keras.spec.tasks import make_metric, task_kind

    kind = task_kind(task)
    return kind.loss, make_metric(task), kind.monitor, kind.mode


def _train_timer():
    import keras

    class TrainTimer(keras.callbacks.Callback):
        """Seconds spent in the training batches of each epoch (validation excluded)."""

        def __init__(self):
            super().__init__()
            self.seconds = []
            self._open = False

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._open = time.perf_counter(), True

        def _stop(self):
            if self._open:
                self.seconds.append(time.perf_counter() - self._start)
                self._open = False

        def on_test_begin(self, logs=None):
            self._stop()

        def on_epoch_end(self, epoch, logs=None):
            self._stop()

    return TrainTimer()


def _write_json(path: Path, value) -> None:
    from deepfm_keras.io import atomic_write

    with atomic_write(path) as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def _hparams(config: RunConfig) -> dict:
    """The run's settings as flat scalars for TensorBoard's HParams tab."""
    m, t = config.model, config.training
    return {
        "embedding_dim": m.embedding_dim,
        "hidden_units": ",".join(map(str, m.hidden_units)),
        "dropout": m.dropout,
        "embedding_l2": m.embedding_l2,
        "optimizer": t.optimizer,
        "learning_rate": t.learning_rate,
        "batch_size": t.batch_size,
        "task": m.task,
    }


def _log_hparams(config: RunConfig, out: Path, metrics: dict) -> None:
    """Adds the holdout metrics to the run's HParams session (written by `HParamsLogger` during training)."""
    if not config.output.tensorboard:
        return
    from deepfm_keras.training.callbacks import log_hparams

    final = {f"holdout/{k}": float(v) for k, v in metrics["holdout"].items() if np.isfinite(v)}
    log_hparams(out / "logs", None, final)
