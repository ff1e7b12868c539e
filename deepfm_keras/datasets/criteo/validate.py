"""`validate_files`: a line-by-line check of Criteo files that names the first malformed lines (`ValidationReport`)."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import zlib
from collections.abc import Callable

from deepfm_keras.datasets.criteo.files import check_files, is_gzip
from deepfm_keras.datasets.criteo.format import line_problem
from deepfm_keras.datasets.criteo.progress import progress_reporter


@dataclasses.dataclass
class ValidationReport:
    """Result of `validate_files`: line counts and the first malformed lines."""

    rows: int = 0
    malformed_rows: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)


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
    files = check_files(files)
    report = ValidationReport()
    reporter = progress_reporter(progress, "validating", files, os.path.getsize)
    with reporter or contextlib.nullcontext():
        for path in files:
            try:
                _validate_file(path, report, max_examples, reporter)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # truncated (EOFError), bad header, CRC or data
                raise ValueError(f"Criteo file {path} is a truncated or corrupt gzip file: {e}") from None
    return report


def _validate_file(path: str, report: ValidationReport, max_examples: int, progress=None, every: int = 16384) -> None:
    with open(path, "rb") as stored:
        f = gzip.GzipFile(fileobj=stored) if is_gzip(path) else stored
        position, number = 0, 0
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\n")
            if line.endswith(b"\r"):
                line = line[:-1]
            report.rows += 1
            problem = line_problem(line.split(b"\t"))
            if problem:
                report.malformed_rows += 1
                if len(report.examples) < max_examples:
                    report.examples.append(f"{path}:{number}: {problem}")
            if progress and number % every == 0:
                progress.update(stored.tell() - position, lines=every)
                position = stored.tell()
        if progress:
            progress.update(stored.tell() - position, lines=number % every)
