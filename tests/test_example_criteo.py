"""End-to-end run of `examples/criteo.py` on the shared 8,000-row Criteo sample."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
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
        "--train", d / "criteo_kaggle_8k_train.txt", d / "criteo_kaggle_8k_dev.txt",
        "--test", d / "criteo_kaggle_8k_test.txt", "--output-dir", out, "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"] == {"rows_read": 7609, "malformed_rows": 0}
    assert metrics["test"] == {"rows_read": 391, "malformed_rows": 0}
    assert metrics["rows_read"] == 8000 and metrics["malformed_rows"] == 0
    assert metrics["test_positive_rate"] == pytest.approx(86 / 391)
    # a model that learned nothing has AUC 0.5 and the logloss of the base rate (0.528)
    assert metrics["auc"] > 0.68
    assert metrics["logloss"] < 0.51
    assert (out / "model.keras").is_file()
    assert "test AUC" in result.stdout
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


def test_auc_and_logloss_match_naive_definitions():
    spec = importlib.util.spec_from_file_location("example_criteo", SCRIPT)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1)  # many ties
    pairs = [(s1 > s0) + 0.5 * (s1 == s0) for s1 in scores[labels == 1] for s0 in scores[labels == 0]]
    assert example.roc_auc(labels, scores) == pytest.approx(np.mean(pairs))
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    expected = -np.mean([np.log(pi) if y else np.log(1 - pi) for y, pi in zip(labels, p, strict=True)])
    assert example.log_loss(labels, scores) == pytest.approx(expected)
