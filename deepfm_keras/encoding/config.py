"""Reading a saved `FeatureEncoder` config: format versions 1 and 2, every field checked before use.

An encoder file decides which id every raw value gets, so a file that was
truncated, edited or written by something else is refused with an error
naming the column and the field, never loaded into a model that then scores
the wrong ids. Checked: the format version (required: every file
deepfm_keras wrote has one), the id layout (`pad_id`, `oov_id`, `first_id`
must be this version's), no unknown or missing keys, and per column the
fitted state: a finite `mean` and a positive finite `std`, a vocabulary that
is a list of distinct non-empty strings (and none for hashed columns),
`max_len` an integer >= 1, strictly increasing finite bucket boundaries, an
`input_dtype` the column can be served with, and one vocabulary for the
columns that share a table (`embedding_name`).

Options added to format 2 later (`combiner`, `weight_column`,
`embedding_name`, `embedding_dim`, numeric sequence columns) are optional
keys: a file written before them loads unchanged, and they are checked as
strictly as the others when present.

Version 1 (deepfm_keras before the `encoding` package: `numeric`,
`categorical`, `multi_categorical` name lists, `vocabularies`,
`numeric_stats`, `max_lens`) is read with the same checks and converted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.columns import (
    BucketizedColumn,
    CategoricalColumn,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    check_tables,
    column_from_dict,
    tables,
)
from deepfm_keras.encoding.layers import FIRST_ID, OOV_ID, PAD_ID

FORMAT_VERSION = 2
ID_LAYOUT = {"pad_id": PAD_ID, "oov_id": OOV_ID, "first_id": FIRST_ID}
V2_KEYS = {"format_version", "columns", "state", *ID_LAYOUT}
V1_KEYS = {
    "format_version",
    "numeric",
    "categorical",
    "multi_categorical",
    "min_count",
    "max_len",
    "pad_id",
    "oov_id",
    "vocabularies",
    "numeric_stats",
    "max_lens",
}
V1_FITTED = {"vocabularies", "numeric_stats", "max_lens"}


def _fail(message: str):
    raise ValueError(f"FeatureEncoder config: {message}")


def _check_keys(where: str, mapping: Any, required: set, allowed: set) -> None:
    if not isinstance(mapping, Mapping):
        _fail(f"{where} should be a JSON object. Received: {type(mapping).__name__}")
    missing = sorted(required - set(mapping))
    unknown = sorted(set(mapping) - allowed, key=str)
    if missing:
        _fail(f"{where} is missing {missing}.")
    if unknown:
        _fail(f"{where} has unknown key(s) {unknown}.")


def _version(config: Mapping) -> int:
    if "format_version" not in config:
        _fail(
            "missing `format_version` (every file deepfm_keras writes has one: 1 or 2). "
            f"Keys found: {sorted(config, key=str)}"
        )
    version = config["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version not in (1, FORMAT_VERSION):
        _fail(f"unsupported `format_version` {version!r}; this version of deepfm_keras reads 1 and {FORMAT_VERSION}.")
    return version


def _check_id_layout(config: Mapping, keys) -> None:
    for key in keys:
        if config[key] != ID_LAYOUT[key] or isinstance(config[key], bool):
            _fail(
                f"`{key}` is {config[key]!r}, but this version of deepfm_keras uses {key}={ID_LAYOUT[key]}: "
                "ids would not mean what the model learned."
            )


def _number(column: str, field: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(f"column '{column}': `{field}` should be a finite number. Received: {field}={value!r}")
    if positive and value <= 0:
        _fail(f"column '{column}': `{field}` should be positive. Received: {field}={value!r}")
    return float(value)


def _count(column: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(f"column '{column}': `{field}` should be an integer >= 1. Received: {field}={value!r}")
    return value


def _vocabulary(column: str, value: Any, max_size: int | None) -> list[str]:
    if not isinstance(value, list):
        _fail(
            f"column '{column}': `vocabulary` should be a list of strings. Received: {type(value).__name__} {value!r:.80}"
        )
    for i, key in enumerate(value):
        if not isinstance(key, str) or not key:
            _fail(f"column '{column}': `vocabulary` entry {i} should be a non-empty string. Received: {key!r}")
    seen: dict[str, int] = {}
    for i, key in enumerate(value):
        if key in seen:
            _fail(
                f"column '{column}': `vocabulary` lists {key!r} twice (entries {seen[key]} and {i}); "
                "every later key's id would shift."
            )
        seen[key] = i
    if max_size is not None and len(value) > max_size:
        _fail(f"column '{column}': `vocabulary` has {len(value)} keys, more than the column's max_size={max_size}.")
    return list(value)


def _boundaries(column: str, value: Any) -> list[float]:
    if not isinstance(value, list):
        _fail(f"column '{column}': `boundaries` should be a list of numbers. Received: {value!r:.80}")
    values = [_number(column, "boundaries", b) for b in value]
    for a, b in zip(values, values[1:], strict=False):
        if a >= b:
            _fail(f"column '{column}': `boundaries` should be strictly increasing. Received: {value!r:.200}")
    return values


def check_state(spec, state: Any) -> dict:
    """Checks one column's fitted state against its spec; returns a clean copy.

    Raises:
        ValueError: naming the column and the field.
    """
    name = spec.name
    where = f"the state of column '{name}'"
    if isinstance(spec, NumericSequenceColumn):
        fields = {"mean", "std", "max_len", "input_dtype"}
        _check_keys(where, state, fields, fields)
        if state["input_dtype"] != "string":
            _fail(f"column '{name}': `input_dtype` should be 'string'. Received: {state['input_dtype']!r}")
        out = {
            "mean": _number(name, "mean", state["mean"]),
            "std": _number(name, "std", state["std"], positive=True),
            "max_len": _max_len(spec, state["max_len"]),
            "input_dtype": "string",
        }
        return out
    if isinstance(spec, (NumericColumn, BucketizedColumn)):
        fields = {"mean", "std", "input_dtype"} if isinstance(spec, NumericColumn) else {"boundaries", "input_dtype"}
        _check_keys(where, state, fields, fields)
        if state["input_dtype"] != "float64":
            _fail(f"column '{name}': `input_dtype` should be 'float64'. Received: {state['input_dtype']!r}")
        if isinstance(spec, NumericColumn):
            return {
                "mean": _number(name, "mean", state["mean"]),
                "std": _number(name, "std", state["std"], positive=True),
                "input_dtype": "float64",
            }
        boundaries = _boundaries(name, state["boundaries"])
        if spec.boundaries is not None and boundaries != list(spec.boundaries):
            _fail(f"column '{name}': `boundaries` {boundaries} differ from the column's {list(spec.boundaries)}.")
        if spec.num_buckets is not None and len(boundaries) > spec.num_buckets - 1:
            _fail(f"column '{name}': {len(boundaries)} `boundaries` is too many for num_buckets={spec.num_buckets}.")
        return {"boundaries": boundaries, "input_dtype": "float64"}
    multi = isinstance(spec, MultiCategoricalColumn)
    fields = {"input_dtype"} | ({"max_len"} if multi else set()) | ({"vocabulary"} if spec.num_bins is None else set())
    _check_keys(where, state, fields, fields)
    out = dict(state)
    if spec.num_bins is None:
        out["vocabulary"] = _vocabulary(name, state["vocabulary"], spec.max_size)
    dtypes = ("string",) if multi else ("int64", "string")
    if state["input_dtype"] not in dtypes:
        _fail(f"column '{name}': `input_dtype` should be one of {list(dtypes)}. Received: {state['input_dtype']!r}")
    if state["input_dtype"] == "int64" and spec.num_bins is None:
        bad = next((k for k in out["vocabulary"] if not raw.is_int64_key(k)), None)
        if bad is not None:
            _fail(f"column '{name}': `input_dtype` is 'int64' but the vocabulary holds {bad!r}.")
    if multi:
        out["max_len"] = _max_len(spec, state["max_len"])
    return out


def _max_len(spec, value: Any) -> int:
    value = _count(spec.name, "max_len", value)
    if spec.max_len is not None and value != spec.max_len:
        _fail(f"column '{spec.name}': `max_len` {value} differs from the column's max_len={spec.max_len}.")
    return value


def _check_shared(columns, state: dict) -> None:
    """Columns that share a table were fitted one vocabulary: a file where they differ would give one value two ids."""
    for table, group in tables(columns).items():
        first = group[0]
        for column in group[1:]:
            if state[column.name].get("vocabulary") != state[first.name].get("vocabulary"):
                _fail(
                    f"column '{column.name}': `vocabulary` differs from that of column '{first.name}', with which it "
                    f"shares the table '{table}' (embedding_name): a raw value would get two ids."
                )


def read(config: Any) -> tuple[list, dict | None]:
    """Checks a saved encoder config (format 1 or 2) and returns its column specs and fitted state (or None).

    Raises:
        ValueError: naming the field (and column) that is missing, unknown or wrong.
    """
    if not isinstance(config, Mapping):
        _fail(f"expected a JSON object. Received: {type(config).__name__}")
    if _version(config) == 1:
        return _read_v1(config)
    _check_keys("the file", config, V2_KEYS - {"state"}, V2_KEYS)
    _check_id_layout(config, ID_LAYOUT)
    if not isinstance(config["columns"], list) or not all(isinstance(c, Mapping) for c in config["columns"]):
        _fail(f"`columns` should be a list of column objects. Received: {config['columns']!r:.120}")
    columns = [column_from_dict(c) for c in config["columns"]]
    check_tables(columns)
    if "state" not in config:
        return columns, None
    state = config["state"]
    names = [c.name for c in columns]
    _check_keys("`state`", state, set(names), set(names))
    checked = {c.name: check_state(c, state[c.name]) for c in columns}
    _check_shared(columns, checked)
    return columns, checked


def _names(config: Mapping, key: str) -> list[str]:
    value = config[key]
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        _fail(f"`{key}` should be a list of column names. Received: {value!r:.120}")
    return value


def _read_v1(config: Mapping) -> tuple[list, dict | None]:
    fitted = V1_FITTED & set(config)
    if fitted and fitted != V1_FITTED:
        _fail(f"a fitted version-1 file needs all of {sorted(V1_FITTED)}; it has only {sorted(fitted)}.")
    _check_keys("the version-1 file", config, V1_KEYS - V1_FITTED, V1_KEYS)
    _check_id_layout(config, ("pad_id", "oov_id"))
    multi = config["multi_categorical"]
    if not isinstance(multi, Mapping) or not all(isinstance(s, str) for s in multi.values()):
        _fail(f"`multi_categorical` should map column names to separators. Received: {multi!r:.120}")
    min_count, max_len = config["min_count"], config["max_len"]
    if not isinstance(max_len, Mapping):
        max_len = {c: max_len for c in multi}
    try:
        columns = [NumericColumn(n) for n in _names(config, "numeric")]
        columns += [CategoricalColumn(n, min_count=min_count) for n in _names(config, "categorical")]
        columns += [MultiCategoricalColumn(n, s, max_len.get(n), min_count) for n, s in multi.items()]
    except (TypeError, ValueError) as e:
        _fail(f"version-1 columns: {e}")
    if not fitted:
        return columns, None
    vocabularies, stats, max_lens = (config[k] for k in ("vocabularies", "numeric_stats", "max_lens"))
    categorical = [c.name for c in columns if not isinstance(c, NumericColumn)]
    _check_keys("`vocabularies`", vocabularies, set(categorical), set(categorical))
    _check_keys("`numeric_stats`", stats, set(_names(config, "numeric")), set(_names(config, "numeric")))
    _check_keys("`max_lens`", max_lens, set(multi), set(multi))
    state = {}
    for spec in columns:
        if isinstance(spec, NumericColumn):
            _check_keys(f"`numeric_stats` of column '{spec.name}'", stats[spec.name], {"mean", "std"}, {"mean", "std"})
            state[spec.name] = {**stats[spec.name], "input_dtype": "float64"}
            continue
        vocabulary = _vocabulary(spec.name, vocabularies[spec.name], None)
        if isinstance(spec, MultiCategoricalColumn):
            state[spec.name] = {"vocabulary": vocabulary, "max_len": max_lens[spec.name], "input_dtype": "string"}
        else:
            ints = bool(vocabulary) and all(raw.is_int64_key(k) for k in vocabulary)
            state[spec.name] = {"vocabulary": vocabulary, "input_dtype": "int64" if ints else "string"}
    return columns, {spec.name: check_state(spec, state[spec.name]) for spec in columns}
