"""Raw pandas / Python values to the raw tensors the encoding layers read.

The only rules decided in Python are about types, never about strings: a
categorical value becomes its key string with `canonical_string` (an integral
float `260.0` is the integer `"260"`, NaN/None is missing), and a key string
is handed to TensorFlow as its UTF-8 bytes. Splitting, stripping, lookup and
hashing happen in the layers of `deepfm_keras.encoding.layers`, in TensorFlow,
for pandas, tf.data and serving alike.

Mixed types in one categorical column are canonicalised alike on every path
(fit, transform, tf.data, serving requests): `3`, `np.int64(3)`, `3.0` and
`"3"` are all the key `"3"` (the string `"3.0"` stays `"3.0"`). The one mix
refused is booleans with numbers: pandas and NumPy hold `True == 1`, so
their keys would depend on which came first in the column.

Bytes cells are taken as they are (their bytes are the key), so latin-1 bytes
that are not UTF-8 still have a key: in JSON such a key is written with
surrogate escapes (`b"caf\\xe9" -> "caf\\udce9"`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_INT_KEY = re.compile(r"-?[1-9][0-9]{0,18}|0")  # str(int) of an integer of at most 19 digits: no leading zeros
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def canonical_string(value: Any) -> str | None:
    """Returns the key string of a raw categorical value, or `None` for a missing value (OOV).

    Rules: `str` as is (`""` is missing); `bytes` decoded as UTF-8, any
    undecodable byte kept as a surrogate escape; `bool` as `"True"`/`"False"`;
    integers (Python or NumPy) as `str(int(value))`; floats with an integral
    value as the integer string (`260.0 -> "260"`); other floats as
    `repr(float(value))`; NaN, None and `pandas.NA` as `None`; anything else as
    `str(value)`.

    >>> [canonical_string(v) for v in ["a", 7, 260.0, 0.5, float("nan"), None, b"caf\\xe9"]]
    ['a', '7', '260', '0.5', None, None, 'caf\\udce9']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, (bytes, np.bytes_)):
        return canonical_string(bytes(value).decode("utf-8", "surrogateescape"))
    return str(value)


def key_bytes(key: str | None) -> bytes:
    """The bytes a key string stands for (`None`, missing, is `b""`)."""
    return b"" if key is None else key.encode("utf-8", "surrogateescape")


def cells(keys) -> np.ndarray:
    """Distinct keys as the object array of bytes the layers read, with a trailing `b""` for the missing cell (code -1).

    >>> cells(["a", None]).tolist()
    [b'a', b'', b'']
    """
    return np.array([key_bytes(k) for k in keys] + [b""], dtype=object)


def is_int64_key(key: str) -> bool:
    """Whether a key is the canonical form of an int64 (so the column can be served as int64).

    >>> is_int64_key(str(2**63 - 1)), is_int64_key(str(-(2**63))), is_int64_key(str(2**63)), is_int64_key("007")
    (True, True, False, False)
    """
    return bool(_INT_KEY.fullmatch(key)) and _INT64_MIN <= int(key) <= _INT64_MAX


def column(data, col: str) -> pd.Series:
    """Column `col` of a DataFrame or a dict of columns, as a Series with a fresh 0..n-1 index."""
    if not isinstance(data, (pd.DataFrame, Mapping)):
        raise ValueError(
            f"The input should be a pandas DataFrame or a dict of columns. Received: {type(data).__name__}"
        )
    try:
        values = data[col]
    except (KeyError, IndexError):
        values = None
    if values is None:
        available = list(data.columns) if isinstance(data, pd.DataFrame) else list(data)
        raise ValueError(f"Column '{col}' is missing from the input. Available columns: {available}")
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if not isinstance(values, (list, tuple)):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"Column '{col}' should be one-dimensional. Received shape {values.shape}")
        if values.dtype.kind == "S":
            values = values.astype(object)
        return pd.Series(values)
    return pd.Series(values, dtype=object)


