"""The registry of column kinds: a kind registered from outside the package is used by `FeatureEncoder` unchanged.

The new kind here, `TextLengthColumn`, turns a string into its length in
characters (missing: 0), scaled by a fitted maximum: one file's worth of code
and one `register_column_kind` call, then fit, transform, `tf.data`-style
`encode`, the feature spec, save and load all work with no other change.
"""

import dataclasses
import json
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras.encoding import (
    COLUMN_KINDS,
    CategoricalColumn,
    Column,
    ColumnState,
    FeatureEncoder,
    NumericColumn,
    column_from_dict,
    register_column_kind,
)
from deepfm_keras.encoding import raw as raw_values
from deepfm_keras.encoding.column import GROUPS, read_number, state_fields
from deepfm_keras.spec.features import NumericFeature


@dataclasses.dataclass(frozen=True)
class LengthState(ColumnState):
    longest: float
    input_dtype: str = "string"


class TextLength(keras.layers.Layer):
    def __init__(self, longest: float, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.longest = longest
        self._convert_input_args = False  # raw strings in, as the encoding layers take them
        self._allow_non_tensor_positional_args = True
        self.built = True

    def call(self, strings):
        return tf.cast(tf.strings.length(strings, unit="UTF8_CHAR"), tf.float32) / self.longest


@dataclasses.dataclass(frozen=True)
class TextLengthColumn(Column):
    name: str
    kind = "text_length"
    group = "numeric"

    def __post_init__(self):
        NumericFeature(self.name)

    def _keys(self, data):
        return raw_values.factorized_keys(data, self.name)

    def learn(self, data) -> LengthState:
        _, keys = self._keys(data)
        return LengthState(float(max([len(k) for k in keys if k is not None] + [1])))

    def state_from_dict(self, state: Any) -> LengthState:
        state_fields(self, state, {"longest", "input_dtype"}, "string")
        return LengthState(read_number(self.name, "longest", state["longest"], positive=True))

    def build_layers(self, state: LengthState, shared: dict) -> dict:
        return {self.name: TextLength(state.longest, name=self.name)}

    def transform(self, layers, data) -> dict:
        codes, keys = self._keys(data)
        return {self.name: layers[self.name](raw_values.cells(keys)).numpy()[codes]}

    def raw_inputs(self, data, dtype=None) -> dict:
        codes, keys = self._keys(data)
        return {self.name: raw_values.cells(keys)[codes]}

    def features(self, state) -> list:
        return [NumericFeature(self.name)]


@pytest.fixture
def registered():
    register_column_kind(TextLengthColumn)
    yield TextLengthColumn
    del COLUMN_KINDS[TextLengthColumn.kind]


TABLE = pd.DataFrame({"title": ["Heat", "Alien", None, "Ran"], "x": [1.0, 2.0, 3.0, None], "u": ["a", "b", "a", "c"]})


def test_every_kind_is_in_the_registry_under_its_own_name():
    assert sorted(COLUMN_KINDS) == ["bucketized", "categorical", "multi_categorical", "numeric", "numeric_sequence"]
    for kind, cls in COLUMN_KINDS.items():
        assert cls.kind == kind and cls.group in GROUPS and issubclass(cls, Column)


def test_a_registered_kind_is_fitted_encoded_and_saved_with_no_other_change(registered, tmp_path):
    encoder = FeatureEncoder(numeric=["x", TextLengthColumn("title")], categorical=["u"]).fit(TABLE)
    assert [c.name for c in encoder.columns] == ["x", "title", "u"]  # ordered by the kind's group
    assert encoder.state["title"] == LengthState(5.0)
    x = encoder.transform(TABLE)
    assert list(x) == ["x", "title", "u"]
    np.testing.assert_allclose(x["title"], [0.8, 1.0, 0.0, 0.6])
    encoded = encoder.encode({k: tf.constant(v) for k, v in encoder.raw_inputs(TABLE).items()})
    np.testing.assert_allclose(encoded["title"].numpy().ravel(), x["title"])
    assert encoder.feature_spec[1] == NumericFeature("title") and encoder.input_dtypes["title"] == "string"

    encoder.save(tmp_path / "encoder.json")
    saved = json.loads((tmp_path / "encoder.json").read_text())
    assert saved["columns"][1] == {"kind": "text_length", "name": "title"}
    assert saved["state"]["title"] == {"longest": 5.0, "input_dtype": "string"}
    loaded = FeatureEncoder.load(tmp_path / "encoder.json")
    assert loaded.columns == encoder.columns and loaded.state == encoder.state
    np.testing.assert_array_equal(loaded.transform(TABLE)["title"], x["title"])

    saved["state"]["title"]["longest"] = 0
    with pytest.raises(ValueError, match="column 'title': `longest` should be positive"):
        FeatureEncoder.from_config(saved)


def test_a_kind_that_is_not_registered_is_refused_by_the_encoder_and_the_file_reader():
    with pytest.raises(ValueError, match=r"Column 'title' is of kind 'text_length', which is not registered"):
        FeatureEncoder(numeric=[TextLengthColumn("title")])
    with pytest.raises(ValueError, match=r"Unknown column kind 'text_length' for column 'title'"):
        column_from_dict({"kind": "text_length", "name": "title"})


def test_register_column_kind_refuses_what_cannot_be_a_kind(registered):
    assert register_column_kind(TextLengthColumn) is TextLengthColumn  # registering again is harmless

    @dataclasses.dataclass(frozen=True)
    class Taken(NumericColumn):
        pass

    with pytest.raises(ValueError, match="Column kind 'numeric' is taken by NumericColumn"):
        register_column_kind(Taken)

    @dataclasses.dataclass(frozen=True)
    class Nowhere(TextLengthColumn):
        kind = "nowhere"
        group = "elsewhere"

    with pytest.raises(ValueError, match=r"`Nowhere.group` should be one of"):
        register_column_kind(Nowhere)
    with pytest.raises(ValueError, match="should be a dataclass subclassing `Column`"):
        register_column_kind(dict)


def test_a_column_round_trips_through_its_dict_by_kind():
    for column in [NumericColumn("x", log1p=True), CategoricalColumn("u", num_bins=7, embedding_dim=3)]:
        assert column_from_dict(column.to_dict()) == column == type(column).from_dict(column.to_dict())
    with pytest.raises(ValueError, match="Column 'u' is of kind 'numeric', not 'categorical'"):
        CategoricalColumn.from_dict({"kind": "numeric", "name": "u"})
