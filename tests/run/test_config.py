"""Run configurations: every key checked with its dotted name, TOML and JSON, overrides, relative paths."""

import json

import pytest

from deepfm_keras.run.config import ConfigError, config_from_dict, load_config, parse_override

BASE = {"data": {"format": "csv", "train": "t.csv", "label": "y"}, "features": {"categorical": ["u"]}}


def with_(section, **values):
    raw = json.loads(json.dumps(BASE))
    raw.setdefault(section, {}).update(values)
    return raw


def test_defaults_and_values_pass_through():
    config = config_from_dict(with_("model", hidden_units=[32, 16], dropout=0.25))
    assert config.model.hidden_units == (32, 16) and config.model.dropout == 0.25
    assert config.training.optimizer == "lazy_adam" and config.data.train == ("t.csv",)
    assert config.to_dict()["model"]["hidden_units"] == [32, 16]


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("model", {"dropout": 1.5}, "model.dropout=1.5"),
        ("model", {"dropout": "0.3"}, "model.dropout='0.3'"),
        ("model", {"task": "ranking"}, "one of ['binary', 'regression', 'multiclass']"),
        ("model", {"task": "multiclass"}, "needs `model.num_classes` or `data.classes`"),
        ("model", {"task": "multiclass", "num_classes": 1}, "`model.num_classes` should be"),
        ("model", {"hidden_units": [64, 0]}, "model.hidden_units[1]=0"),
        ("model", {"embedding_dim": True}, "model.embedding_dim=True"),
        ("training", {"epochs": 0}, "training.epochs=0"),
        ("training", {"learning_rate": 0}, "training.learning_rate=0.0"),
        ("training", {"learning_rate": float("nan")}, "training.learning_rate=nan"),
        ("training", {"optimizer": "adamw"}, "training.optimizer='adamw'"),
        ("training", {"lr_decay": 0}, "training.lr_decay=0.0"),
        ("training", {"epoch": 3}, "Unknown key(s) ['epoch'] in [training]"),
        ("data", {"format": "xlsx"}, "data.format='xlsx'"),
        ("data", {"holdout_fraction": 0.95}, "data.holdout_fraction=0.95"),
        ("data", {"train": 3}, "data.train=3"),
        ("features", {"categorical": "u"}, "features.categorical='u'"),
        ("features", {"categorical": [{"num_bins": 10}]}, "features.categorical[0].name=None"),
        ("features", {"multi_categorical": {"genres": ""}}, "features.multi_categorical.genres=''"),
        ("features", {"multi_categorical": {"genres": 3}}, "features.multi_categorical.genres=3"),
        ("features", {"multi_categorical": {"h": {"name": "h"}}}, "`features.multi_categorical.h.name` should be left"),
        ("features", {"multi_categorical": {"h": {"separator": ""}}}, "features.multi_categorical.h.separator=''"),
        ("features", {"numeric_sequence": "prices"}, "features.numeric_sequence='prices'"),
        ("features", {"numeric_sequence": {"prices": None}}, "features.numeric_sequence.prices=None"),
        ("features", {"numeric_sequence": [{"separator": "|"}]}, "features.numeric_sequence[0].name=None"),
        ("output", {"export": "yes"}, "output.export='yes'"),
    ],
)
def test_bad_values_are_refused_with_their_name(section, values, message):
    with pytest.raises(ConfigError) as error:
        config_from_dict(with_(section, **values))
    assert message in str(error.value)


def test_runs_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="Unknown section"):
        config_from_dict({**BASE, "modle": {}})
    with pytest.raises(ConfigError, match="no \\[data\\] section"):
        config_from_dict({"features": {"categorical": ["u"]}})
    with pytest.raises(ConfigError, match="names no column"):
        config_from_dict({"data": BASE["data"]})
    with pytest.raises(ConfigError, match="data.label"):
        config_from_dict({"data": {"train": "t.csv"}, "features": {"categorical": ["u"]}})
    with pytest.raises(ConfigError, match="Criteo test file"):
        config_from_dict({"data": {"format": "criteo", "train": "a.txt"}})
    with pytest.raises(ConfigError, match="leave training rows"):
        config_from_dict(with_("data", holdout_fraction=0.5, validation_fraction=0.5))


def test_toml_file_with_relative_paths_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        '[data]\ntrain = "clicks.csv"\nlabel = "clicked"\n[features]\ncategorical = ["u", { name = "ad", num_bins = 64 }]\n'
        '[output]\ndir = "out"\n'
    )
    config = load_config(path, {"training.epochs": 2, "model.hidden_units": [8]})
    assert config.data.train == (str(tmp_path / "clicks.csv"),) and config.output.dir == str(tmp_path / "out")
    assert config.features.categorical == ("u", {"name": "ad", "num_bins": 64})
    assert config.training.epochs == 2 and config.model.hidden_units == (8,)
    with pytest.raises(ConfigError, match="Unknown section 'trainig'"):
        load_config(path, {"trainig.epochs": 2})
    with pytest.raises(ConfigError, match="training.epochs=-1"):
        load_config(path, {"training.epochs": -1})


def test_parse_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[data]\ntrain = clicks.csv\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML: .*line 2"):
        load_config(path)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(BASE))
    assert load_config(path).features.categorical == ("u",)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


