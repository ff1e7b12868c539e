"""Leak-free implicit-feedback columns for MovieLens: what each user rated, who rated each movie.

```python
from deepfm_keras.datasets.movielens_history import add_history_columns
frame = add_history_columns(frame, source=is_training_row)     # a copy with the new columns
```

The rating-prediction literature gains most from implicit feedback: which
items a user rated, whatever the stars (SVD++, Koren, KDD 2008). These
columns carry it to DeepFM as id lists, read from the `source` rows only (the
rows the model trains on; never validation or holdout rows):

| column | what | encoded as |
| --- | --- | --- |
| `user_items` | the movies the user rated (the `max_items` latest by timestamp) | id list sharing the `movie_id` table |
| `movie_raters` | the users who rated the movie (the `max_raters` latest) | id list sharing the `user_id` table |
| `user_genres`, `user_genre_weights` | the genres of the movies the user rated, each weighted by its share of them | weighted id list sharing the `genres` table |
| `user_count`, `movie_count` | `log1p` of the number of ratings the user gave / the movie got | numeric |
| `movie_age` | the rating's year minus the movie's release year (NaN if unknown) | numeric |

No label enters any column: the lists, shares and counts are built from
which movies were rated, never from the stars. A source row's own rating is
left out of its own columns (its movie is not in its `user_items`, its user
not in its `movie_raters`, its movie's genres not in its shares, and its
counts are one less), so a training row sees the history a holdout row sees:
every other source rating of the same user and movie. A non-source row
(validation, holdout) sees all source rows.

The columns are strings joined by `"|"` (`""` for an empty list) and floats,
what `FeatureEncoder`'s multi-categorical and numeric columns read.

`add_rating_columns` adds the explicit side, which does read stars:
`user_rated` (the user's latest rated movies) weighted by `user_rated_scores`
(each rating minus the user's mean). A leave-one-out version would leak the
label: the centred ratings of a user's other movies sum to exactly
`mean - rating`. So a source row's columns are built out of fold: the source
rows are cut into `folds` seeded folds and a row in fold `f` reads the other
folds only (its own rating, and every rating of its fold, never enters);
non-source rows read every source row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HISTORY_COLUMNS = (
    "user_items",
    "movie_raters",
    "user_genres",
    "user_genre_weights",
    "user_count",
    "movie_count",
    "movie_age",
)


def _latest(owner: np.ndarray, member: np.ndarray, time: np.ndarray, keep: int) -> dict[int, np.ndarray]:
    """Per owner, its members ordered latest first, at most `keep` of them."""
    order = np.lexsort((-time, owner))  # by owner, then latest first
    owner, member = owner[order], member[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    return {int(owner[s]): member[s : min(e, s + keep)] for s, e in zip(starts, ends, strict=True)}


def _lists(owners: np.ndarray, excluded: np.ndarray, is_source: np.ndarray, table: dict, cap: int) -> list[str]:
    """Each row's list: its owner's members without the row's own member (for a source row), at most `cap`."""
    out = []
    empty = np.zeros(0, dtype="int64")
    for owner, own, source in zip(owners.tolist(), excluded.tolist(), is_source.tolist(), strict=True):
        members = table.get(owner, empty)
        if source:
            members = members[members != own]
        out.append("|".join(map(str, members[:cap].tolist())))
    return out


def add_history_columns(
    frame: pd.DataFrame,
    source,
    *,
    max_items: int = 50,
    max_raters: int = 50,
) -> pd.DataFrame:
    """Returns a copy of `frame` with the implicit-feedback columns of the module docstring.

    Args:
        frame: one row per rating, with `user_id`, `movie_id`, `timestamp`,
            `genres` (`"|"`-joined) and `year` (as `load_movielens` gives).
        source: boolean mask (or array of positions) of the rows whose
            ratings the columns may read: the training rows.
        max_items: longest `user_items` list.
        max_raters: longest `movie_raters` list.

    Returns:
        A copy of `frame` with the columns added.

    Raises:
        ValueError: for a missing column, a bad `source` or cap.

    Example:

    >>> df = pd.DataFrame({"user_id": [1, 1, 2], "movie_id": [10, 20, 10], "timestamp": [1, 2, 3],
    ...                    "genres": ["A|B", "B", "A"], "year": [1990.0, 2000.0, 1990.0]})
    >>> out = add_history_columns(df, source=[True, True, False])
    >>> out["user_items"].tolist(), out["movie_raters"].tolist()
    (['20', '10', ''], ['', '', '1'])
    """
    missing = [c for c in ("user_id", "movie_id", "timestamp", "genres", "year") if c not in frame.columns]
    if missing:
        raise ValueError(f"add_history_columns needs the column(s) {missing}. Columns: {list(frame.columns)}")
    for name, cap in (("max_items", max_items), ("max_raters", max_raters)):
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"`{name}` should be an integer >= 1. Received: {name}={cap!r}")
    n = len(frame)
    mask = np.asarray(source)
    if mask.dtype == bool:
        if mask.shape != (n,):
            raise ValueError(f"`source` should be a boolean mask of {n} rows. Received shape {mask.shape}")
    else:
        positions = mask.astype("int64")
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            raise ValueError(f"`source` positions should be in [0, {n}).")
        mask = np.zeros(n, dtype=bool)
        mask[positions] = True
    user = frame["user_id"].to_numpy("int64")
    movie = frame["movie_id"].to_numpy("int64")
    time = frame["timestamp"].to_numpy("int64")
    out = frame.copy()

    # One extra member kept per owner: a source row drops its own member and still has `cap` left.
    items = _latest(user[mask], movie[mask], time[mask], max_items + 1)
    raters = _latest(movie[mask], user[mask], time[mask], max_raters + 1)
    out["user_items"] = _lists(user, movie, mask, items, max_items)
    out["movie_raters"] = _lists(movie, user, mask, raters, max_raters)

    user_n = pd.Series(user[mask]).value_counts()
    movie_n = pd.Series(movie[mask]).value_counts()
    own = mask.astype("float64")  # a source row's own rating is not counted for it
    out["user_count"] = np.log1p(np.maximum(pd.Series(user).map(user_n).fillna(0).to_numpy() - own, 0))
    out["movie_count"] = np.log1p(np.maximum(pd.Series(movie).map(movie_n).fillna(0).to_numpy() - own, 0))
    rated = pd.to_datetime(time, unit="s").year.to_numpy("float64")
    out["movie_age"] = rated - frame["year"].to_numpy("float64")

    out["user_genres"], out["user_genre_weights"] = _genre_profiles(frame["genres"], user, mask)
    return out


