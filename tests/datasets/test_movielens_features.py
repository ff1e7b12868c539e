"""Tests of the leak-free MovieLens history features against a naive per-row Python reference."""

import math

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.datasets.movielens import load_movielens
from deepfm_keras.datasets.movielens_features import COLUMNS, add_history_features, assign_folds

LISTS = ("user_items", "movie_raters", "user_genres")
WEIGHTS = {"user_item_ratings": "user_items", "user_genre_weights": "user_genres", "user_genre_ratings": "user_genres"}
NUMERIC = ("user_count", "movie_count", "user_mean", "movie_mean", "rating_year", "movie_age")
MARKER_MOVIE, MARKER_USER, MARKER_GENRE, MARKER_RATING = 999, 77, "Marker", 1000.0


def split(cell: str) -> list[str]:
    return cell.split("|") if cell else []


def naive_row(df, fold, i: int, *, max_items: int, max_raters: int, prior: float, glob: float | None = None) -> dict:
    """The features of row `i`, by the module docstring's definitions, one Python loop at a time.

    `glob`: the out-of-fold global mean, if `df` is only part of the frame.
    """
    rows = df.to_dict("records")
    me, k = rows[i], fold[i]
    source = [j for j in range(len(rows)) if fold[j] >= 0]
    oof = [j for j in source if fold[j] != k]  # a non-source row (k = -1) reads every source row
    mine = [j for j in source if rows[j]["user_id"] == me["user_id"] and j != i]
    mine.sort(key=lambda j: (-rows[j]["timestamp"], rows[j]["movie_id"]))
    mine = mine[:max_items]
    oof_user = [j for j in oof if rows[j]["user_id"] == me["user_id"]]
    mu = sum(rows[j]["rating"] for j in oof_user) / len(oof_user) if oof_user else 0.0
    raters = [j for j in source if rows[j]["movie_id"] == me["movie_id"] and j != i]
    raters.sort(key=lambda j: (-rows[j]["timestamp"], rows[j]["user_id"]))
    counts, devs = {}, {}
    for j in oof_user:
        for g in split(rows[j]["genres"]):
            counts[g] = counts.get(g, 0) + 1
            devs[g] = devs.get(g, 0.0) + rows[j]["rating"] - mu
    genres = sorted(counts, key=lambda g: (-counts[g], g))
    glob = sum(rows[j]["rating"] for j in oof) / len(oof) if glob is None else glob
    oof_movie = [j for j in oof if rows[j]["movie_id"] == me["movie_id"]]
    year = pd.Timestamp(me["timestamp"], unit="s").year
    return {
        "user_items": [str(rows[j]["movie_id"]) for j in mine],
        "user_item_ratings": [0.0 if fold[j] == k else rows[j]["rating"] - mu for j in mine],
        "movie_raters": [str(rows[j]["user_id"]) for j in raters[:max_raters]],
        "user_genres": genres,
        "user_genre_weights": [counts[g] / len(oof_user) for g in genres],
        "user_genre_ratings": [devs[g] / (counts[g] + prior) for g in genres],
        "user_count": math.log1p(sum(rows[j]["user_id"] == me["user_id"] and j != i for j in source)),
        "movie_count": math.log1p(sum(rows[j]["movie_id"] == me["movie_id"] and j != i for j in source)),
        "user_mean": (sum(rows[j]["rating"] for j in oof_user) + prior * glob) / (len(oof_user) + prior),
        "movie_mean": (sum(rows[j]["rating"] for j in oof_movie) + prior * glob) / (len(oof_movie) + prior),
        "rating_year": float(year),
        "movie_age": year - me["year"],
    }


def assert_row_matches(out: pd.DataFrame, expected: dict, i: int):
    got = out.iloc[i]
    for col in LISTS:
        assert split(got[col]) == expected[col], (i, col)
    for col, ids in WEIGHTS.items():
        values = [float(v) for v in split(got[col])]
        assert len(values) == len(split(got[ids])), (i, col)
        np.testing.assert_allclose(values, expected[col], atol=5.1e-5, rtol=0, err_msg=f"row {i} {col}")
    for col in NUMERIC:
        np.testing.assert_allclose(got[col], expected[col], rtol=1e-12, atol=1e-12, err_msg=f"row {i} {col}")


