"""Where a run's rows come from: tables (CSV, Parquet, MovieLens) in memory, or Criteo files streamed.

A source turns a `RunConfig` into what the one pipeline needs, the same for
every source: a fitted encoder and its feature spec, a training and a
validation `tf.data.Dataset`, a fixed batch of validation inputs for the
contribution logs, the holdout scores for the metrics, and the serving check.
Each source refuses, naming the key, a setting it does not honour
(`REFUSED`), so a key is either honoured or refused, never ignored.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from deepfm_keras.run.config import RunConfig, set_keys
from deepfm_keras.run.tables import DataError, labels_of, read_table, split_by_time, split_rows, weights_of
from deepfm_keras.run.values import ConfigError

CONTRIBUTION_ROWS = 2048  # validation rows the contribution logs score each epoch

_TABLE_ONLY = ("data.label", "data.positive", "data.binary_threshold", "data.group", "data.weight", "data.classes",
               "data.separator", "data.holdout_fraction", "data.time_column", "features.numeric",
               "features.categorical", "features.bucketized", "features.multi_categorical",
               "features.numeric_sequence", "features.min_count", "features.max_len")  # fmt: skip
REFUSED = {
    "table": ("data.criteo", "training.shuffle_buffer", "data.movielens"),
    "movielens": ("data.criteo", "training.shuffle_buffer", "data.separator"),
    "criteo": (*_TABLE_ONLY, "data.movielens"),
}
"""Source -> the keys (or sub-tables) it refuses when set to anything but their default, with the reason below."""

_WHY = {
    "data.criteo": "it sets how Criteo lines are read: for data.format = 'criteo'",
    "data.movielens": "it is for data.format = 'movielens'",
    "training.shuffle_buffer": "table rows are shuffled whole, in memory; the buffer is for streamed files",
    "data.separator": "MovieLens files have their own format",
}


def _refuse(config: RunConfig, source: str) -> None:
    """ConfigError naming the first key set in `config` that `source` does not honour."""
    set_now = {**set_keys(config.data, "data"), **set_keys(config.features, "features"),
               **set_keys(config.training, "training")}  # fmt: skip
    for refused in REFUSED[source]:
        for key, value in set_now.items():
            if key == refused or key.startswith(refused + "."):
                why = _WHY.get(refused, "Criteo lines have fixed fields: a label, 13 counts and 26 categories")
                raise ConfigError(f"`{key}` = {value!r} is not used with data.format = {config.data.format!r}: {why}.")


@dataclasses.dataclass
class Prepared:
    """What a source gives the pipeline.

    Attributes:
        encoder: the fitted `FeatureEncoder`.
        feature_spec: the model's features.
        train: `tf.data.Dataset` of `(x, y)` or `(x, y, w)` training batches.
        validation: the validation batches (None: no validation).
        contribution_data: encoded validation inputs for the contribution logs.
        callbacks: the source's own training callbacks (e.g. line counters).
        train_rows: `() -> int`, the training rows of one epoch (after training: a stream counts them then).
        holdout: `model -> (labels, scores, groups)` of the holdout rows.
        serving_rows: `() -> (raw request, encoded inputs)` of up to 256 holdout rows.
        report: `() -> dict` of the source's own metrics.
    """

    encoder: Any
    feature_spec: list
    train: Any
    validation: Any
    contribution_data: dict | None
    callbacks: list
    train_rows: Callable[[], int]
    holdout: Callable
    serving_rows: Callable
    report: Callable


def prepare(config: RunConfig, *, frame: pd.DataFrame | None = None, verbose: str | int = "auto") -> Prepared:
    """The rows of a run, from the source its `data.format` names."""
    if config.data.format == "criteo":
        if frame is not None:
            raise ConfigError("A Criteo run streams its files: `frame` is for tables.")
        _refuse(config, "criteo")
        return _criteo(config, verbose)
    _refuse(config, "movielens" if config.data.format == "movielens" else "table")
    return _table(config, frame)


# ------------------------------------------------------------------ tables and MovieLens: in memory


def _load_frames(config: RunConfig, frame: pd.DataFrame | None):
    """(train, validation, holdout) DataFrames: given files, or a seeded split of the training rows."""
    data = config.data
    if frame is None:
        if data.format == "movielens":
            from deepfm_keras.datasets.movielens import load_movielens

            frame = load_movielens(data.movielens.variant, data.train[0] if data.train else None)
        else:
            frame = read_table(data.train, data.format, separator=data.separator)
    fmt = None if data.format == "movielens" else data.format
    val = read_table(data.validation, fmt, separator=data.separator) if data.validation else None
    test = read_table(data.test, fmt, separator=data.separator) if data.test else None
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
    return _with_history(frames, config) if data.movielens.history else frames


def _with_history(frames, config: RunConfig):
    """The frames with MovieLens' implicit-feedback columns, read from the training rows only (never val/holdout)."""
    from deepfm_keras.datasets.movielens_history import add_history_columns, add_rating_columns

    sizes = [len(f) for f in frames]
    both = pd.concat(frames, ignore_index=True)
    source = np.arange(len(both)) < sizes[0]
    size = config.data.movielens.history_max_len
    both = add_history_columns(both, source, max_items=size, max_raters=size)
    if config.data.movielens.history_ratings:
        both = add_rating_columns(both, source, max_items=size, seed=config.data.split_seed)
    cuts = np.cumsum(sizes)
    return both.iloc[: cuts[0]], both.iloc[cuts[0] : cuts[1]], both.iloc[cuts[1] :]


