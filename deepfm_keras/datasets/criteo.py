"""Streaming reader of the Criteo display-ads format (Kaggle 2014 / Criteo 1TB day files).

Each line is one impression, 40 tab-separated fields and no header:

```
label \t I1 ... I13 \t C1 ... C26
```

`label` is 0 or 1, `I1..I13` are integers (they can be negative) and
`C1..C26` are hashed categorical values (8 hex digits); an empty field is a
missing value. The reader streams any number of files (plain or gzip) with
`tf.data`, parsing whole batches of lines at once, so files far larger than
memory train with a fixed footprint. It is a client of `FeatureEncoder`: the
parsed raw columns go through `reader.encoder.encode`, the same encoding
layers the exported serving signature runs, so a Criteo model exports like
any other (`export_serving_model(model, reader.encoder, path)`):

```python
from deepfm_keras.datasets import criteo
reader = criteo.CriteoReader(num_buckets=100_000)                  # hashing: no vocabulary pass
# or: reader = criteo.CriteoReader(encoder=criteo.fit_encoder(files, min_count=10))   # vocabularies
model = build_deepfm(reader.feature_spec)
model.fit(reader.dataset(["day_0.gz", "day_1.gz"], batch_size=4096, shuffle_buffer=16))
print(reader.rows_read, reader.malformed_rows)
# files holding every click and 10% of the non-clicks: weight the negatives back
model.fit(reader.dataset(files, batch_size=4096, class_weight={0: 1 / 0.1, 1: 1.0}))
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
- `C` fields are raw bytes (any encoding, latin-1 or UTF-8 alike), encoded by
  the encoder's `CategoricalColumn`s: hashed (`num_bins`, the default) to
  `2 + fingerprint(value) % num_bins`, or looked up in vocabularies learned
  by `fit_encoder` (one streaming pass, with `min_count` / `max_size`). An
  empty value is the OOV id 1; id 0 is never produced.
- `I` fields are `NumericColumn(log1p=True, standardize=False)`:
  `sign(x) * log(1 + |x|)` (the usual `log(1 + x)` for counts; negative
  values such as `I2 = -1` keep their sign). A missing value becomes 0.0 and,
  with `missing_indicators=True` (the default), the numeric feature
  `I<k>_missing` is 1.0, so "missing" and "zero" stay distinct. Served, an
  `I` field is a float64 (NaN for missing) and a `C` field a string.

- A file is gzip-compressed when its first two bytes are the gzip header
  `1f 8b`, whatever its name (`day_0.gz`, `day_0.GZ`, `day_0`, `day_0.txt`);
  every read path decides the same way. A file named `*.gz` (any case)
  that does not start with that header (empty, plain text, an HTML error
  page, a Git LFS pointer) raises, naming the file, rather than being read
  as text: its name says it holds compressed rows, and reading its content
  as lines would train on none of them.
- A truncated or corrupt gzip file raises, naming the file, in every read
  path; nothing trains on the part that happened to decompress. TensorFlow's
  gzip reader stops silently at a truncation, so the stream counts the bytes
  of each file's lines and, at its end, compares them with the size the gzip
  trailer records (a 4-byte read per file; a mismatch, as in multi-member
  files, falls back to a full `zlib` pass, `gzip_content_size`). Corrupt data
  fails in TensorFlow's reader (`tf.errors.DataLossError`, "inflate()
  failed"): in `dataset` that error does not name the file; `fit_encoder`,
  `validate_files` and `gzip_content_size` do. A batch never spans two gzip
  files.

Counters accumulate over every pass of every dataset made by one reader (call
`reset_counts()` between passes).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gzip
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from deepfm_keras import validation
from deepfm_keras.encoding import OOV_ID, CategoricalColumn, FeatureEncoder, NumericColumn, file_format
from deepfm_keras.progress import Progress

LABEL = "label"
INTEGER_FEATURES = tuple(f"I{i}" for i in range(1, 14))
CATEGORICAL_FEATURES = tuple(f"C{i}" for i in range(1, 27))
NUM_FIELDS = 1 + len(INTEGER_FEATURES) + len(CATEGORICAL_FEATURES)
INTEGER_PATTERN = r"-?[0-9]{1,18}"
__all__ = [
    "CATEGORICAL_FEATURES",
    "INTEGER_FEATURES",
    "LABEL",
    "OOV_ID",
    "CriteoReader",
    "ValidationReport",
    "build_vocabularies",
    "fit_encoder",
    "gzip_content_size",
    "make_encoder",
    "validate_files",
    "write_synthetic",
]


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


_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: str) -> bool:
    """Whether a file is gzip-compressed, decided by its first two bytes (`1f 8b`), never by its name.

    Raises:
        ValueError: for a file named `*.gz` (any case) that does not start
            with the gzip header: an empty file, plain text, an HTML page or a
            Git LFS pointer saved under a gzip name.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:2] == _GZIP_MAGIC:
        return True
    if path.lower().endswith(".gz"):
        found = "it is empty" if not head else f"it starts with {head!r}"
        raise ValueError(
            f"Criteo file {path} is not a gzip file: its name ends in .gz, but {found}, not the gzip header 1f 8b. "
            "Rename it if it is plain text."
        )
    return False


