"""Feature spec: what each input field of a DeepFM model is.

A feature spec is a plain list of frozen dataclasses, one per input field:

- `NumericFeature`: one float per row.
- `CategoricalFeature` ("single-level"): one integer id per row, in
  `[0, vocabulary_size)`.
- `MultiCategoricalFeature` ("multi-level"): a variable-length list of ids per
  row, padded with 0 to `max_len` columns; 0 is padding and never counts. Its
  ids are pooled with a `combiner` (`"mean"`, `"sum"` or `"max"`), optionally
  weighted by a float input named `weight_name` (one weight per position).
- `NumericSequenceFeature`: a variable-length list of numbers per row, padded
  with NaN to `max_len` columns, pooled with a `combiner` into one number.

Any categorical field may name the table it looks up (`embedding_name`): fields
with the same `embedding_name` share one embedding table and one first-order
table (a user's history of movie ids and the `movie_id` field, say). A field's
table is its own name unless it says otherwise.

Any field may have its own `embedding_dim` for the deep part: the deep part
reads its whole vector, the FM parts (which need one common size `k`) its
first `k` coordinates, zero-padded when the field's vector is shorter than
`k` (such a field interacts through its first `embedding_dim` coordinates).

Example:

>>> spec = [
...     NumericFeature("age"),
...     CategoricalFeature("user_id", vocabulary_size=6041),
...     MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6),
...     MultiCategoricalFeature("history", vocabulary_size=3953, max_len=50, embedding_name="movie_id",
...                             weight_name="history_ratings"),
...     CategoricalFeature("movie_id", vocabulary_size=3953),
...     CategoricalFeature("zip", vocabulary_size=3000, embedding_dim=32),
... ]
>>> from deepfm_keras.spec.feature_spec import spec_from_dicts, spec_to_dicts
>>> spec_from_dicts(spec_to_dicts(spec)) == spec
True

The spec as a whole (checks, field order, JSON) is in `feature_spec.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from deepfm_keras.spec.names import check_name, is_name
from deepfm_keras.spec.pooling import COMBINERS

# The largest magnitude a numeric field's value may have. Beyond it the FM's squares (x * v)^2 overflow float32
# once the embedding v has grown (at 1e20 a fresh model already scores NaN); 1e15 leaves a factor of 10^4 for v.
# Values at this scale are unscaled raw numbers: standardise them (FeatureEncoder does) or take their log.
NUMERIC_LIMIT = 1e15


def _check_int(feature: str, arg: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Feature '{feature}': `{arg}` should be an integer >= {minimum}. Received: {arg}={value!r}")


def _check_options(feature, *, combiner=None, names=()) -> None:
    """Checks the optional arguments every kind shares: `embedding_dim`, `combiner`, and extra input/table names."""
    if feature.embedding_dim is not None:
        _check_int(feature.name, "embedding_dim", feature.embedding_dim, 1)
    if combiner is not None and combiner not in COMBINERS:
        raise ValueError(
            f"Feature '{feature.name}': `combiner` should be one of {COMBINERS}. Received: combiner={combiner!r}"
        )
    for arg in names:
        value = getattr(feature, arg)
        if value is not None and not is_name(value):
            raise ValueError(
                f"Feature '{feature.name}': `{arg}` should be None or a name of ASCII letters, digits, '_', '.' or "
                f"'-' that starts with a letter. Received: {arg}={value!r}"
            )


def _optional(feature, defaults: Mapping[str, Any]) -> dict:
    """The optional arguments of `feature` that differ from their defaults (a plain spec's dict stays as it was)."""
    return {k: getattr(feature, k) for k, default in defaults.items() if getattr(feature, k) != default}


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
        embedding_dim: its vector's size in the deep part, if not the
            model's common `embedding_dim` (see the module docstring).

    Example:

    >>> NumericFeature("age").kind
    'numeric'
    """

    name: str
    embedding_dim: int | None = None
    kind: ClassVar[str] = "numeric"
    _defaults: ClassVar[dict] = {"embedding_dim": None}

    def __post_init__(self):
        check_name(self.name)
        _check_options(self)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, **_optional(self, self._defaults)}


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
        embedding_name: the table it looks up; fields with the same
            `embedding_name` share their embedding and first-order rows (and
            must agree on `vocabulary_size` and `embedding_dim`). Default: its
            own `name`.
        embedding_dim: its vector's size in the deep part, if not the
            model's common `embedding_dim`.

    Example:

    >>> CategoricalFeature("user_id", vocabulary_size=6041).vocabulary_size
    6041
    """

    name: str
    vocabulary_size: int
    embedding_name: str | None = None
    embedding_dim: int | None = None
    kind: ClassVar[str] = "categorical"
    _defaults: ClassVar[dict] = {"embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        check_name(self.name)
        _check_int(self.name, "vocabulary_size", self.vocabulary_size, 2)
        _check_options(self, names=("embedding_name",))

    @property
    def table(self) -> str:
        """The name of the table this field looks up: `embedding_name`, else its own name."""
        return self.embedding_name or self.name

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "vocabulary_size": self.vocabulary_size,
            **_optional(self, self._defaults),
        }


@dataclasses.dataclass(frozen=True)
class MultiCategoricalFeature:
    """A multi-level categorical field: a variable-length list of ids per row.

    The model reads it as an int tensor of shape `(batch, max_len)`, the list
    padded with 0 (0 is padding and never a value). Its embeddings `e_j` (and
    its first-order weights, the same way) are pooled over the non-padding
    positions `j`, each scaled by its weight `w_j` if the field is weighted
    (`w_j = 1` otherwise):

    - `"mean"` (the default): `sum_j w_j e_j / n`, `n` the number of
      non-padding ids (DeepCTR's weighted mean; with no weights, the mean);
    - `"sum"`: `sum_j w_j e_j`;
    - `"max"`: the element-wise max of `w_j e_j`.

    A row whose list is all padding gives a zero vector with every combiner.

    Args:
        name: input name, the key of the feature in the input dict.
        vocabulary_size: number of ids including padding 0, at least 2.
        max_len: number of columns, at least 1.
        combiner: `"mean"`, `"sum"` or `"max"`.
        weight_name: if set, the model has a second, float input of that name
            and shape `(batch, max_len)`: the weight of each position (a tag
            score, a rating, a watch time). Weights must be finite; those at
            padding positions are ignored.
        embedding_name: the table it looks up (default its own `name`):
            `embedding_name="movie_id"` makes a history of movie ids share the
            `movie_id` field's rows.
        embedding_dim: its pooled vector's size in the deep part, if not the
            model's common `embedding_dim`.

    Example:

    >>> MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6).max_len
    6
    >>> MultiCategoricalFeature("tags", 100, max_len=5, combiner="sum", weight_name="tag_scores").to_dict()
    {'kind': 'multi_categorical', 'name': 'tags', 'vocabulary_size': 100, 'max_len': 5, 'combiner': 'sum', 'weight_name': 'tag_scores'}
    """

    name: str
    vocabulary_size: int
    max_len: int
    combiner: str = "mean"
    weight_name: str | None = None
    embedding_name: str | None = None
    embedding_dim: int | None = None
    kind: ClassVar[str] = "multi_categorical"
    _defaults: ClassVar[dict] = {"combiner": "mean", "weight_name": None, "embedding_name": None, "embedding_dim": None}

    def __post_init__(self):
        check_name(self.name)
        _check_int(self.name, "vocabulary_size", self.vocabulary_size, 2)
        _check_int(self.name, "max_len", self.max_len, 1)
        _check_options(self, combiner=self.combiner, names=("weight_name", "embedding_name"))

    @property
    def table(self) -> str:
        """The name of the table this field looks up: `embedding_name`, else its own name."""
        return self.embedding_name or self.name

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "vocabulary_size": self.vocabulary_size,
            "max_len": self.max_len,
            **_optional(self, self._defaults),
        }


