"""Memory of a model's life on tables of a few hundred MB: no phase may make a copy of a table.

Each phase runs in a process of its own (after a tiny model has warmed every
code path), and its peak RSS is read from `VmHWM`, reset before the phase
(`/proc/self/clear_refs`). A phase may add what it creates (the tables when
building, the optimizer slots when training first runs) and at most a quarter
of the model's state more, plus `SLACK` for everything else; one table-sized
copy, the size of the figures these tests were written against (`build` 3x the
table, `.keras` save +2 tables, load +2), fails them. Linux only (`/proc`).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc"),
]

IDS = 3_000_000  # per field, 2 fields, embedding 16: 384 MB of embeddings, 24 MB of first-order weights
SLACK_MB = 150

SCRIPT = r"""
import json, os, sys
import numpy as np

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

def measure(name, fn, out):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    result = fn()
    out[name] = status("VmHWM") - before
    return result

import keras
import pandas as pd
import deepfm_keras as dk
from deepfm_keras import chunked

phase, folder, ids = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
x = {"n": rng.normal(size=4096).astype("float32"), "a": rng.integers(0, ids, 4096), "b": rng.integers(0, ids, 4096)}
y = rng.integers(0, 2, 4096).astype("float32")
encoder = dk.FeatureEncoder(numeric=["n"], categorical=[dk.CategoricalColumn("a", num_bins=ids - 2),
                                                        dk.CategoricalColumn("b", num_bins=ids - 2)])
encoder.fit(pd.DataFrame({"n": [0.0, 1.0], "a": [1, 2], "b": [1, 2]}))
spec = encoder.feature_spec  # n, a and b with `ids` ids each

def life(spec, tag, out):
    model = measure("build", lambda: dk.build_deepfm(spec, embedding_dim=16, hidden_units=(8,)), out)
    model.compile(optimizer="rowwise_adagrad")
    size = spec[1].vocabulary_size
    xs = {k: v if k == "n" else v % size for k, v in x.items()}
    measure("fit", lambda: model.fit(xs, y, batch_size=1024, epochs=1, verbose=0), out)
    measure("save", lambda: model.save(os.path.join(folder, tag + ".keras")), out)
    measure("save_weights", lambda: model.save_weights(os.path.join(folder, tag + ".weights.h5")), out)
    if tag == "big":
        measure("export", lambda: dk.export_serving_model(model, encoder, os.path.join(folder, "serving")), out)
    return model

small_spec = [dk.NumericFeature("n"), dk.CategoricalFeature("a", 10), dk.CategoricalFeature("b", 10)]
if phase == "train":
    life(small_spec, "small", {})  # warms every path (tracing, h5py, the zip writer)
    out = {}
    model = life(spec, "big", out)
    out["weights"] = sum(chunked.nbytes(w) for w in model.weights)
    out["slots"] = sum(chunked.nbytes(v) for v in model.optimizer.variables)
    # element-wise Adagrad: slots as large as the tables, starting at a constant (the first model stays alive, so
    # that its freed memory cannot hide the second one's)
    other = dk.build_deepfm(spec, embedding_dim=16, hidden_units=(8,))
    other.compile(optimizer="adagrad")
    measure("fit_adagrad", lambda: other.fit(x, y, batch_size=1024, epochs=1, verbose=0), out)
    out["slots_adagrad"] = sum(chunked.nbytes(v) for v in other.optimizer.variables)
else:
    dk.load_model(os.path.join(folder, "small.keras"))
    out = {}
    measure("load", lambda: dk.load_model(os.path.join(folder, "big.keras")), out)
print(json.dumps(out))
"""


def _run(phase, folder):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, phase, str(folder), str(IDS)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory")
    train = _run("train", folder)
    load = _run("load", folder)
    return {**train, **load}


MB = 2**20


def _within(figures, phase, creates):
    state = figures["weights"] + figures["slots"]
    limit = creates + 0.25 * state + SLACK_MB * MB
    added = figures[phase]
    assert added <= limit, (
        f"{phase}: peak {added / MB:.0f} MB above the RSS before it; at most {limit / MB:.0f} MB "
        f"(creates {creates / MB:.0f} MB, state {state / MB:.0f} MB)"
    )


def test_building_holds_the_tables_once(figures):
    assert figures["weights"] > 350 * MB  # the table is large enough for a copy to show
    _within(figures, "build", creates=figures["weights"])


def test_first_training_adds_the_slots_only(figures):
    _within(figures, "fit", creates=figures["slots"])
    assert figures["slots_adagrad"] > figures["weights"]
    _within(figures, "fit_adagrad", creates=figures["slots_adagrad"])


@pytest.mark.parametrize("phase", ["save", "save_weights", "export"])
def test_writing_a_file_copies_no_table(figures, phase):
    _within(figures, phase, creates=0)


def test_loading_holds_the_state_once(figures):
    _within(figures, "load", creates=figures["weights"] + figures["slots"])
