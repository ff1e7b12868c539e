"""Keras layers that apply a fitted encoding: raw tensors in, model inputs out.

These layers are the one definition of how a raw value becomes a model input.
`FeatureEncoder.transform` (pandas), `FeatureEncoder.encode` (tf.data, the
Criteo stream) and the exported serving signature all call them, so the same
raw value gets the same id everywhere. They work on raw strings, so they use
TensorFlow string and lookup ops (`keras.ops` has none); they run eagerly, in
`tf.data` and inside a SavedModel alike.

Every categorical output follows the id layout of `deepfm_keras.encoding.ids`
(`0` padding, `1` out-of-vocabulary, known values from `2`). Ids are int64,
so a large `num_bins` never wraps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from deepfm_keras.encoding.ids import FIRST_ID, OOV_ID, PAD_ID
from deepfm_keras.spec.features import NUMERIC_LIMIT

__all__ = [
    "FIRST_ID",
    "OOV_ID",
    "PAD_ID",
    "Bucketize",
    "EncodingLayer",
    "HashedLookup",
    "NumericTransform",
    "SplitTokens",
    "VocabularyLookup",
    "strip_spaces",
]

# Python's `str.isspace()` characters, as an RE2 class: ASCII \t-\r, \x1c-\x20, NEL, and Unicode Z (Zs, Zl, Zp:
# NBSP, the en/em/thin spaces, U+2028/2029, the ideographic space, ...).
_SPACE = r"[\t-\r\x{1c}-\x{20}\x{85}\p{Z}]"
_STRIP_PATTERN = f"^{_SPACE}+|{_SPACE}+$"


def strip_spaces(strings):
    """Removes leading and trailing Unicode whitespace (what Python's `str.strip()` removes) from a string tensor.

    Bytes that are not valid UTF-8 are kept as they are.

    Args:
        strings: string tensor of any shape.

    Returns:
        String tensor of the same shape.

    Example:

    >>> strip_spaces(["\\u00a0a b\\u3000", " \\t"]).numpy().tolist()
    [b'a b', b'']
    """
    import tensorflow as tf

    return tf.strings.regex_replace(strings, _STRIP_PATTERN, "")


def _keys(values):
    """Raw categorical values as lookup keys: strings as they are, integers as their decimal form."""
    import tensorflow as tf

    values = tf.convert_to_tensor(values)
    if values.dtype == tf.string:
        return values
    if not values.dtype.is_integer:
        raise ValueError(f"Categorical values should be strings or integers. Received dtype {values.dtype.name}")
    return tf.strings.as_string(values)


def _key_bytes(key: str) -> bytes:
    """A vocabulary key (a Python string; undecodable bytes kept as surrogate escapes) as the raw bytes it matches."""
    return key.encode("utf-8", "surrogateescape")


class EncodingLayer(keras.layers.Layer):
    """Base of the encoding layers: not trainable, built from the start, raw inputs passed through uncast."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        # Inputs are raw strings, int64 ids or float64 values: never cast them (Keras' own preprocessing layers
        # set the same two flags).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True


@keras.saving.register_keras_serializable(package="deepfm_keras")
class VocabularyLookup(EncodingLayer):
    """Maps raw categorical values to ids with a fixed vocabulary: key `i` -> id `i + 2`, others -> 1 (OOV).

    Values are compared as exact bytes (strings) or as their decimal form
    (integers: `7` finds the key `"7"`). The empty string is missing: OOV.

    Args:
        vocabulary: list of keys (strings), most frequent first.

    Input shape: any, string or integer. Output: the same shape, int64.

    Example:

    >>> layer = VocabularyLookup(["b", "a"])
    >>> layer(["a", "b", "zz", ""]).numpy().tolist()
    [3, 2, 1, 1]
    """

    def __init__(self, vocabulary: Sequence[str], **kwargs):
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if not all(isinstance(key, str) and key for key in vocabulary):
            raise ValueError("`vocabulary` should be a list of non-empty strings.")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` holds duplicate keys.")
        self.vocabulary = vocabulary
        self.table = None
        if vocabulary:
            import tensorflow as tf

            initializer = tf.lookup.KeyValueTensorInitializer(
                tf.constant([_key_bytes(key) for key in vocabulary], tf.string),
                tf.range(FIRST_ID, FIRST_ID + len(vocabulary), dtype=tf.int64),
            )
            self.table = tf.lookup.StaticHashTable(initializer, default_value=OOV_ID)

    def call(self, values):
        import tensorflow as tf

        keys = _keys(values)
        if self.table is None:
            return tf.fill(tf.shape(keys), tf.constant(OOV_ID, tf.int64))
        return self.table.lookup(keys)  # "" is never a key: OOV

    def get_config(self):
        return {**super().get_config(), "vocabulary": list(self.vocabulary)}


@keras.saving.register_keras_serializable(package="deepfm_keras")
class HashedLookup(EncodingLayer):
    """Maps raw categorical values to `2 + fingerprint64(key) % num_bins`; the empty string to 1 (OOV).

    No vocabulary: any value gets a bucket, collisions included. The key of
    an integer is its decimal form, as in `VocabularyLookup`. Ids are int64,
    so `num_bins` may exceed 2**31.

    Args:
        num_bins: number of hash buckets, at least 1.

    Input shape: any, string or integer. Output: the same shape, int64, in
    `[1, num_bins + 2)`.

    Example:

    >>> layer = HashedLookup(num_bins=10)
    >>> ids = layer(["a", "a", "", "b"]).numpy().tolist()
    >>> ids[0] == ids[1], ids[2], all(2 <= i < 12 for i in ids[:2] + ids[3:])
    (True, 1, True)
    """

    def __init__(self, num_bins: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or not 1 <= num_bins < 2**63 - FIRST_ID:
            raise ValueError(f"`num_bins` should be an integer in [1, 2**63 - 2). Received: num_bins={num_bins!r}")
        self.num_bins = num_bins

    def call(self, values):
        import tensorflow as tf

        keys = _keys(values)
        ids = tf.strings.to_hash_bucket_fast(keys, self.num_bins) + FIRST_ID
        return tf.where(tf.equal(keys, ""), tf.constant(OOV_ID, tf.int64), ids)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins}


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SplitTokens(EncodingLayer):
    """Splits raw multi-level strings into a fixed-width matrix of tokens.

    Each string is split on `separator`; every token is stripped of leading
    and trailing Unicode whitespace (as Python's `str.strip()`); empty tokens
    are dropped; the first `max_len` tokens are kept and the row is padded
    with `""` (the padding marker: a kept token is never empty).

    Args:
        separator: the separator, a non-empty string.
        max_len: number of columns, at least 1.

    Input shape: `(batch,)` strings. Output: `(batch, max_len)` strings.

    Example:

    >>> SplitTokens("|", max_len=3)(["a| b\\u00a0|", "", "x|y|z|w"]).numpy().tolist()
    [[b'a', b'b', b''], [b'', b'', b''], [b'x', b'y', b'z']]
    """

    def __init__(self, separator: str, max_len: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(separator, str) or not separator:
            raise ValueError(f"`separator` should be a non-empty string. Received: separator={separator!r}")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"`max_len` should be an integer >= 1. Received: max_len={max_len!r}")
        self.separator = separator
        self.max_len = max_len

    def tokens(self, strings):
        """All non-empty stripped tokens of each string, as a `(batch, None)` RaggedTensor (fit uses it)."""
        import tensorflow as tf

        tokens = tf.strings.split(tf.convert_to_tensor(strings, tf.string), sep=self.separator)
        tokens = tf.ragged.map_flat_values(strip_spaces, tokens)
        return tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))

    def call(self, strings):
        return self.tokens(strings)[:, : self.max_len].to_tensor(default_value="", shape=[None, self.max_len])

    def get_config(self):
        return {**super().get_config(), "separator": self.separator, "max_len": self.max_len}


def _bound(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"`{name}` should be a number or None. Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class NumericTransform(EncodingLayer):
    """Turns raw float64 values into float32 model inputs: clip, signed log1p, standardise, missing -> 0.

    In order: values are clipped to `[clip_min, clip_max]` (a missing bound
    does not clip); with `log1p`, `x -> sign(x) * log(1 + |x|)` (the usual
    `log(1 + x)` of counts, defined for negative values too); then
    `(x - mean) / std`. NaN (missing) becomes 0.0, the mean when
    standardised. A value that is infinite, or beyond
    `deepfm_keras.spec.features.NUMERIC_LIMIT` (1e15, what a model input may hold),
    after these steps fails with an error naming the layer (the feature).

    Args:
        mean: subtracted last but one (0.0: none).
        std: divisor, positive (1.0: none).
        log1p: whether to apply the signed log1p.
        clip_min: lower bound or None.
        clip_max: upper bound or None.

    Input shape: any, float. Output: the same shape, float32.

    Example:

    >>> layer = NumericTransform(mean=1.0, std=2.0, log1p=True, clip_max=99.0)
    >>> [round(v, 4) for v in layer([0.0, float("nan"), 1e9]).numpy().tolist()]
    [-0.5, 0.0, 1.8026]
    """

    def __init__(
        self,
        mean: float = 0.0,
        std: float = 1.0,
        log1p: bool = False,
        clip_min: float | None = None,
        clip_max: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mean = _bound(mean, "mean")
        self.std = _bound(std, "std")
        if self.mean is None or not math.isfinite(self.mean):
            raise ValueError(f"`mean` should be a finite number. Received: mean={mean!r}")
        if self.std is None or not (self.std > 0 and math.isfinite(self.std)):
            raise ValueError(f"`std` should be a positive finite number. Received: std={std!r}")
        self.log1p = bool(log1p)
        self.clip_min, self.clip_max = _bound(clip_min, "clip_min"), _bound(clip_max, "clip_max")
        if self.clip_min is not None and self.clip_max is not None and self.clip_min > self.clip_max:
            raise ValueError(f"`clip_min` should be <= `clip_max`. Received: clip_min={clip_min}, clip_max={clip_max}")

    def prepare(self, values):
        """Clipping and log1p only, in float64 with NaN kept (fit computes the mean and std of this)."""
        import tensorflow as tf

        x = tf.cast(values, tf.float64)
        if self.clip_min is not None:
            x = tf.where(x < self.clip_min, tf.constant(self.clip_min, tf.float64), x)
        if self.clip_max is not None:
            x = tf.where(x > self.clip_max, tf.constant(self.clip_max, tf.float64), x)
        if self.log1p:
            x = tf.sign(x) * tf.math.log1p(tf.abs(x))
        return x

    def call(self, values):
        import tensorflow as tf

        x = self.prepare(values)
        if self.mean != 0.0:
            x = x - self.mean
        if self.std != 1.0:
            x = x / self.std
        x = tf.cast(tf.where(tf.math.is_nan(x), tf.zeros_like(x), x), tf.float32)
        finite = tf.debugging.Assert(
            tf.reduce_all(tf.abs(x) <= NUMERIC_LIMIT),  # inf fails too
            [
                f"Feature `{self.name}` holds an infinite value, or one beyond +-{NUMERIC_LIMIT:g} once transformed "
                "(where the model's FM squares overflow float32)."
            ],
        )
        with tf.control_dependencies([finite]):
            return tf.identity(x)

    def get_config(self):
        return {
            **super().get_config(),
            "mean": self.mean,
            "std": self.std,
            "log1p": self.log1p,
            "clip_min": self.clip_min,
            "clip_max": self.clip_max,
        }


@keras.saving.register_keras_serializable(package="deepfm_keras")
class Bucketize(EncodingLayer):
    """Turns a numeric value into a categorical id: bucket `i` -> id `i + 2`, NaN -> 1 (OOV).

    Bucket `i` holds `boundaries[i - 1] <= x < boundaries[i]` (bucket 0 is
    below the first boundary, bucket `len(boundaries)` at or above the last),
    so `len(boundaries) + 1` buckets and `vocabulary_size = len(boundaries) + 3`.

    Args:
        boundaries: strictly increasing finite numbers.

    Input shape: any, float. Output: the same shape, int64.

    Example:

    >>> Bucketize([18.0, 35.0])([3.0, 18.0, 90.0, float("nan")]).numpy().tolist()
    [2, 3, 4, 1]
    """

    def __init__(self, boundaries: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        boundaries = [_bound(b, "boundaries") for b in boundaries]
        if any(not math.isfinite(b) for b in boundaries) or any(
            a >= b for a, b in zip(boundaries, boundaries[1:], strict=False)
        ):
            raise ValueError(f"`boundaries` should be strictly increasing finite numbers. Received: {boundaries}")
        self.boundaries = boundaries

    def call(self, values):
        import tensorflow as tf

        x = tf.cast(values, tf.float64)
        flat = tf.reshape(x, [-1])
        edges = tf.constant(self.boundaries, tf.float64, shape=[len(self.boundaries)])
        bucket = tf.reshape(tf.searchsorted(edges, flat, side="right", out_type=tf.int64), tf.shape(x))
        return tf.where(tf.math.is_nan(x), tf.constant(OOV_ID, tf.int64), bucket + FIRST_ID)

    def get_config(self):
        return {**super().get_config(), "boundaries": list(self.boundaries)}
