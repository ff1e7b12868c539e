"""`write_synthetic`: Criteo-format files of any size with skewed values and a learnable label, for tests and benchmarks."""

from __future__ import annotations

import gzip
import os

import numpy as np

from deepfm_keras.datasets.criteo.format import CATEGORICAL_FEATURES, INTEGER_FEATURES


def write_synthetic(path, num_rows: int, *, seed: int = 0, chunk_rows: int = 200_000, vocabulary: int = 10_000) -> str:
    """Writes `num_rows` synthetic Criteo-format lines to `path` (gzip when it ends in `.gz`, any case).

    Values follow simple skewed laws (Zipf-like categorical values, geometric
    counts, about 10% missing) and the label depends on a few of them through a
    logistic model, so a model has something to learn. Lines are rendered with
    TensorFlow string ops and written in chunks: the memory used does not grow
    with `num_rows`.

    Returns:
        The path written.
    """
    import tensorflow as tf

    num_rows = int(num_rows)
    if num_rows < 0:
        raise ValueError(f"`num_rows` should be >= 0. Received: num_rows={num_rows}")
    rng = np.random.default_rng(seed)
    nc, ni = len(CATEGORICAL_FEATURES), len(INTEGER_FEATURES)
    cat_weight = rng.normal(0, 0.6, size=(nc, vocabulary))
    # per field, the rendered hex of each value, and "" (missing) as the extra last entry
    codes = (np.arange(vocabulary)[None, :] * 2654435761 + np.arange(nc)[:, None] * 40503) % (1 << 32)
    pools = tf.constant(np.char.mod("%08x", np.concatenate([codes, np.zeros((nc, 1), "int64")], axis=1)))
    pools = tf.concat([pools[:, :-1], tf.fill([nc, 1], "")], axis=1)
    cumulative = np.cumsum(1.0 / np.arange(1, vocabulary + 1) ** 1.1)  # Zipf-like value frequencies
    cumulative /= cumulative[-1]
    path = os.fspath(path)
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "wb") as out:
        done = 0
        while done < num_rows:
            n = min(chunk_rows, num_rows - done)
            cats = np.minimum(np.searchsorted(cumulative, rng.random((n, nc))), vocabulary - 1)
            ints = rng.geometric(0.05, size=(n, ni)) - 2
            logit = -1.2 + 0.3 * np.log1p(np.maximum(ints[:, 0], 0)) - 0.15 * np.log1p(np.maximum(ints[:, 4], 0))
            logit += cat_weight[np.arange(6), cats[:, :6]].sum(axis=1)
            label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
            cats = np.where(rng.random((n, nc)) < 0.1, vocabulary, cats)
            int_s = tf.where(rng.random((n, ni)) < 0.1, "", tf.strings.as_string(ints))
            cat_s = tf.transpose(tf.gather(pools, cats.T, batch_dims=1))
            fields = tf.concat([tf.strings.as_string(label)[:, None], int_s, cat_s], axis=1)
            lines = tf.strings.reduce_join(fields, axis=1, separator="\t").numpy()
            out.write(b"\n".join(lines.tolist()) + b"\n")
            done += n
    return path
