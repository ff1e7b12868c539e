"""One contender in this process: load the arrays, run its runner, print one `RESULT {json}` line."""

from __future__ import annotations

import importlib
import json
import time

import numpy as np

from . import measure
from .data import load_arrays
from .task import OURS

RUNNERS = {**{name: "ours" for name in OURS}, "deepctr": "peer_deepctr", "keras_baseline": "peer_keras_baseline"}


def holdout_metric(contender: str, task: str, labels, predictions) -> dict:
    predictions = np.asarray(predictions, "float64").reshape(-1)
    if contender in OURS:
        from deepfm_keras.metrics import auc, rmse  # the package's one definition
    else:  # a peer's process does not import deepfm_keras: see `measure.peer_auc`
        auc, rmse = measure.peer_auc, measure.peer_rmse
    if task == "binary":
        return {"metric": "auc", "value": auc(labels, predictions)}
    return {"metric": "rmse", "value": rmse(labels, predictions)}


def worker(args) -> None:
    """Runs the contender `args.worker` in this process and prints one `RESULT {json}` line."""
    measure.GATED = args.gated
    import tensorflow as tf  # noqa: F401 - imported first so the baseline RSS includes it

    rss_framework = measure.rss_mb("VmRSS")
    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test, vocab = load_arrays(args)
    data_bytes = sum(v.nbytes for v in (*x_train.values(), *x_test.values(), y_train, y_test))
    t_data = time.perf_counter() - t0
    runner = importlib.import_module(f"{__package__}.{RUNNERS[args.worker]}")
    result = runner.run(x_train, y_train, x_test, y_test, vocab, args)
    result.update(holdout_metric(args.worker, args.task, y_test, result.pop("predictions")))
    result.update(
        contender=args.worker,
        rows_train=len(y_train),
        rows_test=len(y_test),
        data_mb=data_bytes / 2**20,
        data_seconds=t_data,
        rss_framework_mb=rss_framework,
        peak_rss_mb=measure.rss_mb("VmHWM"),
        epochs=args.epochs,
        task=args.task,
    )
    print("RESULT " + json.dumps(result), flush=True)
