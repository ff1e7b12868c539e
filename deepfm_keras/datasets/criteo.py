"""Streaming reader of the Criteo display-ads format (Kaggle 2014 / Criteo 1TB day files).

Each line is one impression, 40 tab-separated fields and no header:

```
label \t I1 ... I13 \t C1 ... C26
```

`label` is 0 or 1, `I1..I13` are integers (they can be negative) and
`C1..C26` are hashed categorical values (8 hex digits); an empty field is a
missing value. The reader streams any number of files (plain or `.gz`) with
`tf.data`, parsing whole batches of lines at once, so files far larger than
memory train with a fixed footprint:

```python
from deepfm_keras.datasets import criteo
reader = criteo.CriteoReader(num_buckets=100_000)
model = build_deepfm(reader.feature_spec)
model.fit(reader.dataset(["day_0.gz", "day_1.gz"], batch_size=4096, shuffle_buffer=16))
print(reader.rows_read, reader.malformed_rows)
```

Policies (all tested):

- Malformed lines are skipped and counted, never trained on. A line is
  malformed when it does not have exactly 40 fields (a stray or missing tab,
  a blank line, a line of another format), when its label is not `0` or `1`,
  or when an `I` field is neither empty nor a decimal integer of at most 18
  digits (`-?[0-9]{1,18}`, so `1.5`, `abc`, `nan`, `inf` and numbers outside
  int64 are malformed). A trailing `\\r` (CRLF files) is removed first.
  `reader.malformed_rows` counts them and `validate_files` names the first
  offenders by file and line number; the example CLI fails when they exceed a
  fraction of the data.
- `C` fields are taken as raw bytes (any encoding, latin-1 or UTF-8 alike).
  With hashing (the default) a value maps to
  `2 + fingerprint(value) % num_buckets`; with a vocabulary (built by
  `build_vocabularies` in one streaming pass with a minimum count) known
  values map to `2..len+1` in vocabulary order and others to 1. A missing
  (empty) value is id 1, the OOV id; id 0 is never produced (padding, as in
  `FeatureEncoder`). Each field's `vocabulary_size` is `num_buckets + 2` or
  `len(vocabulary) + 2`, so no id can fall outside its embedding table.
- `I` fields go through `sign(x) * log(1 + |x|)` (the usual `log(1 + x)` for
  counts, and negative values such as `I2 = -1` keep their sign). A missing
  value becomes 0.0 and, with `missing_indicators=True` (the default), the
  numeric feature `I<k>_missing` is 1.0, so "missing" and "zero" stay distinct.

Counters accumulate over every pass of every dataset made by one reader (call
`reset_counts()` between passes).
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import os
from collections.abc import Mapping, Sequence

import numpy as np

from deepfm_keras.features import CategoricalFeature, NumericFeature

LABEL = "label"
INTEGER_FEATURES = tuple(f"I{i}" for i in range(1, 14))
CATEGORICAL_FEATURES = tuple(f"C{i}" for i in range(1, 27))
NUM_FIELDS = 1 + len(INTEGER_FEATURES) + len(CATEGORICAL_FEATURES)
INTEGER_PATTERN = r"-?[0-9]{1,18}"
OOV_ID = 1


def _check_files(files) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("`files` is empty: give at least one Criteo-format file.")
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"Criteo file not found: {f}")
    return files


def _compression(path: str) -> str:
    return "GZIP" if path.endswith(".gz") else ""


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` should be a positive integer. Received: {name}={value!r}")
    return int(value)


def _lines_dataset(files: list[str]):
    import tensorflow as tf

    by_compression = collections.defaultdict(list)
    for f in files:
        by_compression[_compression(f)].append(f)
    datasets = [tf.data.TextLineDataset(group, compression_type=c) for c, group in by_compression.items()]
    out = datasets[0]
    for d in datasets[1:]:
        out = out.concatenate(d)
    return out


def _split_fields(lines):
    """Splits a batch of lines into `(num_lines, 40)` strings and a well-formed flag per line."""
    import tensorflow as tf

    lines = tf.strings.regex_replace(lines, "\r$", "")
    ragged = tf.strings.split(lines, sep="\t")
    ok = tf.equal(ragged.row_lengths(), NUM_FIELDS)
    fields = ragged.to_tensor(default_value="", shape=[None, NUM_FIELDS])
    label = fields[:, 0]
    ok = tf.logical_and(ok, tf.logical_or(tf.equal(label, "0"), tf.equal(label, "1")))
    ints = fields[:, 1 : 1 + len(INTEGER_FEATURES)]
    int_ok = tf.strings.regex_full_match(ints, INTEGER_PATTERN + "|")
    ok = tf.logical_and(ok, tf.reduce_all(int_ok, axis=1))
    return fields, ok


class CriteoReader:
    """Turns Criteo-format files into batches of DeepFM inputs, streaming with `tf.data`.

    Args:
        num_buckets: number of hash buckets per categorical field (used when
            `vocabularies` is None).
        vocabularies: optional dict `C1..C26 -> list of values` (from
            `build_vocabularies`); values not listed map to OOV id 1.
        missing_indicators: add a 0/1 numeric feature `I<k>_missing` per
            integer field.

    Example:

    >>> reader = CriteoReader(num_buckets=1000)
    >>> len(reader.feature_spec), reader.feature_spec[-1].vocabulary_size
    (52, 1002)
    """

    def __init__(
        self,
        *,
        num_buckets: int = 100_000,
        vocabularies: Mapping[str, Sequence[str]] | None = None,
        missing_indicators: bool = True,
    ):
        self.num_buckets = _positive_int("num_buckets", num_buckets)
        if vocabularies is not None:
            missing = [c for c in CATEGORICAL_FEATURES if c not in vocabularies]
            if missing:
                raise ValueError(f"`vocabularies` has no entry for {missing}.")
            vocabularies = {c: [str(v) for v in vocabularies[c]] for c in CATEGORICAL_FEATURES}
        self.vocabularies = vocabularies
        self.missing_indicators = bool(missing_indicators)
        self._tables = None
        self._counters = None

    # -- spec ---------------------------------------------------------------
    @property
    def numeric_features(self) -> list[str]:
        names = list(INTEGER_FEATURES)
        if self.missing_indicators:
            names += [f"{n}_missing" for n in INTEGER_FEATURES]
        return names

    def vocabulary_size(self, column: str) -> int:
        if self.vocabularies is None:
            return self.num_buckets + 2
        return len(self.vocabularies[column]) + 2

    @property
    def feature_spec(self) -> list:
        """Features for `build_deepfm`: the numeric ones, then `C1..C26`."""
        spec = [NumericFeature(n) for n in self.numeric_features]
        spec += [CategoricalFeature(c, self.vocabulary_size(c)) for c in CATEGORICAL_FEATURES]
        return spec

    # -- counters -----------------------------------------------------------
    def _ensure_state(self):
        import tensorflow as tf

        if self._counters is None:
            with tf.init_scope():
                self._counters = (
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_rows_read"),
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_malformed_rows"),
                )
        if self.vocabularies is not None and self._tables is None:
            self._tables = {}
            for c in CATEGORICAL_FEATURES:
                keys = tf.constant(self.vocabularies[c], dtype=tf.string)
                values = tf.range(2, len(self.vocabularies[c]) + 2, dtype=tf.int64)
                init = tf.lookup.KeyValueTensorInitializer(keys, values)
                self._tables[c] = tf.lookup.StaticHashTable(init, default_value=OOV_ID)

    @property
    def rows_read(self) -> int:
        """Lines read so far (well-formed and malformed)."""
        return 0 if self._counters is None else int(self._counters[0].numpy())

    @property
    def malformed_rows(self) -> int:
        """Lines skipped as malformed so far."""
        return 0 if self._counters is None else int(self._counters[1].numpy())

    def reset_counts(self) -> None:
        if self._counters is not None:
            self._counters[0].assign(0)
            self._counters[1].assign(0)

    # -- parsing ------------------------------------------------------------
    def parse_lines(self, lines):
        """Parses a batch of lines; malformed ones are dropped and counted.

        Args:
            lines: 1-D string tensor of raw lines (without `\\n`).

        Returns:
            `(features, labels)`: dict of `(n, 1)` tensors (float32 numeric,
            int32 ids) and float32 labels `(n, 1)`, `n` the well-formed lines.
        """
        import tensorflow as tf

        self._ensure_state()
        lines = tf.convert_to_tensor(lines, dtype=tf.string)
        fields, ok = _split_fields(lines)
        self._counters[0].assign_add(tf.size(ok, out_type=tf.int64))
        self._counters[1].assign_add(tf.reduce_sum(tf.cast(tf.logical_not(ok), tf.int64)))
        fields = tf.boolean_mask(fields, ok)
        labels = tf.strings.to_number(fields[:, :1], tf.float32)
        ints = fields[:, 1 : 1 + len(INTEGER_FEATURES)]
        missing = tf.equal(ints, "")
        x = tf.strings.to_number(tf.where(missing, "0", ints), tf.float64)
        x = tf.cast(tf.sign(x) * tf.math.log1p(tf.abs(x)), tf.float32)
        features = {}
        for i, name in enumerate(INTEGER_FEATURES):
            features[name] = x[:, i : i + 1]
        if self.missing_indicators:
            flags = tf.cast(missing, tf.float32)
            for i, name in enumerate(INTEGER_FEATURES):
                features[f"{name}_missing"] = flags[:, i : i + 1]
        cats = fields[:, 1 + len(INTEGER_FEATURES) :]
        empty = tf.equal(cats, "")
        if self.vocabularies is None:
            ids = tf.strings.to_hash_bucket_fast(cats, self.num_buckets) + 2
            ids = tf.where(empty, tf.constant(OOV_ID, tf.int64), ids)
        for i, name in enumerate(CATEGORICAL_FEATURES):
            if self.vocabularies is None:
                column = ids[:, i : i + 1]
            else:
                column = self._tables[name].lookup(cats[:, i : i + 1])
            features[name] = tf.cast(column, tf.int32)
        return features, labels

    def dataset(
        self,
        files,
        *,
        batch_size: int = 4096,
        shuffle_buffer: int = 0,
        seed: int | None = None,
        num_parallel_calls: int | None = None,
    ):
        """A `tf.data.Dataset` of `(features, labels)` batches streamed from `files`.

        Lines are read in file order, grouped `batch_size` at a time and parsed
        together; batches are then shuffled in a buffer of `shuffle_buffer`
        batches (0: no shuffling) and prefetched. A batch may hold fewer than
        `batch_size` rows when lines were skipped as malformed; batches with no
        valid row are dropped.

        Raises:
            FileNotFoundError: naming a file that does not exist.
        """
        import tensorflow as tf

        files = _check_files(files)
        batch_size = _positive_int("batch_size", batch_size)
        self._ensure_state()
        ds = _lines_dataset(files).batch(batch_size)
        ds = ds.map(self.parse_lines, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE)
        ds = ds.filter(lambda features, labels: tf.shape(labels)[0] > 0)
        if shuffle_buffer:
            ds = ds.shuffle(_positive_int("shuffle_buffer", shuffle_buffer), seed=seed)
        return ds.prefetch(tf.data.AUTOTUNE)


def build_vocabularies(files, *, min_count: int = 10, batch_size: int = 65536) -> dict[str, list[str]]:
    """Vocabularies of `C1..C26` with at least `min_count` occurrences, in one streaming pass.

    Malformed lines (see the module policy) and empty values are not counted.
    Values are ordered by decreasing count, then by value.

    Returns:
        Dict `C1..C26 -> list of values` for `CriteoReader(vocabularies=...)`.
    """
    import tensorflow as tf

    files = _check_files(files)
    min_count = _positive_int("min_count", min_count)
    counters = {c: collections.Counter() for c in CATEGORICAL_FEATURES}

    def categorical(lines):
        fields, ok = _split_fields(lines)
        return tf.boolean_mask(fields, ok)[:, 1 + len(INTEGER_FEATURES) :]

    ds = _lines_dataset(files).batch(batch_size).map(categorical).prefetch(2)
    for cats in ds.as_numpy_iterator():
        for i, c in enumerate(CATEGORICAL_FEATURES):
            values, counts = np.unique(cats[:, i], return_counts=True)
            counters[c].update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
    vocabularies = {}
    for c, counter in counters.items():
        kept = [(v, n) for v, n in counter.items() if n >= min_count and v != b""]
        kept.sort(key=lambda item: (-item[1], item[0]))
        vocabularies[c] = [v.decode("utf-8", errors="surrogateescape") for v, _ in kept]
    return vocabularies


@dataclasses.dataclass
class ValidationReport:
    """Result of `validate_files`: line counts and the first malformed lines."""

    rows: int = 0
    malformed_rows: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)


def _line_problem(fields: list[bytes]) -> str | None:
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


def validate_files(files, *, max_examples: int = 10) -> ValidationReport:
    """Checks every line with the reader's policy and names the first malformed ones.

    A slow pure-Python pass meant for diagnostics (the example CLI runs it only
    when the streaming pass found malformed lines).

    Returns:
        A `ValidationReport`; each example reads `"FILE:LINE: reason"`.
    """
    report = ValidationReport()
    for path in _check_files(files):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip(b"\n")
                if line.endswith(b"\r"):
                    line = line[:-1]
                report.rows += 1
                problem = _line_problem(line.split(b"\t"))
                if problem:
                    report.malformed_rows += 1
                    if len(report.examples) < max_examples:
                        report.examples.append(f"{path}:{number}: {problem}")
    return report


def write_synthetic(path, num_rows: int, *, seed: int = 0, chunk_rows: int = 200_000, vocabulary: int = 10_000) -> str:
    """Writes `num_rows` synthetic Criteo-format lines to `path` (gzip when it ends in `.gz`).

    Values follow simple skewed laws (Zipf-like categorical values, geometric
    counts, about 10% missing) and the label depends on a few of them through a
    logistic model, so a model has something to learn. Lines are rendered with
    TensorFlow string ops and written in chunks: the memory used does not grow
    with `num_rows`.

    Returns:
        The path written.
    """
    import tensorflow as tf

    num_rows = int(num_rows)
    if num_rows < 0:
        raise ValueError(f"`num_rows` should be >= 0. Received: num_rows={num_rows}")
    rng = np.random.default_rng(seed)
    nc, ni = len(CATEGORICAL_FEATURES), len(INTEGER_FEATURES)
    cat_weight = rng.normal(0, 0.6, size=(nc, vocabulary))
    # per field, the rendered hex of each value, and "" (missing) as the extra last entry
    codes = (np.arange(vocabulary)[None, :] * 2654435761 + np.arange(nc)[:, None] * 40503) % (1 << 32)
    pools = tf.constant(np.char.mod("%08x", np.concatenate([codes, np.zeros((nc, 1), "int64")], axis=1)))
    pools = tf.concat([pools[:, :-1], tf.fill([nc, 1], "")], axis=1)
    cumulative = np.cumsum(1.0 / np.arange(1, vocabulary + 1) ** 1.1)  # Zipf-like value frequencies
    cumulative /= cumulative[-1]
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as out:
        done = 0
        while done < num_rows:
            n = min(chunk_rows, num_rows - done)
            cats = np.minimum(np.searchsorted(cumulative, rng.random((n, nc))), vocabulary - 1)
            ints = rng.geometric(0.05, size=(n, ni)) - 2
            logit = -1.2 + 0.3 * np.log1p(np.maximum(ints[:, 0], 0)) - 0.15 * np.log1p(np.maximum(ints[:, 4], 0))
            logit += cat_weight[np.arange(6), cats[:, :6]].sum(axis=1)
            label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
            cats = np.where(rng.random((n, nc)) < 0.1, vocabulary, cats)
            int_s = tf.where(rng.random((n, ni)) < 0.1, "", tf.strings.as_string(ints))
            cat_s = tf.transpose(tf.gather(pools, cats.T, batch_dims=1))
            fields = tf.concat([tf.strings.as_string(label)[:, None], int_s, cat_s], axis=1)
            lines = tf.strings.reduce_join(fields, axis=1, separator="\t").numpy()
            out.write(b"\n".join(lines.tolist()) + b"\n")
            done += n
    return path
