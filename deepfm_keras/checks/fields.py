"""What a model's inputs expect, read from the spec it keeps: the fields, the heads, and the binding of a dict by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras

from deepfm_keras.spec.feature_spec import normalize_spec
from deepfm_keras.spec.features import CategoricalFeature, MultiCategoricalFeature, NumericSequenceFeature


@dataclasses.dataclass(frozen=True)
class Field:
    """What a model input expects: name, dtype, columns, and the id bound (`None` where unknown or numeric)."""

    name: str
    is_id: bool
    width: int | None
    vocabulary_size: int | None
    nan_padding: bool = False


def spec_fields(feature_spec) -> dict[str, Field]:
    """The `Field` of every model input of a feature spec (feature names and `weight_name`s).

    Example:

    >>> from deepfm_keras import MultiCategoricalFeature
    >>> spec_fields([MultiCategoricalFeature("g", 5, max_len=3)])["g"]
    Field(name='g', is_id=True, width=3, vocabulary_size=5, nan_padding=False)
    """
    fields = {}
    for f in normalize_spec(list(feature_spec)):
        if isinstance(f, CategoricalFeature):
            fields[f.name] = Field(f.name, True, 1, f.vocabulary_size)
        elif isinstance(f, MultiCategoricalFeature):
            fields[f.name] = Field(f.name, True, f.max_len, f.vocabulary_size)
            if f.weight_name:
                fields[f.weight_name] = Field(f.weight_name, False, f.max_len, None)
        elif isinstance(f, NumericSequenceFeature):
            fields[f.name] = Field(f.name, False, f.max_len, None, nan_padding=True)
        else:
            fields[f.name] = Field(f.name, False, 1, None)
    return fields


def model_fields(model) -> dict[str, Field]:
    """The fields of a model with dict inputs: from the feature spec it keeps, else from its layers.

    Args:
        model: a functional model taking a dict of inputs (e.g. from
            `build_deepfm`).

    Returns:
        Dict input name -> `Field`, in the order of the model's inputs.

    Raises:
        ValueError: if the model's inputs are not a dict.
    """
    try:
        inputs = model.input
    except (AttributeError, ValueError):
        inputs = None
    if not isinstance(inputs, Mapping):
        raise ValueError(
            f"Model {model.name!r} should take a dict of inputs keyed by feature name, as build_deepfm builds."
        )
    spec = getattr(model, "feature_spec", None)
    if spec is not None:
        fields = spec_fields(spec)
        if set(fields) == set(inputs):
            return {name: fields[name] for name in inputs}
    from deepfm_keras.model.legacy import bounds_from_layers

    bounds, sequences = bounds_from_layers(model)
    fields = {}
    for name, tensor in inputs.items():
        is_id = "int" in str(tensor.dtype)
        width = tensor.shape[-1] if len(tensor.shape) > 1 else 1
        fields[name] = Field(name, is_id, width, bounds.get(name) if is_id else None, name in sequences)
    return fields


def model_task(model) -> str | None:
    """The task of a one-head model (`"binary"`, `"regression"`, `"multiclass"`); None for several or none."""
    from deepfm_keras.model.parts import SINGLE_HEAD, model_heads

    heads = model_heads(model)
    return heads[0].task if len(heads) == 1 and heads[0].name == SINGLE_HEAD else None


def model_tasks(model) -> dict[str, tuple[str | None, int]]:
    """`{output name: (task, units)}` of a model with named heads (`build_deepfm(tasks=...)`); {} for one `prediction`."""
    from deepfm_keras.model.parts import SINGLE_HEAD, model_heads

    heads = model_heads(model)
    if len(heads) == 1 and heads[0].name == SINGLE_HEAD:
        return {}
    return {t.name: (t.task, t.units) for t in heads}


def check_keys(fields: Mapping[str, Field], x, *, what: str = "the input") -> None:
    """Raises if `x` is not a dict with exactly the keys of `fields`, naming the extra or missing ones."""
    if not isinstance(x, Mapping):
        raise ValueError(
            f"{what[:1].upper()}{what[1:]} should be a dict from feature name to array. Received: {type(x).__name__}"
        )
    unexpected = sorted(str(k) for k in x if k not in fields)
    missing = [name for name in fields if name not in x]
    if unexpected:
        raise ValueError(
            f"Unexpected key(s) {unexpected} in {what}: the model's inputs are {list(fields)}. "
            "Inputs are bound by name; remove the extra keys."
        )
    if missing:
        raise ValueError(f"Feature(s) {missing} missing from {what}. Received keys: {sorted(map(str, x))}")


def check_dataset(fields: Mapping[str, Field], dataset, *, what: str = "the dataset") -> None:
    """Checks a `tf.data.Dataset`'s element spec (no data read): exact keys, and integer dtypes for ids.

    Raises:
        ValueError: naming an unexpected or missing key, or an id field of a
            float dtype (a cast would truncate 1.5 to 1).
    """
    spec = dataset.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    if not isinstance(x_spec, Mapping):
        return  # not a dict dataset: the model's own call says what it expects
    check_keys(fields, x_spec, what=what)
    for name, field in fields.items():
        dtype = getattr(x_spec[name], "dtype", None)
        if field.is_id and dtype is not None and dtype.is_floating:
            raise ValueError(f"Feature '{name}' of {what} is {dtype.name}; ids should be integers.")


def conform(fields: Mapping[str, Field], x, *, what: str = "the input") -> dict:
    """Binds a dict of tensors to the model's inputs inside the graph: exact keys, integer ids, one shape.

    A `(batch,)` tensor, or one of unknown rank (a relaxed retrace after
    `(n,)` and `(n, 1)` inputs), is reshaped to the field's `(batch, width)`.

    Raises:
        ValueError: naming an unexpected or missing key, or an id field given
            as floats (a cast would truncate 1.5 to 1).
    """
    import tensorflow as tf

    check_keys(fields, x, what=what)
    out = {}
    for name, field in fields.items():
        value = x[name]
        dtype = getattr(value, "dtype", None)
        if field.is_id and dtype is not None and "float" in str(dtype) and not tf.executing_eagerly():
            # In a graph: Keras' own symbolic build under several replicas feeds the mean of a batch (float) for
            # every input; a float dataset was refused by `check_dataset` before. Cast, checked if the graph runs.
            whole = tf.debugging.Assert(
                tf.reduce_all(tf.equal(value, tf.round(value))), [f"Feature '{name}': ids should be whole numbers"]
            )
            with tf.control_dependencies([whole]):
                value = tf.cast(value, tf.int64)
        elif field.is_id and dtype is not None and "float" in str(dtype):
            raise ValueError(
                f"Feature '{name}' of {what} is {getattr(dtype, 'name', dtype)}; ids should be integers (a cast would truncate 1.5 to 1). "
                "Cast whole-number ids to int64 first."
            )
        rank = getattr(getattr(value, "shape", None), "rank", -1)
        if rank is None or (rank == 1 and field.width == 1):
            value = keras.ops.reshape(value, (-1, field.width))
        out[name] = value
    return out
