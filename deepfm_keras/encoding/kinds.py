"""The registry of column kinds: kind name -> `Column` class, the one place that lists them.

`FeatureEncoder` takes a column of any registered kind and reads files that
name it; a new kind is one module (a `Column` subclass) and one row here, or
`register_column_kind(MyColumn)` from outside the package.

Example:

>>> sorted(COLUMN_KINDS)
['bucketized', 'categorical', 'multi_categorical', 'numeric', 'numeric_sequence']
>>> column_from_dict({"kind": "categorical", "name": "zip", "num_bins": 100}).num_bins
100
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
from deepfm_keras.encoding.column import GROUPS, Column
from deepfm_keras.encoding.numeric import BucketizedColumn, NumericColumn, NumericSequenceColumn

COLUMN_KINDS: dict[str, type[Column]] = {
    NumericColumn.kind: NumericColumn,
    CategoricalColumn.kind: CategoricalColumn,
    MultiCategoricalColumn.kind: MultiCategoricalColumn,
    BucketizedColumn.kind: BucketizedColumn,
    NumericSequenceColumn.kind: NumericSequenceColumn,
}


def register_column_kind(cls: type[Column]) -> type[Column]:
    """Adds a column kind to `COLUMN_KINDS` (usable as a class decorator); returns the class.

    Raises:
        ValueError: for a class that is not a frozen dataclass subclassing
            `Column`, a `group` not in `GROUPS`, or a `kind` already taken by
            another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Column) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"A column kind should be a dataclass subclassing `Column`. Received: {cls!r}")
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"`{cls.__name__}.kind` should be a non-empty string. Received: {kind!r}")
    if getattr(cls, "group", None) not in GROUPS:
        raise ValueError(f"`{cls.__name__}.group` should be one of {GROUPS}. Received: {getattr(cls, 'group', None)!r}")
    if COLUMN_KINDS.get(kind, cls) is not cls:
        raise ValueError(f"Column kind {kind!r} is taken by {COLUMN_KINDS[kind].__name__}.")
    COLUMN_KINDS[kind] = cls
    return cls


def column_from_dict(config: Mapping[str, Any]) -> Column:
    """Rebuilds a column from its `to_dict()` form, by its `kind`.

    Raises:
        ValueError: for an unknown `kind` or bad arguments, naming the column.
    """
    kind = config.get("kind")
    if kind not in COLUMN_KINDS:
        raise ValueError(f"Unknown column kind {kind!r} for column {config.get('name')!r}.")
    return COLUMN_KINDS[kind].from_dict(config)
