"""In-graph checks of one training or evaluation batch: ids in range, numbers finite, labels and weights valid.

`DeepFMModel` runs them on every batch of `fit` and `evaluate` (a `tf.data`
pipeline of the user's own included), and makes the whole step wait for
them, so a bad batch raises `tf.errors.InvalidArgumentError` before its step
changes anything (weights, optimizer slots, the optimizer's step counter).

They are `tf.debugging.Assert` ops, and XLA drops those: inside a function
compiled with `jit_compile=True` an `Assert` compiles to nothing and the step
trains on the bad batch. So the checks refuse to be traced inside XLA
(`RuntimeError`), and under `jit_compile=True` the model runs them in the
uncompiled graph that calls the compiled step, which then waits for them
(`DeepFMModel.make_train_function`).

Example:

>>> import tensorflow as tf
>>> from deepfm_keras.checks.fields import Field
>>> fields = {"u": Field("u", True, 1, 10)}
>>> x, y = assert_batch(fields, {"u": tf.constant([[3], [9]])}, tf.constant([0.0, 1.0]), task="binary")
>>> x["u"].numpy().ravel().tolist()
[3, 9]
>>> assert_batch(fields, {"u": tf.constant([[3], [12]])}, None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tensorflow.python.framework.errors_impl.InvalidArgumentError: Expected ... in field(s):'
b'u'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import tensorflow as tf

from deepfm_keras.spec.features import NUMERIC_LIMIT

if TYPE_CHECKING:
    from deepfm_keras.checks.fields import Field

try:  # TensorFlow's own test for "this graph is compiled by XLA" (MirroredStrategy uses it too).
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext as _in_xla
except ImportError:  # pragma: no cover - a TensorFlow without it: no guard
    _in_xla = None


def _refuse_xla() -> None:
    """Raises while tracing inside an XLA-compiled function, where the checks' `Assert` ops would compile to nothing."""
    if _in_xla is not None and not tf.executing_eagerly() and _in_xla(tf.compat.v1.get_default_graph()):
        raise RuntimeError(
            "The batch checks are traced inside a function compiled with XLA, which drops their Assert ops: a bad "
            "batch would train. Run them before the compiled step, as DeepFMModel does under jit_compile=True."
        )


def assert_batch(fields: Mapping[str, Field], x, y=None, *, task=None, num_classes: int | None = None):
    """In-graph checks of one batch: ids in range, numbers finite and within bounds, labels finite (0/1 if binary).

    `task` is the model's task (`num_classes` for a multi-class one), or,
    for a model with several heads, `model_tasks(model)` and `y` a dict.

    Returns `(x, y)` unchanged, but made to depend on the checks, so a bad
    batch raises `tf.errors.InvalidArgumentError` (naming the fields that
    fail) before anything computed from them runs.

    Raises:
        RuntimeError: if traced inside an XLA-compiled function.
    """
    _refuse_xla()
    checks = []
    names, oks = [], []
    for name, field in fields.items():
        if not isinstance(x, Mapping) or name not in x:
            continue
        value = tf.convert_to_tensor(x[name])
        if field.is_id and field.vocabulary_size is not None and value.dtype.is_integer:
            value = tf.cast(value, tf.int64)
            oks.append(tf.reduce_all((value >= 0) & (value < field.vocabulary_size)))
        elif not field.is_id and value.dtype.is_floating:
            value = tf.cast(value, tf.float32)
            ok = tf.abs(value) <= NUMERIC_LIMIT  # NaN fails too
            if field.nan_padding:
                ok |= tf.math.is_nan(value)  # a numeric sequence's padding
            oks.append(tf.reduce_all(ok))
        else:
            continue
        names.append(name)
    if oks:
        ok = tf.stack(oks)
        bad_fields = tf.strings.reduce_join(tf.boolean_mask(tf.constant(names), tf.logical_not(ok)), separator=", ")
        checks.append(
            tf.debugging.Assert(
                tf.reduce_all(ok),
                [
                    "A batch has ids outside [0, vocabulary_size), or numbers that are not finite or beyond "
                    f"+-{NUMERIC_LIMIT:g}, in field(s):",
                    bad_fields,
                ],
            )
        )
    if isinstance(y, Mapping) and isinstance(task, Mapping):
        heads = [
            (y[name], head_task, units, f"Labels '{name}'") for name, (head_task, units) in task.items() if name in y
        ]
    elif y is not None and not isinstance(y, (Mapping, list, tuple)):
        heads = [(y, task, num_classes, "Labels")]
    else:
        heads = []
    for labels, head_task, units, label in heads:
        labels = tf.cast(tf.convert_to_tensor(labels), tf.float32)
        ok = tf.reduce_all(tf.math.is_finite(labels))
        rule = "finite"
        if head_task == "binary":
            ok = ok & tf.reduce_all((labels == 0) | (labels == 1))
            rule = "0 or 1"
        elif head_task == "multiclass" and units:
            ok = ok & tf.reduce_all((labels >= 0) & (labels < units) & (labels == tf.round(labels)))
            rule = f"class ids in 0 .. {units - 1}"
        checks.append(tf.debugging.Assert(ok, [f"{label} of a batch should be {rule}; received", labels], summarize=8))
    if not checks:
        return x, y
    with tf.control_dependencies(checks):
        x = tf.nest.map_structure(tf.identity, x)
        y = tf.nest.map_structure(tf.identity, y) if y is not None else None
    return x, y


def assert_sample_weights(sample_weight):
    """In-graph check of one batch's weights (finite, `>= 0`); returns them made to depend on it.

    `None` is returned as it is; a dict or list of weights (several heads) is checked weight by weight.

    Raises:
        RuntimeError: if traced inside an XLA-compiled function.
    """
    if sample_weight is None:
        return sample_weight
    if isinstance(sample_weight, Mapping):
        return {k: assert_sample_weights(v) for k, v in sample_weight.items()}
    if isinstance(sample_weight, (list, tuple)):
        return type(sample_weight)(assert_sample_weights(v) for v in sample_weight)
    _refuse_xla()
    weights = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
    ok = tf.reduce_all(tf.math.is_finite(weights) & (weights >= 0))
    check = tf.debugging.Assert(
        ok, ["Sample weights of a batch should be finite and >= 0; received", weights], summarize=8
    )
    with tf.control_dependencies([check]):
        return tf.identity(sample_weight)
