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

from deepfm_keras import (
    CategoricalFeature,
    FeatureEncoder,
    build_deepfm,
    export_serving_model,
    load_model,
    predictions,
    request_to_frame,
    serving_request,
)

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
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature `year` holds an infinite value, or one beyond"):
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
    # The same columns refitted on other rows: the vocabularies differ, so the ids would mean other values.
    refitted = FeatureEncoder(
        numeric=["year", "rating_count"], categorical=["user_id", "gender", "zip"], multi_categorical={"genres": "|"},
        max_len=3,
    ).fit(make_frame(12, np.random.default_rng(99)))  # fmt: skip
    with pytest.raises(
        ValueError,
        match=r"Feature 'user_id' of the model is CategoricalFeature\(.*\), but the encoder gives Categorical",
    ):
        export_serving_model(model, refitted, tmp_path / "refitted")
    with pytest.raises(ValueError, match="cannot be served as int64"):
        export_serving_model(model, encoder, tmp_path / "d", id_dtypes={"zip": "int64"})
    with pytest.raises(ValueError, match="not a categorical column"):
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


# ------------------------------------------------------------------ TensorFlow Serving's loader, saved_model_cli

TF1_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
path, request_file = sys.argv[1], sys.argv[2]
request = json.load(open(request_file))
with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
    signature = meta_graph.signature_def["serving_default"]
    feed = {}
    for name, values in request.items():
        dtype = tf.as_dtype(signature.inputs[name].dtype)
        array = np.array([v.encode() for v in values], object) if dtype == tf.string else np.array(values, dtype.as_numpy_dtype)
        feed[signature.inputs[name].name] = array
    out = session.run(signature.outputs["prediction"].name, feed)
