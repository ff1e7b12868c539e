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

Modules: `format` (the fields, the line parser and its policy), `files` (file
lists, gzip told by content, the gzip end checks, line batches), `encoder`
(`make_encoder`, `fit_encoder`: the vocabulary pass), `reader`
(`CriteoReader`), `validate` (`validate_files`), `progress` (the `progress=`
argument of the passes), `synthetic` (`write_synthetic`).
"""

from deepfm_keras.datasets.criteo.encoder import build_vocabularies, fit_encoder, make_encoder
from deepfm_keras.datasets.criteo.files import gzip_content_size
from deepfm_keras.datasets.criteo.format import (
    CATEGORICAL_FEATURES,
    INTEGER_FEATURES,
    LABEL,
)
from deepfm_keras.datasets.criteo.format import INTEGER_PATTERN as INTEGER_PATTERN
from deepfm_keras.datasets.criteo.format import NUM_FIELDS as NUM_FIELDS
from deepfm_keras.datasets.criteo.reader import CriteoReader
from deepfm_keras.datasets.criteo.synthetic import write_synthetic
from deepfm_keras.datasets.criteo.validate import ValidationReport, validate_files
from deepfm_keras.encoding import OOV_ID

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
