"""A table as a folder of shards (`deepfm_keras.run.shards`): which files, and their rows chunk by chunk."""

import gzip

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.encoding import CategoricalColumn, FeatureEncoder
from deepfm_keras.run.shards import iter_chunks, resolve
from deepfm_keras.run.tables import DataError, read_table


def _day(day: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    price = rng.normal(10, 3, rows)
    price[rng.random(rows) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "user": rng.integers(0, 30, rows),
            "city": rng.choice(["paris", "rome", "oslo"], rows),
            "price": price,
            "clicked": rng.integers(0, 2, rows),
        }
    )


@pytest.fixture
def parquet_days(tmp_path):
    """logs/2026-12-0<d>/part-<k>.parquet for 3 days x 2 parts, plus the markers writers leave."""
    root = tmp_path / "logs"
    for day in (1, 2, 3):
        folder = root / f"2026-12-0{day}"
        folder.mkdir(parents=True)
        for part in (0, 1):
            _day(day * 10 + part, 150 + 10 * part).to_parquet(folder / f"part-{part}.parquet", row_group_size=64)
        (folder / "_SUCCESS").write_text("")
        (folder / ".part-0.parquet.crc").write_bytes(b"\x00")
    return root


def test_a_folder_is_its_data_files_in_path_order(parquet_days):
    files = resolve(parquet_days)
    assert [f.split("logs/")[1] for f in files] == [f"2026-12-0{d}/part-{p}.parquet" for d in (1, 2, 3) for p in (0, 1)]
    assert resolve(str(parquet_days / "2026-12-0[23]" / "*.parquet")) == files[2:]
    assert resolve([files[5], files[0]]) == [files[5], files[0]]  # a list keeps its order


def test_paths_that_match_nothing_or_mix_formats_are_refused(parquet_days, tmp_path):
    with pytest.raises(DataError, match="nothing-here.*matches no data file"):
        resolve(tmp_path / "nothing-here")
    with pytest.raises(DataError, match=r"\*\.csv' matches no data file"):
        resolve(str(parquet_days / "*" / "*.csv"))
    _day(0, 5).to_csv(parquet_days / "2026-12-01" / "extra.csv", index=False)
    with pytest.raises(DataError, match="both Parquet and CSV"):
        resolve(parquet_days)


def test_chunks_are_the_rows_read_table_reads(parquet_days):
    files = resolve(parquet_days)
    chunks = list(iter_chunks(files, rows=50))
    assert max(len(c) for c in chunks) == 50 and len(chunks) > len(files)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), read_table(files))
    only = next(iter_chunks(files, columns=["user", "clicked"], rows=10))
    assert list(only.columns) == ["user", "clicked"] and len(only) == 10


def test_gzip_csv_shards_are_read_by_their_first_bytes(tmp_path):
    frames = [_day(d, 120) for d in (1, 2)]
    paths = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"day{i}.csv"  # gzip content under a plain .csv name
        with gzip.open(path, "wt") as f:
            frame.to_csv(f, index=False)
        paths.append(str(path))
    chunks = list(iter_chunks(resolve(paths), rows=64))
    assert [len(c) for c in chunks] == [64, 56, 64, 56]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), read_table(paths))


def test_an_encoder_fitted_chunk_by_chunk_on_shards_is_the_one_fitted_on_the_table(parquet_days):
    files = resolve(parquet_days)

    def encoder():
        return FeatureEncoder(numeric=["price"], categorical=[CategoricalColumn("user", min_count=12), "city"])

    whole = encoder().fit(read_table(files))
    streamed = encoder().fit_chunks(iter_chunks(files, columns=["user", "city", "price"], rows=40))
    assert streamed.vocabularies == whole.vocabularies
    assert streamed.state["price"].mean == pytest.approx(whole.state["price"].mean, rel=1e-12)
    assert streamed.state["price"].std == pytest.approx(whole.state["price"].std, rel=1e-12)


