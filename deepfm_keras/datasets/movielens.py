"""MovieLens 1M and 100K (GroupLens Research) as one joined pandas DataFrame.

```python
from deepfm_keras.datasets import movielens
df = movielens.load_movielens("ml-1m")                       # downloads and caches the zip
df = movielens.load_movielens("ml-100k", data_dir="ml-100k")  # or reads a local folder
```

One row per rating, with columns:

| column | dtype | meaning |
| --- | --- | --- |
| `user_id`, `movie_id` | int32 | GroupLens ids |
| `rating` | float32 | 1-5 stars |
| `timestamp` | int64 | Unix seconds |
| `gender` | object | `"M"` / `"F"` |
| `age` | int32 | ML-1M: age bucket code (1, 18, 25, ...); ML-100K: years |
| `occupation` | int32 (ML-1M code) / object (ML-100K name) | |
| `zip` | object | zip code as written (some are not 5 digits) |
| `zip_prefix` | object | first 3 characters of `zip` (the US sectional center) |
| `title` | object | title with year, decoded from latin-1 |
| `genres` | object | genres joined by `"|"` (`""` if none) |
| `year` | float64 | release year from the title (ML-100K: else from the release date); NaN if absent |

Layouts read: ML-1M `ratings.dat`, `users.dat`, `movies.dat` (`::`
separated; `movies.dat` is latin-1); ML-100K `u.data` (tab separated),
`u.user`, `u.item` (`|` separated, latin-1, 19 genre flags).

The data is GroupLens' and its terms forbid redistribution: the loader
downloads the official archive (checked against GroupLens' published MD5) or
reads a folder you obtained yourself. Cite F. M. Harper and J. A. Konstan,
"The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

# Official archives and the MD5 checksums GroupLens publishes beside them
# (files.grouplens.org/datasets/movielens/<name>.zip.md5). `keras.utils.get_file`
# accepts MD5 as well as SHA-256 and checks every download against it.
ARCHIVES = {
    "ml-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906"),
    "ml-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723"),
}
FILES = {
    "ml-1m": ("ratings.dat", "users.dat", "movies.dat"),
    "ml-100k": ("u.data", "u.user", "u.item"),
}
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
COLUMNS = (
    "user_id", "movie_id", "rating", "timestamp", "gender", "age", "occupation", "zip", "zip_prefix",
    "title", "genres", "year",
)  # fmt: skip


def download(variant: str = "ml-1m", cache_dir: str | os.PathLike | None = None) -> Path:
    """Downloads and extracts the official GroupLens archive (once; cached by Keras).

    Args:
        variant: `"ml-1m"` or `"ml-100k"`.
        cache_dir: Keras cache folder (default `$KERAS_HOME` or `~/.keras`).

    Returns:
        The folder holding the variant's files.
    """
    import keras

    _check_variant(variant)
    origin, md5 = ARCHIVES[variant]
    path = Path(
        keras.utils.get_file(
            f"{variant}.zip",
            origin=origin,
            file_hash=md5,
            hash_algorithm="md5",
            extract=True,
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        )
    )
    for candidate in (path / variant, path):  # the zip holds one top folder named after the variant
        if (candidate / FILES[variant][0]).is_file():
            return candidate
    raise FileNotFoundError(f"Extracted {variant}.zip at {path} but found no {FILES[variant][0]} in it.")


def load_movielens(variant: str = "ml-1m", data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Loads the ratings of a MovieLens variant joined with user and movie features.

    Args:
        variant: `"ml-1m"` or `"ml-100k"`.
        data_dir: folder with the GroupLens files of that variant (e.g. an
            unzipped `ml-1m/`); `None` downloads the official archive.

    Returns:
        A DataFrame with one row per rating, in the file's order, and the
        columns listed in the module docstring.

    Raises:
        ValueError: for an unknown variant.
        FileNotFoundError: if `data_dir` lacks one of the variant's files,
            naming it.
    """
    _check_variant(variant)
    folder = download(variant) if data_dir is None else Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"MovieLens data folder {str(folder)!r} does not exist.")
    for name in FILES[variant]:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{variant}: file {name!r} not found in {str(folder)!r}; the folder should hold "
                f"{', '.join(FILES[variant])} as in GroupLens' {variant}.zip."
            )
    if variant == "ml-1m":
        ratings, users, movies = _read_ml1m(folder)
    else:
        ratings, users, movies = _read_ml100k(folder)
    if ratings.empty:
        raise ValueError(f"{variant}: {str(folder / FILES[variant][0])!r} holds no ratings.")
    users["zip_prefix"] = users["zip"].str.slice(0, 3)
    movies["year"] = movies["title"].str.extract(r".*\((\d{4})\)", expand=False).astype("float64")
    if "release_year" in movies:
        movies["year"] = movies["year"].fillna(movies.pop("release_year"))
    df = ratings.merge(users, on="user_id", how="left", validate="many_to_one")
    df = df.merge(movies, on="movie_id", how="left", validate="many_to_one")
    unknown_users = int(df["gender"].isna().sum())
    unknown_movies = int(df["title"].isna().sum())
    if unknown_users or unknown_movies:
        raise ValueError(
            f"{variant} in {str(folder)!r}: {unknown_users} ratings of users missing from the users file and "
            f"{unknown_movies} of movies missing from the movies file."
        )
    return df[list(COLUMNS)]


