"""The DeepFM builder steps after the embeddings, and `build_deepfm`, which chains them all.

The model is assembled from public steps so users can compose variants:

```
inputs = build_inputs(spec)                                   # dict name -> keras.Input
embeddings = build_field_embeddings(spec, inputs, embedding_dim=16)   # (batch, fields, 16)
fm_1d = build_first_order(spec, inputs)                       # (batch, 1)
fm_2d = build_second_order(embeddings)                        # (batch, 1)
deep = build_deep(embeddings, hidden_units=(256, 128, 64))    # (batch, 1)
outputs = combine_parts([fm_1d, fm_2d, deep], task="binary")  # (batch, 1)
model = keras.Model(inputs, outputs)
```

An FM-only model is `combine_parts([fm_1d, fm_2d])` over the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from deepfm_keras.layers import MLP, FirstOrderFM, PartCombine, SecondOrderFM
from deepfm_keras.model.deepfm import DeepFMModel
from deepfm_keras.model.embeddings import (  # noqa: F401 (build_inputs, build_field_embeddings: doctests)
    _check_embedding_dim,
    _concat,
    _field_groups,
    build_embedding_views,
    build_field_embeddings,
    build_inputs,
)
from deepfm_keras.model.parts import (
    PART_NAMES,
    SINGLE_HEAD,
    check_parts,
    combine_layer_name,
    head_suffix,
    part_layer_name,
)
from deepfm_keras.model.precision import default_dtype_policy
from deepfm_keras.spec.feature_spec import input_names, normalize_spec
from deepfm_keras.spec.features import (  # noqa: F401 (the feature classes are named in the doctests)
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
)
from deepfm_keras.spec.tasks import Task, normalize_tasks, task_kind


def build_first_order(
    feature_spec,
    inputs: Mapping[str, keras.KerasTensor],
    *,
    weights_initializer="zeros",
    weights_regularizer=None,
    regularize: str = "auto",
    units: int = 1,
    prefix: str = "linear",
    name: str = "fm_1d",
):
    """Builds the 1st-order FM part: the sum of one scalar weight per field.

    A categorical field contributes its id's width-1 embedding, a numeric
    field `w * x`, a multi-level field its ids' width-1 embeddings pooled as
    its embeddings are (masked mean by default, or its combiner and
    weights), a numeric sequence `w * s` of its pooled value `s`. Fields
    sharing a table (`embedding_name`) share their first-order weights too.

    Args:
        feature_spec: list of features.
        inputs: the dict returned by `build_inputs(feature_spec)`.
        weights_initializer: initializer of the per-id / per-field weights.
        weights_regularizer: optional regularizer of those weights.
        regularize: where the regularizer applies to the categorical table
            (`"table"`, `"rows"` or `"auto"`, as in `build_field_embeddings`).
        units: weights per id (1; a multi-class model has one per class).
        prefix: prefix of its table layers' names (`linear_categorical`, ...):
            a second first-order part in one model needs another.
        name: name of the output layer.

    Returns:
        Tensor of shape `(batch, units)`, the output of a `FirstOrderFM` layer named `name`.

    Example:

    >>> spec = [CategoricalFeature("u", 10), NumericFeature("x")]
    >>> tuple(build_first_order(spec, build_inputs(spec)).shape)
    (None, 1)
    """
    spec = normalize_spec(feature_spec)
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"`units` should be a positive integer. Received: units={units!r}")
    groups = _field_groups(spec, inputs, lambda _: units, prefix, weights_initializer, weights_regularizer, regularize)
    return FirstOrderFM(name=name)(_concat([weights for _, _, weights in groups], axis=1))


def build_second_order(embeddings, *, name: str = "fm_2d"):
    """Builds the 2nd-order FM part over shared embeddings `(batch, fields, k)`.

    Args:
        embeddings: tensor `(batch, num_fields, k)`, e.g. from `build_field_embeddings`.
        name: name of the output layer.

    Returns:
        Tensor `(batch, 1)`: `sum_{i<j} <e_i, e_j>`, output of a `SecondOrderFM` named `name`.

    Example:

    >>> spec = [CategoricalFeature("u", 10), CategoricalFeature("i", 20)]
    >>> emb = build_field_embeddings(spec, build_inputs(spec), embedding_dim=4)
    >>> tuple(build_second_order(emb).shape)
    (None, 1)
    """
    return SecondOrderFM(name=name)(embeddings)


def build_deep(
    embeddings,
    *,
    hidden_units: Sequence[int] = (256, 128, 64),
    dropout: float = 0.0,
    activation="relu",
    batch_norm: bool = False,
    kernel_regularizer=None,
    units: int = 1,
    name: str = "deep",
):
    """Builds the deep part: an `MLP` over the flattened embeddings with a linear output.

    Args:
        embeddings: tensor `(batch, num_fields, k)`, e.g. from
            `build_field_embeddings`, or the deep view of `build_embedding_views`.
        hidden_units: sizes of the hidden layers.
        dropout: dropout rate after each hidden layer.
        activation: activation of the hidden layers.
        batch_norm: whether to batch-normalise the hidden layers.
        kernel_regularizer: optional regularizer of the Dense kernels.
        units: outputs (1; a multi-class head has one per class).
        name: name of the output layer.

    Returns:
        Tensor `(batch, units)`, output of an `MLP` layer named `name`.

    Example:

    >>> spec = [CategoricalFeature("u", 10), NumericFeature("x")]
    >>> emb = build_field_embeddings(spec, build_inputs(spec), embedding_dim=4)
    >>> tuple(build_deep(emb, hidden_units=(8,)).shape)
    (None, 1)
    """
    return MLP(
        hidden_units,
        activation=activation,
        dropout=dropout,
        batch_norm=batch_norm,
        kernel_regularizer=kernel_regularizer,
        output_units=units,
        name=name,
    )(embeddings)


def combine_parts(
    parts: Sequence,
    *,
    task: str = "binary",
    num_classes: int | None = None,
    name: str = "combine",
    output_name: str = "prediction",
):
    """Combines part outputs with learned contribution weights and the task's activation.

    Binary and regression: the parts `(batch, 1)` are concatenated (layer
    `parts`, or `<name>_parts` for a `name` other than `combine`) into a
    `Dense(1)` whose kernel holds one contribution weight per part, in the
    order of `parts`, initialised to 1 (the plain sum of the DeepFM paper);
    its bias is the model's global bias. Multi-class: a `PartCombine` layer
    with one weight per part and class (`deepfm_keras.layers.PartCombine`).
    The output layer `output_name` applies sigmoid (`"binary"`), identity
    (`"regression"`) or softmax (`"multiclass"`) in float32.

    Args:
        parts: part outputs, each `(batch, 1)` (or `(batch, num_classes)`
            for a multi-class head), e.g. `[fm_1d, fm_2d, deep]`.
        task: `"binary"`, `"regression"` or `"multiclass"`.
        num_classes: classes of a multi-class head.
        name: name of the combining layer.
        output_name: name of the output layer.

    Returns:
        Tensor `(batch, 1)` (or `(batch, num_classes)`), the output of the
        layer named `output_name`.

    Example (an FM-only model):

    >>> spec = [CategoricalFeature("u", 10), CategoricalFeature("i", 20)]
    >>> inputs = build_inputs(spec)
    >>> emb = build_field_embeddings(spec, inputs, embedding_dim=4)
    >>> out = combine_parts([build_first_order(spec, inputs), build_second_order(emb)])
    >>> tuple(keras.Model(inputs, out).get_layer("combine").kernel.shape)
    (2, 1)
    """
    head = Task(output_name, task, num_classes)
    if task == "multiclass":
        logit = PartCombine(head.units, name=name)(list(parts))
    else:
        stacked = keras.layers.Concatenate(axis=1, name="parts" if name == "combine" else f"{name}_parts")(list(parts))
        # Ones: the model starts as DeepFM's plain sum of its parts, and learns the weights from there.
        logit = keras.layers.Dense(1, kernel_initializer="ones", name=name)(stacked)
    return keras.layers.Activation(head.activation, dtype="float32", name=output_name)(logit)


def _build_heads(spec, inputs, tasks, embeddings, deep_inputs, *, first_order, deep, single: bool, parts):
    """Each task's head over the shared embeddings and 2nd-order FM: its own first-order, deep part and combine."""
    fm_2d = build_second_order(embeddings, name=part_layer_name("fm_2d")) if "fm_2d" in parts else None
    outputs = {}
    for t in tasks:
        head = None if single else t.name
        built = {"fm_2d": fm_2d}
        if "fm_1d" in parts:
            built["fm_1d"] = build_first_order(
                spec,
                inputs,
                units=t.units,
                prefix=f"linear{head_suffix(head)}",
                name=part_layer_name("fm_1d", head),
                **first_order,
            )
        if "deep" in parts:
            built["deep"] = build_deep(deep_inputs, units=t.units, name=part_layer_name("deep", head), **deep)
        outputs[t.name] = combine_parts(
            [built[p] for p in parts],
            task=t.task,
            num_classes=t.num_classes,
            name=combine_layer_name(head),
            output_name=t.name,
        )
    return outputs


