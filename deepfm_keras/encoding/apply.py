"""Applying a fitted encoding: raw values through the encoding layers, on tensors or on a DataFrame.

`encode` is what `tf.data` pipelines and the serving signature run on raw
tensors; `transform` runs the same layers on a DataFrame (each distinct
categorical value once); `raw_inputs` turns a DataFrame into the raw arrays
`encode` reads. The `FeatureEncoder` methods of the same names call these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.columns import (
    BucketizedColumn,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
)
from deepfm_keras.encoding.layers import (
    PAD_ID,
    Bucketize,
    HashedLookup,
    NumericTransform,
    SplitTokens,
    VocabularyLookup,
)
from deepfm_keras.encoding.numbers import SplitNumbers, parse_column
from deepfm_keras.features import NUMERIC_LIMIT, input_names

MISSING_SUFFIX = "_missing"
LIST_KINDS = (MultiCategoricalColumn, NumericSequenceColumn)


def _layer_key(layer) -> Any:
    """Layers with equal keys compute the same function (hashing and numeric layers); others are unique."""
    if isinstance(layer, (HashedLookup, NumericTransform, Bucketize)):
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        return type(layer).__name__, json.dumps(config, sort_keys=True)
    return id(layer)


def _numeric_transform(spec, state: dict, name: str) -> NumericTransform:
    return NumericTransform(
        mean=state["mean"],
        std=state["std"],
        log1p=spec.log1p,
        clip_min=spec.clip_min,
        clip_max=spec.clip_max,
        name=name,
    )


def build_layers(columns, state: dict) -> dict:
    """The encoding layers of fitted columns: name -> layer.

    A multi-level column has `(SplitTokens, lookup)` (columns sharing a
    vocabulary share one lookup layer, hence one table), its weight column a
    `SplitNumbers` under the weight column's name; a numeric sequence
    `(SplitNumbers, NumericTransform)`.
    """
    layers, lookups = {}, {}
    for spec in columns:
        name, column_state = spec.name, state[spec.name]
        if isinstance(spec, NumericColumn):
            layer = _numeric_transform(spec, column_state, name)
        elif isinstance(spec, BucketizedColumn):
            layer = Bucketize(column_state["boundaries"], name=name)
        elif isinstance(spec, NumericSequenceColumn):
            split = SplitNumbers(spec.separator, column_state["max_len"], name=f"{name}_split")
            layer = (split, _numeric_transform(spec, column_state, name))
        else:
            if spec.num_bins is not None:
                layer = HashedLookup(spec.num_bins, name=f"{name}_lookup")
            else:
                layer = lookups.get(spec.table)
                if layer is None or layer.vocabulary != column_state["vocabulary"]:
                    layer = VocabularyLookup(column_state["vocabulary"], name=f"{name}_lookup")
                lookups[spec.table] = layer
            if isinstance(spec, MultiCategoricalColumn):
                layer = (SplitTokens(spec.separator, column_state["max_len"], name=f"{name}_split"), layer)
                if spec.weight_column:
                    layers[spec.weight_column] = SplitNumbers(
                        spec.separator, column_state["max_len"], 0.0, NUMERIC_LIMIT, name=spec.weight_column
                    )
        layers[name] = layer
    return layers


def _sequence(layers, values):
    """A numeric sequence's raw strings -> float32 `(batch, max_len)`: elements transformed, padding NaN."""
    import tensorflow as tf

    split, transform = layers
    parsed = split(values)  # float64, NaN padding
    return tf.where(tf.math.is_nan(parsed), tf.constant(float("nan"), tf.float32), transform(parsed))


def _weights(layer: SplitNumbers, values, id_counts, ids_name: str):
    """A weight column's raw strings -> float32 `(batch, max_len)`, checked to hold one weight per id."""
    import tensorflow as tf

    counts = layer.parse(values)[1].row_lengths()
    check = tf.debugging.assert_equal(
        counts,
        id_counts,
        message=f"Feature `{layer.name}` has a row whose number of weights differs from its number of ids in "
        f"`{ids_name}`",
    )
    with tf.control_dependencies([check]):
        return tf.cast(layer(values), tf.float32)


