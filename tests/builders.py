"""Shared specs, inputs and small models for the tests, so that a test file need not write its own.

- `EVERY_KIND`: a spec with every kind of feature and option (own sizes, weights, a shared table, sequences);
- `random_inputs(spec, rows, rng)`: valid inputs for any spec (ids in range, padding where lists have it);
- `small_model(spec, **kwargs)`: `build_deepfm` with a small embedding and MLP.
"""

import numpy as np

from deepfm_keras import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
    build_deepfm,
)

EVERY_KIND = (
    NumericFeature("price"),
    CategoricalFeature("user", 20),
    CategoricalFeature("item", 30, embedding_dim=6),
    MultiCategoricalFeature("tags", 12, max_len=4, weight_name="tag_weights"),
    MultiCategoricalFeature("history", 30, max_len=3, embedding_name="item", combiner="sum", embedding_dim=6),
    NumericSequenceFeature("recent_prices", max_len=3),
)


def random_inputs(spec, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A dict of valid inputs for `spec`: ids within each vocabulary (0 is padding in lists), NaN-padded sequences."""
    x = {}
    for f in spec:
        if isinstance(f, NumericFeature):
            x[f.name] = rng.normal(size=(rows, 1)).astype("float32")
        elif isinstance(f, CategoricalFeature):
            x[f.name] = rng.integers(0, f.vocabulary_size, size=(rows, 1))
        elif isinstance(f, NumericSequenceFeature):
            values = rng.normal(size=(rows, f.max_len)).astype("float32")
            values[:, -1] = np.nan  # padding
            x[f.name] = values
        else:
            x[f.name] = rng.integers(0, f.vocabulary_size, size=(rows, f.max_len))
            if f.weight_name:
                x[f.weight_name] = rng.uniform(size=(rows, f.max_len)).astype("float32")
    return x


def small_model(spec=EVERY_KIND, **kwargs):
    """`build_deepfm(spec)` with embedding 4 and one hidden layer of 8 (any argument may be given)."""
    return build_deepfm(list(spec), **{"embedding_dim": 4, "hidden_units": (8,), **kwargs})
