"""Shared pieces of the training worker scripts: a tiny spec, synthetic data, a model, IO.

The scripts in this folder run as subprocesses of the tests (their own TensorFlow
runtime: logical devices, TF_CONFIG, SIGKILL), so they import only deepfm_keras and this
module.
"""

import json
import os
import sys

import numpy as np

from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, NumericFeature, build_deepfm
from deepfm_keras.optimizers import LazyAdam

SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=30),
    CategoricalFeature("item", vocabulary_size=20),
    MultiCategoricalFeature("tags", vocabulary_size=8, max_len=3),
]


def make_data(n: int = 512, seed: int = 0):
    """Inputs dict and binary labels with a learnable signal (user, item, x)."""
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 30, size=(n, 1)).astype("int32"),
        "item": rng.integers(0, 20, size=(n, 1)).astype("int32"),
        "tags": rng.integers(0, 8, size=(n, 3)).astype("int32"),
    }
    user_bias = np.linspace(-2, 2, 30)
    item_bias = np.linspace(1, -1, 20)
    logit = user_bias[inputs["user"][:, 0]] + item_bias[inputs["item"][:, 0]] + inputs["x"][:, 0]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32").reshape(-1, 1)
    return inputs, labels


def flipped_validation_data(batches: int, batch_size: int):
    """`make_data(seed=1)` rows for `batches` batches, with the labels of the second half of every batch flipped.

    Returns:
        inputs, labels, and the boolean mask of the flipped rows.
    """
    inputs, labels = make_data(n=batches * batch_size, seed=1)
    flipped = np.arange(len(labels)) % batch_size >= batch_size // 2
    labels[flipped] = 1.0 - labels[flipped]
    return inputs, labels, flipped


def build_model(dropout: float = 0.0, steps_per_execution: int | None = 1, metrics=None):
    """A compiled DeepFM. One step per execution by default: the resume test's callback acts after a given
    batch, so it must see every batch; `None` takes `DeepFMModel.compile`'s default. `metrics` go to
    `compile` as they are."""
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(16, 8), dropout=dropout)
    # LazyAdam: the row-sparse table updates are what the distributed / resume tests exercise.
    model.compile(
        optimizer=LazyAdam(0.01), loss="binary_crossentropy", metrics=metrics, steps_per_execution=steps_per_execution
    )
    return model


def weights_dict(model) -> dict:
    return {f"{i}:{v.path}": np.asarray(v.numpy()) for i, v in enumerate(model.weights)}


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stdout.reconfigure(line_buffering=True)
