"""Fast batch scoring: one compiled call of the model per batch.

`model.predict` pays Keras' per-call machinery (data adapter, callbacks,
progress bar, a step function that handles every input kind). For scoring many
rows of in-memory arrays, one `tf.function` of `model(x, training=False)`
traced once for any batch size is faster (how much: benchmarks/README.md,
"Figures behind the package's defaults"). A several-head model gives a dict
of arrays keyed by head, as `model.predict` does.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from deepfm_keras.validation import check_inputs, check_scores

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _input_specs(model: keras.Model) -> dict[str, keras.KerasTensor]:
    inputs = model.input
    if not isinstance(inputs, Mapping):
        raise ValueError(
            f"batch_predict needs a model whose inputs are a dict keyed by feature name (as build_deepfm makes). "
            f"Model {model.name!r} takes {type(inputs).__name__}."
        )
    return dict(inputs)


def _compiled(model: keras.Model, jit_compile: bool):
    """The cached `tf.function` scoring `model`; it holds the model weakly, so the cache never keeps it alive."""
    per_model = _COMPILED.setdefault(model, {})
    if jit_compile not in per_model:
        signature = {
            name: tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=name)
            for name, tensor in _input_specs(model).items()
        }
        model_ref = weakref.ref(model)  # a strong reference here would keep the key of _COMPILED alive

        def score(inputs):
            return model_ref()(inputs, training=False)

        per_model[jit_compile] = tf.function(score, input_signature=[signature], jit_compile=jit_compile)
    return per_model[jit_compile]


def _scores(model: keras.Model, output: keras.KerasTensor, batches: list[np.ndarray]) -> np.ndarray:
    """One output's batches as one array, checked by `check_scores`; `(0, *shape)` float32 when there is none."""
    if not batches:
        return np.zeros((0, *output.shape[1:]), "float32")
    return check_scores(model, np.concatenate(batches, axis=0))


def batch_predict(
    model: keras.Model,
    x: Mapping[str, np.ndarray],
    *,
    batch_size: int = 8192,
    jit_compile: bool = False,
) -> np.ndarray | dict[str, np.ndarray]:
    """Scores in-memory arrays with one compiled call of `model` per batch.

    Gives the same numbers as `model.predict(x)` (to float rounding), faster:
    the model is traced once, for any batch size, and cached for later calls.
    The cache holds the model weakly: a model that is no longer used elsewhere
    is freed, its compiled functions with it.

    Args:
        model: a model with dict inputs, e.g. from `build_deepfm` or loaded
            from a `.keras` file.
        x: dict from feature name to array, as `FeatureEncoder.transform`
            returns: `(n,)` or `(n, 1)` for scalar features, `(n, max_len)`
            for id lists. Keys are bound by name: an unexpected or missing
            key is an error.
        batch_size: rows per call.
        jit_compile: compile with XLA (faster per batch on CPU, slower first call).

    Returns:
        For a one-head model, a NumPy array `(n, units)` of predictions
        (`units` is 1 unless the head is multi-class). For a model with
        several heads (`build_deepfm(..., tasks=[...])`), a dict from head
        name to such an array, as `model.predict` returns. With `n = 0` the
        arrays are float32 `(0, units)`.

    Raises:
        ValueError: from `deepfm_keras.validation.check_inputs`, naming the
            feature, row and value: an unexpected or missing key, arrays of
            different lengths, a wrong number of columns, a non-finite
            number, a non-integer id or an id outside its vocabulary; from
            `deepfm_keras.validation.check_scores` when a score is not finite.

    Example:

    >>> from deepfm_keras import CategoricalFeature, build_deepfm
    >>> model = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,))
    >>> batch_predict(model, {"u": np.arange(10)}, batch_size=4).shape
    (10, 1)
    >>> from deepfm_keras.spec.tasks import Task
    >>> heads = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,),
    ...                      tasks=[Task("click"), Task("buy")])
    >>> {name: p.shape for name, p in sorted(batch_predict(heads, {"u": np.arange(10)}).items())}
    {'buy': (10, 1), 'click': (10, 1)}
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` should be a positive integer. Received: batch_size={batch_size!r}")
    arrays = check_inputs(model, x, what="the input of batch_predict")
    rows = len(next(iter(arrays.values())))
    score = _compiled(model, bool(jit_compile))
    batches = [
        score({name: a[start : start + batch_size] for name, a in arrays.items()})
        for start in range(0, rows, batch_size)
    ]
    if isinstance(model.output, Mapping):  # several heads: one array per output name, as `model.predict` gives
        return {
            name: _scores(model, tensor, [np.asarray(b[name]) for b in batches])
            for name, tensor in model.output.items()
        }
    return _scores(model, model.output, [np.asarray(b) for b in batches])
