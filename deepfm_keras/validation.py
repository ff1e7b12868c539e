"""Checks of model inputs and labels where they enter, before a bad value reaches a table or a loss.

A deepfm_keras model takes a dict keyed by feature name. Every entry point
that holds arrays (`DeepFMModel.fit` / `evaluate` / `predict`,
`batch_predict`, `make_dataset(..., feature_spec=...)`,
`ContributionLogger`) runs `check_inputs` and `check_labels` on them first:

- keys are bound by name, strictly: an unexpected key, or a missing one, is an
  error naming it (Keras alone matches dict inputs in sorted key order, so an
  extra key can shift the others onto the wrong fields);
- one shape convention: a numeric or single-level field is `(n,)` or
  `(n, 1)`, a multi-level field `(n, max_len)`; every field has `n` rows;
- numeric values are finite numbers within `+-NUMERIC_LIMIT` (1e15; NaN and
  inf are refused: encode missing values first, `FeatureEncoder` does),
  except that a numeric sequence (`NumericSequenceFeature`) marks its padding
  with NaN, accepted there only;
- ids are integers (a float array is accepted only where every value is a
  whole number), in `[0, vocabulary_size)` of their field;
- labels are finite numbers, `(n,)` or `(n, 1)`, and 0 or 1 for a binary
  model.

Each error names the field (or `labels`), the first offending row and its
value. Inside the graph, `assert_batch` checks the same id ranges and labels
on every training and evaluation batch (a `tf.data` pipeline of the user's
own included), so no step ever trains on them; and the lookup itself still
routes an out-of-range id to its field's extra row (`CategoricalEmbedding`),
so none can read another id's embedding.

Example:

>>> from deepfm_keras import CategoricalFeature, build_deepfm
>>> model = build_deepfm([CategoricalFeature("u", 10)], embedding_dim=4, hidden_units=(8,))
>>> check_inputs(model, {"u": np.array([3, 12])})
Traceback (most recent call last):
...
ValueError: Feature 'u', row 1: id 12 is outside [0, 10) (vocabulary_size=10). Map unseen values to the OOV id with a FeatureEncoder, or give the feature a larger vocabulary_size.

The checks live in `deepfm_keras/checks/`: `fields.py` (what a model's inputs
expect, from its spec), `arrays.py` (the eager checks) and `graph.py` (the
in-graph checks of every batch); this module is their public face.
"""

import numpy as np  # noqa: F401 (the example above uses it)

from deepfm_keras.checks.arrays import (
    check_class_weight,
    check_head_weights,
    check_inputs,
    check_labels,
    check_sample_weights,
    check_scores,
    check_task_labels,
)
from deepfm_keras.checks.fields import (
    Field,
    check_dataset,
    check_keys,
    conform,
    model_fields,
    model_task,
    model_tasks,
    spec_fields,
)
from deepfm_keras.checks.graph import assert_batch, assert_sample_weights

__all__ = [
    "Field",
    "assert_batch",
    "assert_sample_weights",
    "check_class_weight",
    "check_dataset",
    "check_head_weights",
    "check_inputs",
    "check_keys",
    "check_labels",
    "check_sample_weights",
    "check_scores",
    "check_task_labels",
    "conform",
    "model_fields",
    "model_task",
    "model_tasks",
    "spec_fields",
]
