"""make_dataset's seeded shuffle: epoch e's order is a function of (seed, e), also after a resume."""

import numpy as np
import pytest

from deepfm_keras import make_dataset
from deepfm_keras.data import set_shuffle_epoch


def epoch_order(dataset):
    return [int(i) for xb, _ in dataset for i in xb["a"].numpy()]


def test_seeded_epoch_orders_are_a_function_of_seed_and_epoch():
    x, y = {"a": np.arange(50)}, np.zeros(50)
    uninterrupted = make_dataset(x, y, batch_size=8, seed=3)
    orders = [epoch_order(uninterrupted) for _ in range(4)]
    assert all(sorted(o) == list(range(50)) for o in orders)
    assert len({tuple(o) for o in orders}) == 4  # a new permutation every epoch
    # A run resumed at epoch 2 builds a fresh dataset; the backup sets its epoch: it sees epochs 2 and 3's orders.
    resumed = make_dataset(x, y, batch_size=8, seed=3)
    set_shuffle_epoch(2)
    assert [epoch_order(resumed) for _ in range(2)] == orders[2:]
    # Another seed, other orders; unseeded datasets are unaffected by the epoch.
    other = make_dataset(x, y, batch_size=8, seed=4)
    set_shuffle_epoch(0)
    assert epoch_order(other) != orders[0]
    assert epoch_order(make_dataset(x, y, batch_size=8, seed=3)) == orders[0]


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_set_shuffle_epoch_bad_argument(bad):
    with pytest.raises(ValueError, match="`epoch` should be a non-negative integer"):
        set_shuffle_epoch(bad)


@pytest.mark.parametrize("bad", [1.5, "0", True])
def test_make_dataset_bad_seed(bad):
    with pytest.raises(ValueError, match="`seed` should be an integer or None"):
        make_dataset({"a": np.arange(4)}, batch_size=2, seed=bad)
