"""The shared pipeline's pieces: the split, the encoder from a [features] section, labels and data errors."""

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.run.columns import make_encoder
from deepfm_keras.run.config import ConfigError, config_from_dict
from deepfm_keras.run.pipeline import run
from deepfm_keras.run.sources import _load_frames
from deepfm_keras.run.tables import DataError, labels_of, read_table, split_by_time, split_rows


def config(**data):
    return config_from_dict(
        {"data": {"format": "csv", "train": "t.csv", "label": "y", **data}, "features": {"categorical": ["u"]}}
    )


def test_split_is_seeded_disjoint_and_complete():
    train, val, test = split_rows(1000, seed=7, holdout=0.2, validation=0.25)
    assert (len(train), len(val), len(test)) == (600, 200, 200)
    assert len(np.unique(np.concatenate([train, val, test]))) == 1000
    again = split_rows(1000, seed=7, holdout=0.2, validation=0.25)
    assert all((a == b).all() for a, b in zip((train, val, test), again, strict=True))
    assert not (split_rows(1000, seed=8, holdout=0.2)[2] == test).all()


def test_encoder_from_option_tables():
    features = config_from_dict(
        {
            "data": {"train": "t.csv", "label": "y"},
            "features": {
                "numeric": [{"name": "price", "clip_min": 0.0}],
                "categorical": ["u", {"name": "ad", "num_bins": 64}],
                "bucketized": [{"name": "age", "boundaries": [18, 30, 50]}],
                "multi_categorical": {"tags": ";"},
                "min_count": 2,
            },
        }
    ).features
    encoder = make_encoder(features)
    frame = pd.DataFrame(
        {
            "price": [-1.0, 2.0, 3.0],
            "u": ["a", "a", "b"],
            "ad": [1, 2, 3],
            "age": [10, 40, 70],
            "tags": ["x;y", "x", ""],
        }
    )
    x = encoder.fit_transform(frame)
    assert set(x) == {"price", "u", "ad", "age", "tags"}
    kinds = {c["name"]: c for c in encoder.to_config()["columns"]}
    assert kinds["ad"]["num_bins"] == 64 and kinds["u"]["min_count"] == 2
    assert kinds["age"]["kind"] == "bucketized" and kinds["tags"]["separator"] == ";"
    assert x["u"][2] == x["u"][0] or x["u"][2] == 1  # "b" seen once < min_count: the OOV id
    assert x["price"][0] == x["price"].min()  # clipped at 0 before scaling


def test_labels_are_checked_and_thresholded():
    frame = pd.DataFrame({"y": [1.0, 5.0, 3.0], "u": [1, 2, 3]})
    assert labels_of(frame, config(binary_threshold=4.0), "training").tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(DataError, match=r"no label column 'y'.*\['x'\]"):
        labels_of(pd.DataFrame({"x": [1]}), config(), "training")
    with pytest.raises(DataError, match=r"1 missing or non-numeric value\(s\); first at row 1: 'five'"):
        labels_of(pd.DataFrame({"y": ["1", "five"]}), config(), "validation")


def test_run_refuses_labels_a_binary_task_cannot_take(tmp_path):
    frame = pd.DataFrame({"y": np.arange(50) % 3, "u": np.arange(50) % 5})
    bad = config_from_dict(
        {
            "data": {"format": "csv", "train": "unused.csv", "label": "y"},
            "features": {"categorical": ["u"]},
            "output": {"dir": str(tmp_path)},
        }
    )
    with pytest.raises(DataError, match=r"0/1 labels.*binary_threshold"):
        run(bad, frame=frame, log=lambda _: None)


