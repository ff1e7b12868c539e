"""Every public layer through the one harness (`tests.helpers.run_layer_test`), against NumPy where it computes."""

import numpy as np
import pytest

from deepfm_keras.layers import (
    MLP,
    CategoricalEmbedding,
    FirstOrderFM,
    FitWidth,
    MaskedMeanPooling,
    NumericEmbedding,
    NumericSequencePooling,
    PartCombine,
    SecondOrderFM,
)
from tests.helpers import run_layer_test

RNG = np.random.default_rng(11)
E = RNG.normal(size=(4, 3, 5)).astype("float32")


def pairwise(e):
    return 0.5 * ((e.sum(axis=1) ** 2) - (e**2).sum(axis=1)).sum(axis=1, keepdims=True)


CASES = {
    "first_order": (FirstOrderFM, {}, E[..., :1], (4, 1), 0, E[..., 0].sum(axis=1, keepdims=True)),
    "second_order": (SecondOrderFM, {}, E, (4, 1), 0, pairwise(E)),
    "numeric_embedding": (NumericEmbedding, {"num_fields": 2, "output_dim": 3}, E[:, :2, 0], (4, 2, 3), 1, None),
    "categorical_embedding": (
        CategoricalEmbedding,
        {"vocabulary_sizes": [5, 3], "field_lengths": [1, 2], "output_dim": 4},
        RNG.integers(0, 3, size=(4, 3)),
        (4, 3, 4),
        1,
        None,
    ),
    "masked_mean_pooling": (
        MaskedMeanPooling,
        {"field_lengths": [1, 2], "masked": [False, True]},
        [E[:, :, :2], np.array([[1, 2, 0]] * 4)],
        (4, 2, 2),
        0,
        np.stack([E[:, 0, :2], E[:, 1, :2]], axis=1),  # the second field's padding (id 0) is masked out
    ),
    "numeric_sequence_pooling": (
        NumericSequencePooling,
        {"combiner": "mean"},
        np.array([[1.0, 3.0, np.nan]] * 4, "float32"),
        (4, 1),
        0,
        np.full((4, 1), 2.0),
    ),
    "fit_width": (FitWidth, {"width": 3}, E, (4, 3, 3), 0, E[..., :3]),
    "part_combine": (PartCombine, {"units": 2}, [E[:, 0, :2], E[:, 1, :2]], (4, 2), 2, None),
    "mlp": (MLP, {"hidden_units": (6,), "output_units": 1}, E, (4, 1), 4, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_passes_the_layer_harness(name, tmp_path):
    cls, kwargs, data, shape, weights, expected = CASES[name]
    run_layer_test(
        cls,
        kwargs,
        data,
        tmp_path,
        expected_output_shape=shape,
        expected_num_trainable_weights=weights,
        expected_output=expected,
        rtol=1e-5,
    )
