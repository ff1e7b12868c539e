"""`Column`, the base class of every column kind, and `ColumnState`, the base of what a column learns.

A column kind (`numeric.py`, `categorical.py`) is a frozen dataclass that
subclasses `Column`: its fields are its options, checked at construction
with errors naming the column. It learns its fitted state from the rows
(`learn`), holds it as a frozen `ColumnState` dataclass, builds the Keras
layers that apply it (`build_layers`), encodes tensors (`encode`, for
`tf.data` and serving) and tables (`transform`, for pandas), and says which
`deepfm_keras.spec.features` Features it gives the model (`features`).
`FeatureEncoder` only loops over its columns and calls these methods; the
registry (`deepfm_keras.encoding.kinds`) is the one list of the kinds.

Columns that look up one table (`table`, from `embedding_name`) learn it
together: `fit_table` gets all of them at once (see `tables`).

Example:

>>> from deepfm_keras.encoding.categorical import CategoricalColumn
>>> column = CategoricalColumn("site_id", num_bins=1_000)
>>> column.kind, column.group, column.table, type(column).from_dict(column.to_dict()) == column
('categorical', 'categorical', 'site_id', True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from deepfm_keras.spec.features import COMBINERS, NumericFeature

GROUPS = ("numeric", "categorical", "multi_categorical", "numeric_sequence")


class ColumnState:
    """Base of the frozen dataclasses that hold what a column learned; `to_dict` is its JSON form.

    Fields are written in their declared order; a field that is None is left
    out (a hashed column has no `vocabulary`), tuples are written as lists.
    Every state has `input_dtype`, the raw dtype the column is served with.
    """

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # every subclass is a dataclass
    input_dtype: str

    def to_dict(self) -> dict:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


S = TypeVar("S", bound=ColumnState)


class Column(Generic[S]):
    """Base class of the column kinds: one raw column (and what it reads beside it) -> model inputs.

    Class attributes a kind sets: `kind` (its name in the registry and in
    files), `group` (which `FeatureEncoder` argument it belongs with, one of
    `GROUPS`: the encoder orders columns by group), `single_level` (one
    value per row, so `FeatureEncoder.encode(blocks=...)` can take it),
    `_later` (options added after format 2 first shipped, with the default
    that is then left out of files).

    A subclass is a frozen dataclass whose first field is `name`. It
    implements `learn`, `state_from_dict`, `build_layers`, `transform`,
    `raw_inputs` and `features`; a kind that is not single-level also
    implements `encode`. The other methods have defaults. A complete kind
    written outside the package is in `tests/encoding/test_kinds.py`.

    Shapes: `encode` takes `(batch,)` raw tensors and returns `(batch, 1)`
    (single-level) or `(batch, max_len)` tensors; `transform` takes a table
    of `n` rows and returns `(n,)` or `(n, max_len)` arrays.
    """

    kind: ClassVar[str]
    group: ClassVar[str]
    single_level: ClassVar[bool] = True
    _later: ClassVar[dict] = {}
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # every subclass is a dataclass
    name: str
    # Options of some kinds, read by the checks below and by `FeatureEncoder`: a kind that has one declares it as
    # a field (`separator`: the kinds with a list of values per row, whose separator is a string).
    separator: str | None
    max_len: int | None
    embedding_dim: int | None

    # ------------------------------------------------------------ options

    def to_dict(self) -> dict:
        """The JSON form of the options: `{"kind": ..., "name": ..., ...}`; later options only when set."""
        fields = dataclasses.asdict(self)
        for key, value in list(fields.items()):
            if key in self._later and value == self._later[key]:
                del fields[key]
            elif isinstance(value, tuple):
                fields[key] = list(value)
        return {"kind": self.kind, **fields}

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Column:
        """Rebuilds a column from `to_dict()` (its `kind` may be left out). Raises ValueError naming the column."""
        config = dict(config)
        kind = config.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"Column {config.get('name')!r} is of kind {kind!r}, not {cls.kind!r}.")
        try:
            return cls(**config)
        except TypeError as e:
            raise ValueError(f"Bad arguments for {cls.kind} column {config.get('name')!r}: {e}") from None

    @property
    def table(self) -> str | None:
        """The table whose ids the column shares with others of that table (None: no ids to share)."""
        return None

    @property
    def side_inputs(self) -> dict[str, str]:
        """Raw columns read besides `name`, each also a model input of that name: name -> the option naming it."""
        return {}

    @property
    def derived_inputs(self) -> tuple[str, ...]:
        """Model inputs computed from the column's own values besides `name` (a missing indicator)."""
        return ()

    # ---------------------------------------------------------------- fit

    def learn(self, data) -> Any:
        """What the column learns from its rows alone (for most kinds its `ColumnState`)."""
        raise NotImplementedError

    def learn_part(self, data) -> Any:
        """What the column learns from one chunk of a table given in chunks (`FeatureEncoder.fit_chunks`).

        Parts of the chunks combine with `merge_parts`; `learned_from_parts`
        turns the merged part into what `learn` gives on the whole table.
        Memory is what the part holds (the distinct keys and their counts,
        or a few moments), never the rows. The base refuses: a kind whose
        state needs every row at once (a quantile) cannot be fitted in chunks.
        """
        raise ValueError(
            f"Column '{self.name}' ({self.kind}) cannot be fitted from chunks of the table: its state needs every row at "
            "once. Fit it on the whole table, or give it explicit settings."
        )

    def merge_parts(self, a: Any, b: Any) -> Any:
        """Two chunks' parts (`learn_part`) as one."""
        raise NotImplementedError

    def learned_from_parts(self, part: Any) -> Any:
        """What `learn` gives on the whole table, from the merged part of its chunks."""
        return part

    def learn_counts(self, counts: Mapping[str, int] | None, stats: Mapping[str, float] | None) -> Any:
        """`learn` from value counts or `{"mean", "std"}` gathered elsewhere (`FeatureEncoder.fit_counts`)."""
        raise ValueError(f"Column '{self.name}': `fit_counts` supports numeric and categorical columns only.")

    @classmethod
    def fit_table(cls, columns: Sequence[Column], learned: Sequence[Any]) -> list[ColumnState]:
        """The states of columns that share one table, from what each learned (the base: each alone)."""
        return list(learned)

    @classmethod
    def check_table(cls, columns: Sequence[Column]) -> None:
        """Checks that columns sharing one table agree on what makes its ids (the base: nothing to agree on)."""

    @classmethod
    def check_table_states(cls, columns: Sequence[Column], states: Sequence[ColumnState]) -> None:
        """Checks the fitted states of columns sharing one table (read from a file) agree."""

    def state_from_dict(self, state: Any) -> S:
        """The state of the column from its JSON form, every field checked. Raises ValueError naming the field."""
        raise NotImplementedError

    def serve_as(self, state: S, dtype: str) -> S:
        """The state served with raw dtype `dtype` (`fit_counts(input_dtypes=...)`); kinds with one dtype keep theirs."""
        return state

    # -------------------------------------------------------------- apply

    def build_layers(self, state: S, shared: dict) -> dict:
        """The Keras layers that apply the state: input name -> layer (or a tuple of layers applied in turn).

        `shared` is one dict per encoder, for layers that columns of one table share.
        """
        raise NotImplementedError

    def encode(self, layers: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict:
        """Raw `(batch,)` tensors -> model input name -> tensor (single-level kinds: `(batch, 1)`)."""
        import tensorflow as tf

        values = self.raw(inputs, self.name)
        return self.block_outputs(tf.reshape(layers[self.name](values), [-1, 1]), values)

    def block_outputs(self, encoded, values) -> dict:
        """A single-level column's model inputs from its layer's `(batch, 1)` output and its raw values."""
        return {self.name: encoded}

    def transform(self, layers: Mapping[str, Any], data) -> dict:
        """A DataFrame (or dict of columns) -> model input name -> NumPy array, with the same layers."""
        raise NotImplementedError

    def raw_inputs(self, data, dtype: str | None = None) -> dict:
        """A DataFrame's columns as the raw NumPy arrays `encode` reads: raw column name -> `(n,)` array."""
        raise NotImplementedError

    def input_dtypes(self, state: S) -> dict[str, str]:
        """Raw column -> the dtype it is served with (its own, then its side inputs')."""
        return {self.name: state.input_dtype, **dict.fromkeys(self.side_inputs, "string")}

    # ----------------------------------------------------------- features

    def features(self, state: S) -> list:
        """The column's own model feature(s)."""
        raise NotImplementedError

    def extra_features(self, state: S) -> list:
        """Features of its `derived_inputs`; the encoder lists them after the group's own features."""
        return []

    def vocabulary_size(self, state: S) -> int:
        """Number of ids of a categorical feature, padding and OOV included."""
        raise ValueError(f"Column '{self.name}' is a {self.kind} column: it has no ids.")

    @staticmethod
    def raw(inputs: Mapping[str, Any], name: str, owner: str | None = None):
        """`inputs[name]`, or a ValueError naming the column (and the column it belongs to)."""
        if name not in inputs:
            of = f" (the weights of '{owner}')" if owner else ""
            raise ValueError(f"Column '{name}'{of} is missing from the input. Available columns: {list(inputs)}")
        return inputs[name]


def tables(columns: Sequence[Column]) -> dict[str, list[Column]]:
    """The columns that have a table, by the table they look up, in column order.

    >>> from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
    >>> shared = tables([CategoricalColumn("movie_id"), MultiCategoricalColumn("history", embedding_name="movie_id")])
    >>> {table: [c.name for c in group] for table, group in shared.items()}
    {'movie_id': ['movie_id', 'history']}
    """
    out: dict[str, list[Column]] = {}
    for column in columns:
        if column.table is not None:
            out.setdefault(column.table, []).append(column)
    return out


def check_tables(columns: Sequence[Column]) -> None:
    """Columns that share a table agree on it, and a table is never named after a column without one.

    Raises:
        ValueError: naming the columns and the option.
    """
    by_name = {c.name: c for c in columns}
    for table, group in tables(columns).items():
        owner = by_name.get(table)
        if owner is not None and owner.table is None:
            raise ValueError(
                f"Column '{group[0].name}': embedding_name='{table}' names a {owner.kind} column, whose ids (if any) "
                "are not a vocabulary to share. Share tables between categorical and multi-categorical columns."
            )
        type(group[0]).check_table(group)


# ------------------------------------------------------------------ option checks (errors name the column)


def check_count(column: str, arg: str, value: Any, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Column '{column}': `{arg}` should be an integer >= {minimum}. Received: {arg}={value!r}")


def check_number(column: str, arg: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"Column '{column}': `{arg}` should be a number or None. Received: {arg}={value!r}")


def check_options(column: Column, names: Sequence[str] = ()) -> None:
    """Checks the column's `embedding_dim`, `combiner` (if any) and the extra name options `names`."""
    check_count(column.name, "embedding_dim", column.embedding_dim, 1, optional=True)
    combiner = getattr(column, "combiner", None)
    if combiner is not None and combiner not in COMBINERS:
        raise ValueError(f"Column '{column.name}': `combiner` should be one of {COMBINERS}. Received: {combiner!r}")
    for arg in names:
        value = getattr(column, arg)
        if value is None:
            continue
        try:
            NumericFeature(value)  # it becomes a model input or table name
        except ValueError:
            raise ValueError(
                f"Column '{column.name}': `{arg}` should be None or a name of ASCII letters, digits, '_', '.' or "
                f"'-' that starts with a letter. Received: {arg}={value!r}"
            ) from None


def check_separator(column: Column) -> None:
    if not isinstance(column.separator, str) or not column.separator:
        raise ValueError(
            f"The separator of {column.kind.replace('_', '-')} column '{column.name}' should be a non-empty string. "
            f"Received: {column.separator!r}"
        )


# -------------------------------------------- fitted-state checks (reading a file; errors name column and field)


def config_error(message: str) -> ValueError:
    return ValueError(f"FeatureEncoder config: {message}")


def check_keys(where: str, mapping: Any, required: set, allowed: set) -> None:
    if not isinstance(mapping, Mapping):
        raise config_error(f"{where} should be a JSON object. Received: {type(mapping).__name__}")
    missing = sorted(required - set(mapping))
    unknown = sorted(set(mapping) - allowed, key=str)
    if missing:
        raise config_error(f"{where} is missing {missing}.")
    if unknown:
        raise config_error(f"{where} has unknown key(s) {unknown}.")


def state_fields(column: Column, state: Any, fields: set, dtypes: str | tuple[str, ...]) -> None:
    """Checks that `state` has exactly `fields` and the `input_dtype` `dtypes` (a string), or one of them (a tuple)."""
    check_keys(f"the state of column '{column.name}'", state, fields, fields)
    if state["input_dtype"] not in ((dtypes,) if isinstance(dtypes, str) else dtypes):
        expected = repr(dtypes) if isinstance(dtypes, str) else f"one of {list(dtypes)}"
        raise config_error(
            f"column '{column.name}': `input_dtype` should be {expected}. Received: {state['input_dtype']!r}"
        )


def read_number(column: str, field: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise config_error(f"column '{column}': `{field}` should be a finite number. Received: {field}={value!r}")
    if positive and value <= 0:
        raise config_error(f"column '{column}': `{field}` should be positive. Received: {field}={value!r}")
    return float(value)


def read_max_len(column: Column, value: Any) -> int:
    """A fitted `max_len`: an integer >= 1, equal to the column's `max_len` option when it has one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise config_error(f"column '{column.name}': `max_len` should be an integer >= 1. Received: max_len={value!r}")
    if column.max_len is not None and value != column.max_len:
        raise config_error(
            f"column '{column.name}': `max_len` {value} differs from the column's max_len={column.max_len}."
        )
    return value
