"""Categorical column kinds: `CategoricalColumn` (one id per row) and `MultiCategoricalColumn` (an id list).

Both map raw values to ids with a learned vocabulary (key `i` -> id `i + 2`,
most frequent first, ties by key) or by hashing (`num_bins`); unseen, rare,
missing and empty values get the OOV id 1. Columns with the same table
(`embedding_name`) share one vocabulary, learned from their counts summed.

Example:

>>> import pandas as pd
>>> from deepfm_keras.encoding import FeatureEncoder
>>> table = pd.DataFrame({"movie": [3, 7, 7], "history": ["7|3", "7", None]})
>>> enc = FeatureEncoder(
...     categorical=["movie"],
...     multi_categorical=[MultiCategoricalColumn("history", embedding_name="movie")],
... ).fit(table)
>>> enc.vocabularies["movie"], enc.transform(table)["history"].tolist()
(['7', '3'], [[2, 3], [2, 0], [0, 0]])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.column import ColumnState, check_count, check_options, check_separator, read_max_len
from deepfm_keras.encoding.ids import PAD_ID
from deepfm_keras.encoding.layers import SplitTokens
from deepfm_keras.encoding.number_lists import SplitNumbers, parse_column, raw_cells, split_weights
from deepfm_keras.encoding.vocabulary import IdColumn, KeyCounts, check_id_options
from deepfm_keras.spec.features import NUMERIC_LIMIT, CategoricalFeature, MultiCategoricalFeature, NumericFeature


def _key_dtype(present: list) -> str:
    """A categorical column's raw dtype from its present keys: int64 when there are some and all are integers."""
    return "int64" if present and all(raw.is_int64_key(k) for k in present) else "string"


