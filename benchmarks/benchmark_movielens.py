"""Benchmark: deepfm_keras against DeepCTR 0.9.4 and a plain Keras 3 DeepFM on MovieLens.

The task (issue 5): ML-1M users 1-2999 (487,650 ratings), features user_id,
movie_id, gender, age, occupation, zip (single-level) and genres
(multi-level, mean-pooled); embedding 16, MLP 256-128-64 ReLU, no dropout, no
L2, Adam 1e-3, batch 4096, a seeded 90/10 split. For each contender it
measures

- training examples/sec: the median over the epochs after the first (the
  first one traces and compiles), input pipeline included, and the CPU time
  per example (all threads), which is less sensitive to a shared machine;
- inference examples/sec on the holdout at batch 8192 (median of repeats);
- peak RSS of the contender's own process (`VmHWM`), and its RSS right
  after importing TensorFlow, before any data or model;
- the holdout RMSE (`--task regression`, the rating) or AUC
  (`--task binary`, rating >= 4) after a fixed number of epochs.

The contenders, each run in its own subprocess, alternating, `--repeats`
times:

- `deepfm_keras`: exactly the README's path: `build_deepfm` (its default dtype policy:
  `mixed_bfloat16` on CPUs with bfloat16 instructions, float32 elsewhere), `compile(optimizer="adam")`
  (`LazyAdam`, `steps_per_execution=32`, no XLA), fed by `deepfm_keras.make_dataset`
  (in-memory tensors, a fresh permutation each epoch, one gather per batch). Inference goes through `deepfm_keras.batch_predict`
  (one compiled call of the model per 8192-row batch, what a serving loop does); `model.predict` on the same
  batches is reported beside it;
- `deepfm_keras_fp32`: the same with `dtype_policy="float32"`;
- `deepfm_keras_xla`: float32 compiled with `jit_compile=True` (XLA), for
  training and for the inference function;
- `deepfm_keras_bf16`: the same with `dtype_policy="mixed_bfloat16"` (bfloat16
  matmuls on CPUs with AVX512_BF16 or AMX, float32 variables), no XLA;
- `deepctr`: DeepCTR 0.9.4's `DeepFM` with the same features and
  hyperparameters, fit and predicted on NumPy arrays as its docs show;
- `keras_baseline`: the DeepFM a user writes in an afternoon with Keras 3:
  one `Embedding` per field, `Concatenate`, a `Dense` stack, fit on NumPy.

Every contender runs under the Python of `benchmarks/.venv-bench` (create it
with `bash benchmarks/setup_peers.sh`): one environment, so the same
TensorFlow build and the same imported modules for all. The driver loads and
encodes the data once with the project's own `load_movielens` and
`FeatureEncoder` (and times that), and every contender reads the same arrays
and split from `benchmarks/results/`. Ratios to DeepCTR are taken within each
repeat (the two runs minutes apart on the same machine) and the table shows
their medians: machines here are shared and noisy.

`--scaling` runs deepfm_keras alone on synthetic data of the same schema at
0.5M, 2M and 8M rows (`--scaling-rows`) and reports examples/sec and peak
memory against the size of the data.

Usage:

    bash benchmarks/setup_peers.sh                        # once: benchmarks/.venv-bench
    python benchmarks/benchmark_movielens.py              # table + benchmarks/results/movielens_regression.json
    python benchmarks/benchmark_movielens.py --repeats 5 --epochs 5 --task binary
    python benchmarks/benchmark_movielens.py --contenders deepfm_keras deepctr --repeats 1   # quick look
    python benchmarks/benchmark_movielens.py --scaling    # synthetic 0.5M / 2M / 8M rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ml-1m-users1-2999"
DEFAULT_PYTHON = HERE / ".venv-bench" / "bin" / "python"
RESULTS = HERE / "results"

OURS = ("deepfm_keras", "deepfm_keras_fp32", "deepfm_keras_xla", "deepfm_keras_bf16")
CONTENDERS = (*OURS, "deepctr", "keras_baseline")
REFERENCE = "deepctr"
SINGLE = ("user_id", "movie_id", "gender", "age", "occupation", "zip")
GENRES_LEN = 6
EMBEDDING_DIM = 16
HIDDEN = (256, 128, 64)
LEARNING_RATE = 1e-3
BATCH = 4096
INFER_BATCH = 8192


# ----------------------------------------------------------------------------- data


def split_indices(rows: int, seed: int, holdout: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(rows)
    n_test = int(round(rows * holdout))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def prepare_arrays(args) -> dict:
    """Loads and encodes MovieLens with the project's loader and encoder (timed), writes the arrays."""
    from deepfm_keras.datasets.movielens import load_movielens
    from deepfm_keras.preprocessing import FeatureEncoder

    timings = []
    for _ in range(args.load_repeats):
        t0 = time.perf_counter()
        frame = load_movielens("ml-1m", data_dir=args.data)
        t1 = time.perf_counter()
        encoder = FeatureEncoder(categorical=list(SINGLE), multi_categorical={"genres": "|"})
        features = encoder.fit_transform(frame)
        t2 = time.perf_counter()
        timings.append({"load_s": t1 - t0, "encode_s": t2 - t1, "total_s": t2 - t0})
    vocab = {f.name: f.vocabulary_size for f in encoder.feature_spec}
    if encoder.max_lens["genres"] != GENRES_LEN:
        raise ValueError(f"Expected genres lists of at most {GENRES_LEN}, got {encoder.max_lens['genres']}.")
    rating = frame["rating"].to_numpy("float32")
    train, test = split_indices(len(rating), args.seed)
    RESULTS.mkdir(exist_ok=True)
    np.savez(args.arrays, rating=rating, train=train, test=test, vocab=json.dumps(vocab), **features)
    total = [t["total_s"] for t in timings]
    print(
        f"load + encode {len(rating):,} ratings (load_movielens + FeatureEncoder.fit_transform): "
        f"first {total[0]:.2f} s, median {statistics.median(total):.2f} s of {len(total)}"
    )
    return {"rows": len(rating), "runs": timings, "first_s": total[0], "median_s": statistics.median(total)}


