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

This file is the command line; the jobs live in `benchmarks/movielens/` (one module each: the task,
the data, the measures, the three contender runners, the worker, the interleaving driver, the report,
the comparison and the scaling jobs). Each contender's worker is this same script with `--worker`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from movielens.task import CONTENDERS, DEFAULT_DATA, DEFAULT_PYTHON, RESULTS


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
        from movielens.worker import worker  # a peer's worker imports no deepfm_keras

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
        from movielens.scaling import scaling

        report = {"machine": machine, **scaling(args)}
        out = args.json or RESULTS / "scaling.json"
    else:
        from movielens.compare import compare

        report = compare(args, machine)
        out = args.json or RESULTS / f"movielens_{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
