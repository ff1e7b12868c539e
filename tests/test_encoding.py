"""Tests of deepfm_keras.encoding: the layers against naive references, the encoder's options, and the promise
that one raw row gets one score through pandas `transform`, the `tf.data` pipeline and the served signature."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras import build_deepfm, export_serving_model, make_dataset, predictions, serving_request
from deepfm_keras.encoding import (
    OOV_ID,
    PAD_ID,
    Bucketize,
    BucketizedColumn,
    CategoricalColumn,
    FeatureEncoder,
    HashedLookup,
    MultiCategoricalColumn,
    NumericColumn,
    NumericTransform,
    SplitTokens,
    VocabularyLookup,
    column_from_dict,
    strip_spaces,
)

SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"


# ------------------------------------------------------------------------------------------------ layers


def roundtrip(layer, inputs):
    clone = type(layer).from_config(layer.get_config())
    np.testing.assert_array_equal(clone(inputs).numpy(), layer(inputs).numpy())


def test_strip_spaces_is_pythons_str_strip():
    assert all(c.isspace() for c in SPACES) and "\u200b".isspace() is False
    values = [f"{SPACES}a{SPACES}b{SPACES}", "\u200bx\u200b", "", SPACES, "\U0001f600 ", "caf\xe9\xa0"]
    got = [v.decode() for v in strip_spaces(values).numpy().tolist()]
    assert got == [v.strip() for v in values]
    assert strip_spaces([b"caf\xe9 \xa0", b" \xff"]).numpy().tolist() == [b"caf\xe9 \xa0", b"\xff"]  # bytes kept


def test_vocabulary_lookup_matches_a_dict():
    vocabulary = ["7", "a", "caf\udce9", "\U0001f600", "-3"]
    layer = VocabularyLookup(vocabulary)
    values = ["a", "7", "zz", "", "A", b"caf\xe9", "\U0001f600", "a "]
    expected = [
        {k: i + 2 for i, k in enumerate(vocabulary)}.get(v, 1)
        for v in ["a", "7", "zz", "", "A", "caf\udce9", "\U0001f600", "a "]
    ]
    assert layer(tf.constant(values)).numpy().tolist() == expected
    assert layer(tf.constant([[7, -3], [8, 0]], tf.int64)).numpy().tolist() == [[2, 6], [1, 1]]
    assert layer(tf.constant(["a"])).dtype == tf.int64 and layer.count_params() == 0
    roundtrip(layer, tf.constant(values))
    assert VocabularyLookup([])(tf.constant(["a", ""])).numpy().tolist() == [1, 1]
    with pytest.raises(ValueError, match="duplicate"):
        VocabularyLookup(["a", "a"])
    with pytest.raises(ValueError, match="non-empty strings"):
        VocabularyLookup(["a", ""])


def test_hashed_lookup_is_int64_safe_and_deterministic():
    layer = HashedLookup(num_bins=2**40)
    keys = tf.constant([str(i) for i in range(2000)] + [""])
    ids = layer(keys).numpy()
    assert ids.dtype == np.int64 and ids[-1] == OOV_ID
    assert (ids[:-1] >= 2).all() and (ids[:-1] < 2**40 + 2).all() and (ids[:-1] > 2**31).any()
    assert len(set(ids[:-1].tolist())) == 2000
    np.testing.assert_array_equal(layer(tf.range(2000, dtype=tf.int64)).numpy(), ids[:-1])  # ints hash as decimals
    np.testing.assert_array_equal(ids[:-1], tf.strings.to_hash_bucket_fast(keys[:-1], 2**40).numpy() + 2)
    roundtrip(layer, keys)
    with pytest.raises(ValueError, match="num_bins"):
        HashedLookup(num_bins=0)


def test_split_tokens_matches_python_split_and_strip():
    layer = SplitTokens("|", max_len=3)
    values = ["a|b", f"{SPACES}a{SPACES}|| b |", "", "|||", "x|y|z|w", "\U0001f600|caf\xe9", "a\u00a0b|c"]
    got = [[t.decode() for t in row] for row in layer(tf.constant(values)).numpy().tolist()]
    for value, row in zip(values, got, strict=True):
        tokens = [t.strip() for t in value.split("|") if t.strip()][:3]
        assert row == tokens + [""] * (3 - len(tokens))
    roundtrip(layer, tf.constant(values))
    with pytest.raises(ValueError, match="separator"):
        SplitTokens("", max_len=2)
    with pytest.raises(ValueError, match="max_len"):
        SplitTokens("|", max_len=0)


def test_numeric_transform_matches_numpy():
    x = np.array([-1e6, -5.0, -0.5, 0.0, 2.0, 1e6, np.nan])
    layer = NumericTransform(mean=1.5, std=2.0, log1p=True, clip_min=-100.0, clip_max=1000.0)
    clipped = np.clip(x, -100.0, 1000.0)
    expected = (np.sign(clipped) * np.log1p(np.abs(clipped)) - 1.5) / 2.0
    expected[np.isnan(x)] = 0.0
    got = layer(x).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    roundtrip(layer, x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `numeric_transform.*infinite"):
        layer_inf = NumericTransform()
        layer_inf(np.array([np.inf]))
    with pytest.raises(ValueError, match="std"):
        NumericTransform(std=0.0)
    with pytest.raises(ValueError, match="clip_min"):
        NumericTransform(clip_min=2.0, clip_max=1.0)


def test_bucketize_matches_searchsorted():
    boundaries = [0.0, 18.0, 35.0, 65.0]
    x = np.array([-np.inf, -1.0, 0.0, 17.9, 18.0, 64.0, 65.0, 1e9, np.inf, np.nan])
    got = Bucketize(boundaries)(x).numpy()
    expected = np.searchsorted(boundaries, x, side="right") + 2
    expected[np.isnan(x)] = OOV_ID
    np.testing.assert_array_equal(got, expected)
    roundtrip(Bucketize(boundaries), x)
    with pytest.raises(ValueError, match="strictly increasing"):
        Bucketize([1.0, 1.0])


# ------------------------------------------------------------------------------------- encoder options


def test_hashing_columns_need_no_vocabulary_and_round_trip():
    frame = pd.DataFrame({"site": ["a", "b", None, "a"], "tags": ["x|y", "", "z", None]})
    encoder = FeatureEncoder(
        categorical=[CategoricalColumn("site", num_bins=2**33)],
        multi_categorical=[MultiCategoricalColumn("tags", separator="|", num_bins=50)],
    ).fit(frame)
    assert encoder.vocabularies == {}
    assert [f.vocabulary_size for f in encoder.feature_spec] == [2**33 + 2, 52]
    x = encoder.transform(frame)
    assert x["site"][0] == x["site"][3] and x["site"][2] == OOV_ID and x["site"].dtype == np.int64
    assert x["tags"][1].tolist() == [PAD_ID, PAD_ID] and (x["tags"][0] >= 2).all()
    unseen = encoder.transform(pd.DataFrame({"site": ["never seen"], "tags": ["never|seen"]}))
    assert unseen["site"][0] >= 2 and (unseen["tags"][0] >= 2).all()  # hashing: every value has a bucket
    again = FeatureEncoder.from_config(json.loads(json.dumps(encoder.to_config())))
    np.testing.assert_array_equal(again.transform(frame)["site"], x["site"])


def test_min_count_and_max_size():
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 1
    encoder = FeatureEncoder(categorical=[CategoricalColumn("v", min_count=2, max_size=2)]).fit({"v": values})
    assert encoder.vocabularies["v"] == ["a", "b"]
    assert encoder.transform({"v": ["a", "b", "c", "d"]})["v"].tolist() == [2, 3, 1, 1]
    assert FeatureEncoder(categorical=[CategoricalColumn("v", min_count=3)]).fit({"v": values}).vocabularies["v"] == [
        "a",
        "b",
        "c",
    ]


def test_numeric_log1p_clip_standardize_and_missing_indicator():
    raw = np.array([0.0, 3.0, -2.0, 1e9, np.nan])
    column = NumericColumn("n", log1p=True, clip_max=100.0, missing_indicator=True)
    encoder = FeatureEncoder(numeric=[column]).fit({"n": raw})
    prepared = np.sign(np.clip(raw, None, 100.0)) * np.log1p(np.abs(np.clip(raw, None, 100.0)))
    finite = prepared[~np.isnan(prepared)]
    assert encoder.numeric_stats["n"] == pytest.approx({"mean": finite.mean(), "std": finite.std()})
    x = encoder.transform({"n": raw})
    expected = np.where(np.isnan(prepared), 0.0, (prepared - finite.mean()) / finite.std())
    np.testing.assert_allclose(x["n"], expected, rtol=1e-6)
    assert x["n_missing"].tolist() == [0, 0, 0, 0, 1]
    assert [f.name for f in encoder.feature_spec] == ["n", "n_missing"]
    plain = FeatureEncoder(numeric=[NumericColumn("n", log1p=True, standardize=False)]).fit({"n": raw})
    np.testing.assert_allclose(plain.transform({"n": [np.e - 1, np.nan]})["n"], [1.0, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="Column 'n' holds infinite values"):
        FeatureEncoder(numeric=["n"]).fit({"n": [1.0, np.inf]})
    clipped = FeatureEncoder(numeric=[NumericColumn("n", clip_min=-1.0, clip_max=1.0)]).fit({"n": [np.inf, -np.inf]})
    assert clipped.transform({"n": [np.inf, 0.0]})["n"].tolist() == [1.0, 0.0]  # clipping makes inf usable


def test_bucketized_columns_from_boundaries_and_quantiles():
    ages = np.arange(100, dtype="float64")
    given = FeatureEncoder(categorical=[BucketizedColumn("age", boundaries=(18, 35, 65))]).fit({"age": ages})
    assert given.feature_spec[0].vocabulary_size == 3 + 1 + 2
    assert given.transform({"age": [0.0, 18.0, 64.9, 99.0, np.nan]})["age"].tolist() == [2, 3, 4, 5, OOV_ID]
    learned = FeatureEncoder(categorical=[BucketizedColumn("age", num_buckets=4)]).fit({"age": ages})
    assert learned.boundaries["age"] == pytest.approx(np.quantile(ages, [0.25, 0.5, 0.75]).tolist())
    counts = np.bincount(learned.transform({"age": ages})["age"])
    assert counts[2:].tolist() == [25, 25, 25, 25]
    with pytest.raises(ValueError, match="exactly one of"):
        BucketizedColumn("age")
    assert column_from_dict(BucketizedColumn("age", boundaries=(1, 2)).to_dict()).boundaries == (1.0, 2.0)


# A version-1 file as the code before format 2 wrote it.
V1 = {
    "format_version": 1,
    "numeric": ["x"],
    "categorical": ["u"],
    "multi_categorical": {"g": "|"},
    "min_count": 1,
    "max_len": None,
    "pad_id": 0,
    "oov_id": 1,
    "vocabularies": {"u": ["3", "7"], "g": ["b", "a"]},
    "numeric_stats": {"x": {"mean": 2.0, "std": 1.0}},
    "max_lens": {"g": 2},
}


def test_format_1_files_still_load():
    v1 = json.loads(json.dumps(V1))
    encoder = FeatureEncoder.from_config(v1)
    x = encoder.transform(pd.DataFrame({"u": [3, 7, 9], "g": ["a|b", "b", None], "x": [1.0, None, 3.0]}))
    assert x["u"].tolist() == [2, 3, 1] and x["g"].tolist() == [[3, 2], [2, 0], [0, 0]]
    assert x["x"].tolist() == [-1.0, 0.0, 1.0] and encoder.input_dtypes["u"] == "int64"
    assert FeatureEncoder.from_config(encoder.to_config()).to_config()["format_version"] == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: CategoricalColumn("c", num_bins=0), "Column 'c': `num_bins`"),
        (lambda: CategoricalColumn("c", max_size=0), "Column 'c': `max_size`"),
        (lambda: MultiCategoricalColumn("m", separator=""), "separator of multi-categorical column 'm'"),
        (lambda: NumericColumn("n", clip_min=float("nan")), "Column 'n': `clip_min`"),
        (
            lambda: FeatureEncoder(numeric=[NumericColumn("n", missing_indicator=True)], categorical=["n_missing"]),
            "clash",
        ),
        (lambda: FeatureEncoder(numeric=["a"], categorical=["a"]), "more than one kind"),
    ],
)
def test_bad_options_name_the_column(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------- one row, one score, on every path

TRAIN = pd.DataFrame(
    {
        "user": [10, 20, 30, 10, 20, 2**62, -5, 10],
        "city": ["Paris", b"caf\xe9", "\U0001f600", "Paris", "a\u00a0b", "Paris", b"caf\xe9", " Paris"],
        "site": ["s1", "s2", "s3", "s4", "s1", "s2", "s1", "s9"],
        "tags": ["a|b", "b|\U0001f600", "caf\xe9", "a", "b|c|d", "", None, "a\u2003| b"],
        "age": [20.0, 35.0, 50.0, 18.0, np.nan, 70.0, 41.0, 33.0],
        "clicks": [0.0, 3.0, 100.0, 1e5, np.nan, -2.0, 7.0, 1.0],
        "price": [1.0, 2.5, np.nan, 4.0, 5.5, 6.0, 7.5, 8.0],
    }
)

# Unicode spaces, NBSP, latin-1 bytes, emoji, empty strings, NaN, huge and negative numbers.
HOSTILE = pd.DataFrame(
    {
        "user": [10, 2**62, -5, 0, 99, 20],
        "city": ["Paris", "\xa0Paris\u3000", b"caf\xe9", "\U0001f600", "", np.nan],
        "site": ["s1", "", "s\u00a0", b"\xff\xfe", "never", np.nan],
        "tags": ["\u00a0a\u2003|\u3000b ", "", "|||", b"caf\xe9|a", "\U0001f600|zz|a|b", np.nan],
        "age": [np.nan, -1e300, 1e300, 18.0, 0.0, 65.0],
        "clicks": [np.nan, 1e300, -1e300, -2.0, 0.0, 3.0],
        "price": [np.nan, -1e12, 1e12, 0.0, 3.0, -7.5],
    }
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    encoder = FeatureEncoder(
        numeric=[NumericColumn("clicks", log1p=True, clip_min=-10.0, clip_max=1e6, missing_indicator=True), "price"],
        categorical=["user", "city", CategoricalColumn("site", num_bins=1000), BucketizedColumn("age", num_buckets=3)],
        multi_categorical={"tags": "|"},
    )
    x = encoder.fit_transform(TRAIN)
    keras.utils.set_random_seed(5)
    model = build_deepfm(encoder.feature_spec, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, np.array([1, 0, 1, 0, 1, 0, 1, 0]), epochs=20, verbose=0)
    path = export_serving_model(model, encoder, tmp_path_factory.mktemp("consistency") / "1")
    return encoder, model, path


def test_the_same_raw_row_gets_the_same_score_everywhere(trained):
    encoder, model, path = trained
    # 1. pandas transform + predict
    arrays = encoder.transform(HOSTILE)
    # (as (n, 1) columns: Keras' predict function, once traced for (n,) inputs, would not take the pipeline's (n, 1))
    pandas_scores = model.predict({k: v.reshape(len(v), -1) for k, v in arrays.items()}, verbose=0)[:, 0]
    # 2. tf.data training input: the raw table encoded per batch inside the pipeline
    dataset = make_dataset(HOSTILE, np.zeros(len(HOSTILE)), batch_size=4, shuffle=False, encoder=encoder)
    batches = list(dataset)
    for name, value in arrays.items():
        piped = np.concatenate([b[0][name].numpy() for b in batches])
        np.testing.assert_array_equal(piped.reshape(value.shape), value, err_msg=name)
    data_scores = model.predict(dataset.map(lambda x, y: x), verbose=0)[:, 0]
    # 3. the served signature, fed with a request built from the same rows
    loaded = tf.saved_model.load(str(path))
    request = {k: tf.constant(v) for k, v in serving_request(HOSTILE, encoder).items()}
    served = predictions(loaded.signatures["serving_default"](**request))
    encoded = loaded.signatures["preprocess"](**request)
    for name, value in arrays.items():
        np.testing.assert_array_equal(encoded[name].numpy().reshape(value.shape), value, err_msg=name)
    np.testing.assert_allclose(data_scores, pandas_scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose(served, pandas_scores, rtol=0, atol=1e-6)
    assert np.ptp(pandas_scores) > 0  # the rows do differ


def test_hostile_values_follow_the_rules(trained):
    encoder, _, _ = trained
    x = encoder.transform(HOSTILE)
    city = {k: i + 2 for i, k in enumerate(encoder.vocabularies["city"])}
    # categorical values are exact bytes: no stripping, latin-1 bytes are their own key, "" and NaN are OOV
    assert x["city"].tolist() == [city["Paris"], OOV_ID, city["caf\udce9"], city["\U0001f600"], OOV_ID, OOV_ID]
    assert "caf\xe9" not in city  # the UTF-8 string was never seen: the latin-1 bytes were
    assert encoder.vocabularies["user"] == ["10", "20", "-5", "30", str(2**62)]  # by count, then by key
    assert x["user"].tolist() == [2, 6, 4, OOV_ID, OOV_ID, 3]
    tags = {k: i + 2 for i, k in enumerate(encoder.vocabularies["tags"])}
    # tokens are stripped of Unicode spaces (NBSP, em and ideographic spaces) and empty tokens are dropped
    assert x["tags"][0].tolist()[:2] == [tags["a"], tags["b"]]
    assert x["tags"][1].tolist() == x["tags"][2].tolist() == x["tags"][5].tolist() == [0] * encoder.max_lens["tags"]
    assert x["tags"][4].tolist()[:3] == [tags["\U0001f600"], OOV_ID, tags["a"]]
    assert x["site"][1] == OOV_ID and x["site"][0] >= 2 and x["site"][2] >= 2
    assert x["age"].tolist()[:2] == [OOV_ID, 2] and x["clicks_missing"].tolist() == [1, 0, 0, 0, 0, 0]
    clicks = np.sign(np.clip([1e300, -1e300], -10, 1e6)) * np.log1p(np.abs(np.clip([1e300, -1e300], -10, 1e6)))
    stats = encoder.numeric_stats["clicks"]
    np.testing.assert_allclose(x["clicks"][1:3], (clicks - stats["mean"]) / stats["std"], rtol=1e-6)


def test_undecodable_keys_survive_json(tmp_path):
    encoder = FeatureEncoder(categorical=["s"], multi_categorical={"t": "|"})
    frame = pd.DataFrame({"s": [b"caf\xe9", b"\xff", "\U0001f600"], "t": [b"\xe9|a", "b", None]})
    encoder.fit(frame)
    encoder.save(tmp_path / "encoder.json")
    text = (tmp_path / "encoder.json").read_text(encoding="utf-8")
    assert "caf\\udce9" in text  # plain JSON: an undecodable byte is a surrogate escape
    loaded = FeatureEncoder.load(tmp_path / "encoder.json")
    for name, value in encoder.transform(frame).items():
        np.testing.assert_array_equal(loaded.transform(frame)[name], value)
    assert loaded.transform(frame)["s"].tolist() == [2, 3, 4]


def test_raw_table_pipeline_trains_and_reshuffles(trained):
    encoder = trained[0]
    model = build_deepfm(encoder.feature_spec, embedding_dim=2, hidden_units=(4,))  # not the shared fixture's model
    model.compile(optimizer="adam", loss="binary_crossentropy")
    y = np.arange(len(TRAIN)) % 2
    dataset = make_dataset(TRAIN, y, batch_size=3, seed=1, encoder=encoder)
    first = [b[1].numpy().tolist() for b in dataset]
    second = [b[1].numpy().tolist() for b in dataset]
    assert sorted(sum(first, [])) == sorted(y.tolist()) and first != second
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ------------------------------------------------------------------------------ tampered encoder files


def fitted_config():
    table = pd.DataFrame(
        {"x": [1.0, 2.0, 4.0], "u": ["a", "b", "b"], "h": ["p", "q", "r"], "g": ["a|b", "b", None], "b": [1.0, 5, 9]}
    )
    columns = ["u", CategoricalColumn("h", num_bins=10), BucketizedColumn("b", num_buckets=3)]
    encoder = FeatureEncoder(numeric=["x"], categorical=columns, multi_categorical={"g": "|"}).fit(table)
    return json.loads(json.dumps(encoder.to_config()))


def column(config, name):
    return next(c for c in config["columns"] if c["name"] == name)


TAMPERED = {
    "negative std": (lambda c: c["state"]["x"].update(std=-1.0), r"column 'x': `std` should be positive.*std=-1.0"),
    "zero std": (lambda c: c["state"]["x"].update(std=0), r"column 'x': `std` should be positive"),
    "NaN std": (lambda c: c["state"]["x"].update(std=float("nan")), r"column 'x': `std` should be a finite number"),
    "inf std": (lambda c: c["state"]["x"].update(std=float("inf")), r"column 'x': `std` should be a finite number"),
    "string mean": (lambda c: c["state"]["x"].update(mean="1"), r"column 'x': `mean` should be a finite number"),
    "duplicate entry": (
        lambda c: c["state"]["u"].update(vocabulary=["b", "a", "b"]),
        r"column 'u': `vocabulary` lists 'b' twice \(entries 0 and 2\)",
    ),
    "null entry": (
        lambda c: c["state"]["g"].update(vocabulary=["b", None]),
        r"column 'g': `vocabulary` entry 1 should be a non-empty string. Received: None",
    ),
    "vocabulary as a string": (
        lambda c: c["state"]["u"].update(vocabulary="ba"),
        r"column 'u': `vocabulary` should be a list of strings. Received: str 'ba'",
    ),
    "vocabulary on a hashed column": (
        lambda c: c["state"]["h"].update(vocabulary=["p"]),
        r"state of column 'h' has unknown key\(s\) \['vocabulary'\]",
    ),
    "missing version": (lambda c: c.pop("format_version"), r"missing `format_version`"),
    "unknown version": (lambda c: c.update(format_version=3), r"unsupported `format_version` 3"),
    "version as a float": (lambda c: c.update(format_version=2.0), r"unsupported `format_version` 2.0"),
    "missing vocabulary": (lambda c: c["state"]["u"].pop("vocabulary"), r"column 'u' is missing \['vocabulary'\]"),
    "missing column state": (lambda c: c["state"].pop("g"), r"`state` is missing \['g'\]"),
    "missing columns": (lambda c: c.pop("columns"), r"the file is missing \['columns'\]"),
    "missing std": (lambda c: c["state"]["x"].pop("std"), r"column 'x' is missing \['std'\]"),
    "unknown key": (lambda c: c.update(vocabularies={}), r"unknown key\(s\) \['vocabularies'\]"),
    "max_len 0": (lambda c: c["state"]["g"].update(max_len=0), r"column 'g': `max_len` should be an integer >= 1"),
    "max_len negative": (lambda c: c["state"]["g"].update(max_len=-2), r"column 'g': `max_len`.*max_len=-2"),
    "changed oov_id": (lambda c: c.update(oov_id=5), r"`oov_id` is 5, but this version of deepfm_keras uses oov_id=1"),
    "changed pad_id": (lambda c: c.update(pad_id=1), r"`pad_id` is 1"),
    "changed first_id": (lambda c: c.update(first_id=3), r"`first_id` is 3"),
    "missing oov_id": (lambda c: c.pop("oov_id"), r"the file is missing \['oov_id'\]"),
    "float num_bins": (lambda c: column(c, "h").update(num_bins=10.0), r"Column 'h': `num_bins` should be an integer"),
    "unsorted boundaries": (
        lambda c: c["state"]["b"].update(boundaries=[5.0, 1.0]),
        r"column 'b': `boundaries` should be strictly increasing",
    ),
    "duplicate boundaries": (
        lambda c: c["state"]["b"].update(boundaries=[1.0, 1.0]),
        r"column 'b': `boundaries` should be strictly increasing",
    ),
    "int64 dtype, string keys": (
        lambda c: c["state"]["u"].update(input_dtype="int64"),
        r"column 'u': `input_dtype` is 'int64' but the vocabulary holds 'b'",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_encoder_file_is_refused_naming_the_field(case, tmp_path):
    tamper, message = TAMPERED[case]
    config = fitted_config()
    FeatureEncoder.from_config(config)  # the untouched file loads
    tamper(config)
    path = tmp_path / "encoder.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        FeatureEncoder.load(path)
    with pytest.raises(ValueError, match="encoder.json is not a valid FeatureEncoder file"):
        FeatureEncoder.load(path)


def test_a_truncated_encoder_file_is_refused(tmp_path):
    path = tmp_path / "encoder.json"
    text = json.dumps(fitted_config())
    for cut in (0, 1, len(text) // 3, len(text) - 1):
        path.write_text(text[:cut])
        with pytest.raises(ValueError, match="encoder.json is not a valid FeatureEncoder file"):
            FeatureEncoder.load(path)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda c: c.pop("format_version"), "missing `format_version`"),
        (lambda c: c["vocabularies"].update(u=["3", "3"]), "column 'u': `vocabulary` lists '3' twice"),
        (lambda c: c["numeric_stats"]["x"].update(std=0.0), "column 'x': `std` should be positive"),
        (lambda c: c["max_lens"].update(g=0), "column 'g': `max_len` should be an integer >= 1"),
        (lambda c: c.pop("max_lens"), "fitted version-1 file needs all of"),
        (lambda c: c.update(oov_id=2), "`oov_id` is 2"),
        (lambda c: c.update(columns=[]), r"version-1 file has unknown key\(s\) \['columns'\]"),
    ],
)
def test_a_tampered_version_1_file_is_refused(tamper, message):
    config = json.loads(json.dumps(V1))
    FeatureEncoder.from_config(config)
    tamper(config)
    with pytest.raises(ValueError, match=message):
        FeatureEncoder.from_config(config)


# ------------------------------------------------------------------ lengths, empty rows, mixed types


def test_max_len_beyond_every_row_pads_and_all_padding_rows_are_zeros():
    table = pd.DataFrame({"g": ["a|b", "b", "", "|||", None, " \u3000 "]})
    encoder = FeatureEncoder(multi_categorical={"g": "|"}, max_len=6).fit(table)
    ids = encoder.transform(table)["g"]
    assert ids.shape == (6, 6) and ids[:2].tolist() == [[3, 2, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]]
    assert not ids[2:].any()  # empty, separators only, missing, spaces only: all padding
    piped = next(iter(make_dataset(table, batch_size=6, shuffle=False, encoder=encoder)))["g"].numpy()
    np.testing.assert_array_equal(piped, ids)
    # A column with no token at all: an empty vocabulary and rows of padding, and a model that still scores them.
    empty = FeatureEncoder(numeric=["x"], multi_categorical={"g": "|"}).fit({"x": [1.0, 2.0], "g": ["", None]})
    assert empty.vocabularies["g"] == [] and empty.max_lens["g"] == 1
    x = empty.transform({"x": [1.0, 2.0], "g": ["", "a"]})
    assert x["g"].tolist() == [[0], [1]]
    model = build_deepfm(empty.feature_spec, embedding_dim=2, hidden_units=(4,))
    assert np.isfinite(model.predict({k: v.reshape(2, -1) for k, v in x.items()}, verbose=0)).all()


def test_mixed_types_in_a_categorical_column_share_one_key_on_every_path():
    """Policy: a value's key is `canonical_string(value)`: 3, np.int64(3), 3.0 and "3" are one key; "3.0" another."""
    encoder = FeatureEncoder(categorical=["c"]).fit({"c": [3, "3", 3.0, np.int64(3), "a", "3.0", 2.5]})
    assert encoder.vocabularies["c"] == ["3", "2.5", "3.0", "a"] and encoder.input_dtypes["c"] == "string"
    rows = pd.DataFrame({"c": pd.Series([3.0, "3", np.int64(3), 3, "3.0", 2.5, "b", None], dtype=object)})
    expected = [2, 2, 2, 2, 4, 3, 1, 1]
    assert encoder.transform(rows)["c"].tolist() == expected
    assert encoder.transform({"c": rows["c"][::-1].tolist()})["c"].tolist() == expected[::-1]  # order-free
    piped = next(iter(make_dataset(rows, batch_size=8, shuffle=False, encoder=encoder)))["c"].numpy()
    assert piped[:, 0].tolist() == expected
    request = serving_request(rows, encoder)  # what a served request sends: the same key bytes
    assert encoder.encode({"c": tf.constant(request["c"])})["c"].numpy()[:, 0].tolist() == expected


