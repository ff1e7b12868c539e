"""`FeatureEncoder`: learns the encoding state from a table and applies it with the encoding layers.

```python
enc = FeatureEncoder(numeric=["year"], categorical=["user_id", "movie_id"], multi_categorical={"genres": "|"})
# a weighted history sharing the movie_id vocabulary and table, and a list of numbers:
#   FeatureEncoder(..., multi_categorical=[MultiCategoricalColumn("history", weight_column="history_ratings",
#                  embedding_name="movie_id")], numeric_sequence={"recent_prices": "|"})
x_train = enc.fit_transform(train_df)        # pandas in, dict name -> np.ndarray out
model = build_deepfm(enc.feature_spec)
enc.save("encoder.json")                     # versioned, human-readable JSON; no pickle
```

Fitting is pandas work (counts, means, quantiles). Applying is always the
layers of `deepfm_keras.encoding.layers`: `transform` runs them on the
distinct values of each column (fast, and the same ops), `encode` runs them
on raw tensors in `tf.data` and in the exported serving signature.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepfm_keras.encoding import apply, fitting, raw
from deepfm_keras.encoding import config as encoder_config
from deepfm_keras.encoding.apply import MISSING_SUFFIX
from deepfm_keras.encoding.columns import (
    BucketizedColumn,
    CategoricalColumn,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    check_tables,
)
from deepfm_keras.encoding.layers import (
    FIRST_ID,
    OOV_ID,
    PAD_ID,
)
from deepfm_keras.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
    normalize_spec,
)

FORMAT_VERSION = encoder_config.FORMAT_VERSION


def _named(kind, entries, make):
    if isinstance(entries, str):
        raise ValueError(f"`{kind}` should be a list of column names. Received: {kind}={entries!r}")
    return [entry if not isinstance(entry, str) else make(entry) for entry in entries]


class FeatureEncoder:
    """Learns vocabularies, hash settings, numeric statistics and list lengths; turns raw tables into model inputs.

    Columns are given by name (with the defaults below) or as column specs
    (`NumericColumn`, `CategoricalColumn`, `MultiCategoricalColumn`,
    `BucketizedColumn`, `NumericSequenceColumn`) for per-column options:
    hashing with `num_bins`, vocabularies with `min_count` / `max_size`,
    numeric `log1p`, clipping, standardisation and missing indicators,
    numeric columns bucketised into categorical ids, weighted id lists
    (`weight_column`), pooling (`combiner`), shared vocabularies and tables
    (`embedding_name`) and per-feature `embedding_dim`.

    Ids: `0` padding, `1` OOV (unseen, rare, missing, `""`), known values from
    `2`, most frequent first (ties by key); columns with the same
    `embedding_name` share one vocabulary fitted over all their values.
    Numeric inputs are float32 `(n,)`, categorical int64 `(n,)`,
    multi-categorical int64 `(n, max_len)` (their weights float32
    `(n, max_len)`, 0 at padding), numeric sequences float32 `(n, max_len)`
    (standardised, NaN at padding).

    Args:
        numeric: numeric columns: names (standardised) or `NumericColumn`s.
        categorical: single-level columns: names, `CategoricalColumn`s or
            `BucketizedColumn`s.
        multi_categorical: dict name -> separator, or a list of
            `MultiCategoricalColumn`s.
        numeric_sequence: dict name -> separator, or a list of names or
            `NumericSequenceColumn`s.
        min_count: `min_count` of the columns given by name.
        max_len: `max_len` of the multi-level columns given by name: None
            (learned), an int, or a dict name -> int.

    Fitted public state: `vocabularies` (name -> keys; key `i` has id
    `i + 2`), `numeric_stats` (name -> mean, std, numeric sequences
    included), `max_lens`, `boundaries`, `input_dtypes` (the raw dtype each
    raw column, weight columns included, is served with).

    Example:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"u": [3, 3, 7], "g": ["a|b", "b", None], "x": [1.0, None, 3.0]})
    >>> enc = FeatureEncoder(numeric=["x"], categorical=["u"], multi_categorical={"g": "|"})
    >>> x = enc.fit_transform(df)
    >>> x["u"].tolist(), x["g"].tolist(), x["x"].tolist()
    ([2, 2, 3], [[3, 2], [2, 0], [0, 0]], [-1.0, 0.0, 1.0])
    >>> hashed = FeatureEncoder(categorical=[CategoricalColumn("u", num_bins=2**40)]).fit(df)
    >>> hashed.feature_spec[0].vocabulary_size == 2**40 + 2
    True
    """

    def __init__(
        self,
        numeric: Sequence[str | NumericColumn] = (),
        categorical: Sequence[str | CategoricalColumn | BucketizedColumn] = (),
        multi_categorical: Mapping[str, str] | Sequence[MultiCategoricalColumn] | None = None,
        numeric_sequence: Mapping[str, str] | Sequence[str | NumericSequenceColumn] | None = None,
        min_count: int = 1,
        max_len: int | Mapping[str, int] | None = None,
    ):
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"`min_count` should be an integer >= 1. Received: min_count={min_count!r}")
        multi = multi_categorical or {}
        if isinstance(multi, Mapping):
            if isinstance(max_len, Mapping):
                unknown = [c for c in max_len if c not in multi]
                if unknown:
                    raise ValueError(f"`max_len` names column(s) {unknown} that are not multi-categorical.")
            elif max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
                raise ValueError(f"`max_len` should be an integer >= 1. Received: {max_len!r}")

            def length(col):
                return max_len.get(col) if isinstance(max_len, Mapping) else max_len

            multi = [MultiCategoricalColumn(col, sep, length(col), min_count) for col, sep in multi.items()]
        columns = _named("numeric", numeric, NumericColumn)
        columns += _named("categorical", categorical, lambda c: CategoricalColumn(c, min_count=min_count))
        columns += _named("multi_categorical", multi, MultiCategoricalColumn)
        sequences = numeric_sequence or ()
        if isinstance(sequences, Mapping):
            sequences = [NumericSequenceColumn(col, sep) for col, sep in sequences.items()]
        columns += _named("numeric_sequence", sequences, NumericSequenceColumn)
        self._init_columns(columns, min_count=min_count, max_len=max_len)

    def _init_columns(self, columns, *, min_count=1, max_len=None):
        kinds = {
            "numeric": (NumericColumn,),
            "categorical": (CategoricalColumn, BucketizedColumn),
            "multi_categorical": (MultiCategoricalColumn,),
            "numeric_sequence": (NumericSequenceColumn,),
        }
        ordered = []
        for types in kinds.values():
            ordered += [c for c in columns if isinstance(c, types)]
        stray = [c for c in columns if not any(isinstance(c, t) for types in kinds.values() for t in types)]
        if stray:
            raise ValueError(f"Expected column names or column specs. Received: {stray[0]!r}")
        if not ordered:
            raise ValueError("FeatureEncoder needs at least one numeric, categorical or multi-categorical column.")
        names = [c.name for c in ordered]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Column(s) {duplicates} are listed under more than one kind.")
        weights = {c.weight_column: c.name for c in ordered if getattr(c, "weight_column", None)}
        for column in ordered:
            owner = weights.get(column.name)
            if owner is not None:
                raise ValueError(f"Column '{column.name}' is also the `weight_column` of column '{owner}'.")
        taken = [c.weight_column for c in ordered if getattr(c, "weight_column", None)]
        shared = sorted({w for w in taken if taken.count(w) > 1})
        if shared:
            raise ValueError(f"Weight column(s) {shared} serve more than one multi-categorical column.")
        normalize_spec([NumericFeature(n) for n in names + taken])  # names a serving signature cannot keep fail here
        indicators = [c.name + MISSING_SUFFIX for c in ordered if getattr(c, "missing_indicator", False)]
        clash = sorted(set(indicators) & set(names + taken))
        if clash:
            raise ValueError(f"Missing-indicator feature(s) {clash} clash with columns of the same name.")
        check_tables(ordered)
        self.columns = ordered
        self.min_count = min_count
        self.max_len = max_len
        self.state: dict[str, dict] | None = None
        self._layers: dict[str, Any] = {}

    # ----------------------------------------------------------------- views

    def _names(self, *types) -> list[str]:
        return [c.name for c in self.columns if isinstance(c, types)]

    @property
    def numeric(self) -> list[str]:
        return self._names(NumericColumn)

    @property
    def categorical(self) -> list[str]:
        """Single-level categorical columns, bucketised ones included."""
        return self._names(CategoricalColumn, BucketizedColumn)

    @property
    def multi_categorical(self) -> dict[str, str]:
        return {c.name: c.separator for c in self.columns if isinstance(c, MultiCategoricalColumn)}

    @property
    def numeric_sequence(self) -> dict[str, str]:
        return {c.name: c.separator for c in self.columns if isinstance(c, NumericSequenceColumn)}

    @property
    def weight_columns(self) -> dict[str, str]:
        """Multi-categorical column -> the raw column of its weights (the model input of that name)."""
        return {c.name: c.weight_column for c in self.columns if getattr(c, "weight_column", None)}

    @property
    def column_specs(self) -> dict:
        return {c.name: c for c in self.columns}

    @property
    def is_fitted(self) -> bool:
        return self.state is not None

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError("This FeatureEncoder is not fitted yet: call `fit(df)` first.")

    def _fitted(self, key) -> dict:
        self._check_fitted()
        return {name: s[key] for name, s in self.state.items() if key in s}

    @property
    def vocabularies(self) -> dict[str, list[str]] | None:
        return self._fitted("vocabulary") if self.is_fitted else None

    @property
    def numeric_stats(self) -> dict[str, dict[str, float]] | None:
        if not self.is_fitted:
            return None
        names = self.numeric + list(self.numeric_sequence)
        return {c: {"mean": self.state[c]["mean"], "std": self.state[c]["std"]} for c in names}

    @property
    def max_lens(self) -> dict[str, int] | None:
        return self._fitted("max_len") if self.is_fitted else None

    @property
    def boundaries(self) -> dict[str, list[float]] | None:
        return self._fitted("boundaries") if self.is_fitted else None

    @property
    def input_dtypes(self) -> dict[str, str]:
        """Raw dtype of each raw column: "float64" (numeric, bucketised), "int64" or "string" (categorical).

        Multi-level columns, their weight columns (each right after its id
        column) and numeric sequences are "string": the unsplit lists.
        """
        self._check_fitted()
        dtypes = {}
        for c in self.columns:
            dtypes[c.name] = self.state[c.name]["input_dtype"]
            if getattr(c, "weight_column", None):
                dtypes[c.weight_column] = "string"
        return dtypes

    def vocabulary_size(self, name: str) -> int:
        spec, state = self.column_specs[name], self.state[name]
        if isinstance(spec, BucketizedColumn):
            return len(state["boundaries"]) + 1 + FIRST_ID
        if spec.num_bins is not None:
            return spec.num_bins + FIRST_ID
        return len(state["vocabulary"]) + FIRST_ID

    @property
    def feature_spec(self) -> list:
        """The model's feature spec: numeric columns, their missing indicators, categorical, multi-categorical,
        numeric sequences (a weighted list's `weight_name` is its `weight_column`)."""
        self._check_fitted()
        columns = self.columns
        spec = [NumericFeature(c.name, c.embedding_dim) for c in columns if isinstance(c, NumericColumn)]
        spec += [
            NumericFeature(c.name + MISSING_SUFFIX)
            for c in columns
            if isinstance(c, NumericColumn) and c.missing_indicator
        ]
        for c in columns:
            if isinstance(c, BucketizedColumn):
                spec.append(CategoricalFeature(c.name, self.vocabulary_size(c.name), embedding_dim=c.embedding_dim))
            elif isinstance(c, CategoricalColumn):
                size = self.vocabulary_size(c.name)
                spec.append(CategoricalFeature(c.name, size, c.embedding_name, c.embedding_dim))
        spec += [
            MultiCategoricalFeature(
                c.name,
                self.vocabulary_size(c.name),
                self.state[c.name]["max_len"],
                combiner=c.combiner,
                weight_name=c.weight_column,
                embedding_name=c.embedding_name,
                embedding_dim=c.embedding_dim,
            )
            for c in columns
            if isinstance(c, MultiCategoricalColumn)
        ]
        spec += [
            NumericSequenceFeature(c.name, self.state[c.name]["max_len"], c.combiner, c.embedding_dim)
            for c in columns
            if isinstance(c, NumericSequenceColumn)
        ]
        return normalize_spec(spec)

    # ------------------------------------------------------------------- fit

    def fit(self, data) -> FeatureEncoder:
        """Learns the state of every column from a DataFrame (or dict of columns).

        Returns:
            The encoder itself.

        Raises:
            ValueError: for a table with no rows or columns of different
                lengths; for a missing column, a wrong-kind column, infinite
                numeric values or booleans mixed with numbers in a
                categorical column, naming the column; for a token of a
                numeric sequence that is not a finite number, naming the
                column, the row and the value.
        """
        rows = raw.num_rows(data, [spec.name for spec in self.columns])
        if rows == 0:
            raise ValueError(
                "FeatureEncoder.fit needs at least one row: the table has 0 rows "
                f"(columns {[spec.name for spec in self.columns]}); fitted on nothing, every value would be OOV."
            )
        self._set_state(fitting.fit_columns(self.columns, data))
        return self

    def fit_counts(
        self,
        counts: Mapping[str, Mapping[str, int]],
        numeric_stats: Mapping[str, Mapping[str, float]] | None = None,
        input_dtypes: Mapping[str, str] | None = None,
    ) -> FeatureEncoder:
        """Fits from value counts gathered elsewhere (e.g. a streaming pass over files).

        Args:
            counts: categorical column -> {key: count}; only vocabulary-mode
                columns need one (columns sharing a table: their counts are
                summed). Multi-level columns and numeric sequences are not
                supported here.
            numeric_stats: column -> {"mean", "std"} of the standardised
                numeric columns.
            input_dtypes: categorical column -> "int64" or "string", the raw
                dtype it is served with (default: int64 when every counted
                key is an integer).

        Returns:
            The encoder itself.
        """
        state, parts = {}, {}
        numeric_stats = dict(numeric_stats or {})
        for spec in self.columns:
            if isinstance(spec, NumericColumn):
                stats = numeric_stats.get(spec.name, {"mean": 0.0, "std": 1.0})
                if spec.standardize and spec.name not in numeric_stats:
                    raise ValueError(f"Column '{spec.name}' is standardised: give its `numeric_stats`.")
                state[spec.name] = {"mean": float(stats["mean"]), "std": float(stats["std"]), "input_dtype": "float64"}
            elif isinstance(spec, CategoricalColumn):
                column_counts = dict(counts.get(spec.name, {}))
                if spec.num_bins is None and spec.name not in counts:
                    raise ValueError(f"Column '{spec.name}' has a vocabulary: give its `counts`.")
                keys = [str(k) for k in column_counts]
                parts[spec.name] = (keys, np.array(list(column_counts.values()), "int64"))
            else:
                raise ValueError(f"Column '{spec.name}': `fit_counts` supports numeric and categorical columns only.")
        state.update(fitting.fit_vocabularies([c for c in self.columns if c.name in parts], parts))
        for name, dtype in dict(input_dtypes or {}).items():
            if name in parts:
                if dtype not in ("int64", "string") or (dtype == "int64" and state[name]["input_dtype"] != "int64"):
                    raise ValueError(f"Column '{name}': `input_dtypes` cannot be {dtype!r}.")
                state[name]["input_dtype"] = dtype
        state = {spec.name: state[spec.name] for spec in self.columns}
        self._set_state(state)
        return self

    def _set_state(self, state: dict) -> None:
        self.state = state
        self._layers = {}

    # ----------------------------------------------------------------- apply

    def layers(self) -> dict:
        """The encoding layers, name -> layer (a multi-level column: `(SplitTokens, lookup)`), built once."""
        self._check_fitted()
        if not self._layers:
            import tensorflow as tf

            with tf.init_scope():  # tables made eagerly, even when first needed while tracing a tf.data function
                self._layers = apply.build_layers(self.columns, self.state)
        return self._layers

    def encode(self, raw_inputs: Mapping[str, Any] | None = None, *, blocks: Sequence[tuple] = ()) -> dict:
        """Encodes raw tensors into model inputs with the encoding layers: `deepfm_keras.encoding.apply.encode`.

        Args:
            raw_inputs: dict column -> `(batch,)` raw tensor: float64 for
                numeric and bucketised columns (NaN is missing), int64 or
                string for categorical columns, the unsplit string for
                multi-level ones, their weight columns (`"0.5|2"`) and
                numeric sequences (`"1.5|3"`).
            blocks: optional `(names, tensor)` pairs of `(batch, len(names))`
                side-by-side single-level columns; columns whose layers are
                configured alike take one call of that layer (an infinite
                numeric value is then reported under the group's first name).

        Returns:
            Dict model input name -> tensor in `input_names(feature_spec)`
            order: float32 `(batch, 1)`, int64 `(batch, 1)`, int64
            `(batch, max_len)`, float32 `(batch, max_len)` (weights: 0 at
            padding; numeric sequences: NaN at padding).

        A bad number in a weight column or a numeric sequence, or a row with
        more or fewer weights than ids, fails the graph's assertion (an
        `InvalidArgumentError` naming the feature), as a numeric value
        beyond the model's range does; `transform` names the row instead.
        """
        return apply.encode(self, raw_inputs, blocks=blocks)

    def raw_inputs(self, data, *, dtypes: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
        """A DataFrame (or dict of columns) as the raw arrays `encode` reads: `deepfm_keras.encoding.apply.raw_inputs`.

        `dtypes` (categorical column -> "int64" / "string") picks int64
        arrays; by default categorical columns are key bytes.
        """
        self._check_fitted()
        return apply.raw_inputs(self, data, dtypes=dtypes)

    def transform(self, data) -> dict[str, np.ndarray]:
        """Encodes a DataFrame (or dict of columns) into `{name: array}` in `input_names(feature_spec)` order.

        Numeric features are float32 `(n,)`, categorical int64 `(n,)`,
        multi-categorical int64 `(n, max_len)`, their weights and numeric
        sequences float32 `(n, max_len)`; extra columns are ignored. The
        encoding layers run on each distinct categorical value once (see
        `deepfm_keras.encoding.apply.transform`).

        Raises:
            RuntimeError: if the encoder is not fitted.
            ValueError: for a missing column, a wrong-kind column, columns of
                different lengths or numeric values that cannot be encoded,
                naming the column; for a weight or sequence element that is
                not a finite number, or a row with more or fewer weights than
                ids, naming the column, the row and the value.
        """
        self._check_fitted()
        return apply.transform(self, data)

    def fit_transform(self, data) -> dict[str, np.ndarray]:
        """`fit(data)` then `transform(data)`."""
        return self.fit(data).transform(data)

    # ------------------------------------------------------------ save/load

    def to_config(self) -> dict:
        """JSON-ready dict: format version, id layout, column specs and (when fitted) the fitted state."""
        config = {
            "format_version": FORMAT_VERSION,
            "pad_id": PAD_ID,
            "oov_id": OOV_ID,
            "first_id": FIRST_ID,
            "columns": [c.to_dict() for c in self.columns],
        }
        if self.is_fitted:
            config["state"] = {name: dict(s) for name, s in self.state.items()}
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureEncoder:
        """Rebuilds an encoder (fitted if the config holds fitted state) from `to_config()` (format 1 or 2).

        Every field is checked first (`deepfm_keras.encoding.config`).

        Raises:
            ValueError: for a missing or unknown `format_version`, a changed
                id layout, missing or unknown keys, or fitted state that
                cannot be right (a non-positive or non-finite `std`, a
                vocabulary with a duplicate or null entry, `max_len` < 1,
                unsorted bucket boundaries, ...), naming the column and field.
        """
        columns, state = encoder_config.read(config)
        encoder = cls.__new__(cls)
        encoder._init_columns(columns)
        if state is not None:
            encoder._set_state(state)
            encoder.layers()  # the layers check what is left (e.g. num_bins range)
        return encoder

    def save(self, path: str | os.PathLike) -> None:
        """Writes `to_config()` as JSON (UTF-8), atomically: a crash mid-write leaves the previous file."""
        from deepfm_keras.io import atomic_write

        with atomic_write(path) as f:
            json.dump(self.to_config(), f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureEncoder:
        """Reads an encoder written by `save`."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            config = json.loads(text)
            if not isinstance(config, dict):
                raise ValueError(f"expected a JSON object, found {type(config).__name__}")
            return cls.from_config(config)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"{os.fspath(path)} is not a valid FeatureEncoder file: {e!r}") from e

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        return f"FeatureEncoder(columns={self.columns}) [{state}]"
