"""A DeepFM model's heads and parts: the names of their layers, and sub-models over them.

One rule names every head's layers, used by the builders and by everything that
reads a model: a one-head model's combine layer is `combine` and its parts are
`fm_1d`, `fm_2d`, `deep`; head `click` of a several-head model has
`combine_click`, `fm_1d_click`, `deep_click`, and shares `fm_2d`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from deepfm_keras.model import legacy

PART_NAMES = ("fm_1d", "fm_2d", "deep")
"""The parts of DeepFM, in the order of the `combine` kernel's rows."""

SHARED_PARTS = ("fm_2d",)
"""Parts that every head of a several-head model shares (one layer)."""

SINGLE_HEAD = "prediction"
"""The output name (and task name) of a one-head model."""


def head_suffix(head: str | None) -> str:
    """`""` for a one-head model's head (`None`), else `_<head>`."""
    return "" if head is None else f"_{head}"


def combine_layer_name(head: str | None = None) -> str:
    """`combine` for a one-head model, `combine_<head>` for a head of several."""
    return f"combine{head_suffix(head)}"


def part_layer_name(part: str, head: str | None = None) -> str:
    """The layer of part `part` (`"fm_1d"`, `"fm_2d"`, `"deep"`) of a head.

    Example:

    >>> part_layer_name("deep", "click"), part_layer_name("fm_2d", "click")
    ('deep_click', 'fm_2d')
    """
    return part if part in SHARED_PARTS else f"{part}{head_suffix(head)}"


def check_parts(parts: Sequence[str]) -> tuple[str, ...]:
    """`parts` as a tuple, or a ValueError unless they are distinct names of `PART_NAMES`."""
    parts = tuple(parts)
    if not parts or len(set(parts)) != len(parts) or any(p not in PART_NAMES for p in parts):
        raise ValueError(f"`parts` should be distinct names of {list(PART_NAMES)}. Received: parts={parts!r}")
    return parts


def model_heads(model: keras.Model) -> tuple:
    """The `Task`s of a model's heads: kept by a `DeepFMModel`, read from the layers of any other model."""
    tasks = getattr(model, "tasks", None)
    return tuple(tasks) if tasks is not None else legacy.tasks_from_layers(model)


def head_names(model: keras.Model) -> list[str | None]:
    """The heads of a model: `[None]` for a one-head model (layer `combine`), else the task names.

    The task names come in the order of `model.output_names`, which Keras
    sorts for a model with a dict of outputs, so they line up with
    `model.outputs` before and after a save/load round trip.

    Example:

    >>> from deepfm_keras import CategoricalFeature, Task, build_deepfm
    >>> head_names(build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,),
    ...                         tasks=[Task("click"), Task("buy")]))
    ['buy', 'click']
    """
    order = list(getattr(model, "output_names", None) or [])
    if getattr(model, "tasks", None) is None:  # a model that keeps no tasks: the heads with a combine layer
        return legacy.head_names_from_layers(model, order)
    heads = [t.name for t in model.tasks]
    if not heads or heads == [SINGLE_HEAD]:
        return [None]
    return sorted(heads, key=lambda h: order.index(h) if h in order else len(order))


def part_names(model: keras.Model, head: str | None = None) -> list[str]:
    """Names of the part layers a head combines, in the order of its `combine` kernel's rows.

    A `DeepFMModel` keeps its parts; for another model (a variant of the
    user's built with `combine_parts`, with a fourth part say) they are read
    from the layers feeding the head's combine layer.

    Args:
        model: a model built with `combine_parts` (e.g. by `build_deepfm`).
        head: the task name of a multi-task model's head (None: the model's
            only head, layer `combine`).

    Returns:
        List of layer names, e.g. `["fm_1d", "fm_2d", "deep"]`.

    Raises:
        ValueError: if the model has no such combine layer.

    Example:

    >>> from deepfm_keras import CategoricalFeature, build_deepfm
    >>> part_names(build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,)))
    ['fm_1d', 'fm_2d', 'deep']
    """
    name = combine_layer_name(head)
    parts = getattr(model, "parts", None)
    if not parts:
        return legacy.parts_from_layers(model, name)
    if head not in head_names(model):
        raise ValueError(f"Model {model.name!r} has no layer named '{name}': is it a DeepFM model?")
    return [part_layer_name(p, head) for p in parts]


def part_models(
    model: keras.Model, names: Sequence[str] | None = None, head: str | None = None
) -> dict[str, keras.Model]:
    """Sub-models of a DeepFM model that share its layers and weights.

    Works on a model fresh from `build_deepfm` and on one loaded with
    `keras.saving.load_model`. Each sub-model is a `DeepFMModel` taking the
    same input dict as `model`, with its feature spec (so its inputs are
    checked the same way) and no heads.

    Args:
        model: a model from `build_deepfm`, or a variant built with
            `combine_parts` (its parts are found with `part_names`).
        names: the layers to wrap, instead of every part and `"embeddings"`.
        head: a multi-task model's head whose parts to wrap.

    Returns:
        One entry per part (`{"fm_1d", "fm_2d", "deep"}` for DeepFM): the
        `(batch, units)` part outputs (before the `combine` weights), and, where
        the model has that layer, `"embeddings"`: the
        `(batch, num_fields, k)` shared field embeddings.

    Raises:
        ValueError: if `model` has no such combine layer.

    Example:

    >>> from deepfm_keras import CategoricalFeature, build_deepfm
    >>> model = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,))
    >>> sorted(part_models(model))
    ['deep', 'embeddings', 'fm_1d', 'fm_2d']
    """
    from deepfm_keras.model.deepfm import DeepFMModel

    if names is None:
        names = part_names(model, head)
        if "embeddings" in {layer.name for layer in model.layers}:
            names.append("embeddings")
    spec = getattr(model, "feature_spec", None)
    return {
        n: DeepFMModel(
            model.input, model.get_layer(n).output, name=f"{model.name}_{n}", feature_spec=spec, tasks=(), parts=()
        )
        for n in names
    }
