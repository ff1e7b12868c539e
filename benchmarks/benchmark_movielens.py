"""Benchmark: deepfm_keras against DeepCTR 0.9.4 and a plain Keras 3 DeepFM on MovieLens.

The task (issue 5): ML-1M users 1-2999 (487,650 ratings), features user_id,
movie_id, gender, age, occupation, zip (single-level) and genres
(multi-level, mean-pooled); embedding 16, MLP 256-128-64 ReLU, no dropout, no
L2, Adam 1e-3, batch 4096, a seeded 90/10 split. For each contender it
measures

- training examples/sec: the median over the epochs after the first (the
  first one traces and compiles), input pipeline included;
- inference examples/sec on the holdout at batch 8192 (median of repeats);
- peak RSS of the contender's own process (`VmHWM`), and its RSS after
  importing TensorFlow, before any data or model;
- the holdout RMSE (`--task regression`, the rating) or AUC
  (`--task binary`, rating >= 4) after a fixed number of epochs.

The contenders, each run in its own subprocess, alternating, `--repeats`
times:

- `deepfm_keras`: `build_deepfm` fed by the project's in-memory tf.data
  pipeline (`deepfm_keras.preprocessing.make_dataset` when present), compiled
  with `jit_compile=True` (XLA) unless `--no-jit`;
- `deepctr`: DeepCTR 0.9.4's `DeepFM` with the same features and
  hyperparameters, fit on NumPy arrays as its docs show;
- `keras_baseline`: the DeepFM a user writes in an afternoon with Keras 3:
  one `Embedding` per field, `Concatenate`, a `Dense` stack, fit on NumPy.

Every contender runs under the Python of `benchmarks/.venv-bench` (create it
with `bash benchmarks/setup_peers.sh`): one environment, so the same
TensorFlow build and the same imported modules for all. All contenders get
the same encoded arrays and split (written once by the
driver to `benchmarks/results/`). Ratios are taken within each repeat
(peer and deepfm_keras measured minutes apart on the same machine), and the
table reports their medians: machines here are shared and noisy.

`--scaling` runs deepfm_keras alone on synthetic data of the same schema at
0.5M, 2M and 8M rows (`--scaling-rows`) and reports examples/sec and peak
memory against the size of the data.

Usage:

    bash benchmarks/setup_peers.sh                          # once: DeepCTR's virtualenv
    python benchmarks/benchmark_movielens.py                # table + benchmarks/results/movielens.json
    python benchmarks/benchmark_movielens.py --repeats 5 --epochs 5
    python benchmarks/benchmark_movielens.py --scaling      # synthetic 0.5M/2M/8M rows
    python benchmarks/benchmark_movielens.py --contenders deepfm_keras --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ml-1m-users1-2999"
DEFAULT_PYTHON = HERE / ".venv-bench" / "bin" / "python"
RESULTS = HERE / "results"

CONTENDERS = ("deepfm_keras", "deepctr", "keras_baseline")
SINGLE = ("user_id", "movie_id", "gender", "age", "occupation", "zip")
GENRES_LEN = 6
EMBEDDING_DIM = 16
HIDDEN = (256, 128, 64)
LEARNING_RATE = 1e-3
BATCH = 4096
INFER_BATCH = 8192


# ----------------------------------------------------------------------------- data


def read_movielens(data_dir: Path):
    """Reads ratings, users and movies with pandas' C parser (no `sep="::"` python engine)."""
    import pandas as pd

    def read(name, columns):
        # "a::b::c" split on ":" gives empty columns in between; keep every other one.
        frame = pd.read_csv(data_dir / name, sep=":", header=None, dtype=str, encoding="latin-1")
        frame = frame.iloc[:, ::2]
        frame.columns = columns
        return frame

    ratings = read("ratings.dat", ["user_id", "movie_id", "rating", "timestamp"])
    users = read("users.dat", ["user_id", "gender", "age", "occupation", "zip"])
    # Titles contain ":"; the genres are the last "::" field.
    with open(data_dir / "movies.dat", encoding="latin-1") as f:
        movies = [line.rstrip("\n").split("::") for line in f]
    movies = pd.DataFrame({"movie_id": [m[0] for m in movies], "genres": [m[-1] for m in movies]})
    table = ratings.merge(users, on="user_id", how="left").merge(movies, on="movie_id", how="left")
    return table