def encode(encoder, raw_inputs: Mapping[str, Any] | None = None, *, blocks: Sequence[tuple] = ()) -> dict:
    """Encodes raw tensors (one `(batch,)` tensor per column) into model inputs, with the encoding layers.

    Raw dtypes: float64 for numeric and bucketised columns (NaN is
    missing), int64 or string for categorical columns, string for
    multi-level ones (the unsplit `"a|b"`), their weight columns
    (`"0.5|2"`) and numeric sequences (`"1.5|3"`). This is what `tf.data`
    pipelines and the serving signature run. A bad number in a weight
    column or a sequence, or a row with more or fewer weights than ids,
    fails the graph's assertion (`InvalidArgumentError`) naming the feature.

    Args:
        raw_inputs: dict column -> `(batch,)` tensor.
        blocks: optional `(names, tensor)` pairs, the tensor `(batch,
            len(names))` holding those single-level columns side by
            side (a parsed file, say). Columns whose layers are
            configured alike (same hashing, same numeric transform) are
            encoded by one call of that layer: the same ops, the same
            ids and values as column by column.

    Returns:
        Dict model input name -> tensor, in `input_names(feature_spec)`
        order: float32 `(batch, 1)`, int64 `(batch, 1)`, int64
        `(batch, max_len)` (id lists), float32 `(batch, max_len)` (weights,
        0 at padding; numeric sequences, NaN at padding).
    """
    import tensorflow as tf

    layers = encoder.layers()
    specs = encoder.column_specs
    out = {}
    for names, block in blocks:
        unknown = [n for n in names if n not in specs or isinstance(specs[n], LIST_KINDS)]
        if unknown:
            raise ValueError(f"`blocks` names {unknown}, which are not single-level columns of the encoder.")
        groups: dict[Any, list[int]] = {}
        for i, name in enumerate(names):
            groups.setdefault(_layer_key(layers[name]), []).append(i)
        for index in groups.values():
            part = block if len(index) == len(names) else tf.gather(block, index, axis=1)
            encoded = layers[names[index[0]]](part)
            missing = tf.cast(tf.math.is_nan(tf.cast(part, tf.float64)), tf.float32)
            for j, i in enumerate(index):
                out[names[i]] = encoded[:, j : j + 1]
                if getattr(specs[names[i]], "missing_indicator", False):
                    out[names[i] + MISSING_SUFFIX] = missing[:, j : j + 1]
    raw_inputs = dict(raw_inputs or {})
    for spec in encoder.columns:
        name = spec.name
        if name in out:
            continue
        if name not in raw_inputs:
            raise ValueError(f"Column '{name}' is missing from the input. Available columns: {list(raw_inputs)}")
        values = raw_inputs[name]
        if isinstance(spec, NumericSequenceColumn):
            out[name] = _sequence(layers[name], values)
            continue
        if isinstance(spec, MultiCategoricalColumn):
            split, lookup = layers[name]
            tokens = split(values)
            out[name] = tf.where(tf.equal(tokens, ""), tf.constant(PAD_ID, tf.int64), lookup(tokens))
            if spec.weight_column:
                if spec.weight_column not in raw_inputs:
                    raise ValueError(
                        f"Column '{spec.weight_column}' (the weights of '{name}') is missing from the input. "
                        f"Available columns: {list(raw_inputs)}"
                    )
                id_counts = split.tokens(values).row_lengths()
                weights = raw_inputs[spec.weight_column]
                out[spec.weight_column] = _weights(layers[spec.weight_column], weights, id_counts, name)
            continue
        out[name] = tf.reshape(layers[name](values), [-1, 1])
        if isinstance(spec, NumericColumn) and spec.missing_indicator:
            missing = tf.math.is_nan(tf.cast(values, tf.float64))
            out[name + MISSING_SUFFIX] = tf.reshape(tf.cast(missing, tf.float32), [-1, 1])
    return {name: out[name] for name in input_names(encoder.feature_spec)}


