"""Benchmark: peak memory of each phase of a large model's life, against the model's state (issue 25).

The Criteo-shaped model of `vocab_scaling.py` (13 numeric + 26 categorical
fields, `--ids` ids per field, embedding 16, MLP 256-128-64, binary), its
categorical columns hashed into `--ids` ids (`CategoricalColumn(num_bins=...)`,
so the encoder holds no vocabulary), trained on synthetic Zipf ids. Each phase's
**peak** is the process's `VmHWM` over that phase alone (reset before it through
`/proc/self/clear_refs`); **state** is the model's weights plus its optimizer's
variables; the target is peak <= 1.25 x state + 1 GB.

Four processes, one after the other, each measuring its own phases:

1. `train`: import + a tiny model (the baseline), `build_deepfm`, `compile` +
   `fit` (`--epochs` timed epochs of `--steps` batches of 4096 after one
   warm-up epoch: **ex/s** is their median), a `.keras` save, one epoch of
   `fit` with `AtomicBackupAndRestore` (its `.weights.h5` backup written at
   the epoch's end), and the SavedModel export; its predictions go to a file.
2. `load`: `deepfm_keras.load_model` of the `.keras` file in a fresh process,
   predictions compared with the saved ones.
3. `resume`: a fresh model restored from the backup by
   `AtomicBackupAndRestore.on_train_begin` (predictions compared), then one
   more epoch.
4. `serve`: the SavedModel loaded by the TF1 session loader (as TensorFlow
   Serving does) and run on raw rows, scores compared.

Usage:

    python benchmarks/memory.py --ids 1000000                      # ~4 min
    python benchmarks/memory.py --ids 8000000 --dir /tmp/mem8m     # ~40 min, 14.1 GB of weights
    python benchmarks/memory.py --ids 3000000 --optimizer adam --phases train load
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NUM_NUMERIC, NUM_CATEGORICAL, BATCH = 13, 26, 4096
GB = 1e9


# ------------------------------------------------------------------------------------ measuring (in each process)


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


class Phases:
    """Peak RSS (VmHWM, reset before each phase) and wall time of each phase."""

    def __init__(self):
        self.rows: list[dict] = []

    def run(self, name: str, fn):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        start = time.perf_counter()
        result = fn()
        self.rows.append(
            {
                "phase": name,
                "seconds": round(time.perf_counter() - start, 1),
                "peak_mb": round(_status_mb("VmHWM")),
                "after_mb": round(_status_mb("VmRSS")),
            }
        )
        print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)
        return result


def _data(num_rows: int, ids: int, seed: int):
    import numpy as np

    sys.path.insert(0, HERE)
    from vocab_scaling import synthetic

    numeric, raw_ids, labels = synthetic(num_rows, ids - 2, seed=seed)
    x = {f"I{i}": numeric[:, i] for i in range(NUM_NUMERIC)}
    x.update({f"C{i}": raw_ids[:, i] + 2 for i in range(NUM_CATEGORICAL)})  # hashed ids start at 2
    return x, labels, numeric, raw_ids, np


def _encoder(ids: int):
    import pandas as pd

    import deepfm_keras as dk

    numeric = [f"I{i}" for i in range(NUM_NUMERIC)]
    encoder = dk.FeatureEncoder(
        numeric=numeric, categorical=[dk.CategoricalColumn(f"C{i}", num_bins=ids - 2) for i in range(NUM_CATEGORICAL)]
    )
    frame = pd.DataFrame({name: [0.0, 1.0] for name in numeric} | {f"C{i}": [0, 1] for i in range(NUM_CATEGORICAL)})
    return encoder.fit(frame)


def _check_rows(config: dict):
    """2,048 raw rows (numeric values, raw ids) that every process scores: the serving signature takes them raw."""
    _, _, numeric, raw_ids, _ = _data(2048, config["ids"], seed=1)
    return numeric, raw_ids


def _check_inputs(encoder, config: dict) -> dict:
    import pandas as pd

    numeric, raw_ids = _check_rows(config)
    frame = pd.DataFrame({f"I{i}": numeric[:, i] for i in range(NUM_NUMERIC)})
    for i in range(NUM_CATEGORICAL):
        frame[f"C{i}"] = raw_ids[:, i]
    return encoder.transform(frame)


def _saved_check_inputs(config: dict) -> dict:
    import numpy as np

    with np.load(os.path.join(config["dir"], "check_inputs.npz")) as f:
        return {k: f[k] for k in f.files}


def _state_bytes(model) -> int:
    import math

    variables = list(model.weights) + (list(model.optimizer.variables) if model.optimizer is not None else [])
    return sum(math.prod(v.shape) * 4 for v in variables)  # float32 (the optimizer's int64 step counter: 8 bytes)


def _baseline(phases: Phases):
    def warm():
        import deepfm_keras as dk

        tiny = dk.build_deepfm([dk.NumericFeature("x"), dk.CategoricalFeature("c", 10)], embedding_dim=4)
        tiny.compile(optimizer="adam")
        return tiny

    phases.run("import + tiny model", warm)


def job_train(config: dict) -> dict:
    import keras

    import deepfm_keras as dk
    from deepfm_keras.training.checkpoints import AtomicBackupAndRestore

    phases = Phases()
    _baseline(phases)
    ids, folder = config["ids"], config["dir"]
    x, labels, _, _, np = _data(config["steps"] * BATCH, ids, seed=0)
    encoder = _encoder(ids)
    model = phases.run(
        "build_deepfm", lambda: dk.build_deepfm(encoder.feature_spec, embedding_dim=16, hidden_units=(256, 128, 64))
    )
    model.compile(optimizer=config["optimizer"], loss="binary_crossentropy")
    data = dk.make_dataset(x, labels, batch_size=BATCH, seed=0)
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(-time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, times[-1] + time.perf_counter()),
    )
    phases.run("compile + fit", lambda: model.fit(data, epochs=1 + config["epochs"], callbacks=[timer], verbose=0))
    ex_per_s = statistics.median(config["steps"] * BATCH / t for t in times[1:]) if len(times) > 1 else None
    state = _state_bytes(model)
    check_x = _check_inputs(encoder, config)
    np.savez(os.path.join(folder, "check_inputs.npz"), **check_x)
    np.save(os.path.join(folder, "predictions_keras.npy"), model.predict(check_x, batch_size=BATCH, verbose=0))
    keras_path = os.path.join(folder, "model.keras")
    phases.run(".keras save", lambda: model.save(keras_path))
    backup = AtomicBackupAndRestore(os.path.join(folder, "backup"), delete_checkpoint=False)
    phases.run(
        "fit 1 epoch + backup",
        lambda: model.fit(
            data, epochs=2 + config["epochs"], initial_epoch=1 + config["epochs"], callbacks=[backup], verbose=0
        ),
    )
    predictions = model.predict(check_x, batch_size=BATCH, verbose=0)
    export_path = os.path.join(folder, "serving", "1")
    if "export" in config["steps_to_run"]:
        phases.run("SavedModel export", lambda: dk.export_serving_model(model, encoder, export_path))
    np.save(os.path.join(folder, "predictions.npy"), predictions)
    return {
        "phases": phases.rows,
        "state_bytes": state,
        "weights_bytes": sum(int(np.prod(w.shape)) * 4 for w in model.weights),
        "params": int(model.count_params()),
        "ex_per_s": ex_per_s,
        "keras_file_bytes": os.path.getsize(keras_path),
    }


def job_load(config: dict) -> dict:
    import numpy as np

    import deepfm_keras as dk

    phases = Phases()
    _baseline(phases)
    model = phases.run("load_model (.keras)", lambda: dk.load_model(os.path.join(config["dir"], "model.keras")))
    predictions = model.predict(_saved_check_inputs(config), batch_size=BATCH, verbose=0)
    expected = np.load(os.path.join(config["dir"], "predictions_keras.npy"))
    return {"phases": phases.rows, "max_abs_diff": float(np.abs(predictions - expected).max())}


def job_resume(config: dict) -> dict:
    import numpy as np

    import deepfm_keras as dk
    from deepfm_keras.training.checkpoints import AtomicBackupAndRestore

    phases = Phases()
    _baseline(phases)
    ids = config["ids"]
    x, labels, *_ = _data(config["steps"] * BATCH, ids, seed=0)
    encoder = _encoder(ids)
    model = phases.run(
        "build_deepfm", lambda: dk.build_deepfm(encoder.feature_spec, embedding_dim=16, hidden_units=(256, 128, 64))
    )
    model.compile(optimizer=config["optimizer"], loss="binary_crossentropy")
    backup = AtomicBackupAndRestore(os.path.join(config["dir"], "backup"), delete_checkpoint=False)
    backup.set_model(model)
    phases.run("restore from backup", lambda: backup.on_train_begin())
    predictions = model.predict(_saved_check_inputs(config), batch_size=BATCH, verbose=0)
    expected = np.load(os.path.join(config["dir"], "predictions.npy"))
    data = dk.make_dataset(x, labels, batch_size=BATCH, seed=0)
    epoch = backup._read_metadata()["epoch"]
    phases.run("resumed epoch", lambda: model.fit(data, epochs=epoch + 2, initial_epoch=epoch + 1, verbose=0))
    return {"phases": phases.rows, "max_abs_diff": float(np.abs(predictions - expected).max())}


def job_serve(config: dict) -> dict:
    import numpy as np
    import tensorflow as tf

    phases = Phases()
    phases.run("import", lambda: None)
    numeric, raw_ids = _check_rows(config)
    path = os.path.join(config["dir"], "serving", "1")
    session = tf.compat.v1.Session(graph=tf.Graph())
    meta_graph = phases.run("TF1 loader", lambda: tf.compat.v1.saved_model.loader.load(session, ["serve"], path))
    signature = meta_graph.signature_def["serving_default"]
    feed = {}
    for name, spec in signature.inputs.items():
        kind, index = name[0], int(name[1:])
        values = numeric[:, index] if kind == "I" else raw_ids[:, index]
        feed[spec.name] = values.astype(tf.as_dtype(spec.dtype).as_numpy_dtype)
    scores = phases.run("session.run", lambda: session.run(signature.outputs["prediction"].name, feed))
    expected = np.load(os.path.join(config["dir"], "predictions.npy"))[:, 0]
    return {"phases": phases.rows, "max_abs_diff": float(np.abs(scores - expected).max())}


JOBS = {"train": job_train, "load": job_load, "resume": job_resume, "serve": job_serve}


# ------------------------------------------------------------------------------------------------ driver


def _run_job(name: str, config: dict) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
    command = [sys.executable, os.path.abspath(__file__), "--job", name, "--config", json.dumps(config)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return {"error": f"exit {result.returncode}: {result.stderr[-2000:]}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=1_000_000, help="ids per categorical field")
    parser.add_argument("--optimizer", default="rowwise_adagrad")
    parser.add_argument("--steps", type=int, default=24, help="batches of 4096 per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch")
    parser.add_argument("--dir", default="/tmp/deepfm_keras_memory")
    parser.add_argument("--phases", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(JOBS[args.job](json.loads(args.config))))
        return
    os.makedirs(args.dir, exist_ok=True)
    config = {
        "ids": args.ids,
        "optimizer": args.optimizer,
        "steps": args.steps,
        "epochs": args.epochs,
        "dir": args.dir,
        "steps_to_run": [] if args.no_export else ["export"],
    }
    results = {}
    for name in args.phases:
        if name == "serve" and args.no_export:
            continue
        results[name] = _run_job(name, config)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    train = results.get("train", {})
    state = train.get("state_bytes")
    if state:
        limit_mb = (1.25 * state + 1e9) / 2**20
        print(
            f"\nids/field {args.ids:,}, {args.optimizer}: weights {train['weights_bytes'] / GB:.2f} GB, "
            f"state {state / GB:.2f} GB, limit 1.25 x state + 1 GB = {limit_mb:,.0f} MB; "
            f"train {train['ex_per_s'] or 0:,.0f} ex/s; .keras {train['keras_file_bytes'] / GB:.2f} GB"
        )
        print("| process | phase | peak RSS MB | x state | within target | RSS after MB | seconds |")
        print("|---|---|---:|---:|---|---:|---:|")
        for name, result in results.items():
            for row in result.get("phases", []):
                ok = "yes" if row["peak_mb"] <= limit_mb else "NO"
                print(
                    f"| {name} | {row['phase']} | {row['peak_mb']:,} | {row['peak_mb'] * 2**20 / state:.2f} | {ok} | "
                    f"{row['after_mb']:,} | {row['seconds']} |"
                )
            if "max_abs_diff" in result:
                print(
                    f"| {name} | predictions vs the trained model: max abs diff {result['max_abs_diff']:.2e} | | | | | |"
                )
            if "error" in result:
                print(f"| {name} | FAILED: {result['error'][-300:]!r} | | | | | |")


if __name__ == "__main__":
    main()
