"""Feature spec: what each input field of a DeepFM model is.

A feature spec is a plain list of frozen dataclasses, one per input field:

- `NumericFeature`: one float per row.
- `CategoricalFeature` ("single-level"): one integer id per row, in
  `[0, vocabulary_size)`.
- `MultiCategoricalFeature` ("multi-level"): a variable-length list of ids per
  row, padded with 0 to `max_len` columns; 0 is padding and never counts.

Example:

>>> spec = [
...     NumericFeature("age"),
...     CategoricalFeature("user_id", vocabulary_size=6041),
...     MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6),
... ]
>>> spec_from_dicts(spec_to_dicts(spec)) == spec
True
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

# A name is kept exactly as the input name of the model and of the exported serving signature (TensorFlow
# Serving's SignatureDef keys). A leading '_' cannot be exported (TensorFlow renames such an argument), so it
# is refused here rather than silently renamed at export time.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


# The largest magnitude a numeric field's value may have. Beyond it the FM's squares (x * v)^2 overflow float32
# once the embedding v has grown (at 1e20 a fresh model already scores NaN); 1e15 leaves a factor of 10^4 for v.
# Values at this scale are unscaled raw numbers: standardise them (FeatureEncoder does) or take their log.
NUMERIC_LIMIT = 1e15


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):  # fullmatch: "$" alone lets "user\n" through
        raise ValueError(
            "A feature `name` should be a non-empty string of ASCII letters, digits, "
            f"'_', '.' or '-' that starts with a letter. Received: name={name!r}"
        )


def _argument_name(name: str) -> str:
    """The key two names must not share: TensorFlow's argument name (`user-id` -> `user_id`), case-folded.

    A loaded signature takes `user-id` and `user_id` as one argument, and an
    export fails on names that differ only in case (`u` and `U`).
    """
    return name.replace("-", "_").replace(".", "_").lower()


def _check_int(feature: str, arg: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Feature '{feature}': `{arg}` should be an integer >= {minimum}. Received: {arg}={value!r}")


@dataclasses.dataclass(frozen=True)
class NumericFeature:
    """A numeric field: one float per row.

    The model reads it as a float tensor of shape `(batch,)` or `(batch, 1)`.
    Its first-order term is `w * x` and its field embedding is `x * v` with a
    learned `v` of shape `(embedding_dim,)`, as in the DeepFM formulation for
    continuous fields. Scale it first (`FeatureEncoder` standardises it):
    values must be finite and within `+-NUMERIC_LIMIT` (1e15), beyond which
    the FM's squares overflow float32.

    Args:
        name: input name, the key of the feature in the input dict.

    Example:

    >>> NumericFeature("age").kind
    'numeric'
    """

    name: str
    kind: ClassVar[str] = "numeric"

    def __post_init__(self):
        _check_name(self.name)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name}


@dataclasses.dataclass(frozen=True)
class CategoricalFeature:
    """A single-level categorical field: one integer id per row.

    The model reads it as an int tensor of shape `(batch,)` or `(batch, 1)`
    with ids in `[0, vocabulary_size)`. An id outside that range never reaches
    another id's embedding: it is routed to one extra "out-of-range" row of
    this field's table.

    Args:
        name: input name, the key of the feature in the input dict.
        vocabulary_size: number of ids, at least 2 (with `FeatureEncoder`:
            padding 0, OOV 1 and the known values).

    Example:

    >>> CategoricalFeature("user_id", vocabulary_size=6041).vocabulary_size
    6041
    """

    name: str
    vocabulary_size: int
    kind: ClassVar[str] = "categorical"

    def __post_init__(self):
        _check_name(self.name)
        _check_int(self.name, "vocabulary_size", self.vocabulary_size, 2)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "vocabulary_size": self.vocabulary_size}


@dataclasses.dataclass(frozen=True)
class MultiCategoricalFeature:
    """A multi-level categorical field: a variable-length list of ids per row.

    The model reads it as an int tensor of shape `(batch, max_len)`, the list
    padded with 0 (0 is padding and never a value). Its embeddings are
    mean-pooled over the non-padding positions; an all-padding row gives a zero
    vector.

    Args:
        name: input name, the key of the feature in the input dict.
        vocabulary_size: number of ids including padding 0, at least 2.
        max_len: number of columns, at least 1.

    Example:

    >>> MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6).max_len
    6
    """

    name: str
    vocabulary_size: int
    max_len: int
    kind: ClassVar[str] = "multi_categorical"

    def __post_init__(self):
        _check_name(self.name)
        _check_int(self.name, "vocabulary_size", self.vocabulary_size, 2)
        _check_int(self.name, "max_len", self.max_len, 1)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "vocabulary_size": self.vocabulary_size,
            "max_len": self.max_len,
        }


Feature = NumericFeature | CategoricalFeature | MultiCategoricalFeature
FEATURE_TYPES = {cls.kind: cls for cls in (NumericFeature, CategoricalFeature, MultiCategoricalFeature)}


def feature_from_dict(config: Mapping[str, Any]) -> Feature:
    """Rebuilds one feature from its `to_dict()` form.

    Args:
        config: a dict with `kind` ("numeric", "categorical" or
            "multi_categorical") and the feature's arguments.

    Returns:
        The feature.

    Raises:
        ValueError: if `kind` is missing or unknown, or an argument is bad.
    """
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in FEATURE_TYPES:
        raise ValueError(
            f"Unknown feature kind {kind!r} for feature {config.get('name')!r}; "
            f"expected one of {sorted(FEATURE_TYPES)}."
        )
    try:
        return FEATURE_TYPES[kind](**config)
    except TypeError as e:
        raise ValueError(f"Bad arguments for {kind} feature {config.get('name')!r}: {e}") from None


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
    [NumericFeature(name='age')]
    """
    return normalize_spec([feature_from_dict(c) for c in configs])


