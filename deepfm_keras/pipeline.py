"""One training pipeline for every entry point: a `RunConfig` in, a trained, saved and exported model out.

`run(config)` reads the data (CSV, Parquet, MovieLens, or streamed Criteo
files), splits it with a seed (or takes the given validation / test files),
fits the `FeatureEncoder` on the training rows only, builds and trains DeepFM
under `get_strategy()` with early stopping on the validation rows, scores the
holdout rows, and writes to `config.output.dir`:

- `metrics.json`: holdout metrics (`deepfm_keras.metrics.holdout_metrics`), the
  validation curve, the contribution weights, epochs, speed, rows, settings;
- `model.keras`, `encoder.json`, TensorBoard logs in `logs/`;
- `serving/1`: the TensorFlow Serving SavedModel taking raw columns, whose scores
  of the first holdout rows are checked against the Keras model's
  (`metrics["serving"]`).

The command line (`deepfm-keras train`) and `examples/` are thin users of it.

Example (a run on a few rows; `runs/...` is written):

```python
from deepfm_keras.config import config_from_dict
from deepfm_keras.pipeline import run

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from deepfm_keras.config import ConfigError, FeaturesConfig, RunConfig


class DataError(ValueError):
    """Input data that cannot be trained on: a missing column, an unusable label, malformed files."""


def split_rows(n: int, seed: int, holdout: float = 0.1, validation: float = 0.1):
    """Seeded random split of `n` row positions into sorted (train, validation, holdout) index arrays.

    `holdout` of the rows are the holdout part; `validation` of the rest is the
    validation part; the remainder trains.

    >>> train, val, test = split_rows(100, seed=0)
    >>> len(train), len(val), len(test), len(set(train) | set(val) | set(test))
    (81, 9, 10, 100)
    """
    order = np.random.default_rng(seed).permutation(n)
    n_holdout = int(round(n * holdout))
    rest, test = order[n_holdout:], order[:n_holdout]
    n_val = int(round(len(rest) * validation))
    return np.sort(rest[n_val:]), np.sort(rest[:n_val]), np.sort(test)


def split_by_time(times, holdout: float = 0.1, validation: float = 0.1):
    """(train, validation, holdout) index arrays by time: the latest rows are the holdout, the ones before validate.

    Rows with equal times keep their file order (a stable sort).

    >>> train, val, test = split_by_time([5, 1, 4, 2, 3, 9, 8, 7, 6, 0], holdout=0.2, validation=0.25)
    >>> train.tolist(), val.tolist(), test.tolist()
    ([9, 1, 3, 4, 2, 0], [8, 7], [6, 5])
    """
    order = np.argsort(np.asarray(times), kind="stable")
    n = len(order)
    n_holdout = int(round(n * holdout))
    rest, test = order[: n - n_holdout], order[n - n_holdout :]
    n_val = int(round(len(rest) * validation))
    return rest[: len(rest) - n_val], rest[len(rest) - n_val :], test


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


def make_optimizer(name: str, learning_rate: float):
    """The optimizer of `training.optimizer`: a name of `deepfm_keras.optimizer_names`, as `compile` takes."""
    from deepfm_keras import optimizers

    try:
        return optimizers.get(name, learning_rate=learning_rate)
    except ValueError as error:
        raise ConfigError(f"`training.optimizer`: {error}") from None


def task_objective(task: str):
    """`(loss, metric, monitor, mode)` of a task, from the task table (`deepfm_keras.tasks.TASK_KINDS`)."""
    from deepfm_keras.tasks import make_metric, task_kind

    kind = task_kind(task)
    return kind.loss, make_metric(task), kind.monitor, kind.mode


def build_and_compile(spec, config: RunConfig, *, loss, metric):
    """`build_deepfm` with `[model]`'s settings, compiled with `[training]`'s optimizer, `loss` and `metric`."""
    from deepfm_keras.model import build_deepfm

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
    model.compile(optimizer=make_optimizer(t.optimizer, t.learning_rate), loss=loss, metrics=[metric])
    return model


def make_encoder(features: FeaturesConfig):
    """The unfitted `FeatureEncoder` of a `[features]` section (option tables become column specs).

    Raises:
        ConfigError: naming the key (`features.multi_categorical.history`,
            `features.categorical[2]`) of an option the column refuses, or the
            columns that cannot go together (a shared table whose columns
            differ in `min_count`, say).
    """
    from deepfm_keras.encoding import (
        BucketizedColumn,
        CategoricalColumn,
        FeatureEncoder,
        MultiCategoricalColumn,
        NumericColumn,
        NumericSequenceColumn,
    )

    def build(cls, key, options, defaults):
        options = dict(options)
        if "weight" in options and cls is MultiCategoricalColumn:  # `weight` is short for `weight_column`
            if "weight_column" in options:
                raise ConfigError(f"`{key}` gives both `weight` and `weight_column`: give one.")
            options["weight_column"] = options.pop("weight")
        try:
            return cls(**{**defaults, **options})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"`{key}` = {options!r}: {error}") from None

    def columns(entries, cls, kind, **defaults):
        if isinstance(entries, Mapping):  # {column: separator or options}
            return [
                build(
                    cls,
                    f"features.{kind}.{col}",
                    {"name": col, "separator": opt} if isinstance(opt, str) else {"name": col, **opt},
                    defaults,
                )
                for col, opt in entries.items()
            ]
        out = []
        for i, entry in enumerate(entries or ()):
            if isinstance(entry, str) and not defaults:
                out.append(entry)
            else:
                out.append(
                    build(cls, f"features.{kind}[{i}]", {"name": entry} if isinstance(entry, str) else entry, defaults)
                )
        return out

    min_count = features.min_count
    try:
        return FeatureEncoder(
            numeric=columns(features.numeric, NumericColumn, "numeric"),
            categorical=[
                *columns(features.categorical, CategoricalColumn, "categorical", min_count=min_count),
                *columns(features.bucketized, BucketizedColumn, "bucketized"),
            ],
            multi_categorical=columns(
                features.multi_categorical,
                MultiCategoricalColumn,
                "multi_categorical",
                min_count=min_count,
                max_len=features.max_len,
            )
            or None,
            numeric_sequence=columns(features.numeric_sequence, NumericSequenceColumn, "numeric_sequence") or None,
            min_count=min_count,
        )
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"[features]: {error}") from None


def read_table(paths: Sequence[str], fmt: str, *, separator: str = ",") -> pd.DataFrame:
    """Reads CSV or Parquet file(s) into one DataFrame (rows in file order).

    Raises:
        DataError: naming a missing file, or a file with no row.
    """
    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(f"Data file not found: {path}")
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, sep=separator)
        if frame.empty:
            raise DataError(f"Data file {path} has no row.")
        frames.append(frame)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def labels_of(frame: pd.DataFrame, config: RunConfig, what: str) -> np.ndarray:
    """The float32 label column of `frame`, thresholded for a binary task when `data.binary_threshold` is set."""
    name = config.data.label
    if name not in frame.columns:
        raise DataError(f"The {what} rows have no label column {name!r}. Columns: {list(frame.columns)}")
    if config.model.task == "multiclass":
        return _class_ids(frame[name], config, what)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy("float64")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(
            f"Label column {name!r} of the {what} rows has {bad.size} missing or non-numeric value(s); "
            f"first at row {int(bad[0])}: {frame[name].iloc[int(bad[0])]!r}"
        )
    if config.model.task == "binary" and config.data.binary_threshold is not None:
        values = (values >= config.data.binary_threshold).astype("float64")
    return values.astype("float32")


def _class_ids(column: pd.Series, config: RunConfig, what: str) -> np.ndarray:
    """A multi-class label column as int64 class ids: positions in `data.classes`, or ids `0 .. num_classes - 1`."""
    from deepfm_keras.validation import _show  # a value as the messages of validation show it: 3, not np.int64(3)

    name, classes, k = config.data.label, config.data.classes, config.model.num_classes
    if classes:
        # Matched as text, so 4, 4.0 and "4" in a CSV are all the class 4 (but "4.5" is not).
        def text(value):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value).strip()

        index = {text(c): i for i, c in enumerate(classes)}
        ids = column.map(lambda v: index.get(text(v), -1) if not pd.isna(v) else -1).to_numpy("int64")
        bad = np.flatnonzero(ids < 0)
        if bad.size:
            raise DataError(
                f"Label column {name!r} of the {what} rows holds {_show(column.iloc[int(bad[0])])} at row {int(bad[0])}, "
                f"which is not one of data.classes {list(classes)} ({bad.size} such row(s))."
            )
        return ids
    values = pd.to_numeric(column, errors="coerce").to_numpy("float64")
    bad = np.flatnonzero(~(np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < k)))
    if bad.size:
        raise DataError(
            f"Label column {name!r} of the {what} rows holds {_show(column.iloc[int(bad[0])])} at row {int(bad[0])}: "
            f"a multi-class label should be a class id in 0 .. {k - 1} (or list the labels in data.classes)."
        )
    return values.astype("int64")


def weights_of(frame: pd.DataFrame, y: np.ndarray, config: RunConfig) -> np.ndarray | None:
    """Per-row training weights: the `data.weight` column times the `data.class_weight` of each row's label."""
    data = config.data
    if data.weight is None and data.class_weight is None:
        return None
    weights = np.ones(len(frame), "float64")
    if data.weight is not None:
        if data.weight not in frame.columns:
            raise DataError(f"`data.weight` names column {data.weight!r}, which the training rows lack.")
        from deepfm_keras.validation import check_sample_weights

        try:
            weights = check_sample_weights(frame[data.weight].to_numpy(), what=f"weight column {data.weight!r}")
        except ValueError as error:
            raise DataError(str(error)) from None
    if data.class_weight is not None:
        if config.model.task != "binary":
            raise ConfigError("`data.class_weight` weights 0/1 labels: it needs model.task = 'binary'.")
        weights = weights * np.where(np.asarray(y).reshape(-1) == 1, data.class_weight[1], data.class_weight[0])
    return weights.astype("float32")


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