@dataclasses.dataclass(frozen=True)
class NumericSequenceFeature:
    """A numeric sequence field: a variable-length list of numbers per row.

    The model reads it as a float tensor of shape `(batch, max_len)`, the list
    padded with NaN (NaN marks padding here, and only here; inf and values
    beyond `+-NUMERIC_LIMIT` are refused as for a `NumericFeature`). Its
    non-padding values are pooled into one number `s` with the `combiner`
    (`"mean"`, `"sum"` or `"max"`; 0 for an all-padding row), and the field
    then enters the model as a numeric field does: first-order term `w * s`,
    embedding `s * v`.

    Args:
        name: input name, the key of the feature in the input dict.
        max_len: number of columns, at least 1.
        combiner: `"mean"`, `"sum"` or `"max"`.
        embedding_dim: its vector's size in the deep part, if not the
            model's common `embedding_dim`.

    Example:

    >>> NumericSequenceFeature("recent_prices", max_len=10, combiner="max").to_dict()
    {'kind': 'numeric_sequence', 'name': 'recent_prices', 'max_len': 10, 'combiner': 'max'}
    """

    name: str
    max_len: int
    combiner: str = "mean"
    embedding_dim: int | None = None
    kind: ClassVar[str] = "numeric_sequence"
    _defaults: ClassVar[dict] = {"combiner": "mean", "embedding_dim": None}

    def __post_init__(self):
        check_name(self.name)
        _check_int(self.name, "max_len", self.max_len, 1)
        _check_options(self, combiner=self.combiner)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "max_len": self.max_len, **_optional(self, self._defaults)}


Feature = NumericFeature | CategoricalFeature | MultiCategoricalFeature | NumericSequenceFeature
FEATURE_TYPES = {
    cls.kind: cls for cls in (NumericFeature, CategoricalFeature, MultiCategoricalFeature, NumericSequenceFeature)
}
NUMERIC_KINDS = (NumericFeature, NumericSequenceFeature)
ID_KINDS = (CategoricalFeature, MultiCategoricalFeature)


def feature_from_dict(config: Mapping[str, Any]) -> Feature:
    """Rebuilds one feature from its `to_dict()` form.

    Args:
        config: a dict with `kind` ("numeric", "categorical",
            "multi_categorical" or "numeric_sequence") and the feature's
            arguments.

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