def normalize_spec(spec: Any) -> list[Feature]:
    """Checks a feature spec and returns it as a list of features.

    Accepts a list or tuple of features (or of their dict form), or an object
    with a `feature_spec` attribute (such as a fitted `FeatureEncoder`).

    Args:
        spec: the spec to check.

    Returns:
        List of features, in the given order.

    Raises:
        ValueError: for an empty spec, a duplicate name or an entry that is
            not a feature, naming the offending feature.
    """
    if hasattr(spec, "feature_spec") and not isinstance(spec, (list, tuple)):
        spec = spec.feature_spec
    if isinstance(spec, (str, bytes, Mapping)) or not isinstance(spec, Sequence):
        raise ValueError(f"`feature_spec` should be a list of features. Received: {type(spec).__name__}")
    features: list[Feature] = []
    seen: set[str] = set()
    for entry in spec:
        if isinstance(entry, Mapping):
            entry = feature_from_dict(entry)
        if not isinstance(entry, tuple(FEATURE_TYPES.values())):
            raise ValueError(
                "Every entry of `feature_spec` should be a NumericFeature, "
                f"CategoricalFeature or MultiCategoricalFeature. Received: {entry!r}"
            )
        if entry.name in seen:
            raise ValueError(f"Duplicate feature name '{entry.name}' in `feature_spec`.")
        clash = [name for name in seen if _argument_name(name) == _argument_name(entry.name)]
        if clash:
            raise ValueError(
                f"Feature names '{clash[0]}' and '{entry.name}' differ only in case or in '-', '.' and '_': "
                "the exported TensorFlow signature cannot tell them apart. Rename one of them."
            )
        seen.add(entry.name)
        features.append(entry)
    if not features:
        raise ValueError("`feature_spec` is empty: a DeepFM model needs at least one feature.")
    return features


def field_order(spec: Iterable[Feature]) -> list[str]:
    """Names of the fields in the order of the model's `(batch, fields, k)` embeddings.

    Numeric fields come first, then the categorical and multi-categorical
    fields, each group in spec order.

    Args:
        spec: list of features.

    Returns:
        List of feature names, index `i` being field `i` of the embeddings.

    >>> field_order([CategoricalFeature("a", 3), NumericFeature("b")])
    ['b', 'a']
    """
    spec = normalize_spec(list(spec))
    numeric = [f.name for f in spec if isinstance(f, NumericFeature)]
    other = [f.name for f in spec if not isinstance(f, NumericFeature)]
    return numeric + other