def serving_check(model, encoder, rows: pd.DataFrame, path: str) -> dict:
    """Exports the serving SavedModel to `path` and compares its scores of `rows` with the Keras model's."""
    import tensorflow as tf

    from deepfm_keras.serving import export_serving_model, serving_request

    export_serving_model(model, encoder, path)
    request = {k: tf.constant(v) for k, v in serving_request(rows, encoder).items()}
    return _served_vs_keras(model, path, request, encoder.transform(rows))


def _served_vs_keras(model, path: str, request, inputs) -> dict:
    """Scores `request` (raw tensors) with the SavedModel at `path` and `inputs` with the Keras model; the largest gap."""
    import tensorflow as tf

    served = tf.saved_model.load(path).signatures["serving_default"](**request)["prediction"].numpy().reshape(-1)
    expected = np.asarray(model.predict_on_batch(inputs)).reshape(-1)
    return {
        "path": path,
        "rows_checked": int(served.size),
        "max_abs_diff_vs_keras": float(np.abs(served - expected).max()),
    }


def _load_frames(config: RunConfig, frame: pd.DataFrame | None):
    """(train, validation, holdout) DataFrames: given files, or a seeded split of the training rows."""
    data = config.data
    if frame is None:
        if data.format == "movielens":
            from deepfm_keras.datasets.movielens import load_movielens

            frame = load_movielens(data.variant, data.train[0] if data.train else None)
        else:
            frame = read_table(data.train, data.format, separator=data.separator)
    val = read_table(data.validation, data.format, separator=data.separator) if data.validation else None
    test = read_table(data.test, data.format, separator=data.separator) if data.test else None
    if data.time_column is not None:
        if data.time_column not in frame.columns:
            raise DataError(f"`data.time_column` names column {data.time_column!r}, which the rows lack.")

        def cut(holdout, validation):
            return split_by_time(frame[data.time_column].to_numpy(), holdout, validation)
    else:

        def cut(holdout, validation):
            return split_rows(len(frame), data.split_seed, holdout, validation)

    if test is None and val is None:
        tr, va, te = cut(data.holdout_fraction, data.validation_fraction)
        frames = frame.iloc[tr], frame.iloc[va], frame.iloc[te]
    elif test is None:
        rest, _, te = cut(data.holdout_fraction, 0.0)
        frames = frame.iloc[rest], val, frame.iloc[te]
    elif val is None:
        tr, va, _ = cut(0.0, data.validation_fraction)
        frames = frame.iloc[tr], frame.iloc[va], test
    else:
        frames = frame, val, test
    return _with_history(frames, config) if data.history else frames


