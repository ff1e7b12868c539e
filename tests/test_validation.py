"""Inputs bound by name and checked where they enter: keys, shapes, ids, numbers and labels (issue 13, items 2-3)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    batch_predict,
    build_deepfm,
    make_dataset,
    part_models,
)
from deepfm_keras.spec.features import NUMERIC_LIMIT
from deepfm_keras.validation import check_inputs, check_labels, model_fields, model_task

SPEC = [
    NumericFeature("x"),
    CategoricalFeature("u", vocabulary_size=10),
    MultiCategoricalFeature("g", vocabulary_size=6, max_len=3),
]


def inputs(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=n).astype("float32"),
        "u": rng.integers(0, 10, size=n),
        "g": rng.integers(0, 6, size=(n, 3)),
    }


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def score(model, x):
    return keras.ops.convert_to_numpy(model(x))


# ------------------------------------------------------------------------------------------ keys


ENTRY_POINTS = {
    "predict": lambda m, x: m.predict(x, verbose=0),
    "model(x)": lambda m, x: m(x),
    "evaluate": lambda m, x: m.evaluate(x, np.zeros(8), verbose=0),
    "fit": lambda m, x: m.fit(x, np.zeros(8), epochs=1, verbose=0),
    "fit(make_dataset)": lambda m, x: m.fit(make_dataset(x, np.zeros(8), batch_size=4), epochs=1, verbose=0),
    "fit(validation_data)": lambda m, x: m.fit(inputs(), np.zeros(8), validation_data=(x, np.zeros(8)), verbose=0),
    "batch_predict": lambda m, x: batch_predict(m, x),
    "part model": lambda m, x: part_models(m)["deep"].predict(x, verbose=0),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_an_unexpected_key_is_an_error_naming_it(model, entry):
    """'a_extra' sorts before every input: Keras alone would bind it to 'g' and shift the rest."""
    x = {**inputs(), "a_extra": np.zeros(8, "float32")}
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"Unexpected key\(s\) \['a_extra'\]"):
        ENTRY_POINTS[entry](model, x)
    for w, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)  # nothing trained on it


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_missing_key_names_the_field(model, entry):
    x = {k: v for k, v in inputs().items() if k != "u"}
    # Keras' own data adapter names it first for a dataset: 'Missing data for input "u"'.
    with pytest.raises(ValueError, match=r"Feature\(s\) \['u'\] missing|Missing data for input \"u\""):
        ENTRY_POINTS[entry](model, x)


def test_dict_order_and_shape_convention_never_change_a_score(model):
    x = inputs()
    expected = model.predict(x, verbose=0)
    reordered = {k: x[k] for k in ("g", "x", "u")}
    columns = {"x": x["x"].reshape(-1, 1), "u": x["u"].reshape(-1, 1), "g": x["g"]}
    for variant in (reordered, columns):
        np.testing.assert_allclose(model.predict(variant, verbose=0), expected, rtol=1e-6)
        np.testing.assert_allclose(batch_predict(model, variant), expected, rtol=1e-6)
        np.testing.assert_allclose(score(model, variant), expected, rtol=1e-6)
    # (n,) then (n, 1) through one model's predict: Keras' relaxed retrace of the second shape has unknown rank.
    np.testing.assert_allclose(model.predict(columns, verbose=0), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"Feature 'g' should have shape \(n, 3\)"):
        model.predict({**x, "g": x["g"][:, :2]}, verbose=0)
    with pytest.raises(ValueError, match=r"Feature 'u' should have shape \(n,\) or \(n, 1\)"):
        model.predict({**x, "u": np.stack([x["u"], x["u"]], axis=1)}, verbose=0)
    with pytest.raises(ValueError, match="same number of rows"):
        model.predict({**x, "u": x["u"][:5]}, verbose=0)


def test_a_list_instead_of_a_dict_is_refused(model):
    x = inputs()
    with pytest.raises(ValueError, match="should be a dict from feature name to array"):
        model([x["g"], x["u"], x["x"]])


# ------------------------------------------------------------------------------------------- ids

BAD_IDS = {
    "float id": ("u", [1.5] + [1.0] * 7, r"Feature 'u', row 0: ids should be whole numbers; received 1.5"),
    "NaN id": ("u", [1.0, np.nan] + [1.0] * 6, r"Feature 'u', row 1: ids should be whole numbers; received nan"),
    "inf id": ("u", [1.0, 2.0, np.inf] + [1.0] * 5, r"row 2: ids should be whole numbers; received inf"),
    "id 2**32 + 3": ("u", [2**32 + 3] + [1] * 7, r"row 0: id 4294967299 is outside \[0, 10\)"),
    "id 2**31": ("u", [1, 2**31] + [1] * 6, r"row 1: id 2147483648 is outside \[0, 10\)"),
    "negative id": ("u", [1, 1, -1] + [1] * 5, r"row 2: id -1 is outside \[0, 10\)"),
    "id == vocabulary_size": ("u", [10] + [1] * 7, r"row 0: id 10 is outside \[0, 10\) \(vocabulary_size=10\)"),
    "uint64 beyond int64": ("u", np.array([2**64 - 1] + [1] * 7, "uint64"), "does not fit int64"),
    "string ids": ("u", np.array(["1"] * 8), r"Feature 'u' should hold integer ids; received dtype <U1"),
    "multi-level id": ("g", [[1, 2, 0]] * 3 + [[1, 6, 0]] + [[1, 0, 0]] * 4, r"'g', row 3, column 1: id 6 is outside"),
    "multi-level negative": ("g", [[1, 0, 0]] * 7 + [[0, 0, -2]], r"'g', row 7, column 2: id -2 is outside"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDS))
def test_bad_ids_are_refused_naming_field_row_and_value(model, case):
    name, values, message = BAD_IDS[case]
    x = {**inputs(), name: np.asarray(values)}
    for entry in ("predict", "fit", "evaluate", "batch_predict"):
        with pytest.raises(ValueError, match=message):
            ENTRY_POINTS[entry](model, x)


def test_whole_number_float_ids_equal_int_ids(model):
    x = inputs()
    as_float = {**x, "u": x["u"].astype("float64"), "g": x["g"].astype("float32")}
    np.testing.assert_array_equal(model.predict(as_float, verbose=0), model.predict(x, verbose=0))


def test_a_float_tensor_for_ids_is_refused_by_the_model_itself(model):
    x = {k: tf.constant(v) for k, v in inputs().items()}
    x["u"] = tf.constant([1.5] * 8)
    with pytest.raises(ValueError, match="Feature 'u' of the input of model 'deepfm' is float32; ids should be"):
        model(x)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, "float32"))).batch(4)
    with pytest.raises(ValueError, match="Feature 'u' of the dataset given to fit is float32"):
        model.fit(data, verbose=0)


@pytest.mark.parametrize(
    "value, message",
    [(np.nan, "row 3: nan is not a finite float32"), (np.inf, "row 3: inf"), (1e39, "row 3: 1e\\+39")],
)
def test_non_finite_numeric_inputs_are_refused(model, value, message):
    x = inputs()
    x["x"] = x["x"].astype("float64")
    x["x"][3] = value
    with pytest.raises(ValueError, match=f"Feature 'x', {message}"):
        model.predict(x, verbose=0)


def test_numbers_beyond_the_numeric_limit_are_refused_and_below_it_score_finite(model):
    """1e25 (an unscaled value) once gave a NaN score silently: the FM's squares overflow float32."""
    x = inputs()
    x["x"] = x["x"].astype("float64")
    x["x"][2] = 1e25
    with pytest.raises(ValueError, match=r"Feature 'x', row 2: 1e\+25 is beyond \+-1e\+15"):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=r"row 2: 1e\+25 is beyond"):
        batch_predict(model, x)
    x["x"][2] = -NUMERIC_LIMIT
    assert np.isfinite(model.predict(x, verbose=0)).all()
    x["x"][2] = np.nan
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, "float32"))).batch(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not finite or beyond(.|\n)*in field\(s\):\] \[x\]"):
        model.fit(data, epochs=1, verbose=0)


