"""A progress bar for `DeepFMModel.fit` / `evaluate` / `predict` that counts the steps really run."""

from __future__ import annotations

import keras


class StepProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, counting the steps that a multi-step execution really ran.

    Keras 3.15 reports each execution of `steps_per_execution` steps at its
    last step as if it were full, so the last one of an epoch overshoots
    (224/193 for 193 batches at 32 per execution, keras-team/keras#20861) and
    an epoch of unknown length seems to end on a multiple of 32; Keras 3.10
    reports it at its first step instead. Here training steps are counted by
    the optimizer's `iterations` (a mixed-precision step skipped for
    non-finite gradients is not counted) and capped at the known number of
    steps; on a dataset of unknown cardinality the number found at the end of
    the first epoch is the target of the next ones. Evaluation and prediction
    have no step counter: their step is only capped.
    """

    _first_iteration = None

    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        try:
            return int(optimizer.iterations.numpy())
        except (AttributeError, TypeError, ValueError):
            return None

    def _capped(self, batch):
        return batch if self.target is None else min(batch, self.target - 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._first_iteration = self._iterations()
        super().on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        # The optimizer's step counter says how many steps ran, whatever `batch` means: Keras 3.15 passes the last
        # step of an execution (and overshoots at the end), Keras 3.10 its first (and lags 31 steps behind).
        if self._first_iteration is not None:
            now = self._iterations()
            if now is not None:
                batch = now - self._first_iteration - 1
        super().on_train_batch_end(self._capped(batch), logs)

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(self._capped(batch), logs)

    def on_predict_batch_end(self, batch, logs=None):
        super().on_predict_batch_end(self._capped(batch), logs)


def add_step_progbar(kwargs) -> None:
    """Gives `fit` / `evaluate` / `predict` a `StepProgbarLogger` where Keras would add its own progress bar."""
    callbacks = kwargs.get("callbacks")
    if kwargs.get("verbose", "auto") == 0 or isinstance(callbacks, keras.callbacks.CallbackList):
        return
    callbacks = list(callbacks or [])
    if not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        kwargs["callbacks"] = [*callbacks, StepProgbarLogger()]
