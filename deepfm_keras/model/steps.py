"""`CheckedSteps`: the training, evaluation and prediction steps of `DeepFMModel`, each batch checked first.

Every training and evaluation batch is bound to the model's inputs by name
and checked in the graph (`deepfm_keras.checks.graph`: ids in range, finite
numbers, valid labels and sample weights) before its step changes anything.
Without XLA the checks run inside `train_step` / `test_step`, which wait for
them; under XLA, which drops `Assert` ops, they run in the uncompiled loop
that calls the compiled step (`make_train_function`). Prediction batches are
bound by name only.

A mixin of `keras.Model` subclasses, placed before `keras.Model` in the
bases (`class DeepFMModel(CheckedSteps, keras.Model)`): it defines no
`__init__`, so the model stays a functional one for Keras (its constructor,
`get_config` and `from_config`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import keras

from deepfm_keras import validation

if TYPE_CHECKING:  # the type checker sees the methods the mixin reads and extends; at run time it is a plain mixin
    from keras import Model as _ModelBase
else:
    _ModelBase = object


class CheckedSteps(_ModelBase):
    """Keras' steps of a functional model, on batches bound by name and checked in the graph first.

    Reads the model's fields and tasks (`validation.model_fields`,
    `validation.model_tasks`) and calls `super()`'s steps and step-function
    makers, so it goes before `keras.Model` in the bases.
    """

    # The steps (`"train"`, `"test"`) whose batch checks run before Keras' XLA-compiled step, not inside it.
    _steps_checked_before: frozenset[str] = frozenset()
    # The step whose function Keras builds now with XLA, while `_autoconvert_optionals` has yet to wrap it.
    _checks_hook = None

    def _checked_batch(self, data, check=True):
        """The batch bound to the inputs, and checked in the graph (`deepfm_keras.checks.graph`) unless `check=False`."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        fields = validation.model_fields(self)
        # Conformed before Keras' own input checks, which fail on a batch whose rank a retrace left unknown.
        x = validation.conform(fields, x, what=f"the input of model {self.name!r}")
        heads = validation.model_tasks(self)
        if heads and isinstance(y, Mapping):
            # One label per row and head: (batch,) and (batch, 1) alike for a one-output head.
            y = {k: keras.ops.reshape(v, (-1, 1)) if heads.get(k, (None, 0))[1] == 1 else v for k, v in y.items()}
            if check:
                x, y = validation.assert_batch(fields, x, y, task=heads)
        else:
            if y is not None and keras.ops.is_tensor(y) and tuple(self.outputs[0].shape[1:]) == (1,):
                # One label per row: (batch,) and (batch, 1) alike, also where a retrace left the rank unknown.
                y = keras.ops.reshape(y, (-1, 1))
            task = validation.model_task(self)
            units = int(self.outputs[0].shape[-1]) if task == "multiclass" else None
            if check:
                x, y = validation.assert_batch(fields, x, y, task=task, num_classes=units)
        if check:
            sample_weight = validation.assert_sample_weights(sample_weight)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def train_step(self, data):
        return self._checked_step(super().train_step, "train", data)

    def test_step(self, data):
        return self._checked_step(super().test_step, "test", data)

    def _checked_step(self, step, kind, data):
        """Keras' `step` on the checked batch; every op of it waits for the checks (the optimizer's counter too)."""
        if kind in self._steps_checked_before:
            # XLA compiles this step, and would drop the checks: they ran before it (`make_train_function`).
            return step(self._checked_batch(data, check=False))
        import tensorflow as tf

        data = self._checked_batch(data)
        checked = [t for t in tf.nest.flatten(data) if t is not None]
        optimizer = getattr(self, "optimizer", None)
        if kind == "train" and optimizer is not None:
            # Only the optimizer's step counter gets control edges: its `assign_add(1)` reads no batch tensor, so
            # it could run before a failing check stops the step. A control scope over the whole step made every
            # table a full read before its update, which TensorFlow then copied (+1.7 GB at 10^6 ids per field
            # on the Criteo-shaped model).
            with _apply_after(optimizer, checked):
                return step(data)
        with tf.control_dependencies(checked):  # an evaluation step updates metrics only: they wait too
            return step(data)

    def make_train_function(self, force=False):
        """Keras' train function, whose steps never train on a batch that fails the in-graph checks.

        The checks (`deepfm_keras.checks.graph`) are `Assert` ops, which XLA
        drops. Without XLA they run inside `train_step`, and the whole step
        waits for them. With XLA (`jit_compile=True`, or Keras' `"auto"` for
        a stock optimizer on one GPU) Keras compiles `one_step_on_data` (the
        strategy's run of `train_step`) and calls it from an uncompiled graph,
        the loop over `steps_per_execution` steps: the checks run there,
        before the compiled step, which takes the checked batch and so starts
        only once they pass.

        Either way a bad batch raises `tf.errors.InvalidArgumentError` naming
        the fields (or the labels or weights) that fail, and neither it nor
        any later batch changes anything: weights, optimizer slots and the
        optimizer's step counter stay bit-identical. The batches before it in
        the same execution have been applied, exactly as they would be with
        `steps_per_execution=1`.
        """
        if self.train_function is None or force:
            self._make_checked_function("train", super().make_train_function)
        return self.train_function

    def make_test_function(self, force=False):
        """Keras' test function, with the batch checks before the XLA-compiled step (see `make_train_function`)."""
        if self.test_function is None or force:
            self._make_checked_function("test", super().make_test_function)
        return self.test_function

    def _make_checked_function(self, kind, make):
        compiled = bool(self.jit_compile) and not self.run_eagerly
        self._steps_checked_before = self._steps_checked_before - {kind}
        self._checks_hook = kind if compiled else None
        try:
            make(force=True)
        finally:
            self._checks_hook = None
        if compiled and kind not in self._steps_checked_before:
            # This Keras builds its step functions otherwise: no XLA rather than a step that skips the checks.
            warnings.warn(
                f"Keras {keras.__version__} built the {kind} step without calling `_autoconvert_optionals`, where "
                f"deepfm_keras checks each batch before the XLA-compiled step: running the {kind} step without XLA.",
                stacklevel=3,
            )
            self.jit_compile = False
            try:
                make(force=True)
            finally:
                self.jit_compile = True

    def _autoconvert_optionals(self, step_func):
        # Keras' `_make_function` wraps its XLA-compiled `one_step_on_data` with this and calls the wrapper from
        # the uncompiled graph: the batch is checked there (the checks refuse to be traced inside XLA).
        kind, self._checks_hook = self._checks_hook, None
        if kind is None:
            return super()._autoconvert_optionals(step_func)
        self._steps_checked_before = self._steps_checked_before | {kind}
        strategy = self.distribute_strategy

        def checked_step(data):
            return step_func(strategy.run(self._checked_batch, args=(data,)))

        return super()._autoconvert_optionals(checked_step)

    def predict_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = validation.conform(validation.model_fields(self), x, what=f"the input of model {self.name!r}")
        return super().predict_step(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))


@contextlib.contextmanager
def _apply_after(optimizer, tensors):
    """While the step is traced, the optimizer's step counter increments only after `tensors` (the checked batch).

    The weight updates already wait for the checks (they need the gradients of the checked batch); the counter's
    `assign_add(1)` needs nothing, so it gets the control edges, and nothing else does: a control edge on a table's
    read would keep TensorFlow from gathering only its rows.
    """
    import tensorflow as tf

    counter = optimizer.iterations
    assign_add = counter.assign_add

    def gated(*args, **kwargs):
        with tf.control_dependencies(tensors):
            return assign_add(*args, **kwargs)

    counter.__dict__["assign_add"] = gated
    try:
        yield
    finally:
        counter.__dict__.pop("assign_add", None)