def _with_history(frames, config: RunConfig):
    """The frames with MovieLens' implicit-feedback columns, read from the training rows only (never val/holdout)."""
    from deepfm_keras.datasets.movielens_history import add_history_columns, add_rating_columns

    if config.data.format != "movielens":
        raise ConfigError("`data.history` builds MovieLens' user/movie history columns: it needs format 'movielens'.")
    sizes = [len(f) for f in frames]
    both = pd.concat(frames, ignore_index=True)
    source = np.arange(len(both)) < sizes[0]
    size = config.data.history_max_len
    both = add_history_columns(both, source, max_items=size, max_raters=size)
    if config.data.history_ratings:
        both = add_rating_columns(both, source, max_items=size, seed=config.data.split_seed)
    cuts = np.cumsum(sizes)
    return both.iloc[: cuts[0]], both.iloc[cuts[0] : cuts[1]], both.iloc[cuts[1] :]


def run(
    config: RunConfig,
    *,
    frame: pd.DataFrame | None = None,
    verbose: str | int = "auto",
    log: Callable[[str], None] = print,
) -> dict:
    """Trains, evaluates, saves and exports one DeepFM model as `config` says.

    Args:
        config: the `RunConfig` (`deepfm_keras.config.load_config`).
        frame: the rows, already loaded (what `examples/movielens.py` passes
            after adding its own columns); None reads `config.data.train`.
        verbose: Keras' `verbose` for `fit`: `"auto"` draws a progress bar on a
            terminal and writes one line per epoch to a log file
            (`deepfm_keras.progress.fit_verbose`); 0 is silent.
        log: where the summary lines go.

    Returns:
        The metrics written to `metrics.json`.

    Raises:
        ConfigError: for settings that cannot work with this data.
        DataError: for a missing column, an unusable label or malformed files.
    """
    if config.data.format == "criteo":
        return _run_criteo(config, verbose=verbose, log=log)
    import keras

    from deepfm_keras.distribute import get_strategy, is_chief
    from deepfm_keras.io import save_model
    from deepfm_keras.metrics import holdout_metrics
    from deepfm_keras.training import fit, make_callbacks

    started = time.perf_counter()
    train_cfg, model_cfg = config.training, config.model
    keras.utils.set_random_seed(train_cfg.seed)
    out = Path(config.output.dir)
    out.mkdir(parents=True, exist_ok=True)

    train_df, val_df, test_df = _load_frames(config, frame)
    y_train, y_val, y_test = (labels_of(f, config, w) for f, w in ((train_df, "training"), (val_df, "validation"),
                                                                   (test_df, "holdout")))  # fmt: skip
    if model_cfg.task == "binary":
        for y, what in ((y_train, "training"), (y_val, "validation"), (y_test, "holdout")):
            odd = y[(y != 0) & (y != 1)]
            if odd.size:
                raise DataError(
                    f"A binary task needs 0/1 labels; the {what} rows of {config.data.label!r} hold {odd[0]!r}. "
                    "Set data.binary_threshold (label >= threshold is 1) or model.task = 'regression'."
                )
    group = config.data.group
    if group is not None and group not in test_df.columns:
        raise DataError(f"`data.group` names column {group!r}, which the holdout rows lack.")

    encoder = make_encoder(config.features)
    x_train = encoder.fit_transform(train_df)
    x_val, x_test = encoder.transform(val_df), encoder.transform(test_df)

    from deepfm_keras.data import make_dataset

    strategy = get_strategy()
    loss, metric, monitor, mode = task_objective(model_cfg.task)
    with strategy.scope():
        model = build_and_compile(encoder.feature_spec, config, loss=loss, metric=metric)

    train_ds = make_dataset(
        x_train,
        y_train,
        sample_weight=weights_of(train_df, y_train, config),
        batch_size=train_cfg.batch_size,
        seed=train_cfg.seed,
    )
    val_ds = make_dataset(x_val, y_val, batch_size=max(8192, train_cfg.batch_size), shuffle=False)
    callbacks = make_callbacks(
        log_dir=out / "logs" if config.output.tensorboard else None,
        contribution_data={k: v[:2048] for k, v in x_val.items()} if config.output.tensorboard else None,
        early_stopping_patience=train_cfg.patience or None,
        monitor=monitor,
        strategy=strategy,
        field_importance=config.output.tensorboard,  # per-field first-order and FM interaction strength
        hparams=_hparams(config) if config.output.tensorboard else None,  # one HParams session per run
    )
    timer = _train_timer()
    callbacks.append(timer)
    if train_cfg.lr_decay < 1:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor, factor=train_cfg.lr_decay, patience=train_cfg.lr_patience, cooldown=1, mode=mode, min_lr=1e-5
            )
        )
    history = fit(model, train_ds, validation_data=val_ds, epochs=train_cfg.epochs, callbacks=callbacks,
                  strategy=strategy, verbose=verbose)  # fmt: skip

    pred = model.predict(make_dataset(x_test, batch_size=8192, shuffle=False), verbose=0)
    pred = pred if model_cfg.task == "multiclass" else pred.reshape(-1)  # multi-class: (n, classes)
    epochs_run = len(history.history["loss"])
    val_curve = [float(v) for v in history.history[monitor]]
    best = int(np.argmin(val_curve) if mode == "min" else np.argmax(val_curve))
    train_seconds = float(sum(timer.seconds))
    groups = test_df[group].to_numpy() if group is not None and model_cfg.task == "binary" else None
    from deepfm_keras.callbacks import ContributionLogger

    logger = next((c for c in callbacks if isinstance(c, ContributionLogger)), None)
    if logger is None:
        logger = ContributionLogger(out / "logs", validation_data={k: v[:2048] for k, v in x_val.items()})
        logger.set_model(model)
    metrics = {
        **({"variant": config.data.variant} if config.data.format == "movielens" else {}),
        "task": model_cfg.task,
        "holdout": holdout_metrics(model_cfg.task, y_test, pred, groups=groups),
        "validation": {
            ("logloss" if monitor == "val_loss" else monitor.removeprefix("val_")): val_curve[best],
            **({"accuracy": float(history.history["val_accuracy"][best])} if model_cfg.task == "multiclass" else {}),
            "curve": val_curve,
        },
        **logger.contributions(),
        "epochs_run": epochs_run,
        "best_epoch": best + 1,
        "train_examples_per_sec": len(y_train) * epochs_run / train_seconds if train_seconds else None,
        "train_seconds": train_seconds,
        "rows": {"train": len(train_df), "validation": len(val_df), "holdout": len(test_df)},
        "replicas": strategy.num_replicas_in_sync,
        "settings": config.to_dict(),
    }
    if is_chief(strategy):  # under multi-worker training only the chief writes the shared outputs
        save_model(model, out / "model.keras")
        encoder.save(out / "encoder.json")
        if config.output.export:
            metrics["serving"] = serving_check(model, encoder, test_df.iloc[:256], os.fspath(out / "serving" / "1"))
        metrics["wall_seconds"] = time.perf_counter() - started
        _log_hparams(config, out, metrics)
        _write_json(out / "metrics.json", metrics)

    holdout = ", ".join(f"{k} {v:.4f}" for k, v in metrics["holdout"].items())
    parts = ", ".join(f"{k} {v:+.3f}" for k, v in metrics["contribution"].items())
    speed = metrics["train_examples_per_sec"] or 0.0
    log(
        f"holdout {holdout} ({len(test_df):,} rows)\n"
        f"epochs run {epochs_run} (best {best + 1}), {speed:,.0f} training examples/s "
        f"on {strategy.num_replicas_in_sync} replica(s), wall {time.perf_counter() - started:.0f} s\n"
        f"contribution weights: {parts}\n"
        f"outputs in {out}/: metrics.json, model.keras, encoder.json"
        + (", serving/1" if config.output.export else "")
        + (", logs/" if config.output.tensorboard else "")
    )
    return metrics


