"""Benchmark: training speed and memory against the size of the embedding tables (issue 11).

Criteo-shaped synthetic data: 13 numeric + 26 categorical fields, every
categorical field with the same number of ids (`--vocabularies`, default 1k /
100k / 1M), skewed id frequencies (a few ids are frequent, most are rare, as in
click logs); binary labels. Model: embedding 16, MLP 256-128-64, batch 4096,
in memory. For each table size and optimizer the contenders run one after the
other, each in a process of its own:

- `deepfm_keras`: exactly what the README shows a user: `build_deepfm(spec)`,
  `model.compile(optimizer=<name>, loss="binary_crossentropy")` (the names
  resolve to the row-sparse optimizers of `deepfm_keras.optimizers`),
  `make_dataset(x, y, batch_size=4096, seed=0)`, `model.fit`.
- `deepfm_keras_dense` (`--with-dense`): the same model compiled with the
  stock Keras optimizer instance (`keras.optimizers.Adam()` ...), i.e. the
  dense table update of before.
- `deepctr`: DeepCTR 0.9.4 `DeepFM` with `SparseFeat`/`DenseFeat` of the same
  sizes, `compile(<name>)`, `fit` on NumPy arrays, under tf-keras
  (`TF_USE_LEGACY_KERAS=1`) in `benchmarks/.venv-tfkeras` (create it with
  `bash benchmarks/setup_tfkeras_peer.sh`): DeepCTR on Keras 3 cannot build a
  model with numeric `DenseFeat` features. DeepCTR has no row-wise Adagrad.

Each run trains `1 + --epochs` epochs of `--steps` batches; the first epoch
traces and warms up, and **ex/s** is the median over the others of
rows / epoch time. **peak RSS** is the process's `ru_maxrss` at the end
(building the tables included). **params** counts the model's weights.
Ratios are between runs of the same table size and optimizer that ran back
to back.

Usage:

    bash benchmarks/setup_tfkeras_peer.sh                      # once, for the DeepCTR contender
    python benchmarks/vocab_scaling.py                         # full grid (~25 min on 2 cores)
    python benchmarks/vocab_scaling.py --vocabularies 1000 1000000 --optimizers adam --contenders deepfm_keras
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NUM_NUMERIC, NUM_CATEGORICAL = 13, 26
BATCH = 4096
DEEPCTR_PYTHON = os.path.join(HERE, ".venv-tfkeras", "bin", "python")
CONTENDERS = ("deepfm_keras", "deepfm_keras_dense", "deepctr")
OPTIMIZERS = ("adam", "adagrad", "rowwise_adagrad", "sgd")


def synthetic(num_rows: int, vocabulary: int, seed: int = 0, law: str = "zipf"):
    """Numeric `(n, 13)` float32, ids `(n, 26)` int64 in `[0, vocabulary)` with skewed frequencies, labels.

    `law="zipf"`: the id of rank r has frequency ~ 1 / r^1.1, the law of the project's synthetic Criteo
    files (`deepfm_keras.datasets.criteo.write_synthetic`). `law="flat"`: rank = V * u^3 (u uniform), a much
    flatter law under which nearly every id of a batch is distinct at 10^6 ids: the worst case for a
    row-sparse update. A multiplicative hash spreads the ranks over the table.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(num_rows, NUM_NUMERIC)).astype("float32")
    if law == "zipf":
        cumulative = np.cumsum(1.0 / np.arange(1, vocabulary + 1) ** 1.1)
        ranks = np.searchsorted(cumulative / cumulative[-1], rng.random((num_rows, NUM_CATEGORICAL)))
        ranks = np.minimum(ranks, vocabulary - 1).astype("int64")
    else:
        ranks = (vocabulary * rng.random((num_rows, NUM_CATEGORICAL)) ** 3).astype("int64")
    ids = (ranks * 2654435761 + np.arange(NUM_CATEGORICAL) * 40503) % vocabulary
    logit = numeric[:, :3].sum(axis=1) * 0.3 + ((ids[:, 0] % 7) - 3) * 0.2
    labels = (rng.random(num_rows) < 1 / (1 + np.exp(-logit))).astype("float32")
    return numeric, ids, labels


class _EpochTimer:
    """Wall time and process CPU time (all threads) of each epoch."""

    def __init__(self):
        self.times, self.cpu = [], []

    def start(self):
        self._t, self._c = time.perf_counter(), time.process_time()

    def stop(self):
        self.times.append(time.perf_counter() - self._t)
        self.cpu.append(time.process_time() - self._c)


