"""Writes the encoder files of `tests/encoding/test_file_format.py`: one file of each version, written by the code of that time.

- `v1.json`: format 1, written by the encoder before the `encoding` package
  (commit 54ad562^: numeric, categorical and multi-categorical columns by name).
- `v2_every_option.json`: format 2 with every column kind and every option
  added after format 2 first shipped (weights, numeric sequences, shared
  tables, per-feature embedding sizes, combiners), written by commit 49b9f44
  (the last commit before encoding was organised by column kind).
- `expected.npz`: what commit 49b9f44 gives for `rows.json` with each file
  loaded (`<file>/<input name>` -> array), so a later encoder must give the same.

The v2 file of the pre-spec fixtures (`tests/data/pre_spec_files/encoder.json`)
covers format 2 before those options.

    git worktree add /tmp/enc_v1 54ad562^ && git worktree add /tmp/enc_before 49b9f44
    PYTHONPATH=/tmp/enc_v1 python tests/encoding/files/make.py v1
    PYTHONPATH=/tmp/enc_before python tests/encoding/files/make.py v2
    PYTHONPATH=/tmp/enc_before python tests/encoding/files/make.py expected
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FILES = ("v1.json", "v2_every_option.json")


def rows(name: str) -> pd.DataFrame:
    """The raw rows of `rows.json` under `name` ("v1" or "v2") as a DataFrame (None: a missing cell)."""
    table = json.loads((HERE / "rows.json").read_text(encoding="utf-8"))[name]
    return pd.DataFrame({column: pd.Series(cells, dtype=dtype) for column, (dtype, cells) in table.items()})


def fit_split(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[: len(frame) // 2 + 1]


def write_v1() -> None:
    from deepfm_keras.preprocessing import FeatureEncoder

    encoder = FeatureEncoder(numeric=["x"], categorical=["u", "v"], multi_categorical={"g": "|"}, max_len={"g": 2})
    encoder.fit(fit_split(rows("v1")))
    encoder.save(HERE / "v1.json")


def v2_encoder():
    """The encoder of `v2_every_option.json`, unfitted: every column kind, every option added to format 2."""
    from deepfm_keras.encoding import (
        BucketizedColumn,
        CategoricalColumn,
        FeatureEncoder,
        MultiCategoricalColumn,
        NumericColumn,
        NumericSequenceColumn,
    )

    return FeatureEncoder(
        numeric=[
            NumericColumn("age", clip_min=0.0, clip_max=90.0, missing_indicator=True, embedding_dim=3),
            NumericColumn("count", log1p=True, standardize=False),
        ],
        categorical=[
            "movie_id",
            CategoricalColumn("zip", num_bins=50, embedding_dim=4),
            CategoricalColumn("seen", embedding_name="movie_id"),
            BucketizedColumn("price", boundaries=(1.0, 10.0, 100.0)),
            BucketizedColumn("score", num_buckets=3, embedding_dim=2),
        ],
        multi_categorical=[
            MultiCategoricalColumn("genres", combiner="max", min_count=1, max_size=4),
            MultiCategoricalColumn("history", weight_column="ratings", embedding_name="movie_id", max_len=3),
            MultiCategoricalColumn("tags", separator=";", num_bins=20, combiner="sum"),
        ],
        numeric_sequence=[
            NumericSequenceColumn("prices", log1p=True, combiner="sum", embedding_dim=2),
            NumericSequenceColumn("waits", separator=";", max_len=2, clip_max=10.0, standardize=False),
        ],
    )


def write_v2() -> None:
    v2_encoder().fit(fit_split(rows("v2"))).save(HERE / "v2_every_option.json")


def write_expected() -> None:
    from deepfm_keras.encoding import FeatureEncoder

    out = {}
    for file in FILES:
        encoder = FeatureEncoder.load(HERE / file)
        for name, value in encoder.transform(rows(file.split("_")[0].removesuffix(".json"))).items():
            out[f"{file}/{name}"] = value
    np.savez(HERE / "expected.npz", **out)


if __name__ == "__main__":
    {"v1": write_v1, "v2": write_v2, "expected": write_expected}[sys.argv[1]]()
