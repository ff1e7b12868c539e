"""A feature spec as a whole: checked (`normalize_spec`), ordered as the model embeds it, and as JSON.

Example:

>>> from deepfm_keras.spec.features import CategoricalFeature, NumericFeature
>>> field_order([CategoricalFeature("u", 10), NumericFeature("x")])
['x', 'u']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from deepfm_keras.spec.features import (
    ID_KINDS,
    NUMERIC_KINDS,
    CategoricalFeature,
    Feature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
    feature_from_dict,
)
from deepfm_keras.spec.names import argument_name


def spec_to_dicts(spec: Iterable[Feature]) -> list[dict]:
    """Returns the JSON-ready form of a spec.

    Args:
        spec: list of features.

    Returns:
        List of dicts, one per feature, each with its `kind`.

    >>> spec_to_dicts([CategoricalFeature("u", 10)])
    [{'kind': 'categorical', 'name': 'u', 'vocabulary_size': 10}]
    """
    return [feature.to_dict() for feature in normalize_spec(spec)]


def spec_from_dicts(configs: Iterable[Mapping[str, Any]]) -> list[Feature]:
    """Rebuilds a spec from `spec_to_dicts` output.

    Args:
        configs: list of dicts as written by `spec_to_dicts`.

    Returns:
        List of features, checked like `normalize_spec`.

    >>> spec_from_dicts([{"kind": "numeric", "name": "age"}])
    [NumericFeature(name='age', embedding_dim=None)]
    """
    return normalize_spec([feature_from_dict(c) for c in configs])


def _check_inputs_and_tables(features: list) -> None:
    """Every model input name (feature names and `weight_name`s) distinct; shared tables consistent."""
    inputs: dict[str, str] = {}  # input name -> what declares it
    for feature in features:
        declared = [(feature.name, f"feature '{feature.name}'")]
        if getattr(feature, "weight_name", None):
            declared.append((feature.weight_name, f"the `weight_name` of feature '{feature.name}'"))
        for name, what in declared:
            if name in inputs:
                raise ValueError(f"Duplicate input name '{name}' in `feature_spec`: {inputs[name]} and {what}.")
            clash = [other for other in inputs if argument_name(other) == argument_name(name)]
            if clash:
                raise ValueError(
                    f"Input names '{clash[0]}' and '{name}' differ only in case or in '-', '.' and '_': "
                    "the exported TensorFlow signature cannot tell them apart. Rename one of them."
                )
            inputs[name] = what
    by_name = {f.name: f for f in features}
    tables: dict[str, Any] = {}
    for feature in features:
        table = getattr(feature, "table", None)
        if table is None:
            if any(getattr(f, "embedding_name", None) == feature.name for f in features):
                raise ValueError(
                    f"A feature has embedding_name='{feature.name}', but '{feature.name}' is a "
                    f"{feature.kind} feature, which has no table."
                )
            continue
        owner = tables.setdefault(table, feature)
        if owner is feature:
            if table != feature.name and table in by_name and not isinstance(by_name[table], ID_KINDS):
                raise ValueError(
                    f"Feature '{feature.name}': embedding_name='{table}' names a {by_name[table].kind} feature, "
                    "which has no table."
                )
            continue
        for arg in ("vocabulary_size", "embedding_dim"):
            if getattr(owner, arg) != getattr(feature, arg):
                raise ValueError(
                    f"Features '{owner.name}' and '{feature.name}' share the table '{table}' but differ in "
                    f"`{arg}` ({getattr(owner, arg)!r} vs {getattr(feature, arg)!r}): a shared table has one size. "
                    "Give them the same vocabulary (e.g. one FeatureEncoder vocabulary) and embedding_dim."
                )


def normalize_spec(spec: Any) -> list[Feature]:
    """Checks a feature spec and returns it as a list of features.

    Accepts a list or tuple of features (or of their dict form), or an object
    with a `feature_spec` attribute (such as a fitted `FeatureEncoder`).

    Args:
        spec: the spec to check.

    Returns:
        List of features, in the given order.

    Raises:
        ValueError: for an empty spec, a duplicate name (features and
            `weight_name`s are all model inputs), an entry that is not a
            feature, or fields sharing a table (`embedding_name`) with
            different `vocabulary_size` or `embedding_dim`, naming the
            offending features.
    """
    if hasattr(spec, "feature_spec") and not isinstance(spec, (list, tuple)):
        spec = spec.feature_spec
    if isinstance(spec, (str, bytes, Mapping)) or not isinstance(spec, Sequence):
        raise ValueError(f"`feature_spec` should be a list of features. Received: {type(spec).__name__}")
    features: list[Feature] = []
    for entry in spec:
        if isinstance(entry, Mapping):
            entry = feature_from_dict(entry)
        if not isinstance(entry, (NumericFeature, CategoricalFeature, MultiCategoricalFeature, NumericSequenceFeature)):
            raise ValueError(
                "Every entry of `feature_spec` should be a NumericFeature, CategoricalFeature, "
                f"MultiCategoricalFeature or NumericSequenceFeature. Received: {entry!r}"
            )
        if any(f.name == entry.name for f in features):
            raise ValueError(f"Duplicate feature name '{entry.name}' in `feature_spec`.")
        features.append(entry)
    if not features:
        raise ValueError("`feature_spec` is empty: a DeepFM model needs at least one feature.")
    _check_inputs_and_tables(features)
    return features


def field_groups(spec: Iterable[Feature], *, by_dim: bool = True) -> list[tuple[str, int | None, list[Feature]]]:
    """The groups of fields the model embeds together, in the order of its `(batch, fields, k)` embeddings.

    Numeric fields (plain and sequences) come first, then the categorical and
    multi-categorical fields. Within each, fields are grouped by their own
    `embedding_dim` (`None`: the model's common size), groups in the order
    their first field appears in the spec, fields in spec order.

    Args:
        spec: list of features.
        by_dim: group by `embedding_dim` (else one group per kind).

    Returns:
        List of `(kind, embedding_dim, features)` with `kind` `"numeric"` or
        `"categorical"`.

    >>> spec = [CategoricalFeature("a", 3, embedding_dim=4), NumericFeature("b"), CategoricalFeature("c", 3)]
    >>> [(kind, dim, [f.name for f in fs]) for kind, dim, fs in field_groups(spec)]
    [('numeric', None, ['b']), ('categorical', 4, ['a']), ('categorical', None, ['c'])]
    """
    spec = normalize_spec(list(spec))
    groups: list[tuple[str, int | None, list[Feature]]] = []
    for kind, types in (("numeric", NUMERIC_KINDS), ("categorical", ID_KINDS)):
        by_key: dict[int | None, list[Feature]] = {}
        for feature in spec:
            if isinstance(feature, types):
                by_key.setdefault(feature.embedding_dim if by_dim else None, []).append(feature)
        groups += [(kind, dim, features) for dim, features in by_key.items()]
    return groups


def field_order(spec: Iterable[Feature]) -> list[str]:
    """Names of the fields in the order of the model's `(batch, fields, k)` embeddings.

    Numeric fields come first, then the categorical and multi-categorical
    fields, each group in spec order (fields with their own `embedding_dim`
    grouped by it: see `field_groups`).

    Args:
        spec: list of features.

    Returns:
        List of feature names, index `i` being field `i` of the embeddings.

    >>> field_order([CategoricalFeature("a", 3), NumericFeature("b")])
    ['b', 'a']
    """
    return [f.name for _, _, features in field_groups(spec) for f in features]


def input_names(spec: Iterable[Feature]) -> list[str]:
    """Every input name of the model a spec builds: each feature's name, then its `weight_name` if it has one.

    >>> input_names([MultiCategoricalFeature("tags", 9, max_len=3, weight_name="tag_w"), NumericFeature("x")])
    ['tags', 'tag_w', 'x']
    """
    names = []
    for feature in normalize_spec(list(spec)):
        names.append(feature.name)
        if isinstance(feature, MultiCategoricalFeature) and feature.weight_name:
            names.append(feature.weight_name)
    return names
