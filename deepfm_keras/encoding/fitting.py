"""Fit state: what a `FeatureEncoder` learns from data, column by column, as plain JSON-ready dicts.

Each function takes a column spec and the column's raw values (or distinct
keys and counts) and returns that column's state: `mean`/`std`,
`boundaries`, `vocabulary`, `max_len` and the `input_dtype` it is served with.
Columns that share a table (`embedding_name`) get one vocabulary, learned from
the counts of all of them summed (`fit_vocabularies`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.columns import (
    BucketizedColumn,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    tables,
)
from deepfm_keras.encoding.layers import NumericTransform, SplitTokens


def fit_columns(columns, data) -> dict:
    """State of every column of a DataFrame (or dict of columns), in column order."""
    state, counts = {}, {}
    for spec in columns:
        if isinstance(spec, NumericColumn):
            state[spec.name] = fit_numeric(spec, raw.numeric_values(data, spec.name))
        elif isinstance(spec, BucketizedColumn):
            state[spec.name] = fit_buckets(spec, raw.numeric_values(data, spec.name))
        elif isinstance(spec, NumericSequenceColumn):
            state[spec.name] = fit_sequence(spec, data)
        else:
            separator = spec.separator if isinstance(spec, MultiCategoricalColumn) else None
            codes, keys = raw.factorized_keys(data, spec.name, separator=separator)
            counts[spec.name] = (keys, np.bincount(codes[codes >= 0], minlength=len(keys)))
    state.update(fit_vocabularies([c for c in columns if c.name in counts], counts))
    return {spec.name: state[spec.name] for spec in columns}


def fit_numeric(spec, values: np.ndarray) -> dict:
    """State of a numeric column: mean and std of its clipped, log1p-transformed values (0 and 1 when not standardised)."""
    layer = NumericTransform(log1p=spec.log1p, clip_min=spec.clip_min, clip_max=spec.clip_max)
    prepared = layer.prepare(values).numpy()
    if np.isinf(prepared).any():
        raise ValueError(
            f"Column '{spec.name}' holds infinite values; the encoder cannot standardise +-inf. "
            "Replace them, or clip the column (NumericColumn(clip_min=..., clip_max=...))."
        )
    finite = prepared[~np.isnan(prepared)]
    mean, std = 0.0, 1.0
    if spec.standardize and finite.size:
        mean, std = float(finite.mean()), float(finite.std())
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise ValueError(f"Column '{spec.name}' holds values too large to standardise.")
    return {"mean": mean, "std": std if std > 0 else 1.0, "input_dtype": "float64"}


def fit_sequence(spec: NumericSequenceColumn, data) -> dict:
    """State of a numeric sequence column: mean and std over every element of every row, and `max_len`."""
    from deepfm_keras.encoding.numbers import SplitNumbers, parse_column

    codes, _, lengths, values = parse_column(SplitNumbers(spec.separator, max_len=1), data, spec.name)
    rows = np.bincount(codes[codes >= 0], minlength=len(lengths))  # how many rows hold each distinct cell
    elements = np.repeat(values.flat_values.numpy(), np.repeat(rows, lengths))
    state = fit_numeric(spec, elements)
    longest = int(lengths[rows > 0].max()) if (rows > 0).any() else 0
    return {**state, "max_len": spec.max_len if spec.max_len is not None else max(longest, 1), "input_dtype": "string"}


def fit_buckets(spec: BucketizedColumn, values: np.ndarray) -> dict:
    """State of a bucketised column: the given boundaries, or quantiles of the finite values."""
    if spec.boundaries is not None:
        boundaries = list(spec.boundaries)
    else:
        finite = values[np.isfinite(values)]
        cuts = np.quantile(finite, np.linspace(0, 1, spec.num_buckets + 1)[1:-1]) if finite.size else []
        boundaries = sorted({float(b) for b in cuts})
    return {"boundaries": boundaries, "input_dtype": "float64"}


def _token_counts(spec, keys: list, counts) -> tuple[dict, list, np.ndarray]:
    """A column's state without its vocabulary, and the counts of the keys its vocabulary is learned from.

    Multi-level cells are split with the column's `SplitTokens` layer (the
    tokens the encoding will see); `max_len` is the longest list unless
    given. `input_dtype`: int64 when every key of a single-level column is an
    int64's decimal form.
    """
    if isinstance(spec, MultiCategoricalColumn):
        split = SplitTokens(spec.separator, max_len=1)
        tokens = split.tokens(np.array([raw.key_bytes(k) for k in keys], dtype=object).reshape(-1))
        lengths = tokens.row_lengths().numpy()
        weights = np.repeat(np.asarray(counts, "int64"), lengths)
        flat = [t.decode("utf-8", "surrogateescape") for t in tokens.flat_values.numpy().tolist()]
        totals = pd.Series(weights, dtype="int64").groupby(pd.Index(flat, dtype=object), sort=False).sum()
        longest = int(lengths.max()) if lengths.size else 0
        state = {"max_len": spec.max_len if spec.max_len is not None else max(longest, 1), "input_dtype": "string"}
        return state, list(totals.index), totals.to_numpy()
    present = [k for k, n in zip(keys, counts, strict=True) if k is not None and n > 0]
    ints = bool(present) and all(raw.is_int64_key(k) for k in present)
    return {"input_dtype": "int64" if ints else "string"}, keys, counts


def _vocabulary(spec, pairs) -> list[str]:
    """Keys seen at least `min_count` times, most frequent first, ties by key, at most `max_size`."""
    totals: dict[str, int] = {}
    for keys, counts in pairs:
        for key, count in zip(keys, counts, strict=True):
            if key is not None and count > 0:
                totals[key] = totals.get(key, 0) + int(count)
    kept = sorted(((k, n) for k, n in totals.items() if n >= spec.min_count), key=lambda kn: (-kn[1], kn[0]))
    return [k for k, _ in kept[: spec.max_size]]


def fit_categorical(spec, keys: list, counts) -> dict:
    """State of one (multi-)categorical column from its distinct key strings and their counts."""
    return fit_vocabularies([spec], {spec.name: (keys, counts)})[spec.name]


def fit_vocabularies(specs, counts) -> dict:
    """States of (multi-)categorical columns from `counts`, name -> (distinct keys, their counts).

    Columns that share a table (`embedding_name`; they agree on `min_count`,
    `max_size` and `num_bins`, see `columns.check_tables`) get one
    vocabulary learned from all their counts summed, so a key has one id in
    all of them. A column sharing a vocabulary with non-integer keys is
    served as strings.
    """
    state = {}
    for group in tables(specs).values():
        parts = {spec.name: _token_counts(spec, *counts[spec.name]) for spec in group}
        if group[0].num_bins is not None:
            state.update({name: part[0] for name, part in parts.items()})
            continue
        vocabulary = _vocabulary(group[0], [(keys, n) for _, keys, n in parts.values()])
        ints = all(raw.is_int64_key(k) for k in vocabulary)
        for name, (column_state, _, _) in parts.items():
            if column_state["input_dtype"] == "int64" and not ints:
                column_state["input_dtype"] = "string"
            state[name] = {**column_state, "vocabulary": list(vocabulary)}
    return {spec.name: state[spec.name] for spec in specs}
