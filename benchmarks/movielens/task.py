"""The task every contender runs (issue 5), the contender names and the benchmark's paths."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCHMARKS.parent
ENTRY = BENCHMARKS / "benchmark_movielens.py"  # what the driver runs in each worker process
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ml-1m-users1-2999"
DEFAULT_PYTHON = BENCHMARKS / ".venv-bench" / "bin" / "python"
RESULTS = BENCHMARKS / "results"

OURS = ("deepfm_keras", "deepfm_keras_fp32", "deepfm_keras_xla", "deepfm_keras_bf16")
PEERS = ("deepctr", "keras_baseline")
CONTENDERS = (*OURS, *PEERS)
REFERENCE = "deepctr"

SINGLE = ("user_id", "movie_id", "gender", "age", "occupation", "zip")
GENRES_LEN = 6
EMBEDDING_DIM = 16
HIDDEN = (256, 128, 64)
LEARNING_RATE = 1e-3
BATCH = 4096
INFER_BATCH = 8192


def loss_name(task: str) -> str:
    return "binary_crossentropy" if task == "binary" else "mean_squared_error"
