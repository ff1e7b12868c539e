"""The encoder file (`encoder.json`): its one writer (`config`, `write`) and its one reader (`read`, `load`).

An encoder file decides which id every raw value gets, so a file that was
truncated, edited or written by something else is refused with an error
naming the column and the field, never loaded into a model that then scores
the wrong ids.

Format 2 (written today): `format_version`, the id layout (`pad_id`,
`oov_id`, `first_id`), `columns` (each column's `to_dict()`: its `kind` and
options) and, when fitted, `state` (column name -> its `ColumnState` as
JSON). Options added to format 2 later (`combiner`, `weight_column`,
`embedding_name`, `embedding_dim`, numeric sequence columns) are written only
when set, so a file that uses none of them is the file earlier versions wrote.

Format 1 (deepfm_keras before the `encoding` package: `numeric`,
`categorical`, `multi_categorical` name lists, `vocabularies`,
`numeric_stats`, `max_lens`) is read with the same checks and converted.

Checked on reading: the format version (required: every file deepfm_keras
wrote has one), the id layout, no unknown or missing keys, the columns'
options, and each column's fitted state by its own kind (a finite `mean`, a
positive `std`, a vocabulary of distinct non-empty strings, `max_len` >= 1,
strictly increasing boundaries, a servable `input_dtype`), and one vocabulary
for the columns that share a table.

Example:

>>> from deepfm_keras.encoding import CategoricalColumn
>>> saved = config([CategoricalColumn("zip", num_bins=10)], {"zip": {"input_dtype": "string"}})
>>> columns, state = read(saved)
>>> columns[0].num_bins, state["zip"].vocabulary
(10, None)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
from deepfm_keras.encoding.column import Column, ColumnState, check_keys, check_tables, config_error, tables
from deepfm_keras.encoding.ids import FIRST_ID, OOV_ID, PAD_ID
from deepfm_keras.encoding.kinds import column_from_dict
from deepfm_keras.encoding.numeric import NumericColumn

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
T = TypeVar("T")


def config(columns: Sequence[Column], state: Mapping[str, Mapping] | None = None) -> dict:
    """The JSON object of an encoder file (format 2).

    Args:
        columns: the column specs, in order.
        state: column name -> its fitted state as JSON (`ColumnState.to_dict()`),
            or None for an unfitted encoder.
    """
    out = {"format_version": FORMAT_VERSION, **ID_LAYOUT, "columns": [c.to_dict() for c in columns]}
    if state is not None:
        out["state"] = {name: dict(s) for name, s in state.items()}
    return out


def read(config: Any) -> tuple[list[Column], dict[str, ColumnState] | None]:
    """Checks an encoder file's JSON object (format 1 or 2); returns its columns and fitted state (None: unfitted).

    Raises:
        ValueError: naming the field (and column) that is missing, unknown or wrong.
    """
    if not isinstance(config, Mapping):
        raise config_error(f"expected a JSON object. Received: {type(config).__name__}")
    if _version(config) == 1:
        return _read_v1(config)
    check_keys("the file", config, V2_KEYS - {"state"}, V2_KEYS)
    _check_id_layout(config, ID_LAYOUT)
    if not isinstance(config["columns"], list) or not all(isinstance(c, Mapping) for c in config["columns"]):
        raise config_error(f"`columns` should be a list of column objects. Received: {config['columns']!r:.120}")
    columns = [column_from_dict(c) for c in config["columns"]]
    check_tables(columns)
    if "state" not in config:
        return columns, None
    names = {c.name for c in columns}
    check_keys("`state`", config["state"], names, names)
    return columns, _states(columns, {c.name: config["state"][c.name] for c in columns})


def write(path: str | os.PathLike, config: Mapping) -> None:
    """Writes an encoder file's JSON object (UTF-8, one-space indent), atomically: a crash leaves the previous file."""
    from deepfm_keras.io import atomic_write

    with atomic_write(path) as f:
        json.dump(config, f, indent=1)
        f.write("\n")