def _log_hparams(config: RunConfig, out: Path, metrics: dict) -> None:
    """Adds the holdout metrics to the run's HParams session (written by `HParamsLogger` during training)."""
    if not config.output.tensorboard:
        return
    from deepfm_keras.callbacks import log_hparams

    final = {f"holdout/{k}": float(v) for k, v in metrics["holdout"].items() if np.isfinite(v)}
    log_hparams(out / "logs", None, final)


# ---------------------------------------------------------------------------------------------------------------
# Criteo: streamed files, never loaded whole.


def _check_part(reader, files, part: str, max_fraction: float) -> dict:
    """Fails with the first malformed lines when a part is unusable; returns its counts."""
    from deepfm_keras.datasets import criteo

    read, bad = reader.rows_read, reader.malformed_rows
    if bad and (read == bad or bad > max_fraction * read):
        report = criteo.validate_files(files, max_examples=5)
        reason = "no usable line" if read == bad else f"{bad} of {read} lines malformed (limit {max_fraction:.2%})"
        raise DataError(f"{part} files: {reason}. First malformed lines:\n  " + "\n  ".join(report.examples))
    if read == 0:
        raise DataError(f"{part} files are empty: {list(files)}")
    return {"rows_read": read, "malformed_rows": bad}


def _criteo_counter(reader, files, max_fraction):
    import keras

    class CountPerEpoch(keras.callbacks.Callback):
        """Resets the reader's counters at each epoch (so they describe one full pass) and checks them."""

        def __init__(self):
            super().__init__()
            self.counts = None

        def on_epoch_begin(self, epoch, logs=None):
            reader.reset_counts()

        def on_epoch_end(self, epoch, logs=None):
            self.counts = _check_part(reader, files, "training", max_fraction)

    return CountPerEpoch()


