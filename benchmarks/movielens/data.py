"""The arrays the contenders share: prepared once by the driver, read by every worker.

`prepare_arrays` runs in the driver (it needs deepfm_keras: the project's loader and encoder, timed);
`load_arrays` and `synthetic` run in the workers and need NumPy only.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from .task import GENRES_LEN, RESULTS, SINGLE

SYNTHETIC_VOCAB = {
    "user_id": 3001,
    "movie_id": 3617,
    "gender": 4,
    "age": 9,
    "occupation": 23,
    "zip": 2008,
    "genres": 20,
}


def split_indices(rows: int, seed: int, holdout: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of `range(rows)`: sorted (train, holdout) row numbers."""
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


def load_arrays(args):
    """(x_train, y_train, x_test, y_test, vocabulary sizes): the driver's arrays, or synthetic rows."""
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