def _genre_profiles(genres: pd.Series, user: np.ndarray, mask: np.ndarray) -> tuple[list[str], list[str]]:
    """Each row's user genre shares over the source rows, the row's own movie left out for a source row."""
    lists = genres.fillna("").astype(str).str.split("|")
    names = sorted({g for row in lists for g in row if g})
    index = {g: i for i, g in enumerate(names)}
    onehot = np.zeros((len(lists), len(names)), dtype="float64")
    for r, row in enumerate(lists):
        for g in row:
            if g:
                onehot[r, index[g]] = 1.0
    users, inverse = np.unique(user, return_inverse=True)
    totals = np.zeros((len(users), len(names)))
    np.add.at(totals, inverse[mask], onehot[mask])
    counts = totals[inverse] - onehot * mask[:, None]  # leave a source row's own movie out
    sums = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)
    genre_out, weight_out = [], []
    for row in shares:
        present = np.flatnonzero(row > 0)
        genre_out.append("|".join(names[i] for i in present))
        weight_out.append("|".join(f"{row[i]:.4g}" for i in present))
    return genre_out, weight_out


def _fold_lists(user, movie, rating, time, readable, rows, cap):
    """`(ids, scores)` strings for `rows`: each user's latest `cap` rated movies among `readable` rows, centred."""
    order = np.lexsort((-time[readable], user[readable]))
    u, m, r = user[readable][order], movie[readable][order], rating[readable][order]
    if not len(u):
        return [("", "")] * int(rows.sum())
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    ends = np.r_[starts[1:], len(u)]
    table = {}
    for s0, e0 in zip(starts.tolist(), ends.tolist(), strict=True):
        mean = r[s0:e0].mean()
        stop = min(e0, s0 + cap)
        table[int(u[s0])] = ("|".join(map(str, m[s0:stop].tolist())), "|".join(f"{v:.3g}" for v in (r[s0:stop] - mean)))
    return [table.get(int(x), ("", "")) for x in user[rows].tolist()]


def add_rating_columns(frame: pd.DataFrame, source, *, max_items: int = 50, folds: int = 5, seed: int = 0):
    """Returns a copy of `frame` with `user_rated` and `user_rated_scores`, built out of fold (module docstring).

    Args:
        frame: one row per rating with `user_id`, `movie_id`, `rating`, `timestamp`.
        source: boolean mask of the rows whose ratings may be read (the training rows).
        max_items: longest list.
        folds: folds of the source rows (>= 2).
        seed: seed of the fold assignment.

    Returns:
        A copy of `frame` with the two columns.

    Example:

    >>> df = pd.DataFrame({"user_id": [1, 1, 1], "movie_id": [10, 20, 30], "rating": [5.0, 3.0, 4.0],
    ...                    "timestamp": [1, 2, 3]})
    >>> add_rating_columns(df, [True, True, False], folds=2)[["user_rated", "user_rated_scores"]].iloc[2].tolist()
    ['20|10', '-1|1']
    """
    missing = [c for c in ("user_id", "movie_id", "rating", "timestamp") if c not in frame.columns]
    if missing:
        raise ValueError(f"add_rating_columns needs the column(s) {missing}. Columns: {list(frame.columns)}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"`folds` should be an integer >= 2. Received: folds={folds!r}")
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError(f"`max_items` should be an integer >= 1. Received: max_items={max_items!r}")
    mask = np.asarray(source, dtype=bool)
    if mask.shape != (len(frame),):
        raise ValueError(f"`source` should be a boolean mask of {len(frame)} rows. Received shape {mask.shape}")
    user = frame["user_id"].to_numpy("int64")
    movie = frame["movie_id"].to_numpy("int64")
    rating = frame["rating"].to_numpy("float64")
    time = frame["timestamp"].to_numpy("int64")
    fold = np.random.default_rng(seed).integers(0, folds, len(frame))
    ids = np.empty(len(frame), dtype=object)
    scores = np.empty(len(frame), dtype=object)
    groups = [(mask, ~mask)] + [(mask & (fold != f), mask & (fold == f)) for f in range(folds)]
    for readable, rows in groups:
        if rows.any():
            pairs = _fold_lists(user, movie, rating, time, readable, rows, max_items)
            ids[rows] = [p[0] for p in pairs]
            scores[rows] = [p[1] for p in pairs]
    out = frame.copy()
    out["user_rated"], out["user_rated_scores"] = ids.tolist(), scores.tolist()
    return out