def test_a_nan_score_never_leaves_predict_silently():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    model.get_layer("combine").bias.assign([np.nan])
    for predict in (lambda x: model.predict(x, verbose=0), lambda x: batch_predict(model, x)):
        with pytest.raises(ValueError, match=r"scored row 0 as nan. Its weights \['combine/bias'\] are not finite"):
            predict(inputs())


# ---------------------------------------------------------------------------------------- labels

BAD_LABELS = {
    "NaN": ([0.0, 1.0, np.nan] + [0.0] * 5, r"row 2: nan should be 0 or 1"),
    "inf": ([np.inf] + [0.0] * 7, r"row 0: inf should be 0 or 1"),
    "5": ([0, 1, 0, 5] + [0] * 4, r"row 3: 5 should be 0 or 1"),
    "-1": ([-1] + [0] * 7, r"row 0: -1 should be 0 or 1"),
    "0.5": ([0.5] + [0] * 7, r"row 0: 0.5 should be 0 or 1"),
    "'1'": (["1"] * 8, r"should be numbers; received dtype <U1 \(row 0: '1'\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_bad_binary_labels_are_refused_before_training(model, case):
    labels, message = BAD_LABELS[case]
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=message):
        model.fit(inputs(), np.asarray(labels), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(inputs(), np.asarray(labels), verbose=0)
    for w, b in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)


def test_regression_labels_need_only_be_finite():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="regression")
    model.compile(optimizer="adam", loss="mse")
    assert model_task(model) == "regression"
    model.fit(inputs(), np.linspace(1, 5, 8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"row 1: nan should be a finite number"):
        model.fit(inputs(), [4.0, np.nan] + [3.0] * 6, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="has 7 rows; the inputs have 8"):
        model.fit(inputs(), np.ones(7), epochs=1, verbose=0)


def test_a_dataset_with_bad_labels_fails_in_the_graph_before_its_step_updates_anything(model):
    """A tf.data pipeline of the user's own: the in-graph check stops the step."""
    x = inputs()
    weights = [w.numpy().copy() for w in model.weights]
    labels = np.zeros(8, "float32")
    labels[5] = 2.0
    data = tf.data.Dataset.from_tensor_slices((x, labels)).batch(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Labels of a batch should be 0 or 1"):
        model.fit(data, epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Labels of a batch should be 0 or 1"):
        model.evaluate(data, verbose=0)
    for w, before in zip(model.weights, weights, strict=True):
        np.testing.assert_array_equal(w.numpy(), before)


def test_a_dataset_with_out_of_range_ids_fails_in_the_graph_naming_the_fields(model):
    x = inputs()
    x["g"][2, 1] = 7
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, "float32"))).batch(8)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"ids outside \[0, vocabulary_size\)(.|\n)*in field\(s\):\] \[g\]"
    ):
        model.fit(data, epochs=1, verbose=0)