def _table(config: RunConfig, frame: pd.DataFrame | None) -> Prepared:
    from deepfm_keras.data import make_dataset
    from deepfm_keras.run.columns import make_encoder
    from deepfm_keras.serving import serving_request

    train_df, val_df, test_df = _load_frames(config, frame)
    y_train, y_val, y_test = (labels_of(f, config, w) for f, w in ((train_df, "training"), (val_df, "validation"),
                                                                   (test_df, "holdout")))  # fmt: skip
    if config.model.task == "binary":
        for y, what in ((y_train, "training"), (y_val, "validation"), (y_test, "holdout")):
            odd = y[(y != 0) & (y != 1)]
            if odd.size:
                raise DataError(
                    f"A binary task needs 0/1 labels; the {what} rows of {config.data.label!r} hold {odd[0]!r}. "
                    "Set data.binary_threshold (label >= threshold is 1), data.positive (the value that is 1) "
                    "or model.task = 'regression'."
                )
    group = config.data.group
    if group is not None and group not in test_df.columns:
        raise DataError(f"`data.group` names column {group!r}, which the holdout rows lack.")
    encoder = make_encoder(config.features)
    x_train = encoder.fit_transform(train_df)
    x_val, x_test = encoder.transform(val_df), encoder.transform(test_df)
    t = config.training

    def holdout(model):
        pred = model.predict(make_dataset(x_test, batch_size=8192, shuffle=False), verbose=0)
        groups = test_df[group].to_numpy() if group is not None and config.model.task == "binary" else None
        return y_test, pred, groups

    def serving_rows():
        rows = test_df.iloc[:256]
        return serving_request(rows, encoder), encoder.transform(rows)

    def report():
        return {
            **({"variant": config.data.movielens.variant} if config.data.format == "movielens" else {}),
            "rows": {"train": len(train_df), "validation": len(val_df), "holdout": len(test_df)},
        }

    return Prepared(
        encoder=encoder,
        feature_spec=encoder.feature_spec,
        train=make_dataset(
            x_train, y_train, sample_weight=weights_of(train_df, y_train, config), batch_size=t.batch_size, seed=t.seed
        ),  # fmt: skip
        validation=make_dataset(x_val, y_val, batch_size=max(8192, t.batch_size), shuffle=False),
        contribution_data={k: v[:CONTRIBUTION_ROWS] for k, v in x_val.items()},
        callbacks=[],
        train_rows=lambda: len(y_train),
        holdout=holdout,
        serving_rows=serving_rows,
        report=report,
    )


# ------------------------------------------------------------------ Criteo: streamed files, never loaded whole


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


