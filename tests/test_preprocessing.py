"""Tests of FeatureEncoder (pandas path), canonical_string and make_dataset against naive references."""

import json
import subprocess
import sys
from collections import Counter

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras import (
    CategoricalFeature,
    FeatureEncoder,
    MultiCategoricalFeature,
    NumericFeature,
    build_deepfm,
    canonical_string,
    get_strategy,
    make_dataset,
)
from deepfm_keras.preprocessing import OOV_ID, PAD_ID


def naive_vocabulary(values, min_count=1):
    """Reference: keys of non-missing values, most frequent first, ties by key."""
    counts = Counter(k for k in (canonical_string(v) for v in values) if k is not None)
    return [k for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]


def naive_ids(values, vocabulary):
    ids = {k: i + 2 for i, k in enumerate(vocabulary)}
    return np.array([ids.get(canonical_string(v), OOV_ID) for v in values], dtype="int64")


def naive_tokens(value, sep):
    if not isinstance(value, str):
        return []
    return [t.strip() for t in value.split(sep) if t.strip()]


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 500
    users = rng.integers(0, 40, n).astype("float64")
    users[rng.random(n) < 0.05] = np.nan  # a float column with NaN, as pandas reads ints with gaps
    genres_pool = ["Action", "Comedy", " Drama ", "Sci-Fi", "", "Horror"]
    genres = ["|".join(rng.choice(genres_pool, rng.integers(0, 5))) for _ in range(n)]
    genres[3] = None
    year = rng.normal(1990, 10, n)
    year[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "user": users,
            "gender": rng.choice(["M", "F", None], n, p=[0.6, 0.35, 0.05]),
            "genres": genres,
            "year": year,
            "unused": np.arange(n),
        }
    )


def encoder(**kwargs):
    return FeatureEncoder(numeric=["year"], categorical=["user", "gender"], multi_categorical={"genres": "|"}, **kwargs)


# --------------------------------------------------------------------------- canonical_string


@pytest.mark.parametrize(
    "value, key",
    [
        ("abc", "abc"),
        (" a ", " a "),
        ("", None),
        (7, "7"),
        (np.int64(-3), "-3"),
        (260.0, "260"),
        (np.float32(260.0), "260"),
        (0.5, "0.5"),
        (float("nan"), None),
        (None, None),
        (pd.NA, None),
        (True, "True"),
        (b"xy", "xy"),
    ],
)
def test_canonical_string(value, key):
    assert canonical_string(value) == key


# --------------------------------------------------------------------------- FeatureEncoder


def test_categorical_ids_match_naive_reference(table):
    enc = encoder().fit(table)
    x = enc.transform(table)
    for col in ("user", "gender"):
        vocab = naive_vocabulary(table[col])
        assert enc.vocabularies[col] == vocab
        np.testing.assert_array_equal(x[col], naive_ids(table[col], vocab))
        assert x[col].dtype == np.int64 and x[col].shape == (len(table),)
    assert x["user"][np.isnan(table["user"].to_numpy())].tolist() == [OOV_ID] * int(table["user"].isna().sum())


def test_integral_floats_and_ints_share_keys():
    enc = FeatureEncoder(categorical=["id"]).fit(pd.DataFrame({"id": [260, 261, 261]}))
    assert enc.vocabularies["id"] == ["261", "260"]
    x = enc.transform(pd.DataFrame({"id": [260.0, np.nan, 261.0, 5.5]}))
    assert x["id"].tolist() == [3, OOV_ID, 2, OOV_ID]
    x = enc.transform({"id": ["260", "261", None, ""]})  # a dict of columns works too
    assert x["id"].tolist() == [3, 2, OOV_ID, OOV_ID]


def test_unseen_values_go_to_oov_never_out_of_range(table):
    enc = encoder().fit(table.iloc[:250])
    x = enc.transform(table.iloc[250:])
    spec = {f.name: f for f in enc.feature_spec}
    for col in ("user", "gender", "genres"):
        assert x[col].min() >= 0 and x[col].max() < spec[col].vocabulary_size
    unseen = ~table["user"].iloc[250:].map(canonical_string).isin(enc.vocabularies["user"]).to_numpy()
    assert unseen.any()
    assert (x["user"][unseen] == OOV_ID).all() and (x["user"][~unseen] >= 2).all()
    x = enc.transform(pd.DataFrame({"user": [999], "gender": ["X"], "genres": ["Western|Comedy"], "year": [2000.0]}))
    assert x["user"].tolist() == [OOV_ID] and x["gender"].tolist() == [OOV_ID]
    assert x["genres"][0, :2].tolist() == [OOV_ID, 2 + enc.vocabularies["genres"].index("Comedy")]


