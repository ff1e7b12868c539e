import json

import pytest

from deepfm_keras.spec.feature_spec import field_order, normalize_spec, spec_from_dicts, spec_to_dicts
from deepfm_keras.spec.features import CategoricalFeature, MultiCategoricalFeature, NumericFeature, feature_from_dict

SPEC = [
    NumericFeature("age"),
    CategoricalFeature("user_id", vocabulary_size=6041),
    MultiCategoricalFeature("genres", vocabulary_size=19, max_len=6),
]


def test_json_round_trip():
    text = json.dumps(spec_to_dicts(SPEC))
    assert spec_from_dicts(json.loads(text)) == SPEC


def test_features_are_frozen():
    with pytest.raises(AttributeError):
        SPEC[1].vocabulary_size = 3


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: CategoricalFeature("user_id", vocabulary_size=1),
            "user_id.*vocabulary_size.*Received: vocabulary_size=1",
        ),
        (lambda: CategoricalFeature("user_id", vocabulary_size=2.5), "user_id.*vocabulary_size"),
        (lambda: CategoricalFeature("flag", vocabulary_size=True), "flag.*vocabulary_size"),
        (lambda: MultiCategoricalFeature("genres", vocabulary_size=1, max_len=3), "genres.*vocabulary_size"),
        (
            lambda: MultiCategoricalFeature("genres", vocabulary_size=19, max_len=0),
            "genres.*max_len.*Received: max_len=0",
        ),
        (lambda: NumericFeature(""), "name"),
        (lambda: NumericFeature("has space"), "has space"),
    ],
)
def test_bad_feature_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_normalize_spec_errors():
    with pytest.raises(ValueError, match="empty"):
        normalize_spec([])
    with pytest.raises(ValueError, match="Duplicate feature name 'age'"):
        normalize_spec([NumericFeature("age"), CategoricalFeature("age", 3)])
    with pytest.raises(ValueError, match="NumericFeature"):
        normalize_spec(["age"])
    with pytest.raises(ValueError, match="list of features"):
        normalize_spec(NumericFeature("age"))


def test_feature_from_dict_errors():
    with pytest.raises(ValueError, match="Unknown feature kind 'text'.*'desc'"):
        feature_from_dict({"kind": "text", "name": "desc"})
    with pytest.raises(ValueError, match="'u'"):
        feature_from_dict({"kind": "categorical", "name": "u"})


def test_normalize_accepts_dicts():
    assert normalize_spec(spec_to_dicts(SPEC)) == SPEC


def test_field_order_numeric_first():
    spec = [CategoricalFeature("a", 3), NumericFeature("b"), MultiCategoricalFeature("c", 4, 2), NumericFeature("d")]
    assert field_order(spec) == ["b", "d", "a", "c"]


@pytest.mark.parametrize("name", ["user\n", "user\r\n", " user", "user ", "_user", "user id", "ü", "", "1user"])
def test_names_a_signature_cannot_keep_are_refused(name):
    with pytest.raises(ValueError, match="should be a non-empty string of ASCII letters"):
        NumericFeature(name)


@pytest.mark.parametrize("names", [("u", "U"), ("user_id", "User-Id"), ("a.b", "A_B")])
def test_names_differing_only_in_case_or_separators_are_refused(names):
    """The export fails on them ("more than one argument ... was named 'u'"): refused when the spec is made."""
    with pytest.raises(ValueError, match=f"'{names[0]}' and '{names[1]}' differ only in case"):
        normalize_spec([CategoricalFeature(names[0], 3), CategoricalFeature(names[1], 3)])
