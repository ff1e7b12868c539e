"""Progress reports for a terminal and for a log file; fit's verbose by stream; quiet TensorFlow start-up."""

import io
import os
import subprocess
import sys

import pytest

from deepfm_keras import progress as progress_module
from deepfm_keras.progress import Progress, fit_verbose, is_terminal, quiet_tensorflow


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """A clock the test moves by hand (replaces `progress._now`)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "_now", clock)
    return clock


def test_log_lines_every_ten_percent_with_rate_and_eta(clock):
    log = io.StringIO()
    report = Progress("vocabulary pass", total=10_000_000, unit="B", stream=log)
    for _ in range(1000):  # 10 kB and 0.01 s a step: 1 MB/s
        clock.now += 0.01
        report.update(10_000, lines=100)
    report.close()
    text = log.getvalue()
    assert "\r" not in text and "\b" not in text
    lines = text.splitlines()
    assert len(lines) == 10  # 10%, 20%, ..., 100%; close repeats nothing
    assert lines[0] == "vocabulary pass: 10,000 lines, 1.0 MB of 10.0 MB (10%), 1.0 MB/s, 0:01 elapsed, ETA 0:09"
    assert lines[-1] == "vocabulary pass: 100,000 lines, 10.0 MB of 10.0 MB (100%), 1.0 MB/s, 0:10 elapsed"
    assert report.counts == {"lines": 100_000} and report.done == 10_000_000


def test_log_lines_every_thirty_seconds_when_total_is_unknown(clock):
    log = io.StringIO()
    with Progress("scan", unit="rows", stream=log) as report:
        for _ in range(100):  # 100 s in steps of 1 s
            clock.now += 1.0
            report.update(500)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4  # at 30, 60, 90 s, and the final one at close
    assert lines[0] == "scan: 15,000 rows, 500 rows/s, 0:30 elapsed"
    assert lines[-1] == "scan: 50,000 rows, 500 rows/s, 1:40 elapsed"
    assert report.eta is None


@pytest.mark.parametrize("every_percent, every_seconds, bound", [(10, 30, 10 + 3 + 1), (25, 1000, 4 + 0 + 1)])
def test_log_lines_are_bounded(clock, every_percent, every_seconds, bound):
    steps = [100 + (i % 7 == 0) * 30_000 for i in range(10_000)]  # uneven: some jump past several thresholds
    log = io.StringIO()
    with Progress("scan", total=sum(steps), stream=log, every_percent=every_percent, every_seconds=every_seconds) as p:
        for step in steps:  # 100 s
            clock.now += 0.01
            p.update(step)
    lines = log.getvalue().splitlines()
    assert 1 <= len(lines) <= bound
    assert "(100%)" in lines[-1]


def test_past_an_estimated_total_lines_come_by_time_only(clock):
    log = io.StringIO()
    with Progress("scan", total=1000, stream=log, every_seconds=30) as report:
        for _ in range(100):  # 100 s, ten times the estimated total
            clock.now += 1
            report.update(100)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 + 3  # 10%, ..., 100% in the first 10 s, then at 40, 70 and 100 s
    assert "1,000 rows of 1,000 (100%)" in lines[9] and "10,000 rows of 10,000 (100%)" in lines[-1]


def test_estimated_total_too_small_is_capped_at_done(clock):
    log = io.StringIO()
    with Progress("scan", total=100, unit="lines", stream=log) as report:
        clock.now += 1
        report.update(150)
        report.total = 200  # corrected later
        clock.now += 1
        report.update(50)
    first, last = log.getvalue().splitlines()
    assert first.startswith("scan: 150 lines of 150 (100%), 150 lines/s")
    assert last.startswith("scan: 200 lines of 200 (100%)")


def test_terminal_redraws_one_line_in_place(clock):
    tty = Terminal()
    report = Progress("scan", total=1000, unit="rows", stream=tty)
    assert report.live
    for _ in range(100):
        clock.now += 0.0625  # redrawn every other update (REDRAW_SECONDS = 0.1)
        report.update(10)
    report.close()
    text = tty.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended at close
    frames = text.rstrip("\n").split("\r")[1:]
    assert 45 <= len(frames) <= 52
    assert frames[0].startswith("[") and "ETA" in frames[0]
    assert frames[-1].startswith("[" + "=" * 20 + "] scan: 1,000 rows of 1,000 (100%)")
    assert "ETA" not in frames[-1]
    # a shorter frame blanks out what is left of a longer one
    assert all(len(b) >= len(a.rstrip()) for a, b in zip(frames, frames[1:], strict=False))


def test_update_after_close_and_bad_arguments():
    report = Progress("scan", stream=io.StringIO())
    report.close()
    report.close()  # no-op
    with pytest.raises(ValueError, match="closed"):
        report.update(1)
    with pytest.raises(ValueError, match="`total` should be None or >= 0"):
        Progress("scan", total=-1)
    with pytest.raises(ValueError, match="`every_percent` should be a positive number"):
        Progress("scan", every_percent=0)
    with pytest.raises(ValueError, match="`every_seconds` should be a positive number"):
        Progress("scan", every_seconds="30")


def test_is_terminal_and_fit_verbose(monkeypatch):
    assert is_terminal(Terminal()) and not is_terminal(io.StringIO()) and not is_terminal(None)
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed)
    assert fit_verbose(stream=Terminal()) == 1
    assert fit_verbose("auto", stream=io.StringIO()) == 2
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert fit_verbose() == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbose() == 2
    assert [fit_verbose(v, stream=Terminal()) for v in (0, 1, 2)] == [0, 1, 2]
    for bad in (3, True, "1", None):
        with pytest.raises(ValueError, match="`verbose` should be"):
            fit_verbose(bad)


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300)


def test_quiet_tensorflow_silences_start_up():
    code = "from deepfm_keras_cli import quiet_tensorflow; quiet_tensorflow(); import deepfm_keras, tensorflow as tf; tf.ones(2)"
    quiet = _python(code)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.splitlines()
    if any("oneDNN custom operations are on" in line for line in lines):
        # TensorFlow 2.21 prints this one notice (and absl's line before it) whatever the log level, on CPUs where
        # oneDNN is on by default (an AMX Xeon); `quiet_tensorflow` documents it. Nothing else may show.
        lines = [line for line in lines if "oneDNN custom operations" not in line and "absl::InitializeLog" not in line]
    assert lines == []


@pytest.mark.slow
def test_tensorflow_start_up_is_noisy_without_quiet_tensorflow():
    # The check above means something: this TensorFlow build prints notices at import when not quieted.
    loud = _python("import tensorflow as tf; tf.ones(2)")
    assert loud.returncode == 0 and loud.stderr != ""


def test_quiet_tensorflow_keeps_a_users_level_and_works_after_import(monkeypatch):
    import logging

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logging.INFO)
    quiet_tensorflow()  # TensorFlow may well be imported in this process already: no error
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert logger.level == logging.WARNING
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


def test_an_error_ends_the_live_line_without_a_final_report(clock):
    for stream, expected in ((Terminal(), 1), (io.StringIO(), 0)):
        with pytest.raises(OSError), Progress("scan", total=100, stream=stream) as report:
            clock.now += 1
            report.update(5)
            raise OSError("disk")
        assert report.closed and stream.getvalue().count("\n") == expected
        assert "100%" not in stream.getvalue()
