"""The files of a Criteo pass: the file list checked, gzip told by content, the gzip end checks, line batches.

A file is gzip when its first two bytes are `1f 8b`, whatever its name; a
file named `*.gz` without them raises (`is_gzip`). `line_batches` streams the
lines of plain and gzip files with `tf.data`; at the end of each gzip file the
bytes of its lines are compared with the size its trailer records (a 4-byte
read), and a mismatch falls back to a full `zlib` pass (`gzip_content_size`),
so a truncated or corrupt file raises instead of ending the stream early.
"""

from __future__ import annotations

import collections
import gzip
import os
import zlib

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"


def check_files(files) -> list[str]:
    """`files` (one path or several) as a list of paths, each an existing file."""
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("`files` is empty: give at least one Criteo-format file.")
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"Criteo file not found: {f}")
    return files


def positive_int(name: str, value) -> int:
    """`value` as an int, or a ValueError naming the argument `name` when it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` should be a positive integer. Received: {name}={value!r}")
    return int(value)


def is_gzip(path: str) -> bool:
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


def compression(path: str) -> str:
    """`tf.data`'s compression type of a Criteo file: `"GZIP"` or `""`, from its content (`is_gzip`)."""
    return "GZIP" if is_gzip(path) else ""


def gzip_trailer_size(path: str) -> int:
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


def content_size_estimate(path: str) -> int:
    """The bytes of a file's lines: its size; for gzip, exact for one member under 4 GiB, else an estimate.

    The gzip trailer holds the size modulo 2**32 (of the last member); the
    compression ratio of the first MiB picks the multiple of 2**32, or is the
    estimate itself when the two disagree (multi-member files).
    """
    size = os.path.getsize(path)
    if compression(path) != "GZIP":
        return size
    try:
        trailer = gzip_trailer_size(path)
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

    sizes = [gzip_trailer_size(p) for p in paths]
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


def line_batches(files: list[str], batch_size: int):
    """`(batch,)` string batches of the lines of `files`: plain files batched together, gzip files file by file.

    The two groups come in the order their first file appears in `files`.

    A gzip file's batches end with the file (a batch never spans two gzip
    files) so that each file's end can be checked: a truncated or corrupt
    file raises instead of ending the stream early (TensorFlow's reader stops
    silently at a truncation).
    """
    import tensorflow as tf

    by_compression = collections.defaultdict(list)
    for f in files:
        by_compression[compression(f)].append(f)
    datasets = [
        _gzip_batches(group, batch_size) if c == "GZIP" else tf.data.TextLineDataset(group).batch(batch_size)
        for c, group in by_compression.items()
    ]
    out = datasets[0]
    for d in datasets[1:]:
        out = out.concatenate(d)
    return out