def test_parse_override_reads_toml_values():
    assert parse_override("training.epochs=3") == ("training.epochs", 3)
    assert parse_override("model.dropout=0.5") == ("model.dropout", 0.5)
    assert parse_override("output.export=false") == ("output.export", False)
    assert parse_override('data.group="user_id"') == ("data.group", "user_id")
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("epochs")


def test_override_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "run.toml"
    path.write_text('[data]\ntrain = "in_conf.csv"\nlabel = "y"\n[features]\ncategorical = ["u"]\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.train == (str(tmp_path / "conf" / "in_conf.csv"),)
    config = load_config(path, {"data.train": "data/t.csv", "output.dir": "runs/x"})
    assert config.data.train == (str(tmp_path / "data" / "t.csv"),) and config.output.dir == str(
        tmp_path / "runs" / "x"
    )


LISTS_TOML = """
[data]
train = "t.csv"
label = "y"
[features]
numeric = [{ name = "age", embedding_dim = 2 }]
categorical = ["movie_id", { name = "zip", num_bins = 100, embedding_dim = 4 }]
bucketized = [{ name = "year", num_buckets = 5, embedding_dim = 3 }]
max_len = 20
multi_categorical = { genres = "|", user_items = { separator = ",", weight = "user_item_ratings", embedding_name = "movie_id", max_len = 50, combiner = "sum" } }
numeric_sequence = { prices = "|", clicks = { max_len = 5, log1p = true, combiner = "max" } }
"""


def test_list_features_shared_tables_and_embedding_dims_from_toml(tmp_path):
    from deepfm_keras.encoding import (
        BucketizedColumn,
        CategoricalColumn,
        MultiCategoricalColumn,
        NumericColumn,
        NumericSequenceColumn,
    )
    from deepfm_keras.run.columns import make_encoder

    path = tmp_path / "run.toml"
    path.write_text(LISTS_TOML)
    features = load_config(path).features
    assert features.numeric_sequence == {"prices": "|", "clicks": {"max_len": 5, "log1p": True, "combiner": "max"}}
    encoder = make_encoder(features)
    assert encoder.columns == [
        NumericColumn("age", embedding_dim=2),
        CategoricalColumn("movie_id"),
        CategoricalColumn("zip", num_bins=100, embedding_dim=4),
        BucketizedColumn("year", num_buckets=5, embedding_dim=3),
        MultiCategoricalColumn("genres", "|", max_len=20),
        MultiCategoricalColumn(
            "user_items",
            ",",
            max_len=50,
            combiner="sum",
            weight_column="user_item_ratings",
            embedding_name="movie_id",
        ),
        NumericSequenceColumn("prices", "|"),
        NumericSequenceColumn("clicks", max_len=5, log1p=True, combiner="max"),
    ]
    only_lists = config_from_dict({"data": BASE["data"], "features": {"numeric_sequence": ["prices"]}})
    assert make_encoder(only_lists.features).columns == [NumericSequenceColumn("prices")]
    listed = config_from_dict(
        with_("features", multi_categorical=["g", {"name": "h", "weight_column": "w", "combiner": "max"}], min_count=2)
    )
    assert make_encoder(listed.features).columns[1:] == [
        MultiCategoricalColumn("g", min_count=2),
        MultiCategoricalColumn("h", min_count=2, weight_column="w", combiner="max"),
    ]


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            {"multi_categorical": {"h": {"weight": "w", "combiner": "avg"}}},
            r"`features.multi_categorical.h` = .*: Column 'h': `combiner` should be one of",
        ),
        (
            {"multi_categorical": {"h": {"weights": "w"}}},
            r"`features.multi_categorical.h` = .*unexpected keyword argument 'weights'",
        ),
        (
            {"multi_categorical": {"h": {"weight": "w", "weight_column": "v"}}},
            r"`features.multi_categorical.h` gives both `weight` and `weight_column`",
        ),
        (
            {"multi_categorical": [{"name": "h", "embedding_dim": 0}]},
            r"`features.multi_categorical\[0\]` = .*`embedding_dim` should be an integer >= 1",
        ),
        ({"numeric_sequence": {"p": {"max_len": 0}}}, r"`features.numeric_sequence.p` = .*`max_len` should be"),
        ({"numeric_sequence": [{"name": "p", "weight": "w"}]}, r"`features.numeric_sequence\[0\]` = .*'weight'"),
        ({"categorical": [{"name": "z", "embedding_dim": -1}]}, r"`features.categorical\[0\]` = .*embedding_dim"),
        ({"numeric": [{"name": "x", "embedding_dim": 1.5}]}, r"`features.numeric\[0\]` = .*embedding_dim"),
        (
            {"categorical": ["m"], "min_count": 1, "multi_categorical": {"h": {"embedding_name": "m", "min_count": 3}}},
            r"\[features\]: Columns 'm' and 'h' share the table 'm' \(embedding_name\) but differ in `min_count`",
        ),
        (
            {"categorical": ["m"], "multi_categorical": {"h": {"weight": "m"}}},
            r"\[features\]: Column 'm' is also the `weight_column` of column 'h'",
        ),
    ],
)
def test_bad_list_options_are_refused_naming_the_key(features, message):
    from deepfm_keras.run.columns import make_encoder

    config = config_from_dict({"data": BASE["data"], "features": features})
    with pytest.raises(ConfigError, match=message):
        make_encoder(config.features)