def encode(table) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Integer-encodes the fields like `FeatureEncoder` does: 0 = padding, 1 = out of vocabulary."""
    import pandas as pd

    features, vocab = {}, {}
    for name in SINGLE:
        codes, uniques = pd.factorize(table[name], sort=True)
        features[name] = (codes + 2).astype("int32")
        vocab[name] = len(uniques) + 2
    split = table["genres"].fillna("").str.split("|", expand=True).iloc[:, :GENRES_LEN]
    names = sorted({g for g in pd.unique(split.values.ravel()) if isinstance(g, str) and g})
    index = {g: i + 2 for i, g in enumerate(names)}
    genres = np.zeros((len(table), GENRES_LEN), "int32")
    for j in range(split.shape[1]):
        genres[:, j] = split.iloc[:, j].map(index).fillna(0).to_numpy("int32")
    features["genres"] = genres
    vocab["genres"] = len(names) + 2
    return features, table["rating"].astype("float32").to_numpy(), vocab


def synthetic(rows: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Synthetic data of the MovieLens schema with a learnable rating (user + movie biases + noise)."""
    rng = np.random.default_rng(seed)
    vocab = {"user_id": 3001, "movie_id": 3708, "gender": 4, "age": 9, "occupation": 23, "zip": 2400, "genres": 20}
    features = {name: rng.integers(2, vocab[name], rows, dtype="int32") for name in SINGLE}
    genres = rng.integers(2, vocab["genres"], (rows, GENRES_LEN), dtype="int32")
    genres[rng.random((rows, GENRES_LEN)) < np.array([0.0, 0.4, 0.7, 0.85, 0.95, 0.98])] = 0
    features["genres"] = genres
    user_bias = rng.normal(0, 0.5, vocab["user_id"]).astype("float32")
    movie_bias = rng.normal(0, 0.7, vocab["movie_id"]).astype("float32")
    rating = 3.6 + user_bias[features["user_id"]] + movie_bias[features["movie_id"]]
    rating += rng.normal(0, 0.8, rows).astype("float32")
    return features, np.clip(np.round(rating), 1, 5).astype("float32"), vocab


def split_indices(rows: int, seed: int, holdout: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(rows)
    n_test = int(round(rows * holdout))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def prepare_arrays(args) -> Path:
    """Encodes MovieLens once and writes the arrays and split every contender reads."""
    t0 = time.perf_counter()
    features, rating, vocab = encode(read_movielens(Path(args.data)))
    train, test = split_indices(len(rating), args.seed)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "movielens_arrays.npz"
    np.savez(path, rating=rating, train=train, test=test, vocab=json.dumps(vocab), **features)
    print(f"encoded {len(rating):,} ratings in {time.perf_counter() - t0:.2f} s (benchmark's own pandas parser)")
    return path


def load_arrays(args):
    if args.synthetic_rows:
        features, rating, vocab = synthetic(args.synthetic_rows, args.seed)
        train, test = split_indices(len(rating), args.seed)
    else:
        with np.load(args.arrays) as npz:
            features = {name: npz[name] for name in (*SINGLE, "genres")}
            rating, train, test = npz["rating"], npz["train"], npz["test"]
            vocab = json.loads(str(npz["vocab"]))
    if args.task == "binary":
        labels = (rating >= 4).astype("float32")
    else:
        labels = rating.astype("float32")
    x_train = {k: v[train] for k, v in features.items()}
    x_test = {k: v[test] for k, v in features.items()}
    return x_train, labels[train], x_test, labels[test], vocab


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
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), "float64")
    # Average ranks of ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    positives = labels > 0.5
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def holdout_metric(task: str, labels, predictions) -> dict:
    predictions = np.asarray(predictions, "float64").reshape(-1)
    if task == "binary":
        return {"metric": "auc", "value": auc(labels, predictions)}
    return {"metric": "rmse", "value": float(np.sqrt(np.mean((predictions - labels) ** 2)))}


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

            self.cpu_seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._cpu = _cpu_seconds()
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(_cpu_seconds() - self._cpu)

    return EpochTimer()