def test_read_table_errors(tmp_path):
    with pytest.raises(DataError, match="Data file not found: .*nope.csv"):
        read_table([str(tmp_path / "nope.csv")], "csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    with pytest.raises(DataError, match="has no row"):
        read_table([str(empty)], "csv")
    one, two = tmp_path / "1.csv", tmp_path / "2.csv"
    one.write_text("a,b\n1,2\n")
    two.write_text("a,b\n3,4\n")
    assert read_table([str(one), str(two)], "csv")["a"].tolist() == [1, 3]


def test_split_by_time_holds_out_the_latest_rows():
    times = np.random.default_rng(0).permutation(100)
    train, val, test = split_by_time(times, holdout=0.1, validation=0.2)
    assert (len(train), len(val), len(test)) == (72, 18, 10)
    assert times[train].max() < times[val].min() and times[val].max() < times[test].min()


def test_given_files_replace_the_split(tmp_path):
    frame = pd.DataFrame({"y": np.arange(200) % 2, "u": np.arange(200) % 7, "t": np.arange(200)})
    frame.iloc[:20].to_csv(tmp_path / "test.csv", index=False)
    cfg = config_from_dict(
        {"data": {"train": "x.csv", "test": str(tmp_path / "test.csv"), "label": "y", "time_column": "t",
                  "validation_fraction": 0.25}, "features": {"categorical": ["u"]}}
    )  # fmt: skip
    train, val, test = _load_frames(cfg, frame)
    assert len(test) == 20 and len(val) == 50 and len(train) == 150 and train["t"].max() < val["t"].min()
    cfg = config_from_dict({"data": {"train": "x.csv", "label": "y", "time_column": "when"},
                            "features": {"categorical": ["u"]}})  # fmt: skip
    with pytest.raises(DataError, match="time_column.*'when'"):
        _load_frames(cfg, frame)


def test_training_weights_come_from_the_weight_column_and_the_class_weight():
    from deepfm_keras.run.config import ConfigError
    from deepfm_keras.run.tables import weights_of

    frame = pd.DataFrame({"y": [0, 1, 1, 0], "u": [1, 2, 3, 4], "w": [0.5, 2.0, 0.0, 1.0]})
    y = frame["y"].to_numpy("float32")
    assert weights_of(frame, y, config()) is None
    np.testing.assert_allclose(weights_of(frame, y, config(weight="w")), [0.5, 2.0, 0.0, 1.0])
    cfg = config_from_dict(
        {
            "data": {"format": "csv", "train": "t.csv", "label": "y", "weight": "w", "class_weight": {"0": 10, "1": 1}},
            "features": {"categorical": ["u"]},
        }
    )
    assert cfg.data.class_weight == {0: 10.0, 1: 1.0}
    np.testing.assert_allclose(weights_of(frame, y, cfg), [5.0, 2.0, 0.0, 10.0])
    with pytest.raises(DataError, match=r"weight column 'w'.*row 1: -1.0 should be a finite number >= 0"):
        weights_of(frame.assign(w=[1.0, -1.0, 1.0, 1.0]), y, config(weight="w"))
    with pytest.raises(DataError, match=r"`data.weight` names column 'nope'"):
        weights_of(frame, y, config(weight="nope"))
    with pytest.raises(ConfigError, match=r"`data.class_weight` should be a table with keys 0 and 1"):
        config(class_weight={"1": 1.0})
    with pytest.raises(ConfigError, match=r"`data.class_weight.0` should be a finite number > 0. Received: 0"):
        config(class_weight={"0": 0, "1": 1.0})


def test_a_run_trains_with_row_weights(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.integers(0, 2, 400), "u": rng.integers(0, 20, 400), "w": rng.random(400)})
    cfg = config_from_dict(
        {
            "data": {
                "format": "csv",
                "train": "unused.csv",
                "label": "y",
                "weight": "w",
                "class_weight": {"0": 2, "1": 1},
            },
            "features": {"categorical": ["u"]},
            "model": {"embedding_dim": 4, "hidden_units": [8]},
            "training": {"epochs": 1, "batch_size": 64},
            "output": {"dir": str(tmp_path), "tensorboard": False, "export": False},
        }
    )
    metrics = run(cfg, frame=frame, log=lambda _: None, verbose=0)
    assert metrics["settings"]["data"]["weight"] == "w"
    assert np.isfinite(metrics["holdout"]["auc"])


def test_dataset_knobs_live_in_their_sub_tables_and_other_sources_refuse_them():
    from deepfm_keras.run.config import ConfigError
    from deepfm_keras.run.sources import prepare

    frame = pd.DataFrame({"y": np.arange(40) % 2, "u": np.arange(40) % 5})
    with pytest.raises(ConfigError, match=r"`data.history` is now `data.movielens.history`"):
        config(history=True)
    with pytest.raises(ConfigError, match=r"`data.movielens.history` should be true or false"):
        config(movielens={"history": "yes"})
    with pytest.raises(ConfigError, match=r"`data.movielens.history` = True is not used with data.format = 'csv'"):
        prepare(config(movielens={"history": True}), frame=frame)
    with pytest.raises(ConfigError, match=r"`data.criteo.min_count` = 5 is not used with data.format = 'csv'"):
        prepare(config(criteo={"min_count": 5}), frame=frame)
    with pytest.raises(ConfigError, match=r"`features.criteo_min_count` is now `data.criteo.min_count`"):
        config_from_dict({"data": {"train": "t.csv", "label": "y"}, "features": {"criteo_min_count": 3}})


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("data", {"group": "C1"}, "data.group"),
        ("data", {"weight": "w"}, "data.weight"),
        ("data", {"time_column": "t"}, "data.time_column"),
        ("data", {"holdout_fraction": 0.2}, "data.holdout_fraction"),
        ("features", {"categorical": ["C1"]}, "features.categorical"),
        ("data", {"movielens": {"variant": "ml-100k"}}, "data.movielens.variant"),
    ],
)
def test_a_criteo_run_refuses_the_table_keys_naming_them(section, values, key, tmp_path):
    from deepfm_keras.run.config import ConfigError
    from deepfm_keras.run.sources import prepare

    raw = {"data": {"format": "criteo", "train": "a.txt", "test": "b.txt"}}
    raw.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=rf"`{key}` = .* is not used with data.format = 'criteo'"):
        prepare(config_from_dict(raw))


