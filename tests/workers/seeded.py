"""Seeded training runs, for the determinism test.

Usage: python seeded.py OUT_PREFIX SEED [SEED ...] [--no-determinism]

For each seed: `set_seed(seed)`, build a model with dropout, train 2 epochs on a
shuffled dataset; writes OUT_PREFIX_<i>.npz (final weights, i = run index) and
OUT_PREFIX.json (seconds per run).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras.training import fit, set_seed  # noqa: E402


def run(seed, deterministic, epochs):
    set_seed(seed, deterministic=deterministic)
    model = build_model(dropout=0.2)
    inputs, labels = make_data(n=2048)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).shuffle(2048).batch(64)
    start = time.perf_counter()
    fit(model, dataset, epochs=epochs, verbose=0)
    return model, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_prefix")
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--no-determinism", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    seconds = []
    for i, seed in enumerate(args.seeds):
        model, elapsed = run(seed, not args.no_determinism, args.epochs)
        np.savez(f"{args.out_prefix}_{i}.npz", **weights_dict(model))
        seconds.append(elapsed)
    write_json(f"{args.out_prefix}.json", {"seconds": seconds})


if __name__ == "__main__":
    main()