def test_check_labels_and_inputs_directly(model):
    assert check_labels([0, 1, 1], task="binary").shape == (3, 1)
    assert check_labels(np.array([[2.5]]), task="regression").dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(n, 1\)"):
        check_labels(np.zeros((3, 2)))
    fields = model_fields(model)
    assert {n: f.vocabulary_size for n, f in fields.items()} == {"x": None, "u": 10, "g": 6}
    out = check_inputs(model, inputs())
    assert [(k, v.shape, v.dtype.name) for k, v in out.items()] == [
        ("x", (8, 1), "float32"),
        ("u", (8, 1), "int64"),
        ("g", (8, 3), "int64"),
    ]


# ---------------------------------------------------------------------------------------- 0 rows


def test_zero_rows_give_an_empty_result_of_the_right_shape(model):
    empty = {k: v[:0] for k, v in inputs().items()}
    for predict in (
        lambda x: model.predict(x, verbose=0),
        lambda x: batch_predict(model, x),
        lambda x: part_models(model)["fm_2d"].predict(x, verbose=0),
    ):
        out = predict(empty)
        assert out.shape == (0, 1) and out.dtype == np.float32


def test_make_dataset_checks_labels_always_and_inputs_against_a_model(model):
    x = inputs()
    with pytest.raises(ValueError, match=r"`y of make_dataset` should be numbers; received dtype <U1"):
        make_dataset(x, np.array(["1"] * 8), batch_size=4)  # was cast to 1.0 silently
    with pytest.raises(ValueError, match=r"`y of make_dataset`, row 1: nan should be a finite number"):
        make_dataset(x, [0.0, np.nan] + [0.0] * 6, batch_size=4)
    with pytest.raises(ValueError, match=r"`y of make_dataset`, row 0: 5.0 should be 0 or 1"):
        make_dataset(x, [5.0] + [0.0] * 7, batch_size=4, model=model)
    with pytest.raises(ValueError, match=r"Unexpected key\(s\) \['label'\] in the x of make_dataset"):
        make_dataset({**x, "label": np.zeros(8)}, np.zeros(8), batch_size=4, model=model)
    with pytest.raises(ValueError, match=r"Feature 'u', row 4: id 10 is outside"):
        make_dataset({**x, "u": np.array([1, 2, 3, 4, 10, 1, 1, 1])}, np.zeros(8), batch_size=4, model=model)
    batch, _ = next(iter(make_dataset(x, np.zeros(8), batch_size=8, shuffle=False, model=model)))
    assert {k: tuple(v.shape) for k, v in batch.items()} == {"x": (8, 1), "u": (8, 1), "g": (8, 3)}