def synthetic(rows: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows of the MovieLens schema with a learnable rating (user + movie biases + noise)."""
    rng = np.random.default_rng(seed)
    features = {name: rng.integers(2, SYNTHETIC_VOCAB[name], rows, dtype="int32") for name in SINGLE}
    genres = np.empty((rows, GENRES_LEN), "int32")
    for j, padding in enumerate((0.0, 0.4, 0.7, 0.85, 0.95, 0.98)):  # column by column: no big temporaries
        column = rng.integers(2, SYNTHETIC_VOCAB["genres"], rows, dtype="int32")
        column[rng.random(rows, dtype="float32") < padding] = 0
        genres[:, j] = column
    features["genres"] = genres
    biases = np.random.default_rng(0)  # the same "true" model for every size
    user_bias = biases.normal(0, 0.5, SYNTHETIC_VOCAB["user_id"]).astype("float32")
    movie_bias = biases.normal(0, 0.7, SYNTHETIC_VOCAB["movie_id"]).astype("float32")
    rating = 3.6 + user_bias[features["user_id"]] + movie_bias[features["movie_id"]]
    rating += rng.standard_normal(rows, dtype="float32") * 0.8
    return features, np.clip(np.round(rating), 1, 5).astype("float32")


SYNTHETIC_VOCAB = {
    "user_id": 3001,
    "movie_id": 3617,
    "gender": 4,
    "age": 9,
    "occupation": 23,
    "zip": 2008,
    "genres": 20,
}


def load_arrays(args):
    if args.synthetic_rows:
        n_test = int(round(args.synthetic_rows * 0.1))
        x_train, rating_train = synthetic(args.synthetic_rows - n_test, args.seed)
        x_test, rating_test = synthetic(n_test, args.seed + 1)
        vocab = dict(SYNTHETIC_VOCAB)
    else:
        with np.load(args.arrays) as npz:
            train, test = npz["train"], npz["test"]
            x_train = {name: npz[name][train] for name in (*SINGLE, "genres")}
            x_test = {name: npz[name][test] for name in (*SINGLE, "genres")}
            rating_train, rating_test = npz["rating"][train], npz["rating"][test]
            vocab = json.loads(str(npz["vocab"]))
    if args.task == "binary":
        return x_train, (rating_train >= 4).astype("float32"), x_test, (rating_test >= 4).astype("float32"), vocab
    return x_train, rating_train, x_test, rating_test, vocab


# ----------------------------------------------------------------------------- measures


def rss_mb(field: str = "VmHWM") -> float:
    """`VmHWM` (peak) or `VmRSS` (current) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, ties averaged."""
    order = np.argsort(scores, kind="mergesort")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores), "float64")
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    positives = labels > 0.5
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def holdout_metric(task: str, labels, predictions) -> dict:
    predictions = np.asarray(predictions, "float64").reshape(-1)
    if task == "binary":
        return {"metric": "auc", "value": auc(labels, predictions)}
    return {"metric": "rmse", "value": float(np.sqrt(np.mean((predictions - labels) ** 2)))}


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


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.cpu_seconds = [], []

        def on_epoch_begin(self, epoch, logs=None):
            gate()
            self._cpu = _cpu_seconds()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(_cpu_seconds() - self._cpu)
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
        c0, t0 = _cpu_seconds(), time.perf_counter()
        predict()
        seconds.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
        release()
    return {
        "predictions": predictions,
        f"{prefix}_first_s": first,
        f"{prefix}_seconds": seconds,
        f"{prefix}_ex_per_s": rows / statistics.median(seconds),
        f"{prefix}_cpu_us_per_ex": 1e6 * statistics.median(cpu) / rows,
    }


# ----------------------------------------------------------------------------- contenders


def run_deepfm_keras(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    import keras

    from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, batch_predict, build_deepfm, make_dataset

    jit = args.worker == "deepfm_keras_xla"
    # deepfm_keras: build_deepfm's own choice (dtype_policy="auto": mixed_bfloat16 on CPUs with bfloat16
    # instructions, float32 elsewhere); the others pin it.
    policy = {"deepfm_keras_bf16": "mixed_bfloat16", "deepfm_keras_fp32": "float32", "deepfm_keras_xla": "float32"}
    keras.utils.set_random_seed(args.seed)
    spec = [CategoricalFeature(name, vocab[name]) for name in SINGLE]
    spec.append(MultiCategoricalFeature("genres", vocab["genres"], max_len=GENRES_LEN))
    model = build_deepfm(
        spec,
        embedding_dim=EMBEDDING_DIM,
        hidden_units=HIDDEN,
        task=args.task,
        dtype_policy=policy.get(args.worker, "auto"),
    )
    loss = "binary_crossentropy" if args.task == "binary" else "mean_squared_error"
    # Exactly what the README shows: the name "adam" (LazyAdam, learning rate 1e-3 = LEARNING_RATE) and the
    # model's own compile defaults (steps_per_execution=32, no XLA), except for the XLA variant.
    model.compile(optimizer="adam", loss=loss, **({"jit_compile": True} if jit else {}))
    train_ds = make_dataset(x_train, y_train, batch_size=BATCH, shuffle=True, seed=args.seed)
    test_ds = make_dataset(x_test, None, batch_size=INFER_BATCH, shuffle=False)
    rows_train, rows_test = len(y_train), len(y_test)
    x_train.clear()  # the dataset holds its own tensors; drop the NumPy copies

    timer = epoch_timer()
    model.fit(train_ds, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[timer])
    result = train_summary(timer, rows_train)

    # Serving-style inference: one compiled call per 8192-row batch, no predict() machinery.
    infer_jit = jit if args.infer_jit == "auto" else args.infer_jit == "on"

    def predict():
        return batch_predict(model, x_test, batch_size=INFER_BATCH, jit_compile=infer_jit)

    result.update(time_inference(predict, rows_test, args.infer_repeats))
    via_predict = time_inference(lambda: model.predict(test_ds, verbose=0), rows_test, args.infer_repeats, "predict")
    via_predict.pop("predictions")
    result.update(via_predict)
    result["settings"] = {
        "jit_compile": jit,
        "steps_per_execution": model.steps_per_execution,
        "inference_jit_compile": infer_jit,
        "dtype_policy": model.get_layer("deep").dtype_policy.name,
        "pipeline": "deepfm_keras.preprocessing.make_dataset",
        "inference": "deepfm_keras.batch_predict (one compiled call per batch)",
    }
    result["params"] = model.count_params()
    return result


def run_deepctr(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    # DeepCTR checks PyPI for a newer version in a thread at import (see the peers notes): the
    # environment routes it to a closed local port, and requests.get fails at once here too.
    import requests

    def _offline(*_args, **_kwargs):
        raise requests.exceptions.ConnectionError("offline benchmark")

    requests.get = _offline
    import deepctr
    import keras
    from deepctr.feature_column import SparseFeat, VarLenSparseFeat, get_feature_names
    from deepctr.models import DeepFM

    keras.utils.set_random_seed(args.seed)
    columns = [SparseFeat(name, vocabulary_size=vocab[name], embedding_dim=EMBEDDING_DIM) for name in SINGLE]
    columns.append(
        VarLenSparseFeat(
            SparseFeat("genres", vocabulary_size=vocab["genres"], embedding_dim=EMBEDDING_DIM),
            maxlen=GENRES_LEN,
            combiner="mean",
        )
    )
    model = DeepFM(
        columns,
        columns,
        dnn_hidden_units=HIDDEN,
        l2_reg_linear=0.0,
        l2_reg_embedding=0.0,
        l2_reg_dnn=0.0,
        dnn_dropout=0.0,
        dnn_activation="relu",
        seed=args.seed,
        task=args.task,
    )
    loss = "binary_crossentropy" if args.task == "binary" else "mean_squared_error"
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss)
    names = get_feature_names(columns)
    train_in = {n: x_train[n] for n in names}
    test_in = {n: x_test[n] for n in names}
    timer = epoch_timer()
    model.fit(train_in, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[timer])
    result = train_summary(timer, len(y_train))
    predict = lambda: model.predict(test_in, batch_size=INFER_BATCH, verbose=0)  # noqa: E731
    result.update(time_inference(predict, len(y_test), args.infer_repeats))
    result["settings"] = {"deepctr": deepctr.__version__, "pipeline": "NumPy through Keras' array adapter"}
    result["params"] = model.count_params()
    return result


def run_keras_baseline(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    """The DeepFM a Keras user writes in an afternoon: one Embedding per field, Concatenate, Dense."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(args.seed)
    inputs, embeddings, linear = [], [], []
    for name in SINGLE:
        x = keras.Input(shape=(1,), dtype="int32", name=name)
        inputs.append(x)
        embeddings.append(layers.Embedding(vocab[name], EMBEDDING_DIM, name=f"{name}_emb")(x))
        linear.append(layers.Embedding(vocab[name], 1, name=f"{name}_w")(x))
    genres = keras.Input(shape=(GENRES_LEN,), dtype="int32", name="genres")
    inputs.append(genres)
    pool = layers.GlobalAveragePooling1D(keepdims=True)
    embeddings.append(pool(layers.Embedding(vocab["genres"], EMBEDDING_DIM, mask_zero=True)(genres)))
    linear.append(pool(layers.Embedding(vocab["genres"], 1, mask_zero=True)(genres)))

    fields = layers.Concatenate(axis=1)(embeddings)  # (batch, 7, 16)
    first_order = ops.sum(layers.Concatenate(axis=1)(linear), axis=(1, 2))[:, None]
    square_of_sum = ops.square(ops.sum(fields, axis=1))
    sum_of_square = ops.sum(ops.square(fields), axis=1)
    second_order = 0.5 * ops.sum(square_of_sum - sum_of_square, axis=1, keepdims=True)
    deep = layers.Flatten()(fields)
    for units in HIDDEN:
        deep = layers.Dense(units, activation="relu")(deep)
    deep = layers.Dense(1)(deep)
    logit = layers.Add()([first_order, second_order, deep])
    output = layers.Activation("sigmoid" if args.task == "binary" else "linear")(logit)
    model = keras.Model(inputs, output)
    loss = "binary_crossentropy" if args.task == "binary" else "mean_squared_error"
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss)
    timer = epoch_timer()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[timer])
    result = train_summary(timer, len(y_train))
    predict = lambda: model.predict(x_test, batch_size=INFER_BATCH, verbose=0)  # noqa: E731
    result.update(time_inference(predict, len(y_test), args.infer_repeats))
    result["settings"] = {"pipeline": "NumPy through Keras' array adapter"}
    result["params"] = model.count_params()
    return result


