"""Fit state: what a `FeatureEncoder` learns from data, column by column, as plain JSON-ready dicts.

Each function takes a column spec and the column's raw values (or distinct
keys and counts) and returns that column's state: `mean`/`std`,
`boundaries`, `vocabulary`, `max_len` and the `input_dtype` it is served with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.columns import BucketizedColumn, MultiCategoricalColumn, NumericColumn
from deepfm_keras.encoding.layers import NumericTransform, SplitTokens


def fit_column(spec, data) -> dict:
    """State of column `spec.name` of a DataFrame (or dict of columns)."""
    if isinstance(spec, NumericColumn):
        return fit_numeric(spec, raw.numeric_values(data, spec.name))
    if isinstance(spec, BucketizedColumn):
        return fit_buckets(spec, raw.numeric_values(data, spec.name))
    separator = spec.separator if isinstance(spec, MultiCategoricalColumn) else None
    codes, keys = raw.factorized_keys(data, spec.name, separator=separator)
    return fit_categorical(spec, keys, np.bincount(codes[codes >= 0], minlength=len(keys)))


def fit_numeric(spec: NumericColumn, values: np.ndarray) -> dict:
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


def fit_buckets(spec: BucketizedColumn, values: np.ndarray) -> dict:
    """State of a bucketised column: the given boundaries, or quantiles of the finite values."""
    if spec.boundaries is not None:
        boundaries = list(spec.boundaries)
    else:
        finite = values[np.isfinite(values)]
        cuts = np.quantile(finite, np.linspace(0, 1, spec.num_buckets + 1)[1:-1]) if finite.size else []
        boundaries = sorted({float(b) for b in cuts})
    return {"boundaries": boundaries, "input_dtype": "float64"}


def fit_categorical(spec, keys: list, counts) -> dict:
    """State of a (multi-)categorical column from its distinct key strings and their counts.

    Multi-level cells are split with the column's `SplitTokens` layer (the
    tokens the encoding will see). Vocabulary: keys seen at least
    `min_count` times, most frequent first, ties by key, at most `max_size`.
    `input_dtype`: int64 when every key is an int64's decimal form.
    """
    if isinstance(spec, MultiCategoricalColumn):
        split = SplitTokens(spec.separator, max_len=1)
        tokens = split.tokens(np.array([raw.key_bytes(k) for k in keys], dtype=object).reshape(-1))
        lengths = tokens.row_lengths().numpy()
        weights = np.repeat(np.asarray(counts, "int64"), lengths)
        flat = [t.decode("utf-8", "surrogateescape") for t in tokens.flat_values.numpy().tolist()]
        totals = pd.Series(weights, dtype="int64").groupby(pd.Index(flat, dtype=object), sort=False).sum()
        keys, counts = list(totals.index), totals.to_numpy()
        longest = int(lengths.max()) if lengths.size else 0
        state = {"max_len": spec.max_len if spec.max_len is not None else max(longest, 1)}
    else:
        present = [k for k, n in zip(keys, counts, strict=True) if k is not None and n > 0]
        ints = bool(present) and all(raw.is_int64_key(k) for k in present)
        state = {"input_dtype": "int64" if ints else "string"}
    if isinstance(spec, MultiCategoricalColumn):
        state["input_dtype"] = "string"
    if spec.num_bins is None:
        totals = {}
        for key, count in zip(keys, counts, strict=True):
            if key is not None and count > 0:
                totals[key] = totals.get(key, 0) + int(count)
        kept = sorted(((k, n) for k, n in totals.items() if n >= spec.min_count), key=lambda kn: (-kn[1], kn[0]))
        state["vocabulary"] = [k for k, _ in kept[: spec.max_size]]
    return state
