"""Export of a trained model with its encoder as one SavedModel that reads RAW features.

```python
model.fit(encoder.transform(train_df), y)
export_serving_model(model, encoder, "serving/1")
# TensorFlow Serving, or in any TensorFlow process (no deepfm_keras needed):
serve = tf.saved_model.load("serving/1").signatures["serving_default"]
serve(user_id=tf.constant([3, 99999], tf.int64), gender=tf.constant(["F", "M"]),
      genres=tf.constant(["Action|Comedy", ""]), year=tf.constant([1995.0, 1980.0], tf.float64))
# -> {"prediction": float32 (2,)}
```

The `serving_default` signature takes one `(batch,)` tensor per encoder
column and rebuilds `FeatureEncoder.transform` in TensorFlow ops, exactly as
documented in `deepfm_keras.preprocessing`:

- numeric columns: float64, `(x - mean) / std` in float64, then float32; NaN
  becomes 0.0 (the mean). An infinite value, or one whose standardised value
  overflows float32, rejects the request with an error naming the column (the
  encoder raises on infinite values too).
- categorical columns: int64 when every vocabulary key is the canonical string
  of an integer (ids as they appear in the logs, e.g. `user_id`; not `"02138"`,
  whose leading zero an int would lose), otherwise string; override
  with `id_dtypes={"col": "string"}`. Values are looked up in a
  `tf.lookup.StaticHashTable` of the fitted vocabulary (`key i -> id i + 2`);
  unseen values and `""` go to the OOV id 1.
- multi-categorical columns: the unsplit string (`"Action|Comedy"`), split on
  the column's separator, tokens stripped of ASCII whitespace, empty tokens
  dropped, looked up like categorical values, the first `max_len` ids kept and
  padded with 0; `""` is the empty list.

A request that lacks a column or has an unknown one is rejected by the
signature itself (and by TensorFlow Serving) with an error naming it; so is a
wrong dtype (the message names the input or its position). Columns of
different lengths are rejected with an error naming the column. Send every
column as a `(batch,)` tensor (TensorFlow does not always enforce that shape
when a loaded signature is called directly; the row-count check catches a
column of another size). The output `prediction` is the
model's `(batch,)` score (a probability for a binary model).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from deepfm_keras.features import MultiCategoricalFeature, normalize_spec

_INT_KEY = re.compile(r"-?[1-9][0-9]{0,17}|0")  # the canonical form str(int) of an int64: no leading zeros
OUTPUT_NAME = "prediction"


def _id_dtype(encoder, column: str, override: Mapping[str, str]) -> str:
    if column in override:
        dtype = override[column]
        if dtype not in ("int64", "string"):
            raise ValueError(f"`id_dtypes['{column}']` should be 'int64' or 'string'. Received: {dtype!r}")
        if dtype == "int64" and not all(_INT_KEY.fullmatch(k) for k in encoder.vocabularies[column]):
            raise ValueError(f"Column '{column}' has non-integer vocabulary keys; it cannot be served as int64.")
        return dtype
    vocabulary = encoder.vocabularies[column]
    if vocabulary and all(_INT_KEY.fullmatch(k) for k in vocabulary):
        return "int64"
    return "string"


def _check_model_matches(model, encoder) -> None:
    expected = {f.name: f for f in normalize_spec(encoder.feature_spec)}
    try:
        input_dict = model.input
    except (AttributeError, ValueError):
        raise ValueError("`model` should be a functional Keras model, e.g. from `build_deepfm`.") from None
    if not isinstance(input_dict, dict):
        raise ValueError("`model` should take a dict of inputs keyed by feature name, as `build_deepfm` builds.")
    names = set(input_dict)
    if names != set(expected):
        raise ValueError(
            f"The model's inputs {sorted(names)} do not match the encoder's columns {sorted(expected)}: "
            "export the model with the encoder it was trained with."
        )
    for name, feature in expected.items():
        if isinstance(feature, MultiCategoricalFeature) and input_dict[name].shape[-1] != feature.max_len:
            raise ValueError(
                f"Input '{name}' of the model has {input_dict[name].shape[-1]} columns but the encoder's "
                f"max_len is {feature.max_len}."
            )


def _build_module(model, encoder, id_dtypes):
    import tensorflow as tf

    from deepfm_keras.preprocessing import FIRST_ID, OOV_ID, PAD_ID

    specs = {}
    for col in encoder.numeric:
        specs[col] = tf.TensorSpec([None], tf.float64, name=col)
    for col in encoder.categorical:
        dtype = tf.int64 if _id_dtype(encoder, col, id_dtypes) == "int64" else tf.string
        specs[col] = tf.TensorSpec([None], dtype, name=col)
    for col in encoder.multi_categorical:
        specs[col] = tf.TensorSpec([None], tf.string, name=col)

    class ServingModule(tf.Module):
        def __init__(self):
            super().__init__(name="deepfm_serving")
            self.model = model
            self.tables = {}
            for col in list(encoder.categorical) + list(encoder.multi_categorical):
                vocabulary = list(encoder.vocabularies[col])
                if not vocabulary:
                    self.tables[col] = None
                    continue
                initializer = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocabulary, tf.string),
                    tf.range(FIRST_ID, FIRST_ID + len(vocabulary), dtype=tf.int64),
                )
                self.tables[col] = tf.lookup.StaticHashTable(initializer, default_value=OOV_ID)

        def lookup(self, col, keys):
            table = self.tables[col]
            if table is None:
                return tf.fill(tf.shape(keys), tf.constant(OOV_ID, tf.int64))
            return table.lookup(keys)

        def encode(self, raw):
            sizes = [tf.size(raw[col]) for col in specs]
            first = next(iter(specs))
            checks = [
                tf.debugging.assert_equal(
                    size, sizes[0], message=f"Feature `{col}` has a different number of rows than `{first}`"
                )
                for col, size in zip(specs, sizes, strict=True)
            ]
            with tf.control_dependencies(checks):
                x = {}
                for col in encoder.numeric:
                    stats = encoder.numeric_stats[col]
                    scaled = (raw[col] - stats["mean"]) / stats["std"]
                    scaled = tf.cast(tf.where(tf.math.is_nan(scaled), tf.zeros_like(scaled), scaled), tf.float32)
                    finite = tf.debugging.Assert(
                        tf.reduce_all(tf.math.is_finite(scaled)),
                        [f"Feature `{col}` holds an infinite value or one too large to standardise in float32."],
                    )
                    with tf.control_dependencies([finite]):
                        x[col] = tf.reshape(scaled, [-1, 1])
                for col in encoder.categorical:
                    keys = raw[col]
                    if keys.dtype != tf.string:
                        keys = tf.strings.as_string(keys)
                    x[col] = tf.reshape(tf.cast(self.lookup(col, keys), tf.int32), [-1, 1])
                for col, sep in encoder.multi_categorical.items():
                    width = encoder.max_lens[col]
                    tokens = tf.strings.strip(tf.strings.split(raw[col], sep=sep))
                    tokens = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
                    ids = tf.ragged.map_flat_values(lambda t, c=col: self.lookup(c, t), tokens)[:, :width]
                    dense = ids.to_tensor(default_value=PAD_ID, shape=[None, width])
                    x[col] = tf.cast(dense, tf.int32)
                return x

        @tf.function(input_signature=[specs])
        def serve(self, raw):
            prediction = self.model(self.encode(raw), training=False)
            return {OUTPUT_NAME: tf.reshape(tf.cast(prediction, tf.float32), [-1])}

        @tf.function(input_signature=[specs])
        def preprocess(self, raw):
            return self.encode(raw)

    return ServingModule()


def export_serving_model(
    model,
    encoder,
    path: str | os.PathLike,
    *,
    id_dtypes: Mapping[str, str] | None = None,
) -> str:
    """Writes a SavedModel whose `serving_default` takes raw features and returns predictions.

    Preprocessing (the fitted encoder's vocabularies, OOV, scaling, splitting
    and padding) and the model run in one TensorFlow graph; see the module
    docstring for the request format. A second signature, `preprocess`,
    returns the encoded model inputs (handy to check a deployment).

    Args:
        model: a Keras model built from `encoder.feature_spec` (e.g. by
            `build_deepfm`).
        encoder: the fitted `FeatureEncoder` the model was trained with.
        path: directory to write (a TensorFlow Serving version directory such
            as `models/deepfm/1`).
        id_dtypes: optional dict categorical column -> `"int64"` or `"string"`,
            the request dtype of that column (default: int64 when all its
            vocabulary keys are integers).

    Returns:
        `path` as a string.

    Raises:
        RuntimeError: if the encoder is not fitted.
        ValueError: if the model's inputs do not match the encoder's columns.

    Example:

    >>> export_serving_model(model, encoder, "/tmp/deepfm/1")  # doctest: +SKIP
    '/tmp/deepfm/1'
    """
    import tensorflow as tf

    from deepfm_keras.preprocessing import FeatureEncoder

    if not isinstance(encoder, FeatureEncoder):
        raise ValueError(f"`encoder` should be a fitted FeatureEncoder. Received: {type(encoder).__name__}")
    encoder._check_fitted()
    id_dtypes = dict(id_dtypes or {})
    unknown = [c for c in id_dtypes if c not in encoder.categorical]
    if unknown:
        raise ValueError(f"`id_dtypes` names column(s) {unknown} that are not categorical columns of the encoder.")
    _check_model_matches(model, encoder)
    module = _build_module(model, encoder, id_dtypes)
    path = os.fspath(path)
    tf.saved_model.save(
        module,
        path,
        signatures={
            "serving_default": module.serve.get_concrete_function(),
            "preprocess": module.preprocess.get_concrete_function(),
        },
    )
    return path