def _criteo_serving_check(model, encoder, test_files, path: str, rows: int = 256) -> dict:
    from deepfm_keras.datasets import criteo
    from deepfm_keras.serving import export_serving_model

    export_serving_model(model, encoder, path)
    raw, _ = next(iter(criteo.CriteoReader(encoder=encoder).raw_dataset(test_files, batch_size=rows)))
    return _served_vs_keras(model, path, raw, encoder.encode(raw))


def _run_criteo(config: RunConfig, *, verbose, log) -> dict:
    import warnings

    import keras

    from deepfm_keras.datasets import criteo
    from deepfm_keras.io import save_model
    from deepfm_keras.metrics import auc, logloss

    data, feats, train_cfg = config.data, config.features, config.training
    out = Path(config.output.dir)
    keras.utils.set_random_seed(train_cfg.seed)
    for f in (*data.train, *data.test):
        if not os.path.isfile(f):
            raise DataError(f"Data file not found: {f}")
    if feats.criteo_min_count:
        encoder = criteo.fit_encoder(
            list(data.train), min_count=feats.criteo_min_count, max_size=feats.criteo_max_size, progress=verbose != 0
        )
    else:
        encoder = criteo.make_encoder(num_buckets=feats.criteo_num_buckets)
    reader = criteo.CriteoReader(encoder=encoder)
    loss, metric, _, _ = task_objective("binary")
    model = build_and_compile(reader.feature_spec, config, loss=loss, metric=metric)
    if data.weight is not None:
        raise ConfigError("`data.weight` is for tables; Criteo lines have no weight column: use data.class_weight.")
    train = reader.dataset(list(data.train), batch_size=train_cfg.batch_size, shuffle_buffer=train_cfg.shuffle_buffer,
                           seed=train_cfg.seed, class_weight=data.class_weight)  # fmt: skip
    for _ in train.take(1):
        break
    else:  # not a single usable line: fail before fit, naming the first bad lines
        _check_part(reader, data.train, "training", data.max_malformed_fraction)
    counter = _criteo_counter(reader, data.train, data.max_malformed_fraction)
    # A streamed dataset has no known length, so Keras warns at the end of the first epoch that it "ran out of
    # data": that is the normal end of one pass here.
    warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
    start = time.perf_counter()
    from deepfm_keras.progress import fit_verbose

    history = model.fit(
        train, epochs=train_cfg.epochs, callbacks=[counter], shuffle=False, verbose=fit_verbose(verbose)
    )
    train_seconds = time.perf_counter() - start
    train_counts = counter.counts

    test_reader = criteo.CriteoReader(encoder=encoder)
    labels, scores = [], []
    for features, y in test_reader.dataset(list(data.test), batch_size=train_cfg.batch_size):
        labels.append(y.numpy())
        scores.append(model.predict_on_batch(features))
    test_counts = _check_part(test_reader, data.test, "test", data.max_malformed_fraction)
    labels, scores = np.concatenate(labels), np.concatenate(scores)

    epochs = len(history.history["loss"])
    metrics = {
        "auc": auc(labels, scores),
        "logloss": logloss(labels, scores),
        "rows_read": train_counts["rows_read"] + test_counts["rows_read"],
        "malformed_rows": train_counts["malformed_rows"] + test_counts["malformed_rows"],
        "train": train_counts,
        "test": test_counts,
        "test_positive_rate": float(np.mean(labels)),
        "epochs": epochs,
        "train_examples_per_sec": (train_counts["rows_read"] - train_counts["malformed_rows"]) * epochs / train_seconds,
        "categorical_ids": (
            f"vocabulary min_count={feats.criteo_min_count}"
            if feats.criteo_min_count
            else f"hash {feats.criteo_num_buckets}"
        ),  # fmt: skip
        "settings": config.to_dict(),
    }
    metrics["holdout"] = {"auc": metrics["auc"], "logloss": metrics["logloss"]}
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / "model.keras")
    encoder.save(out / "encoder.json")
    if config.output.export:
        metrics["serving"] = _criteo_serving_check(model, encoder, list(data.test), os.fspath(out / "serving" / "1"))
    _write_json(out / "metrics.json", metrics)
    served = f"  served = Keras to {metrics['serving']['max_abs_diff_vs_keras']:.1e}" if "serving" in metrics else ""
    log(
        f"test AUC {metrics['auc']:.4f}  logloss {metrics['logloss']:.4f}  "
        f"lines read {metrics['rows_read']} (malformed {metrics['malformed_rows']}){served}  -> {out}"
    )
    return metrics