def time_inference(predict, rows: int, repeats: int) -> dict:
    """Calls `predict()` once to warm up, then `repeats` times; examples/sec of the median call."""
    t0 = time.perf_counter()
    predictions = predict()
    first = time.perf_counter() - t0
    seconds, cpu = [], []
    for _ in range(repeats):
        c0, t0 = _cpu_seconds(), time.perf_counter()
        predict()
        seconds.append(time.perf_counter() - t0)
        cpu.append(_cpu_seconds() - c0)
    return {
        "predictions": predictions,
        "infer_first_s": first,
        "infer_seconds": seconds,
        "infer_ex_per_s": rows / statistics.median(seconds),
        "infer_cpu_us_per_ex": 1e6 * statistics.median(cpu) / rows,
    }


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


# ----------------------------------------------------------------------------- contenders


def run_deepfm_keras(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    import keras
    import tensorflow as tf

    from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, build_deepfm

    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    spec = [CategoricalFeature(name, vocab[name]) for name in SINGLE]
    spec.append(MultiCategoricalFeature("genres", vocab["genres"], max_len=GENRES_LEN))
    model = build_deepfm(spec, embedding_dim=EMBEDDING_DIM, hidden_units=HIDDEN, task=args.task)
    loss = "binary_crossentropy" if args.task == "binary" else "mean_squared_error"
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=loss,
        jit_compile=args.jit,
        steps_per_execution=args.steps_per_execution,
    )
    try:
        from deepfm_keras.preprocessing import make_dataset  # noqa: PLC0415
    except ImportError:
        make_dataset = None
    if make_dataset is not None and not args.own_pipeline:
        pipeline = "deepfm_keras.preprocessing.make_dataset"
        train_ds = make_dataset(x_train, y_train, batch_size=BATCH, shuffle=True, seed=args.seed)
        test_ds = make_dataset(x_test, None, batch_size=INFER_BATCH, shuffle=False)
    else:
        pipeline = "benchmark in-memory gather"
        train_ds = _in_memory_dataset(tf, x_train, y_train, BATCH, shuffle=True, seed=args.seed)
        test_ds = _in_memory_dataset(tf, x_test, None, INFER_BATCH, shuffle=False, seed=args.seed)
    timer = epoch_timer()
    model.fit(train_ds, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[timer])
    result = train_summary(timer, len(y_train))

    if args.predict == "dataset":
        predict = lambda: model.predict(test_ds, verbose=0)  # noqa: E731
    elif args.predict == "numpy":
        predict = lambda: model.predict(x_test, batch_size=INFER_BATCH, verbose=0)  # noqa: E731
    else:  # "function": one compiled call per batch, no predict() machinery
        call = tf.function(lambda x: model(x, training=False), jit_compile=args.jit, reduce_retracing=True)
        tensors = {k: tf.constant(v) for k, v in x_test.items()}
        rows = len(y_test)

        def predict():
            outs = [call({k: v[i : i + INFER_BATCH] for k, v in tensors.items()}) for i in range(0, rows, INFER_BATCH)]
            return tf.concat(outs, 0).numpy()

    result.update(time_inference(predict, len(y_test), args.infer_repeats))
    result["pipeline"] = pipeline
    result["settings"] = {
        "jit_compile": args.jit,
        "mixed_bfloat16": args.mixed_precision,
        "steps_per_execution": args.steps_per_execution,
        "predict": args.predict,
    }
    result["params"] = model.count_params()
    return result


