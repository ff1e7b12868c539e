"""The `FeatureEncoder` of the Criteo columns: from hash settings or given vocabularies, or learned in one pass.

`I1..I13` are signed-log1p numeric columns (with a missing indicator each by
default); `C1..C26` are categorical columns, hashed (`make_encoder`) or looked
up in vocabularies (`make_encoder(vocabularies=...)`, or `fit_encoder`, one
streaming pass over the files that keeps the values seen `min_count` times).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence

from deepfm_keras.datasets.criteo.files import check_files, content_size_estimate, line_batches, positive_int
from deepfm_keras.datasets.criteo.format import CATEGORICAL_FEATURES, INTEGER_FEATURES, split_fields
from deepfm_keras.datasets.criteo.progress import progress_reporter
from deepfm_keras.encoding import CategoricalColumn, FeatureEncoder, NumericColumn, file_format


def _numeric_columns(missing_indicators: bool) -> list[NumericColumn]:
    return [
        NumericColumn(n, log1p=True, standardize=False, missing_indicator=bool(missing_indicators))
        for n in INTEGER_FEATURES
    ]


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
    numeric = _numeric_columns(missing_indicators)
    state = {n: {"mean": 0.0, "std": 1.0, "input_dtype": "float64"} for n in INTEGER_FEATURES}
    if vocabularies is None:
        num_buckets = positive_int("num_buckets", num_buckets)
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


def check_encoder(encoder) -> FeatureEncoder:
    """`encoder` when it is a fitted `FeatureEncoder` of exactly the Criteo columns, else a ValueError."""
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

    files = check_files(files)
    min_count = positive_int("min_count", min_count)
    batch_size = positive_int("batch_size", batch_size)
    first = 1 + len(INTEGER_FEATURES)

    def distinct(lines):
        fields, ok = split_fields(lines)
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

    sizes = {path: content_size_estimate(path) for path in files} if progress is True else {}
    report = progress_reporter(progress, "vocabulary pass", files, sizes.get)
    done, well_formed = 0, 0
    with report or contextlib.nullcontext():
        for path in files:  # file by file, so that a read error names its file
            ds = line_batches([path], batch_size).map(distinct, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
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
    numeric = _numeric_columns(missing_indicators)
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