@pytest.mark.parametrize("values", [[1, True, True], [True, 0.0], [np.True_, np.int64(1), "x"]])
def test_booleans_mixed_with_numbers_are_refused_naming_the_column(values):
    with pytest.raises(ValueError, match=r"Column 'c' mixes booleans \((True|np.True_)\) with numbers"):
        FeatureEncoder(categorical=["c"]).fit({"c": values})
    encoder = FeatureEncoder(categorical=["c"]).fit({"c": [True, False, "x"]})  # booleans alone (or with text): fine
    assert encoder.transform({"c": [True, "True", False]})["c"].tolist() == [3, 3, 2]
    with pytest.raises(ValueError, match="Column 'c' mixes booleans"):
        encoder.transform({"c": values})


def test_fit_on_no_rows_or_ragged_columns_raises():
    for table in (pd.DataFrame({"u": [], "x": []}), {"u": [], "x": []}):
        with pytest.raises(ValueError, match="FeatureEncoder.fit needs at least one row: the table has 0 rows"):
            FeatureEncoder(numeric=["x"], categorical=["u"]).fit(table)
    with pytest.raises(ValueError, match=r"different numbers of rows: \{'x': 2, 'u': 1\}"):
        FeatureEncoder(numeric=["x"], categorical=["u"]).fit({"u": ["a"], "x": [1.0, 2.0]})


def test_unicode_spaces_around_tokens_are_stripped_alike_when_fitting_encoding_and_serving(trained):
    encoder, _, path = trained
    plain, spaced = "a|b", "\u00a0a\u2003|\u3000b\u2003"  # NBSP, em space, ideographic space
    rows = pd.concat([HOSTILE.iloc[:1]] * 2, ignore_index=True).assign(tags=[plain, spaced])
    ids = encoder.transform(rows)["tags"]
    assert ids[0].tolist() == ids[1].tolist() and ids[0][:2].min() >= 2  # known tokens, not OOV
    served = tf.saved_model.load(str(path)).signatures["preprocess"]
    request = {k: tf.constant(v) for k, v in serving_request(rows, encoder).items()}
    np.testing.assert_array_equal(served(**request)["tags"].numpy(), ids)
    fitted = FeatureEncoder(multi_categorical={"t": "|"}).fit({"t": [spaced, "b"]})
    assert fitted.vocabularies["t"] == ["b", "a"]  # fit strips the same spaces