def load(path: str | os.PathLike, build: Callable[[Mapping], T]) -> T:
    """Reads an encoder file and returns `build(its JSON object)`; a bad file raises a ValueError naming the path."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        config = json.loads(text)
        if not isinstance(config, dict):
            raise ValueError(f"expected a JSON object, found {type(config).__name__}")
        return build(config)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"{os.fspath(path)} is not a valid FeatureEncoder file: {e!r}") from e


def _states(columns: Sequence[Column], state: Mapping[str, Any]) -> dict[str, ColumnState]:
    """Each column's state read by its kind; columns sharing a table checked to agree."""
    checked = {c.name: c.state_from_dict(state[c.name]) for c in columns}
    for group in tables(columns).values():
        type(group[0]).check_table_states(group, [checked[c.name] for c in group])
    return checked


def _version(config: Mapping) -> int:
    if "format_version" not in config:
        raise config_error(
            "missing `format_version` (every file deepfm_keras writes has one: 1 or 2). "
            f"Keys found: {sorted(config, key=str)}"
        )
    version = config["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version not in (1, FORMAT_VERSION):
        raise config_error(
            f"unsupported `format_version` {version!r}; this version of deepfm_keras reads 1 and {FORMAT_VERSION}."
        )
    return version


def _check_id_layout(config: Mapping, keys) -> None:
    for key in keys:
        if config[key] != ID_LAYOUT[key] or isinstance(config[key], bool):
            raise config_error(
                f"`{key}` is {config[key]!r}, but this version of deepfm_keras uses {key}={ID_LAYOUT[key]}: "
                "ids would not mean what the model learned."
            )


def _names(config: Mapping, key: str) -> list[str]:
    value = config[key]
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise config_error(f"`{key}` should be a list of column names. Received: {value!r:.120}")
    return value


def _read_v1(config: Mapping) -> tuple[list[Column], dict[str, ColumnState] | None]:
    """A format-1 file: three name lists and their fitted state, as the format-2 columns and states they mean."""
    fitted = V1_FITTED & set(config)
    if fitted and fitted != V1_FITTED:
        raise config_error(f"a fitted version-1 file needs all of {sorted(V1_FITTED)}; it has only {sorted(fitted)}.")
    check_keys("the version-1 file", config, V1_KEYS - V1_FITTED, V1_KEYS)
    _check_id_layout(config, ("pad_id", "oov_id"))
    multi = config["multi_categorical"]
    if not isinstance(multi, Mapping) or not all(isinstance(s, str) for s in multi.values()):
        raise config_error(f"`multi_categorical` should map column names to separators. Received: {multi!r:.120}")
    min_count, max_len = config["min_count"], config["max_len"]
    if not isinstance(max_len, Mapping):
        max_len = {c: max_len for c in multi}
    numeric, categorical = _names(config, "numeric"), _names(config, "categorical")
    try:
        columns: list[Column] = [NumericColumn(n) for n in numeric]
        columns += [CategoricalColumn(n, min_count=min_count) for n in categorical]
        columns += [MultiCategoricalColumn(n, s, max_len.get(n), min_count) for n, s in multi.items()]
    except (TypeError, ValueError) as e:
        raise config_error(f"version-1 columns: {e}") from None
    if not fitted:
        return columns, None
    vocabularies, stats, max_lens = (config[k] for k in ("vocabularies", "numeric_stats", "max_lens"))
    check_keys("`vocabularies`", vocabularies, {*categorical, *multi}, {*categorical, *multi})
    check_keys("`numeric_stats`", stats, set(numeric), set(numeric))
    check_keys("`max_lens`", max_lens, set(multi), set(multi))
    state = {}
    for name in numeric:
        check_keys(f"`numeric_stats` of column '{name}'", stats[name], {"mean", "std"}, {"mean", "std"})
        state[name] = {**stats[name], "input_dtype": "float64"}
    for name in categorical:  # served as int64 when every key is an integer, as format 1 did
        keys = vocabularies[name]
        ints = isinstance(keys, list) and bool(keys) and all(isinstance(k, str) and raw.is_int64_key(k) for k in keys)
        state[name] = {"vocabulary": keys, "input_dtype": "int64" if ints else "string"}
    for name in multi:
        state[name] = {"vocabulary": vocabularies[name], "max_len": max_lens[name], "input_dtype": "string"}
    return columns, _states(columns, state)
