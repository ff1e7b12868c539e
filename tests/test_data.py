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


# ---------------------------------------------------------------- sample weights


def id_weight(ids):
    """The weight of row `id` in the alignment tests: distinct per row, 0 for every 7th."""
    return np.where(ids % 7 == 3, 0.0, 0.25 + 0.5 * ids).astype("float32")


@pytest.mark.parametrize("seed", [None, 5])
def test_shuffled_batches_keep_x_y_and_weights_aligned(seed):
    ids = np.arange(103)
    x = {"id": ids, "other": (ids * 10).astype("float32")}
    y = (ids % 2).astype("float32").reshape(-1, 1)
    w = id_weight(ids).reshape(-1, 1)  # (n, 1) accepted, yielded as (batch,)
    ds = make_dataset(x, y, sample_weight=w, batch_size=16, seed=seed)
    orders = []
    for _ in range(2):
        order = []
        for xb, yb, wb in ds:
            batch_ids = xb["id"].numpy().reshape(-1)
            assert wb.shape == (len(batch_ids),) and wb.dtype == "float32"
            np.testing.assert_array_equal(xb["other"].numpy().reshape(-1), batch_ids * 10)
            np.testing.assert_array_equal(yb.numpy().reshape(-1), batch_ids % 2)
            np.testing.assert_array_equal(wb.numpy(), id_weight(batch_ids))
            order.extend(batch_ids.tolist())
        assert sorted(order) == ids.tolist()
        orders.append(order)
    assert orders[0] != orders[1] and orders[0] != ids.tolist()  # really shuffled, anew each epoch


def test_weights_stay_aligned_through_an_encoder():
    import pandas as pd

    from deepfm_keras import FeatureEncoder
    from deepfm_keras.encoding import CategoricalColumn, NumericColumn

    ids = np.arange(60)
    table = pd.DataFrame({"id": ids.astype("float64"), "city": [f"c{i % 5}" for i in ids]})
    encoder = FeatureEncoder([NumericColumn("id", standardize=False), CategoricalColumn("city")]).fit(table)
    ds = make_dataset(table, ids % 2, sample_weight=id_weight(ids), encoder=encoder, batch_size=8, seed=1)
    seen = []
    for xb, yb, wb in ds:
        batch_ids = xb["id"].numpy().reshape(-1).astype("int64")  # unstandardised: the raw id
        np.testing.assert_array_equal(yb.numpy().reshape(-1), batch_ids % 2)
        np.testing.assert_array_equal(wb.numpy(), id_weight(batch_ids))
        seen.extend(batch_ids.tolist())
    assert sorted(seen) == ids.tolist() and seen != ids.tolist()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, np.nan, 1.0, 1.0], r"`sample_weight of make_dataset`, row 1: nan should be a finite number >= 0"),
        ([1.0, 1.0, -0.5, 1.0], r"row 2: -0.5 should be a finite number >= 0"),
        ([1.0, 1.0, 1.0, np.inf], r"row 3: inf should be a finite number >= 0"),
        ([1.0, 1e39, 1.0, 1.0], r"row 1: 1e\+39 should be a finite number >= 0"),  # inf in float32
        (["1", "2", "3", "4"], r"should be numbers; received dtype <U1 \(row 0: '1'\)"),
        ([1.0, None, 1.0, 1.0], r"should be numbers; received dtype object"),
        ([0, 0, 0, 0], r"is 0 in every row \(4 rows\): no row would train"),
        (np.ones((4, 2)), r"should have shape \(n,\) or \(n, 1\). Received shape \(4, 2\)"),
        (np.ones(3), r"'<sample_weight>': 3"),
    ],
)
def test_make_dataset_refuses_bad_weights_naming_the_row(weights, message):
    with pytest.raises(ValueError, match=message):
        make_dataset({"a": np.arange(4)}, np.zeros(4), sample_weight=weights, batch_size=2)


def test_make_dataset_weights_need_labels():
    with pytest.raises(ValueError, match="`sample_weight` needs labels: pass `y` too"):
        make_dataset({"a": np.arange(4)}, sample_weight=np.ones(4), batch_size=2)


def test_boolean_weights_count_as_zero_and_one():
    ds = make_dataset(
        {"a": np.arange(4)}, np.zeros(4), sample_weight=[True, False, True, True], batch_size=4, shuffle=False
    )
    _, _, w = next(iter(ds))
    np.testing.assert_array_equal(w.numpy(), [1, 0, 1, 1])