assert not any(m.startswith("deepfm_keras") for m in sys.modules), "deepfm_keras was imported"
print(json.dumps({"inputs": sorted(signature.inputs), "prediction": out.tolist()}))
"""


def run_tf1_loader(path, request, tmp_path):
    """Serves `request` (name -> list) with the TF1 Session loader in a fresh process; returns its JSON answer."""
    (tmp_path / "request.json").write_text(json.dumps(request))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", TF1_SCRIPT, str(path), str(tmp_path / "request.json")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def json_request(frame, encoder):
    request = serving_request(frame, encoder)
    return {k: [x.decode() if isinstance(x, bytes) else x for x in v.tolist()] for k, v in request.items()}


@pytest.mark.slow
def test_tf1_session_loader_and_saved_model_cli_serve_like_keras(exported, tmp_path):
    model, encoder, path = exported
    rows = RAW.assign(year=RAW["year"].fillna(1990.0))  # JSON has no NaN; NaN is covered by the tests above
    expected = model.predict(encoder.transform(rows), verbose=0)[:, 0]
    answer = run_tf1_loader(path, json_request(rows, encoder), tmp_path)
    assert answer["inputs"] == sorted(RAW.columns)
    np.testing.assert_allclose(answer["prediction"], expected, rtol=0, atol=1e-5)

    request = serving_request(rows, encoder)
    arrays = {k: (v.astype("S") if v.dtype == object else v) for k, v in request.items()}
    np.savez(tmp_path / "request.npz", **arrays)
    inputs = ";".join(f"{k}={tmp_path / 'request.npz'}[{k}]" for k in arrays)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "run", "--dir", str(path), "--tag_set", "serve", "--signature_def", "serving_default"]
        + ["--inputs", inputs, "--outdir", str(tmp_path / "cli"), "--overwrite"],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "prediction.npy"), expected, rtol=0, atol=1e-5)


def test_artifact_holds_no_optimizer_state(exported):
    model, _, path = exported
    assert model.optimizer.variables  # the model was trained with Adam ...
    shapes = tf.train.load_checkpoint(str(path / "variables" / "variables")).get_variable_to_shape_map()
    shapes.pop("_CHECKPOINTABLE_OBJECT_GRAPH")
    assert not [n for n in shapes if "optimizer" in n.lower() or "adam" in n.lower() or "iteration" in n.lower()]
    assert sorted(map(tuple, shapes.values())) == sorted(tuple(w.shape) for w in model.weights)  # only its weights
    assert (path / "assets.extra" / "encoder.json").is_file()


@pytest.mark.slow
def test_feature_names_are_kept_exactly_in_the_signature(tmp_path):
    frame = pd.DataFrame({"user-id": [1, 2, 1, 3], "item.kind": ["a", "b", "a", "c"], "x": [1.0, 2.0, 3.0, 4.0]})
    encoder = FeatureEncoder(numeric=["x"], categorical=["user-id", "item.kind"]).fit(frame)
    keras.utils.set_random_seed(0)
    model = build_deepfm(encoder.feature_spec, embedding_dim=2, hidden_units=(4,))
    path = export_serving_model(model, encoder, tmp_path / "1")
    expected = model.predict(encoder.transform(frame), verbose=0)[:, 0]
    answer = run_tf1_loader(path, json_request(frame, encoder), tmp_path)
    assert answer["inputs"] == ["item.kind", "user-id", "x"]  # the SignatureDef keys TensorFlow Serving reads
    np.testing.assert_allclose(answer["prediction"], expected, atol=1e-5)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    request = {k: tf.constant(v) for k, v in serving_request(frame, encoder).items()}
    np.testing.assert_allclose(serve(**request)["prediction"].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "names, message",
    [
        (["_user"], "starts with a letter. Received: name='_user'"),
        (["user-id", "user_id"], "'user-id' and 'user_id' differ only in"),
        (["a.b", "a-b"], "'a.b' and 'a-b' differ only in"),
    ],
)
def test_names_a_signature_cannot_keep_are_refused_at_spec_time(names, message):
    with pytest.raises(ValueError, match=message):
        FeatureEncoder(categorical=names)
    with pytest.raises(ValueError, match=message):
        build_deepfm([CategoricalFeature(n, 3) for n in names], embedding_dim=2, hidden_units=(2,))


# ------------------------------------------------------------------------------------- request helpers


def test_serving_request_round_trip_and_rest_body(exported):
    model, encoder, path = exported
    rows = RAW.iloc[:3].to_dict("records")
    request = serving_request(rows, encoder)
    assert {k: v.dtype.kind for k, v in request.items()} == {
        "year": "f",
        "rating_count": "f",
        "user_id": "i",
        "gender": "O",
        "zip": "O",
        "genres": "O",
    }
    back = request_to_frame(request)
    pd.testing.assert_frame_equal(back[list(RAW.columns)], RAW.iloc[:3], check_dtype=False)
    body = serving_request(rows, str(path), as_json=True)  # the encoder is read from the artifact itself
    assert body["signature_name"] == "serving_default" and body["inputs"]["gender"] == ["F", "M", "X"]
    json.dumps(body)
    pd.testing.assert_frame_equal(request_to_frame(body)[list(RAW.columns)], back[list(RAW.columns)])
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    scores = predictions(serve(**{k: tf.constant(v) for k, v in request.items()}))
    np.testing.assert_allclose(scores, model.predict(encoder.transform(RAW.iloc[:3]), verbose=0)[:, 0], atol=1e-5)
    assert predictions({"outputs": scores.tolist()}).tolist() == scores.tolist()


def test_serving_request_errors_name_the_column(exported):
    _, encoder, _ = exported
    with pytest.raises(ValueError, match="Column 'user_id' is served as int64 but holds None"):
        serving_request(RAW.assign(user_id=[1.0, np.nan, 3, 4, 5, 6]), encoder)
    with pytest.raises(ValueError, match="Column 'zip' is missing"):
        serving_request(RAW.drop(columns="zip"), encoder)
    with pytest.raises(ValueError, match="list of dicts"):
        serving_request("user_id=3", encoder)
    as_strings = serving_request(
        RAW.assign(user_id=[1.0, np.nan, 3, 4, 5, 6]), encoder, id_dtypes={"user_id": "string"}
    )
    assert as_strings["user_id"].tolist()[:2] == [b"1", b""]


def test_load_model_needs_no_prior_import(exported, tmp_path):
    model, encoder, _ = exported
    model.save(tmp_path / "m.keras")
    script = (
        "import sys, numpy as np, deepfm_keras\n"
        f"model = deepfm_keras.load_model({str(tmp_path / 'm.keras')!r})\n"
        "print(type(model).__name__, len(model.weights))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == str(len(model.weights))
    loaded = load_model(tmp_path / "m.keras")
    x = encoder.transform(RAW)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
