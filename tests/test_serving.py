"""Tests of `export_serving_model`: raw features in, the in-Python encoder + model predictions out."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from deepfm_keras import FeatureEncoder, build_deepfm, export_serving_model

RNG = np.random.default_rng(7)
N = 400


def make_frame(n, rng):
    genres = np.array(["Action", "Comedy", "Drama", "Horror", "Sci-Fi"])
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, 60, n),
            "gender": rng.choice(["F", "M"], n),
            "zip": rng.choice(["55117", "98107-4033", "02138", "T8H1N"], n),
            "genres": ["|".join(rng.choice(genres, rng.integers(1, 4), replace=False)) for _ in range(n)],
            "year": rng.normal(1990, 8, n).round(),
            "rating_count": rng.exponential(30, n),
        }
    )


# Raw requests: unseen ids, an unseen zip, unseen / repeated / blank tokens, an empty list, a list longer than
# max_len, NaN numerics, whitespace around tokens.
RAW = pd.DataFrame(
    {
        "user_id": [1, 5, 999_999, -3, 59, 2],
        "gender": ["F", "M", "X", "", "M", "F"],
        "zip": ["55117", "unseen-zip", "02138", "", "T8H1N", "98107-4033"],
        "genres": [
            "Action|Comedy",
            "",
            "Western|Drama",
            " Horror | | Sci-Fi ",
            "Action|Comedy|Drama|Horror|Sci-Fi",
            "|",
        ],
        "year": [1995.0, np.nan, 1950.0, 2030.0, 1990.0, 1991.5],
        "rating_count": [0.0, 12.5, np.nan, 1e6, 3.0, 30.0],
    }
)


def raw_request(frame):
    """The signature's inputs: int64 ids, strings, unsplit lists ("" for none), float64 numerics."""
    return {
        "user_id": tf.constant(frame["user_id"].to_numpy("int64")),
        "gender": tf.constant(frame["gender"].tolist()),
        "zip": tf.constant(frame["zip"].tolist()),
        "genres": tf.constant(frame["genres"].tolist()),
        "year": tf.constant(frame["year"].to_numpy("float64")),
        "rating_count": tf.constant(frame["rating_count"].to_numpy("float64")),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(3)
    train = make_frame(N, RNG)
    encoder = FeatureEncoder(
        numeric=["year", "rating_count"],
        categorical=["user_id", "gender", "zip"],
        multi_categorical={"genres": "|"},
        max_len=3,
    )
    x = encoder.fit_transform(train)
    y = ((train["year"] > 1990) ^ (train["gender"] == "F")).to_numpy("float32")
    model = build_deepfm(encoder.feature_spec, embedding_dim=4, hidden_units=(16,))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("serving") / "deepfm" / "1"
    export_serving_model(model, encoder, path)
    return model, encoder, path


def test_preprocess_signature_reproduces_encoder_transform(exported):
    model, encoder, path = exported
    loaded = tf.saved_model.load(str(path))
    encoded = loaded.signatures["preprocess"](**raw_request(RAW))
    expected = encoder.transform(RAW.assign(genres=RAW["genres"].replace("", None)))
    for name, value in expected.items():
        got = encoded[name].numpy()
        got = got[:, 0] if value.ndim == 1 else got
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got, value, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got, value, err_msg=name)
    # unseen id / zip / gender and "" are OOV (1); the list keeps its first max_len=3 known tokens
    assert encoded["user_id"].numpy()[2, 0] == 1 and encoded["zip"].numpy()[1, 0] == 1
    assert encoded["gender"].numpy()[2, 0] == 1 and encoded["gender"].numpy()[3, 0] == 1
    assert encoded["genres"].numpy()[1].tolist() == [0, 0, 0]
    assert encoded["genres"].numpy()[5].tolist() == [0, 0, 0]
    assert encoded["genres"].numpy()[2, 0] == 1 and encoded["genres"].numpy()[2, 2] == 0
    assert encoded["year"].numpy()[1, 0] == 0.0  # NaN -> mean


@pytest.mark.slow
def test_reloaded_in_fresh_process_matches_python_predictions(exported, tmp_path):
    model, encoder, path = exported
    python_path = RAW.assign(genres=RAW["genres"].replace("", None))
    expected = model.predict(encoder.transform(python_path), verbose=0)[:, 0]
    request = {k: v.numpy().tolist() for k, v in raw_request(RAW).items()}
    for k in ("gender", "zip", "genres"):
        request[k] = [s.decode() for s in request[k]]
    (tmp_path / "request.json").write_text(json.dumps(request).replace("NaN", '"nan"'))
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        request = json.load(open({str(tmp_path / "request.json")!r}))
        dtypes = {{"user_id": tf.int64, "year": tf.float64, "rating_count": tf.float64}}
        inputs = {{}}
        for k, v in request.items():
            if k in ("year", "rating_count"):
                v = [float(x) for x in v]
            inputs[k] = tf.constant(v, dtypes.get(k, tf.string))
        serve = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        out = serve(**inputs)["prediction"].numpy()
        assert not any(m.startswith("deepfm_keras") for m in sys.modules), "deepfm_keras was imported"
        print(json.dumps(out.tolist()))
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.ptp(expected) > 0.05  # a trained model: the rows really differ


