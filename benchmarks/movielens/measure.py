"""What a worker measures: epoch and inference timers, CPU time, RSS; the driver's gate; the peers' metric."""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

GATED = False  # set in a worker run by the driver: timed sections wait for its "go"


def gate() -> None:
    """Before a timed section: tell the driver, wait until it lets this process run alone."""
    if GATED:
        print("GATE", flush=True)
        if sys.stdin.readline().strip() != "go":
            sys.exit("benchmark driver went away")


def release() -> None:
    """After a timed section: hand the machine back to the driver."""
    if GATED:
        print("DONE", flush=True)


def median(values):
    """The median of the values that are not None; None if there is none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rss_mb(field: str = "VmHWM") -> float:
    """`VmHWM` (peak) or `VmRSS` (current) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system


def epoch_timer():
    """A Keras callback timing each epoch (wall and CPU), each epoch a gated section."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.cpu_seconds = [], []

        def on_epoch_begin(self, epoch, logs=None):
            gate()
            self._cpu = cpu_seconds()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(cpu_seconds() - self._cpu)
            release()

    return EpochTimer()


def train_summary(timer, rows: int) -> dict:
    """Examples/sec of the median epoch after the first; CPU-microseconds per example likewise."""
    steady = timer.seconds[1:] or timer.seconds
    steady_cpu = timer.cpu_seconds[1:] or timer.cpu_seconds
    return {
        "epoch_seconds": timer.seconds,
        "epoch_cpu_seconds": timer.cpu_seconds,
        "train_ex_per_s": rows / statistics.median(steady),
        "train_cpu_us_per_ex": 1e6 * statistics.median(steady_cpu) / rows,
    }


def time_inference(predict, rows: int, repeats: int, prefix: str = "infer") -> dict:
    """Calls `predict()` once to warm up, then `repeats` times; examples/sec of the median call."""
    gate()
    t0 = time.perf_counter()
    predictions = predict()
    first = time.perf_counter() - t0
    release()
    seconds, cpu = [], []
    for _ in range(repeats):
        gate()
        c0, t0 = cpu_seconds(), time.perf_counter()
        predict()
        seconds.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
        release()
    return {
        "predictions": predictions,
        f"{prefix}_first_s": first,
        f"{prefix}_seconds": seconds,
        f"{prefix}_ex_per_s": rows / statistics.median(seconds),
        f"{prefix}_cpu_us_per_ex": 1e6 * statistics.median(cpu) / rows,
    }


# The peers' holdout metric. Our contenders are scored with `deepfm_keras.metrics` (see `worker`); the
# peers' processes keep this copy because their environment (benchmarks/.venv-bench, or any DeepCTR
# setup) need not have deepfm_keras installed, and importing it would also add its modules to the
# peer's measured memory. Same formula as `deepfm_keras.metrics.auc` (rank sum, ties averaged).


def peer_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, ties averaged."""
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores), "float64")
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    positives = labels > 0.5
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def peer_rmse(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predictions - targets) ** 2)))