def _timed_fit(model, lambda_callback, fit, config: dict) -> dict:
    """Runs `fit(fit_kwargs)` for 1 + epochs epochs with an epoch timer (`lambda_callback`: the framework's
    LambdaCallback class) and returns the figures a run reports."""
    timer = _EpochTimer()
    callback = lambda_callback(
        on_epoch_begin=lambda epoch, logs: timer.start(), on_epoch_end=lambda epoch, logs: timer.stop()
    )
    history = fit({"epochs": 1 + config["epochs"], "callbacks": [callback], "verbose": 0})
    loss = float(history.history["loss"][-1])
    return {
        "optimizer_class": type(model.optimizer).__name__,
        "epoch_s": timer.times,
        "epoch_cpu_s": timer.cpu,
        "params": int(model.count_params()),
        "loss": loss,
        "finite": math.isfinite(loss),
    }


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_deepfm_keras(config: dict) -> dict:
    import keras

    import deepfm_keras as dk

    numeric, ids, labels = synthetic(config["steps"] * BATCH, config["vocabulary"], law=config["law"])
    spec = [dk.NumericFeature(f"I{i}") for i in range(NUM_NUMERIC)] + [
        dk.CategoricalFeature(f"C{i}", vocabulary_size=config["vocabulary"]) for i in range(NUM_CATEGORICAL)
    ]
    x = {f"I{i}": numeric[:, i] for i in range(NUM_NUMERIC)}
    x.update({f"C{i}": ids[:, i] for i in range(NUM_CATEGORICAL)})
    model = dk.build_deepfm(spec, embedding_dim=16, hidden_units=(256, 128, 64))
    optimizer = config["optimizer"]
    if config["contender"] == "deepfm_keras_dense":
        stock = {"adam": "Adam", "adagrad": "Adagrad", "sgd": "SGD"}[optimizer]
        optimizer = getattr(keras.optimizers, stock)()
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    data = dk.make_dataset(x, labels, batch_size=BATCH, seed=0)
    return _timed_fit(model, keras.callbacks.LambdaCallback, lambda kwargs: model.fit(data, **kwargs), config)


def run_deepctr(config: dict) -> dict:
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat, get_feature_names
    from deepctr.models import DeepFM

    numeric, ids, labels = synthetic(config["steps"] * BATCH, config["vocabulary"], law=config["law"])
    columns = [SparseFeat(f"C{i}", vocabulary_size=config["vocabulary"], embedding_dim=16) for i in range(26)] + [
        DenseFeat(f"I{i}", 1) for i in range(NUM_NUMERIC)
    ]
    model = DeepFM(columns, columns, dnn_hidden_units=(256, 128, 64), task="binary")
    model.compile(config["optimizer"], "binary_crossentropy")
    x = {f"I{i}": numeric[:, i] for i in range(NUM_NUMERIC)}
    x.update({f"C{i}": ids[:, i] for i in range(NUM_CATEGORICAL)})
    x = {name: x[name] for name in get_feature_names(columns)}
    return _timed_fit(
        model,
        tf.keras.callbacks.LambdaCallback,
        lambda kwargs: model.fit(x, labels, batch_size=BATCH, **kwargs),
        config,
    )