def raw_inputs(encoder, data, *, dtypes: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """A DataFrame (or dict of columns) as NumPy arrays of the raw dtypes `encode` reads.

    Args:
        data: the table.
        dtypes: categorical column -> "int64" or "string". Default:
            every categorical column as its key bytes (any column,
            missing values included: what `tf.data` pipelines use). An
            int64 column must hold integers only.

    Returns:
        Dict column -> `(n,)` array: float64, int64 or object (bytes; the
        number lists of weight columns and numeric sequences as their
        joined strings, checked by the layers that parse them).

    Raises:
        ValueError: naming the column (and value) that cannot be converted.
    """
    dtypes = dict(dtypes or {})
    out = {}
    for spec in encoder.columns:
        name = spec.name
        if isinstance(spec, (NumericColumn, BucketizedColumn)):
            out[name] = raw.numeric_values(data, name)
            continue
        if isinstance(spec, NumericSequenceColumn):
            out[name] = _raw_numbers(data, name, spec.separator)
            continue
        if getattr(spec, "weight_column", None):
            out[spec.weight_column] = _raw_numbers(data, spec.weight_column, spec.separator)
        separator = spec.separator if isinstance(spec, MultiCategoricalColumn) else None
        codes, keys = raw.factorized_keys(data, name, separator=separator)
        if dtypes.get(name) == "int64":
            bad = [k for k in keys if k is None or not raw.is_int64_key(k)]
            if bad or (codes < 0).any():
                raise ValueError(
                    f"Column '{name}' is served as int64 but holds {bad[0] if bad else None!r}: send integers "
                    "only, or export with `id_dtypes={'" + name + "': 'string'}`."
                )
            table = np.array([int(k) for k in keys], dtype="int64")
        else:
            table = np.array([raw.key_bytes(k) for k in keys] + [b""], dtype=object)
        out[name] = table[codes] if len(table) else np.zeros(len(codes), dtype="int64")
    lengths = {name: len(a) for name, a in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Columns have different numbers of rows: {lengths}")
    return {name: out[name] for name in encoder.input_dtypes}


def _raw_numbers(data, column: str, separator: str) -> np.ndarray:
    codes, keys = raw.number_list_keys(data, column, separator=separator)
    return _cells(keys)[codes]


def transform(encoder, data) -> dict[str, np.ndarray]:
    """Encodes a DataFrame (or dict of columns) into `{name: array}` in `feature_spec` order.

    Each categorical column's distinct values (and each distinct cell of a
    number-list column) go through the encoding layers once; numeric
    columns in full. Numeric features are float32 `(n,)`, categorical int64
    `(n,)`, multi-categorical int64 `(n, max_len)`, weights and numeric
    sequences float32 `(n, max_len)`. Extra columns are ignored.

    Raises:
        RuntimeError: if the encoder is not fitted.
        ValueError: for a missing column, a wrong-kind column, columns of
            different lengths or numeric values that cannot be encoded,
            naming the column; for a bad number in a weight column or a
            numeric sequence, or a row with more or fewer weights than ids,
            naming the column, the row and the value.
    """
    import tensorflow as tf

    layers = encoder.layers()
    out: dict[str, np.ndarray] = {}
    for spec in encoder.columns:
        name = spec.name
        if isinstance(spec, NumericSequenceColumn):
            out[name] = _transform_sequence(spec, layers[name], data)
            continue
        if isinstance(spec, (NumericColumn, BucketizedColumn)):
            values = raw.numeric_values(data, name)
            if isinstance(spec, NumericColumn):
                if spec.clip_min is None and spec.clip_max is None and np.isinf(values).any():
                    raise ValueError(
                        f"Column '{name}' holds infinite values; the encoder cannot standardise +-inf. "
                        "Replace them, or clip the column (NumericColumn(clip_min=..., clip_max=...))."
                    )
                try:
                    out[name] = layers[name](values).numpy()
                except tf.errors.InvalidArgumentError:
                    raise ValueError(
                        f"Column '{name}' holds values beyond the float32 range once transformed."
                    ) from None
                if spec.missing_indicator:
                    out[name + MISSING_SUFFIX] = np.isnan(values).astype("float32")
            else:
                out[name] = layers[name](values).numpy()
            continue
        separator = spec.separator if isinstance(spec, MultiCategoricalColumn) else None
        codes, keys = raw.factorized_keys(data, name, separator=separator)
        uniques = tf.constant(np.array([raw.key_bytes(k) for k in keys] + [b""], dtype=object), tf.string)
        if isinstance(spec, MultiCategoricalColumn):
            split, lookup = layers[name]
            tokens = split(uniques)
            table = tf.where(tf.equal(tokens, ""), tf.constant(PAD_ID, tf.int64), lookup(tokens)).numpy()
            if spec.weight_column:
                id_counts = split.tokens(uniques).row_lengths().numpy()[codes]
                out[spec.weight_column] = _transform_weights(
                    spec, layers[spec.weight_column], data, id_counts, keys, codes
                )
        else:
            table = layers[name](uniques).numpy()
        out[name] = table[codes]  # code -1 (missing) reads the trailing "" entry: OOV, or an all-padding list
    lengths = {name: len(a) for name, a in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Columns have different numbers of rows: {lengths}")
    return {name: out[name] for name in input_names(encoder.feature_spec)}


def _cells(keys) -> np.ndarray:
    return np.array([raw.key_bytes(k) for k in keys] + [b""], dtype=object)


def _transform_sequence(spec, layers, data) -> np.ndarray:
    import tensorflow as tf

    codes, keys, _, _ = parse_column(layers[0], data, spec.name)  # a bad number: ValueError naming the row
    try:
        table = _sequence(layers, _cells(keys)).numpy()
    except tf.errors.InvalidArgumentError:
        raise ValueError(f"Column '{spec.name}' holds values beyond +-{NUMERIC_LIMIT:g} once transformed.") from None
    return table[codes]


def _transform_weights(spec, layer, data, id_counts, id_keys, id_codes) -> np.ndarray:
    codes, keys, counts, _ = parse_column(layer, data, spec.weight_column)
    mismatch = np.flatnonzero(counts[codes] != id_counts)
    if mismatch.size:
        row = int(mismatch[0])
        ids = id_keys[id_codes[row]] if id_codes[row] >= 0 else None
        raise ValueError(
            f"Column '{spec.weight_column}', row {row}: {int(counts[codes[row]])} weight(s) "
            f"({keys[codes[row]] if codes[row] >= 0 else None!r}) for {int(id_counts[row])} id(s) of column "
            f"'{spec.name}' ({ids!r}): every id needs one weight, joined by {spec.separator!r} in the same order."
        )
    return layer(_cells(keys)).numpy().astype("float32")[codes]
