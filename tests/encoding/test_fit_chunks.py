"""`FeatureEncoder.fit_chunks`: a table given in chunks fits the state `fit` learns on the whole table."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.encoding import (
    BucketizedColumn,
    CategoricalColumn,
    FeatureEncoder,
    MultiCategoricalColumn,
    NumericColumn,
)
from deepfm_keras.encoding.moments import Moments


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = rng.lognormal(2.0, 1.5, rows)
    price[rng.random(rows) < 0.1] = np.nan
    genres = ["|".join(rng.choice(list("abcdefg"), rng.integers(0, 4))) for _ in range(rows)]
    return pd.DataFrame(
        {
            "price": price,
            "user": rng.zipf(1.5, rows) % 50,  # integer keys, some rare
            "city": rng.choice(["paris", "rome", "oslo", "lima", None], rows),
            "ad": rng.integers(0, 10**6, rows),
            "item": rng.integers(0, 30, rows).astype(str),
            "history": ["|".join(rng.integers(0, 40, rng.integers(0, 5)).astype(str)) for _ in range(rows)],
            "genres": genres,
            "age": rng.normal(35, 12, rows),
            "recent": ["|".join(f"{v:.3f}" for v in rng.normal(size=rng.integers(0, 4))) for _ in range(rows)],
        }
    )


def _encoder() -> FeatureEncoder:
    return FeatureEncoder(
        numeric=[NumericColumn("price", log1p=True, clip_max=500.0), "age"],
        categorical=[
            CategoricalColumn("user", min_count=3),
            CategoricalColumn("city", max_size=3),
            CategoricalColumn("ad", num_bins=1000),
            CategoricalColumn("item"),
            BucketizedColumn("age_bucket", boundaries=(18.0, 30.0, 50.0)),
        ],
        multi_categorical=[
            MultiCategoricalColumn("history", embedding_name="item"),
            MultiCategoricalColumn("genres", min_count=2),
        ],
        numeric_sequence=["recent"],
    )


def _chunks(table: pd.DataFrame, sizes) -> list[pd.DataFrame]:
    cuts = np.cumsum([0, *sizes])
    return [table.iloc[a:b].reset_index(drop=True) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _assert_same_state(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, state in expected.items():
        for field in dataclasses.fields(state):
            a, b = getattr(got[name], field.name), getattr(state, field.name)
            if isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (name, field.name, a, b)
            else:
                assert a == b, (name, field.name)


@pytest.mark.parametrize(
    "sizes",
    [[600], [1] * 40 + [560], [0, 250, 0, 7, 343, 0], [100] * 6],
    ids=["one", "single-rows", "empty-chunks", "even"],
)
def test_chunks_fit_the_state_of_the_whole_table(sizes):
    table = _table(600, seed=0).assign(age_bucket=lambda t: t["age"])
    expected = _encoder().fit(table)
    streamed = _encoder().fit_chunks(_chunks(table, sizes))
    _assert_same_state(streamed.state, expected.state)
    np.testing.assert_array_equal(streamed.transform(table)["user"], expected.transform(table)["user"])


def test_chunks_of_other_dtypes_give_the_keys_of_the_concatenated_table():
    # a shard read as int64, the next as float64 (it holds a NaN), the next as strings: keys are canonical
    chunks = [
        pd.DataFrame({"u": [260, 3, 3]}),
        pd.DataFrame({"u": [260.0, np.nan]}),
        pd.DataFrame({"u": ["3", "x"]}),
    ]
    whole = pd.DataFrame({"u": [260, 3, 3, 260.0, np.nan, "3", "x"]})
    streamed = FeatureEncoder(categorical=["u"]).fit_chunks(chunks)
    assert streamed.state == FeatureEncoder(categorical=["u"]).fit(whole).state
    assert streamed.vocabularies["u"] == ["3", "260", "x"] and streamed.state["u"].input_dtype == "string"
    ints = FeatureEncoder(categorical=["u"]).fit_chunks(chunks[:2])
    assert ints.state["u"].input_dtype == "int64"


def test_moments_merge_as_numpy_computes_them_on_all_values():
    rng = np.random.default_rng(1)
    parts = [rng.normal(5, 3, n) for n in (1, 17, 400, 2)]
    merged = Moments(0, 0.0, 1.0)
    for values in parts:
        merged = merged.merged(Moments(values.size, float(values.mean()), float(values.var())))
    everything = np.concatenate(parts)
    assert merged.count == everything.size
    assert math.isclose(merged.mean, everything.mean(), rel_tol=1e-13)
    assert math.isclose(merged.var, everything.var(), rel_tol=1e-12)


def test_what_cannot_be_fitted_in_chunks_is_refused_naming_the_column():
    chunks = [pd.DataFrame({"age": [1.0, 2.0]}), pd.DataFrame({"age": [3.0]})]
    with pytest.raises(ValueError, match=r"Column 'age' \(bucketized with num_buckets=4\).*`boundaries`"):
        FeatureEncoder(categorical=[BucketizedColumn("age", num_buckets=4)]).fit_chunks(chunks)
    with pytest.raises(ValueError, match="0 rows"):
        FeatureEncoder(numeric=["age"]).fit_chunks([pd.DataFrame({"age": []}), pd.DataFrame({"age": []})])
    with pytest.raises(ValueError, match="age"):  # a bad value in a later chunk names its column, as `fit` does
        FeatureEncoder(numeric=["age"]).fit_chunks([chunks[0], pd.DataFrame({"age": [np.inf]})])


def test_fit_chunks_reads_each_chunk_once_from_an_iterator():
    table = _table(300, seed=2).assign(age_bucket=lambda t: t["age"])
    seen = []

    def chunks():
        for chunk in _chunks(table, [120, 180]):
            seen.append(len(chunk))
            yield chunk

    streamed = _encoder().fit_chunks(chunks())
    assert seen == [120, 180]
    _assert_same_state(streamed.state, _encoder().fit(table).state)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint16", "int8"])
def test_integer_columns_take_the_fast_raw_path_with_the_same_values(dtype, monkeypatch):
    from deepfm_keras.encoding import raw

    values = np.random.default_rng(0).integers(-100 if dtype[0] == "i" else 0, 120, 500).astype(dtype)
    frame = pd.DataFrame({"u": values})
    encoder = FeatureEncoder(categorical=["u"]).fit(frame)
    assert encoder.state["u"].input_dtype == "int64"
    fast = encoder.raw_inputs(frame, dtypes={"u": "int64"})["u"]
    # the general path, keys canonicalised value by value, on the same values as Python objects
    general = encoder.raw_inputs(pd.DataFrame({"u": values.astype(object)}), dtypes={"u": "int64"})["u"]
    assert fast.dtype == general.dtype == np.int64
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(encoder.transform(frame)["u"], encoder.transform(frame.astype(object))["u"])
    as_bytes = encoder.raw_inputs(frame)["u"]  # the default: key bytes
    assert as_bytes.tolist() == encoder.raw_inputs(pd.DataFrame({"u": values.astype(object)}))["u"].tolist()
    assert as_bytes.dtype == object and isinstance(as_bytes[0], bytes)
    called = []
    monkeypatch.setattr(raw, "factorized_keys", lambda *a, **k: called.append(1))
    encoder.raw_inputs(frame, dtypes={"u": "int64"})
    encoder.raw_inputs(frame)
    assert called == []  # no key per value on these paths


def test_integer_keys_from_numpy_columns_are_the_canonical_strings():
    from deepfm_keras.encoding import raw

    values = np.array([0, -7, 2**62, 2**63 - 1, -(2**63), 42, 42], "int64")
    codes, keys = raw.factorized_keys(pd.DataFrame({"u": values}), "u")
    assert keys == [raw.canonical_string(int(v)) for v in dict.fromkeys(values.tolist())]
    assert codes.tolist() == [0, 1, 2, 3, 4, 5, 5]
    _, small = raw.factorized_keys(pd.DataFrame({"u": np.array([3, 250], "uint8")}), "u")
    assert small == ["3", "250"]