def test_a_table_run_refuses_the_shuffle_buffer_of_streamed_files():
    from deepfm_keras.run.config import ConfigError
    from deepfm_keras.run.sources import prepare

    cfg = config_from_dict({"data": {"train": "t.csv", "label": "y"}, "features": {"categorical": ["u"]},
                            "training": {"shuffle_buffer": 4}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"`training.shuffle_buffer` = 4 is not used .*shuffled whole"):
        prepare(cfg, frame=pd.DataFrame({"y": [0, 1], "u": [1, 2]}))


def test_a_string_label_with_data_positive_is_binary():
    cfg = config(positive=">50K")
    frame = pd.DataFrame({"y": ["<=50K", ">50K", " >50K", "<=50K"]})
    assert labels_of(frame, cfg, "training").tolist() == [0.0, 1.0, 1.0, 0.0]
    with pytest.raises(DataError, match=r"`data.positive` is '>50K', which label column 'y' .* never holds"):
        labels_of(pd.DataFrame({"y": ["a", "b"]}), cfg, "training")
    with pytest.raises(DataError, match=r"holds 3 values"):
        labels_of(pd.DataFrame({"y": ["<=50K", ">50K", "?"]}), cfg, "training")
    with pytest.raises(DataError, match=r"It holds the values \['<=50K', '>50K'\]: set data.positive"):
        labels_of(frame, config(), "training")
    with pytest.raises(ConfigError, match=r"`data.positive` makes 0/1 labels"):
        config_from_dict({"data": {"train": "t.csv", "label": "y", "positive": "a"}, "model": {"task": "regression"},
                          "features": {"categorical": ["u"]}})  # fmt: skip


def test_read_table_knows_gzip_by_its_first_bytes(tmp_path):
    import gzip

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    for name in ("t.csv", "t.CSV.GZ", "t.txt"):
        with gzip.open(tmp_path / name, "wt") as f:
            frame.to_csv(f, index=False)
        pd.testing.assert_frame_equal(read_table([str(tmp_path / name)]), frame)
    frame.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table([str(tmp_path / "t.parquet")], nrows=2), frame.iloc[:2])


def multiclass_config(tmp_path, **data):
    return config_from_dict(
        {
            "data": {"format": "csv", "train": "unused.csv", "label": "y", **data},
            "features": {"categorical": ["u"], "numeric": ["x"]},
            "model": {"task": "multiclass", "embedding_dim": 4, "hidden_units": [8]},
            "training": {"epochs": 3, "batch_size": 64, "learning_rate": 0.01},
            "output": {"dir": str(tmp_path), "tensorboard": False, "export": True},
        }
    )


