"""The Criteo line format: its fields, the batch parser of `tf.data` and the line check of `validate_files`.

A line is `label \\t I1 ... I13 \\t C1 ... C26` (40 fields, no header). It is
malformed when it does not have exactly 40 fields, when its label is not `0`
or `1`, or when an `I` field is neither empty nor `-?[0-9]{1,18}`; a trailing
`\\r` is removed first. `split_fields` (in-graph) and `line_problem` (pure
Python, naming the reason) apply that one policy.
"""

from __future__ import annotations

LABEL = "label"
INTEGER_FEATURES = tuple(f"I{i}" for i in range(1, 14))
CATEGORICAL_FEATURES = tuple(f"C{i}" for i in range(1, 27))
NUM_FIELDS = 1 + len(INTEGER_FEATURES) + len(CATEGORICAL_FEATURES)
INTEGER_PATTERN = r"-?[0-9]{1,18}"


def split_fields(lines):
    """Splits a batch of lines into `(num_lines, 40)` strings and a well-formed flag per line."""
    import tensorflow as tf

    position = tf.maximum(tf.strings.length(lines) - 1, 0)
    last = tf.strings.substr(lines, position, tf.ones_like(position))
    crlf = tf.reduce_any(tf.equal(last, "\r"))  # a cheap test, so the regex runs only on CRLF files
    lines = tf.cond(crlf, lambda: tf.strings.regex_replace(lines, "\r$", ""), lambda: lines)
    ragged = tf.strings.split(lines, sep="\t")
    ok = tf.equal(ragged.row_lengths(), NUM_FIELDS)
    fields = tf.cond(  # every line with 40 fields (the usual case): the split values are already the matrix
        tf.reduce_all(ok),
        lambda: tf.reshape(ragged.flat_values, [-1, NUM_FIELDS]),
        lambda: ragged.to_tensor(default_value="", shape=[None, NUM_FIELDS]),
    )
    label = fields[:, 0]
    ok = tf.logical_and(ok, tf.logical_or(tf.equal(label, "0"), tf.equal(label, "1")))
    ints = fields[:, 1 : 1 + len(INTEGER_FEATURES)]
    int_ok = tf.strings.regex_full_match(ints, INTEGER_PATTERN + "|")
    ok = tf.logical_and(ok, tf.reduce_all(int_ok, axis=1))
    return fields, ok


def line_problem(fields: list[bytes]) -> str | None:
    """Why the fields of one line (its bytes split at tabs, `\\r` removed) are malformed, or None."""
    if len(fields) != NUM_FIELDS:
        return f"expected {NUM_FIELDS} tab-separated fields, found {len(fields)}"
    if fields[0] not in (b"0", b"1"):
        return f"field 'label' should be 0 or 1, found {fields[0][:40]!r}"
    for name, value in zip(INTEGER_FEATURES, fields[1 : 1 + len(INTEGER_FEATURES)], strict=True):
        if value and not (
            value.lstrip(b"-").isdigit()
            and len(value.lstrip(b"-")) <= 18
            and value.count(b"-") <= 1
            and not value.endswith(b"-")
        ):
            return f"field '{name}' should be an integer or empty, found {value[:40]!r}"
    return None
