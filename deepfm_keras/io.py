"""Atomic writes: a file (or directory) is either the previous good one or the complete new one, never half.

Every writer of deepfm_keras that replaces a file a later run reads (the
encoder JSON, the best-model checkpoint, the training backup) goes through
here. The recipe is the usual one: write to a temporary name in the same
directory, flush and `fsync` it, `os.replace` it onto the target (atomic on
POSIX and Windows within one file system), then `fsync` the directory so the
rename itself survives a power cut. A crash or a full disk mid-write leaves
the previous file in place, plus at most a hidden temporary
`.<name>.tmp-<pid>-<token>` that nothing reads.

```python
from deepfm_keras.io import atomic_path, atomic_write, save_model

save_model(model, "best.keras")               # model.save, atomically
with atomic_write("stats.json") as f:          # any text (or "wb": bytes)
    json.dump(stats, f)
with atomic_path("w.weights.h5") as tmp:       # writers that want a path
    model.save_weights(tmp)
```
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from typing import IO

TEMP_MARK = ".tmp-"


def temporary_name(path: str | os.PathLike) -> str:
    """A fresh temporary path next to `path` that keeps its suffix (`.keras`, `.weights.h5`).

    It reads `<dir>/.<name>.tmp-<pid>-<token>.<name>`, hidden, unique to
    this process and call, and ending like `path` (Keras checks suffixes).
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.{name}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one `temporary_name` makes (a leftover of an interrupted write)."""
    return name.startswith(".") and TEMP_MARK in name


def fsync_directory(directory: str | os.PathLike) -> None:
    """Makes a rename in `directory` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(os.fspath(directory) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: str) -> None:
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                _fsync_file(os.path.join(root, name))
            fsync_directory(root)
    else:
        _fsync_file(path)


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def remove(path: str | os.PathLike) -> None:
    """Removes a file or a directory tree; a missing one is fine."""
    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_temporaries(path: str | os.PathLike) -> None:
    """Removes the temporaries of `path` that interrupted writes left behind (`.<name>.tmp-*`).

    Call it where no other process writes `path` at the same time (at the
    start of a run that owns `path`).
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith(f".{name}{TEMP_MARK}"):
                remove(os.path.join(directory, entry))


def replace(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Makes the complete file (or tree) `tmp` durable, moves it onto `path` with `os.replace`, fsyncs the directory."""
    tmp, path = os.fspath(tmp), os.fspath(path)
    _fsync_tree(tmp)
    os.replace(tmp, path)
    fsync_directory(os.path.dirname(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path to write `path`'s new content to; it replaces `path` when the block succeeds.

    Use it with writers that take a path (`model.save`, `save_weights`,
    `np.savez`). On success the temporary file is fsynced and `os.replace`d
    onto `path`, and the directory is fsynced. On an exception the temporary
    file is removed and `path` is left as it was.

    Args:
        path: the file to write; its directory must exist.

    Yields:
        The temporary path (same directory and suffix as `path`).
    """
    path = os.fspath(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator[IO]:
    """Opens a temporary file for writing; it replaces `path` when the block succeeds (see `atomic_path`).

    Args:
        path: the file to write.
        mode: `"w"` (text) or `"wb"` (bytes).
        encoding: text encoding (ignored for `"wb"`).

    Yields:
        The open file object.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"`mode` should be 'w' or 'wb'. Received: mode={mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if mode == "wb" else encoding) as f:
            yield f


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary directory to build `path` in; it takes `path`'s place when the block succeeds.

    For directory artifacts (a SavedModel export). A new directory appears
    with one rename; an existing one is first renamed aside, then removed, so
    a crash between the two renames leaves the old directory under a hidden
    temporary name next to `path` (nothing is half-written, but `path` is
    briefly absent).

    Args:
        path: the directory to write.

    Yields:
        The temporary directory (created empty, in the same parent).
    """
    path = os.fspath(path).rstrip(os.sep) or os.sep
    tmp = temporary_name(path)
    os.makedirs(tmp)
    old = None
    try:
        yield tmp
        _fsync_tree(tmp)
        if os.path.lexists(path):
            old = temporary_name(path)
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        if old is not None and not os.path.lexists(path):
            os.replace(old, path)
            old = None
        raise
    fsync_directory(os.path.dirname(path))
    if old is not None:
        remove(old)


def save_model(model, path: str | os.PathLike, **kwargs) -> None:
    """`model.save(path, **kwargs)` written atomically: a crash mid-save leaves the previous `.keras` file.

    Args:
        model: a `keras.Model`.
        path: the `.keras` file to write.
        **kwargs: passed to `model.save` (e.g. `zipped`).

    Raises:
        ValueError: if `path` does not end in `.keras`.

    Example:

    >>> import keras, os, tempfile
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> save_model(model, path)
    >>> keras.saving.load_model(path).count_params()
    3
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"`path` should end in '.keras'. Received: path={path!r}")
    with atomic_path(path) as tmp:
        model.save(tmp, **kwargs)
