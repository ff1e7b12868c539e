"""Builders of DeepFM from a feature spec, and its part sub-models.

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

With fields of their own `embedding_dim`, `build_embedding_views` gives both
views of the same lookups: the FM view `(batch, fields, k)` and the deep
view `(batch, sum of the fields' sizes)`:

```
fm_view, deep_view = build_embedding_views(spec, inputs, embedding_dim=16)
deep = build_deep(deep_view)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from deepfm_keras.deepfm_model import DEFAULT_STEPS_PER_EXECUTION, DeepFMModel  # noqa: F401 (re-exported)
from deepfm_keras.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
    field_groups,
    input_names,
    normalize_spec,
)
from deepfm_keras.layers import (
    MLP,
    CategoricalEmbedding,
    FirstOrderFM,
    FitWidth,
    MaskedMeanPooling,
    NumericEmbedding,
    NumericSequencePooling,
    PartCombine,
    SecondOrderFM,
)
from deepfm_keras.precision import default_dtype_policy
from deepfm_keras.tasks import Task, normalize_tasks

TASKS = {"binary": "sigmoid", "regression": "linear", "multiclass": "softmax"}
PART_NAMES = ("fm_1d", "fm_2d", "deep")


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
        feature_spec: list of features (see `deepfm_keras.features`).

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

    Groups follow `deepfm_keras.features.field_groups` (numeric fields first,
    then categorical ones, each grouped by their own `embedding_dim`).
    """
    missing = [name for f in spec for name in (f.name, getattr(f, "weight_name", None)) if name and name not in inputs]
    if missing:
        raise ValueError(f"`inputs` has no entry for feature(s) {missing}.")
    out = []
    for kind, group_dim, features in field_groups(spec):
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
    (`deepfm_keras.features.field_order`). Fields with their own
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
    head = Task(output_name if output_name != "prediction" else "head", task, num_classes)
    if task == "multiclass":
        logit = PartCombine(head.units, name=name)(list(parts))
    else:
        stacked = keras.layers.Concatenate(axis=1, name="parts" if name == "combine" else f"{name}_parts")(list(parts))
        # Ones: the model starts as DeepFM's plain sum of its parts, and learns the weights from there.
        logit = keras.layers.Dense(1, kernel_initializer="ones", name=name)(stacked)
    return keras.layers.Activation(head.activation, dtype="float32", name=output_name)(logit)


def _build_heads(spec, inputs, tasks, embeddings, deep_inputs, *, first_order, deep, single: bool, parts):
    """Each task's head over the shared embeddings and 2nd-order FM: its own first-order, deep part and combine."""
    fm_2d = build_second_order(embeddings) if "fm_2d" in parts else None
    outputs = {}
    for t in tasks:
        suffix = "" if single else f"_{t.name}"
        built = {"fm_2d": fm_2d}
        if "fm_1d" in parts:
            built["fm_1d"] = build_first_order(
                spec, inputs, units=t.units, prefix=f"linear{suffix}", name=f"fm_1d{suffix}", **first_order
            )
        if "deep" in parts:
            built["deep"] = build_deep(deep_inputs, units=t.units, name=f"deep{suffix}", **deep)
        outputs[t.name] = combine_parts(
            [built[p] for p in parts],
            task=t.task,
            num_classes=t.num_classes,
            name=f"combine{suffix}",
            output_name="prediction" if single else t.name,
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
        tasks: several heads instead of `task` (`deepfm_keras.tasks.Task`,
            e.g. click and conversion): they share the inputs, the field
            embeddings and the 2nd-order FM; each has its own first-order
            part `fm_1d_<name>`, deep part `deep_<name>`, combine layer
            `combine_<name>` (its contribution weights) and output `<name>`.
            The model then returns a dict `{name: (batch, units)}`; compile
            it with `**deepfm_keras.tasks.compile_kwargs(tasks)`.
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
            `float32`, else `deepfm_keras.precision.default_dtype_policy(task=task)`
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
        if task not in TASKS:
            raise ValueError(f"`task` should be one of {sorted(TASKS)}. Received: task={task!r}")
        tasks = [Task("prediction", task, num_classes)]
    else:
        tasks = normalize_tasks(tasks, input_names(spec))
    parts = tuple(parts)
    if not parts or len(set(parts)) != len(parts) or any(p not in PART_NAMES for p in parts):
        raise ValueError(f"`parts` should be distinct names of {list(PART_NAMES)}. Received: parts={parts!r}")
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
            outputs = outputs["prediction"]
    finally:
        keras.config.set_dtype_policy(global_policy)
    return DeepFMModel(inputs=inputs, outputs=outputs, name=name)


def head_names(model: keras.Model) -> list[str]:
    """The heads of a model: `[None]` for a one-head model (layer `combine`), else the task names.

    The task names come in the order of `model.output_names`, which Keras
    sorts for a model with a dict of outputs, so they line up with
    `model.outputs` before and after a save/load round trip.

    Example:

    >>> from deepfm_keras.tasks import Task
    >>> head_names(build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,),
    ...                         tasks=[Task("click"), Task("buy")]))
    ['buy', 'click']
    """
    names = {layer.name for layer in model.layers}
    if "combine" in names:
        return [None]
    heads = [n for n in model.output_names if f"combine_{n}" in names] if hasattr(model, "output_names") else []
    return heads or [None]


def _combine_layer_name(head: str | None) -> str:
    return "combine" if head is None else f"combine_{head}"


def part_names(model: keras.Model, head: str | None = None) -> list[str]:
    """Names of the part layers a head combines, in the order of its `combine` kernel's rows.

    Read from the model: the layers whose outputs feed the head's combine
    layer (through the `parts` concatenation that `combine_parts` builds for
    a one-output head), so a variant with fewer parts, or a fourth part of
    the user's, is named as it is.

    Args:
        model: a model built with `combine_parts` (e.g. by `build_deepfm`).
        head: the task name of a multi-task model's head (None: the model's
            only head, layer `combine`).

    Returns:
        List of layer names, e.g. `["fm_1d", "fm_2d", "deep"]`.

    Raises:
        ValueError: if the model has no such combine layer.

    Example:

    >>> part_names(build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,)))
    ['fm_1d', 'fm_2d', 'deep']
    """
    name = _combine_layer_name(head)
    try:
        combine = model.get_layer(name)
    except ValueError:
        raise ValueError(f"Model {model.name!r} has no layer named '{name}': is it a DeepFM model?") from None
    if isinstance(combine, PartCombine):
        inputs = combine.input
    else:
        source = combine.input._keras_history.operation
        if not isinstance(source, keras.layers.Concatenate):
            raise ValueError(f"Layer '{name}' of model {model.name!r} is not fed by a concatenation of parts.")
        inputs = source.input
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    # Each input is the output of one part layer (its Keras history names the layer).
    return [tensor._keras_history.operation.name for tensor in inputs]


def part_models(
    model: keras.Model, names: Sequence[str] | None = None, head: str | None = None
) -> dict[str, keras.Model]:
    """Sub-models of a DeepFM model that share its layers and weights.

    Works on a model fresh from `build_deepfm` and on one loaded with
    `keras.saving.load_model`. Each sub-model is a `DeepFMModel` taking the
    same input dict as `model`.

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

    >>> model = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,))
    >>> sorted(part_models(model))
    ['deep', 'embeddings', 'fm_1d', 'fm_2d']
    """
    if names is None:
        names = part_names(model, head)
        if "embeddings" in {layer.name for layer in model.layers}:
            names.append("embeddings")
    return {n: DeepFMModel(model.input, model.get_layer(n).output, name=f"{model.name}_{n}") for n in names}