@pytest.fixture
def small() -> tuple[pd.DataFrame, np.ndarray]:
    """30 ratings of 6 users on 8 movies (timestamps with ties) and 6 non-source rows carrying markers."""
    rng = np.random.default_rng(3)
    genres = {1: "Drama", 2: "Comedy|Drama", 3: "Action", 4: "", 5: "Action|Comedy|Sci-Fi", 6: "Drama|War",
              7: "Comedy", 8: "Animation|Comedy", MARKER_MOVIE: MARKER_GENRE}  # fmt: skip
    pairs = rng.permutation([(u, m) for u in range(1, 7) for m in range(1, 9)])[:30].tolist()
    rows = [(u, m, float(rng.integers(1, 6)), int(rng.integers(0, 4)) * 86_400 * 200) for u, m in pairs]
    # Non-source rows: a movie and a user seen nowhere else, an absurd rating, pairs not in the source rows.
    taken = {(u, m) for u, m in pairs}
    extra = [(u, m) for u in range(1, 7) for m in range(1, 9) if (u, m) not in taken][:3]
    rows += [(u, m, MARKER_RATING, 10**9) for u, m in extra]
    rows += [(2, MARKER_MOVIE, MARKER_RATING, 10**9), (MARKER_USER, 3, MARKER_RATING, 10**9),
             (MARKER_USER, MARKER_MOVIE, MARKER_RATING, 10**9)]  # fmt: skip
    df = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    df["genres"] = df["movie_id"].map(genres)
    df["year"] = 1990.0 + df["movie_id"]
    df.index = df.index * 10 + 5  # the index is never read
    source = np.arange(len(df)) < 30
    return df, source


@pytest.mark.parametrize("max_items, max_raters", [(50, 50), (2, 3), (1, 1)])
def test_matches_naive_reference_on_a_small_frame(small, max_items, max_raters):
    df, source = small
    out = add_history_features(df, source, max_items=max_items, max_raters=max_raters, folds=3, seed=4, prior=2.0)
    fold = assign_folds(source, len(df), folds=3, seed=4)
    assert list(out.columns) == [*df.columns, *COLUMNS]
    assert out.index.equals(df.index)
    for i in range(len(df)):
        assert_row_matches(out, naive_row(df, fold, i, max_items=max_items, max_raters=max_raters, prior=2.0), i)


def test_no_leak_of_non_source_rows_or_of_a_rows_own_rating(small):
    df, source = small
    out = add_history_features(df, source, max_items=50, max_raters=50, folds=3, seed=4)
    for row in out.itertuples():
        assert str(row.movie_id) not in split(row.user_items)
        assert str(row.user_id) not in split(row.movie_raters)
        assert str(MARKER_MOVIE) not in split(row.user_items)
        assert str(MARKER_USER) not in split(row.movie_raters)
        assert MARKER_GENRE not in split(row.user_genres)
        for col in ("user_item_ratings", "user_genre_ratings"):
            assert all(abs(float(v)) <= 4 for v in split(getattr(row, col))), col
        assert 1 <= row.user_mean <= 5 and 1 <= row.movie_mean <= 5
    # The unseen user has no history; the unseen movie no raters; both read the global mean.
    marker = out[(out.user_id == MARKER_USER) & (out.movie_id == MARKER_MOVIE)].iloc[0]
    for col in ("user_items", "user_item_ratings", "movie_raters", "user_genres", "user_genre_weights"):
        assert marker[col] == "", col
    assert marker.user_count == 0 and marker.movie_count == 0
    assert marker.user_mean == marker.movie_mean == pytest.approx(df["rating"][source].mean())
    # Any non-source ratings, and a source row's own rating, change nothing in that row's features.
    changed = df.copy()
    changed.loc[~source, "rating"] = np.nan
    pd.testing.assert_frame_equal(
        add_history_features(changed, source, folds=3, seed=4)[list(COLUMNS)], out[list(COLUMNS)]
    )
    for i in range(0, 30, 3):
        changed = df.copy()
        changed.iloc[i, changed.columns.get_loc("rating")] = 5.0 if df["rating"].iloc[i] < 3 else 1.0
        again = add_history_features(changed, source, folds=3, seed=4)
        pd.testing.assert_series_equal(again[list(COLUMNS)].iloc[i], out[list(COLUMNS)].iloc[i])