def test_a_multiclass_run_learns_named_classes_and_serves_them(tmp_path):
    from deepfm_keras import FeatureEncoder, load_model
    from deepfm_keras.metrics import holdout_metrics

    rng = np.random.default_rng(0)
    n = 1200
    u = rng.integers(0, 30, n)
    frame = pd.DataFrame({"u": u, "x": rng.normal(size=n), "y": np.array(["news", "sport", "film"])[u % 3]})
    cfg = multiclass_config(tmp_path, classes=["news", "sport", "film"])
    assert cfg.model.num_classes == 3
    metrics = run(cfg, frame=frame, log=lambda _: None, verbose=0)
    assert set(metrics["holdout"]) == {"logloss", "accuracy", "top2_accuracy"}
    assert metrics["holdout"]["accuracy"] > 0.9  # the class is a function of u; chance is 1/3
    assert metrics["serving"]["max_abs_diff_vs_keras"] < 1e-5
    # The metrics are those of the saved model, recomputed by hand on the holdout rows.
    model = load_model(tmp_path / "model.keras", compile=False)
    encoder = FeatureEncoder.load(tmp_path / "encoder.json")
    _, _, test = _load_frames(cfg, frame)
    p = model.predict(encoder.transform(test), verbose=0)
    assert p.shape == (len(test), 3)
    ids = test["y"].map({"news": 0, "sport": 1, "film": 2}).to_numpy()
    assert holdout_metrics("multiclass", ids, p) == pytest.approx(metrics["holdout"], rel=1e-5)
    assert -np.mean(np.log(np.clip(p[np.arange(len(ids)), ids], 1e-7, 1))) == pytest.approx(
        metrics["holdout"]["logloss"], rel=1e-5
    )
    # `deepfm-keras predict` writes the most likely class id and one probability column per class.
    from deepfm_keras.run.cli import main

    test.drop(columns="y").to_csv(tmp_path / "new.csv", index=False)
    assert (
        main(
            [
                "predict",
                "--run",
                str(tmp_path),
                "--data",
                str(tmp_path / "new.csv"),
                "--output",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    scored = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(scored[["probability_0", "probability_1", "probability_2"]].to_numpy(), p, atol=1e-6)
    assert (scored["prediction"].to_numpy() == p.argmax(axis=1)).all()


def test_multiclass_labels_and_settings_are_checked(tmp_path):
    from deepfm_keras.run.config import ConfigError

    frame = pd.DataFrame({"u": [1, 2, 3, 4], "x": [0.0, 1, 2, 3], "y": ["news", "sport", "weather", "news"]})
    with pytest.raises(
        DataError, match=r"holds 'weather' at row 2, which is not one of data.classes \['news', 'sport'\]"
    ):
        labels_of(frame, multiclass_config(tmp_path, classes=["news", "sport"]), "training")
    ids = config_from_dict(
        {"data": {"format": "csv", "train": "t.csv", "label": "y"}, "features": {"categorical": ["u"]},
         "model": {"task": "multiclass", "num_classes": 3}}
    )  # fmt: skip
    assert labels_of(pd.DataFrame({"y": [0, 2.0, "1"]}), ids, "training").tolist() == [0, 2, 1]
    with pytest.raises(DataError, match=r"holds 3 at row 1: a multi-class label should be a class id in 0 \.\. 2"):
        labels_of(pd.DataFrame({"y": [0, 3]}), ids, "training")
    with pytest.raises(DataError, match=r"holds 1.5 at row 0"):
        labels_of(pd.DataFrame({"y": [1.5]}), ids, "training")
    stars = multiclass_config(tmp_path, classes=[1, 2, 3, 4, 5])
    assert labels_of(pd.DataFrame({"y": [5, 1.0, 3]}), stars, "training").tolist() == [4, 0, 2]
    with pytest.raises(ConfigError, match=r"needs `model.num_classes` or `data.classes`"):
        multiclass_config(tmp_path)
    with pytest.raises(ConfigError, match=r"`data.classes` should be a list without repeats"):
        multiclass_config(tmp_path, classes=["a", "a"])
    with pytest.raises(ConfigError, match=r"are for model.task = 'multiclass'"):
        config(classes=["a", "b"])


@pytest.mark.slow
def test_a_criteo_run_stops_early_writes_tensorboard_and_validates_on_held_out_lines(shared_data, tmp_path):
    """The Criteo source runs the one pipeline: patience, lr decay, TensorBoard and the validation split hold."""
    import glob
    import json

    criteo = shared_data / "criteo"
    cfg = config_from_dict({
        "data": {"format": "criteo", "train": str(criteo / "criteo_kaggle_8k_train.txt"),
                 "test": str(criteo / "criteo_kaggle_8k_test.txt"), "validation_fraction": 0.2},
        "model": {"embedding_dim": 4, "hidden_units": [16]},
        "training": {"epochs": 40, "batch_size": 256, "learning_rate": 0.05, "patience": 1, "lr_decay": 0.5,
                     "lr_patience": 1},
        "output": {"dir": str(tmp_path / "run"), "export": False, "tensorboard": True},
    })  # fmt: skip
    metrics = run(cfg, log=lambda _: None, verbose=0)
    assert metrics["epochs_run"] < 40  # early stopping on the held-out lines (before: all 40 epochs ran)
    assert metrics["epochs_run"] == metrics["best_epoch"] + 1
    assert metrics["lines"]["train"]["rows_read"] + metrics["lines"]["validation"]["rows_read"] == 7200
    assert metrics["lines"]["validation"]["rows_read"] == 1440  # one line in 5
    assert np.isfinite(metrics["validation"]["auc"]) and metrics["replicas"] == 1
    assert glob.glob(str(tmp_path / "run" / "logs" / "contributions" / "*tfevents*"))
    assert set(metrics["contribution_share"]) == {"fm_1d", "fm_2d", "deep"}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["holdout"] == pytest.approx(metrics["holdout"]) and saved["rows"]["holdout"] == 391
