"""Starting the worker scripts of this folder as subprocesses, with bounded time and clean-up."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKERS = Path(__file__).resolve().parent
# TensorFlow's start-up alone takes ~10 s on a loaded 2-core machine; training runs are tiny.
TIMEOUT_S = 240


def worker_env(**extra) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def start(script: str, *args, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """Starts `python WORKERS/script args...`; stdout and stderr go to `log` (or are captured)."""
    out = open(log, "w") if log else subprocess.PIPE  # closed by finish() or kill_all()
    proc = subprocess.Popen(
        [sys.executable, str(WORKERS / script), *map(str, args)],
        env=env or worker_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log_file = out if log else None
    proc.log_path = log
    return proc


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> str:
    """Waits for `proc` (killing it past `timeout`) and returns its output; fails on a non-zero exit."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{proc.args} did not finish in {timeout} s:\n{output(proc)}") from None
    finally:
        if proc.log_file:
            proc.log_file.close()
    text = out if out is not None else output(proc)
    if proc.returncode != 0:
        raise AssertionError(f"{proc.args} exited with {proc.returncode}:\n{text[-6000:]}")
    return text


def output(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text()[-6000:] if proc.log_path else ""


def kill_all(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.log_file:
            proc.log_file.close()


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> None:
    """Waits until `path` exists; fails if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode} before writing {path}:\n{output(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not written in {timeout} s:\n{output(proc)}")
        time.sleep(0.2)


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def load_weights(path: Path) -> list[np.ndarray]:
    """The arrays a worker saved with `common.weights_dict`, in model order."""
    with np.load(path) as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split(":", 1)[0]))]
