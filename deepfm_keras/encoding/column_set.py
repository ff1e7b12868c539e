"""The columns of one `FeatureEncoder` as a set: made from its arguments, checked to go together, fitted and encoded.

Column names given as plain strings become the default column of their
argument (`numeric` -> `NumericColumn`, ...). A set of columns goes together
when every column is of a registered kind, names are unique, a column read
as another's side input (a weight column) is no column of its own, derived
inputs (missing indicators) clash with no name, and columns sharing a table
agree on it. The encoder keeps them in group order (`column.GROUPS`: numeric,
categorical, multi-categorical, numeric sequences), each group in the order
given. Columns that share a table are fitted together (`fit_states`), and
single-level columns given side by side are encoded together, one layer call
for the columns whose layers compute the same function (`encode_blocks`).

>>> columns = from_arguments([], ["u"], {"g": "|"}, None, min_count=1, max_len=None) + [NumericColumn("x")]
>>> [c.name for c in check(columns)]
['x', 'u', 'g']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
from deepfm_keras.encoding.column import GROUPS, Column, ColumnState, check_tables, tables
from deepfm_keras.encoding.kinds import COLUMN_KINDS
from deepfm_keras.encoding.layers import Bucketize, HashedLookup, NumericTransform
from deepfm_keras.encoding.numeric import NumericColumn, NumericSequenceColumn
from deepfm_keras.spec.feature_spec import normalize_spec
from deepfm_keras.spec.features import NumericFeature


def from_arguments(numeric, categorical, multi_categorical, numeric_sequence, *, min_count, max_len) -> list:
    """The columns of `FeatureEncoder(numeric, categorical, multi_categorical, numeric_sequence, min_count, max_len)`.

    Raises:
        ValueError: for a bad `min_count` or `max_len`, or a string given
            where a list of names is expected.
    """
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
    return columns


def check(columns: Sequence) -> list[Column]:
    """Checks that `columns` can be one encoder's; returns them in group order.

    Raises:
        ValueError: naming the column(s) and what is wrong.
    """
    stray = [c for c in columns if not isinstance(c, Column)]
    if stray:
        raise ValueError(f"Expected column names or column specs. Received: {stray[0]!r}")
    for column in columns:
        kind = getattr(column, "kind", None)
        registered = COLUMN_KINDS.get(kind) if isinstance(kind, str) else None
        if registered is None or not isinstance(column, registered):
            raise ValueError(
                f"Column '{column.name}' is of kind {kind!r}, which is not registered: add it with "
                "`deepfm_keras.encoding.register_column_kind`, so that a saved encoder can be read back."
            )
    ordered = sorted(columns, key=lambda c: GROUPS.index(c.group))  # stable: column order within a group
    if not ordered:
        raise ValueError("FeatureEncoder needs at least one numeric, categorical or multi-categorical column.")
    names = [c.name for c in ordered]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Column(s) {duplicates} are listed under more than one kind.")
    readers = {side: (c, option) for c in ordered for side, option in c.side_inputs.items()}
    for column in ordered:
        if column.name in readers:
            owner, option = readers[column.name]
            raise ValueError(f"Column '{column.name}' is also the `{option}` of column '{owner.name}'.")
    taken = [side for c in ordered for side in c.side_inputs]
    shared = sorted({w for w in taken if taken.count(w) > 1})
    if shared:
        owner, option = readers[shared[0]]  # "Weight column(s) ['w'] serve more than one multi-categorical column."
        raise ValueError(
            f"{option.replace('_', ' ').capitalize()}(s) {shared} serve more than one "
            f"{owner.kind.replace('_', '-')} column."
        )
    normalize_spec([NumericFeature(n) for n in names + taken])  # names a serving signature cannot keep fail here
    derived = [name for c in ordered for name in c.derived_inputs]
    clash = sorted(set(derived) & set(names + taken))
    if clash:
        raise ValueError(f"Missing-indicator feature(s) {clash} clash with columns of the same name.")
    check_tables(ordered)
    return ordered


def learned_from_chunks(columns: Sequence[Column], chunks: Iterable) -> tuple[dict[str, Any], int]:
    """What each column learns from a table given in chunks (`Column.learn_part`, merged chunk by chunk), and its rows.

    One chunk and the merged parts (distinct keys with their counts, moments)
    are held at a time. Empty chunks are skipped.
    """
    names = [c.name for c in columns]
    parts: dict[str, Any] | None = None
    rows = 0
    for chunk in chunks:
        n = raw.num_rows(chunk, names)
        if n == 0:
            continue
        rows += n
        new = {c.name: c.learn_part(chunk) for c in columns}
        parts = new if parts is None else {c.name: c.merge_parts(parts[c.name], new[c.name]) for c in columns}
    if parts is None:
        return {}, 0
    return {c.name: c.learned_from_parts(parts[c.name]) for c in columns}, rows


def fit_states(columns: Sequence[Column], learned: Mapping[str, Any]) -> dict[str, ColumnState]:
    """Every column's state from what each learned (`Column.learn`), the columns of one table together."""
    shared = tables(columns)
    state: dict[str, ColumnState] = {}
    for column in columns:
        if column.name not in state:
            group = shared[column.table] if column.table is not None else [column]
            states = type(column).fit_table(group, [learned[c.name] for c in group])
            state.update(zip((c.name for c in group), states, strict=True))
    return {c.name: state[c.name] for c in columns}


def encode_blocks(specs: Mapping[str, Column], layers: Mapping[str, Any], blocks: Sequence[tuple]) -> dict:
    """`FeatureEncoder.encode(blocks=...)`: side-by-side single-level columns, alike layers called once per block.

    Args:
        specs: column name -> column.
        layers: the encoder's layers.
        blocks: `(names, tensor)` pairs, the tensor `(batch, len(names))`.

    Returns:
        Model input name -> `(batch, 1)` tensor, for every column of the blocks.
    """
    import tensorflow as tf

    out = {}
    for names, block in blocks:
        unknown = [n for n in names if n not in specs or not specs[n].single_level]
        if unknown:
            raise ValueError(f"`blocks` names {unknown}, which are not single-level columns of the encoder.")
        groups: dict[Any, list[int]] = {}
        for i, name in enumerate(names):
            groups.setdefault(_layer_key(layers[name]), []).append(i)
        for index in groups.values():
            part = block if len(index) == len(names) else tf.gather(block, index, axis=1)
            encoded = layers[names[index[0]]](part)
            for j, i in enumerate(index):
                column = specs[names[i]]
                values = part[:, j : j + 1] if column.derived_inputs else None
                out.update(column.block_outputs(encoded[:, j : j + 1], values))
    return out


def check_lengths(arrays: Mapping[str, Any]) -> None:
    """Raises a ValueError naming the lengths when the arrays differ in length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Columns have different numbers of rows: {lengths}")


def _layer_key(layer) -> Any:
    """Layers with equal keys compute the same function (hashing and numeric layers); others are unique."""
    if isinstance(layer, (HashedLookup, NumericTransform, Bucketize)):
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        return type(layer).__name__, json.dumps(config, sort_keys=True)
    return id(layer)


def _named(kind: str, entries, make) -> list:
    if isinstance(entries, str):
        raise ValueError(f"`{kind}` should be a list of column names. Received: {kind}={entries!r}")
    return [entry if not isinstance(entry, str) else make(entry) for entry in entries]
