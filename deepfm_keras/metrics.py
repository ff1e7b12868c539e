"""Holdout metrics of CTR and rating models, in NumPy: AUC, log loss, RMSE, MAE and grouped AUC (gAUC).

One definition each, used by the examples, the notebook and the benchmarks
(Keras' `keras.metrics.AUC` approximates the curve with 200 thresholds; these
are exact):

>>> y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
>>> auc(y, p), round(logloss(y, p), 4)
(0.75, 0.4723)
>>> gauc(y, p, groups=np.array(["a", "a", "a", "b"]))  # group "b" has one class only: left out
0.5
"""

from __future__ import annotations

import numpy as np


def _pair(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, "float64").reshape(-1)
    scores = np.asarray(scores, "float64").reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(
            f"`labels` and `scores` should have the same length. Received: {labels.size} and {scores.size}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(
            f"`scores` should be finite. Received a non-finite score at row {int(np.argmin(np.isfinite(scores)))}"
        )
    return labels, scores


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of `scores`, ties given their average rank."""
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(scores.size, "float64")
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def auc(labels, scores) -> float:
    """Exact ROC AUC: the chance that a positive scores above a negative (ties count one half).

    Computed with the rank-sum (Mann-Whitney U) formula in `O(n log n)`.

    Args:
        labels: `(n,)` or `(n, 1)` 0/1 labels (a label > 0.5 is positive).
        scores: scores of the same length, any monotone scale.

    Returns:
        The AUC, or NaN when all labels are of one class.

    >>> auc([0, 1, 0, 1], [0.2, 0.9, 0.5, 0.5])
    0.875
    """
    labels, scores = _pair(labels, scores)
    positive = labels > 0.5
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((_ranks(scores)[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(labels, probabilities, *, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to `[eps, 1 - eps]`.

    >>> round(logloss([1, 0], [0.9, 0.2]), 4)
    0.1643
    """
    labels, p = _pair(labels, probabilities)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def rmse(targets, predictions) -> float:
    """Root mean squared error.

    >>> rmse([3.0, 4.0], [3.5, 3.0])
    0.7905694150420949
    """
    targets, predictions = _pair(targets, predictions)
    return float(np.sqrt(np.mean((predictions - targets) ** 2)))


def mae(targets, predictions) -> float:
    """Mean absolute error.

    >>> mae([3.0, 4.0], [3.5, 3.0])
    0.75
    """
    targets, predictions = _pair(targets, predictions)
    return float(np.mean(np.abs(predictions - targets)))


def gauc(labels, scores, groups) -> float:
    """Grouped AUC: the AUC within each group (e.g. user), averaged with the group's row count as weight.

    Groups whose rows are all of one class have no AUC and are left out
    (the usual definition in recommender papers, e.g. Zhou et al., "Deep
    Interest Network", KDD 2018).

    Args:
        labels: `(n,)` 0/1 labels.
        scores: `(n,)` scores.
        groups: `(n,)` group keys (user ids), any hashable dtype.

    Returns:
        The weighted mean of the per-group AUCs, or NaN when no group has
        both classes.

    >>> gauc([0, 1, 0, 1, 1], [0.1, 0.9, 0.8, 0.2, 0.5], groups=[1, 1, 2, 2, 3])
    0.5
    """
    labels, scores = _pair(labels, scores)
    groups = np.asarray(groups).reshape(-1)
    if groups.shape != labels.shape:
        raise ValueError(f"`groups` should have one key per row. Received: {groups.size} for {labels.size} rows")
    _, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="mergesort")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    total, weight = 0.0, 0
    for rows in np.split(order, bounds):
        value = auc(labels[rows], scores[rows])
        if not np.isnan(value):
            total += value * rows.size
            weight += rows.size
    return total / weight if weight else float("nan")


def holdout_metrics(task: str, labels, predictions, *, groups=None) -> dict[str, float]:
    """The metrics the examples report: RMSE and MAE for `"regression"`; AUC, log loss and accuracy for `"binary"`.

    With `groups` (user ids), a binary model also gets `gauc`. A `"multiclass"`
    model's `predictions` are `(n, classes)` probabilities and `labels` class
    ids: log loss (`-mean log p[label]`, p clipped to 1e-7), accuracy (the
    most likely class) and top-2 accuracy.

    >>> holdout_metrics("regression", [3.0, 4.0], [3.5, 3.0])
    {'rmse': 0.7905694150420949, 'mae': 0.75}
    >>> holdout_metrics("multiclass", [0, 2], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])["accuracy"]
    1.0
    """
    if task == "regression":
        return {"rmse": rmse(labels, predictions), "mae": mae(labels, predictions)}
    if task == "multiclass":
        p = np.asarray(predictions, dtype="float64")
        y = np.asarray(labels).reshape(-1).astype("int64")
        if p.ndim != 2 or len(p) != len(y) or y.min() < 0 or y.max() >= p.shape[1]:
            raise ValueError(
                f"Multi-class predictions {p.shape} do not match class ids {y.shape} in 0 .. {p.shape[-1] - 1}."
            )
        picked = p[np.arange(len(y)), y]
        top2 = np.argsort(-p, axis=1)[:, :2]
        return {
            "logloss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
            "accuracy": float(np.mean(np.argmax(p, axis=1) == y)),
            "top2_accuracy": float(np.mean((top2 == y[:, None]).any(axis=1))),
        }
    if task != "binary":
        raise ValueError(f"`task` should be 'binary', 'regression' or 'multiclass'. Received: task={task!r}")
    labels, predictions = _pair(labels, predictions)
    metrics = {
        "auc": auc(labels, predictions),
        "logloss": logloss(labels, predictions),
        "accuracy": float(np.mean((predictions >= 0.5) == (labels >= 0.5))),
    }
    if groups is not None:
        metrics["gauc"] = gauc(labels, predictions, groups)
    return metrics
