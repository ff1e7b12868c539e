"""End-to-end run of `examples/criteo.py` on the shared 8,000-row Criteo sample."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "examples" / "criteo.py"


def run_cli(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.slow
def test_criteo_example_trains_and_reports(shared_data, tmp_path):
    d = shared_data / "criteo"
    out = tmp_path / "out"
    result = run_cli(
        "--train", d / "criteo_kaggle_8k_train.txt", "--validation", d / "criteo_kaggle_8k_dev.txt",
        "--test", d / "criteo_kaggle_8k_test.txt", "--output-dir", out, "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lines"] == {part: {"rows_read": n, "malformed_rows": 0}
                                for part, n in (("train", 7200), ("validation", 409), ("test", 391))}  # fmt: skip
    assert metrics["rows"] == {"train": 7200, "validation": 409, "holdout": 391}
    assert len(metrics["validation"]["curve"]) == metrics["epochs_run"]  # early stopping watched the dev lines
    assert metrics["rows_read"] == 8000 and metrics["malformed_rows"] == 0
    assert metrics["test_positive_rate"] == pytest.approx(86 / 391)
    # a model that learned nothing has AUC 0.5 and the logloss of the base rate (0.528)
    assert metrics["auc"] > 0.68
    assert metrics["logloss"] < 0.51
    assert (out / "model.keras").is_file()
    assert "holdout auc" in result.stdout
    # one artifact for TensorFlow Serving, with the hash settings inside, scoring raw lines like the Keras model
    assert (out / "serving" / "1" / "saved_model.pb").is_file()
    assert metrics["serving"]["rows_checked"] == 256 and metrics["serving"]["max_abs_diff_vs_keras"] < 1e-5
    encoder = json.loads((out / "encoder.json").read_text())
    assert encoder["columns"][-1] == {"kind": "categorical", "name": "C26", "min_count": 1, "max_size": None,
                                      "num_bins": 10_000}  # fmt: skip


@pytest.mark.slow
def test_criteo_example_vocabulary_mode_exports_its_vocabularies(shared_data, tmp_path):
    d = shared_data / "criteo"
    out = tmp_path / "out"
    result = run_cli(
        "--train", d / "criteo_kaggle_8k_dev.txt", "--test", d / "criteo_kaggle_8k_test.txt",
        "--output-dir", out, "--epochs", "1", "--min-count", "2", "--max-size", "50",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "vocabulary pass: 409 lines" in result.stderr  # progress of the vocabulary pass
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["serving"]["max_abs_diff_vs_keras"] < 1e-5
    state = json.loads((out / "encoder.json").read_text())["state"]
    assert 0 < len(state["C1"]["vocabulary"]) <= 50