def build_deepfm(
    feature_spec,
    *,
    embedding_dim: int = 16,
    hidden_units: Sequence[int] = (256, 128, 64),
    dropout: float = 0.0,
    task: str = "binary",
    num_classes: int | None = None,
    tasks: Sequence[Task] | None = None,
    parts: Sequence[str] = PART_NAMES,
    embedding_l2: float = 0.0,
    dense_l2: float = 0.0,
    embedding_l2_scope: str = "auto",
    dtype_policy: str | None = "auto",
    name: str = "deepfm",
) -> keras.Model:
    """Builds a DeepFM model (Guo et al., IJCAI 2017) for a feature spec.

    `y = act(c_1 * fm_1d + c_2 * fm_2d + c_3 * deep + b)`, where `fm_1d` is
    the first-order FM sum, `fm_2d` the FM pairwise interactions of the shared
    `k`-dim field embeddings, `deep` an MLP over the same embeddings, and
    `c_1..c_3, b` the kernel and bias of the `Dense(1)` layer named `combine`
    (the per-part contribution weights).

    Args:
        feature_spec: list of `NumericFeature`, `CategoricalFeature` and
            `MultiCategoricalFeature` (or a fitted `FeatureEncoder`).
        embedding_dim: k, the size of the shared field embeddings.
        hidden_units: sizes of the deep part's hidden layers (ReLU).
        dropout: dropout rate after each hidden layer.
        task: `"binary"` (sigmoid output, for clicks / rating >= 4),
            `"regression"` (linear output, for ratings) or `"multiclass"`
            (softmax over `num_classes`; its first-order and deep parts have
            one output per class, the 2nd-order FM one score that each
            class weighs with its own `combine` weight).
        num_classes: classes of `task="multiclass"`.
        tasks: several heads instead of `task` (`deepfm_keras.spec.tasks.Task`,
            e.g. click and conversion): they share the inputs, the field
            embeddings and the 2nd-order FM; each has its own first-order
            part `fm_1d_<name>`, deep part `deep_<name>`, combine layer
            `combine_<name>` (its contribution weights) and output `<name>`.
            The model then returns a dict `{name: (batch, units)}`; compile
            it with `**deepfm_keras.spec.tasks.compile_kwargs(tasks)`.
        parts: the parts to combine, in order, of `"fm_1d"`, `"fm_2d"`,
            `"deep"`: all three is DeepFM, `("deep",)` its deep-only and
            `("fm_1d", "fm_2d")` its FM-only ablation (same inputs and
            embeddings).
        embedding_l2: L2 penalty on the embedding tables and first-order weights.
        dense_l2: L2 penalty on the deep part's kernels.
        embedding_l2_scope: where `embedding_l2` applies to the categorical
            tables: `"table"` (every row at every step: a table-sized
            gradient), `"rows"` (the distinct rows each batch looks up: the
            gradient stays row-sparse) or `"auto"`: `"table"` up to 2^18 table
            rows, `"rows"` above (see `deepfm_keras.layers.CategoricalEmbedding`
            for the measurement behind it).
        dtype_policy: the layers' Keras dtype policy. `"auto"`: a global
            policy set with `keras.config.set_dtype_policy` if it is not
            `float32`, else `deepfm_keras.model.precision.default_dtype_policy(task=task)`
            (for `task="binary"`: `mixed_bfloat16` on a CPU with bfloat16
            instructions and no GPU, `float32` elsewhere; `float32` for
            regression, where bfloat16 cost holdout RMSE). Variables stay float32 and the output
            `prediction` is float32 either way. `None` keeps Keras' global.
        name: the model's name.

    Returns:
        A functional `keras.Model` taking a dict of inputs keyed by feature
        name and returning `(batch, 1)`. Its layers `fm_1d`, `fm_2d`, `deep`,
        `embeddings` and `combine` can be found with `model.get_layer(name)`;
        `part_models(model)` wraps them as sub-models.

    Raises:
        ValueError: for an empty spec, duplicate names, `embedding_dim < 1`
            or an unknown task, naming the problem.

    Example:

    >>> spec = [NumericFeature("age"), CategoricalFeature("user_id", vocabulary_size=100),
    ...         MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6)]
    >>> model = build_deepfm(spec, embedding_dim=8, hidden_units=(32, 16))
    >>> tuple(model.output.shape)
    (None, 1)
    """
    spec = normalize_spec(feature_spec)
    _check_embedding_dim(embedding_dim)
    single = tasks is None
    if single:
        task_kind(task)
        tasks = [Task(SINGLE_HEAD, task, num_classes)]
    else:
        tasks = normalize_tasks(tasks, input_names(spec))
    parts = check_parts(parts)
    for arg, value in (("embedding_l2", embedding_l2), ("dense_l2", dense_l2)):
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"`{arg}` should be a non-negative number. Received: {arg}={value!r}")
    embedding_reg = keras.regularizers.L2(embedding_l2) if embedding_l2 else None
    dense_reg = keras.regularizers.L2(dense_l2) if dense_l2 else None

    global_policy = keras.config.dtype_policy()
    if dtype_policy == "auto":
        dtype_policy = global_policy.name if global_policy.name != "float32" else default_dtype_policy(task=task)
    # Layers take the global policy when they are created: set it for the build, then put the caller's back.
    keras.config.set_dtype_policy(dtype_policy or global_policy)
    try:
        inputs = build_inputs(spec)
        embeddings, deep_inputs = build_embedding_views(
            spec,
            inputs,
            embedding_dim=embedding_dim,
            embeddings_regularizer=embedding_reg,
            regularize=embedding_l2_scope,
        )
        outputs = _build_heads(
            spec,
            inputs,
            tasks,
            embeddings,
            deep_inputs,
            first_order={"weights_regularizer": embedding_reg, "regularize": embedding_l2_scope},
            deep={"hidden_units": hidden_units, "dropout": dropout, "kernel_regularizer": dense_reg},
            single=single,
            parts=parts,
        )
        if single:
            outputs = outputs[SINGLE_HEAD]
    finally:
        keras.config.set_dtype_policy(global_policy)
    return DeepFMModel(inputs=inputs, outputs=outputs, name=name, feature_spec=spec, tasks=tasks, parts=parts)
