"""Prediction tasks of a DeepFM model: one head (binary, regression, multi-class) or several.

```python
tasks = [Task("click"), Task("conversion", loss_weight=0.5)]        # two binary heads on shared embeddings
model = build_deepfm(spec, tasks=tasks)
model.compile(optimizer="adam", **compile_kwargs(tasks))            # per-head loss, weight and metric
model.fit(x, {"click": clicked, "conversion": converted})
```

A multi-class head (`Task("genre", "multiclass", num_classes=18)`) is a
softmax over the classes trained with sparse categorical cross-entropy: its
labels are class ids `0 .. num_classes - 1`.

`TASK_KINDS` is the one table of what a kind of task means: its output
activation, its loss, its metric and what early stopping watches. Every other
module (the builders, the checks, the run config, the pipeline) reads it here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from deepfm_keras.spec.names import argument_name, check_name


@dataclasses.dataclass(frozen=True)
class TaskKind:
    """What one kind of task means for the model, its training and its evaluation.

    Attributes:
        name: `"binary"`, `"regression"` or `"multiclass"`.
        activation: the output layer's activation.
        loss: the Keras loss name.
        metric: the name of the Keras metric `Task.metric()` creates (and of its log key).
        monitor: the validation log key early stopping and learning-rate decay watch.
        mode: `"max"` or `"min"`: which way `monitor` improves.
    """

    name: str
    activation: str
    loss: str
    metric: str
    monitor: str
    mode: str


TASK_KINDS: dict[str, TaskKind] = {
    kind.name: kind
    for kind in (
        TaskKind("binary", "sigmoid", "binary_crossentropy", "auc", "val_auc", "max"),
        TaskKind("regression", "linear", "mse", "rmse", "val_rmse", "min"),
        # Multi-class runs stop on the validation log loss, smoother than accuracy.
        TaskKind("multiclass", "softmax", "sparse_categorical_crossentropy", "accuracy", "val_loss", "min"),
    )
}
"""Task kind name -> `TaskKind`: the one table of activations, losses, metrics and early-stopping keys."""


def task_kind(name: Any) -> TaskKind:
    """The `TaskKind` of a task name, or a ValueError listing the known ones.

    Example:

    >>> task_kind("regression").monitor
    'val_rmse'
    """
    if name not in TASK_KINDS:
        raise ValueError(f"`task` should be one of {list(TASK_KINDS)}. Received: task={name!r}")
    return TASK_KINDS[name]


def kind_of_activation(activation: str | None) -> str | None:
    """The task kind whose output has this activation (`"sigmoid"` -> `"binary"`), or None."""
    return next((kind.name for kind in TASK_KINDS.values() if kind.activation == activation), None)


def make_metric(kind: str):
    """A fresh Keras metric of a task kind: AUC (binary), RMSE (regression) or accuracy (multi-class)."""
    import keras

    name = task_kind(kind).metric
    if kind == "binary":
        return keras.metrics.AUC(name=name)
    if kind == "regression":
        return keras.metrics.RootMeanSquaredError(name=name)
    return keras.metrics.SparseCategoricalAccuracy(name=name)


@dataclasses.dataclass(frozen=True)
class Task:
    """One head of a DeepFM model.

    Args:
        name: the head's output name (the key of its labels and of its
            predictions), and the suffix of its layers (`combine_<name>`).
        task: `"binary"` (sigmoid, log loss), `"regression"` (linear, MSE)
            or `"multiclass"` (softmax, sparse categorical cross-entropy).
        num_classes: classes of a multi-class head (at least 2); None for
            the others.
        loss_weight: weight of its loss in the model's total loss (> 0).

    Example:

    >>> Task("rating", "multiclass", num_classes=5).units
    5
    >>> Task("click").loss
    'binary_crossentropy'
    """

    name: str
    task: str = "binary"
    num_classes: int | None = None
    loss_weight: float = 1.0

    def __post_init__(self):
        check_name(self.name, "A task `name`")
        if self.task not in TASK_KINDS:
            raise ValueError(f"Task '{self.name}': `task` should be one of {list(TASK_KINDS)}. Received: {self.task!r}")
        if self.task == "multiclass":
            n = self.num_classes
            if isinstance(n, bool) or not isinstance(n, int) or n < 2:
                raise ValueError(
                    f"Task '{self.name}': a multiclass task needs `num_classes`, an integer >= 2. Received: {n!r}"
                )
        elif self.num_classes is not None:
            raise ValueError(f"Task '{self.name}': `num_classes` is for multiclass tasks only (task={self.task!r}).")
        w = self.loss_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"Task '{self.name}': `loss_weight` should be a positive number. Received: {w!r}")

    @property
    def units(self) -> int:
        """Output width: `num_classes` for a multi-class head, else 1."""
        return self.num_classes if self.task == "multiclass" and self.num_classes is not None else 1

    @property
    def kind(self) -> TaskKind:
        """The `TaskKind` row of this head's task."""
        return TASK_KINDS[self.task]

    @property
    def activation(self) -> str:
        return self.kind.activation

    @property
    def loss(self) -> str:
        return self.kind.loss

    def metric(self):
        """A fresh Keras metric for the head: AUC (binary), RMSE (regression) or accuracy (multi-class)."""
        return make_metric(self.task)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def normalize_tasks(tasks: Any, input_names: Sequence[str] = ()) -> list[Task]:
    """Checks a list of tasks (or their dicts): at least one, distinct names, none an input's name."""
    if isinstance(tasks, (str, bytes, Task)) or not isinstance(tasks, Sequence) or not tasks:
        raise ValueError(f"`tasks` should be a non-empty list of Task. Received: {tasks!r}")
    out = [t if isinstance(t, Task) else Task(**t) for t in tasks]
    names = [t.name for t in out]
    folded = [argument_name(n) for n in names]
    if len(set(folded)) != len(folded):
        raise ValueError(f"Task names should be distinct (case and '-', '.', '_' aside). Received: {names}")
    if "prediction" in names:
        raise ValueError("A task may not be named 'prediction': that is the output of a one-head model.")
    clash = sorted(set(names) & set(input_names))
    if clash:
        raise ValueError(f"Task name(s) {clash} are also input names: name the heads differently.")
    return out


def compile_kwargs(tasks: Sequence[Task]) -> dict:
    """`loss`, `loss_weights` and `metrics` for `model.compile`, one entry per head.

    Example:

    >>> compile_kwargs([Task("click"), Task("conversion", loss_weight=0.5)])["loss_weights"]
    {'click': 1.0, 'conversion': 0.5}
    """
    tasks = normalize_tasks(list(tasks))
    return {
        "loss": {t.name: t.loss for t in tasks},
        "loss_weights": {t.name: float(t.loss_weight) for t in tasks},
        "metrics": {t.name: [t.metric()] for t in tasks},
    }
