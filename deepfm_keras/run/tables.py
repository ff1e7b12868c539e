"""The one reader of tables (CSV, gzip CSV, Parquet) for runs and the CLI, their splits, labels and weights."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepfm_keras.run.config import RunConfig
from deepfm_keras.run.values import ConfigError


class DataError(ValueError):
    """Input data that cannot be trained on: a missing column, an unusable label, malformed files."""


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def table_format(path: str) -> str:
    """`"parquet"` for a `.parquet` / `.pq` file, else `"csv"` (plain or gzip, told apart by the first bytes)."""
    return "parquet" if str(path).lower().endswith((".parquet", ".pq")) else "csv"


def read_table(
    paths: Sequence[str], fmt: str | None = None, *, separator: str = ",", nrows: int | None = None
) -> pd.DataFrame:
    """Reads CSV or Parquet file(s) into one DataFrame (rows in file order).

    A CSV file is read as gzip when it starts with gzip's magic bytes, whatever its name.

    Args:
        paths: the files.
        fmt: `"csv"` or `"parquet"`; None: by each file's name (`table_format`).
        separator: the CSV field separator.
        nrows: read at most this many rows (of the first file).

    Raises:
        DataError: naming a missing file, or a file with no row.
    """
    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(f"Data file not found: {path}")
        if (fmt or table_format(path)) == "parquet":
            frame = pd.read_parquet(path)
            frame = frame if nrows is None else frame.iloc[:nrows]
        else:
            compression = "gzip" if _is_gzip(path) else None
            frame = pd.read_csv(path, sep=separator, compression=compression, nrows=nrows)
        if frame.empty:
            raise DataError(f"Data file {path} has no row.")
        frames.append(frame)
        if nrows is not None:
            break
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


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


def labels_of(frame: pd.DataFrame, config: RunConfig, what: str) -> np.ndarray:
    """The float32 label column of `frame`, thresholded for a binary task when `data.binary_threshold` is set."""
    name = config.data.label
    if name not in frame.columns:
        raise DataError(f"The {what} rows have no label column {name!r}. Columns: {list(frame.columns)}")
    if config.model.task == "multiclass":
        return _class_ids(frame[name], config, what)
    if config.data.positive is not None:
        return _is_positive(frame[name], config.data.positive, name, what)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy("float64")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        present = frame[name].dropna().astype(str).str.strip().unique()
        hint = (
            f" It holds the values {sorted(map(str, present))}: set data.positive to the one that is 1."
            if config.model.task == "binary" and len(present) == 2
            else ""
        )
        raise DataError(
            f"Label column {name!r} of the {what} rows has {bad.size} missing or non-numeric value(s); "
            f"first at row {int(bad[0])}: {frame[name].iloc[int(bad[0])]!r}.{hint}"
        )
    if config.model.task == "binary" and config.data.binary_threshold is not None:
        values = (values >= config.data.binary_threshold).astype("float64")
    return values.astype("float32")


def _label_text(value) -> str:
    """A label value as the text it is matched by: `4.0` -> `"4"`, `" >50K"` -> `">50K"`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _is_positive(column: pd.Series, positive, name: str, what: str) -> np.ndarray:
    """A binary label from a column of two values: 1 where it equals `data.positive` (matched as text), else 0."""
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        raise DataError(
            f"Label column {name!r} of the {what} rows has {missing.size} missing value(s); first at row "
            f"{int(missing[0])}."
        )
    texts = column.map(_label_text)
    values = sorted(set(texts))
    if _label_text(positive) not in values and len(values) > 1:
        raise DataError(
            f"`data.positive` is {positive!r}, which label column {name!r} of the {what} rows never holds "
            f"(its values: {values[:10]})."
        )
    if len(values) > 2:
        raise DataError(
            f"Label column {name!r} of the {what} rows holds {len(values)} values ({values[:10]}): a binary label "
            "with data.positive has two."
        )
    return (texts == _label_text(positive)).to_numpy().astype("float32")


def _class_ids(column: pd.Series, config: RunConfig, what: str) -> np.ndarray:
    """A multi-class label column as int64 class ids: positions in `data.classes`, or ids `0 .. num_classes - 1`."""
    from deepfm_keras.checks.arrays import _show  # a value as the messages of the checks show it: 3, not np.int64(3)

    name, classes, k = config.data.label, config.data.classes, config.model.num_classes
    if classes:
        # Matched as text, so 4, 4.0 and "4" in a CSV are all the class 4 (but "4.5" is not).
        index = {_label_text(c): i for i, c in enumerate(classes)}
        ids = column.map(lambda v: index.get(_label_text(v), -1) if not pd.isna(v) else -1).to_numpy("int64")
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