def _compression(path: str) -> str:
    """`tf.data`'s compression type of a Criteo file: `"GZIP"` or `""`, from its content (`_is_gzip`)."""
    return "GZIP" if _is_gzip(path) else ""


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` should be a positive integer. Received: {name}={value!r}")
    return int(value)


def _gzip_trailer_size(path: str) -> int:
    """The ISIZE field of a gzip file's last 4 bytes: its uncompressed size mod 2**32 (of the last member)."""
    with open(path, "rb") as f:
        head = f.read(2)
        if head != _GZIP_MAGIC or f.seek(0, os.SEEK_END) < 18:
            raise ValueError(f"Criteo file {path} is not a gzip file (no gzip header or shorter than 18 bytes).")
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


def gzip_content_size(path) -> int:
    """Decompresses a gzip file (every member) without keeping it; returns its size, or raises naming the file.

    The full check behind the reader's cheap one (used when the trailer's size
    does not match, e.g. multi-member files such as bgzip's).

    Raises:
        ValueError: for a truncated stream or corrupt data (CRC, deflate errors).
    """
    path = os.fspath(path)
    size = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"Criteo file {path} is a truncated or corrupt gzip file: {e}") from None
    return size


def _check_gzip_end(path, lines_bytes, trailer_size):
    """In the stream, after a gzip file's last line: its bytes read should be the size its trailer records."""
    import tensorflow as tf

    def matches(size):
        return tf.logical_or(
            tf.equal(lines_bytes % 2**32, size % 2**32), tf.equal((lines_bytes - 1) % 2**32, size % 2**32)
        )  # (the last line may lack its newline)

    def content_size(p):
        try:
            return np.int64(gzip_content_size(p.decode("utf-8", "surrogateescape")))
        except ValueError:
            return np.int64(-1)

    def full_check():  # slow path: multi-member files, or a real truncation
        size = tf.numpy_function(content_size, [path], tf.int64, stateful=False)
        return tf.logical_and(tf.greater_equal(size, 0), matches(size))

    ok = tf.cond(matches(trailer_size), lambda: tf.constant(True), full_check)
    return tf.debugging.Assert(
        ok, ["Criteo gzip file ended early (truncated or corrupt): read", lines_bytes, "bytes of", path], summarize=1
    )


def _gzip_batches(paths: list[str], batch_size: int):
    """Batches of lines of gzip files; each file's end is checked (`_check_gzip_end`), so truncation raises."""
    import tensorflow as tf

    sizes = [_gzip_trailer_size(p) for p in paths]
    no_lines = tf.constant([], tf.string)

    def one_file(path, trailer_size):
        batches = tf.data.TextLineDataset(path, compression_type="GZIP").batch(batch_size)
        tagged = batches.map(lambda b: (b, False)).concatenate(tf.data.Dataset.from_tensors((no_lines, True)))

        def count(total, item):
            lines, last = item
            total += tf.reduce_sum(tf.cast(tf.strings.length(lines), tf.int64) + 1)
            check = tf.cond(last, lambda: _check_gzip_end(path, total, trailer_size), tf.no_op)
            with tf.control_dependencies([check]):
                return total, (tf.identity(lines), last)

        return (
            tagged.scan(tf.constant(0, tf.int64), count)
            .filter(lambda lines, last: tf.logical_not(last))
            .map(lambda lines, last: lines)
        )

    files = tf.data.Dataset.from_tensor_slices((paths, tf.constant(sizes, tf.int64)))
    return files.flat_map(one_file)


def _line_batches(files: list[str], batch_size: int):
    """`(batch,)` string batches of the lines of `files`; plain files first batched together, then gzip files.

    A gzip file's batches end with the file (a batch never spans two gzip
    files) so that each file's end can be checked: a truncated or corrupt
    file raises instead of ending the stream early (TensorFlow's reader stops
    silently at a truncation).
    """
    import tensorflow as tf

    by_compression = collections.defaultdict(list)
    for f in files:
        by_compression[_compression(f)].append(f)
    datasets = [
        _gzip_batches(group, batch_size) if c == "GZIP" else tf.data.TextLineDataset(group).batch(batch_size)
        for c, group in by_compression.items()
    ]
    out = datasets[0]
    for d in datasets[1:]:
        out = out.concatenate(d)
    return out


def _split_fields(lines):
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


def make_encoder(
    *,
    num_buckets: int | None = 100_000,
    vocabularies: Mapping[str, Sequence[str]] | None = None,
    missing_indicators: bool = True,
) -> FeatureEncoder:
    """The fitted `FeatureEncoder` of the Criteo columns, from hash settings or given vocabularies.

    Args:
        num_buckets: hash buckets per categorical field (used when
            `vocabularies` is None).
        vocabularies: optional dict `C1..C26 -> list of values`, most frequent
            first; values not listed map to OOV id 1.
        missing_indicators: add a 0/1 numeric feature `I<k>_missing` per
            integer field.

    Returns:
        A fitted encoder: `I1..I13` signed-log1p numeric columns, `C1..C26`
        hashed or vocabulary categorical columns (served as strings).

    Example:

    >>> make_encoder(num_buckets=1000).feature_spec[-1]
    CategoricalFeature(name='C26', vocabulary_size=1002, embedding_name=None, embedding_dim=None)
    """
    numeric = [
        NumericColumn(n, log1p=True, standardize=False, missing_indicator=bool(missing_indicators))
        for n in INTEGER_FEATURES
    ]
    state = {n: {"mean": 0.0, "std": 1.0, "input_dtype": "float64"} for n in INTEGER_FEATURES}
    if vocabularies is None:
        num_buckets = _positive_int("num_buckets", num_buckets)
        categorical = [CategoricalColumn(c, num_bins=num_buckets) for c in CATEGORICAL_FEATURES]
        state.update({c: {"input_dtype": "string"} for c in CATEGORICAL_FEATURES})
    else:
        missing = [c for c in CATEGORICAL_FEATURES if c not in vocabularies]
        if missing:
            raise ValueError(f"`vocabularies` has no entry for {missing}.")
        categorical = [CategoricalColumn(c) for c in CATEGORICAL_FEATURES]
        state.update(
            {
                c: {"vocabulary": [str(v) for v in vocabularies[c]], "input_dtype": "string"}
                for c in CATEGORICAL_FEATURES
            }
        )
    return FeatureEncoder.from_config(file_format.config(numeric + categorical, state))


def _check_encoder(encoder) -> FeatureEncoder:
    if not isinstance(encoder, FeatureEncoder) or not encoder.is_fitted:
        raise ValueError(f"`encoder` should be a fitted FeatureEncoder. Received: {encoder!r}")
    specs = encoder.column_specs
    wrong = [n for n in INTEGER_FEATURES if not isinstance(specs.get(n), NumericColumn)]
    wrong += [c for c in CATEGORICAL_FEATURES if not isinstance(specs.get(c), CategoricalColumn)]
    extra = sorted(set(specs) - set(INTEGER_FEATURES) - set(CATEGORICAL_FEATURES))
    if wrong or extra:
        raise ValueError(
            "`encoder` should have numeric columns I1..I13 and categorical columns C1..C26 only. "
            f"Wrong or missing: {wrong}; extra: {extra}"
        )
    return encoder


class CriteoReader:
    """Turns Criteo-format files into batches of DeepFM inputs, streaming with `tf.data`.

    Args:
        num_buckets: number of hash buckets per categorical field (used when
            neither `vocabularies` nor `encoder` is given).
        vocabularies: optional dict `C1..C26 -> list of values` (e.g. from
            `build_vocabularies`); values not listed map to OOV id 1.
        missing_indicators: add a 0/1 numeric feature `I<k>_missing` per
            integer field.
        encoder: a fitted `FeatureEncoder` of the Criteo columns (from
            `fit_encoder`, `make_encoder` or `FeatureEncoder.load`); the other
            arguments are then ignored.

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
        encoder: FeatureEncoder | None = None,
    ):
        if encoder is None:
            encoder = make_encoder(
                num_buckets=num_buckets, vocabularies=vocabularies, missing_indicators=missing_indicators
            )
        self.encoder = _check_encoder(encoder)
        self._counters = None

    # -- spec ---------------------------------------------------------------
    @property
    def vocabularies(self) -> dict[str, list[str]] | None:
        """`C1..C26 -> values` in vocabulary mode, else None (hashing)."""
        return self.encoder.vocabularies or None

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.encoder.feature_spec if f.kind == "numeric"]

    def vocabulary_size(self, column: str) -> int:
        return self.encoder.vocabulary_size(column)

    @property
    def feature_spec(self) -> list:
        """Features for `build_deepfm`: the numeric ones, then `C1..C26`."""
        return self.encoder.feature_spec

    # -- counters -----------------------------------------------------------
    def _ensure_state(self):
        import tensorflow as tf

        if self._counters is None:
            with tf.init_scope():
                self._counters = (
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_rows_read"),
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_malformed_rows"),
                )

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
    def _parse_blocks(self, lines):
        import tensorflow as tf

        self._ensure_state()
        lines = tf.convert_to_tensor(lines, dtype=tf.string)
        fields, ok = _split_fields(lines)
        self._counters[0].assign_add(tf.size(ok, out_type=tf.int64))
        self._counters[1].assign_add(tf.reduce_sum(tf.cast(tf.logical_not(ok), tf.int64)))
        fields = tf.cond(tf.reduce_all(ok), lambda: fields, lambda: tf.boolean_mask(fields, ok))
        labels = tf.strings.to_number(fields[:, :1], tf.float32)
        first = 1 + len(INTEGER_FEATURES)
        ints = fields[:, 1:first]
        missing = tf.equal(ints, "")
        x = tf.strings.to_number(tf.where(missing, "0", ints), tf.float64)
        x = tf.where(missing, tf.constant(np.nan, tf.float64), x)
        return x, fields[:, first:], labels

    def parse_raw(self, lines):
        """Parses a batch of lines into raw columns; malformed ones are dropped and counted.

        Args:
            lines: 1-D string tensor of raw lines (without `\\n`).

        Returns:
            `(raw, labels)`: dict of `(n,)` tensors (float64 `I` fields, NaN
            for missing; string `C` fields) as the serving signature takes
            them, and float32 labels `(n, 1)`, `n` the well-formed lines.
        """
        ints, cats, labels = self._parse_blocks(lines)
        raw = {name: ints[:, i] for i, name in enumerate(INTEGER_FEATURES)}
        raw.update({name: cats[:, i] for i, name in enumerate(CATEGORICAL_FEATURES)})
        return raw, labels

    def parse_lines(self, lines):
        """Parses and encodes a batch of lines; malformed ones are dropped and counted.

        The `I` and `C` fields go to `encoder.encode` as two blocks, so
        columns encoded alike (all `I` fields; all `C` fields when hashed)
        take one call of their layer.

        Returns:
            `(features, labels)`: the encoder's model inputs (`(n, 1)` float32
            numeric, int64 ids) and float32 labels `(n, 1)`.
        """
        ints, cats, labels = self._parse_blocks(lines)
        return self.encoder.encode(blocks=[(INTEGER_FEATURES, ints), (CATEGORICAL_FEATURES, cats)]), labels

    def raw_dataset(self, files, *, batch_size: int = 4096):
        """A `tf.data.Dataset` of `(raw, labels)` batches: the well-formed lines as serving-signature inputs.

        `raw` is what the exported `serving_default` takes (float64 `I`
        fields with NaN for missing, string `C` fields), so
        `serve(**raw)["prediction"]` scores log lines directly.
        """
        files = _check_files(files)
        batch_size = _positive_int("batch_size", batch_size)
        self._ensure_state()
        return _line_batches(files, batch_size).map(self.parse_raw)

    def dataset(
        self,
        files,
        *,
        batch_size: int = 4096,
        shuffle_buffer: int = 0,
        seed: int | None = None,
        num_parallel_calls: int | None = None,
        class_weight: Mapping[int, float] | None = None,
        hold_out_every: int = 0,
        hold_out_offset: int = 0,
        part: str = "train",
    ):
        """A `tf.data.Dataset` of `(features, labels)` (or `(features, labels, weights)`) batches from `files`.

        Lines are read in file order, grouped `batch_size` at a time, parsed and
        encoded together; batches are then shuffled in a buffer of
        `shuffle_buffer` batches (0: no shuffling) and prefetched. A batch may
        hold fewer than `batch_size` rows when lines were skipped as malformed;
        batches with no valid row are dropped.

        The Criteo format has no weight column. `class_weight` gives each row
        the weight of its label, `{0: w0, 1: w1}` (Keras' `class_weight`
        convention), and the dataset then yields float32 `(n,)` weights as a
        third element, which `fit` and `evaluate` use as sample weights. The
        usual case is negative downsampling: logs that keep every click and a
        fraction `rate` of the non-clicks train with `{0: 1 / rate, 1: 1.0}`,
        so the loss, and the predicted CTR, are those of the full traffic
        (without it the model predicts the CTR of the sample:
        `p / (p + (1 - p) * rate)` for a true CTR of `p`). Keras divides a
        batch's weighted loss by its row count, not by the sum of weights, so
        weights above 1 also scale the gradient up: lower the learning rate,
        or give `{0: 1.0, 1: rate}` (the same ratio, so the same predicted
        CTR, with weights at most 1). Weight validation data that is
        downsampled alike the same way, and leave data that is not unweighted.

        Args:
            files: Criteo-format files, plain or gzip (told apart by content).
            batch_size: lines per batch (before malformed lines are dropped).
            shuffle_buffer: batches in the shuffle buffer (0: no shuffling).
            seed: seed of the shuffling.
            num_parallel_calls: parallel parse calls (None: `tf.data.AUTOTUNE`).
            class_weight: optional `{0: w0, 1: w1}`, both keys, finite weights
                `> 0` (`deepfm_keras.validation.check_class_weight`).
            hold_out_every: with `k > 1`, split the files' lines as they
                stream: line `j` of line batch `i` is held out when
                `(i * batch_size + j + hold_out_offset) % k == 0` (1 line in
                `k`). 0: no split.
            hold_out_offset: the offset of that split (a seed).
            part: `"train"` (the batches that are not held out) or `"holdout"`.

        Raises:
            FileNotFoundError: naming a file that does not exist.
            ValueError: naming a file named `*.gz` that does not start with
                the gzip header, or a gzip file shorter than 18 bytes.
            tf.errors.InvalidArgumentError: while iterating, naming a gzip
                file that ends early (truncated).
            tf.errors.DataLossError: while iterating, for corrupt gzip data.
            ValueError: for a `class_weight` without exactly the keys 0 and
                1, or with a weight that is not a finite number `> 0`.
        """
        import tensorflow as tf

        files = _check_files(files)
        batch_size = _positive_int("batch_size", batch_size)
        if class_weight is not None:
            class_weight = validation.check_class_weight(class_weight)
        self._ensure_state()
        ds = _line_batches(files, batch_size)
        if hold_out_every:
            if part not in ("train", "holdout") or hold_out_every < 2:
                raise ValueError(
                    f"`hold_out_every` should be 0 or >= 2 and `part` 'train' or 'holdout'. "
                    f"Received: hold_out_every={hold_out_every!r}, part={part!r}"
                )
            every, offset, held = int(hold_out_every), int(hold_out_offset), part == "holdout"

            def keep(i, lines):  # line j of batch i is held out when (i * batch_size + j + offset) % every == 0
                position = i * batch_size + tf.range(tf.size(lines, out_type=tf.int64)) + offset
                return tf.boolean_mask(lines, tf.equal(position % every == 0, held))

            ds = ds.enumerate().map(keep)
        ds = ds.map(self.parse_lines, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE)
        ds = ds.filter(lambda features, labels: tf.shape(labels)[0] > 0)
        if class_weight is not None:
            ds = ds.map(_label_weights(class_weight))
        if shuffle_buffer:
            ds = ds.shuffle(_positive_int("shuffle_buffer", shuffle_buffer), seed=seed)
        return ds.prefetch(tf.data.AUTOTUNE)


def _label_weights(class_weight: Mapping[int, float]):
    """The map `(features, labels) -> (features, labels, weights)`: each row weighted by its 0/1 label's weight."""
    import tensorflow as tf

    def add_weights(features, labels):
        weights = tf.where(labels[:, 0] > 0.5, class_weight[1], class_weight[0])
        return features, labels, tf.cast(weights, tf.float32)

    return add_weights


def _content_size_estimate(path: str) -> int:
    """The bytes of a file's lines: its size; for gzip, exact for one member under 4 GiB, else an estimate.

    The gzip trailer holds the size modulo 2**32 (of the last member); the
    compression ratio of the first MiB picks the multiple of 2**32, or is the
    estimate itself when the two disagree (multi-member files).
    """
    size = os.path.getsize(path)
    if _compression(path) != "GZIP":
        return size
    try:
        trailer = _gzip_trailer_size(path)
        with open(path, "rb") as f:
            head = f.read(1 << 20)
        stream = zlib.decompressobj(wbits=31)
        sample = len(stream.decompress(head, 64 << 20))
        consumed = len(head) - len(stream.unconsumed_tail) - len(stream.unused_data)
    except (ValueError, zlib.error, OSError):
        return size  # the pass itself raises, naming the file
    estimate = size * sample / max(consumed, 1)
    candidate = trailer + max(round((estimate - trailer) / 2**32), 0) * 2**32
    return candidate if abs(candidate - estimate) <= 0.25 * estimate else int(estimate)


class _CallbackProgress:
    """`progress=callable`: calls `callable(lines_done, seconds)` at each update, as `Progress.update` is called."""

    def __init__(self, callback):
        self.callback, self.lines, self.start, self.total = callback, 0, time.perf_counter(), None

    def update(self, n, *, lines):
        self.lines += lines
        self.callback(self.lines, time.perf_counter() - self.start)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass


def _progress(progress, description: str, files: list[str], sizes: Callable[[str], int]):
    """A `Progress` over the bytes of `files` for `progress=True`, a callback shim for a callable, or None."""
    if progress is True:
        return Progress(description, total=sum(sizes(f) for f in files), unit="B")
    if callable(progress):
        return _CallbackProgress(progress)
    if progress is False or progress is None:
        return None
    raise ValueError(f"`progress` should be True, False or a callable. Received: progress={progress!r}")


def fit_encoder(
    files,
    *,
    min_count: int = 10,
    max_size: int | None = None,
    missing_indicators: bool = True,
    batch_size: int = 65536,
    progress: bool | Callable[[int, float], None] = False,
) -> FeatureEncoder:
    """Learns the vocabularies of `C1..C26` in one streaming pass and returns the fitted encoder.

    Lines are parsed with the reader's policy (malformed lines and empty
    values are not counted) in parallel `tf.data` batches; each batch's
    distinct values are counted and added to running counts held in
    TensorFlow hash tables, so only the kept values ever become Python
    strings. Values seen at least `min_count` times are kept (the
    `max_size` most frequent when given), ordered by decreasing count, then by
    value.

    Args:
        files: Criteo-format files, plain or gzip (told apart by content).
        min_count: minimum number of occurrences of a kept value.
        max_size: keep at most this many values per field (None: all).
        missing_indicators: as in `CriteoReader`.
        batch_size: lines per parsed batch.
        progress: `True` to report to stderr the lines and bytes done, the
            rate and the ETA (a live line on a terminal, a line every 10%
            or 30 s in a log; `deepfm_keras.progress.Progress`), or a
            callable `(lines_done, seconds)` called after each batch. The
            total of a gzip file over 4 GiB is an estimate.

    Returns:
        A fitted `FeatureEncoder` for `CriteoReader(encoder=...)`.

    Raises:
        ValueError: naming a gzip file that is truncated or corrupt, or a
            file named `*.gz` that is not gzip; when no line is well-formed
            (an empty file, another format).
    """
    import tensorflow as tf

    files = _check_files(files)
    min_count = _positive_int("min_count", min_count)
    batch_size = _positive_int("batch_size", batch_size)
    first = 1 + len(INTEGER_FEATURES)

    def distinct(lines):
        fields, ok = _split_fields(lines)
        fields = tf.cond(tf.reduce_all(ok), lambda: fields, lambda: tf.boolean_mask(fields, ok))
        out = []
        for i in range(len(CATEGORICAL_FEATURES)):
            values, _, counts = tf.unique_with_counts(fields[:, first + i], out_idx=tf.int64)
            out.append((values, counts))
        nbytes = tf.reduce_sum(tf.cast(tf.strings.length(lines), tf.int64) + 1)
        return tf.size(lines), tf.shape(fields)[0], nbytes, tuple(out)

    # Running counts live in TensorFlow hash tables: no Python object per value until the end of the pass.
    tables = [
        tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=0) for _ in CATEGORICAL_FEATURES
    ]
    spec = tuple((tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int64)) for _ in CATEGORICAL_FEATURES)

    @tf.function(input_signature=[spec])
    def add(per_column):
        for table, (values, counts) in zip(tables, per_column, strict=True):
            table.insert(values, table.lookup(values) + counts)
        return tf.constant(0)

    sizes = {path: _content_size_estimate(path) for path in files} if progress is True else {}
    report = _progress(progress, "vocabulary pass", files, sizes.get)
    done, well_formed = 0, 0
    with report or contextlib.nullcontext():
        for path in files:  # file by file, so that a read error names its file
            ds = _line_batches([path], batch_size).map(distinct, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
            file_bytes = 0
            try:
                for lines, good, nbytes, per_column in ds:
                    add(per_column)
                    done += int(lines)
                    well_formed += int(good)
                    file_bytes += int(nbytes)
                    if report:
                        report.update(int(nbytes), lines=int(lines))
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
                raise ValueError(f"Criteo file {path} cannot be read to its end: {e.message.strip()}") from None
            if report and report.total is not None:
                report.total += file_bytes - sizes[path]  # the file's estimate, replaced by what it held
    if well_formed == 0:
        raise ValueError(
            f"`fit_encoder` read {done} lines and none is a well-formed Criteo line: nothing to learn from. "
            f"Files: {files}"
        )
    counts = {}
    for name, table in zip(CATEGORICAL_FEATURES, tables, strict=True):
        values, totals = (t.numpy() for t in table.export())
        kept = (totals >= min_count) & (values != b"")
        counts[name] = {
            v.decode("utf-8", "surrogateescape"): int(n)
            for v, n in zip(values[kept].tolist(), totals[kept].tolist(), strict=True)
        }
    numeric = [
        NumericColumn(n, log1p=True, standardize=False, missing_indicator=bool(missing_indicators))
        for n in INTEGER_FEATURES
    ]
    categorical = [CategoricalColumn(c, min_count=min_count, max_size=max_size) for c in CATEGORICAL_FEATURES]
    encoder = FeatureEncoder.from_config(file_format.config(numeric + categorical))
    return encoder.fit_counts(counts, input_dtypes={c: "string" for c in CATEGORICAL_FEATURES})


def build_vocabularies(
    files,
    *,
    min_count: int = 10,
    batch_size: int = 65536,
    progress: bool | Callable[[int, float], None] = False,
) -> dict[str, list[str]]:
    """Vocabularies of `C1..C26` with at least `min_count` occurrences, in one streaming pass.

    The vocabularies of `fit_encoder(files, min_count=...)`; see there.

    Returns:
        Dict `C1..C26 -> list of values` for `CriteoReader(vocabularies=...)`.
    """
    encoder = fit_encoder(files, min_count=min_count, batch_size=batch_size, progress=progress)
    return {c: encoder.vocabularies[c] for c in CATEGORICAL_FEATURES}


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


def validate_files(
    files, *, max_examples: int = 10, progress: bool | Callable[[int, float], None] = False
) -> ValidationReport:
    """Checks every line with the reader's policy and names the first malformed ones.

    A slow pure-Python pass meant for diagnostics (the example CLI runs it only
    when the streaming pass found malformed lines).

    Args:
        files: Criteo-format files, plain or gzip (told apart by content).
        max_examples: how many malformed lines to name.
        progress: `True` to report to stderr the lines and bytes done (of
            the files as stored: compressed bytes of a gzip file), the rate and
            the ETA; or a callable `(lines_done, seconds)`.

    Returns:
        A `ValidationReport`; each example reads `"FILE:LINE: reason"`.

    Raises:
        ValueError: naming a gzip file that is truncated or corrupt, or a
            file named `*.gz` that is not gzip.

    Example:

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp, "day.txt")
    ...     _ = path.write_text("0" + "\\t" * 39 + "\\n" + "2" + "\\t" * 39 + "\\n")  # label 2: malformed
    ...     report = validate_files(path)
    >>> report.rows, report.malformed_rows, report.examples[0].endswith(":2: field 'label' should be 0 or 1, found b'2'")
    (2, 1, True)
    """
    files = _check_files(files)
    report = ValidationReport()
    reporter = _progress(progress, "validating", files, os.path.getsize)
    with reporter or contextlib.nullcontext():
        for path in files:
            try:
                _validate_file(path, report, max_examples, reporter)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # truncated (EOFError), bad header, CRC or data
                raise ValueError(f"Criteo file {path} is a truncated or corrupt gzip file: {e}") from None
    return report


def _validate_file(path: str, report: ValidationReport, max_examples: int, progress=None, every: int = 16384) -> None:
    with open(path, "rb") as stored:
        f = gzip.GzipFile(fileobj=stored) if _is_gzip(path) else stored
        position, number = 0, 0
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
            if progress and number % every == 0:
                progress.update(stored.tell() - position, lines=every)
                position = stored.tell()
        if progress:
            progress.update(stored.tell() - position, lines=number % every)


def write_synthetic(path, num_rows: int, *, seed: int = 0, chunk_rows: int = 200_000, vocabulary: int = 10_000) -> str:
    """Writes `num_rows` synthetic Criteo-format lines to `path` (gzip when it ends in `.gz`, any case).

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
    opener = gzip.open if path.lower().endswith(".gz") else open
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
