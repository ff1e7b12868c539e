"""What the categorical kinds share: `IdColumn`, the base of columns whose values become ids of a table.

An id column maps raw keys to ids with a vocabulary learned from counts (key
`i` -> id `i + 2`, most frequent first, ties by key, at least `min_count`
occurrences, at most `max_size` keys) or by hashing (`num_bins`). Columns
naming one table (`embedding_name`) share its vocabulary, learned from their
counts summed, and one lookup layer, so a raw value has one id in all of them.

>>> from deepfm_keras.encoding import CategoricalColumn
>>> learn_vocabulary(CategoricalColumn("u", min_count=3), [(["c", "b", "a"], [2, 1, 3]), (["b"], [2])])
('a', 'b')
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.column import Column, ColumnState, S, check_count, config_error, state_fields
from deepfm_keras.encoding.ids import FIRST_ID
from deepfm_keras.encoding.layers import HashedLookup, VocabularyLookup


@dataclasses.dataclass(frozen=True)
class KeyCounts:
    """What an id column learns from its rows alone: its state but the vocabulary, and its keys with their counts."""

    state: ColumnState
    keys: list
    counts: np.ndarray


class IdColumn(Column[S]):
    """Base of the columns whose values become ids of a table: `CategoricalColumn`, `MultiCategoricalColumn`.

    A subclass is a frozen dataclass with the fields `name`, `min_count`,
    `max_size`, `num_bins`, `embedding_name` and `embedding_dim` (and
    `separator` for a list of values per row); it implements `_counted`
    (its state but the vocabulary, from its distinct keys and their counts)
    and its state dataclass has the fields `input_dtype` and `vocabulary`.
    This base learns and checks the shared vocabulary, builds the lookup
    layer and reads the raw keys.
    """

    min_count: int
    max_size: int | None
    num_bins: int | None
    embedding_name: str | None
    separator: str | None = None  # a multi-level column's separator: None for one value per row

    @property
    def table(self) -> str:
        """The table the feature looks up: `embedding_name`, else the column's name."""
        return self.embedding_name or self.name

    def learn(self, data) -> KeyCounts:
        codes, keys = raw.factorized_keys(data, self.name, separator=self.separator)
        return self._counted(keys, np.bincount(codes[codes >= 0], minlength=len(keys)))

    def _counted(self, keys: list, counts) -> KeyCounts:
        raise NotImplementedError

    def learn_part(self, data) -> KeyCounts:
        return self.learn(data)

    def merge_parts(self, a: KeyCounts, b: KeyCounts) -> KeyCounts:
        """The counts of both chunks summed by key (missing keys dropped: they are OOV); the states merged."""
        both = pd.concat(
            [pd.Series(np.asarray(p.counts, "int64"), index=pd.Index(p.keys, dtype=object)) for p in (a, b)]
        )
        both = both[both.index.notna() & (both.to_numpy() > 0)]
        totals = both.groupby(level=0, sort=False).sum()
        keys = list(totals.index)
        return KeyCounts(self._merged_state(a.state, b.state, keys), keys, totals.to_numpy())

    def _merged_state(self, a, b, keys: list):
        """The state (but the vocabulary) of two chunks together, from theirs and the summed counts."""
        raise NotImplementedError

    @classmethod
    def fit_table(cls, columns, learned) -> list:
        """One vocabulary for the table, from every column's counts summed; int64 only if every key is an integer."""
        if columns[0].num_bins is not None:
            return [part.state for part in learned]
        vocabulary = learn_vocabulary(columns[0], [(part.keys, part.counts) for part in learned])
        ints = all(raw.is_int64_key(k) for k in vocabulary)
        states = []
        for part in learned:
            dtype = "string" if part.state.input_dtype == "int64" and not ints else part.state.input_dtype
            states.append(dataclasses.replace(part.state, input_dtype=dtype, vocabulary=vocabulary))
        return states

    @classmethod
    def check_table(cls, columns) -> None:
        first = columns[0]
        for column in columns[1:]:
            for arg in ("num_bins", "min_count", "max_size", "embedding_dim"):
                if getattr(first, arg) != getattr(column, arg):
                    raise ValueError(
                        f"Columns '{first.name}' and '{column.name}' share the table '{column.table}' (embedding_name) "
                        f"but differ in `{arg}` ({getattr(first, arg)!r} vs {getattr(column, arg)!r}): a shared table "
                        "has one vocabulary (or one hashing) and one embedding size."
                    )

    @classmethod
    def check_table_states(cls, columns, states) -> None:
        for column, state in zip(columns[1:], states[1:], strict=True):
            if state.vocabulary != states[0].vocabulary:
                raise config_error(
                    f"column '{column.name}': `vocabulary` differs from that of column '{columns[0].name}', with which "
                    f"it shares the table '{column.table}' (embedding_name): a raw value would get two ids."
                )

    def _read_state(self, state: Any, extra: set, dtypes: tuple[str, ...]) -> dict:
        """The checked fields of a state read from a file (`vocabulary` as a tuple, or None when hashed)."""
        fields = {"input_dtype", *extra} | ({"vocabulary"} if self.num_bins is None else set())
        state_fields(self, state, fields, dtypes)
        vocabulary = None if self.num_bins is not None else read_vocabulary(self, state["vocabulary"])
        if state["input_dtype"] == "int64" and vocabulary is not None:
            bad = next((k for k in vocabulary if not raw.is_int64_key(k)), None)
            if bad is not None:
                raise config_error(f"column '{self.name}': `input_dtype` is 'int64' but the vocabulary holds {bad!r}.")
        return {"input_dtype": state["input_dtype"], "vocabulary": vocabulary}

    def _lookup(self, state, shared: dict):
        if self.num_bins is not None:
            return HashedLookup(self.num_bins, name=f"{self.name}_lookup")
        key = ("lookup", self.table)  # columns of one table share one lookup layer, hence one table
        layer = shared.get(key)
        if layer is None or layer.vocabulary != list(state.vocabulary):
            layer = VocabularyLookup(state.vocabulary, name=f"{self.name}_lookup")
        shared[key] = layer
        return layer

    def _uniques(self, data) -> tuple[np.ndarray, list, Any]:
        """Each row's code into the column's distinct keys, the keys, and the keys as a string tensor ("" last)."""
        import tensorflow as tf

        codes, keys = raw.factorized_keys(data, self.name, separator=self.separator)
        return codes, keys, tf.constant(raw.cells(keys), tf.string)

    def raw_inputs(self, data, dtype: str | None = None) -> dict:
        if self.separator is None:
            values = raw.column(data, self.name)
            kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else ""
            if kind == "i" or (kind == "u" and values.dtype.itemsize < 8):
                # NumPy integers are their own keys (an int's key is its decimal string): no key per value
                if dtype == "int64":
                    return {self.name: values.to_numpy(dtype="int64")}
                return {self.name: values.to_numpy().astype("S").astype(object)}
        codes, keys = raw.factorized_keys(data, self.name, separator=self.separator)
        if dtype == "int64":
            bad = [k for k in keys if k is None or not raw.is_int64_key(k)]
            if bad or (codes < 0).any():
                raise ValueError(
                    f"Column '{self.name}' is served as int64 but holds {bad[0] if bad else None!r}: send integers "
                    "only, or export with `id_dtypes={'" + self.name + "': 'string'}`."
                )
            table = np.array([int(k) for k in keys if k is not None], dtype="int64")  # none is None: `bad` is empty
        else:
            table = raw.cells(keys)
        return {self.name: table[codes] if len(table) else np.zeros(len(codes), dtype="int64")}

    def vocabulary_size(self, state) -> int:
        if self.num_bins is not None:
            return self.num_bins + FIRST_ID
        return len(state.vocabulary) + FIRST_ID