def test_min_count_sends_rare_values_to_oov(table):
    enc = encoder(min_count=15).fit(table)
    counts = Counter(canonical_string(v) for v in table["user"] if not pd.isna(v))
    assert set(enc.vocabularies["user"]) == {k for k, n in counts.items() if n >= 15}
    assert 0 < len(enc.vocabularies["user"]) < len(counts)
    x = enc.transform(table)
    rare = table["user"].map(lambda v: not pd.isna(v) and counts[canonical_string(v)] < 15).to_numpy()
    assert rare.any() and (x["user"][rare] == OOV_ID).all()
    np.testing.assert_array_equal(x["user"], naive_ids(table["user"], naive_vocabulary(table["user"], 15)))


def test_multi_categorical_matches_naive_reference(table):
    enc = encoder().fit(table)
    x = enc.transform(table)["genres"]
    token_lists = [naive_tokens(v, "|") for v in table["genres"]]
    vocab = naive_vocabulary([t for tokens in token_lists for t in tokens])
    assert enc.vocabularies["genres"] == vocab and "" not in vocab and "Drama" in vocab
    max_len = max(len(t) for t in token_lists)
    assert enc.max_lens["genres"] == max_len and x.shape == (len(table), max_len) and x.dtype == np.int64
    ids = {k: i + 2 for i, k in enumerate(vocab)}
    expected = np.zeros((len(table), max_len), "int32")
    for row, tokens in enumerate(token_lists):
        expected[row, : len(tokens)] = [ids[t] for t in tokens]
    np.testing.assert_array_equal(x, expected)
    assert (x[3] == PAD_ID).all()  # None row: all padding


def test_multi_categorical_truncation_padding_and_lists():
    train = pd.DataFrame({"g": ["a|b|c", "b", "c|a", ""]})
    enc = FeatureEncoder(multi_categorical={"g": "|"}, max_len={"g": 2}).fit(train)
    ids = {k: i + 2 for i, k in enumerate(enc.vocabularies["g"])}
    x = enc.transform(pd.DataFrame({"g": ["c|b|a", "a", " z |  | b", None]}))["g"]
    assert x.tolist() == [[ids["c"], ids["b"]], [ids["a"], PAD_ID], [OOV_ID, ids["b"]], [PAD_ID, PAD_ID]]
    learned = FeatureEncoder(multi_categorical={"g": "|"}).fit(train)
    assert learned.max_lens == {"g": 3}
    lists = learned.transform(pd.DataFrame({"g": [["c", "b", "a", "b"], ("a",), np.array(["b"])]}))["g"]
    strings = learned.transform(pd.DataFrame({"g": ["c|b|a|b", "a", "b"]}))["g"]
    np.testing.assert_array_equal(lists, strings)
    assert FeatureEncoder(multi_categorical={"g": "|"}, max_len=5).fit(train).max_lens == {"g": 5}


def test_numeric_standardised_and_nan_filled_with_mean(table):
    enc = encoder().fit(table)
    values = table["year"].to_numpy()
    mean, std = np.nanmean(values), np.nanstd(values)
    assert enc.numeric_stats["year"] == pytest.approx({"mean": mean, "std": std})
    x = enc.transform(table)["year"]
    assert x.dtype == np.float32 and x.shape == (len(table),)
    np.testing.assert_allclose(x, np.nan_to_num((values - mean) / std, nan=0.0), rtol=1e-5, atol=1e-6)
    assert not np.isnan(x).any() and (x[np.isnan(values)] == 0.0).all()


def test_numeric_constant_and_all_missing_columns():
    enc = FeatureEncoder(numeric=["a", "b"]).fit(pd.DataFrame({"a": [3.0, 3.0], "b": [None, None]}))
    assert enc.numeric_stats == {"a": {"mean": 3.0, "std": 1.0}, "b": {"mean": 0.0, "std": 1.0}}
    x = enc.transform(pd.DataFrame({"a": [5, 3], "b": [1.5, None]}))
    assert x["a"].tolist() == [2.0, 0.0] and x["b"].tolist() == [1.5, 0.0]