@dataclasses.dataclass(frozen=True)
class CategoricalState(ColumnState):
    """What a `CategoricalColumn` learned: its raw dtype ("int64" or "string") and `vocabulary` (None: hashed)."""

    input_dtype: str
    vocabulary: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class MultiCategoricalState(ColumnState):
    """What a `MultiCategoricalColumn` learned: the list width `max_len` and `vocabulary` (None: hashed)."""

    max_len: int
    input_dtype: str = "string"
    vocabulary: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class CategoricalColumn(IdColumn[CategoricalState]):
    """A single-level categorical column: one raw value per row -> one int64 id `(n,)`.

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
    kind = "categorical"
    group = "categorical"
    _later = {"embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)
        check_id_options(self)
        check_options(self, ("embedding_name",))

    def _counted(self, keys, counts) -> KeyCounts:
        present = [k for k, n in zip(keys, counts, strict=True) if k is not None and n > 0]
        return KeyCounts(CategoricalState(_key_dtype(present)), keys, counts)

    def _merged_state(self, a, b, keys: list) -> CategoricalState:
        return CategoricalState(_key_dtype(keys))  # the rule of `_counted`, on both chunks' present keys

    def learn_counts(self, counts, stats) -> KeyCounts:
        if self.num_bins is None and counts is None:
            raise ValueError(f"Column '{self.name}' has a vocabulary: give its `counts`.")
        counts = dict(counts or {})
        return self._counted([str(k) for k in counts], np.array(list(counts.values()), "int64"))

    def serve_as(self, state: CategoricalState, dtype: str) -> CategoricalState:
        if dtype not in ("int64", "string") or (dtype == "int64" and state.input_dtype != "int64"):
            raise ValueError(f"Column '{self.name}': `input_dtypes` cannot be {dtype!r}.")
        return dataclasses.replace(state, input_dtype=dtype)

    def state_from_dict(self, state: Any) -> CategoricalState:
        return CategoricalState(**self._read_state(state, set(), ("int64", "string")))

    def build_layers(self, state, shared: dict) -> dict:
        return {self.name: self._lookup(state, shared)}

    def transform(self, layers, data) -> dict:
        codes, _, uniques = self._uniques(data)
        return {self.name: layers[self.name](uniques).numpy()[codes]}  # code -1 (missing) reads "": OOV

    def features(self, state) -> list:
        size = self.vocabulary_size(state)
        return [CategoricalFeature(self.name, size, self.embedding_name, self.embedding_dim)]


@dataclasses.dataclass(frozen=True)
class MultiCategoricalColumn(IdColumn[MultiCategoricalState]):
    """A multi-level column: a string of `separator`-joined values (or a list) -> an int64 id list `(n, max_len)`.

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
    kind = "multi_categorical"
    group = "multi_categorical"
    single_level = False
    _later = {"combiner": "mean", "weight_column": None, "embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        NumericFeature(self.name)
        check_separator(self)
        check_count(self.name, "max_len", self.max_len, 1, optional=True)
        check_id_options(self)
        check_options(self, ("weight_column", "embedding_name"))
        if self.weight_column == self.name:
            raise ValueError(f"Column '{self.name}': `weight_column` should name another column.")

    @property
    def side_inputs(self) -> dict[str, str]:
        return {self.weight_column: "weight_column"} if self.weight_column else {}

    def _merged_state(self, a, b, keys: list) -> MultiCategoricalState:
        return MultiCategoricalState(max(a.max_len, b.max_len))  # the longest list of either chunk

    def _counted(self, keys, counts) -> KeyCounts:
        """Counts of the tokens of the distinct cells, split as the encoding splits them; `max_len` the longest list."""
        tokens = SplitTokens(self.separator, max_len=1).tokens(raw.cells(keys)[:-1])
        lengths = tokens.row_lengths().numpy()
        weights = np.repeat(np.asarray(counts, "int64"), lengths)
        flat = [t.decode("utf-8", "surrogateescape") for t in tokens.flat_values.numpy().tolist()]
        totals = pd.Series(weights, dtype="int64").groupby(pd.Index(flat, dtype=object), sort=False).sum()
        longest = int(lengths.max()) if lengths.size else 0
        state = MultiCategoricalState(self.max_len if self.max_len is not None else max(longest, 1))
        return KeyCounts(state, list(totals.index), totals.to_numpy())

    def state_from_dict(self, state: Any) -> MultiCategoricalState:
        fields = self._read_state(state, {"max_len"}, ("string",))
        return MultiCategoricalState(read_max_len(self, state["max_len"]), **fields)

    def build_layers(self, state: MultiCategoricalState, shared: dict) -> dict:
        lookup = self._lookup(state, shared)
        layers = {self.name: (SplitTokens(self.separator, state.max_len, name=f"{self.name}_split"), lookup)}
        if self.weight_column:
            layers[self.weight_column] = SplitNumbers(
                self.separator, state.max_len, 0.0, NUMERIC_LIMIT, name=self.weight_column
            )
        return layers

    def encode(self, layers, inputs) -> dict:
        import tensorflow as tf

        values = self.raw(inputs, self.name)
        split, lookup = layers[self.name]
        tokens = split(values)
        out = {self.name: tf.where(tf.equal(tokens, ""), tf.constant(PAD_ID, tf.int64), lookup(tokens))}
        if self.weight_column:
            weights = self.raw(inputs, self.weight_column, owner=self.name)
            id_counts = split.tokens(values).row_lengths()
            out[self.weight_column] = split_weights(layers[self.weight_column], weights, id_counts, self.name)
        return out

    def transform(self, layers, data) -> dict:
        import tensorflow as tf

        codes, keys, uniques = self._uniques(data)
        split, lookup = layers[self.name]
        tokens = split(uniques)
        table = tf.where(tf.equal(tokens, ""), tf.constant(PAD_ID, tf.int64), lookup(tokens)).numpy()
        out = {self.name: table[codes]}  # code -1 (missing) reads the trailing "": an all-padding list
        if self.weight_column:
            id_counts = split.tokens(uniques).row_lengths().numpy()[codes]
            layer = layers[self.weight_column]
            out[self.weight_column] = self._transform_weights(self.weight_column, layer, data, id_counts, keys, codes)
        return out

    def _transform_weights(self, weight_column: str, layer, data, id_counts, id_keys, id_codes) -> np.ndarray:
        codes, keys, counts, _ = parse_column(layer, data, weight_column)
        mismatch = np.flatnonzero(counts[codes] != id_counts)
        if mismatch.size:
            row = int(mismatch[0])
            ids = id_keys[id_codes[row]] if id_codes[row] >= 0 else None
            raise ValueError(
                f"Column '{weight_column}', row {row}: {int(counts[codes[row]])} weight(s) "
                f"({keys[codes[row]] if codes[row] >= 0 else None!r}) for {int(id_counts[row])} id(s) of column "
                f"'{self.name}' ({ids!r}): every id needs one weight, joined by {self.separator!r} in the same order."
            )
        return layer(raw.cells(keys)).numpy().astype("float32")[codes]

    def raw_inputs(self, data, dtype: str | None = None) -> dict:
        out = {self.weight_column: raw_cells(data, self.weight_column, self.separator)} if self.weight_column else {}
        return {**out, **super().raw_inputs(data, dtype)}

    def features(self, state: MultiCategoricalState) -> list:
        feature = MultiCategoricalFeature(
            self.name,
            self.vocabulary_size(state),
            state.max_len,
            combiner=self.combiner,
            weight_name=self.weight_column,
            embedding_name=self.embedding_name,
            embedding_dim=self.embedding_dim,
        )
        return [feature]
