"""The contenders' processes: started together, then run in turn, one timed section at a time."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

from .measure import median
from .task import ENTRY


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # DeepCTR's version-check thread: a closed local port fails at once, offline or not.
    for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        env[key] = "http://127.0.0.1:9"
    return env


def _parse(out: subprocess.CompletedProcess, what: str) -> dict:
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-25:])
    raise RuntimeError(f"{what} failed (exit {out.returncode}):\n{tail}")


def _worker_command(name: str, args, extra: list[str] | None = None) -> list[str]:
    cmd = [str(args.python), str(ENTRY), "--worker", name, "--arrays", str(args.arrays)]
    cmd += ["--epochs", str(args.epochs), "--task", args.task, "--seed", str(args.seed)]
    return cmd + ["--infer-repeats", str(args.infer_repeats), *(extra or [])]


class _Worker:
    """A contender's process, driven section by section through its stdin/stdout."""

    def __init__(self, name: str, args):
        self.name, self.result, self.loads = name, None, []
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [*_worker_command(name, args), "--gated"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=_env(),
        )

    def fail(self, what: str):
        self.proc.kill()
        self.stderr.seek(0)
        tail = "\n".join(self.stderr.read().splitlines()[-25:])
        raise RuntimeError(f"{self.name}: {what} (exit {self.proc.poll()}):\n{tail}")

    def wait_for(self, *events: str) -> str:
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT ") :])
                return "RESULT"
            if line.strip() in events:
                return line.strip()
        self.proc.wait()
        self.fail("exited early")

    def run_section(self) -> bool:
        """Lets the worker run its next timed section alone; False once it has reported."""
        self.loads.append(os.getloadavg()[0])
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        if self.wait_for("DONE") != "DONE":
            self.fail("reported in the middle of a timed section")
        # Its untimed work up to the next timed section runs alone too.
        return self.wait_for("GATE") == "GATE"


def run_interleaved(names: list[str], args) -> dict[str, dict]:
    """Runs the contenders side by side, one timed section (an epoch, an inference pass) at a time.

    All processes start together (imports, data, model: untimed), then the driver lets them
    run in turn, one epoch or inference pass each, so that every epoch of one contender is
    timed next to an epoch of every other: a change of machine load hits them alike.
    """
    workers = [_Worker(name, args) for name in names]
    try:
        active = [w for w in workers if w.wait_for("GATE") == "GATE"]
        while active:
            active = [w for w in active if w.run_section()]
        for w in workers:
            if w.proc.wait(timeout=args.timeout) != 0 or w.result is None:
                w.fail("failed")
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
    results = {}
    for w in workers:
        w.result["loadavg_1min_per_section"] = w.loads
        w.result["loadavg_1min_before"] = median(w.loads)
        results[w.name] = w.result
    return results


def run_contender(name: str, args, extra: list[str] | None = None) -> dict:
    """One contender alone in its process (not gated): its result, wall time and the load before it."""
    cmd = _worker_command(name, args, extra)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=args.timeout)
    result = _parse(out, name)
    result["wall_s"] = time.perf_counter() - t0
    result["loadavg_1min_before"] = load
    return result