def test_a_shard_without_a_requested_column_is_named(parquet_days):
    files = resolve(parquet_days)
    with pytest.raises(DataError, match=r"part-0\.parquet has no column 'zip'"):
        list(iter_chunks(files, columns=["user", "zip"]))
    csv = parquet_days / "day.csv"
    _day(0, 5).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"day\.csv.*zip"):
        list(iter_chunks([str(csv)], columns=["user", "zip"]))


def _streamed(files, encoder, **kwargs):
    from deepfm_keras.run.shards import stream_dataset

    batches = list(stream_dataset(files, encoder, label="clicked", **kwargs))
    x = {k: np.concatenate([b[0][k].numpy() for b in batches]) for k in batches[0][0]}
    y = np.concatenate([b[1].numpy() for b in batches])
    return batches, x, y


def test_a_streamed_dataset_is_the_in_memory_one_batch_for_batch(parquet_days):
    from deepfm_keras import make_dataset

    files = resolve(parquet_days)
    table = read_table(files)
    encoder = FeatureEncoder(numeric=["price"], categorical=["user", "city"]).fit(table)
    batches, x, y = _streamed(files, encoder, batch_size=64, rows=50)
    assert [len(b[1]) for b in batches[:-1]] == [64] * (len(batches) - 1)  # chunks of 50 re-cut into batches of 64
    expected = list(make_dataset(table, table["clicked"].to_numpy(), encoder=encoder, batch_size=64, shuffle=False))
    assert len(batches) == len(expected)
    for (xs, ys), (xe, ye) in zip(batches, expected, strict=True):
        for name in xe:
            np.testing.assert_array_equal(xs[name].numpy(), xe[name].numpy(), err_msg=name)
        np.testing.assert_array_equal(ys.numpy(), ye.numpy().reshape(-1, 1))


def test_a_seeded_stream_shuffles_files_and_rows_reproducibly_and_loses_none(parquet_days):
    from deepfm_keras.run.shards import stream_dataset

    files = resolve(parquet_days)
    table = read_table(files)
    encoder = FeatureEncoder(numeric=["price"], categorical=["user", "city"]).fit(table)
    _, x1, y1 = _streamed(files, encoder, batch_size=64, rows=50, seed=3)
    _, x2, _ = _streamed(files, encoder, batch_size=64, rows=50, seed=3)
    plain = encoder.transform(table)
    np.testing.assert_array_equal(x1["user"], x2["user"])  # the same seed: the same order
    assert not np.array_equal(x1["user"].reshape(-1), plain["user"].reshape(-1))  # shuffled...

    def key(x):
        user, city, price = (np.asarray(x[n]).reshape(-1) for n in ("user", "city", "price"))
        return sorted(zip(user.tolist(), city.tolist(), np.round(price, 5).tolist(), strict=True))

    assert key(x1) == key(plain) and sorted(y1[:, 0]) == sorted(table["clicked"])  # ...every row once
    dataset = stream_dataset(files, encoder, label="clicked", batch_size=64, rows=50, seed=3)
    first, second = ([b[0]["user"].numpy() for b in dataset] for _ in range(2))  # two epochs of one dataset
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=False))  # each epoch its own order


def test_missing_ids_in_a_later_shard_stream_as_oov(tmp_path):
    from deepfm_keras.run.shards import stream_dataset

    pd.DataFrame({"user": [1, 2, 2], "clicked": [1, 0, 1]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"user": [2.0, np.nan], "clicked": [0, 1]}).to_parquet(tmp_path / "b.parquet")  # read as float64
    files = resolve(tmp_path)
    encoder = FeatureEncoder(categorical=["user"]).fit_chunks(iter_chunks(files, columns=["user"]))
    assert encoder.state["user"].input_dtype == "int64"
    ((x, y),) = list(stream_dataset(files, encoder, label="clicked", batch_size=8))
    assert x["user"].numpy()[:, 0].tolist() == [3, 2, 2, 2, 1]  # 2 is the most frequent; NaN is OOV (1)
    assert y.numpy()[:, 0].tolist() == [1, 0, 1, 0, 1]
