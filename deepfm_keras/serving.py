"""The serving artifact: one SavedModel that takes RAW features, plus loading and request helpers.

```python
export_serving_model(model, encoder, "serving/deepfm/1")   # a TensorFlow Serving version folder
serve = tf.saved_model.load("serving/deepfm/1").signatures["serving_default"]
request = serving_request(df, encoder)                     # DataFrame / list of dicts -> {name: array}
scores = serve(**{k: tf.constant(v) for k, v in request.items()})["prediction"]
```

The `serving_default` signature takes one `(batch,)` tensor per encoder
column, named exactly as the column (`user-id` stays `user-id` in the
SignatureDef that TensorFlow Serving reads; a loaded signature called from
Python also accepts the argument name `user_id`), and runs
`FeatureEncoder.encode`, the same encoding layers as `transform` and the
`tf.data` pipeline, then the model. Request dtypes:

- numeric and bucketised columns: float64 (NaN is missing);
- categorical columns: `encoder.input_dtypes[col]`: int64 when every value
  seen at fit time was an integer (ids as they appear in the logs), else
  string; override with `id_dtypes={"col": "string"}`;
- multi-level columns: the unsplit string (`"Action|Comedy"`; `""` is the
  empty list);
- the weight column of a weighted multi-level column (its own input, named
  as the column): the unsplit numbers, one per id, in the ids' order and
  with the same separator (`"4.5|3"` for `"Action|Comedy"`);
- numeric sequence columns: the unsplit numbers (`"9.99|12.5"`; `""` is the
  empty list).

The output `prediction` is the model's `(batch,)` float32 score (a
probability for a binary model; `(batch, classes)` probabilities for a
multi-class one). A model with several heads (`build_deepfm(tasks=...)`)
has one output per task instead, named as the task. A second signature, `preprocess`, returns
the encoded model inputs. A request that lacks a column, has an unknown one or
a wrong dtype is rejected by the signature itself with an error naming it;
columns of different lengths, numeric values that cannot be encoded
(infinite, or beyond float32 once transformed), a token of a weight or
sequence list that is not a finite decimal number, and a row with more or
fewer weights than ids, with an error naming the column.

The artifact is written with `keras.export.ExportArchive`, into a hidden
temporary folder renamed into place when complete (a crash mid-export never
leaves a half-written version folder for TensorFlow Serving to load): it holds the
model's weights and the encoder's lookup tables, no optimizer state, and
loads with `tf.saved_model.load`, with the TF1 loader TensorFlow Serving uses
(`tf.compat.v1.saved_model.loader.load`), and with `saved_model_cli run`. It
needs TensorFlow only, not `deepfm_keras`. The encoder's JSON is copied to
`assets.extra/encoder.json` (TensorFlow Serving ignores that folder), so the
artifact alone is enough to build requests: `serving_request(df, path)`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepfm_keras.encoding import FeatureEncoder
from deepfm_keras.io import atomic_directory
from deepfm_keras.spec.feature_spec import input_names, normalize_spec
from deepfm_keras.spec.features import MultiCategoricalFeature, NumericSequenceFeature

OUTPUT_NAME = "prediction"
ENCODER_ASSET = os.path.join("assets.extra", "encoder.json")
_DTYPES = ("int64", "string")


def _as_encoder(encoder) -> FeatureEncoder:
    encoder = getattr(encoder, "encoder", encoder)  # a CriteoReader carries its encoder
    if isinstance(encoder, (str, os.PathLike)):
        path = os.fspath(encoder)
        encoder = FeatureEncoder.load(os.path.join(path, ENCODER_ASSET) if os.path.isdir(path) else path)
    if not isinstance(encoder, FeatureEncoder):
        raise ValueError(
            f"`encoder` should be a fitted FeatureEncoder (or a CriteoReader). Received: {type(encoder).__name__}"
        )
    if not encoder.is_fitted:
        raise RuntimeError("This FeatureEncoder is not fitted yet: call `fit(df)` first.")
    return encoder


def request_dtypes(encoder, id_dtypes: Mapping[str, str] | None = None) -> dict[str, str]:
    """The dtype of each raw input of the serving signature: "float64", "int64" or "string".

    Args:
        encoder: the fitted `FeatureEncoder`.
        id_dtypes: overrides for categorical columns, name -> "int64" / "string".

    Raises:
        ValueError: naming a column that cannot take the requested dtype.

    Example:

    >>> enc = FeatureEncoder(numeric=["x"], categorical=["u"]).fit(pd.DataFrame({"x": [1.0], "u": [7]}))
    >>> request_dtypes(enc), request_dtypes(enc, {"u": "string"})["u"]
    ({'x': 'float64', 'u': 'int64'}, 'string')
    """
    encoder = _as_encoder(encoder)
    dtypes = dict(encoder.input_dtypes)
    for column, dtype in dict(id_dtypes or {}).items():
        spec = encoder.column_specs.get(column)
        if column not in encoder.categorical or dtypes.get(column) == "float64" or spec is None:
            raise ValueError(f"`id_dtypes` names column '{column}', which is not a categorical column of the encoder.")
        if dtype not in _DTYPES:
            raise ValueError(f"`id_dtypes['{column}']` should be 'int64' or 'string'. Received: {dtype!r}")
        if dtype == "int64" and dtypes[column] != "int64":
            raise ValueError(f"Column '{column}' has non-integer values; it cannot be served as int64.")
        dtypes[column] = dtype
    return dtypes


def _check_model_matches(model, encoder) -> None:
    spec = normalize_spec(encoder.feature_spec)
    expected = dict.fromkeys(input_names(spec))
    widths = {}  # input name -> columns, for the list inputs
    for feature in spec:
        if isinstance(feature, (MultiCategoricalFeature, NumericSequenceFeature)):
            widths[feature.name] = feature.max_len
            if getattr(feature, "weight_name", None):
                widths[feature.weight_name] = feature.max_len
    try:
        input_dict = model.input
    except (AttributeError, ValueError):
        raise ValueError("`model` should be a functional Keras model, e.g. from `build_deepfm`.") from None
    if not isinstance(input_dict, dict):
        raise ValueError("`model` should take a dict of inputs keyed by feature name, as `build_deepfm` builds.")
    if set(input_dict) != set(expected):
        raise ValueError(
            f"The model's inputs {sorted(input_dict)} do not match the encoder's features {sorted(expected)}: "
            "export the model with the encoder it was trained with."
        )
    for name, width in widths.items():
        if input_dict[name].shape[-1] != width:
            raise ValueError(
                f"Input '{name}' of the model has {input_dict[name].shape[-1]} columns but the encoder's "
                f"max_len is {width}."
            )
    kept = getattr(model, "feature_spec", None)  # a DeepFMModel keeps the spec it was built from
    if kept is not None:
        by_name = {f.name: f for f in kept}
        for encoded in spec:
            built = by_name.get(encoded.name, encoded)
            if built != encoded:
                raise ValueError(
                    f"Feature '{built.name}' of the model is {built}, but the encoder gives {encoded}: export the "
                    "model with the encoder it was trained with (a refitted vocabulary maps values to other ids)."
                )


def export_serving_model(
    model,
    encoder,
    path: str | os.PathLike,
    *,
    id_dtypes: Mapping[str, str] | None = None,
) -> str:
    """Writes a SavedModel whose `serving_default` takes raw features and returns predictions.

    See the module docstring for the request format and what the artifact
    holds. Only the model's weights and the encoder's tables are saved: no
    optimizer state, whatever the model was compiled with.

    Args:
        model: a Keras model built from `encoder.feature_spec` (e.g. by
            `build_deepfm`).
        encoder: the fitted `FeatureEncoder` the model was trained with (or
            the `CriteoReader` whose encoder it was trained with).
        path: directory to write (a TensorFlow Serving version directory such
            as `models/deepfm/1`).
        id_dtypes: optional dict categorical column -> `"int64"` or
            `"string"`, the request dtype of that column.

    Returns:
        `path` as a string.

    Raises:
        RuntimeError: if the encoder is not fitted.
        ValueError: if the model's inputs do not match the encoder's features.

    Example:

    >>> export_serving_model(model, encoder, "/tmp/deepfm/1")  # doctest: +SKIP
    '/tmp/deepfm/1'
    """
    import keras
    import tensorflow as tf

    encoder = _as_encoder(encoder)
    dtypes = request_dtypes(encoder, id_dtypes)
    _check_model_matches(model, encoder)
    specs = {name: tf.TensorSpec([None], getattr(tf, dtype), name=name) for name, dtype in dtypes.items()}
    first = next(iter(specs))

    def encode(raw):
        sizes = {name: tf.size(raw[name]) for name in specs}
        checks = [
            tf.debugging.assert_equal(
                size, sizes[first], message=f"Feature `{name}` has a different number of rows than `{first}`"
            )
            for name, size in sizes.items()
        ]
        with tf.control_dependencies(checks):
            return encoder.encode({name: tf.identity(raw[name]) for name in specs})

    def scores(prediction):
        prediction = tf.cast(prediction, tf.float32)
        return tf.reshape(prediction, [-1]) if prediction.shape[-1] == 1 else prediction  # (batch,) or (batch, C)

    def serve(raw):
        prediction = model(encode(raw), training=False)
        if isinstance(prediction, Mapping):  # several heads: one output per task, named as the task
            return {name: scores(value) for name, value in prediction.items()}
        return {OUTPUT_NAME: scores(prediction)}

    archive = keras.export.ExportArchive()
    for layer in encoder.layers().values():
        for part in layer if isinstance(layer, tuple) else (layer,):
            archive.track(part)  # their lookup tables; the model's variables are tracked from the endpoints
    archive.add_endpoint("serving_default", serve, input_signature=[specs])
    archive.add_endpoint("preprocess", encode, input_signature=[specs])
    path = os.fspath(path)
    # Built in a hidden temporary folder and renamed into place: TensorFlow Serving, which watches the base
    # folder for new version folders, never sees a half-written one.
    with atomic_directory(path) as tmp:
        archive.write_out(tmp, verbose=False)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        encoder.save(os.path.join(tmp, ENCODER_ASSET))
    return path


# --------------------------------------------------------------------------------------------- requests


def _rows_frame(rows) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        return pd.DataFrame({k: list(v) if not np.isscalar(v) else [v] for k, v in rows.items()})
    if isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)) and all(isinstance(r, Mapping) for r in rows):
        return pd.DataFrame.from_records(list(rows))
    raise ValueError(f"`rows` should be a DataFrame or a list of dicts. Received: {type(rows).__name__}")


def _json_value(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"b64": base64.b64encode(value).decode("ascii")}  # TensorFlow Serving's form for raw bytes
    return value


def serving_request(rows, encoder, *, id_dtypes: Mapping[str, str] | None = None, as_json: bool = False):
    """Turns rows (a DataFrame or a list of dicts) into a request for the exported `serving_default`.

    Args:
        rows: the raw rows, one column (or key) per encoder column; extra
            columns are ignored.
        encoder: the fitted `FeatureEncoder`, a `CriteoReader`, or the path of
            an artifact written by `export_serving_model`.
        id_dtypes: the `id_dtypes` the model was exported with.
        as_json: return the body of a TensorFlow Serving REST `:predict` call
            (`{"signature_name": ..., "inputs": {name: list}}`; bytes that
            are not UTF-8 as `{"b64": ...}`) instead of arrays.

    Returns:
        Dict name -> `(n,)` NumPy array of the signature's dtype (feed it as
        `signature(**{k: tf.constant(v) for k, v in request.items()})`), or
        the JSON body.

    Raises:
        ValueError: naming a missing column, or a value the column's dtype
            cannot carry (a missing value in an int64 column).

    Example:

    >>> enc = FeatureEncoder(numeric=["x"], categorical=["u"], multi_categorical={"g": "|"})
    >>> _ = enc.fit(pd.DataFrame({"x": [1.0, 2.0], "u": [7, 8], "g": ["a|b", "c"]}))
    >>> serving_request([{"x": 1.5, "u": 7, "g": "a"}], enc, as_json=True)
    {'signature_name': 'serving_default', 'inputs': {'x': [1.5], 'u': [7], 'g': ['a']}}
    """
    encoder = _as_encoder(encoder)
    dtypes = request_dtypes(encoder, id_dtypes)
    request = encoder.raw_inputs(_rows_frame(rows), dtypes=dtypes)
    if not as_json:
        return request
    inputs = {name: [_json_value(v) for v in values.tolist()] for name, values in request.items()}
    return {"signature_name": "serving_default", "inputs": inputs}


def request_to_frame(request: Mapping[str, Any]) -> pd.DataFrame:
    """Turns a request (from `serving_request`, arrays or JSON body) back into a DataFrame of raw values.

    Strings come back as `str` (bytes that are not UTF-8 stay `bytes`),
    numbers as float64 / int64.

    Example:

    >>> request_to_frame({"inputs": {"u": [7, 8], "g": ["a", {"b64": "6Q=="}]}}).to_dict("list")
    {'u': [7, 8], 'g': ['a', b'\\xe9']}
    """
    import base64

    columns = request.get("inputs", request) if isinstance(request, Mapping) else request
    frame = {}
    for name, values in columns.items():
        values = values.numpy() if hasattr(values, "numpy") else values
        out = []
        for v in np.asarray(values, dtype=object).tolist():
            if isinstance(v, Mapping) and "b64" in v:
                v = base64.b64decode(v["b64"])
            if isinstance(v, bytes):
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            out.append(v)
        frame[name] = pd.Series(out, dtype=np.asarray(values).dtype if np.asarray(values).dtype.kind in "if" else None)
    return pd.DataFrame(frame)


def predictions(response, head: str | None = None) -> np.ndarray:
    """The `(n,)` scores of a response: the dict a loaded signature returns, or a REST `:predict` body.

    `head` picks one task's output of a multi-task model; a multi-class
    output is returned as `(n, classes)`.

    Example:

    >>> predictions({"outputs": [0.25, 0.5]}).tolist()
    [0.25, 0.5]
    """
    if isinstance(response, Mapping) and "outputs" in response:
        response = response["outputs"]
    if isinstance(response, Mapping) and "predictions" in response:
        response = response["predictions"]
    if isinstance(response, Mapping):
        response = response[head or OUTPUT_NAME]
    elif head is not None and isinstance(response, Sequence) and response and isinstance(response[0], Mapping):
        response = [row[head] for row in response]  # REST row format of a multi-output model
    response = response.numpy() if hasattr(response, "numpy") else response
    scores = np.asarray(response, dtype="float32")
    return scores.reshape(-1) if scores.ndim < 2 or scores.shape[-1] == 1 else scores


def load_model(path: str | os.PathLike, **kwargs):
    """Loads a `.keras` model saved from a deepfm_keras model, in safe mode, with no `custom_objects`.

    The model `keras.saving.load_model(path, **kwargs)` gives once
    `deepfm_keras` is imported (the import registers its Keras classes), read
    in bounded memory: the weights member is read where it lies in the zip,
    large tables block by block (`deepfm_keras.model.saving`), so loading
    holds the model's state once. Other arguments than `custom_objects` and
    `compile` (or a path that is not a local `.keras` file) go to
    `keras.saving.load_model` as given.

    Args:
        path: the `.keras` file.
        **kwargs: passed to `keras.saving.load_model` (e.g. `compile=False`).

    Returns:
        The Keras model.

    Example:

    >>> model = load_model("runs/movielens/model.keras")  # doctest: +SKIP
    """
    import keras

    from deepfm_keras.model import saving

    if saving.is_local_keras_file(path) and set(kwargs) <= {"custom_objects", "compile"}:
        return saving.load_keras_file(path, **kwargs)  # the same model, its weights read in bounded memory
    return keras.saving.load_model(path, **kwargs)
