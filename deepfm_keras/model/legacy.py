"""What a model says of itself when it does not keep its spec: read from its layers.

A `DeepFMModel` keeps its feature spec, tasks and parts (and writes them in its
config). Two kinds of model do not: a `.keras` file saved before it did, and a
plain `keras.Model` a user composes from the builder steps. For those, the
fields, tasks and parts are read here, once, from the layers the builders name;
nothing else in the package reads layer names for that.
"""

from __future__ import annotations

import re

import keras

from deepfm_keras.spec.tasks import Task, kind_of_activation


def _activation(layer) -> str | None:
    return getattr(getattr(layer, "activation", None), "__name__", None)


def tasks_from_layers(model: keras.Model) -> tuple[Task, ...]:
    """The heads of a model, from its output layers' activations; `()` where they say no task."""
    try:
        single = model.get_layer("prediction")
    except ValueError:
        single = None
    if single is not None:
        outputs = [("prediction", single.output)]
    else:
        outputs = list(zip(getattr(model, "output_names", None) or [], model.outputs, strict=False))
    tasks = []
    for name, tensor in outputs:
        kind = kind_of_activation(_activation(tensor._keras_history.operation))
        if kind is None:
            return ()
        units = int(tensor.shape[-1])
        tasks.append(Task(name, kind, units if kind == "multiclass" else None))
    return tuple(tasks)


def head_names_from_layers(model: keras.Model, output_names) -> list[str | None]:
    """`[None]` for a model with a `combine` layer, else the outputs that have a `combine_<name>` layer."""
    names = {layer.name for layer in model.layers}
    if "combine" in names:
        return [None]
    return [n for n in output_names if f"combine_{n}" in names] or [None]


def parts_from_layers(model: keras.Model, combine_name: str = "combine") -> list[str]:
    """The layers whose outputs feed a combine layer (through the `parts` concatenation of a one-output head)."""
    from deepfm_keras.layers import PartCombine

    try:
        combine = model.get_layer(combine_name)
    except ValueError:
        raise ValueError(f"Model {model.name!r} has no layer named '{combine_name}': is it a DeepFM model?") from None
    if isinstance(combine, PartCombine):
        inputs = combine.input
    else:
        source = combine.input._keras_history.operation
        if not isinstance(source, keras.layers.Concatenate):
            raise ValueError(f"Layer '{combine_name}' of model {model.name!r} is not fed by a concatenation of parts.")
        inputs = source.input
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return [tensor._keras_history.operation.name for tensor in inputs]


def part_kinds_from_layers(model: keras.Model, tasks) -> tuple[str, ...] | None:
    """The part kinds (`fm_1d`, `fm_2d`, `deep`) of a model the builders made, or None for another layout."""
    from deepfm_keras.model.parts import PART_NAMES, combine_layer_name, part_layer_name

    heads = [t.name for t in tasks]
    if not heads:
        return None
    heads = [None] if heads == ["prediction"] else heads
    try:
        layers = parts_from_layers(model, combine_layer_name(heads[0]))
    except ValueError:
        return None
    kinds = tuple(p for layer in layers for p in PART_NAMES if layer == part_layer_name(p, heads[0]))
    if len(kinds) != len(layers):
        return None
    return kinds


def bounds_from_layers(model: keras.Model) -> tuple[dict[str, int], set[str]]:
    """`({id field: vocabulary size}, {numeric sequence fields})` as the model's layers declare them."""
    from deepfm_keras.layers import CategoricalEmbedding, NumericSequencePooling

    bounds: dict[str, int] = {}
    sequences: set[str] = set()
    for layer in model.layers:
        if isinstance(layer, CategoricalEmbedding) and layer.field_names:
            bounds.update(zip(layer.field_names, layer.vocabulary_sizes, strict=True))
        elif isinstance(layer, NumericSequencePooling) and layer.field_name:
            sequences.add(layer.field_name)
    return bounds, sequences


def _traced_input_names(tensor) -> list[str]:
    """Names of the model inputs concatenated into `tensor` (one input, or a Concatenate of inputs)."""
    operation = tensor._keras_history.operation
    if isinstance(operation, keras.layers.InputLayer):
        return [operation.name]
    sources = operation.input if isinstance(operation.input, (list, tuple)) else [operation.input]
    return [name for source in sources for name in _traced_input_names(source)]


def field_order_from_layers(model: keras.Model, prefix: str) -> list[str]:
    """The field order of the `<prefix>_numeric[_d<k>]` / `<prefix>_categorical[_d<k>]` layers `model.build_*` creates.

    Groups come in the model's layer order (numeric groups, then categorical
    ones), as `deepfm_keras.spec.feature_spec.field_groups` orders them.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}_(numeric|categorical)(_d\d+)?$")
    kinds = {layer: match.group(1) for layer in model.layers if (match := pattern.match(layer.name))}
    groups = sorted(kinds, key=lambda layer: 0 if kinds[layer] == "numeric" else 1)
    fields: list[str] = []
    for layer in groups:
        if kinds[layer] == "numeric":
            fields += _traced_input_names(layer.input)
            continue
        if not layer.field_names:
            raise ValueError(f"Layer '{layer.name}' of model {model.name!r} does not name its fields.")
        fields += list(layer.field_names)
    return fields