RUNNERS = {name: run_deepfm_keras for name in OURS}
RUNNERS.update(deepctr=run_deepctr, keras_baseline=run_keras_baseline)


def worker(args) -> None:
    """Runs one contender in this process and prints one `RESULT {json}` line."""
    global GATED
    GATED = args.gated
    import tensorflow as tf  # noqa: F401 - imported first so the baseline RSS includes it

    rss_framework = rss_mb("VmRSS")
    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test, vocab = load_arrays(args)
    data_bytes = sum(v.nbytes for v in (*x_train.values(), *x_test.values(), y_train, y_test))
    t_data = time.perf_counter() - t0
    result = RUNNERS[args.worker](x_train, y_train, x_test, y_test, vocab, args)
    result.update(holdout_metric(args.task, y_test, result.pop("predictions")))
    result.update(
        contender=args.worker,
        rows_train=len(y_train),
        rows_test=len(y_test),
        data_mb=data_bytes / 2**20,
        data_seconds=t_data,
        rss_framework_mb=rss_framework,
        peak_rss_mb=rss_mb("VmHWM"),
        epochs=args.epochs,
        task=args.task,
    )
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- driver


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # DeepCTR's version-check thread: a closed local port fails at once, offline or not.
    for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env[key] = "http://127.0.0.1:9"
    return env


