"""Column specs of a `FeatureEncoder`: which raw column becomes which model input, and how.

Frozen dataclasses with plain fields and a JSON round trip (`to_dict` /
`column_from_dict`). A spec holds the options; the statistics learned from
data (vocabularies, means, boundaries) live in the fitted encoder.

Example:

>>> column = CategoricalColumn("site_id", num_bins=1_000_000)
>>> column_from_dict(column.to_dict()) == column
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from deepfm_keras.features import NumericFeature


def _check_count(column: str, arg: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Column '{column}': `{arg}` should be an integer >= {minimum}. Received: {arg}={value!r}")


def _check_number(column: str, arg: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"Column '{column}': `{arg}` should be a number or None. Received: {arg}={value!r}")


class _Column:
    kind: ClassVar[str]

    def to_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        for key, value in fields.items():
            if isinstance(value, tuple):
                fields[key] = list(value)
        return {"kind": self.kind, **fields}


@dataclasses.dataclass(frozen=True)
class NumericColumn(_Column):
    """A numeric column: float64 raw values -> one float32 model input.

    Args:
        name: column name, also the model input name.
        log1p: apply `sign(x) * log(1 + |x|)` (after clipping).
        clip_min: clip raw values below this (None: no bound).
        clip_max: clip raw values above this (None: no bound).
        standardize: subtract the fit mean and divide by the fit standard
            deviation (of the clipped, log-transformed values).
        missing_indicator: also emit `<name>_missing`, 1.0 where the raw
            value is missing (NaN), so "missing" and "0" stay distinct.

    Example:

    >>> NumericColumn("I1", log1p=True, standardize=False).kind
    'numeric'
    """

    name: str
    log1p: bool = False
    clip_min: float | None = None
    clip_max: float | None = None
    standardize: bool = True
    missing_indicator: bool = False
    kind: ClassVar[str] = "numeric"

    def __post_init__(self):
        NumericFeature(self.name)  # the feature spec's name rules
        _check_number(self.name, "clip_min", self.clip_min)
        _check_number(self.name, "clip_max", self.clip_max)
        if self.clip_min is not None and self.clip_max is not None and self.clip_min > self.clip_max:
            raise ValueError(f"Column '{self.name}': `clip_min` should be <= `clip_max`.")


@dataclasses.dataclass(frozen=True)
class CategoricalColumn(_Column):
    """A single-level categorical column: one raw value per row -> one int64 id.

    With `num_bins`, values are hashed into that many buckets (no vocabulary
    pass; ids `2 .. num_bins + 1`). Otherwise a vocabulary is learned: values
    seen at least `min_count` times, the `max_size` most frequent of them.

    Args:
        name: column name, also the model input name.
        min_count: vocabulary mode: minimum number of occurrences.
        max_size: vocabulary mode: keep at most this many values (None: all).
        num_bins: hashing mode: number of buckets (None: vocabulary mode).

    Example:

    >>> CategoricalColumn("zip", min_count=5, max_size=10_000).num_bins is None
    True
    """

    name: str
    min_count: int = 1
    max_size: int | None = None
    num_bins: int | None = None
    kind: ClassVar[str] = "categorical"

    def __post_init__(self):
        NumericFeature(self.name)
        _check_count(self.name, "min_count", self.min_count, 1)
        _check_count(self.name, "max_size", self.max_size, 1, optional=True)
        _check_count(self.name, "num_bins", self.num_bins, 1, optional=True)


@dataclasses.dataclass(frozen=True)
class MultiCategoricalColumn(_Column):
    """A multi-level column: a string of `separator`-joined values (or a list) -> an int64 id list.

    Args:
        name: column name, also the model input name.
        separator: the separator of the raw strings.
        max_len: ids kept per row (None: the longest list seen at fit time).
        min_count: vocabulary mode: minimum number of occurrences of a value.
        max_size: vocabulary mode: keep at most this many values.
        num_bins: hashing mode: number of buckets.

    Example:

    >>> MultiCategoricalColumn("genres", separator="|", max_len=6).max_len
    6
    """

    name: str
    separator: str = "|"
    max_len: int | None = None
    min_count: int = 1
    max_size: int | None = None
    num_bins: int | None = None
    kind: ClassVar[str] = "multi_categorical"

    def __post_init__(self):
        NumericFeature(self.name)
        if not isinstance(self.separator, str) or not self.separator:
            raise ValueError(
                f"The separator of multi-categorical column '{self.name}' should be a non-empty string. "
                f"Received: {self.separator!r}"
            )
        _check_count(self.name, "max_len", self.max_len, 1, optional=True)
        _check_count(self.name, "min_count", self.min_count, 1)
        _check_count(self.name, "max_size", self.max_size, 1, optional=True)
        _check_count(self.name, "num_bins", self.num_bins, 1, optional=True)


@dataclasses.dataclass(frozen=True)
class BucketizedColumn(_Column):
    """A numeric column turned into a categorical id by buckets (NaN -> OOV id 1).

    Give the bucket `boundaries`, or `num_buckets` to learn quantile
    boundaries at fit time (fewer when values repeat).

    Args:
        name: column name, also the model input name.
        boundaries: strictly increasing numbers (None: learn them).
        num_buckets: number of quantile buckets to learn, at least 2.

    Example:

    >>> BucketizedColumn("age", boundaries=(18, 25, 35, 45, 56)).boundaries
    (18.0, 25.0, 35.0, 45.0, 56.0)
    """

    name: str
    boundaries: tuple[float, ...] | None = None
    num_buckets: int | None = None
    kind: ClassVar[str] = "bucketized"

    def __post_init__(self):
        NumericFeature(self.name)
        if (self.boundaries is None) == (self.num_buckets is None):
            raise ValueError(f"Column '{self.name}': give exactly one of `boundaries` and `num_buckets`.")
        if self.boundaries is not None:
            for value in self.boundaries:
                _check_number(self.name, "boundaries", value)
            values = tuple(float(b) for b in self.boundaries)
            if (
                not values
                or any(not math.isfinite(b) for b in values)
                or any(a >= b for a, b in zip(values, values[1:], strict=False))
            ):
                raise ValueError(
                    f"Column '{self.name}': `boundaries` should be strictly increasing finite numbers. "
                    f"Received: {self.boundaries!r}"
                )
            object.__setattr__(self, "boundaries", values)
        _check_count(self.name, "num_buckets", self.num_buckets, 2, optional=True)


Column = NumericColumn | CategoricalColumn | MultiCategoricalColumn | BucketizedColumn
COLUMN_TYPES = {cls.kind: cls for cls in (NumericColumn, CategoricalColumn, MultiCategoricalColumn, BucketizedColumn)}


def column_from_dict(config: Mapping[str, Any]) -> Column:
    """Rebuilds a column spec from its `to_dict()` form.

    Raises:
        ValueError: for an unknown `kind` or bad arguments, naming the column.
    """
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in COLUMN_TYPES:
        raise ValueError(f"Unknown column kind {kind!r} for column {config.get('name')!r}.")
    if isinstance(config.get("boundaries"), list):
        config["boundaries"] = tuple(config["boundaries"])
    try:
        return COLUMN_TYPES[kind](**config)
    except TypeError as e:
        raise ValueError(f"Bad arguments for {kind} column {config.get('name')!r}: {e}") from None