def test_missing_unknown_and_bad_features_are_rejected(exported):
    _, _, path = exported
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    request = raw_request(RAW.iloc[:2])
    without_year = {k: v for k, v in request.items() if k != "year"}
    with pytest.raises(TypeError, match="missing a required argument: 'year'"):
        serve(**without_year)
    with pytest.raises(TypeError, match="colour"):
        serve(**request, colour=tf.constant(["red", "blue"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `year` holds an infinite value or one too large"):
        serve(**{**request, "year": tf.constant([np.inf, 1.0], tf.float64)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `gender` has a different number of rows than"):
        serve(**{**request, "gender": tf.constant(["F"])})
    # wrong dtypes and shapes are refused by TensorFlow's own signature binding
    # (their message names the input's position or name, depending on the TensorFlow code path)
    refused = (TypeError, tf.errors.InvalidArgumentError)
    with pytest.raises(refused, match="int64 tensor but is a string|Can not cast"):
        serve(**{**request, "user_id": tf.constant(["a", "b"])})
    with pytest.raises(refused, match="string tensor but is a int64|Can not cast"):
        serve(**{**request, "gender": tf.constant([1, 2], tf.int64)})
    # a column of the wrong shape fails the row-count check
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `user_id` has a different number of rows"):
        serve(**{**request, "user_id": tf.constant([[1, 2], [3, 4]], tf.int64)})


def test_id_dtypes_override_serves_ids_as_strings(exported, tmp_path):
    model, encoder, int_path = exported
    path = export_serving_model(model, encoder, tmp_path / "strings", id_dtypes={"user_id": "string"})
    serve = tf.saved_model.load(path).signatures["serving_default"]
    request = raw_request(RAW)
    as_ints = tf.saved_model.load(str(int_path)).signatures["serving_default"](**request)["prediction"].numpy()
    as_strings = serve(**{**request, "user_id": tf.strings.as_string(request["user_id"])})["prediction"].numpy()
    np.testing.assert_allclose(as_strings, as_ints, atol=1e-6)


def test_export_arguments_are_checked(exported, tmp_path):
    model, encoder, _ = exported
    with pytest.raises(RuntimeError, match="not fitted"):
        export_serving_model(model, FeatureEncoder(numeric=["year"]), tmp_path / "a")
    with pytest.raises(ValueError, match="FeatureEncoder"):
        export_serving_model(model, {"year": 1}, tmp_path / "b")
    other = FeatureEncoder(numeric=["year"]).fit(make_frame(10, RNG))
    with pytest.raises(ValueError, match="do not match the encoder's features"):
        export_serving_model(model, other, tmp_path / "c")
    with pytest.raises(ValueError, match="cannot be served as int64"):
        export_serving_model(model, encoder, tmp_path / "d", id_dtypes={"zip": "int64"})
    with pytest.raises(ValueError, match="not categorical"):
        export_serving_model(model, encoder, tmp_path / "e", id_dtypes={"genres": "string"})
    with pytest.raises(ValueError, match="'int64' or 'string'"):
        export_serving_model(model, encoder, tmp_path / "f", id_dtypes={"user_id": "float"})


def test_request_dtypes_follow_the_vocabulary_keys(tmp_path):
    frame = pd.DataFrame(
        {
            "user_id": [3, 10, 3],
            "zip": ["02138", "55117", "02138"],  # digits, but a leading zero: served as strings
            "empty": [None, None, None],  # no vocabulary at all: every value is OOV
            "x": [1.0, 2.0, 3.0],
        }
    )
    encoder = FeatureEncoder(numeric=["x"], categorical=["user_id", "zip", "empty"]).fit(frame)
    model = build_deepfm(encoder.feature_spec, embedding_dim=2, hidden_units=(2,))
    path = export_serving_model(model, encoder, tmp_path / "1")
    loaded = tf.saved_model.load(path)
    inputs = loaded.signatures["serving_default"].structured_input_signature[1]
    assert {k: v.dtype.name for k, v in inputs.items()} == {
        "user_id": "int64",
        "zip": "string",
        "empty": "string",
        "x": "float64",
    }
    request = {
        "user_id": tf.constant([3, 10, 3], tf.int64),
        "zip": tf.constant(["02138", "55117", "2138"]),
        "empty": tf.constant(["a", "", "b"]),
        "x": tf.constant([1.0, 2.0, 3.0], tf.float64),
    }
    encoded = loaded.signatures["preprocess"](**request)
    assert encoded["zip"].numpy()[:, 0].tolist() == [2, 3, 1]
    assert encoded["empty"].numpy()[:, 0].tolist() == [1, 1, 1]
    expected = model.predict(encoder.transform(frame.assign(zip=["02138", "55117", "2138"])), verbose=0)[:, 0]
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](**request)["prediction"].numpy(), expected, atol=1e-6
    )