def _parse(out: subprocess.CompletedProcess, what: str) -> dict:
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
    raise RuntimeError(f"{what} failed (exit {out.returncode}):\n{tail}")


def _worker_command(name: str, args, extra: list[str] | None = None) -> list[str]:
    cmd = [str(args.python), str(Path(__file__).resolve()), "--worker", name, "--arrays", str(args.arrays)]
    cmd += ["--epochs", str(args.epochs), "--task", args.task, "--seed", str(args.seed)]
    return cmd + ["--infer-repeats", str(args.infer_repeats), *(extra or [])]


class _Worker:
    """A contender's process, driven section by section through its stdin/stdout."""

    def __init__(self, name: str, args):
        self.name, self.result, self.loads = name, None, []
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [*_worker_command(name, args), "--gated"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=_env(),
        )

    def _fail(self, what: str):
        self.proc.kill()
        self.stderr.seek(0)
        tail = "\n".join(self.stderr.read().splitlines()[-25:])
        raise RuntimeError(f"{self.name}: {what} (exit {self.proc.poll()}):\n{tail}")

    def wait_for(self, *events: str) -> str:
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT ") :])
                return "RESULT"
            if line.strip() in events:
                return line.strip()
        self.proc.wait()
        self._fail("exited early")

    def run_section(self) -> bool:
        """Lets the worker run its next timed section alone; False once it has reported."""
        self.loads.append(os.getloadavg()[0])
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        if self.wait_for("DONE") != "DONE":
            self._fail("reported in the middle of a timed section")
        # Its untimed work up to the next timed section runs alone too.
        return self.wait_for("GATE") == "GATE"


