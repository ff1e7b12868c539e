"""Tests of the encoder's list features: weighted id lists, numeric sequences, shared vocabularies and tables,
per-column embedding sizes; NumPy references, saved files, and one raw row giving one encoding (and one score)
through `transform`, the `tf.data` pipeline and the served signature."""

import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras import build_deepfm, export_serving_model, make_dataset, predictions, serving_request
from deepfm_keras.encoding import (
    OOV_ID,
    BucketizedColumn,
    CategoricalColumn,
    FeatureEncoder,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    SplitNumbers,
    column_from_dict,
)
from deepfm_keras.serving import request_dtypes, request_to_frame
from deepfm_keras.spec.feature_spec import input_names
from deepfm_keras.spec.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
)


def split(cell, separator="|"):
    """The reference split: Python's str.split and str.strip, empty tokens dropped."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, (list, tuple)):
        return [str(v) for v in cell]
    return [t.strip() for t in str(cell).split(separator) if t.strip()]


def one_hot_ids(encoder, name, cells, max_len):
    ids = {k: i + 2 for i, k in enumerate(encoder.vocabularies[name])}
    out = np.zeros((len(cells), max_len), "int64")
    for r, cell in enumerate(cells):
        tokens = split(cell)[:max_len]
        out[r, : len(tokens)] = [ids.get(t, OOV_ID) for t in tokens]
    return out


# ------------------------------------------------------------------------------------------- the layer


def test_split_numbers_matches_python_float():
    layer = SplitNumbers("|", max_len=3)
    cells = ["1| -2.5 |", "", "|||", "1e3|+4|.5|6", "\u00a07\u3000", "0.1|1E-05"]
    got = layer(tf.constant(cells)).numpy()
    for cell, row in zip(cells, got, strict=True):
        numbers = [float(t) for t in split(cell)][:3]
        np.testing.assert_array_equal(row, numbers + [np.nan] * (3 - len(numbers)))
    assert got.dtype == np.float64
    clone = SplitNumbers.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(tf.constant(cells)).numpy(), got)
    weights = SplitNumbers("|", max_len=2, pad_value=0.0, limit=1e15)
    assert weights(tf.constant(["3", ""])).numpy().tolist() == [[3.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("token", ["nan", "inf", "-Infinity", "0x10", "1_0", "1,5", "1e400", "abc", "1e", "--1"])
def test_split_numbers_refuses_what_is_not_a_finite_decimal_number(token):
    layer = SplitNumbers("|", max_len=2, name="prices")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Feature `prices` holds a token that is not a finite"):
        layer(tf.constant([f"1|{token}"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"within \+-1e\+15"):
        SplitNumbers("|", max_len=2, limit=1e15, name="w")(tf.constant(["1e16"]))


def test_split_numbers_bad_arguments():
    with pytest.raises(ValueError, match="separator"):
        SplitNumbers("", max_len=2)
    with pytest.raises(ValueError, match="max_len"):
        SplitNumbers("|", max_len=0)
    with pytest.raises(ValueError, match="limit"):
        SplitNumbers("|", max_len=1, limit=0)


# ------------------------------------------------------------------------------------ weighted id lists

ITEMS = ["a|b|c", "b", None, "c|zz|a|b", "", "a|a", " b | c "]
RATINGS = ["0.5|1|2", "4", None, [1.5, 2, 3, -4], "", "1e-3|7", " 2 | 3 "]


def weighted_encoder(max_len=None):
    return FeatureEncoder(multi_categorical=[MultiCategoricalColumn("items", max_len=max_len, weight_column="r")])


@pytest.mark.parametrize("max_len", [None, 2, 6])
def test_weights_are_aligned_with_the_ids_after_truncation(max_len):
    table = pd.DataFrame({"items": ITEMS, "r": RATINGS})
    encoder = weighted_encoder(max_len).fit(table)
    width = max_len or 4
    assert encoder.max_lens["items"] == width and encoder.input_dtypes == {"items": "string", "r": "string"}
    x = encoder.transform(table)
    assert list(x) == ["items", "r"] == input_names(encoder.feature_spec)
    np.testing.assert_array_equal(x["items"], one_hot_ids(encoder, "items", ITEMS, width))
    expected = np.zeros((len(RATINGS), width), "float32")
    for r, cell in enumerate(RATINGS):
        weights = [float(w) for w in split(cell)][:width]
        expected[r, : len(weights)] = weights
    assert x["r"].dtype == np.float32
    np.testing.assert_array_equal(x["r"], expected)
    assert ((x["items"] == 0) == (x["r"] == 0)).all()  # padding has weight 0 (and no weight here is 0)
    unseen = encoder.transform({"items": ["a|never"], "r": ["3|4"]})
    assert unseen["items"][0, 1] == OOV_ID and unseen["r"][0, 1] == 4.0  # an unseen id keeps its weight
    assert encoder.feature_spec == [MultiCategoricalFeature("items", 6, width, weight_name="r")]  # a, b, c, zz


def test_a_column_of_single_weights_read_as_floats_is_one_weight_per_row():
    table = pd.DataFrame({"items": ["a", "b", None], "r": [0.5, 2.0, np.nan]})  # what read_csv gives
    x = weighted_encoder().fit_transform(table)
    assert x["r"].tolist() == [[0.5], [2.0], [0.0]]


@pytest.mark.parametrize(
    "ratings, message",
    [
        (
            ["0.5|1|2", "4", None, "1|2|3|4", "", "1|7", "2"],
            r"Column 'r', row 6: 1 weight\(s\) \('2'\) for 2 id\(s\) of column 'items' \(' b \| c '\)",
        ),
        (
            ["0.5|1|2", "4", "3", "1|2|3|4", "", "1|7", "2|3"],
            r"Column 'r', row 2: 1 weight\(s\) \('3'\) for 0 id\(s\) of column 'items' \(None\)",
        ),
        (
            ["0.5|1|2", "4", None, "1|2|x|4", "", "1|7", "2|3"],
            r"Column 'r', row 3: 'x' is not a finite decimal number within \+-1e\+15 \(in '1\|2\|x\|4'\)",
        ),
        (["0.5|1|2", "4", None, [1, np.nan, 3, 4], "", "1|7", "2|3"], r"Column 'r', row 3: 'nan' is not"),
        (["0.5|1|2", "4", None, "1|2|3|4", "", "1|inf", "2|3"], r"Column 'r', row 5: 'inf' is not"),
        (["0.5|1|2", "1e16", None, "1|2|3|4", "", "1|7", "2|3"], r"Column 'r', row 1: '1e16' is not"),
    ],
)
def test_bad_weights_are_refused_naming_the_column_row_and_value(ratings, message):
    encoder = weighted_encoder().fit(pd.DataFrame({"items": ITEMS, "r": RATINGS}))
    bad = pd.DataFrame({"items": ITEMS, "r": ratings})
    with pytest.raises(ValueError, match=message):
        encoder.transform(bad)
    request = {k: tf.constant(v) for k, v in encoder.raw_inputs(bad).items()}
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `r`"):  # the graph: the feature is named
        encoder.encode(request)


def test_weight_columns_are_checked_when_the_encoder_is_made():
    with pytest.raises(ValueError, match="Column 'items': `weight_column` should be None or a name"):
        MultiCategoricalColumn("items", weight_column="_w")
    with pytest.raises(ValueError, match="`weight_column` should name another column"):
        MultiCategoricalColumn("items", weight_column="items")
    with pytest.raises(ValueError, match="Column 'u' is also the `weight_column` of column 'items'"):
        FeatureEncoder(categorical=["u"], multi_categorical=[MultiCategoricalColumn("items", weight_column="u")])
    with pytest.raises(ValueError, match=r"Weight column\(s\) \['w'\] serve more than one"):
        FeatureEncoder(
            multi_categorical=[
                MultiCategoricalColumn("a", weight_column="w"),
                MultiCategoricalColumn("b", weight_column="w"),
            ]
        )
    with pytest.raises(ValueError, match="differ only in case"):
        FeatureEncoder(multi_categorical=[MultiCategoricalColumn("a", weight_column="A")])
    with pytest.raises(ValueError, match="is missing from the input"):
        weighted_encoder().fit({"items": ["a"], "r": ["1"]}).transform({"items": ["a"]})


# ------------------------------------------------------------------------------------ numeric sequences

PRICES = ["1.5|2|2.5", "", None, [10, 20], "3", "1e2|-4| 5 |6|7", "3"]


def test_numeric_sequences_are_standardised_over_every_element_and_padded_with_nan():
    encoder = FeatureEncoder(numeric_sequence={"p": "|"}).fit({"p": PRICES})
    elements = np.array([float(v) for cell in PRICES for v in split(cell)])  # "3" twice: counted twice
    stats = encoder.numeric_stats["p"]
    assert stats == pytest.approx({"mean": elements.mean(), "std": elements.std()}, rel=1e-12)
    assert encoder.max_lens["p"] == 5 and encoder.input_dtypes == {"p": "string"}
    x = encoder.transform({"p": PRICES})["p"]
    expected = np.full((len(PRICES), 5), np.nan)
    for r, cell in enumerate(PRICES):
        values = [float(v) for v in split(cell)]
        expected[r, : len(values)] = (np.array(values) - elements.mean()) / elements.std()
    assert x.dtype == np.float32 and x.shape == (7, 5)
    np.testing.assert_allclose(x, expected, rtol=1e-6)  # NaN where expected is NaN
    assert encoder.feature_spec == [NumericSequenceFeature("p", max_len=5)]


def test_numeric_sequence_options_log1p_clip_max_len():
    column = NumericSequenceColumn("p", max_len=2, log1p=True, clip_max=50.0, combiner="max", embedding_dim=3)
    encoder = FeatureEncoder(numeric_sequence=[column]).fit({"p": PRICES})
    elements = np.array([float(v) for cell in PRICES for v in split(cell)])
    prepared = np.log1p(np.abs(np.minimum(elements, 50.0))) * np.sign(elements)
    assert encoder.numeric_stats["p"] == pytest.approx({"mean": prepared.mean(), "std": prepared.std()})
    x = encoder.transform({"p": ["1e2|-4|5", "", "7"]})["p"]
    mean, std = prepared.mean(), prepared.std()
    np.testing.assert_allclose(
        x,
        [
            [(np.log1p(50) - mean) / std, (-np.log1p(4) - mean) / std],
            [np.nan] * 2,
            [(np.log1p(7) - mean) / std, np.nan],
        ],
        rtol=1e-6,
    )
    assert encoder.feature_spec == [NumericSequenceFeature("p", 2, combiner="max", embedding_dim=3)]
    plain = FeatureEncoder(numeric_sequence=[NumericSequenceColumn("p", standardize=False)]).fit({"p": ["1|2"]})
    np.testing.assert_array_equal(plain.transform({"p": ["3", None]})["p"], [[3.0, np.nan], [np.nan, np.nan]])


def test_bad_sequence_elements_are_refused_naming_the_column_row_and_value():
    with pytest.raises(ValueError, match=r"Column 'p', row 2: 'abc' is not a finite decimal number \(in '1\|abc'\)"):
        FeatureEncoder(numeric_sequence={"p": "|"}).fit({"p": ["1", None, "1|abc"]})
    encoder = FeatureEncoder(numeric_sequence={"p": "|"}).fit({"p": PRICES})
    with pytest.raises(ValueError, match=r"Column 'p', row 1: 'nan' is not a finite decimal number"):
        encoder.transform({"p": ["1", [1.0, float("nan")]]})
    with pytest.raises(ValueError, match=r"Column 'p' holds values beyond \+-1e\+15 once transformed"):
        encoder.transform({"p": ["1e300"]})
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `p_split` holds a token that is not"):
        encoder.encode({"p": tf.constant([b"1|1e999"])})
    with pytest.raises(ValueError, match="separator of numeric-sequence column 'p'"):
        NumericSequenceColumn("p", separator="")
    with pytest.raises(ValueError, match=r"Column 'p': `combiner` should be one of"):
        NumericSequenceColumn("p", combiner="median")


# ------------------------------------------------------------------- shared vocabularies and tables

SHARED = pd.DataFrame(
    {
        "movie_id": [3, 3, 3, 7, 9, 9],
        "history": ["7|9|11", "7|11", "11|7", "", None, "7|3"],
        "ratings": ["5|4|3", "1|2", "3|3", "", None, "4|4"],
    }
)


def shared_encoder(**options):
    history = MultiCategoricalColumn("history", weight_column="ratings", embedding_name="movie_id", **options)
    return FeatureEncoder(categorical=["movie_id"], multi_categorical=[history])


def test_columns_sharing_a_table_get_one_vocabulary_fitted_over_all_their_values():
    encoder = shared_encoder().fit(SHARED)
    # counts summed: 7 -> 1 + 4 = 5, 3 -> 3 + 1 = 4, 11 -> 3, 9 -> 2 + 1 = 3 (ties by key: "11" < "9")
    assert encoder.vocabularies == {"movie_id": ["7", "3", "11", "9"], "history": ["7", "3", "11", "9"]}
    assert FeatureEncoder(categorical=["movie_id"]).fit(SHARED).vocabularies["movie_id"] == ["3", "9", "7"]
    x = encoder.transform(SHARED)
    ids = {"7": 2, "3": 3, "11": 4, "9": 5}
    assert x["movie_id"].tolist() == [ids[str(v)] for v in SHARED["movie_id"]]
    assert x["history"][0].tolist() == [ids["7"], ids["9"], ids["11"]]  # the same raw value, the same id
    assert encoder.feature_spec == [
        CategoricalFeature("movie_id", 6),
        MultiCategoricalFeature("history", 6, 3, weight_name="ratings", embedding_name="movie_id"),
    ]
    assert encoder.input_dtypes["movie_id"] == "int64"  # every shared key is an integer
    assert encoder.layers()["movie_id"] is encoder.layers()["history"][1]  # one lookup table
    mixed = shared_encoder().fit(SHARED.assign(history=["7|x", "", "", "", "", ""], ratings=["1|2"] + [""] * 5))
    assert mixed.input_dtypes["movie_id"] == "string" and "x" in mixed.vocabularies["movie_id"]


def test_shared_vocabularies_follow_min_count_max_size_and_hashing_together():
    both = FeatureEncoder(
        categorical=[CategoricalColumn("movie_id", min_count=4)],
        multi_categorical=[MultiCategoricalColumn("history", embedding_name="movie_id", min_count=4)],
    ).fit(SHARED)
    assert both.vocabularies["movie_id"] == both.vocabularies["history"] == ["7", "3"]  # 5 and 4 occurrences
    hashed = FeatureEncoder(
        categorical=[CategoricalColumn("movie_id", num_bins=100)],
        multi_categorical=[MultiCategoricalColumn("history", num_bins=100, embedding_name="movie_id")],
    ).fit(SHARED)
    x = hashed.transform(SHARED)
    assert x["history"][5, 1] == x["movie_id"][0] and hashed.vocabularies == {}  # "3": one bucket in both
    counted = FeatureEncoder(categorical=["movie_id", CategoricalColumn("seen", embedding_name="movie_id")]).fit_counts(
        {"movie_id": {"3": 2, "7": 1}, "seen": {"7": 5, "8": 1}}
    )
    assert counted.vocabularies["movie_id"] == counted.vocabularies["seen"] == ["7", "3", "8"]


@pytest.mark.parametrize(
    "columns, message",
    [
        (
            lambda: [CategoricalColumn("m", min_count=2), MultiCategoricalColumn("h", embedding_name="m")],
            r"Columns 'm' and 'h' share the table 'm' \(embedding_name\) but differ in `min_count` \(2 vs 1\)",
        ),
        (
            lambda: [CategoricalColumn("m", num_bins=10), MultiCategoricalColumn("h", embedding_name="m", num_bins=20)],
            r"differ in `num_bins` \(10 vs 20\)",
        ),
        (
            lambda: [CategoricalColumn("m"), MultiCategoricalColumn("h", embedding_name="m", max_size=5)],
            r"differ in `max_size` \(None vs 5\)",
        ),
        (
            lambda: [CategoricalColumn("m", embedding_dim=8), MultiCategoricalColumn("h", embedding_name="m")],
            r"differ in `embedding_dim` \(8 vs None\)",
        ),
        (
            lambda: [NumericColumn("m"), MultiCategoricalColumn("h", embedding_name="m")],
            r"Column 'h': embedding_name='m' names a numeric column",
        ),
        (
            lambda: [BucketizedColumn("m", num_buckets=3), CategoricalColumn("h", embedding_name="m")],
            r"embedding_name='m' names a bucketized column",
        ),
        (
            lambda: [CategoricalColumn("h", embedding_name="bad name")],
            r"Column 'h': `embedding_name` should be None or a name",
        ),
    ],
)
def test_columns_that_cannot_share_a_table_are_refused_naming_them(columns, message):
    with pytest.raises(ValueError, match=message):
        columns = columns()
        FeatureEncoder(
            numeric=[c for c in columns if isinstance(c, NumericColumn)],
            categorical=[c for c in columns if isinstance(c, (CategoricalColumn, BucketizedColumn))],
            multi_categorical=[c for c in columns if isinstance(c, MultiCategoricalColumn)],
        )


def test_embedding_dims_and_combiners_reach_the_feature_spec():
    table = {"x": [1.0, 2.0], "u": ["a", "b"], "b": [1.0, 5.0], "g": ["a|b", "c"]}
    encoder = FeatureEncoder(
        numeric=[NumericColumn("x", embedding_dim=2, missing_indicator=True)],
        categorical=[
            CategoricalColumn("u", embedding_dim=3),
            BucketizedColumn("b", boundaries=(2.0,), embedding_dim=4),
        ],
        multi_categorical=[MultiCategoricalColumn("g", combiner="sum", embedding_dim=5)],
    ).fit(table)
    assert encoder.feature_spec == [
        NumericFeature("x", 2),
        NumericFeature("x_missing"),
        CategoricalFeature("u", 4, embedding_dim=3),
        CategoricalFeature("b", 4, embedding_dim=4),
        MultiCategoricalFeature("g", 5, 2, combiner="sum", embedding_dim=5),
    ]


# ------------------------------------------------------------------------------------------- saved files

# A fitted format-2 file as the code before list weights, sequences and shared tables wrote it.
V2_BEFORE = {
    "format_version": 2,
    "pad_id": 0,
    "oov_id": 1,
    "first_id": 2,
    "columns": [
        {"kind": "numeric", "name": "x", "log1p": True, "clip_min": None, "clip_max": None, "standardize": True,
         "missing_indicator": False},
        {"kind": "categorical", "name": "u", "min_count": 1, "max_size": None, "num_bins": None},
        {"kind": "categorical", "name": "h", "min_count": 1, "max_size": None, "num_bins": 10},
        {"kind": "bucketized", "name": "b", "boundaries": None, "num_buckets": 3},
        {"kind": "multi_categorical", "name": "g", "separator": "|", "max_len": None, "min_count": 1,
         "max_size": None, "num_bins": None},
    ],
    "state": {
        "x": {"mean": 1.1337324605540517, "std": 0.37489753816617877, "input_dtype": "float64"},
        "u": {"input_dtype": "string", "vocabulary": ["b", "a"]},
        "h": {"input_dtype": "string"},
        "b": {"boundaries": [3.6666666666666665, 6.333333333333333], "input_dtype": "float64"},
        "g": {"max_len": 2, "input_dtype": "string", "vocabulary": ["b", "a"]},
    },
}  # fmt: skip
V2_TABLE = pd.DataFrame(
    {"x": [1.0, 2.0, 4.0], "u": ["a", "b", "b"], "h": ["p", "q", "r"], "g": ["a|b", "b", None], "b": [1.0, 5, 9]}
)


def test_format_2_files_written_before_the_new_options_load_unchanged():
    encoder = FeatureEncoder.from_config(json.loads(json.dumps(V2_BEFORE)))
    x = encoder.transform(V2_TABLE)
    np.testing.assert_allclose(x["x"], [-1.1752152, -0.09367939, 1.2688946], rtol=1e-6)
    assert x["u"].tolist() == [3, 2, 2] and x["b"].tolist() == [2, 3, 4]
    assert x["g"].tolist() == [[3, 2], [2, 0], [0, 0]] and x["h"].tolist() == [5, 5, 5]
    assert encoder.to_config() == V2_BEFORE  # and a plain encoder writes the same file as before
    refit = FeatureEncoder(
        numeric=[NumericColumn("x", log1p=True)],
        categorical=["u", CategoricalColumn("h", num_bins=10), BucketizedColumn("b", num_buckets=3)],
        multi_categorical={"g": "|"},
    ).fit(V2_TABLE)
    assert json.loads(json.dumps(refit.to_config())) == V2_BEFORE


def list_encoder():
    return FeatureEncoder(
        numeric=[NumericColumn("age", embedding_dim=2)],
        categorical=["movie_id", CategoricalColumn("zip", num_bins=50, embedding_dim=3)],
        multi_categorical=[
            MultiCategoricalColumn("genres", combiner="max"),
            MultiCategoricalColumn("history", weight_column="ratings", embedding_name="movie_id", max_len=3),
        ],
        numeric_sequence=[NumericSequenceColumn("prices", log1p=True, combiner="sum")],
    )


LISTS = pd.DataFrame(
    {
        "age": [20.0, 35.0, np.nan, 50.0, 18.0, 41.0, 27.0, 63.0],
        "movie_id": [3, 7, 3, 9, 11, 3, 7, 9],
        "zip": ["75001", "10115", None, "75001", "02134", "10115", "75001", "60601"],
        "genres": ["Action|Comedy", "Drama", "", None, "Comedy|Drama|Action", "Action", "Drama|Comedy", "Horror"],
        "history": ["7|9|11|3", "3", None, "", "7|7", "11|9", "3|7", "9"],
        "ratings": ["5|4|3|1", "2.5", None, "", [1, 0.5], "3|4", "1|1", 4.0],
        "prices": ["9.99|12.5", "", None, [3, 4, 5], "0.5", "100|200|300|400", "7", 1.25],
    }
)
# Unseen values, spaces, empty lists, missing cells.
LISTS_HOSTILE = pd.DataFrame(
    {
        "age": [np.nan, 99.0, 0.0, 30.0],
        "movie_id": [999, 3, 7, 11],
        "zip": ["", "never", None, "75001"],
        "genres": ["\u00a0Action | Western", "", None, "|||"],
        "history": [" 7 | 42 ", None, "", "3|3|3|3|3"],
        "ratings": [" 1.5 | -2 ", None, "", "1|2|3|4|5"],
        "prices": ["1e3| 2 ", None, "", "0"],
    }
)


def test_save_and_load_round_trip_the_new_options(tmp_path):
    encoder = list_encoder().fit(LISTS)
    encoder.save(tmp_path / "encoder.json")
    loaded = FeatureEncoder.load(tmp_path / "encoder.json")
    assert loaded.columns == encoder.columns and loaded.state == encoder.state
    assert loaded.feature_spec == encoder.feature_spec
    for name, value in encoder.transform(LISTS_HOSTILE).items():
        np.testing.assert_array_equal(loaded.transform(LISTS_HOSTILE)[name], value, err_msg=name)
    for column in encoder.columns:
        assert column_from_dict(column.to_dict()) == column
    saved = json.loads((tmp_path / "encoder.json").read_text())
    history = next(c for c in saved["columns"] if c["name"] == "history")
    assert history["weight_column"] == "ratings" and "combiner" not in history  # defaults are left out


def tampered(change):
    config = json.loads(json.dumps(list_encoder().fit(LISTS).to_config()))
    FeatureEncoder.from_config(config)
    change(config)
    return config


def column(config, name):
    return next(c for c in config["columns"] if c["name"] == name)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: column(c, "genres").update(combiner="avg"), r"Column 'genres': `combiner` should be one of"),
        (lambda c: column(c, "history").update(weight_column=3), r"Column 'history': `weight_column` should be None"),
        (
            lambda c: column(c, "zip").update(embedding_dim=0),
            r"Column 'zip': `embedding_dim` should be an integer >= 1",
        ),
        (lambda c: column(c, "age").update(embedding_dim=2.0), r"Column 'age': `embedding_dim`"),
        (lambda c: column(c, "prices").update(log2=True), r"Bad arguments for numeric_sequence column 'prices'"),
        (lambda c: c["state"]["prices"].update(std=0.0), r"column 'prices': `std` should be positive"),
        (lambda c: c["state"]["prices"].update(mean=float("nan")), r"column 'prices': `mean` should be a finite"),
        (lambda c: c["state"]["prices"].pop("max_len"), r"column 'prices' is missing \['max_len'\]"),
        (lambda c: c["state"]["prices"].update(input_dtype="float64"), r"column 'prices': `input_dtype` should be"),
        (lambda c: c["state"]["prices"].update(vocabulary=[]), r"column 'prices' has unknown key\(s\)"),
        (
            lambda c: c["state"]["history"].update(vocabulary=c["state"]["history"]["vocabulary"][::-1]),
            r"column 'history': `vocabulary` differs from that of column 'movie_id', with which it shares the table",
        ),
        (lambda c: column(c, "history").update(min_count=3), r"share the table 'movie_id' .* differ in `min_count`"),
        (lambda c: column(c, "history").update(embedding_name="age"), r"names a numeric column"),
    ],
)
def test_a_tampered_file_with_the_new_options_is_refused_naming_the_field(change, message, tmp_path):
    path = tmp_path / "encoder.json"
    path.write_text(json.dumps(tampered(change)))
    with pytest.raises(ValueError, match=message):
        FeatureEncoder.load(path)


# ---------------------------------------------------------------- one row, one encoding, on every path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    encoder = list_encoder()
    x = encoder.fit_transform(LISTS)
    keras.utils.set_random_seed(3)
    model = build_deepfm(encoder.feature_spec, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit({k: v.reshape(len(v), -1) for k, v in x.items()}, np.arange(len(LISTS)) % 2, epochs=5, verbose=0)
    path = export_serving_model(model, encoder, tmp_path_factory.mktemp("lists") / "1")
    return encoder, model, path


@pytest.mark.parametrize("rows", [LISTS, LISTS_HOSTILE], ids=["train", "hostile"])
def test_transform_the_pipeline_and_the_served_signature_agree(served, rows):
    encoder, model, path = served
    arrays = encoder.transform(rows)
    assert list(arrays) == input_names(encoder.feature_spec) and set(arrays) == set(model.input)
    scores = model.predict({k: v.reshape(len(v), -1) for k, v in arrays.items()}, verbose=0)[:, 0]
    dataset = make_dataset(rows, np.zeros(len(rows)), batch_size=3, shuffle=False, encoder=encoder)
    batches = list(dataset)
    for name, value in arrays.items():
        piped = np.concatenate([b[0][name].numpy() for b in batches])
        np.testing.assert_array_equal(piped.reshape(value.shape), value, err_msg=name)  # NaN padding equal too
    data_scores = model.predict(dataset.map(lambda x, y: x), verbose=0)[:, 0]
    loaded = tf.saved_model.load(str(path))
    request = {k: tf.constant(v) for k, v in serving_request(rows, encoder).items()}
    assert set(request) == {"age", "movie_id", "zip", "genres", "history", "ratings", "prices"}
    encoded = loaded.signatures["preprocess"](**request)
    for name, value in arrays.items():
        np.testing.assert_array_equal(encoded[name].numpy().reshape(value.shape), value, err_msg=name)
    served_scores = predictions(loaded.signatures["serving_default"](**request))
    np.testing.assert_allclose(data_scores, scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose(served_scores, scores, rtol=0, atol=1e-6)
    assert np.isfinite(scores).all()


def test_hostile_list_values_follow_the_rules(served):
    encoder = served[0]
    x = encoder.transform(LISTS_HOSTILE)
    ids = {k: i + 2 for i, k in enumerate(encoder.vocabularies["movie_id"])}
    assert x["history"][0].tolist() == [ids["7"], OOV_ID, 0] and x["ratings"][0].tolist() == [1.5, -2.0, 0.0]
    assert x["history"][3].tolist() == [ids["3"]] * 3 and x["ratings"][3].tolist() == [1.0, 2.0, 3.0]  # cut to 3
    assert not x["history"][1:3].any() and not x["ratings"][1:3].any()
    assert np.isnan(x["prices"][1:3]).all() and not np.isnan(x["prices"][0, :2]).any()
    assert np.isnan(x["prices"][0, 2:]).all()


def test_bad_lists_in_a_served_request_fail_naming_the_feature(served):
    encoder, _, path = served
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    cases = [
        ({"ratings": ["1", None, "", "1|2|3|4|5"]}, "Feature `ratings` has a row whose number of weights differs"),
        ({"ratings": ["1|x", None, "", "1|2|3|4|5"]}, "Feature `ratings` holds a token that is not a finite"),
        ({"prices": ["1|nan", None, "", "0"]}, "Feature `prices_split` holds a token that is not a finite"),
    ]
    for change, message in cases:
        request = {k: tf.constant(v) for k, v in serving_request(LISTS_HOSTILE.assign(**change), encoder).items()}
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            signature(**request)


def test_requests_carry_the_new_columns_as_strings(served):
    encoder, _, path = served
    assert request_dtypes(encoder) == {
        "age": "float64",
        "movie_id": "int64",
        "zip": "string",
        "genres": "string",
        "history": "string",
        "ratings": "string",
        "prices": "string",
    }
    body = serving_request(LISTS.iloc[[0, 4, 7]], path, as_json=True)  # the artifact alone is enough
    assert body["inputs"]["ratings"] == ["5|4|3|1", "1|0.5", "4"]
    assert body["inputs"]["prices"] == ["9.99|12.5", "0.5", "1.25"]
    frame = request_to_frame(body)
    for name, value in encoder.transform(LISTS.iloc[[0, 4, 7]]).items():
        np.testing.assert_array_equal(encoder.transform(frame)[name], value, err_msg=name)
    with pytest.raises(ValueError, match="not a categorical column"):
        request_dtypes(encoder, {"ratings": "string"})
