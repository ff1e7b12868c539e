"""Column specs of a `FeatureEncoder`: which raw column becomes which model input, and how.

Frozen dataclasses with plain fields and a JSON round trip (`to_dict` /
`column_from_dict`; options added since format 2 first shipped are written
only when set). A spec holds the options; the statistics learned from
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

from deepfm_keras.features import COMBINERS, NumericFeature


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


def _check_options(column, names=()) -> None:
    """Checks the options of the feature a column emits: `embedding_dim`, `combiner` and extra names."""
    _check_count(column.name, "embedding_dim", column.embedding_dim, 1, optional=True)
    combiner = getattr(column, "combiner", None)
    if combiner is not None and combiner not in COMBINERS:
        raise ValueError(f"Column '{column.name}': `combiner` should be one of {COMBINERS}. Received: {combiner!r}")
    for arg in names:
        value = getattr(column, arg)
        if value is None:
            continue
        try:
            NumericFeature(value)  # the feature spec's name rules: it becomes a model input or table name
        except ValueError:
            raise ValueError(
                f"Column '{column.name}': `{arg}` should be None or a name of ASCII letters, digits, '_', '.' or "
                f"'-' that starts with a letter. Received: {arg}={value!r}"
            ) from None


class _Column:
    kind: ClassVar[str]
    # Options added after format 2 was first written: saved only when set, so a file that uses none of them is
    # the file earlier versions wrote (and read).
    _later: ClassVar[dict] = {}

    def to_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        for key, value in list(fields.items()):
            if key in self._later and value == self._later[key]:
                del fields[key]
            elif isinstance(value, tuple):
                fields[key] = list(value)
        return {"kind": self.kind, **fields}


def _check_scaling(column) -> None:
    _check_number(column.name, "clip_min", column.clip_min)
    _check_number(column.name, "clip_max", column.clip_max)
    if column.clip_min is not None and column.clip_max is not None and column.clip_min > column.clip_max:
        raise ValueError(f"Column '{column.name}': `clip_min` should be <= `clip_max`.")


def _check_separator(column) -> None:
    if not isinstance(column.separator, str) or not column.separator:
        raise ValueError(
            f"The separator of {column.kind.replace('_', '-')} column '{column.name}' should be a non-empty string. "
            f"Received: {column.separator!r}"
        )


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
            value is missing (NaN), so "missing" and "0" stay distinct (that
            feature takes the model's common embedding size).
        embedding_dim: the feature's own embedding size (None: the model's).

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
    embedding_dim: int | None = None
    kind: ClassVar[str] = "numeric"
    _later: ClassVar[dict] = {"embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)  # the feature spec's name rules
        _check_scaling(self)
        _check_options(self)


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
        embedding_name: the table the feature looks up (None: its own name).
            Columns with the same table share one vocabulary, fitted over all
            their values together (a `movie_id` column and a history of movie
            ids with `embedding_name="movie_id"`), so a raw value has one id
            in all of them; they must agree on `min_count`, `max_size`,
            `num_bins` and `embedding_dim`.
        embedding_dim: the feature's own embedding size (None: the model's).

    Example:

    >>> CategoricalColumn("zip", min_count=5, max_size=10_000).num_bins is None
    True
    """

    name: str
    min_count: int = 1
    max_size: int | None = None
    num_bins: int | None = None
    embedding_name: str | None = None
    embedding_dim: int | None = None
    kind: ClassVar[str] = "categorical"
    _later: ClassVar[dict] = {"embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)
        _check_count(self.name, "min_count", self.min_count, 1)
        _check_count(self.name, "max_size", self.max_size, 1, optional=True)
        _check_count(self.name, "num_bins", self.num_bins, 1, optional=True)
        _check_options(self, ("embedding_name",))

    @property
    def table(self) -> str:
        """The table the feature looks up: `embedding_name`, else the column's name."""
        return self.embedding_name or self.name


@dataclasses.dataclass(frozen=True)
class MultiCategoricalColumn(_Column):
    """A multi-level column: a string of `separator`-joined values (or a list) -> an int64 id list.

    With `weight_column`, a second raw column holds one weight per value, as
    numbers joined by the same separator (ids `"a|b|c"`, weights
    `"0.5|1|2"`; or a list of numbers; a single number for a one-id row).
    Both are split the same way (tokens stripped of spaces, empty tokens
    dropped), so the `i`-th weight belongs to the `i`-th id; both are cut to
    `max_len` together. The encoder emits the weights as the model input
    named `weight_column`, float32 `(n, max_len)`, 0 at padding. Weights are
    taken as they are (no scaling); a row whose weight list is longer or
    shorter than its id list, or a weight that is not a decimal number
    (`nan`, `inf`, `"1,5"`) or lies beyond +-1e15, is an error.

    Args:
        name: column name, also the model input name.
        separator: the separator of the raw strings.
        max_len: ids kept per row (None: the longest list seen at fit time).
        min_count: vocabulary mode: minimum number of occurrences of a value.
        max_size: vocabulary mode: keep at most this many values.
        num_bins: hashing mode: number of buckets.
        combiner: how the model pools the list: `"mean"`, `"sum"` or `"max"`.
        weight_column: the raw column of the weights (None: unweighted).
        embedding_name: the table the feature looks up (None: its own name);
            see `CategoricalColumn`.
        embedding_dim: the feature's own embedding size (None: the model's).

    Example:

    >>> MultiCategoricalColumn("genres", separator="|", max_len=6).max_len
    6
    >>> MultiCategoricalColumn("history", weight_column="ratings", embedding_name="movie_id").table
    'movie_id'
    """

    name: str
    separator: str = "|"
    max_len: int | None = None
    min_count: int = 1
    max_size: int | None = None
    num_bins: int | None = None
    combiner: str = "mean"
    weight_column: str | None = None
    embedding_name: str | None = None
    embedding_dim: int | None = None
    kind: ClassVar[str] = "multi_categorical"
    _later: ClassVar[dict] = {"combiner": "mean", "weight_column": None, "embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)
        _check_separator(self)
        _check_count(self.name, "max_len", self.max_len, 1, optional=True)
        _check_count(self.name, "min_count", self.min_count, 1)
        _check_count(self.name, "max_size", self.max_size, 1, optional=True)
        _check_count(self.name, "num_bins", self.num_bins, 1, optional=True)
        _check_options(self, ("weight_column", "embedding_name"))
        if self.weight_column == self.name:
            raise ValueError(f"Column '{self.name}': `weight_column` should name another column.")

    @property
    def table(self) -> str:
        """The table the feature looks up: `embedding_name`, else the column's name."""
        return self.embedding_name or self.name


@dataclasses.dataclass(frozen=True)
class BucketizedColumn(_Column):
    """A numeric column turned into a categorical id by buckets (NaN -> OOV id 1).

    Give the bucket `boundaries`, or `num_buckets` to learn quantile
    boundaries at fit time (fewer when values repeat).

    Args:
        name: column name, also the model input name.
        boundaries: strictly increasing numbers (None: learn them).
        num_buckets: number of quantile buckets to learn, at least 2.
        embedding_dim: the feature's own embedding size (None: the model's).

    Example:

    >>> BucketizedColumn("age", boundaries=(18, 25, 35, 45, 56)).boundaries
    (18.0, 25.0, 35.0, 45.0, 56.0)
    """

    name: str
    boundaries: tuple[float, ...] | None = None
    num_buckets: int | None = None
    embedding_dim: int | None = None
    kind: ClassVar[str] = "bucketized"
    _later: ClassVar[dict] = {"embedding_dim": None}

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
        _check_options(self)


@dataclasses.dataclass(frozen=True)
class NumericSequenceColumn(_Column):
    """A list of numbers per row: a string of `separator`-joined numbers (or a list) -> float32 `(n, max_len)`.

    Tokens are split and stripped as in `MultiCategoricalColumn` (empty ones
    dropped); each must be a decimal number (`3`, `-0.5`, `2.5e-3`; not
    `nan`, `inf` or `"1,5"`) with a finite float64 value. Every element is
    clipped, log-transformed and standardised as a `NumericColumn` value is,
    with the mean and std of all the elements seen at fit time; the row is cut
    to `max_len` and padded with NaN (the padding marker of a
    `NumericSequenceFeature`). A missing cell or `""` is an empty list.

    Args:
        name: column name, also the model input name.
        separator: the separator of the raw strings.
        max_len: values kept per row (None: the longest list seen at fit time).
        log1p: apply `sign(x) * log(1 + |x|)` to each element (after clipping).
        clip_min: clip elements below this (None: no bound).
        clip_max: clip elements above this (None: no bound).
        standardize: subtract the fit mean and divide by the fit std.
        combiner: how the model pools the list: `"mean"`, `"sum"` or `"max"`.
        embedding_dim: the feature's own embedding size (None: the model's).

    Example:

    >>> NumericSequenceColumn("prices", max_len=10, log1p=True).kind
    'numeric_sequence'
    """

    name: str
    separator: str = "|"
    max_len: int | None = None
    log1p: bool = False
    clip_min: float | None = None
    clip_max: float | None = None
    standardize: bool = True
    combiner: str = "mean"
    embedding_dim: int | None = None
    kind: ClassVar[str] = "numeric_sequence"

    def __post_init__(self):
        NumericFeature(self.name)
        _check_separator(self)
        _check_count(self.name, "max_len", self.max_len, 1, optional=True)
        _check_scaling(self)
        _check_options(self)


Column = NumericColumn | CategoricalColumn | MultiCategoricalColumn | BucketizedColumn | NumericSequenceColumn
COLUMN_TYPES = {
    cls.kind: cls
    for cls in (NumericColumn, CategoricalColumn, MultiCategoricalColumn, BucketizedColumn, NumericSequenceColumn)
}


def tables(columns) -> dict[str, list]:
    """The (multi-)categorical columns by the table they look up, in column order.

    >>> shared = tables([CategoricalColumn("movie_id"), MultiCategoricalColumn("history", embedding_name="movie_id")])
    >>> {table: [c.name for c in group] for table, group in shared.items()}
    {'movie_id': ['movie_id', 'history']}
    """
    out: dict[str, list] = {}
    for column in columns:
        if isinstance(column, (CategoricalColumn, MultiCategoricalColumn)):
            out.setdefault(column.table, []).append(column)
    return out


def check_tables(columns) -> None:
    """Columns that share a table agree on what makes its ids: vocabulary options, hashing, embedding size.

    Raises:
        ValueError: naming the columns and the option, or a table named after
            a column that has none of its own to share (numeric, bucketised).
    """
    by_name = {c.name: c for c in columns}
    for table, group in tables(columns).items():
        owner = by_name.get(table)
        if owner is not None and not isinstance(owner, (CategoricalColumn, MultiCategoricalColumn)):
            raise ValueError(
                f"Column '{group[0].name}': embedding_name='{table}' names a {owner.kind} column, whose ids (if any) "
                "are not a vocabulary to share. Share tables between categorical and multi-categorical columns."
            )
        first = group[0]
        for column in group[1:]:
            for arg in ("num_bins", "min_count", "max_size", "embedding_dim"):
                if getattr(first, arg) != getattr(column, arg):
                    raise ValueError(
                        f"Columns '{first.name}' and '{column.name}' share the table '{table}' (embedding_name) but "
                        f"differ in `{arg}` ({getattr(first, arg)!r} vs {getattr(column, arg)!r}): a shared table has "
                        "one vocabulary (or one hashing) and one embedding size."
                    )


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