def run_interleaved(names: list[str], args) -> dict[str, dict]:
    """Runs the contenders side by side, one timed section (an epoch, an inference pass) at a time.

    All processes start together (imports, data, model: untimed), then the driver lets them
    run in turn, one epoch or inference pass each, so that every epoch of one contender is
    timed next to an epoch of every other: a change of machine load hits them alike.
    """
    workers = [_Worker(name, args) for name in names]
    try:
        active = [w for w in workers if w.wait_for("GATE") == "GATE"]
        while active:
            active = [w for w in active if w.run_section()]
        for w in workers:
            if w.proc.wait(timeout=args.timeout) != 0 or w.result is None:
                w._fail("failed")
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
    results = {}
    for w in workers:
        w.result["loadavg_1min_per_section"] = w.loads
        w.result["loadavg_1min_before"] = median(w.loads)
        results[w.name] = w.result
    return results


def run_contender(name: str, args, extra: list[str] | None = None) -> dict:
    cmd = _worker_command(name, args, extra)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=args.timeout)
    result = _parse(out, name)
    result["wall_s"] = time.perf_counter() - t0
    result["loadavg_1min_before"] = load
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: dict[str, list[dict]]) -> dict:
    keys = ("train_ex_per_s", "train_cpu_us_per_ex", "infer_ex_per_s", "predict_ex_per_s", "peak_rss_mb")
    keys += ("rss_framework_mb", "value")
    summary = {}
    for name, rs in runs.items():
        s = {k: median([r.get(k) for r in rs]) for k in keys}
        s["metric"] = rs[0]["metric"]
        s["first_epoch_s"] = median([r["epoch_seconds"][0] for r in rs])
        summary[name] = s
    if REFERENCE in runs:
        ref = runs[REFERENCE]
        for name, rs in runs.items():
            # In-run ratios: repeat i of the contender against repeat i of DeepCTR.
            pairs = list(zip(rs, ref, strict=True))
            # Epoch e of the contender and epoch e of DeepCTR ran back to back: ratio of their speeds.
            epoch_ratios = [
                (b_s / a_s) * (a["rows_train"] / b["rows_train"])
                for a, b in pairs
                for a_s, b_s in zip(a["epoch_seconds"][1:], b["epoch_seconds"][1:], strict=True)
            ]
            infer_ratios = [
                b_s / a_s for a, b in pairs for a_s, b_s in zip(a["infer_seconds"], b["infer_seconds"], strict=True)
            ]
            summary[name]["vs_" + REFERENCE] = {
                "train_epoch_pairs": median(epoch_ratios),
                "infer_pass_pairs": median(infer_ratios),
                "train_epoch_pair_ratios": epoch_ratios,
                "infer_pass_pair_ratios": infer_ratios,
                "train": median([a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs]),
                "train_cpu": median([b["train_cpu_us_per_ex"] / a["train_cpu_us_per_ex"] for a, b in pairs]),
                "infer": median([a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs]),
                "predict": median(
                    [a.get("predict_ex_per_s", a["infer_ex_per_s"]) / b["infer_ex_per_s"] for a, b in pairs]
                ),
                "peak_rss": median([a["peak_rss_mb"] / b["peak_rss_mb"] for a, b in pairs]),
                "metric_delta": median([a["value"] - b["value"] for a, b in pairs]),
                "per_repeat_train": [a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs],
                "per_repeat_infer": [a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs],
            }
    return summary


