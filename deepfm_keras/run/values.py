"""The checks of a run config's values: one small function per kind of value, each naming the key when it refuses.

A check takes `(key, value, base)` (`base`: the folder relative paths are
taken from, or None) and returns the value as the config keeps it, or raises
`ConfigError` with the dotted key and the value. `deepfm_keras.run.config`
attaches one check to each field of its dataclasses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Check = Callable[[str, Any, "Path | None"], Any]


class ConfigError(ValueError):
    """A run configuration that cannot be run: names the key and the value."""


def fail(key: str, value, should: str):
    raise ConfigError(f"`{key}` should be {should}. Received: {key}={value!r}")


def integer(low: int | None = None, *, optional: bool = False) -> Check:
    def check(key, value, base=None):
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, value, "an integer")
        if low is not None and value < low:
            fail(key, value, f"an integer >= {low}")
        return value

    return check


def number(low=None, high=None, *, low_open: bool = False, optional: bool = False) -> Check:
    def check(key, value, base=None):
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(key, value, "a finite number")
        value = float(value)
        if low is not None and (value <= low if low_open else value < low):
            bound = f"a number {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
            fail(key, value, bound)
        if high is not None and value > high:
            fail(key, value, f"a number <= {high}")
        return value

    return check


def string(choices=None, *, optional: bool = False) -> Check:
    def check(key, value, base=None):
        if optional and value is None:
            return None
        if not isinstance(value, str):
            fail(key, value, "a string")
        if choices is not None and value not in choices:
            fail(key, value, f"one of {list(choices)}")
        return value

    return check


def boolean(key, value, base=None):
    if not isinstance(value, bool):
        fail(key, value, "true or false")
    return value


def label_value(key, value, base=None):
    """A label value: a string or a number (the positive value of a two-valued label)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        fail(key, value, "a label value (a string or a number)")
    return value


def paths(key, value, base: Path | None) -> tuple[str, ...]:
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in items):
        fail(key, value, "a path or a list of paths")
    out = []
    for p in items:
        p = os.path.expanduser(os.fspath(p))
        if base is not None and not os.path.isabs(p):
            p = os.fspath(base / p)
        out.append(p)
    return tuple(out)


def path(key, value, base: Path | None) -> str:
    if not isinstance(value, (str, os.PathLike)):
        fail(key, value, "a path")
    return paths(key, value, base)[0]


def columns(key, value, base=None):
    """A list of column names or option tables (`{name = "ad", num_bins = 64}`)."""
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)) or not isinstance(value, (list, tuple)):
        fail(key, value, "a list of column names or option tables")
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            if not isinstance(item.get("name"), str):
                fail(f"{key}[{i}].name", item.get("name"), "a column name")
        elif not isinstance(item, str):
            fail(f"{key}[{i}]", item, "a column name or an option table")
    return tuple(dict(item) if isinstance(item, Mapping) else item for item in value)


def list_columns(key, value, base=None):
    """`{column: separator or option table}` or a list of names / option tables (the options are checked later)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return columns(key, value)
    out = {}
    for col, options in value.items():
        if isinstance(options, Mapping):
            if "name" in options:
                fail(f"{key}.{col}.name", options["name"], "left out: the key of the table is the column's name")
            if "separator" in options and (not isinstance(options["separator"], str) or not options["separator"]):
                fail(f"{key}.{col}.separator", options["separator"], "a non-empty separator string")
            out[col] = dict(options)
        elif not isinstance(options, str) or not options:
            fail(f"{key}.{col}", options, "a non-empty separator string or a table of options")
        else:
            out[col] = options
    return out


def class_weight(key: str, value, base=None) -> dict | None:
    """`{0 = w0, 1 = w1}` (TOML keys are strings) -> `{0: w0, 1: w1}`, checked by `validation.check_class_weight`."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or sorted(str(x) for x in value) != ["0", "1"]:
        raise ConfigError(
            f"`{key}` should be a table with keys 0 and 1, e.g. {{ 0 = 10.0, 1 = 1.0 }}. Received: {value!r}"
        )
    from deepfm_keras.validation import check_class_weight

    try:
        return check_class_weight({int(label): weight for label, weight in value.items()})
    except ValueError as error:  # "`class_weight[0]` should be ..." -> "`data.class_weight.0` should be ..."
        raise ConfigError(
            str(error).replace("`class_weight[0]`", f"`{key}.0`").replace("`class_weight[1]`", f"`{key}.1`")
        ) from None


def classes(key, value, base=None) -> tuple:
    if value is None:
        return ()
    if (
        not isinstance(value, (list, tuple))
        or len(value) < 2
        or any(isinstance(c, bool) or not isinstance(c, (int, float, str)) for c in value)
    ):
        fail(key, value, "a list of at least two label values (numbers or strings)")
    if len({str(c) for c in value}) != len(value):
        fail(key, value, "a list without repeats")
    return tuple(value)


def int_list(key, value, base=None) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        fail(key, value, "a list of positive integers (empty: no MLP layers)")
    return tuple(integer(1)(f"{key}[{i}]", u) for i, u in enumerate(value))


def distinct_names(allowed) -> Check:
    def check(key, value, base=None):
        if not isinstance(value, (list, tuple)) or not value or any(p not in allowed for p in value):
            fail(key, value, f"a non-empty list of {list(allowed)}")
        if len(set(value)) != len(value):
            fail(key, value, "a list without repeats")
        return tuple(value)

    return check