def _counter(reader, files, part: str, max_fraction: float, *, on_test: bool = False):
    """A callback that resets a reader's counters when a pass starts and checks them when it ends."""
    import keras

    class CountPerPass(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.counts = None

        def on_epoch_begin(self, epoch, logs=None):
            if not on_test:
                reader.reset_counts()

        def on_epoch_end(self, epoch, logs=None):
            if not on_test:
                self.counts = _check_part(reader, files, part, max_fraction)

        def on_test_begin(self, logs=None):
            if on_test:
                reader.reset_counts()

        def on_test_end(self, logs=None):
            if on_test:
                self.counts = _check_part(reader, files, part, max_fraction)

    return CountPerPass()


def _criteo(config: RunConfig, verbose) -> Prepared:
    from deepfm_keras.datasets import criteo

    data, t, c = config.data, config.training, config.data.criteo
    for f in (*data.train, *data.validation, *data.test):
        if not os.path.isfile(f):
            raise DataError(f"Data file not found: {f}")
    if c.min_count:
        encoder = criteo.fit_encoder(list(data.train), min_count=c.min_count, max_size=c.max_size,
                                     progress=verbose != 0)  # fmt: skip
    else:
        encoder = criteo.make_encoder(num_buckets=c.num_buckets)
    reader, val_reader = criteo.CriteoReader(encoder=encoder), criteo.CriteoReader(encoder=encoder)
    # Without validation files, every k-th batch of training lines validates (and never trains).
    every = 0 if data.validation or not data.validation_fraction else max(2, round(1 / data.validation_fraction))
    val_files = list(data.validation or data.train)
    common = {"batch_size": t.batch_size, "class_weight": data.class_weight}
    train = reader.dataset(list(data.train), shuffle_buffer=t.shuffle_buffer, seed=t.seed,
                           hold_out_every=every, hold_out_offset=data.split_seed, part="train", **common)  # fmt: skip
    validation = None
    if data.validation or every:
        validation = val_reader.dataset(val_files, hold_out_every=every, hold_out_offset=data.split_seed,
                                        part="holdout", **common)  # fmt: skip
    for _ in train.take(1):
        break
    else:  # not a single usable line: fail before fit, naming the first bad lines
        _check_part(reader, data.train, "training", c.max_malformed_fraction)
    contribution = None
    if validation is not None:
        first = next(iter(validation), None)
        if first is None:
            _check_part(val_reader, val_files, "validation", c.max_malformed_fraction)
        contribution = {k: np.asarray(x)[:CONTRIBUTION_ROWS] for k, x in first[0].items()}
    counters = [_counter(reader, data.train, "training", c.max_malformed_fraction)]
    if validation is not None:
        counters.append(_counter(val_reader, val_files, "validation", c.max_malformed_fraction, on_test=True))
    test_reader = criteo.CriteoReader(encoder=encoder)
    test_counts = {}

    def holdout(model):
        labels, scores = [], []
        for features, y in test_reader.dataset(list(data.test), batch_size=t.batch_size):
            labels.append(y.numpy())
            scores.append(model.predict_on_batch(features))
        test_counts.update(_check_part(test_reader, data.test, "test", c.max_malformed_fraction))
        return np.concatenate(labels), np.concatenate(scores), None

    def serving_rows():
        raw, _ = next(iter(criteo.CriteoReader(encoder=encoder).raw_dataset(list(data.test), batch_size=256)))
        return raw, encoder.encode(raw)

    def usable_rows(counts) -> int:
        return counts["rows_read"] - counts["malformed_rows"]

    def report():
        lines = {"train": counters[0].counts, "test": test_counts}
        if validation is not None:
            lines["validation"] = counters[1].counts or {"rows_read": 0, "malformed_rows": 0}
        usable = {part: usable_rows(n) for part, n in lines.items()}
        return {
            "lines": lines,  # per part: lines read, and how many of them were malformed (skipped)
            "rows_read": sum(n["rows_read"] for n in lines.values()),
            "malformed_rows": sum(n["malformed_rows"] for n in lines.values()),
            "rows": {"train": usable["train"], "validation": usable.get("validation", 0), "holdout": usable["test"]},
            "categorical_ids": f"vocabulary min_count={c.min_count}" if c.min_count else f"hash {c.num_buckets}",
        }

    return Prepared(
        encoder=encoder,
        feature_spec=reader.feature_spec,
        train=train,
        validation=validation,
        contribution_data=contribution,
        callbacks=counters,
        train_rows=lambda: usable_rows(counters[0].counts),
        holdout=holdout,
        serving_rows=serving_rows,
        report=report,
    )