def test_errors_name_the_column(table):
    enc = encoder().fit(table)
    with pytest.raises(ValueError, match="'gender' is missing"):
        enc.transform(table.drop(columns=["gender"]))
    with pytest.raises(ValueError, match="'year' is numeric"):
        enc.transform(table.assign(year="x"))
    with pytest.raises(ValueError, match="'year' holds infinite"):
        enc.transform(table.assign(year=np.inf))
    with pytest.raises(ValueError, match="'genres' is multi-categorical"):
        enc.transform(table.assign(genres=1.5))
    with pytest.raises(ValueError, match="'user' is categorical"):
        enc.transform(table.assign(user=[[1, 2]] * len(table)))
    with pytest.raises(ValueError, match="'year' holds infinite"):
        encoder().fit(table.assign(year=-np.inf))
    with pytest.raises(RuntimeError, match="not fitted"):
        encoder().transform(table)
    with pytest.raises(ValueError, match="different numbers of rows"):
        enc.transform({"user": [1, 2], "gender": ["M"], "genres": ["a"], "year": [1.0]})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"categorical": ["a"], "min_count": 0}, "min_count"),
        ({"categorical": ["a"], "numeric": ["a"]}, "more than one kind"),
        ({"multi_categorical": {"g": ""}}, "separator of multi-categorical column 'g'"),
        ({"multi_categorical": {"g": "|"}, "max_len": {"h": 2}}, "not multi-categorical"),
        ({"multi_categorical": {"g": "|"}, "max_len": 0}, "max_len"),
        ({"categorical": "abc"}, "list of column names"),
        ({}, "at least one"),
        ({"categorical": ["bad name"]}, "name"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureEncoder(**kwargs)


def test_feature_spec(table):
    enc = encoder().fit(table)
    assert enc.feature_spec == [
        NumericFeature("year"),
        CategoricalFeature("user", len(enc.vocabularies["user"]) + 2),
        CategoricalFeature("gender", len(enc.vocabularies["gender"]) + 2),
        MultiCategoricalFeature("genres", len(enc.vocabularies["genres"]) + 2, enc.max_lens["genres"]),
    ]
    assert list(enc.transform(table)) == [f.name for f in enc.feature_spec]


def test_save_load_reproduces_arrays(table, tmp_path):
    enc = encoder(min_count=2, max_len={"genres": 3}).fit(table.iloc[:300])
    path = tmp_path / "encoder.json"
    enc.save(path)
    state = json.loads(path.read_text(encoding="utf-8"))  # plain, versioned JSON
    assert state["format_version"] == 2 and [c["name"] for c in state["columns"]] == [
        "year",
        "user",
        "gender",
        "genres",
    ]
    assert state["state"]["gender"]["vocabulary"] == enc.vocabularies["gender"]
    assert {k: state["state"]["year"][k] for k in ("mean", "std")} == enc.numeric_stats["year"]
    loaded = FeatureEncoder.load(path)
    assert loaded.to_config() == enc.to_config() and loaded.feature_spec == enc.feature_spec
    a, b = enc.transform(table), loaded.transform(table)
    assert a.keys() == b.keys()
    for col in a:
        assert a[col].dtype == b[col].dtype
        np.testing.assert_array_equal(a[col], b[col])
    unfitted = FeatureEncoder.from_config(encoder().to_config())
    assert not unfitted.is_fitted


def test_output_feeds_the_model(table):
    enc = encoder().fit(table)
    model = build_deepfm(enc.feature_spec, embedding_dim=4, hidden_units=(8,))
    assert model.predict(enc.transform(table), verbose=0).shape == (len(table), 1)


def test_encodes_a_million_rows():  # speed is measured in benchmarks/benchmark_encoding.py, not asserted here
    rng = np.random.default_rng(1)
    n = 1_000_000
    df = pd.DataFrame(
        {
            "year": rng.normal(size=n),
            "user": rng.integers(0, 6000, n),
            "gender": rng.choice(["M", "F"], n),
            "genres": rng.choice(["Action|Comedy", "Drama", "Sci-Fi|Horror|Drama", ""], n),
        }
    )
    x = encoder().fit_transform(df)
    assert x["genres"].shape == (n, 3)
    assert x["genres"][df["genres"].to_numpy() == ""].max() == 0


# --------------------------------------------------------------------------- make_dataset


def epoch_rows(dataset):
    return [b[0]["a"].numpy().tolist() for b in dataset]


def test_make_dataset_covers_every_row_once_and_reshuffles():
    n = 103
    x = {"a": np.arange(n), "m": np.arange(2 * n).reshape(n, 2).astype("int32")}
    y = np.arange(n) * 10.0
    ds = make_dataset(x, y, batch_size=16, seed=5)
    assert int(ds.cardinality()) == 7
    first, second = epoch_rows(ds), epoch_rows(ds)
    assert [len(b) for b in first] == [16] * 6 + [7]
    assert sorted(sum(first, [])) == list(range(n)) and sorted(sum(second, [])) == list(range(n))
    assert first != second  # a new permutation each epoch
    assert epoch_rows(make_dataset(x, y, batch_size=16, seed=5)) == first  # seeded
    for xb, yb in ds.take(2):
        np.testing.assert_array_equal(yb.numpy(), xb["a"].numpy() * 10.0)
        np.testing.assert_array_equal(xb["m"].numpy(), x["m"][xb["a"].numpy()])
        assert yb.dtype == tf.float32


def test_make_dataset_in_order_drop_remainder_and_no_labels():
    x = {"a": np.arange(10)}
    assert epoch_rows(make_dataset(x, np.zeros(10), batch_size=4, shuffle=False)) == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
    ds = make_dataset(x, np.zeros(10), batch_size=4, drop_remainder=True, seed=0)
    assert [len(b) for b in epoch_rows(ds)] == [4, 4]
    batches = list(make_dataset(x, batch_size=6, shuffle=False))
    assert isinstance(batches[0], dict) and batches[1]["a"].numpy().tolist() == [6, 7, 8, 9]


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        ({"a": np.arange(3)}, np.arange(4), {"batch_size": 2}, "same number of rows"),
        ({"a": np.arange(3)}, None, {"batch_size": 0}, "batch_size"),
        ({}, None, {"batch_size": 2}, "non-empty"),
        ({"a": np.arange(3)}, None, {"batch_size": 4, "drop_remainder": True}, "no batch"),
    ],
)
def test_make_dataset_bad_arguments(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_dataset(x, y, **kwargs)


def test_make_dataset_trains_under_mirrored_strategy(table):
    enc = encoder().fit(table)
    y = (table["gender"] == "M").to_numpy("float32")
    # get_strategy() is the default strategy on one device: ask for a (one-replica) MirroredStrategy.
    strategy = get_strategy(tf.distribute.MirroredStrategy(["/cpu:0"]))
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    with strategy.scope():
        model = build_deepfm(enc.feature_spec, embedding_dim=4, hidden_units=(8,))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    ds = make_dataset(enc.transform(table), y, batch_size=64, seed=0)
    history = model.fit(ds, epochs=3, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]


TWO_REPLICAS = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from deepfm_keras import CategoricalFeature, build_deepfm, make_dataset
rng = np.random.default_rng(0)
x = {"u": rng.integers(2, 50, 1001).astype("int32")}
y = (x["u"] % 2).astype("float32")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build_deepfm([CategoricalFeature("u", 50)], embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
history = model.fit(make_dataset(x, y, batch_size=64, seed=0), epochs=2, verbose=0, shuffle=False)
print("replicas", strategy.num_replicas_in_sync, "loss", history.history["loss"])
"""


@pytest.mark.slow
def test_make_dataset_trains_on_two_replicas():
    # 1001 rows at global batch 64: the last batch (41 rows) splits unevenly across the replicas.
    result = subprocess.run([sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    losses = [float(v) for v in result.stdout.split("[")[1].rstrip("]\n").split(",")]
    assert losses[1] < losses[0]


def test_hostile_values_and_files(table, tmp_path):
    enc = encoder().fit(table)
    with pytest.raises(ValueError, match="'year' holds values beyond the float32 range"):
        enc.transform(table.assign(year=1e308))
    with pytest.raises(ValueError, match="DataFrame or a dict"):
        enc.transform("hello")
    assert canonical_string(b"caf\xe9") == "caf\udce9"  # invalid UTF-8 keeps its bytes (surrogate escapes)
    ids = enc.transform(table.assign(gender=[b"M", b"caf\xe9"] * (len(table) // 2)))["gender"]
    assert ids[0] == 2 + enc.vocabularies["gender"].index("M") and ids[1] == OOV_ID
    latin = FeatureEncoder(categorical=["s"]).fit({"s": [b"caf\xe9", b"caf\xe9", "caf\u00e9"]})
    assert latin.vocabularies["s"] == ["caf\udce9", "caf\u00e9"]  # latin-1 bytes and the UTF-8 string differ
    assert latin.transform({"s": ["caf\u00e9", b"caf\xe9", b"caf\xc3\xa9"]})["s"].tolist() == [3, 2, 3]
    path = tmp_path / "broken.json"
    for text in ("{not json", '{"numeric": 5}', '{"numeric": ["x"], "vocabularies": {}}', "[1]"):
        path.write_text(text)
        with pytest.raises(ValueError, match="broken.json is not a valid FeatureEncoder file"):
            FeatureEncoder.load(path)
