"""The MovieLens implicit-feedback columns: against a per-row Python reference, and free of any label leak."""

import numpy as np
import pandas as pd
import pytest

from deepfm_keras.datasets.movielens_history import add_history_columns


def small_frame(seed=0, n=60):
    rng = np.random.default_rng(seed)
    pairs = set()
    rows = []
    while len(rows) < n:
        u, m = int(rng.integers(1, 8)), int(rng.integers(1, 15))
        if (u, m) in pairs:
            continue
        pairs.add((u, m))
        genres = "|".join(sorted(set(rng.choice(["A", "B", "C", "D"], size=rng.integers(0, 3)).tolist())))
        rows.append((u, m, float(rng.integers(1, 6)), int(rng.integers(0, 10**9)), genres, 1990.0 + m))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp", "genres", "year"])


def reference(frame, source, cap):
    """One row at a time: every other source rating of the row's user / movie, latest first."""
    out = {"user_items": [], "movie_raters": [], "user_count": [], "movie_count": [], "shares": []}
    src = frame[source]
    for i, row in frame.iterrows():
        own = source[i]
        mine = src[(src.user_id == row.user_id) & ~((src.movie_id == row.movie_id) & own)]
        mine = mine.sort_values("timestamp", ascending=False, kind="stable")
        out["user_items"].append("|".join(map(str, mine.movie_id.tolist()[:cap])))
        theirs = src[(src.movie_id == row.movie_id) & ~((src.user_id == row.user_id) & own)]
        theirs = theirs.sort_values("timestamp", ascending=False, kind="stable")
        out["movie_raters"].append("|".join(map(str, theirs.user_id.tolist()[:cap])))
        out["user_count"].append(np.log1p(len(mine)))
        out["movie_count"].append(np.log1p(len(theirs)))
        counts = {}
        for g in "|".join(mine.genres).split("|"):
            if g:
                counts[g] = counts.get(g, 0) + 1
        total = sum(counts.values())
        out["shares"].append({g: c / total for g, c in counts.items()})
    return out


@pytest.mark.parametrize("cap", [2, 50])
def test_columns_match_the_per_row_reference(cap):
    frame = small_frame()
    source = np.random.default_rng(1).random(len(frame)) < 0.7
    got = add_history_columns(frame, source, max_items=cap, max_raters=cap)
    want = reference(frame, source, cap)
    assert got["user_items"].tolist() == want["user_items"]
    assert got["movie_raters"].tolist() == want["movie_raters"]
    np.testing.assert_allclose(got["user_count"], want["user_count"])
    np.testing.assert_allclose(got["movie_count"], want["movie_count"])
    for genres, weights, shares in zip(got["user_genres"], got["user_genre_weights"], want["shares"], strict=True):
        names = genres.split("|") if genres else []
        values = [float(w) for w in weights.split("|")] if weights else []
        assert len(names) == len(values)
        assert dict(zip(names, values, strict=True)) == pytest.approx(shares, rel=1e-3)


def test_nothing_of_a_non_source_row_enters_any_column():
    frame = small_frame(seed=2)
    source = np.ones(len(frame), bool)
    source[[3, 7]] = False
    frame.loc[[3, 7], ["user_id", "movie_id", "genres"]] = [[999, 777, "Z"], [999, 778, "Z"]]
    out = add_history_columns(frame, source)
    tokens = {t for col in ("user_items", "movie_raters", "user_genres") for v in out[col] for t in v.split("|")}
    assert not {"999", "777", "778", "Z"} & tokens
    # The held-out user has no source history at all; its rows see nothing of each other.
    assert out.loc[[3, 7], "user_items"].tolist() == ["", ""]
    assert out.loc[[3, 7], "user_count"].tolist() == [0.0, 0.0]


def test_no_rating_value_enters_any_column():
    frame = small_frame(seed=3)
    source = np.random.default_rng(4).random(len(frame)) < 0.8
    a = add_history_columns(frame, source)
    b = add_history_columns(frame.assign(rating=6 - frame["rating"]), source)
    pd.testing.assert_frame_equal(a.drop(columns="rating"), b.drop(columns="rating"))


def test_a_source_rows_own_movie_and_user_are_left_out():
    frame = small_frame(seed=5)
    out = add_history_columns(frame, np.ones(len(frame), bool))
    for movie, user, items, raters in zip(out.movie_id, out.user_id, out.user_items, out.movie_raters, strict=True):
        assert str(movie) not in items.split("|")
        assert str(user) not in raters.split("|")


def test_movie_age_and_input_checks():
    frame = small_frame(seed=6, n=5)
    out = add_history_columns(frame, [0, 1, 2])
    years = pd.to_datetime(frame["timestamp"], unit="s").dt.year.to_numpy("float64")
    np.testing.assert_allclose(out["movie_age"], years - frame["year"].to_numpy())
    with pytest.raises(ValueError, match=r"needs the column\(s\) \['timestamp'\]"):
        add_history_columns(frame.drop(columns="timestamp"), [0])
    with pytest.raises(ValueError, match=r"`max_items` should be an integer >= 1"):
        add_history_columns(frame, [0], max_items=0)
    with pytest.raises(ValueError, match=r"boolean mask of 5 rows"):
        add_history_columns(frame, np.ones(4, bool))


def test_rating_columns_are_out_of_fold_and_never_read_a_rows_own_rating():
    from deepfm_keras.datasets.movielens_history import add_rating_columns

    frame = small_frame(seed=7, n=80)
    source = np.random.default_rng(8).random(len(frame)) < 0.75
    base = add_rating_columns(frame, source, folds=3, seed=1)
    fold = np.random.default_rng(1).integers(0, 3, len(frame))
    for i in range(len(frame)):
        # A source row's own rating (and its fold's) never enters its own columns...
        changed = frame.copy()
        changed.loc[i, "rating"] = 6 - changed.loc[i, "rating"] + 0.5
        after = add_rating_columns(changed, source, folds=3, seed=1)
        readers = np.flatnonzero(~source | (fold != fold[i])) if source[i] else []
        if not source[i]:
            # ...and a non-source row's rating enters nobody's.
            pd.testing.assert_frame_equal(base.drop(columns="rating"), after.drop(columns="rating"))
            continue
        same = np.setdiff1d(np.arange(len(frame)), readers)
        assert base["user_rated_scores"].iloc[same].tolist() == after["user_rated_scores"].iloc[same].tolist()
    # Against a per-row reference: the user's latest rated movies among the readable rows, centred by their mean.
    for i, row in frame.iterrows():
        readable = source & (fold != fold[i]) if source[i] else source
        mine = frame[readable & (frame.user_id == row.user_id).to_numpy()]
        mine = mine.sort_values("timestamp", ascending=False, kind="stable").head(50)
        assert base.loc[i, "user_rated"] == "|".join(map(str, mine.movie_id))
        want = (mine.rating - frame[readable & (frame.user_id == row.user_id).to_numpy()].rating.mean()).tolist()
        got = [float(v) for v in base.loc[i, "user_rated_scores"].split("|")] if want else []
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)