def format_table(summary: dict, args) -> str:
    metric = next(iter(summary.values()))["metric"].upper()
    ref = "vs_" + REFERENCE
    head = (
        f"| contender | train ex/s | x DeepCTR | CPU us/ex | infer ex/s | x DeepCTR | via predict() | "
        f"peak RSS MB | x DeepCTR | {metric} @{args.epochs} ep | 1st epoch s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in summary.items():
        r = s.get(ref, {})

        def x(key, r=r):
            return f"{r[key]:.2f}" if key in r else "-"

        predict = f"{s['predict_ex_per_s']:,.0f}" if s.get("predict_ex_per_s") else "-"
        lines.append(
            f"| {name} | {s['train_ex_per_s']:,.0f} | {x('train_epoch_pairs')} | {s['train_cpu_us_per_ex']:.2f} | "
            f"{s['infer_ex_per_s']:,.0f} | {x('infer_pass_pairs')} | {predict} | {s['peak_rss_mb']:,.0f} | {x('peak_rss')} | "
            f"{s['value']:.4f} | {s['first_epoch_s']:.1f} |"
        )
    return "\n".join(lines)


def scaling(args) -> dict:
    results = []
    for rows in args.scaling_rows:
        r = run_contender(args.scaling_contender, args, ["--synthetic-rows", str(rows)])
        r["rows"] = rows
        results.append(r)
        print(
            f"{rows:>10,} rows: train {r['train_ex_per_s']:>9,.0f} ex/s ({r['train_cpu_us_per_ex']:.2f} CPU us/ex), "
            f"infer {r['infer_ex_per_s']:>9,.0f} ex/s, data {r['data_mb']:>6,.0f} MB, peak RSS {r['peak_rss_mb']:>6,.0f} MB "
            f"({r['peak_rss_mb'] - r['rss_framework_mb']:>6,.0f} MB above TensorFlow), {r['metric']} {r['value']:.4f}, "
            f"load {r['loadavg_1min_before']:.1f}",
            flush=True,
        )
    base = results[0]
    for r in results:
        r["rows_ratio"] = r["rows"] / base["rows"]
        r["memory_above_tf_ratio"] = (r["peak_rss_mb"] - r["rss_framework_mb"]) / (
            base["peak_rss_mb"] - base["rss_framework_mb"]
        )
        r["train_speed_ratio"] = r["train_ex_per_s"] / base["train_ex_per_s"]
    for prev, r in zip(results[:-1], results[1:], strict=True):
        # Extra peak memory per extra MB of data, from one size to the next.
        r["memory_growth_per_data_mb"] = (r["peak_rss_mb"] - prev["peak_rss_mb"]) / (r["data_mb"] - prev["data_mb"])
    print("rows x   train speed x   memory above TF x   extra peak MB per extra data MB")
    for r in results:
        growth = r.get("memory_growth_per_data_mb")
        print(
            f"{r['rows_ratio']:>6.1f}   {r['train_speed_ratio']:>13.2f}   {r['memory_above_tf_ratio']:>17.2f}   "
            f"{growth:>31.2f}"
            if growth is not None
            else f"{r['rows_ratio']:>6.1f}   {r['train_speed_ratio']:>13.2f}   {r['memory_above_tf_ratio']:>17.2f}   {'-':>31}"
        )
    return {"scaling": results}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens 1M folder (ratings/users/movies.dat)")
    p.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    p.add_argument("--repeats", type=int, default=3, help="runs of each contender, alternating (default 3)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 5; 3 with --scaling)")
    p.add_argument("--task", choices=("regression", "binary"), default="regression", help="RMSE or AUC (rating>=4)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--infer-repeats", type=int, default=5, help="timed inference passes over the holdout")
    p.add_argument("--load-repeats", type=int, default=3, help="timed load + encode runs")
    p.add_argument("--python", type=Path, default=DEFAULT_PYTHON, help="Python that runs the contenders")
    p.add_argument("--scaling", action="store_true", help="one contender on synthetic data of 0.5M, 2M, 8M rows")
    p.add_argument("--scaling-rows", type=int, nargs="+", default=[500_000, 2_000_000, 8_000_000])
    p.add_argument("--scaling-contender", choices=CONTENDERS, default="deepfm_keras")
    p.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/results/)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per contender run")
    # Internal: one contender in this process.
    p.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--arrays", type=Path, default=RESULTS / "movielens_arrays.npz", help=argparse.SUPPRESS)
    p.add_argument("--synthetic-rows", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--gated", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--infer-jit", choices=("auto", "on", "off"), default="auto", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.scaling else 5
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not Path(args.python).exists():
        sys.exit(f"{args.python} not found: run `bash benchmarks/setup_peers.sh` first.")
    machine = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "loadavg_start": list(os.getloadavg()),
        "command": " ".join(["python", *sys.argv]),
    }
    print(f"load average at start: {machine['loadavg_start']} on {machine['cpus']} CPUs", flush=True)
    if args.scaling:
        report = {"machine": machine, **scaling(args)}
        out = args.json or RESULTS / "scaling.json"
    else:
        load_encode = prepare_arrays(args)
        runs = {name: [] for name in args.contenders}
        for repeat in range(args.repeats):
            results = run_interleaved(list(args.contenders), args)
            for name in args.contenders:
                r = results[name]
                r["repeat"] = repeat
                runs[name].append(r)
                predict = f" (predict() {r['predict_ex_per_s']:>9,.0f})" if "predict_ex_per_s" in r else ""
                print(
                    f"[{repeat + 1}/{args.repeats}] {name:<18} train {r['train_ex_per_s']:>9,.0f} ex/s "
                    f"{r['train_cpu_us_per_ex']:5.2f} CPU us/ex  infer {r['infer_ex_per_s']:>9,.0f} ex/s{predict}  "
                    f"peak RSS {r['peak_rss_mb']:>6,.0f} MB  {r['metric']} {r['value']:.4f}  "
                    f"epochs {[round(s, 1) for s in r['epoch_seconds']]}  load {r['loadavg_1min_before']:.1f}",
                    flush=True,
                )
        summary = summarize(runs)
        machine["loadavg_end"] = list(os.getloadavg())
        machine["loadavg_1min_median_during"] = median([r["loadavg_1min_before"] for rs in runs.values() for r in rs])
        table = format_table(summary, args)
        print()
        print(table)
        print(
            "\n'x DeepCTR': median, over every pair of epochs (after the first) and of inference passes that "
            "ran back to back in this invocation, of the contender's speed / DeepCTR's.\n"
            f"load + encode (project loader + FeatureEncoder): first {load_encode['first_s']:.2f} s, "
            f"median {load_encode['median_s']:.2f} s\n"
            f"1-min load average: start {machine['loadavg_start'][0]:.1f}, median before each run "
            f"{machine['loadavg_1min_median_during']:.1f}, end {machine['loadavg_end'][0]:.1f} ({machine['cpus']} CPUs)"
        )
        report = {"machine": machine, "load_encode": load_encode, "summary": summary, "table": table, "runs": runs}
        out = args.json or RESULTS / f"movielens_{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