def child(config: dict) -> None:
    runner = run_deepctr if config["contender"] == "deepctr" else run_deepfm_keras
    result = runner(config)
    result["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run_one(config: dict, python: str, timeout: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if config["contender"] == "deepctr":
        # tf-keras for DeepCTR; its import-time version check goes to a closed local port and fails at once.
        env.update(TF_USE_LEGACY_KERAS="1", HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [python, os.path.abspath(__file__), "--child", json.dumps(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {**config, "error": f"timed out after {timeout} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {**config, "error": (proc.stderr or proc.stdout)[-1500:]}
    result = {**config, **json.loads(lines[-1][len("RESULT ") :]), "wall_s": time.perf_counter() - start}
    rows = config["steps"] * BATCH
    result["ex_per_s"] = rows / _median(result["epoch_s"][1:])
    result["cpu_us_per_ex"] = 1e6 * _median(result["epoch_cpu_s"][1:]) / rows
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocabularies", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--contenders", nargs="+", default=["deepfm_keras", "deepctr"], choices=CONTENDERS)
    parser.add_argument("--with-dense", action="store_true", help="also run deepfm_keras_dense")
    parser.add_argument("--steps", type=int, default=12, help="batches of 4096 per epoch (default: 12)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up one (default: 2)")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the whole grid, in turn (default: 1)")
    parser.add_argument("--law", choices=("zipf", "flat"), default="zipf", help="id frequency law (default: zipf)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per run (default: 900)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "vocab_scaling.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    contenders = list(args.contenders) + (["deepfm_keras_dense"] if args.with_dense else [])
    results = []
    grid = [
        (vocabulary, optimizer, contender)
        for vocabulary in args.vocabularies
        for optimizer in args.optimizers
        for contender in contenders
    ]
    for repeat in range(args.repeats):
        for vocabulary, optimizer, contender in grid:
            if contender != "deepfm_keras" and optimizer == "rowwise_adagrad":
                continue  # neither stock Keras nor DeepCTR has row-wise Adagrad
            config = dict(
                contender=contender,
                vocabulary=vocabulary,
                optimizer=optimizer,
                steps=args.steps,
                epochs=args.epochs,
                law=args.law,
            )
            python = DEEPCTR_PYTHON if contender == "deepctr" else sys.executable
            result = run_one(config, python, args.timeout)
            result["repeat"] = repeat
            results.append(result)
            if "error" in result:
                print(f"{contender:20s} V={vocabulary:>9,} {optimizer:16s} ERROR {result['error'][-300:]}", flush=True)
            else:
                print(
                    f"{contender:20s} V={vocabulary:>9,} {optimizer:16s} {result['optimizer_class']:15s} "
                    f"{result['ex_per_s']:>9,.0f} ex/s {result['cpu_us_per_ex']:6.1f} CPU-us/ex  "
                    f"peak {result['peak_rss_mb']:>7,.0f} MB  "
                    f"params {result['params'] / 1e6:7.2f}M  loss {result['loss']:.4f}",
                    flush=True,
                )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    summarize(results)


def summarize(results: list[dict]) -> None:
    """Prints the table: per configuration, the median over repeats of ex/s and of CPU-us/ex, and the peak RSS."""
    groups: dict = {}
    for r in results:
        if "error" not in r:
            groups.setdefault((r["contender"], r["vocabulary"], r["optimizer"]), []).append(r)
    by = {
        key: {
            "ex_per_s": _median([r["ex_per_s"] for r in runs]),
            "cpu_us_per_ex": _median([r["cpu_us_per_ex"] for r in runs]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        for key, runs in groups.items()
    }
    ok = [dict(contender=c, vocabulary=v, optimizer=o) for c, v, o in by]
    vocabularies = sorted({r["vocabulary"] for r in ok})
    print(
        "\n| contender | optimizer | "
        + " | ".join(f"{v:,} ids: ex/s / CPU-us/ex (peak MB)" for v in vocabularies)
        + " | ratio largest/smallest |"
    )
    print("|---|---|" + "---|" * (len(vocabularies) + 1))
    for contender, optimizer in sorted({(r["contender"], r["optimizer"]) for r in ok}):
        cells = []
        for v in vocabularies:
            r = by.get((contender, v, optimizer))
            cells.append(f"{r['ex_per_s']:,.0f} / {r['cpu_us_per_ex']:.1f} ({r['peak_rss_mb']:,.0f})" if r else "-")
        small, large = by.get((contender, vocabularies[0], optimizer)), by.get((contender, vocabularies[-1], optimizer))
        ratio = (
            f"{large['ex_per_s'] / small['ex_per_s']:.2f} (CPU {small['cpu_us_per_ex'] / large['cpu_us_per_ex']:.2f})"
            if small and large
            else "-"
        )
        print(f"| {contender} | {optimizer} | " + " | ".join(cells) + f" | {ratio} |")
    for v in vocabularies:
        for optimizer in sorted({r["optimizer"] for r in ok}):
            ours, peer = by.get(("deepfm_keras", v, optimizer)), by.get(("deepctr", v, optimizer))
            if ours and peer:
                print(
                    f"deepfm_keras / DeepCTR at {v:,} ids, {optimizer}: {ours['ex_per_s'] / peer['ex_per_s']:.2f}x ex/s, "
                    f"{peer['cpu_us_per_ex'] / ours['cpu_us_per_ex']:.2f}x CPU per example"
                )


if __name__ == "__main__":
    main()
