"""Numeric column kinds: `NumericColumn`, `BucketizedColumn` and `NumericSequenceColumn`, with their fitted state.

Example:

>>> import pandas as pd
>>> from deepfm_keras.encoding import FeatureEncoder
>>> table = pd.DataFrame({"x": [1.0, None, 3.0], "age": [3.0, 20.0, 70.0], "p": ["1|2", "", "3"]})
>>> enc = FeatureEncoder(
...     numeric=[NumericColumn("x", missing_indicator=True)],
...     categorical=[BucketizedColumn("age", boundaries=(18, 65))],
...     numeric_sequence=[NumericSequenceColumn("p", standardize=False)],
... ).fit(table)
>>> x = enc.transform(table)
>>> x["x"].tolist(), x["x_missing"].tolist(), x["age"].tolist(), x["p"].tolist()
([-1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [2, 3, 4], [[1.0, 2.0], [nan, nan], [3.0, nan]])
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.column import (
    Column,
    ColumnState,
    check_count,
    check_number,
    check_options,
    check_separator,
    config_error,
    read_max_len,
    read_number,
    state_fields,
)
from deepfm_keras.encoding.ids import FIRST_ID
from deepfm_keras.encoding.layers import Bucketize, NumericTransform
from deepfm_keras.encoding.moments import Moments, infinite, mean_std, moments
from deepfm_keras.encoding.number_lists import SplitNumbers, parse_column, raw_cells
from deepfm_keras.spec.features import NUMERIC_LIMIT, CategoricalFeature, NumericFeature, NumericSequenceFeature

MISSING_SUFFIX = "_missing"


@dataclasses.dataclass(frozen=True)
class NumericState(ColumnState):
    """What a `NumericColumn` learned: the `mean` and `std` it standardises with (0 and 1 when it does not)."""

    mean: float
    std: float
    input_dtype: str = "float64"


@dataclasses.dataclass(frozen=True)
class BucketState(ColumnState):
    """What a `BucketizedColumn` learned: its strictly increasing bucket `boundaries`."""

    boundaries: tuple[float, ...]
    input_dtype: str = "float64"


@dataclasses.dataclass(frozen=True)
class NumericSequenceState(ColumnState):
    """What a `NumericSequenceColumn` learned: `mean` and `std` over every element, and the row width `max_len`."""

    mean: float
    std: float
    max_len: int
    input_dtype: str = "string"


def _check_scaling(column) -> None:
    check_number(column.name, "clip_min", column.clip_min)
    check_number(column.name, "clip_max", column.clip_max)
    if column.clip_min is not None and column.clip_max is not None and column.clip_min > column.clip_max:
        raise ValueError(f"Column '{column.name}': `clip_min` should be <= `clip_max`.")


def _transform_layer(column, state, name: str) -> NumericTransform:
    return NumericTransform(
        mean=state.mean,
        std=state.std,
        log1p=column.log1p,
        clip_min=column.clip_min,
        clip_max=column.clip_max,
        name=name,
    )


@dataclasses.dataclass(frozen=True)
class NumericColumn(Column[NumericState]):
    """A numeric column: float64 raw values -> one float32 model input `(n,)`.

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
    kind = "numeric"
    group = "numeric"
    _later = {"embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)  # the feature spec's name rules
        _check_scaling(self)
        check_options(self)

    @property
    def derived_inputs(self) -> tuple[str, ...]:
        return (self.name + MISSING_SUFFIX,) if self.missing_indicator else ()

    def learn(self, data) -> NumericState:
        return self.learned_from_parts(self.learn_part(data))

    def learn_part(self, data) -> Moments:
        return moments(self, raw.numeric_values(data, self.name))

    def merge_parts(self, a: Moments, b: Moments) -> Moments:
        return a.merged(b)

    def learned_from_parts(self, part: Moments) -> NumericState:
        return NumericState(*mean_std(self, part))

    def learn_counts(self, counts, stats) -> NumericState:
        if self.standardize and stats is None:
            raise ValueError(f"Column '{self.name}' is standardised: give its `numeric_stats`.")
        stats = {"mean": 0.0, "std": 1.0} if stats is None else stats
        return NumericState(float(stats["mean"]), float(stats["std"]))

    def state_from_dict(self, state: Any) -> NumericState:
        state_fields(self, state, {"mean", "std", "input_dtype"}, "float64")
        return NumericState(read_number(self.name, "mean", state["mean"]), _read_std(self.name, state["std"]))

    def build_layers(self, state: NumericState, shared: dict) -> dict:
        return {self.name: _transform_layer(self, state, self.name)}

    def block_outputs(self, encoded, values) -> dict:
        out = {self.name: encoded}
        if self.missing_indicator:
            import tensorflow as tf

            missing = tf.cast(tf.math.is_nan(tf.cast(values, tf.float64)), tf.float32)
            out[self.name + MISSING_SUFFIX] = tf.reshape(missing, [-1, 1])
        return out

    def transform(self, layers, data) -> dict:
        import tensorflow as tf

        values = raw.numeric_values(data, self.name)
        if self.clip_min is None and self.clip_max is None and np.isinf(values).any():
            raise infinite(self.name)
        try:
            out = {self.name: layers[self.name](values).numpy()}
        except tf.errors.InvalidArgumentError:
            raise ValueError(f"Column '{self.name}' holds values beyond the float32 range once transformed.") from None
        if self.missing_indicator:
            out[self.name + MISSING_SUFFIX] = np.isnan(values).astype("float32")
        return out

    def raw_inputs(self, data, dtype=None) -> dict:
        return {self.name: raw.numeric_values(data, self.name)}

    def features(self, state) -> list:
        return [NumericFeature(self.name, self.embedding_dim)]

    def extra_features(self, state) -> list:
        return [NumericFeature(name) for name in self.derived_inputs]


def _read_std(column: str, value: Any) -> float:
    return read_number(column, "std", value, positive=True)


@dataclasses.dataclass(frozen=True)
class BucketizedColumn(Column[BucketState]):
    """A numeric column turned into a categorical id by buckets (NaN -> OOV id 1): int64 `(n,)`.

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
    kind = "bucketized"
    group = "categorical"
    _later = {"embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)
        if (self.boundaries is None) == (self.num_buckets is None):
            raise ValueError(f"Column '{self.name}': give exactly one of `boundaries` and `num_buckets`.")
        if self.boundaries is not None:
            for value in self.boundaries:
                check_number(self.name, "boundaries", value)
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
        check_count(self.name, "num_buckets", self.num_buckets, 2, optional=True)
        check_options(self)

    def learn_part(self, data) -> None:
        if self.boundaries is None:
            raise ValueError(
                f"Column '{self.name}' (bucketized with num_buckets={self.num_buckets}) cannot be fitted from chunks "
                "of the table: its boundaries are quantiles of every row. Give it `boundaries`, or fit it on a sample."
            )
        raw.numeric_values(data, self.name)  # a missing or non-numeric column fails here too
        return None

    def merge_parts(self, a: None, b: None) -> None:
        return None

    def learned_from_parts(self, part: None) -> BucketState:
        assert self.boundaries is not None
        return BucketState(self.boundaries)

    def learn(self, data) -> BucketState:
        values = raw.numeric_values(data, self.name)  # a missing or non-numeric column fails here, either way
        if self.boundaries is not None:
            return BucketState(self.boundaries)
        assert self.num_buckets is not None  # `__post_init__` takes exactly one of `boundaries` and `num_buckets`
        finite = values[np.isfinite(values)]
        cuts: np.ndarray | list[float] = (
            np.quantile(finite, np.linspace(0, 1, self.num_buckets + 1)[1:-1]) if finite.size else []
        )
        return BucketState(tuple(sorted({float(b) for b in cuts})))

    def state_from_dict(self, state: Any) -> BucketState:
        state_fields(self, state, {"boundaries", "input_dtype"}, "float64")
        value = state["boundaries"]
        if not isinstance(value, list):
            raise config_error(
                f"column '{self.name}': `boundaries` should be a list of numbers. Received: {value!r:.80}"
            )
        boundaries = [read_number(self.name, "boundaries", b) for b in value]
        if any(a >= b for a, b in zip(boundaries, boundaries[1:], strict=False)):
            raise config_error(
                f"column '{self.name}': `boundaries` should be strictly increasing. Received: {value!r:.200}"
            )
        if self.boundaries is not None and boundaries != list(self.boundaries):
            raise config_error(
                f"column '{self.name}': `boundaries` {boundaries} differ from the column's {list(self.boundaries)}."
            )
        if self.num_buckets is not None and len(boundaries) > self.num_buckets - 1:
            raise config_error(
                f"column '{self.name}': {len(boundaries)} `boundaries` is too many for num_buckets={self.num_buckets}."
            )
        return BucketState(tuple(boundaries))

    def build_layers(self, state: BucketState, shared: dict) -> dict:
        return {self.name: Bucketize(list(state.boundaries), name=self.name)}

    def transform(self, layers, data) -> dict:
        return {self.name: layers[self.name](raw.numeric_values(data, self.name)).numpy()}

    def raw_inputs(self, data, dtype=None) -> dict:
        return {self.name: raw.numeric_values(data, self.name)}

    def vocabulary_size(self, state: BucketState) -> int:
        return len(state.boundaries) + 1 + FIRST_ID

    def features(self, state) -> list:
        return [CategoricalFeature(self.name, self.vocabulary_size(state), embedding_dim=self.embedding_dim)]


@dataclasses.dataclass(frozen=True)
class NumericSequenceColumn(Column[NumericSequenceState]):
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
    kind = "numeric_sequence"
    group = "numeric_sequence"
    single_level = False

    def __post_init__(self):
        NumericFeature(self.name)
        check_separator(self)
        check_count(self.name, "max_len", self.max_len, 1, optional=True)
        _check_scaling(self)
        check_options(self)

    def learn(self, data) -> NumericSequenceState:
        return self.learned_from_parts(self.learn_part(data))

    def learn_part(self, data) -> tuple[Moments, int]:
        codes, _, lengths, values = parse_column(SplitNumbers(self.separator, max_len=1), data, self.name)
        rows = np.bincount(codes[codes >= 0], minlength=len(lengths))  # how many rows hold each distinct cell
        elements = np.repeat(values.flat_values.numpy(), np.repeat(rows, lengths))
        longest = int(lengths[rows > 0].max()) if (rows > 0).any() else 0
        return moments(self, elements), longest

    def merge_parts(self, a: tuple[Moments, int], b: tuple[Moments, int]) -> tuple[Moments, int]:
        return a[0].merged(b[0]), max(a[1], b[1])

    def learned_from_parts(self, part: tuple[Moments, int]) -> NumericSequenceState:
        values, longest = part
        max_len = self.max_len if self.max_len is not None else max(longest, 1)
        return NumericSequenceState(*mean_std(self, values), max_len)

    def state_from_dict(self, state: Any) -> NumericSequenceState:
        state_fields(self, state, {"mean", "std", "max_len", "input_dtype"}, "string")
        mean, std = read_number(self.name, "mean", state["mean"]), _read_std(self.name, state["std"])
        return NumericSequenceState(mean, std, read_max_len(self, state["max_len"]))

    def build_layers(self, state: NumericSequenceState, shared: dict) -> dict:
        split = SplitNumbers(self.separator, state.max_len, name=f"{self.name}_split")
        return {self.name: (split, _transform_layer(self, state, self.name))}

    def encode(self, layers, inputs) -> dict:
        return {self.name: _sequence(layers[self.name], self.raw(inputs, self.name))}

    def transform(self, layers, data) -> dict:
        import tensorflow as tf

        codes, keys, _, _ = parse_column(layers[self.name][0], data, self.name)  # a bad number: names the row
        try:
            table = _sequence(layers[self.name], raw.cells(keys)).numpy()
        except tf.errors.InvalidArgumentError:
            raise ValueError(
                f"Column '{self.name}' holds values beyond +-{NUMERIC_LIMIT:g} once transformed."
            ) from None
        return {self.name: table[codes]}

    def raw_inputs(self, data, dtype=None) -> dict:
        return {self.name: raw_cells(data, self.name, self.separator)}

    def features(self, state: NumericSequenceState) -> list:
        return [NumericSequenceFeature(self.name, state.max_len, self.combiner, self.embedding_dim)]


def _sequence(layers, values):
    """A numeric sequence's raw strings -> float32 `(batch, max_len)`: elements transformed, padding NaN."""
    import tensorflow as tf

    split, transform = layers
    parsed = split(values)  # float64, NaN padding
    return tf.where(tf.math.is_nan(parsed), tf.constant(float("nan"), tf.float32), transform(parsed))