def numeric_values(data, col: str) -> np.ndarray:
    """Column `col` as float64, NaN for missing; raises naming the column when it holds non-numbers."""
    series = column(data, col)
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    elif not pd.api.types.is_numeric_dtype(series.dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred not in ("integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"):
            raise ValueError(
                f"Column '{col}' is numeric in this encoder but holds {inferred} values "
                f"(dtype {series.dtype}); encode it as categorical or convert it first."
            )
        series = pd.to_numeric(series.astype(object).where(series.notna(), np.nan))
    return series.to_numpy(dtype="float64", na_value=np.nan)


def num_rows(data, names) -> int:
    """The number of rows of columns `names` of a table; raises naming them if they differ."""
    lengths = {name: len(column(data, name)) for name in names}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Columns have different numbers of rows: {lengths}")
    return next(iter(lengths.values()), 0)


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _check_no_bool_number_mix(series: pd.Series, col: str) -> None:
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) not in ("mixed", "mixed-integer"):
        return
    flags = series.map(_is_bool)
    numbers_ = series.map(lambda v: isinstance(v, numbers.Number) and not _is_bool(v) and v == v)
    if flags.any() and numbers_.any():
        raise ValueError(
            f"Column '{col}' mixes booleans ({series[flags].iloc[0]!r}) with numbers ({series[numbers_].iloc[0]!r}): "
            "pandas and NumPy treat True as 1, so their ids would depend on row order. "
            "Convert the column to one type first (e.g. `df[col].astype(str)`)."
        )


def _joined(value: Any, separator: str) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        keys = (canonical_string(v) for v in value)
        return separator.join(k for k in keys if k is not None)
    return value


def factorized_keys(data, col: str, *, separator: str | None = None) -> tuple[np.ndarray, list[str | None]]:
    """Codes `(n,)` into the list of distinct key strings of a categorical (or multi-level) column.

    A missing cell has code -1. For a multi-level column (`separator` given),
    a list cell becomes its canonical tokens joined with the separator, and a
    numeric column is refused.

    Raises:
        ValueError: naming the column, for lists in a single-level column,
            numbers in a multi-level one, or booleans mixed with numbers.
    """
    series = column(data, col)
    _check_no_bool_number_mix(series, col)
    if separator is not None and pd.api.types.is_numeric_dtype(series.dtype) and series.notna().any():
        raise ValueError(
            f"Column '{col}' is multi-categorical (strings joined by {separator!r}, or lists) "
            f"but has numeric dtype {series.dtype}."
        )
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:
        if separator is None:
            raise ValueError(
                f"Column '{col}' is categorical (one value per row) but holds unhashable values "
                "such as lists; declare it multi-categorical."
            ) from None
        codes, uniques = pd.factorize(series.map(lambda v: _joined(v, separator)), use_na_sentinel=True)
    if separator is None and isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
        return np.asarray(codes), np.asarray(uniques).astype(str).tolist()  # an integer's key: its decimal digits
    uniques = np.asarray(uniques, dtype=object)
    if separator is not None:
        uniques = [_joined(v, separator) for v in uniques]
    return np.asarray(codes), [canonical_string(v) for v in uniques]


def _number_token(value: Any) -> str:
    key = canonical_string(value)
    return "nan" if key is None else key  # a missing element is kept, to be refused by name, never dropped


def number_list_keys(data, col: str, *, separator: str) -> tuple[np.ndarray, list[str | None]]:
    """Codes `(n,)` into the distinct key strings of a column of number lists (weights, numeric sequences).

    A cell is a string of `separator`-joined numbers (kept as it is: the
    layers parse it), a list of numbers (joined with `separator`, each as its
    `canonical_string`; a NaN element becomes `"nan"`, refused when parsed),
    or a single number (a one-element list: a CSV column whose rows all hold
    one number is read as floats). A missing cell (None, NaN) has code -1: an
    empty list.
    """
    series = column(data, col)
    if series.dtype == object:
        series = series.map(
            lambda v: separator.join(_number_token(x) for x in v) if isinstance(v, (list, tuple, np.ndarray)) else v
        )
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes), [canonical_string(v) for v in np.asarray(uniques, dtype=object)]
