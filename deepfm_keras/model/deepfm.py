"""`DeepFMModel`: the functional model class of deepfm_keras (strict named inputs, row-sparse optimizers)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping

import keras
import numpy as np
from keras.src.utils.io_utils import ask_to_proceed_with_overwrite

from deepfm_keras import optimizers, validation
from deepfm_keras.model import legacy, saving
from deepfm_keras.model.progbar import add_step_progbar
from deepfm_keras.model.steps import CheckedSteps
from deepfm_keras.spec.feature_spec import normalize_spec, spec_to_dicts
from deepfm_keras.spec.features import feature_from_dict
from deepfm_keras.spec.tasks import Task

# A stock Keras optimizer updates every row of every table (and of its slots) at every step: warn past this size.
_DENSE_UPDATE_WARN_PARAMS = 4_000_000
DEFAULT_STEPS_PER_EXECUTION = 32


@keras.saving.register_keras_serializable(package="deepfm_keras")
class DeepFMModel(CheckedSteps, keras.Model):
    """The functional model `build_deepfm` returns: it keeps its spec, binds inputs by name, resolves optimizers.

    The model knows what it is: `feature_spec` (the features of its inputs),
    `tasks` (its heads: one `Task("prediction", ...)` for a one-head model)
    and `parts` (the parts each head combines, e.g. `("fm_1d", "fm_2d",
    "deep")`) are attributes, written in its config and so in a `.keras`
    file. The input checks, the callbacks, `field_importance`, `part_models`
    and the serving export read them there. A model saved before it kept them
    reads them from its layers when it loads.

    Inputs: a dict keyed by feature name, bound strictly. An unexpected or a
    missing key is an error naming it, in `model(x)`, `fit`, `evaluate`,
    `predict` and any dataset they are given (a plain `keras.Model` matches
    dict inputs in sorted key order and only warns about an extra key, which
    shifts the other inputs onto the wrong fields). A numeric or single-level
    field may be `(n,)` or `(n, 1)`. Arrays given to `fit`, `evaluate` and
    `predict` are checked by `deepfm_keras.validation` before anything runs
    (finite numbers, whole-number ids within each field's vocabulary, finite
    labels, 0/1 for a binary model, `sample_weight` finite, `>= 0` and not all
    zero), with errors naming the field, row and value; every training and
    evaluation batch is checked in the graph too (its sample weights
    included: the third element of a dataset's `(x, y, w)`), by the steps of
    `deepfm_keras.model.steps.CheckedSteps`, also under XLA.
    `predict` on 0 rows returns an empty `(0, 1)` array.

    `compile` takes Keras' arguments, positionally too. An optimizer name of
    `deepfm_keras.optimizer_names` (`"adam"` = `"lazy_adam"`, `"adagrad"`,
    `"rowwise_adagrad"`, `"sgd"`, `"ftrl"`) gets the matching optimizer of
    `deepfm_keras.optimizers`, whose table updates touch only the rows a batch
    looks up (`"dense_adam"`: stock Keras Adam); an optimizer instance is used
    as given.
    Without a `loss`, each head gets its task's loss. Everything else is a
    plain functional `keras.Model`: `DeepFMModel(model.input, ...)` builds
    sub-models from its layers (as `part_models` does).

    Args:
        inputs, outputs, name: as for a functional `keras.Model`.
        feature_spec: the features of the inputs (a list of features or of
            their dicts), or None (read from the layers).
        tasks: the heads, one `Task` (or its dict) per output; `()` for a
            sub-model whose outputs are no heads; None: read from the layers.
        parts: the part kinds each head combines; `()` for none; None: read
            from the layers.

    Example:

    >>> from deepfm_keras import CategoricalFeature, build_deepfm
    >>> model = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,))
    >>> model.compile("adam", "binary_crossentropy")
    >>> type(model.optimizer).__name__, model.parts, model.tasks[0].task
    ('LazyAdam', ('fm_1d', 'fm_2d', 'deep'), 'binary')
    """

    def __init__(self, *args, feature_spec=None, tasks=None, parts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.feature_spec = None if feature_spec is None else tuple(_features(feature_spec))
        self.tasks = legacy.tasks_from_layers(self) if tasks is None else tuple(_tasks(tasks))
        if parts is None:
            parts = legacy.part_kinds_from_layers(self, self.tasks) or ()
        self.parts = tuple(parts)

    def get_config(self):
        config = super().get_config()
        if self.feature_spec is not None:
            config["feature_spec"] = spec_to_dicts(self.feature_spec)
        config["tasks"] = [t.to_dict() for t in self.tasks]
        config["parts"] = list(self.parts)
        return config

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=None,
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """`keras.Model.compile`, same arguments in the same order, with optimizer names and defaults of its own.

        Args:
            optimizer: a name (`"adam"` gives `LazyAdam`, ...; see
                `deepfm_keras.optimizers.get`), a config or an instance.
            loss: as for Keras; None gives each head its task's loss (and,
                for several heads, their `loss_weight`s).
            loss_weights, metrics, weighted_metrics, run_eagerly,
                auto_scale_loss: as for Keras.
            steps_per_execution: train steps per graph call; `None` gives
                `DEFAULT_STEPS_PER_EXECUTION` (32) on one replica and 1 under
                a strategy with several. `fit`, `evaluate` and `predict` get
                a progress bar that counts the steps really run.
            jit_compile: `"auto"` gives no XLA with a row-sparse optimizer
                (XLA's gathers and scatters make the sparse table update
                slower; see benchmarks/README.md), else Keras' own `"auto"`.
                `True` / `False` force it.
        """
        optimizer = optimizers.get(optimizer)
        table_params = self.table_parameters()
        if not isinstance(optimizer, optimizers.RowSparseOptimizer) and table_params >= _DENSE_UPDATE_WARN_PARAMS:
            warnings.warn(
                f"{type(optimizer).__name__} updates all {table_params:,} embedding parameters (and its slots) "
                "at every step. deepfm_keras.optimizers (LazyAdam, SparseAdagrad, RowWiseAdagrad, SparseSGD, "
                "SparseFtrl) update only the rows a batch looks up.",
                stacklevel=2,
            )
        if loss is None and self.tasks:
            loss, default_weights = _task_losses(self.tasks)
            loss_weights = default_weights if loss_weights is None else loss_weights
        if steps_per_execution is None:
            # Keras 3.15 / TF 2.21 fail to run more than one step per execution under a strategy with several
            # replicas ("You must feed a value for placeholder tensor .../while/cond/Placeholder"), even for a
            # one-Dense model: keep one step per execution there.
            replicas = self.distribute_strategy.num_replicas_in_sync
            steps_per_execution = DEFAULT_STEPS_PER_EXECUTION if replicas == 1 else 1
        if jit_compile == "auto" and isinstance(optimizer, optimizers.RowSparseOptimizer):
            jit_compile = False
        super().compile(
            optimizer=optimizer,
            loss=loss,
            loss_weights=loss_weights,
            metrics=metrics,
            weighted_metrics=weighted_metrics,
            run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
            auto_scale_loss=auto_scale_loss,
        )

    def table_parameters(self) -> int:
        """Number of parameters in the model's row-looked-up tables (`CategoricalEmbedding` tables)."""
        return sum(
            int(w.shape[0]) * int(w.shape[1])
            for w in self.trainable_weights
            if getattr(w, optimizers.ROW_SPARSE_ATTRIBUTE, False)
        )

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of a model whose `compile` is overridden; ours only
        # resolves names, so restore it as Keras does for a plain model (optimizer state included).
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------ files in bounded memory

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """`keras.Model.save`; a local `.keras` file is written in bounded memory (`deepfm_keras.model.saving`).

        Same file and same arguments as Keras; the weights go through a
        temporary file next to `filepath` (block by block for large tables)
        instead of an in-memory copy of them.
        """
        path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
        local = path is not None and path.endswith(".keras") and "://" not in path
        if not local or zipped is False or kwargs:
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        if os.path.exists(path) and not overwrite and not ask_to_proceed_with_overwrite(path):
            return None
        saving.save_keras_file(self, path)
        return None

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """`keras.Model.load_weights`; from a local `.keras` file its weights are read in place, block by block."""
        if saving.is_local_keras_file(filepath) and not kwargs:
            if not self.built:
                raise ValueError(
                    "You are loading weights into a model that has not yet been built. "
                    "Try building the model first by calling it on some data or by using `build()`."
                )
            return saving.load_weights_from_keras_file(self, filepath, skip_mismatch=skip_mismatch)
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

    # ------------------------------------------------------------------ inputs bound by name

    def call(self, inputs, training=None, mask=None, **kwargs):
        inputs = validation.conform(validation.model_fields(self), inputs, what=f"the input of model {self.name!r}")
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def _checked_arrays(self, x, y=None, what="the input"):
        """`(x, y)` checked by `deepfm_keras.validation`: a dict of arrays fully, a dataset by its element spec."""
        if _is_dataset(x):
            validation.check_dataset(validation.model_fields(self), x, what=f"the dataset given to {what}")
            return x, y
        if not isinstance(x, Mapping):
            return x, y
        x = validation.check_inputs(self, x, what=f"the input of {what}")
        rows = len(next(iter(x.values())))
        if y is not None and validation.model_tasks(self):
            y = validation.check_task_labels(self, y, rows=rows, what=f"y of {what}")
        elif y is not None and not isinstance(y, Mapping):
            task = validation.model_task(self)
            units = int(self.outputs[0].shape[-1]) if task == "multiclass" else None
            y = validation.check_labels(y, rows=rows, task=task, num_classes=units, what=f"y of {what}")
        return x, y

    def _checked_weights(self, x, y, sample_weight, what):
        """`sample_weight` checked against the rows of array `x` (`validation.check_sample_weights`).

        A several-head model takes a dict with one array per head, or one array for every head.
        """
        if sample_weight is None or not isinstance(x, Mapping):
            return sample_weight
        if y is None:
            raise ValueError(f"`sample_weight` of {what} needs labels: pass `y` too.")
        rows = len(next(iter(x.values())))
        heads = validation.model_tasks(self)
        if heads:
            return validation.check_head_weights(sample_weight, heads, rows=rows, what=f"sample_weight of {what}")
        if isinstance(sample_weight, Mapping):
            raise ValueError(
                f"`sample_weight` of {what} is a dict, but model {self.name!r} has one output: pass one array."
            )
        return validation.check_sample_weights(sample_weight, rows=rows, what=f"sample_weight of {what}")

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self._checked_arrays(x, y, "fit")
        if "sample_weight" in kwargs:
            kwargs["sample_weight"] = self._checked_weights(x, y, kwargs["sample_weight"], "fit")
        if _is_dataset(x) and not args:
            kwargs.setdefault("shuffle", False)  # a dataset shuffles itself; Keras would only warn that it ignores it
        if not args:
            add_step_progbar(kwargs)
        validation_data = kwargs.get("validation_data")
        if isinstance(validation_data, tuple) and validation_data and isinstance(validation_data[0], Mapping):
            checked = self._checked_arrays(*validation_data[:2], what="validation_data")
            weights = [self._checked_weights(*checked, w, "validation_data") for w in validation_data[2:]]
            kwargs["validation_data"] = (*checked, *weights)
        elif validation_data is not None:
            self._checked_arrays(validation_data, what="validation_data")
        self._build_optimizer()
        with self._retrace_after_error():
            return super().fit(x, y, *args, **kwargs)

    def _build_optimizer(self) -> None:
        """Creates the optimizer's slots now, eagerly, rather than in the first traced training step.

        Keras builds an unbuilt optimizer inside the first `tf.function` step;
        there TensorFlow makes one more table-sized buffer while it creates
        `Adam`'s slots (measured: +1.6 GB at a 1.6 GB table, which stays
        resident). Built here, the slots are all the memory they take.
        """
        if self.optimizer is None or self.optimizer.built or not self.built:
            return
        with self.distribute_strategy.scope():
            self.optimizer.build(self.trainable_variables)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self._checked_arrays(x, y, "evaluate")
        if "sample_weight" in kwargs:
            kwargs["sample_weight"] = self._checked_weights(x, y, kwargs["sample_weight"], "evaluate")
        if not args:
            add_step_progbar(kwargs)
        with self._retrace_after_error():
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x, _ = self._checked_arrays(x, None, "predict")
        if isinstance(x, Mapping) and len(next(iter(x.values()))) == 0:
            empty = {
                name: np.zeros((0, *t.shape[1:]), "float32")
                for name, t in zip(self.output_names, self.outputs, strict=True)
            }
            return empty if len(empty) > 1 else next(iter(empty.values()))
        if not args:
            add_step_progbar(kwargs)
        with self._retrace_after_error():
            scores = super().predict(x, *args, **kwargs)
        if isinstance(scores, Mapping):
            return {name: validation.check_scores(self, value) for name, value in scores.items()}
        return validation.check_scores(self, scores) if isinstance(scores, np.ndarray) else scores

    @contextlib.contextmanager
    def _retrace_after_error(self):
        """Drops Keras' cached step functions when a call fails while tracing them.

        Keras keeps the `tf.function` whose first trace raised, and the next
        `fit` then fails with "Creating variables on a non-first call"; the
        next call traces a fresh one instead.
        """
        try:
            yield
        except (ValueError, TypeError):
            self.train_function = self.test_function = self.predict_function = None
            raise


def _is_dataset(x) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "element_spec")


def _features(spec) -> list:
    """A feature spec from features or their dicts (as a config holds them), checked."""
    return normalize_spec([feature_from_dict(f) if isinstance(f, Mapping) else f for f in spec])


def _tasks(tasks) -> list[Task]:
    return [Task(**t) if isinstance(t, Mapping) else t for t in tasks]


def _task_losses(tasks) -> tuple:
    """`(loss, loss_weights)` from the heads' tasks: one loss for a one-head model, a dict per head otherwise."""
    from deepfm_keras.model.parts import SINGLE_HEAD

    if len(tasks) == 1 and tasks[0].name == SINGLE_HEAD:
        return tasks[0].loss, None
    return {t.name: t.loss for t in tasks}, {t.name: float(t.loss_weight) for t in tasks}
