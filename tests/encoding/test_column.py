"""The column base class and the fitted state: typed frozen dataclasses, their JSON form, shared tables."""

import dataclasses

import pandas as pd
import pytest

from deepfm_keras.encoding import (
    BucketizedColumn,
    CategoricalColumn,
    ColumnState,
    FeatureEncoder,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
)
from deepfm_keras.encoding.categorical import CategoricalState, MultiCategoricalState
from deepfm_keras.encoding.column import check_tables, tables
from deepfm_keras.encoding.numeric import BucketState, NumericSequenceState, NumericState

TABLE = pd.DataFrame(
    {
        "x": [1.0, 3.0, None],
        "u": [7, 3, 7],
        "h": ["p", "q", None],
        "b": [1.0, 5.0, 9.0],
        "g": ["3|7", "7", ""],
        "s": ["1|2", "", "4"],
    }
)


def fitted():
    return FeatureEncoder(
        numeric=["x"],
        categorical=["u", CategoricalColumn("h", num_bins=5), BucketizedColumn("b", boundaries=(2.0, 6.0))],
        multi_categorical=[MultiCategoricalColumn("g", embedding_name="u")],
        numeric_sequence=["s"],
    ).fit(TABLE)


def test_the_fitted_state_is_one_frozen_dataclass_per_column():
    state = fitted().state
    assert state == {
        "x": NumericState(2.0, 1.0),
        "u": CategoricalState("int64", ("7", "3")),
        "h": CategoricalState("string"),
        "b": BucketState((2.0, 6.0)),
        "g": MultiCategoricalState(2, "string", ("7", "3")),
        "s": NumericSequenceState(7 / 3, pytest.approx(1.247219128924647), 2),
    }
    assert all(isinstance(s, ColumnState) and dataclasses.is_dataclass(s) for s in state.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        state["x"].mean = 0.0


def test_a_state_is_written_field_by_field_in_order_none_left_out():
    assert CategoricalState("string").to_dict() == {"input_dtype": "string"}
    assert list(MultiCategoricalState(3, vocabulary=("a",)).to_dict().items()) == [
        ("max_len", 3),
        ("input_dtype", "string"),
        ("vocabulary", ["a"]),
    ]
    column = NumericSequenceColumn("s")
    assert column.state_from_dict(NumericSequenceState(0.5, 2.0, 4).to_dict()) == NumericSequenceState(0.5, 2.0, 4)


def test_the_encoder_views_read_the_states():
    encoder = fitted()
    assert encoder.vocabularies == {"u": ["7", "3"], "g": ["7", "3"]}
    assert encoder.boundaries == {"b": [2.0, 6.0]} and encoder.max_lens == {"g": 2, "s": 2}
    assert list(encoder.numeric_stats) == ["x", "s"]
    assert encoder.input_dtypes == {
        "x": "float64",
        "u": "int64",
        "h": "string",
        "b": "float64",
        "g": "string",
        "s": "string",
    }
    assert [encoder.vocabulary_size(n) for n in ("u", "h", "b", "g")] == [4, 7, 5, 4]


def test_tables_group_the_columns_that_share_ids():
    columns = [NumericColumn("x"), CategoricalColumn("u"), MultiCategoricalColumn("g", embedding_name="u")]
    assert {t: [c.name for c in group] for t, group in tables(columns).items()} == {"u": ["u", "g"]}
    with pytest.raises(ValueError, match="embedding_name='x' names a numeric column"):
        check_tables([*columns, CategoricalColumn("v", embedding_name="x")])