def _in_memory_dataset(tf, features, labels, batch_size, shuffle, seed):
    """Batches gathered from in-memory tensors by a fresh index permutation each epoch."""
    tensors = {k: tf.constant(v) for k, v in features.items()}
    y = tf.constant(labels) if labels is not None else None
    rows = len(next(iter(features.values())))
    num_batches = -(-rows // batch_size)
    generator = tf.random.Generator.from_seed(seed)

    def epoch(_):
        order = tf.argsort(generator.uniform([rows])) if shuffle else tf.range(rows)

        def batch(i):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = {k: tf.gather(v, idx) for k, v in tensors.items()}
            return (x, tf.gather(y, idx)) if y is not None else x

        return tf.data.Dataset.range(num_batches).map(batch)

    return tf.data.Dataset.range(1).flat_map(epoch).prefetch(tf.data.AUTOTUNE)


def run_deepctr(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    # The import-time version check of DeepCTR must not reach the network (see peers notes):
    # the environment points it at a closed port, and requests.get fails at once here too.
    import requests

    def _offline(*_args, **_kwargs):
        raise requests.exceptions.ConnectionError("offline benchmark")

    requests.get = _offline
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
    import deepctr

    result["pipeline"] = "NumPy through Keras' array adapter"
    result["settings"] = {"deepctr": deepctr.__version__}
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
    result["pipeline"] = "NumPy through Keras' array adapter"
    result["settings"] = {}
    result["params"] = model.count_params()
    return result


RUNNERS = {"deepfm_keras": run_deepfm_keras, "deepctr": run_deepctr, "keras_baseline": run_keras_baseline}


def worker(args) -> None:
    """Runs one contender in this process and prints one `RESULT {json}` line."""
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


def measure_load_encode(args) -> dict:
    """Loading + encoding ML-1M with the project's own loader and encoder, best of 3 (in a subprocess)."""
    code = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
data = sys.argv[1]
try:
    from deepfm_keras.datasets import movielens
    from deepfm_keras.preprocessing import FeatureEncoder
except ImportError as e:
    print("RESULT " + json.dumps({"error": f"project loader/encoder not available: {e}"})); sys.exit(0)
runs = []
for _ in range(3):
    t0 = time.perf_counter()
    frame = movielens.load(data) if hasattr(movielens, "load") else movielens.load_movielens(data)
    t1 = time.perf_counter()
    spec = movielens.feature_spec() if hasattr(movielens, "feature_spec") else None
    encoder = FeatureEncoder(spec) if spec is not None else FeatureEncoder()
    encoded = encoder.fit_transform(frame) if hasattr(encoder, "fit_transform") else encoder.fit(frame).transform(frame)
    runs.append({"load_s": t1 - t0, "encode_s": time.perf_counter() - t1, "rows": len(frame)})
best = min(runs, key=lambda r: r["load_s"] + r["encode_s"])
print("RESULT " + json.dumps(dict(best, runs=runs)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(args.data), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    return _parse(out, "load_encode")


# ----------------------------------------------------------------------------- driver


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # DeepCTR's version check thread: a closed local port fails at once, offline or not.
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://127.0.0.1:9"
    env["https_proxy"] = env["http_proxy"] = "http://127.0.0.1:9"
    return env


def _parse(out: subprocess.CompletedProcess, what: str) -> dict:
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
    raise RuntimeError(f"{what} failed (exit {out.returncode}):\n{tail}")


def run_contender(name: str, args, extra: list[str] | None = None) -> dict:
    python = str(args.python)
    cmd = [python, str(Path(__file__).resolve()), "--worker", name, "--arrays", str(args.arrays)]
    cmd += ["--epochs", str(args.epochs), "--task", args.task, "--seed", str(args.seed)]
    cmd += ["--infer-repeats", str(args.infer_repeats), "--predict", args.predict]
    cmd += ["--steps-per-execution", str(args.steps_per_execution)]
    cmd += [] if args.jit else ["--no-jit"]
    cmd += ["--mixed-precision"] if args.mixed_precision else []
    cmd += ["--own-pipeline"] if args.own_pipeline else []
    cmd += extra or []
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=args.timeout)
    result = _parse(out, name)
    result["wall_s"] = time.perf_counter() - t0
    return result


def loadavg() -> list[float]:
    return list(os.getloadavg())


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: dict[str, list[dict]], contenders) -> dict:
    summary = {}
    for name in contenders:
        rs = runs[name]
        summary[name] = {
            "train_ex_per_s": median([r["train_ex_per_s"] for r in rs]),
            "infer_ex_per_s": median([r["infer_ex_per_s"] for r in rs]),
            "peak_rss_mb": median([r["peak_rss_mb"] for r in rs]),
            "rss_framework_mb": median([r["rss_framework_mb"] for r in rs]),
            "metric": rs[0]["metric"],
            "value": median([r["value"] for r in rs]),
            "first_epoch_s": median([r["epoch_seconds"][0] for r in rs]),
        }
    if "deepfm_keras" in runs:
        ours = runs["deepfm_keras"]
        for name in contenders:
            if name == "deepfm_keras":
                continue
            # In-run ratios: repeat i of deepfm_keras against repeat i of the peer.
            pairs = list(zip(ours, runs[name], strict=True))
            summary[name]["ratios"] = {
                "train": median([a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs]),
                "infer": median([a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs]),
                "peak_rss": median([a["peak_rss_mb"] / b["peak_rss_mb"] for a, b in pairs]),
                "metric_delta": median([a["value"] - b["value"] for a, b in pairs]),
                "per_repeat_train": [a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs],
                "per_repeat_infer": [a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs],
            }
    return summary


def print_table(summary: dict, contenders, args) -> None:
    metric = summary[contenders[0]]["metric"].upper()
    header = (
        f"{'contender':<16}{'train ex/s':>12}{'x ours':>8}{'infer ex/s':>12}{'x ours':>8}"
        f"{'peak RSS MB':>13}{'TF-only MB':>12}{metric + f' @{args.epochs}ep':>12}{'1st epoch s':>13}"
    )
    print(header)
    print("-" * len(header))
    for name in contenders:
        s = summary[name]
        r = s.get("ratios")
        train_ratio = f"{r['train']:.2f}" if r else "1.00"
        infer_ratio = f"{r['infer']:.2f}" if r else "1.00"
        print(
            f"{name:<16}{s['train_ex_per_s']:>12,.0f}{train_ratio:>8}{s['infer_ex_per_s']:>12,.0f}{infer_ratio:>8}"
            f"{s['peak_rss_mb']:>13,.0f}{s['rss_framework_mb']:>12,.0f}{s['value']:>12.4f}{s['first_epoch_s']:>13.1f}"
        )
    print("('x ours' = median over repeats of deepfm_keras / contender, each pair measured in this run)")


def scaling(args) -> dict:
    results = []
    for rows in args.scaling_rows:
        args_rows = ["--synthetic-rows", str(rows)]
        load = loadavg()
        r = run_contender("deepfm_keras", args, args_rows)
        r["loadavg"] = load
        results.append(r)
        print(
            f"{rows:>10,} rows: train {r['train_ex_per_s']:>9,.0f} ex/s, infer {r['infer_ex_per_s']:>9,.0f} ex/s, "
            f"data {r['data_mb']:>7,.0f} MB, peak RSS {r['peak_rss_mb']:>7,.0f} MB "
            f"(above TF-only: {r['peak_rss_mb'] - r['rss_framework_mb']:>7,.0f} MB), {r['metric']} {r['value']:.4f}",
            flush=True,
        )
    return {"scaling": results}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens directory (ratings/users/movies.dat)")
    p.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    p.add_argument("--repeats", type=int, default=3, help="runs of each contender, alternating (default 3)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs; speed = median of epochs 2.. (default 4)")
    p.add_argument("--task", choices=("regression", "binary"), default="regression", help="RMSE or AUC (rating>=4)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--infer-repeats", type=int, default=5, help="timed inference passes over the holdout")
    p.add_argument("--no-jit", dest="jit", action="store_false", help="deepfm_keras without XLA")
    p.add_argument("--mixed-precision", action="store_true", help="deepfm_keras under mixed_bfloat16")
    p.add_argument("--steps-per-execution", type=int, default=1, help="deepfm_keras compile(steps_per_execution)")
    p.add_argument(
        "--predict",
        choices=("dataset", "numpy", "function"),
        default="dataset",
        help="deepfm_keras inference: predict(tf.data), predict(NumPy) or a compiled call per batch",
    )
    p.add_argument("--own-pipeline", action="store_true", help="deepfm_keras fed by the benchmark's pipeline")
    p.add_argument("--python", type=Path, default=DEFAULT_PYTHON, help="Python that runs the contenders")
    p.add_argument("--scaling", action="store_true", help="deepfm_keras on synthetic data of 0.5M, 2M, 8M rows")
    p.add_argument("--scaling-rows", type=int, nargs="+", default=[500_000, 2_000_000, 8_000_000])
    p.add_argument("--skip-load-encode", action="store_true", help="do not time the project's loader + encoder")
    p.add_argument("--json", type=Path, default=None, help="where to write the results (default benchmarks/results/)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per contender run")
    # Internal: one contender in this process.
    p.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--arrays", type=Path, default=RESULTS / "movielens_arrays.npz", help=argparse.SUPPRESS)
    p.add_argument("--synthetic-rows", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


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
        "loadavg_start": loadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    print(f"load average at start: {machine['loadavg_start']} on {machine['cpus']} CPUs")
    if args.scaling:
        report = {"machine": machine, **scaling(args)}
        out = args.json or RESULTS / "scaling.json"
    else:
        prepare_arrays(args)
        runs = {name: [] for name in args.contenders}
        loads = []
        for repeat in range(args.repeats):
            for name in args.contenders:
                load = loadavg()
                loads.append(load[0])
                r = run_contender(name, args)
                r["loadavg"] = load
                r["repeat"] = repeat
                runs[name].append(r)
                print(
                    f"[{repeat + 1}/{args.repeats}] {name:<15} train {r['train_ex_per_s']:>9,.0f} ex/s  "
                    f"infer {r['infer_ex_per_s']:>9,.0f} ex/s  peak RSS {r['peak_rss_mb']:>6,.0f} MB  "
                    f"{r['metric']} {r['value']:.4f}  epochs {[round(s, 1) for s in r['epoch_seconds']]}  "
                    f"load {load[0]:.1f}",
                    flush=True,
                )
        summary = summarize(runs, args.contenders)
        machine["loadavg_end"] = loadavg()
        machine["loadavg_1min_median_during"] = median(loads)
        print()
        print_table(summary, args.contenders, args)
        report = {"machine": machine, "summary": summary, "runs": runs}
        if not args.skip_load_encode:
            report["load_encode"] = le = measure_load_encode(args)
            if "error" in le:
                print(f"load + encode: {le['error']}")
            else:
                print(
                    f"load + encode (project loader + FeatureEncoder, best of 3): "
                    f"{le['load_s'] + le['encode_s']:.2f} s ({le['load_s']:.2f} + {le['encode_s']:.2f})"
                )
        print(f"load average: start {machine['loadavg_start']}, end {machine['loadavg_end']}")
        out = args.json or RESULTS / f"movielens_{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