def check_id_options(column) -> None:
    check_count(column.name, "min_count", column.min_count, 1)
    check_count(column.name, "max_size", column.max_size, 1, optional=True)
    check_count(column.name, "num_bins", column.num_bins, 1, optional=True)


def learn_vocabulary(column, pairs) -> tuple[str, ...]:
    """Keys seen at least `min_count` times over all `(keys, counts)` pairs, most frequent first, ties by key."""
    totals: dict[str, int] = {}
    for keys, counts in pairs:
        for key, count in zip(keys, counts, strict=True):
            if key is not None and count > 0:
                totals[key] = totals.get(key, 0) + int(count)
    kept = sorted(((k, n) for k, n in totals.items() if n >= column.min_count), key=lambda kn: (-kn[1], kn[0]))
    return tuple(k for k, _ in kept[: column.max_size])


def read_vocabulary(column, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise config_error(
            f"column '{column.name}': `vocabulary` should be a list of strings. "
            f"Received: {type(value).__name__} {value!r:.80}"
        )
    seen: dict[str, int] = {}
    for i, key in enumerate(value):
        if not isinstance(key, str) or not key:
            raise config_error(
                f"column '{column.name}': `vocabulary` entry {i} should be a non-empty string. Received: {key!r}"
            )
    for i, key in enumerate(value):
        if key in seen:
            raise config_error(
                f"column '{column.name}': `vocabulary` lists {key!r} twice (entries {seen[key]} and {i}); "
                "every later key's id would shift."
            )
        seen[key] = i
    if column.max_size is not None and len(value) > column.max_size:
        raise config_error(
            f"column '{column.name}': `vocabulary` has {len(value)} keys, more than the column's "
            f"max_size={column.max_size}."
        )
    return tuple(value)
