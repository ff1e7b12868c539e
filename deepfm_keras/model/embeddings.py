"""The first builder steps: one `keras.Input` per feature, and the field embeddings both FM and deep parts use.

```
inputs = build_inputs(spec)                                            # dict name -> keras.Input
embeddings = build_field_embeddings(spec, inputs, embedding_dim=16)   # (batch, fields, 16)
```

With fields of their own `embedding_dim`, `build_embedding_views` gives both
views of the same lookups: the FM view `(batch, fields, k)` and the deep
view `(batch, sum of the fields' sizes)`:

```
fm_view, deep_view = build_embedding_views(spec, inputs, embedding_dim=16)
deep = build_deep(deep_view)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from deepfm_keras.layers import (
    CategoricalEmbedding,
    FitWidth,
    MaskedMeanPooling,
    NumericEmbedding,
    NumericSequencePooling,
)
from deepfm_keras.spec.feature_spec import field_groups, normalize_spec
from deepfm_keras.spec.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
)


def _check_embedding_dim(embedding_dim) -> int:
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"`embedding_dim` should be a positive integer. Received: embedding_dim={embedding_dim!r}")
    return embedding_dim


def build_inputs(feature_spec) -> dict[str, keras.KerasTensor]:
    """Creates one `keras.Input` per feature, named after it (and one per `weight_name`).

    Numeric features are float32 `(batch, 1)`, categorical int64 `(batch, 1)`
    (a `(batch,)` array is accepted by the model too), multi-categorical int64
    `(batch, max_len)`, a multi-categorical feature's weights float32
    `(batch, max_len)` named `weight_name`, numeric sequences float32
    `(batch, max_len)`. Ids are int64 from the input to the table lookup, so
    an id >= 2^31 never wraps onto another row; int32 ids are accepted too.

    Args:
        feature_spec: list of features (see `deepfm_keras.spec.features`).

    Returns:
        Dict from feature name to its symbolic input, in spec order.

    Example:

    >>> inputs = build_inputs([NumericFeature("age"), MultiCategoricalFeature("g", 5, max_len=3)])
    >>> [tuple(t.shape) for t in inputs.values()]
    [(None, 1), (None, 3)]
    """
    inputs = {}
    for feature in normalize_spec(feature_spec):
        if isinstance(feature, NumericFeature):
            inputs[feature.name] = keras.Input(shape=(1,), name=feature.name, dtype="float32")
        elif isinstance(feature, CategoricalFeature):
            inputs[feature.name] = keras.Input(shape=(1,), name=feature.name, dtype="int64")
        elif isinstance(feature, NumericSequenceFeature):
            inputs[feature.name] = keras.Input(shape=(feature.max_len,), name=feature.name, dtype="float32")
        else:
            inputs[feature.name] = keras.Input(shape=(feature.max_len,), name=feature.name, dtype="int64")
            if feature.weight_name:
                inputs[feature.weight_name] = keras.Input(
                    shape=(feature.max_len,), name=feature.weight_name, dtype="float32"
                )
    return inputs


def _concat(tensors: list, axis: int, name: str | None = None):
    if len(tensors) == 1 and name is None:
        return tensors[0]
    return keras.layers.Concatenate(axis=axis, name=name)(tensors)


def _group_suffix(dim) -> str:
    return "" if dim is None else f"_d{dim}"


def _numeric_columns(features, inputs, prefix: str) -> list:
    """One `(batch, 1)` column per numeric field: the input itself, or a numeric sequence pooled to one number."""
    columns = []
    for f in features:
        if isinstance(f, NumericSequenceFeature):
            pool = NumericSequencePooling(f.combiner, field_name=f.name, name=f"{prefix}_{f.name}_pooling")
            columns.append(pool(inputs[f.name]))
        else:
            columns.append(inputs[f.name])
    return columns


def _field_groups(
    spec,
    inputs: Mapping[str, keras.KerasTensor],
    dim_of,
    prefix: str,
    initializer,
    regularizer,
    regularize: str = "auto",
) -> list:
    """Per-group field vectors: `[(kind, embedding_dim, (batch, fields_in_group, dim_of(embedding_dim)))]`.

    Groups follow `deepfm_keras.spec.feature_spec.field_groups` (numeric fields first,
    then categorical ones, each grouped by their own `embedding_dim`).
    """
    missing = [name for f in spec for name in (f.name, getattr(f, "weight_name", None)) if name and name not in inputs]
    if missing:
        raise ValueError(f"`inputs` has no entry for feature(s) {missing}.")
    out = []
    for kind, group_dim, group in field_groups(spec):
        features: list[Any] = group  # one kind per group: the numeric or the id features
        dim, suffix = dim_of(group_dim), _group_suffix(group_dim)
        if kind == "numeric":
            x = _concat(_numeric_columns(features, inputs, f"{prefix}{suffix}"), axis=1)
            vectors = NumericEmbedding(
                len(features),
                dim,
                embeddings_initializer=initializer,
                embeddings_regularizer=regularizer,
                name=f"{prefix}_numeric{suffix}",
            )(x)
            out.append((kind, group_dim, vectors))
            continue
        ids = _concat([inputs[f.name] for f in features], axis=1)
        lengths = [f.max_len if isinstance(f, MultiCategoricalFeature) else 1 for f in features]
        shared = any(f.embedding_name for f in features)
        table = CategoricalEmbedding(
            [f.vocabulary_size for f in features],
            lengths,
            dim,
            embeddings_initializer=initializer,
            embeddings_regularizer=regularizer,
            regularize=regularize,
            field_names=[f.name for f in features],
            table_names=[f.table for f in features] if shared else None,
            name=f"{prefix}_categorical{suffix}",
        )(ids)
        masked = [isinstance(f, MultiCategoricalFeature) for f in features]
        combiners = [getattr(f, "combiner", "mean") for f in features]
        weighted = [bool(getattr(f, "weight_name", None)) for f in features]
        pooling = MaskedMeanPooling(
            lengths,
            masked,
            combiners=combiners if any(c != "mean" for c in combiners) else None,
            weighted=weighted if any(weighted) else None,
            name=f"{prefix}_pooling{suffix}",
        )
        pool_inputs = [table, ids]
        if any(weighted):
            pool_inputs.append(
                _concat([inputs[f.weight_name] for f, w in zip(features, weighted, strict=True) if w], axis=1)
            )
        out.append((kind, group_dim, pooling(pool_inputs)))
    return out


def build_embedding_views(
    feature_spec,
    inputs: Mapping[str, keras.KerasTensor],
    *,
    embedding_dim: int = 16,
    embeddings_initializer="uniform",
    embeddings_regularizer=None,
    regularize: str = "auto",
    name: str = "embeddings",
    deep_name: str = "deep_embeddings",
):
    """Builds the field embeddings once, seen two ways: by the FM parts `(batch, fields, k)` and by the deep part.

    Every field has a vector of its own `embedding_dim` (the common
    `embedding_dim` where it sets none). The FM view gives each field `k =
    embedding_dim` coordinates: its first `k` where its vector is longer, its
    vector zero-padded where it is shorter (`deepfm_keras.layers.FitWidth`).
    The deep view is every field's whole vector, flattened and concatenated.
    When no field has a size of its own, both views are the same
    `(batch, fields, k)` tensor.

    Args:
        feature_spec: list of features.
        inputs: the dict returned by `build_inputs(feature_spec)`.
        embedding_dim: k, the common size (the FM parts' size).
        embeddings_initializer: initializer of the tables.
        embeddings_regularizer: optional regularizer of the tables.
        regularize: `"table"`, `"rows"` or `"auto"` (see `build_field_embeddings`).
        name: name of the FM view's layer.
        deep_name: name of the deep view's layer (when it differs from the FM view).

    Returns:
        `(fm_view, deep_view)`: `(batch, num_fields, k)` and either the same
        tensor or `(batch, sum_i d_i)`.

    Example:

    >>> spec = [CategoricalFeature("u", 10, embedding_dim=8), CategoricalFeature("g", 3, embedding_dim=2)]
    >>> fm_view, deep_view = build_embedding_views(spec, build_inputs(spec), embedding_dim=4)
    >>> tuple(fm_view.shape), tuple(deep_view.shape)
    ((None, 2, 4), (None, 10))
    """
    spec = normalize_spec(feature_spec)
    _check_embedding_dim(embedding_dim)
    groups = _field_groups(
        spec,
        inputs,
        lambda dim: dim or embedding_dim,
        "embedding",
        embeddings_initializer,
        embeddings_regularizer,
        regularize,
    )
    if all(dim is None for _, dim, _ in groups):
        fm_view = _concat([vectors for _, _, vectors in groups], axis=1, name=name)
        return fm_view, fm_view
    fm_parts, deep_parts = [], []
    for kind, dim, vectors in groups:
        suffix = f"{kind}{_group_suffix(dim)}"
        if dim is None or dim == embedding_dim:
            fm_parts.append(vectors)
        else:
            fm_parts.append(FitWidth(embedding_dim, name=f"embedding_{suffix}_fit")(vectors))
        fields, width = vectors.shape[1], vectors.shape[2]
        deep_parts.append(keras.layers.Reshape((fields * width,), name=f"embedding_{suffix}_flat")(vectors))
    return _concat(fm_parts, axis=1, name=name), _concat(deep_parts, axis=1, name=deep_name)


def build_field_embeddings(
    feature_spec,
    inputs: Mapping[str, keras.KerasTensor],
    *,
    embedding_dim: int = 16,
    embeddings_initializer="uniform",
    embeddings_regularizer=None,
    regularize: str = "auto",
    name: str = "embeddings",
):
    """Builds the shared field embeddings that the 2nd-order FM and deep parts consume.

    Categorical fields are looked up in one fused table (per embedding size);
    numeric fields are projected (`x * v`); multi-level fields are pooled
    over non-padding ids with their combiner (weighted if they have a
    `weight_name`); numeric sequences are pooled to one number first. Fields
    are ordered numeric first, then categorical, each in spec order
    (`deepfm_keras.spec.feature_spec.field_order`). Fields with their own
    `embedding_dim` appear here in the FM's size `k` (see
    `build_embedding_views`, which also gives the deep part their whole
    vectors).

    Args:
        feature_spec: list of features.
        inputs: the dict returned by `build_inputs(feature_spec)`.
        embedding_dim: k, the size of each field's vector.
        embeddings_initializer: initializer of the tables.
        embeddings_regularizer: optional regularizer of the tables.
        regularize: where the regularizer applies to the categorical table:
            `"table"`, `"rows"` (the distinct rows a batch looks up) or
            `"auto"` (see `deepfm_keras.layers.CategoricalEmbedding`).
        name: name of the output layer.

    Returns:
        Tensor of shape `(batch, num_fields, embedding_dim)`.

    Example:

    >>> spec = [CategoricalFeature("u", 10), NumericFeature("x")]
    >>> tuple(build_field_embeddings(spec, build_inputs(spec), embedding_dim=4).shape)
    (None, 2, 4)
    """
    return build_embedding_views(
        feature_spec,
        inputs,
        embedding_dim=embedding_dim,
        embeddings_initializer=embeddings_initializer,
        embeddings_regularizer=embeddings_regularizer,
        regularize=regularize,
        name=name,
    )[0]
