"""Shared pytest fixtures and helpers."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The tests compare numbers with float32 NumPy references, on whatever CPU runs them: pin build_deepfm's
# default dtype policy (mixed_bfloat16 on CPUs with bfloat16 instructions). Subprocesses inherit it.
# tests/model/test_precision.py tests the automatic choice and a bfloat16 model explicitly.
os.environ.setdefault("DEEPFM_KERAS_DTYPE_POLICY", "float32")

# Scripts that tests run in subprocesses, not test modules (doctest collection would import them).
collect_ignore = ["workers", "data"]


def shared_data_path() -> Path:
    """The shared real datasets: $DEEPFM_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("DEEPFM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_path()
    if not path.is_dir():
        pytest.fail(f"Shared test data not found at {path}; set DEEPFM_SHARED_DATA.")
    return path
