"""End-to-end run of examples/movielens.py on ML-100K (a couple of epochs)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from deepfm_keras import FeatureEncoder
from deepfm_keras.datasets.movielens import load_movielens
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "examples" / "movielens.py"


def run_example(*args: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_regression_end_to_end_writes_every_output(shared_data, tmp_path):
    out = tmp_path / "out"
    data_dir = shared_data / "ml-100k"
    stdout = run_example("--variant", "ml-100k", "--data-dir", str(data_dir), "--epochs", "2",
                         "--output-dir", str(out), "--quiet")  # fmt: skip
    assert "holdout rmse" in stdout and "Epoch 1/2" not in stdout  # --quiet: summary only

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["epochs_run"] == 2
    assert metrics["rows"] == {"train": 81_000, "validation": 9_000, "holdout": 10_000}
    assert set(metrics["contribution"]) == {"fm_1d", "fm_2d", "deep", "bias"}
    assert metrics["train_examples_per_sec"] > 0
    # Predicting the mean rating gives RMSE ~1.13 on ML-100K; two epochs must do clearly better.
    assert 0.8 < metrics["holdout"]["rmse"] < 1.05
    assert (out / "logs" / "train").is_dir() and (out / "logs" / "contributions").is_dir()
    assert any((out / "logs" / "contributions").iterdir())

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    encoder = FeatureEncoder.load(out / "encoder.json")
    kernel = model.get_layer("combine").kernel.numpy().reshape(-1)
    np.testing.assert_allclose(kernel, [metrics["contribution"][p] for p in ("fm_1d", "fm_2d", "deep")], rtol=1e-6)
    # The history columns come with each request, as a serving system sends the user's recent movies.
    from deepfm_keras.datasets.movielens_history import add_history_columns

    df = load_movielens("ml-100k", data_dir).iloc[:500]
    df = add_history_columns(df, np.ones(len(df), bool))
    pred = model.predict(encoder.transform(df), verbose=0)
    assert pred.shape == (500, 1) and np.isfinite(pred).all()


@pytest.mark.slow
def test_binary_end_to_end(shared_data, tmp_path):
    out = tmp_path / "out"
    run_example("--variant", "ml-100k", "--data-dir", str(shared_data / "ml-100k"), "--task", "binary",
                "--epochs", "1", "--output-dir", str(out), "--quiet")  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["epochs_run"] == 1
    assert 0.6 < metrics["holdout"]["auc"] <= 1.0 and 0 < metrics["holdout"]["logloss"] < 0.7
    assert (out / "model.keras").is_file() and (out / "encoder.json").is_file()


def test_the_example_defaults_are_its_run_config():
    """examples/movielens.toml is the one place of the example's defaults; the script's options only override."""
    import importlib.util

    from deepfm_keras.run.config import load_config

    spec = importlib.util.spec_from_file_location("movielens_example", SCRIPT)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    from_script = example.run_config(example.parse_args([]))
    from_file = load_config(REPO_ROOT / "examples" / "movielens.toml")
    assert from_script.model == from_file.model and from_script.training == from_file.training
    assert from_script.features == from_file.features and from_script.data == from_file.data
    binary = example.run_config(example.parse_args(["--task", "binary", "--patience", "0", "--seed", "7"]))
    assert binary.model.task == "binary" and binary.training.patience == 0 and binary.data.split_seed == 7
    assert binary.data.binary_threshold == 4.0 and binary.data.group == "user_id"
