"""The `deepfm-keras` command: fast --help, argparse refusals, a guessed config, and CSV/Parquet -> train -> predict."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from deepfm_keras import FeatureEncoder
from deepfm_keras.datasets.movielens import load_movielens
from deepfm_keras.run.cli import guess_config


def cli(*args, cwd=None, timeout=300):
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command silences TensorFlow itself
    return subprocess.run(
        [sys.executable, "-m", "deepfm_keras_cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False,
    )  # fmt: skip


def test_help_and_argument_errors_import_no_tensorflow():
    probe = (
        "import sys\nfrom deepfm_keras_cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['train', '--config', 'missing.toml']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "HEAVY []" in out.stdout
    assert "--config CONFIG" in out.stdout and "(default: 100000)" not in out.stdout
    help_text = cli("init", "--help").stdout
    assert "(default: 100000)" in help_text  # defaults are shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--config", "missing.toml"], "file not found: missing.toml"),
        (["train"], "the following arguments are required: --config"),
        (["predict", "--run", ".", "--data", "setup.py", "--output", "o.csv", "--batch-size", "0"],
         "should be a positive integer, got 0"),
        (["fit"], "invalid choice: 'fit'"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_by_argparse(args, message):
    result = cli(*args, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_bad_config_values_exit_2_naming_the_key(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[data]\ntrain = "t.csv"\nlabel = "y"\n[features]\ncategorical = ["u"]\n')
    result = cli("train", "--config", config, "--set", "training.epochs=0")
    assert result.returncode == 2 and "training.epochs=0" in result.stderr and "Traceback" not in result.stderr
    result = cli("train", "--config", config)  # t.csv does not exist
    assert result.returncode == 2 and "Data file not found" in result.stderr and "Traceback" not in result.stderr


def test_guess_config_kinds():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "item_id": rng.integers(0, 300, n),
            "age": rng.integers(18, 80, n),  # many distinct integers, not an id: numeric
            "stars": rng.integers(1, 6, n),  # few distinct integers: categorical
            "price": rng.random(n) * 10,
            "country": rng.choice(["fr", "de", "us"], n),
            "tags": rng.choice(["a|b", "c", "b|c|d"], n),
            "constant": 1,
            "rating": rng.integers(1, 6, n).astype(float),
        }
    )
    text = guess_config(frame, "rating", data_path="r.csv")
    import tomllib

    raw = tomllib.loads(text)
    assert raw["model"]["task"] == "regression" and raw["data"]["label"] == "rating"
    assert sorted(raw["features"]["numeric"]) == ["age", "price"]
    assert sorted(raw["features"]["categorical"]) == ["country", "item_id", "stars"]
    assert raw["features"]["multi_categorical"] == {"tags": "|"} and "left out: constant" in text
    frame["clicked"] = rng.integers(0, 2, n)
    assert tomllib.loads(guess_config(frame, "clicked"))["model"]["task"] == "binary"
    with pytest.raises(ValueError, match="No label column 'clk'"):
        guess_config(frame, "clk")


@pytest.mark.slow
def test_parquet_to_trained_run_to_scored_csv(shared_data, tmp_path):
    df = load_movielens("ml-100k", shared_data / "ml-100k").iloc[:6000]
    df = df.assign(liked=(df["rating"] >= 4).astype(int)).drop(
        columns=["rating", "title", "timestamp"], errors="ignore"
    )
    df.to_parquet(tmp_path / "ratings.parquet", index=False)
    df.iloc[:50].drop(columns=["liked"]).to_csv(tmp_path / "new.csv", index=False)

    result = cli("init", "--data", tmp_path / "ratings.parquet", "--label", "liked", "--output", tmp_path / "run.toml")
    assert result.returncode == 0, result.stderr[-2000:]
    result = cli(
        "train", "--config", tmp_path / "run.toml", "--set", "training.epochs=2", "--set", "model.hidden_units=[16]",
        "--set", "model.embedding_dim=4", "--set", f"output.dir='{tmp_path / 'run'}'", "--set", "data.group='user_id'",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "holdout auc" in result.stdout and "gauc" in result.stdout
    # Quiet start-up. TensorFlow 2.21 prints its oneDNN notice (port.cc) whatever TF_CPP_MIN_LOG_LEVEL says, on CPUs
    # where oneDNN is on by default (seen on an AMX Xeon, not on AMD EPYC); only turning oneDNN off would hide it.
    assert "cpu_feature_guard" not in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["rows"] == {"train": 4860, "validation": 540, "holdout": 600} and metrics["epochs_run"] == 2
    assert metrics["settings"]["data"]["format"] == "parquet" and 0.5 < metrics["holdout"]["auc"] <= 1
    assert metrics["serving"]["max_abs_diff_vs_keras"] < 1e-5

    result = cli("predict", "--run", tmp_path / "run", "--data", tmp_path / "new.csv", "--output", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    scored = pd.read_csv(tmp_path / "s.csv")
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    encoder = FeatureEncoder.load(tmp_path / "run" / "encoder.json")
    expected = model.predict(encoder.transform(pd.read_csv(tmp_path / "new.csv")), verbose=0).reshape(-1)
    assert len(scored) == 50 and list(scored.columns[:-1]) == list(pd.read_csv(tmp_path / "new.csv").columns)
    np.testing.assert_allclose(scored["prediction"], expected, atol=1e-6)


def test_init_guesses_a_binary_task_with_its_positive_value_for_a_two_valued_string_label():
    frame = pd.DataFrame(
        {"age": [25, 38, 52, 41, 33, 60], "class": ["<=50K", ">50K", "<=50K", "<=50K", ">50K", "<=50K"]}
    )
    text = guess_config(frame, "class")
    assert 'task = "binary"' in text and 'positive = ">50K"' in text  # the rarer value is 1
    three = guess_config(frame.assign(c=["a", "b", "c", "a", "b", "c"]), "c")
    assert 'task = "multiclass"' in three and 'classes = ["a", "b", "c"]' in three
    with pytest.raises(ValueError, match="cannot be a regression label"):
        guess_config(frame, "class", task="regression")


@pytest.mark.slow
def test_init_then_train_on_a_string_label_trains(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    workclass = rng.choice(["private", "state", "self"], size=n)
    hours = rng.integers(10, 70, size=n)
    label = np.where((hours > 45) ^ (rng.uniform(size=n) < 0.1), ">50K", "<=50K")
    pd.DataFrame({"workclass": workclass, "hours": hours, "class": label}).to_csv(tmp_path / "adult.csv", index=False)
    result = cli("init", "--data", tmp_path / "adult.csv", "--label", "class", "--output", tmp_path / "run.toml")
    assert result.returncode == 0, result.stderr[-2000:]
    result = cli(
        "train", "--config", tmp_path / "run.toml", "--set", "training.epochs=8", "--set", "model.hidden_units=[8]",
        "--set", "training.batch_size=32", "--set", "training.learning_rate=0.01",
        "--set", f"output.dir='{tmp_path / 'run'}'", "--set", "output.export=false", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["settings"]["data"]["positive"] == ">50K"
    assert metrics["holdout"]["auc"] > 0.8  # the label is (hours > 45) with 10% of it flipped
