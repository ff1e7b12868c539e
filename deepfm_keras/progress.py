"""Progress that reads well in a terminal and in a log file.

- `Progress`: rows or bytes done, rate and, when the total is known, percent
  and ETA. On a terminal it is one line redrawn in place; in a log file (any
  stream that is not a terminal) it is a plain line every 10% of the total
  or every 30 s, with no `\\r` or `\\b`.
- `fit_verbose()`: the `verbose` to give `model.fit`: Keras' progress bar on
  a terminal, one line per epoch in a log file (Keras' bar writes `\\b` and
  `\\r` there, a redraw per step).
- `quiet_tensorflow()` (from `deepfm_keras_cli`, which imports no TensorFlow):
  TensorFlow's start-up notices off; call it before `import deepfm_keras`.

```python
from deepfm_keras.progress import Progress, fit_verbose

with Progress("scan", total=total_bytes, unit="B") as progress:
    for chunk in chunks:
        progress.update(len(chunk), lines=chunk.count(b"\\n"))
model.fit(data, epochs=3, verbose=fit_verbose())
```
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from deepfm_keras_cli import quiet_tensorflow

__all__ = ["Progress", "fit_verbose", "is_terminal", "quiet_tensorflow"]

# Seconds between two redraws of a live (terminal) line.
REDRAW_SECONDS = 0.1
_BAR_WIDTH = 20
_now = time.monotonic  # the clock, a module attribute so that tests can replace it


def is_terminal(stream: TextIO | None) -> bool:
    """Whether `stream` is an interactive terminal (`False` for files, pipes, closed or missing streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def fit_verbose(verbose: int | str = "auto", *, stream: TextIO | None = None) -> int:
    """The `verbose` argument for `model.fit`, `evaluate` and `predict` that suits where output goes.

    Keras' progress bar (`verbose=1`) redraws itself with `\\b` and `\\r` at
    each step: fine on a terminal, a flood in a log file (Keras 3.15 redraws
    so on any POSIX system, terminal or not). `"auto"` gives 1 when
    the output stream is a terminal and 2 (one line per epoch) when it is not.

    Args:
        verbose: `"auto"`, or 0, 1, 2, returned as given.
        stream: where Keras writes; defaults to `sys.stdout` (Keras' progress
            bar and epoch lines go there).

    Returns:
        0, 1 or 2.

    Raises:
        ValueError: for any other `verbose`.

    Example:

    >>> import io
    >>> fit_verbose(stream=io.StringIO())  # not a terminal: one line per epoch
    2
    >>> fit_verbose(0)
    0
    """
    if verbose == "auto":
        return 1 if is_terminal(sys.stdout if stream is None else stream) else 2
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f'`verbose` should be "auto", 0, 1 or 2. Received: verbose={verbose!r}')
    return int(verbose)


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Reports the progress of a scan of files or rows: done, rate, percent and ETA.

    On a terminal (`stream.isatty()`) the report is one line redrawn in place
    (at most every `REDRAW_SECONDS`) with a bar when the total is known. On
    any other stream (a log file, a pipe, a captured stream) it writes a
    plain line each time another `every_percent` of the total is done or
    `every_seconds` have passed since the last line, and one at `close()`:
    at most `100 / every_percent + seconds / every_seconds + 1` lines (past
    the total, as with an estimate too small, lines come by time only), with
    no `\\r` or `\\b`. A line reads

    ```
    vocabulary pass: 2,048,000 lines, 410.2 MB of 1.6 GB (25%), 41.0 MB/s, 0:10 elapsed, ETA 0:30
    ```

    Args:
        description: what is being done, the start of each line.
        total: the amount of work in `unit` (e.g. the bytes of the files),
            or `None` when unknown (no percent, no ETA). It may be an
            estimate and may be corrected later by setting `progress.total`.
        unit: `"B"` to count bytes (shown as kB/MB/GB, rate in MB/s), or
            the name of what is counted (`"lines"`, `"rows"`).
        stream: where to write; defaults to `sys.stderr`.
        every_percent: percent of `total` between two lines in a log file.
        every_seconds: seconds between two lines in a log file (also the
            only trigger when the total is unknown).

    Example:

    >>> import io
    >>> log = io.StringIO()
    >>> with Progress("scan", total=1000, unit="rows", stream=log) as progress:
    ...     for _ in range(10):
    ...         progress.update(100)
    >>> len(log.getvalue().splitlines())  # one line per 10%, none repeated at close
    10
    >>> log.getvalue().splitlines()[-1].startswith("scan: 1,000 rows of 1,000 (100%)")
    True
    """

    def __init__(
        self,
        description: str,
        *,
        total: float | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
        every_percent: float = 10.0,
        every_seconds: float = 30.0,
    ):
        if total is not None and (isinstance(total, bool) or not total >= 0):
            raise ValueError(f"`total` should be None or >= 0. Received: total={total!r}")
        for name, value in (("every_percent", every_percent), ("every_seconds", every_seconds)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{name}` should be a positive number. Received: {name}={value!r}")
        self.description = str(description)
        self.total = total
        self.unit = str(unit)
        self.stream = sys.stderr if stream is None else stream
        self.every_percent = float(every_percent)
        self.every_seconds = float(every_seconds)
        self.live = is_terminal(self.stream)
        self.done = 0
        self.counts: dict[str, int] = {}
        self.closed = False
        self._start = self._last_line = _now()
        self._last_draw = -math.inf
        self._next_percent = self.every_percent
        self._drawn_width = 0
        self._reported = None  # (done, counts) of the last line written to a log

    # ------------------------------------------------------------------ numbers

    @property
    def elapsed(self) -> float:
        """Seconds since the progress was created."""
        return _now() - self._start

    @property
    def rate(self) -> float:
        """`unit`s per second so far (0.0 before any time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; `None` when the total is unknown or nothing is done yet."""
        rate = self.rate
        if self.total is None or rate <= 0:
            return None
        return max(self.total - self.done, 0) / rate

    def _amount(self, n: float) -> str:
        return _bytes(n) if self.unit == "B" else f"{n:,.0f}"

    def format(self) -> str:
        """The report as one line of text (no newline)."""
        parts = [f"{value:,} {name}" for name, value in self.counts.items()]
        done = self._amount(self.done) + ("" if self.unit == "B" else f" {self.unit}")
        if self.total is not None:
            total = max(self.total, self.done)  # an estimated total that was too small
            percent = 100.0 * self.done / total if total else 100.0
            done += f" of {self._amount(total)} ({percent:.0f}%)"
        parts.append(done)
        rate = self.rate
        parts.append(f"{_bytes(rate)}/s" if self.unit == "B" else f"{rate:,.0f} {self.unit}/s")
        parts.append(f"{_duration(self.elapsed)} elapsed")
        eta = self.eta
        if eta is not None and not self.closed and self.done < self.total:
            parts.append(f"ETA {_duration(eta)}")
        text = f"{self.description}: " + ", ".join(parts)
        if self.live and self.total:
            filled = min(int(_BAR_WIDTH * self.done / max(self.total, self.done)), _BAR_WIDTH)
            text = f"[{'=' * filled}{'.' * (_BAR_WIDTH - filled)}] {text}"
        return text

    # ------------------------------------------------------------------ reporting

    def update(self, n: float = 1, **counts: int) -> None:
        """Adds `n` units of work done, and each of `counts` (e.g. `lines=4096`) to its running count.

        Writes a line when one is due (see the class); cheap otherwise, so it
        can be called once per batch.
        """
        if self.closed:
            raise ValueError(f"Progress {self.description!r} is closed: `update` after `close`.")
        self.done += n
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        now = _now()
        if self.live:
            if now - self._last_draw >= REDRAW_SECONDS:
                self._draw()
                self._last_draw = now
            return
        due = now - self._last_line >= self.every_seconds
        if self.total and self._next_percent <= 100.0:  # past the total (an estimate too small): by time only
            percent = 100.0 * self.done / self.total
            if percent >= self._next_percent:
                due = True
                self._next_percent = (math.floor(percent / self.every_percent) + 1) * self.every_percent
        if due:
            self._write_line()

    def close(self) -> None:
        """Writes the final report (the live line ends with a newline). Calling it again does nothing."""
        if self.closed:
            return
        self.closed = True
        if self.live:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        elif self._reported != (self.done, self.counts):
            self._write_line()

    def _draw(self) -> None:
        text = self.format()
        pad = max(self._drawn_width - len(text), 0)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn_width = len(text)

    def _write_line(self) -> None:
        self.stream.write(self.format() + "\n")
        self.stream.flush()
        self._last_line = _now()
        self._reported = (self.done, dict(self.counts))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is None:
            self.close()
        elif not self.closed:  # an error: end the live line, so that the traceback starts on its own line
            self.closed = True
            if self.live and self._drawn_width:
                self.stream.write("\n")
                self.stream.flush()

    def __repr__(self) -> str:
        return f"<Progress {self.format()!r}>"