def _check_variant(variant):
    if variant not in FILES:
        raise ValueError(f"`variant` should be one of {sorted(FILES)}. Received: variant={variant!r}")


def _read_table(path: Path, sep: str, names, dtype, encoding="ascii", **kwargs) -> pd.DataFrame:
    """Reads a GroupLens table with pandas' C parser; a malformed file raises a ValueError naming it and the line.

    A `::` separator is replaced by a tab in memory first (pandas would need
    its slow Python engine for a multi-character separator).
    """
    data = path.read_bytes()
    if sep == "::":
        data, sep = data.replace(b"::", b"\t"), "\t"
    try:
        return pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=None,
            names=names,
            dtype=dtype,
            encoding=encoding,
            quoting=3,  # csv.QUOTE_NONE: titles may hold quote characters
            keep_default_na=False,
            engine="c",
            **kwargs,
        )
    except (ValueError, TypeError, pd.errors.ParserError) as e:  # UnicodeDecodeError is a ValueError
        where = _first_bad_line(data, sep, names, dtype, encoding)
        raise ValueError(f"Cannot read {str(path)!r}{where}: {e}") from e


def _first_bad_line(data: bytes, sep: str, names, dtype, encoding) -> str:
    """Locates the first line of a table that does not parse (error path only; plain Python)."""
    integer_columns = [i for i, n in enumerate(names) if str(dtype.get(n, "")).startswith(("int", "float"))]
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            fields = raw.decode(encoding).split(sep)
        except UnicodeDecodeError:
            return f", line {number} (not {encoding} text)"
        if len(fields) != len(names):
            return f", line {number} ({len(fields)} fields, expected {len(names)})"
        for i in integer_columns:
            try:
                float(fields[i])
            except ValueError:
                return f", line {number} (field {names[i]}={fields[i]!r} is not a number)"
    return ""


def _read_ml1m(folder: Path):
    ratings = _read_table(
        folder / "ratings.dat",
        "::",
        ["user_id", "movie_id", "rating", "timestamp"],
        {"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64"},
    )
    users = _read_table(
        folder / "users.dat",
        "::",
        ["user_id", "gender", "age", "occupation", "zip"],
        {"user_id": "int32", "gender": str, "age": "int32", "occupation": "int32", "zip": str},
    )
    movies = _read_table(
        folder / "movies.dat",
        "::",
        ["movie_id", "title", "genres"],
        {"movie_id": "int32", "title": str, "genres": str},
        encoding="latin-1",
    )
    return ratings, users, movies


def _read_ml100k(folder: Path):
    ratings = _read_table(
        folder / "u.data",
        "\t",
        ["user_id", "movie_id", "rating", "timestamp"],
        {"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64"},
    )
    users = _read_table(
        folder / "u.user",
        "|",
        ["user_id", "age", "gender", "occupation", "zip"],
        {"user_id": "int32", "age": "int32", "gender": str, "occupation": str, "zip": str},
    )
    flags = list(ML100K_GENRES)
    items = _read_table(
        folder / "u.item",
        "|",
        ["movie_id", "title", "release_date", "video_release_date", "url", *flags],
        {"movie_id": "int32", "title": str, "release_date": str, **dict.fromkeys(flags, "int8")},
        encoding="latin-1",
    )
    flag_matrix = items[flags].to_numpy().astype(bool)
    names = np.array(flags, dtype=object)
    genres = ["|".join(names[row]) for row in flag_matrix]
    release = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce")
    movies = pd.DataFrame(
        {
            "movie_id": items["movie_id"],
            "title": items["title"].str.strip(),
            "genres": genres,
            "release_year": release.dt.year.astype("float64"),
        }
    )
    return ratings, users, movies
