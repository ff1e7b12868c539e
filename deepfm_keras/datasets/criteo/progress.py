"""The `progress=` argument of the passes over Criteo files (`fit_encoder`, `validate_files`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from deepfm_keras.progress import Progress


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


def progress_reporter(progress, description: str, files: list[str], sizes: Callable[[str], int]):
    """A `Progress` over the bytes of `files` for `progress=True`, a callback shim for a callable, or None."""
    if progress is True:
        return Progress(description, total=sum(sizes(f) for f in files), unit="B")
    if callable(progress):
        return _CallbackProgress(progress)
    if progress is False or progress is None:
        return None
    raise ValueError(f"`progress` should be True, False or a callable. Received: progress={progress!r}")
