"""Tests of the MovieLens loader on the shared GroupLens files (never copied into the repo)."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.datasets import movielens
from deepfm_keras.datasets.movielens import COLUMNS, load_movielens

ML1M_GENRES = {
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
}  # fmt: skip


@pytest.fixture(scope="module")
def ml1m_dir(shared_data) -> Path:
    return shared_data / "ml-1m-users1-2999"


@pytest.fixture(scope="module")
def ml100k_dir(shared_data) -> Path:
    return shared_data / "ml-100k"


@pytest.fixture(scope="module")
def ml1m(ml1m_dir):
    return load_movielens("ml-1m", ml1m_dir)


@pytest.fixture(scope="module")
def ml100k(ml100k_dir):
    return load_movielens("ml-100k", ml100k_dir)


def naive_lines(path: Path, sep: str, encoding: str = "latin-1") -> list[list[str]]:
    return [line.split(sep) for line in path.read_text(encoding=encoding).splitlines()]


def test_ml1m_rows_dtypes_and_counts(ml1m):
    assert len(ml1m) == 487_650
    assert list(ml1m.columns) == list(COLUMNS)
    for col, dtype in {"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64",
                       "age": "int32", "occupation": "int32", "year": "float64"}.items():  # fmt: skip
        assert ml1m[col].dtype == dtype, col
    for col in ("gender", "zip", "zip_prefix", "title", "genres"):
        assert pd.api.types.is_string_dtype(ml1m[col].dtype), col
    # Rating counts published with the shared data (README of ../shared/data).
    assert ml1m["rating"].value_counts().sort_index().tolist() == [27_472, 53_838, 127_216, 170_579, 108_545]
    assert ml1m["user_id"].min() == 1 and ml1m["user_id"].max() == 2999 and ml1m["user_id"].nunique() == 2999
    assert not ml1m.isna().any().any()  # every ML-1M title carries its year
    assert set(ml1m["gender"]) == {"M", "F"}
    assert set(ml1m["age"]) == {1, 18, 25, 35, 45, 50, 56}
    assert set("|".join(ml1m["genres"].unique()).split("|")) == ML1M_GENRES


def test_ml1m_matches_a_naive_parse(ml1m, ml1m_dir):
    ratings = naive_lines(ml1m_dir / "ratings.dat", "::")[:2000]
    users = {r[0]: r for r in naive_lines(ml1m_dir / "users.dat", "::")}
    movies = {r[0]: r for r in naive_lines(ml1m_dir / "movies.dat", "::")}
    head = ml1m.iloc[:2000]
    assert head["user_id"].tolist() == [int(r[0]) for r in ratings]  # file order kept
    assert head["movie_id"].tolist() == [int(r[1]) for r in ratings]
    assert head["rating"].tolist() == [float(r[2]) for r in ratings]
    assert head["timestamp"].tolist() == [int(r[3]) for r in ratings]
    assert head["zip"].tolist() == [users[r[0]][4] for r in ratings]
    assert head["occupation"].tolist() == [int(users[r[0]][3]) for r in ratings]
    assert head["title"].tolist() == [movies[r[1]][1] for r in ratings]
    assert head["genres"].tolist() == [movies[r[1]][2] for r in ratings]
    years = [float(re.findall(r"\((\d{4})\)", movies[r[1]][1])[-1]) for r in ratings]
    assert head["year"].tolist() == years
    assert head["zip_prefix"].tolist() == [users[r[0]][4][:3] for r in ratings]


def test_ml1m_latin1_titles_intact(ml1m):
    titles = set(ml1m["title"])
    assert "Misérables, Les (1995)" in titles
    assert not any("\ufffd" in t or "Ã" in t for t in titles)  # no replacement chars, no UTF-8 mojibake
    row = ml1m[ml1m["movie_id"] == 73].iloc[0]
    assert (row["title"], row["genres"], row["year"]) == ("Misérables, Les (1995)", "Drama|Musical", 1995.0)


def test_ml100k_rows_dtypes_and_features(ml100k, ml100k_dir):
    assert len(ml100k) == 100_000
    assert list(ml100k.columns) == list(COLUMNS)
    for col, dtype in {"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64",
                       "age": "int32", "year": "float64"}.items():  # fmt: skip
        assert ml100k[col].dtype == dtype, col
    assert pd.api.types.is_string_dtype(ml100k["occupation"].dtype)
    assert ml100k["user_id"].nunique() == 943 and ml100k["movie_id"].nunique() == 1682
    ratings = naive_lines(ml100k_dir / "u.data", "\t")
    np.testing.assert_array_equal(ml100k["rating"].to_numpy(), [float(r[2]) for r in ratings])
    np.testing.assert_array_equal(ml100k["movie_id"].to_numpy(), [int(r[1]) for r in ratings])
    movies = ml100k.drop_duplicates("movie_id").set_index("movie_id")
    assert movies.loc[1, "title"] == "Toy Story (1995)"
    assert movies.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert movies.loc[543, "title"] == "Misérables, Les (1995)"
    assert np.isnan(movies.loc[267, "year"]) and movies.loc[267, "title"] == "unknown"
    assert movies.loc[267, "genres"] == "unknown"
    # Title without a year but with a release date, e.g. 1412 "... (1995) (V)" keeps the title's year.
    assert movies.loc[1412, "year"] == 1995.0
    user = ml100k[ml100k["user_id"] == 1].iloc[0]
    assert (user["age"], user["gender"], user["occupation"], user["zip"]) == (24, "M", "technician", "85711")
    items = {r[0]: r for r in naive_lines(ml100k_dir / "u.item", "|")}
    flags = {mid: "|".join(g for g, f in zip(movielens.ML100K_GENRES, r[5:], strict=True) if f == "1")
             for mid, r in items.items()}  # fmt: skip
    assert all(movies.loc[int(mid), "genres"] == g for mid, g in flags.items())
    assert not any("\ufffd" in t for t in movies["title"])


def test_bad_data_dir_names_the_missing_file(tmp_path, ml1m_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens("ml-1m", tmp_path / "nowhere")
    (tmp_path / "ratings.dat").write_text("1::1::5::0\n")
    with pytest.raises(FileNotFoundError, match="'users.dat' not found"):
        load_movielens("ml-1m", tmp_path)
    with pytest.raises(FileNotFoundError, match="'u.data' not found"):
        load_movielens("ml-100k", ml1m_dir)
    with pytest.raises(ValueError, match="variant"):
        load_movielens("ml-20m", ml1m_dir)


def test_ratings_of_unknown_users_are_reported(tmp_path, ml1m_dir):
    for name in ("users.dat", "movies.dat"):
        (tmp_path / name).symlink_to(ml1m_dir / name)
    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n9999::1::4::978300760\n")
    with pytest.raises(ValueError, match="1 ratings of users missing"):
        load_movielens("ml-1m", tmp_path)


def test_download_uses_the_official_archive_and_pinned_md5(tmp_path, monkeypatch, ml100k_dir):
    calls = []

    def fake_get_file(fname, origin, file_hash, hash_algorithm, extract, cache_dir):
        calls.append((fname, origin, file_hash, hash_algorithm, extract))
        extracted = tmp_path / "ml-100k_extracted"
        extracted.mkdir(exist_ok=True)
        if not (extracted / "ml-100k").exists():
            (extracted / "ml-100k").symlink_to(ml100k_dir)  # stands for the unzipped archive
        return str(extracted)

    monkeypatch.setattr("keras.utils.get_file", fake_get_file)
    df = load_movielens("ml-100k")
    assert len(df) == 100_000
    assert calls == [
        ("ml-100k.zip", "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
         "0e33842e24a9c977be4e0107933c0723", "md5", True),
    ]  # fmt: skip
    for origin, md5 in movielens.ARCHIVES.values():
        assert origin.startswith("https://files.grouplens.org/") and re.fullmatch(r"[0-9a-f]{32}", md5)


@pytest.mark.parametrize(
    "ratings, message",
    [
        ("1\t2\t3\t881250949\n1\t2\tx\t881250949\n", r"u\.data', line 2 \(field rating='x' is not a number\)"),
        ("1\t2\t3\t881250949\n1\t2\t3\n", r"u\.data', line 2 \(3 fields, expected 4\)"),
        ("1\t2\t3\t881250949\n1\t2\t3\t881250949\t5\n", r"u\.data', line 2 \(5 fields, expected 4\)"),
        ("", r"u\.data' holds no ratings"),
    ],
    ids=["non-numeric", "missing field", "extra field", "empty"],
)
def test_malformed_files_name_the_file_and_line(tmp_path, ml100k_dir, ratings, message):
    for name in ("u.user", "u.item"):
        (tmp_path / name).symlink_to(ml100k_dir / name)
    (tmp_path / "u.data").write_text(ratings)
    with pytest.raises(ValueError, match=message):
        load_movielens("ml-100k", tmp_path)


def test_ml1m_bad_bytes_name_the_file(tmp_path, ml1m_dir):
    (tmp_path / "movies.dat").symlink_to(ml1m_dir / "movies.dat")
    (tmp_path / "ratings.dat").write_bytes(b"1::1193::5::978300760\n1:::661::3::978300760\n")
    (tmp_path / "users.dat").write_bytes(b"1::F::1::10::48067\n")
    with pytest.raises(ValueError, match=r"ratings\.dat', line 2 \(field movie_id=':661' is not a number\)"):
        load_movielens("ml-1m", tmp_path)
    (tmp_path / "ratings.dat").write_bytes(b"1::1193::5::978300760\n")
    (tmp_path / "users.dat").write_bytes(b"1::F::1::10::4806\xe9\n")  # latin-1 byte in an ASCII file
    with pytest.raises(ValueError, match=r"users\.dat', line 1 \(not ascii text\)"):
        load_movielens("ml-1m", tmp_path)