def test_empty_history_gives_empty_lists():
    df = pd.DataFrame({"user_id": [1, 1, 2, 3], "movie_id": [1, 2, 1, 3], "rating": [4.0, 2.0, 5.0, 3.0],
                       "timestamp": [0, 1, 2, 3], "genres": ["Drama", "", "Drama", "Comedy"],
                       "year": [1999.0, np.nan, 1999.0, 2000.0]})  # fmt: skip
    out = add_history_features(df, [True, True, True, False], folds=2, seed=0)
    # User 2's only source rating is its own row; user 3 has none; movie 2 has no other rater.
    for i in (2, 3):
        assert out["user_items"].iloc[i] == out["user_item_ratings"].iloc[i] == "", i
    assert out["movie_raters"].iloc[1] == "" and out["movie_raters"].iloc[3] == ""
    assert out["user_genres"].iloc[3] == out["user_genre_weights"].iloc[3] == out["user_genre_ratings"].iloc[3] == ""
    assert math.isnan(out["movie_age"].iloc[1])


def test_deterministic_under_a_seed_and_source_as_positions(small):
    df, source = small
    a = add_history_features(df, source, seed=7, folds=3)
    pd.testing.assert_frame_equal(a, add_history_features(df, np.flatnonzero(source), seed=7, folds=3))
    pd.testing.assert_frame_equal(a, add_history_features(df, pd.Series(source, index=df.index), seed=7, folds=3))
    b = add_history_features(df, source, seed=8, folds=3)
    assert not a["user_mean"].equals(b["user_mean"])
    np.testing.assert_array_equal(
        assign_folds(source, len(df), folds=3, seed=7), assign_folds(source, len(df), folds=3, seed=7)
    )
    folds = assign_folds(source, len(df), folds=3, seed=7)
    assert np.bincount(folds[source]).tolist() == [10, 10, 10] and (folds[~source] == -1).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_items": 0}, "`max_items` should be a positive integer"), ({"max_raters": 1.5}, "`max_raters`"),
     ({"folds": 1}, "`folds` should be an integer of at least 2"), ({"prior": -1.0}, "`prior` should be"),
     ({"time_column": "when"}, r"lacks the column\(s\) \['when'\]")],
)  # fmt: skip
def test_bad_arguments_raise(small, kwargs, message):
    df, source = small
    with pytest.raises(ValueError, match=message):
        add_history_features(df, source, **kwargs)


def test_bad_frames_and_sources_raise(small):
    df, source = small
    with pytest.raises(ValueError, match="repeats a"):
        add_history_features(pd.concat([df, df.iloc[:1]]), np.r_[source, True])
    broken = df.copy()
    broken.iloc[0, broken.columns.get_loc("rating")] = np.nan
    with pytest.raises(ValueError, match="non-finite value in a source row"):
        add_history_features(broken, source)
    with pytest.raises(ValueError, match="one entry per row"):
        add_history_features(df, source[:-1])
    with pytest.raises(ValueError, match="positions should lie in"):
        add_history_features(df, [0, len(df)])
    with pytest.raises(ValueError, match="fewer than folds=5"):
        add_history_features(df, [0, 1, 2])


@pytest.fixture(scope="module")
def ml100k(shared_data) -> pd.DataFrame:
    return load_movielens("ml-100k", shared_data / "ml-100k")


def test_ml100k_matches_naive_reference_on_sampled_rows(ml100k):
    df = ml100k[["user_id", "movie_id", "rating", "timestamp", "genres", "year"]]
    source = np.random.default_rng(0).random(len(df)) < 0.8
    out = add_history_features(df, source, max_items=30, max_raters=40, folds=5, seed=1, prior=10.0)
    fold = assign_folds(source, len(df), folds=5, seed=1)
    for i in np.random.default_rng(1).choice(len(df), size=40, replace=False).tolist():
        # Naive over the rows of the row's user and movie only (and the global mean), so it stays quick.
        near = np.flatnonzero((df["user_id"] == df["user_id"].iloc[i]) | (df["movie_id"] == df["movie_id"].iloc[i]))
        glob = df["rating"].to_numpy(dtype=np.float64)[source & (fold != fold[i])].mean()
        local = df.iloc[near].reset_index(drop=True)
        at = int(np.searchsorted(near, i))
        assert_row_matches(out, naive_row(local, fold[near], at, max_items=30, max_raters=40, prior=10.0, glob=glob), i)
    lengths = out["user_items"].str.count(r"\|") + (out["user_items"] != "")
    assert lengths.max() == 30
    assert (out["movie_raters"].str.count(r"\|") + (out["movie_raters"] != "")).max() == 40
