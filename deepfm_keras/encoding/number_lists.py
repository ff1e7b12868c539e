"""Lists of numbers in raw strings (`"0.5|1|2"`): the `SplitNumbers` layer, and the eager checks that name the row.

The weights of a weighted `MultiCategoricalColumn` and the values of a
`NumericSequenceColumn` are parsed by `SplitNumbers`, in TensorFlow, on every
path: fit, `transform`, `tf.data` and the serving signature. In the graph a
bad number fails the layer's assertion, naming the feature and the token
(as `NumericTransform` does for a value beyond the model's range); eagerly,
`transform` and `fit` first find the offending row and raise a `ValueError`
naming the column, the row and the value (`parse_column`). `raw_cells` gives
a column's cells as the strings the layer reads; `split_weights` parses a
weight column checked to hold one weight per id.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
import numpy as np

from deepfm_keras.encoding import raw
from deepfm_keras.encoding.layers import EncodingLayer, SplitTokens

if TYPE_CHECKING:
    import tensorflow as tf

# A decimal number as Python and JSON write one: no nan/inf, hex, '_' or ','. What tf.strings.to_number then reads.
_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SplitNumbers(EncodingLayer):
    """Parses raw strings of separator-joined numbers into a fixed-width float64 matrix.

    Each string is split on `separator` and its tokens stripped of Unicode
    whitespace, empty tokens dropped (as `SplitTokens` does, so the `i`-th
    number of a weight list sits where the `i`-th id of its id list does).
    Every token must be a decimal number (`3`, `-0.5`, `2.5e-3`, `1E+16`; not
    `nan`, `inf`, hex, `1_000` or `1,5`) whose float64 value is finite and,
    with `limit`, within `+-limit`; else the layer fails with an error naming
    it (its name is the feature's) and the first bad token. The first
    `max_len` numbers are kept and the row is padded with `pad_value`.

    Args:
        separator: the separator, a non-empty string.
        max_len: number of columns, at least 1.
        pad_value: the padding (NaN for a numeric sequence, 0 for weights).
        limit: largest magnitude allowed (None: any finite number).

    Input shape: `(batch,)` strings. Output: `(batch, max_len)` float64.

    Example:

    >>> SplitNumbers("|", max_len=3)(["0.5| 2|", "", "1e3|-4|5|6"]).numpy().tolist()
    [[0.5, 2.0, nan], [nan, nan, nan], [1000.0, -4.0, 5.0]]
    """

    def __init__(self, separator: str, max_len: int, pad_value: float = math.nan, limit: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self._tokens = SplitTokens(separator, max_len)  # checks both
        if isinstance(pad_value, bool) or not isinstance(pad_value, (int, float)):
            raise ValueError(f"`pad_value` should be a number. Received: pad_value={pad_value!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0):
            raise ValueError(f"`limit` should be a positive number or None. Received: limit={limit!r}")
        self.separator, self.max_len = separator, max_len
        self.pad_value = float(pad_value)
        self.limit = None if limit is None else float(limit)

    def parse(self, strings):
        """Every token of each string: `(tokens, values, ok)`, three `(batch, None)` RaggedTensors (nothing cut).

        `values` is float64 (0 where a token is bad), `ok` whether the token is a
        number this layer accepts.
        """
        import tensorflow as tf

        tokens = self._tokens.tokens(strings)
        flat = tokens.flat_values
        ok = tf.strings.regex_full_match(flat, _NUMBER)
        values = tf.strings.to_number(tf.where(ok, flat, "0"), tf.float64)
        ok &= tf.math.is_finite(values)
        if self.limit is not None:
            ok &= tf.abs(values) <= self.limit
        values = tf.where(ok, values, tf.zeros_like(values))
        return tokens, tokens.with_flat_values(values), tokens.with_flat_values(ok)

    def call(self, strings):
        import tensorflow as tf

        tokens, values, ok = self.parse(strings)
        bad = tf.boolean_mask(tokens.flat_values, tf.logical_not(ok.flat_values))[:1]
        message = f"Feature `{self.name}` holds a token that is not {self.number()}:"
        check = tf.debugging.Assert(tf.reduce_all(ok.flat_values), [message, bad])
        with tf.control_dependencies([check]):
            cut = values[:, : self.max_len]
            return cut.to_tensor(default_value=self.pad_value, shape=[None, self.max_len])

    def number(self) -> str:
        """What every token should be, for error messages."""
        bound = f" within +-{self.limit:g}" if self.limit is not None else ""
        return f"a finite decimal number{bound}"

    def get_config(self):
        return {
            **super().get_config(),
            "separator": self.separator,
            "max_len": self.max_len,
            "pad_value": self.pad_value,
            "limit": self.limit,
        }


def parse_column(layer: SplitNumbers, data, column: str) -> tuple[np.ndarray, list, np.ndarray, tf.RaggedTensor]:
    """Column `column` of a table through `layer.parse`, eagerly, on its distinct cells; raises naming a bad row.

    Returns:
        `(codes, keys, lengths, values)`: each row's code into the distinct
        cells `keys` (-1: missing, reads the trailing empty entry of
        `lengths`), the number of numbers of each cell (one more entry, 0,
        for the missing cell), and each cell's float64 numbers.

    Raises:
        ValueError: `Column 'w', row 3: 'x' is not a finite decimal number
            (cell 'x|2')`, for the first row holding a bad token.
    """
    codes, keys = raw.number_list_keys(data, column, separator=layer.separator)
    tokens, values, ok = layer.parse(raw.cells(keys))
    good = ok.numpy().tolist()
    bad_cells = np.array([not all(row) for row in good], dtype=bool)
    bad_rows = np.flatnonzero(bad_cells[codes])
    if bad_rows.size:
        row = int(bad_rows[0])
        cell = codes[row]
        token = next(t for t, fine in zip(tokens[cell].numpy().tolist(), good[cell], strict=True) if not fine)
        token = token.decode("utf-8", "surrogateescape")
        raise ValueError(
            f"Column '{column}', row {row}: {token!r} is not {layer.number()} "
            f"(in {keys[cell]!r}). Write numbers such as 3, -0.5 or 2.5e-3, joined by {layer.separator!r}."
        )
    lengths = values.row_lengths().numpy()
    return codes, keys, lengths, values


def raw_cells(data, column: str, separator: str) -> np.ndarray:
    """Column `column` of number lists as the `(n,)` object array of bytes `SplitNumbers` reads (unparsed)."""
    codes, keys = raw.number_list_keys(data, column, separator=separator)
    return raw.cells(keys)[codes]


def split_weights(layer: SplitNumbers, values, id_counts, ids_name: str):
    """A weight column's raw strings -> float32 `(batch, max_len)`, checked to hold one weight per id."""
    import tensorflow as tf

    counts = layer.parse(values)[1].row_lengths()
    check = tf.debugging.assert_equal(
        counts,
        id_counts,
        message=f"Feature `{layer.name}` has a row whose number of weights differs from its number of ids in "
        f"`{ids_name}`",
    )
    with tf.control_dependencies([check]):
        return tf.cast(layer(values), tf.float32)
