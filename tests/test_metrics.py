"""Holdout metrics against naive definitions: AUC as a pairwise loop, gAUC as a loop over groups."""

import numpy as np
import pytest

from deepfm_keras import metrics

RNG = np.random.default_rng(0)


def naive_auc(labels, scores):
    pos = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    neg = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])


@pytest.mark.parametrize("decimals", [1, 2, 6])  # 1 decimal: many ties
def test_auc_equals_the_pairwise_definition(decimals):
    labels = RNG.integers(0, 2, 400)
    scores = np.round(RNG.random(400), decimals)
    assert metrics.auc(labels, scores) == pytest.approx(naive_auc(labels, scores), abs=1e-12)
    assert metrics.auc(labels.reshape(-1, 1), scores.reshape(-1, 1)) == metrics.auc(labels, scores)
    assert metrics.auc(labels, -scores) == pytest.approx(1 - metrics.auc(labels, scores))


def test_gauc_equals_the_row_weighted_mean_of_per_group_aucs():
    n = 600
    groups = RNG.integers(0, 40, n)
    labels = RNG.integers(0, 2, n)
    labels[groups == 7] = 1  # a group with one class only: no AUC, left out
    scores = np.round(RNG.random(n), 2)
    total, weight = 0.0, 0
    for g in np.unique(groups):
        rows = groups == g
        if 0 < labels[rows].sum() < rows.sum():
            total += naive_auc(labels[rows], scores[rows]) * rows.sum()
            weight += rows.sum()
    assert metrics.gauc(labels, scores, groups) == pytest.approx(total / weight, abs=1e-12)
    assert metrics.gauc(labels, scores, groups.astype(str)) == pytest.approx(total / weight, abs=1e-12)
    assert np.isnan(metrics.gauc([1, 1, 0], [0.1, 0.2, 0.3], groups=["a", "a", "b"]))


def test_logloss_rmse_mae_equal_their_formulas():
    labels = RNG.integers(0, 2, 100)
    p = RNG.random(100)
    p[0] = 0.0  # clipped, not -inf
    expected = -np.mean([np.log(max(pi, 1e-7)) if y else np.log(1 - pi) for y, pi in zip(labels, p, strict=True)])
    assert metrics.logloss(labels, p) == pytest.approx(expected)
    targets, predictions = RNG.normal(size=50), RNG.normal(size=50)
    assert metrics.rmse(targets, predictions) == pytest.approx(np.sqrt(np.mean((predictions - targets) ** 2)))
    assert metrics.mae(targets, predictions) == pytest.approx(np.mean(np.abs(predictions - targets)))


def test_one_class_gives_nan_and_bad_input_is_refused():
    assert np.isnan(metrics.auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        metrics.auc([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="non-finite score at row 1"):
        metrics.auc([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="one key per row"):
        metrics.gauc([0, 1], [0.2, 0.3], groups=[1])
    with pytest.raises(ValueError, match="`task` should be"):
        metrics.holdout_metrics("ranking", [0, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"Multi-class predictions \(2,\) do not match class ids"):
        metrics.holdout_metrics("multiclass", [0, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"class ids \(2,\) in 0 .. 1"):
        metrics.holdout_metrics("multiclass", [0, 2], [[0.5, 0.5], [0.1, 0.9]])


def test_holdout_metrics_per_task():
    binary = metrics.holdout_metrics("binary", [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.6], groups=[1, 1, 2, 2])
    assert binary == pytest.approx({"auc": 0.75, "logloss": binary["logloss"], "accuracy": 0.5, "gauc": 0.5})
    assert set(metrics.holdout_metrics("regression", [1.0], [2.0])) == {"rmse", "mae"}
