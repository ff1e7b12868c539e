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

The encoder loops over its columns; each column (`deepfm_keras.encoding.column`,
one module per kind family) learns its own state and builds the Keras layers
that apply it. `transform` runs those layers on the distinct values of each
column (fast, and the same ops), `encode` runs them on raw tensors in
`tf.data` and in the exported serving signature, so a raw row gets the same
ids on every path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from deepfm_keras.encoding import column_set, file_format, raw
from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
from deepfm_keras.encoding.column import GROUPS, Column, ColumnState
from deepfm_keras.encoding.numeric import BucketizedColumn, NumericColumn, NumericSequenceColumn
from deepfm_keras.spec.feature_spec import input_names, normalize_spec


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
        columns = column_set.from_arguments(
            numeric, categorical, multi_categorical, numeric_sequence, min_count=min_count, max_len=max_len
        )
        self._init_columns(columns, min_count=min_count, max_len=max_len)

    def _init_columns(
        self, columns: Sequence[Column], *, min_count: int = 1, max_len: int | Mapping[str, int] | None = None
    ) -> None:
        ordered = column_set.check(columns)
        self.columns = ordered
        self.min_count = min_count
        self.max_len = max_len
        self.state: dict[str, ColumnState] | None = None
        self._layers: dict[str, Any] = {}

    # ----------------------------------------------------------------- views

    def _names(self, group: str) -> list[Column]:
        return [c for c in self.columns if c.group == group]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self._names("numeric")]

    @property
    def categorical(self) -> list[str]:
        """Single-level categorical columns, bucketised ones included."""
        return [c.name for c in self._names("categorical")]

    def _separators(self, group: str) -> dict[str, str]:
        # the columns of a multi-level group have a list per row, hence a string `separator` (`check_separator`)
        return {c.name: cast(str, c.separator) for c in self._names(group)}

    @property
    def multi_categorical(self) -> dict[str, str]:
        return self._separators("multi_categorical")

    @property
    def numeric_sequence(self) -> dict[str, str]:
        return self._separators("numeric_sequence")

    @property
    def weight_columns(self) -> dict[str, str]:
        """Multi-categorical column -> the raw column of its weights (the model input of that name)."""
        return {c.name: w for c in self.columns for w, option in c.side_inputs.items() if option == "weight_column"}

    @property
    def column_specs(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def is_fitted(self) -> bool:
        return self.state is not None

    def _check_fitted(self) -> dict[str, ColumnState]:
        """The fitted state: column -> its `ColumnState`; raises a RuntimeError if the encoder is not fitted."""
        if self.state is None:
            raise RuntimeError("This FeatureEncoder is not fitted yet: call `fit(df)` first.")
        return self.state

    def _fitted(self, field: str) -> dict[str, Any] | None:
        """Column -> the `field` of its state, for the columns whose state has one (None: not fitted)."""
        if self.state is None:
            return None
        values = {name: getattr(s, field, None) for name, s in self.state.items()}
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items() if v is not None}

    @property
    def vocabularies(self) -> dict[str, list[str]] | None:
        """Vocabulary-mode column -> its keys (key `i` has id `i + 2`); hashed columns have none."""
        return self._fitted("vocabulary")

    @property
    def numeric_stats(self) -> dict[str, dict[str, float]] | None:
        """Numeric column (numeric sequences included) -> `{"mean", "std"}`."""
        means, stds = self._fitted("mean"), self._fitted("std")
        if means is None or stds is None:  # both or neither: not fitted
            return None
        return {name: {"mean": means[name], "std": stds[name]} for name in means}

    @property
    def max_lens(self) -> dict[str, int] | None:
        return self._fitted("max_len")

    @property
    def boundaries(self) -> dict[str, list[float]] | None:
        return self._fitted("boundaries")

    @property
    def input_dtypes(self) -> dict[str, str]:
        """Raw dtype of each raw column: "float64" (numeric, bucketised), "int64" or "string" (categorical).

        Multi-level columns, their weight columns (each right after its id
        column) and numeric sequences are "string": the unsplit lists.
        """
        state = self._check_fitted()
        dtypes = {}
        for column in self.columns:
            dtypes.update(column.input_dtypes(state[column.name]))
        return dtypes

    def vocabulary_size(self, name: str) -> int:
        """Number of ids of a (multi-)categorical or bucketised feature, padding and OOV included."""
        state = self._check_fitted()
        return self.column_specs[name].vocabulary_size(state[name])

    @property
    def feature_spec(self) -> list:
        """The model's feature spec: numeric columns, their missing indicators, categorical, multi-categorical,
        numeric sequences (a weighted list's `weight_name` is its `weight_column`)."""
        state = self._check_fitted()
        spec = []
        for group in GROUPS:  # each group's own features, then those it derives (missing indicators)
            columns = self._names(group)
            spec += [f for c in columns for f in c.features(state[c.name])]
            spec += [f for c in columns for f in c.extra_features(state[c.name])]
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
        names = [c.name for c in self.columns]
        if raw.num_rows(data, names) == 0:
            raise ValueError(
                "FeatureEncoder.fit needs at least one row: the table has 0 rows "
                f"(columns {names}); fitted on nothing, every value would be OOV."
            )
        self._set_state(column_set.fit_states(self.columns, {c.name: c.learn(data) for c in self.columns}))
        return self

    def fit_chunks(self, chunks) -> FeatureEncoder:
        """Learns the state `fit` learns, from a table given in chunks (an iterable of DataFrames, e.g. shards).

        One chunk is held at a time, with each column's distinct keys and
        counts (or its moments). A bucketized column with `num_buckets` is
        refused (quantiles need every row): give it `boundaries`. Raises as
        `fit`, naming the column, and for no rows at all.

        >>> import pandas as pd
        >>> parts = [pd.DataFrame({"u": ["a", "b"]}), pd.DataFrame({"u": ["b"]})]
        >>> FeatureEncoder(categorical=["u"]).fit_chunks(parts).vocabularies["u"]
        ['b', 'a']
        """
        learned, rows = column_set.learned_from_chunks(self.columns, chunks)
        if rows == 0:
            raise ValueError(
                f"FeatureEncoder.fit_chunks needs at least one row: the chunks hold 0 rows (columns "
                f"{[c.name for c in self.columns]}); fitted on nothing, every value would be OOV."
            )
        self._set_state(column_set.fit_states(self.columns, learned))
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
        numeric_stats = dict(numeric_stats or {})
        learned = {c.name: c.learn_counts(counts.get(c.name), numeric_stats.get(c.name)) for c in self.columns}
        state = column_set.fit_states(self.columns, learned)
        specs = self.column_specs
        for name, dtype in dict(input_dtypes or {}).items():
            if name in specs:
                state[name] = specs[name].serve_as(state[name], dtype)
        self._set_state(state)
        return self

    def _set_state(self, state: dict) -> None:
        self.state = state
        self._layers = {}

    # ----------------------------------------------------------------- apply

    def layers(self) -> dict:
        """The encoding layers, input name -> layer (a list column: a tuple, e.g. `(SplitTokens, lookup)`), built once.

        Columns that share a table share one lookup layer (one lookup table).
        """
        state = self._check_fitted()
        if not self._layers:
            import tensorflow as tf

            with tf.init_scope():  # tables made eagerly, even when first needed while tracing a tf.data function
                layers: dict[str, Any] = {}
                shared: dict = {}
                for column in self.columns:
                    layers.update(column.build_layers(state[column.name], shared))
                self._layers = layers
        return self._layers

    def encode(self, raw_inputs: Mapping[str, Any] | None = None, *, blocks: Sequence[tuple] = ()) -> dict:
        """Encodes raw tensors into model inputs with the encoding layers (what `tf.data` and serving run).

        Args:
            raw_inputs: dict column -> `(batch,)` raw tensor: float64 for
                numeric and bucketised columns (NaN is missing), int64 or
                string for categorical columns, the unsplit string for
                multi-level ones, their weight columns (`"0.5|2"`) and
                numeric sequences (`"1.5|3"`).
            blocks: optional `(names, tensor)` pairs of `(batch, len(names))`
                side-by-side single-level columns (a parsed file, say);
                columns whose layers are configured alike (same hashing, same
                numeric transform) take one call of that layer: the same ops,
                ids and values as column by column (an infinite numeric
                value is then reported under the group's first name).

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
        layers = self.layers()
        out = column_set.encode_blocks(self.column_specs, layers, blocks)
        raw_inputs = dict(raw_inputs or {})
        for column in self.columns:
            if column.name not in out:
                out.update(column.encode(layers, raw_inputs))
        return {name: out[name] for name in input_names(self.feature_spec)}

    def raw_inputs(self, data, *, dtypes: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
        """A DataFrame (or dict of columns) as the raw NumPy arrays `encode` reads, in `input_dtypes` order.

        Args:
            data: the table.
            dtypes: categorical column -> "int64" or "string". Default: every
                categorical column as its key bytes (missing values
                included: what `tf.data` pipelines use). An int64 column must
                hold integers only.

        Returns:
            Dict column -> `(n,)` array: float64, int64 or object (bytes; the
            number lists of weight columns and numeric sequences as their
            joined strings, checked by the layers that parse them).

        Raises:
            ValueError: naming the column (and value) that cannot be converted.
        """
        self._check_fitted()
        dtypes = dict(dtypes or {})
        out = {}
        for column in self.columns:
            out.update(column.raw_inputs(data, dtypes.get(column.name)))
        column_set.check_lengths(out)
        return {name: out[name] for name in self.input_dtypes}

    def transform(self, data) -> dict[str, np.ndarray]:
        """Encodes a DataFrame (or dict of columns) into `{name: array}` in `input_names(feature_spec)` order.

        Numeric features are float32 `(n,)`, categorical int64 `(n,)`,
        multi-categorical int64 `(n, max_len)`, their weights and numeric
        sequences float32 `(n, max_len)`; extra columns are ignored. The
        encoding layers run on each distinct categorical value (and each
        distinct cell of a list column) once, on numeric columns in full.

        Raises:
            RuntimeError: if the encoder is not fitted.
            ValueError: for a missing column, a wrong-kind column, columns of
                different lengths or numeric values that cannot be encoded,
                naming the column; for a weight or sequence element that is
                not a finite number, or a row with more or fewer weights than
                ids, naming the column, the row and the value.
        """
        self._check_fitted()
        layers, out = self.layers(), {}
        for column in self.columns:
            out.update(column.transform(layers, data))
        column_set.check_lengths(out)
        return {name: out[name] for name in input_names(self.feature_spec)}

    def fit_transform(self, data) -> dict[str, np.ndarray]:
        """`fit(data)` then `transform(data)`."""
        return self.fit(data).transform(data)

    # ------------------------------------------------------------ save/load

    def to_config(self) -> dict:
        """The encoder file's JSON object (`deepfm_keras.encoding.file_format`): columns and any fitted state."""
        state = {name: s.to_dict() for name, s in self.state.items()} if self.state is not None else None
        return file_format.config(self.columns, state)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureEncoder:
        """Rebuilds an encoder (fitted if the config holds fitted state) from `to_config()` (format 1 or 2).

        Every field is checked first (`deepfm_keras.encoding.file_format.read`).

        Raises:
            ValueError: for a missing or unknown `format_version`, a changed
                id layout, missing or unknown keys, or fitted state that
                cannot be right (a non-positive or non-finite `std`, a
                vocabulary with a duplicate or null entry, `max_len` < 1,
                unsorted bucket boundaries, ...), naming the column and field.
        """
        columns, state = file_format.read(config)
        encoder = cls.__new__(cls)
        encoder._init_columns(columns)
        if state is not None:
            encoder._set_state(state)
            encoder.layers()  # the layers check what is left (e.g. num_bins range)
        return encoder

    def save(self, path: str | os.PathLike) -> None:
        """Writes `to_config()` as JSON (UTF-8), atomically: a crash mid-write leaves the previous file."""
        file_format.write(path, self.to_config())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureEncoder:
        """Reads an encoder written by `save` (or by an earlier version: format 1 or 2)."""
        return file_format.load(path, cls.from_config)

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        return f"FeatureEncoder(columns={self.columns}) [{state}]"
