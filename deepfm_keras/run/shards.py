"""A table as a folder of shards: its files, and its rows in chunks of bounded size (issue 23, in progress).

Click logs are folders of daily files (`logs/2026-12-07/part-0003.parquet`),
far larger than memory. `resolve` turns a data path (a file, a glob, or a
folder) into its shard files in path order (daily folders sort by day), and
`iter_chunks` reads them as DataFrames of at most `rows` rows, one at a time:
Parquet by row groups through pyarrow, CSV (plain or gzip, told apart by the
first bytes) with pandas' chunked reader and the options of `read_table`, so a
chunk's values are the rows `read_table` gives for the same files.
`FeatureEncoder.fit_chunks(iter_chunks(files))` fits an encoder on them in the
memory of the distinct values.

Example:

>>> files = resolve("logs/2026-12-0*/")  # doctest: +SKIP
>>> encoder.fit_chunks(iter_chunks(files, columns=encoder_columns))  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Iterator, Sequence

import pandas as pd

from deepfm_keras.run.tables import DataError, _is_gzip, table_format

# Files of a folder that are data; others (`_SUCCESS`, `.crc`, hidden files) are the writers' markers.
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".txt", ".gz")
CHUNK_ROWS = 65_536


def _folder_files(folder: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [
            os.path.join(root, n) for n in names if not n.startswith((".", "_")) and n.lower().endswith(DATA_SUFFIXES)
        ]
    return sorted(found)


def resolve(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The shard files of a data path, in path order.

    Args:
        spec: a file; a glob (`"logs/*/part-*.parquet"`); a folder (its data
            files, sub-folders included, hidden and `_`-prefixed names
            skipped); or a list of any of them.

    Returns:
        The files, sorted within each entry of `spec` (a list keeps its order).

    Raises:
        DataError: naming the path that matches no file, or for shards of
            both Parquet and CSV (one table has one format).
    """
    entries = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    files: list[str] = []
    for entry in entries:
        path = os.fspath(entry)
        if os.path.isdir(path):
            found = _folder_files(path)
        elif glob.has_magic(path):
            found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        else:
            found = [path] if os.path.isfile(path) else []
        if not found:
            raise DataError(f"Data path {path!r} matches no data file.")
        files += found
    formats = {table_format(f) for f in files}
    if len(formats) > 1:
        raise DataError(
            f"Data path {spec!r} holds both Parquet and CSV files (e.g. {files[0]!r}); one table has one format."
        )
    return files


def iter_chunks(
    files: Sequence[str],
    *,
    columns: Sequence[str] | None = None,
    separator: str = ",",
    rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of `files` as DataFrames of at most `rows` rows, file after file, one in memory at a time.

    Args:
        files: shard files (`resolve`).
        columns: read only these columns (None: all).
        separator: the CSV field separator.
        rows: the most rows of a chunk.

    Raises:
        DataError: naming a missing file, or one without a requested column.
    """
    if rows < 1:
        raise ValueError(f"`rows` should be a positive integer. Received: rows={rows!r}")
    for path in files:
        if not os.path.isfile(path):
            raise DataError(f"Data file not found: {path}")
        try:
            if table_format(path) == "parquet":
                import pyarrow.parquet as pq

                with pq.ParquetFile(path) as parquet:
                    missing = [c for c in columns or () if c not in parquet.schema_arrow.names]
                    if missing:  # pyarrow would read the others and say nothing
                        raise DataError(
                            f"Data file {path} has no column {missing[0]!r} (it has {parquet.schema_arrow.names})."
                        )
                    for batch in parquet.iter_batches(batch_size=rows, columns=list(columns) if columns else None):
                        yield batch.to_pandas()
            else:
                compression = "gzip" if _is_gzip(path) else None
                with pd.read_csv(
                    path, sep=separator, compression=compression, chunksize=rows, usecols=columns
                ) as reader:
                    yield from reader
        except DataError:
            raise
        except (ValueError, KeyError) as e:  # pandas' and pyarrow's own errors, named by file
            raise DataError(f"Data file {path}: {e}") from None


def stream_dataset(
    files: Sequence[str],
    encoder,
    *,
    label: str,
    batch_size: int,
    seed: int | None = None,
    separator: str = ",",
    rows: int = CHUNK_ROWS,
):
    """A `tf.data.Dataset` of `(x, y)` batches streamed from shard files, encoded in the pipeline.

    Each iteration (each epoch of `fit`) reads the files chunk by chunk
    (`iter_chunks`): memory is one chunk of raw rows and the prefetched
    batches, whatever the files hold. `encoder.encode` turns the raw columns
    into model inputs in the graph, the ops `make_dataset(..., encoder=...)`
    and the serving signature run, so a row gets the same ids streamed or in
    memory. With a `seed`, epoch `e` reads the files in an order drawn from
    `(seed, e)` and shuffles each chunk's rows (a bounded shuffle: rows move
    within their chunk of `rows`); without one the rows come in file order.

    Args:
        files: the shard files (`resolve`).
        encoder: a fitted `FeatureEncoder` (`fit_chunks` fits one on shards).
        label: the label column (numbers: 0/1 for clicks, ratings, ...).
        batch_size: rows per batch (the last batch of an epoch may be smaller).
        seed: shuffles the file order and the rows within each chunk.
        separator: the CSV field separator.
        rows: rows per chunk read (and shuffled) at once.

    Returns:
        The dataset: `x` a dict of model inputs, `y` float32 `(batch, 1)`.

    Raises:
        DataError: while iterating, naming a file without a needed column.
        ValueError: while iterating, for a label that is not a finite number,
            naming the row of its chunk and the file order.
    """
    import numpy as np
    import tensorflow as tf

    from deepfm_keras.checks.arrays import check_labels

    dtypes = encoder.input_dtypes
    columns = [*dtypes, label] if label not in dtypes else list(dtypes)
    epochs = itertools.count()  # each iteration of the dataset is the next epoch

    def chunks():
        epoch = next(epochs)
        order = list(files)
        rng = None
        if seed is not None:
            rng = np.random.default_rng([int(seed), epoch])
            order = [order[i] for i in rng.permutation(len(order))]
        for chunk in iter_chunks(order, columns=columns, separator=separator, rows=rows):
            if rng is not None:
                chunk = chunk.iloc[rng.permutation(len(chunk))].reset_index(drop=True)
            y = check_labels(chunk[label].to_numpy(), what=f"label column {label!r}")
            yield encoder.raw_inputs(chunk), np.asarray(y, "float32").reshape(-1, 1)

    # Categorical columns go as their key bytes (`raw_inputs`' default), which a missing value has too; numbers as
    # float64 (NaN is missing).
    signature = (
        {
            name: tf.TensorSpec([None], tf.float64 if d == "float64" else tf.string, name=name)
            for name, d in dtypes.items()
        },
        tf.TensorSpec([None, 1], tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(chunks, output_signature=signature).rebatch(int(batch_size))
    dataset = dataset.map(lambda x, y: (encoder.encode(x), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
