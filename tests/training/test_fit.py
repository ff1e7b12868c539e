"""Training helpers: callbacks by option, fit under a strategy, seeded runs, resuming after SIGKILL."""

import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import (
    CategoricalFeature,
    ContributionLogger,
    NumericFeature,
    build_deepfm,
    get_strategy,
    make_dataset,
)
from deepfm_keras.training import fit, make_callbacks, set_seed
from deepfm_keras.training.checkpoints import AtomicBackupAndRestore, AtomicModelCheckpoint
from tests.workers.launch import TIMEOUT_S, finish, kill_all, load_weights, output, read_json, start, wait_for

SPEC = [NumericFeature("x"), CategoricalFeature("user", vocabulary_size=20)]


def make_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 20, size=(n, 1)).astype("int32"),
    }
    logit = np.linspace(-2, 2, 20)[inputs["user"][:, 0]] + inputs["x"][:, 0]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32").reshape(-1, 1)
    return inputs, labels


def dataset(n=256, seed=0, batch=64):
    return tf.data.Dataset.from_tensor_slices(make_data(n, seed)).batch(batch)


def build(strategy, learning_rate=0.02):
    with strategy.scope():
        model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def test_make_callbacks_one_option_each(tmp_path):
    assert make_callbacks() == []
    kinds = {  # Keras' callbacks, written atomically
        "backup_dir": AtomicBackupAndRestore,
        "best_model_path": AtomicModelCheckpoint,
        "early_stopping_patience": keras.callbacks.EarlyStopping,
    }
    values = {
        "backup_dir": tmp_path / "backup",
        "best_model_path": tmp_path / "best.keras",
        "early_stopping_patience": 2,
    }
    for option, kind in kinds.items():
        (callback,) = make_callbacks(**{option: values[option]})
        assert isinstance(callback, kind)
    assert issubclass(AtomicBackupAndRestore, keras.callbacks.BackupAndRestore)
    assert issubclass(AtomicModelCheckpoint, keras.callbacks.ModelCheckpoint)
    tensorboard, logger = make_callbacks(log_dir=tmp_path / "logs", contribution_data={"x": np.zeros((2, 1))})
    assert isinstance(tensorboard, keras.callbacks.TensorBoard) and isinstance(logger, ContributionLogger)
    everything = make_callbacks(log_dir=tmp_path / "logs", **values)
    assert isinstance(everything[0], keras.callbacks.BackupAndRestore)
    early = everything[-1]
    assert early.patience == 2 and early.monitor == "val_loss" and early.restore_best_weights


def test_make_callbacks_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="`early_stopping_patience` should be a positive integer"):
        make_callbacks(early_stopping_patience=0)
    with pytest.raises(ValueError, match="`best_model_path` should end in '.keras'"):
        make_callbacks(best_model_path=tmp_path / "best.h5")
    with pytest.raises(ValueError, match="`contribution_data` needs a `log_dir`"):
        make_callbacks(contribution_data={"x": np.zeros((2, 1))})


def test_set_seed_bad_argument():
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(ValueError, match="`seed` should be a non-negative integer"):
            set_seed(bad, deterministic=False)


def test_fit_under_mirrored_strategy_with_every_callback(tmp_path):
    strategy = get_strategy()
    model = build(strategy)
    val_inputs, _ = make_data(64, seed=1)
    callbacks = make_callbacks(
        log_dir=tmp_path / "logs",
        contribution_data=val_inputs,
        backup_dir=tmp_path / "backup",
        best_model_path=tmp_path / "best.keras",
        early_stopping_patience=5,
        strategy=strategy,
    )
    history = fit(model, dataset(), epochs=3, validation_data=dataset(64, seed=1), callbacks=callbacks, verbose=0)
    assert history.epoch == [0, 1, 2]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not (tmp_path / "backup").exists()  # deleted once training completes
    assert (tmp_path / "logs" / "contributions").is_dir() and (tmp_path / "logs" / "validation").is_dir()
    best = keras.saving.load_model(tmp_path / "best.keras")
    best.compile(loss="binary_crossentropy")
    val_loss = best.evaluate(dataset(64, seed=1), verbose=0)
    assert val_loss == pytest.approx(min(history.history["val_loss"]), rel=1e-5)


def test_early_stopping_stops(tmp_path):
    model = build(get_strategy(), learning_rate=0.0)  # the loss never improves
    callbacks = make_callbacks(early_stopping_patience=1, monitor="loss")
    history = fit(model, dataset(), epochs=10, callbacks=callbacks, verbose=0)
    assert history.epoch == [0, 1]


@pytest.mark.slow
def test_seeded_runs_are_identical(tmp_path):
    # Two processes at once: one trains with seeds 7 then 8, the other with seed 7.
    procs = [
        start("seeded.py", tmp_path / "a", 7, 8, log=tmp_path / "a.log"),
        start("seeded.py", tmp_path / "b", 7, log=tmp_path / "b.log"),
    ]
    try:
        for proc in procs:
            finish(proc)
    finally:
        kill_all(procs)
    seed7, seed8, seed7_again = (load_weights(tmp_path / name) for name in ("a_0.npz", "a_1.npz", "b_0.npz"))
    for a, b in zip(seed7, seed7_again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(seed7, seed8, strict=True))


@pytest.mark.slow
def test_resumes_after_sigkill(tmp_path):
    run, reference = tmp_path / "run", tmp_path / "reference"
    run.mkdir()
    reference.mkdir()
    # The uninterrupted reference run trains alongside the run to be killed.
    procs = [
        start("resumable.py", run, "--hang-at-epoch", 2, log=tmp_path / "first.log"),
        start("resumable.py", reference, "--no-backup", log=tmp_path / "reference.log"),
    ]
    try:
        wait_for(run / "hanging", procs[0])  # in the middle of epoch 2 (0-based) of 4
        os.kill(procs[0].pid, signal.SIGKILL)
        assert procs[0].wait(timeout=60) == -signal.SIGKILL
        assert (run / "backup" / "training_metadata.json").exists()
        finish(start("resumable.py", run, log=tmp_path / "second.log"))
        finish(procs[1])
    finally:
        kill_all(procs)

    lines = [line.split() for line in (run / "epochs.log").read_text().splitlines()]
    first_pid, second_pid = lines[0][0], lines[-1][0]
    assert first_pid != second_pid
    assert [(e, n) for p, e, n in lines if p == first_pid] == [
        ("begin", "0"),
        ("end", "0"),
        ("begin", "1"),
        ("end", "1"),
        ("begin", "2"),
    ]
    # Started again, it continues from the last saved epoch instead of starting over.
    assert [(e, n) for p, e, n in lines if p == second_pid] == [
        ("begin", "2"),
        ("end", "2"),
        ("begin", "3"),
        ("end", "3"),
    ]
    resumed, uninterrupted = read_json(run / "result.json"), read_json(reference / "result.json")
    assert resumed["history_epochs"] == [2, 3] and uninterrupted["history_epochs"] == [0, 1, 2, 3]
    # Weights and optimizer state were restored: the same losses and weights as without the crash.
    np.testing.assert_allclose(resumed["loss"], uninterrupted["loss"][2:], rtol=1e-6)
    for a, b in zip(load_weights(run / "weights.npz"), load_weights(reference / "weights.npz"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not (run / "backup").exists()


class DiskFull(OSError):
    def __init__(self):
        super().__init__(28, "No space left on device")


class StopAtEpoch(keras.callbacks.Callback):
    """Interrupts training at the start of `epoch`, as a crash would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"killed at epoch {epoch}")


def test_best_model_checkpoint_survives_a_failed_save(tmp_path, monkeypatch):
    path = tmp_path / "best.keras"
    model = build(get_strategy())
    (checkpoint,) = make_callbacks(best_model_path=path)
    fit(model, dataset(), epochs=1, validation_data=dataset(64, seed=1), callbacks=[checkpoint], verbose=0)
    good = path.read_bytes()

    def save_half(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(good[: len(good) // 2])
        raise DiskFull

    monkeypatch.setattr(type(model), "save", save_half)  # DeepFMModel.save, which the checkpoint calls
    with pytest.raises(DiskFull):
        fit(model, dataset(), epochs=1, validation_data=dataset(64, seed=1), callbacks=[checkpoint], verbose=0)
    monkeypatch.undo()
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["best.keras"]
    keras.saving.load_model(path)


def seeded_build(seed=0):
    set_seed(seed, deterministic=False)
    return build(get_strategy())


def assert_same_weights(a, b):
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6, atol=1e-7)


def test_backup_killed_mid_save_resumes_from_the_last_complete_epoch(tmp_path, monkeypatch):
    backup = tmp_path / "backup"
    reference = seeded_build()
    fit(reference, dataset(), epochs=3, verbose=0)

    saves = []
    real_save_weights = keras.Model.save_weights

    def save_weights_then_die(self, filepath, *args, **kwargs):
        saves.append(filepath)
        real_save_weights(self, filepath, *args, **kwargs)
        if len(saves) == 2:  # the backup of epoch 1: half a file written, then the process dies
            with open(filepath, "r+b") as f:
                f.truncate(os.path.getsize(filepath) // 2)
            raise KeyboardInterrupt("killed while writing the backup")

    monkeypatch.setattr(keras.Model, "save_weights", save_weights_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(seeded_build(), dataset(), epochs=3, callbacks=make_callbacks(backup_dir=backup), verbose=0)
    monkeypatch.undo()
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1 and (backup / metadata["weights"]).is_file()
    # What kills at other moments leave behind: a temporary, an unreferenced weights file. Never loaded.
    (backup / ".epoch2-x.weights.h5.tmp-1-0.epoch2-x.weights.h5").write_bytes(b"\x89HDF half")
    (backup / "epoch2-stale.weights.h5").write_bytes(b"\x89HDF half")

    resumed = seeded_build(seed=1)  # other initial weights: all of them must come from the backup
    history = fit(resumed, dataset(), epochs=3, callbacks=make_callbacks(backup_dir=backup), verbose=0)
    assert history.epoch == [1, 2]
    assert_same_weights(resumed, reference)
    assert not backup.exists()


def test_backup_keeps_one_consistent_pair_and_refuses_an_edited_one(tmp_path):
    backup = tmp_path / "backup"
    model = seeded_build()
    callbacks = make_callbacks(backup_dir=backup) + [StopAtEpoch(2)]
    with pytest.raises(KeyboardInterrupt):
        fit(model, dataset(), epochs=3, callbacks=callbacks, verbose=0)
    files = sorted(os.listdir(backup))
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert files == sorted(["training_metadata.json", metadata["weights"]]) and metadata["epoch"] == 2
    assert metadata["weights"].startswith("epoch2-")

    (backup / metadata["weights"]).unlink()
    with pytest.raises(ValueError, match="names weights file 'epoch2-.*', which is missing"):
        fit(seeded_build(), dataset(), epochs=3, callbacks=make_callbacks(backup_dir=backup), verbose=0)
    (backup / "training_metadata.json").write_text('{"epoch": 2, "weigh')
    with pytest.raises(ValueError, match="training_metadata.json is not valid JSON"):
        fit(seeded_build(), dataset(), epochs=3, callbacks=make_callbacks(backup_dir=backup), verbose=0)


def test_a_backup_written_by_keras_backup_and_restore_still_resumes(tmp_path):
    backup = tmp_path / "backup"
    reference = seeded_build()
    fit(reference, dataset(), epochs=3, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        callbacks = [keras.callbacks.BackupAndRestore(backup), StopAtEpoch(2)]
        fit(seeded_build(), dataset(), epochs=3, callbacks=callbacks, verbose=0)
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    resumed = seeded_build(seed=1)
    history = fit(resumed, dataset(), epochs=3, callbacks=make_callbacks(backup_dir=backup), verbose=0)
    assert history.epoch == [2]
    assert_same_weights(resumed, reference)


def test_a_resumed_seeded_run_shuffles_like_an_uninterrupted_one(tmp_path):
    inputs, labels = make_data(256)

    def run(backup, callbacks=(), model=None):
        model = model or seeded_build()
        train = make_dataset(inputs, labels, batch_size=64, seed=11)
        fit(model, train, epochs=4, callbacks=make_callbacks(backup_dir=backup) + list(callbacks), verbose=0)
        return model

    reference = run(tmp_path / "reference")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "backup", [StopAtEpoch(2)])
    # Resumed at epoch 2 with a fresh dataset: epochs 2 and 3 get their own orders, not epochs 0 and 1's again.
    assert_same_weights(run(tmp_path / "backup", model=seeded_build(seed=1)), reference)


FLAGS = ("--seeded-data", "--best-model")  # shuffled seeded data; a best-model checkpoint and a backup every epoch


def run_to_completion_or_death(work, log, *extra, kill_after=None):
    """Runs resumable.py once; SIGKILLs it `kill_after` seconds into training. Returns its exit status."""
    (work / "training").unlink(missing_ok=True)
    proc = start("resumable.py", work, *FLAGS, *extra, log=log)
    try:
        if kill_after is not None:
            wait_for(work / "training", proc)
            time.sleep(kill_after)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=TIMEOUT_S)
    finally:
        kill_all([proc])
    # Killed (by us or by its own kill switch) or finished: anything else is a run that crashed, e.g. on a bad file.
    assert code in (0, -signal.SIGKILL), f"run {log.name} exited with {code}:\n{output(proc)}"
    return code


def kill_chain(work, plan):
    """Runs the plan's kills one after the other, each run resuming the last one; then runs to the end."""
    work.mkdir()
    for i, (extra, kill_after) in enumerate(plan):
        code = run_to_completion_or_death(work, work.parent / f"{work.name}_{i}.log", *extra, kill_after=kill_after)
        if extra:
            assert code == -signal.SIGKILL, f"kill switch {extra} never fired"
        if code == 0:
            return  # a random kill came after the end: the run completed
    assert run_to_completion_or_death(work, work.parent / f"{work.name}_last.log") == 0


@pytest.mark.slow
def test_resumes_after_sigkill_at_any_moment(tmp_path):
    """SIGKILLed inside every kind of save and at random moments, restarted each time: the uninterrupted result."""
    reference = tmp_path / "reference"
    reference.mkdir()
    # Kills inside saves (the process kills itself): the backup of epoch 0 complete in its temporary file but not
    # yet in place, its metadata likewise, epoch 0's best-model checkpoint likewise, and a half-written backup
    # temporary of the epoch after. Replaces per epoch: backup weights, backup metadata, checkpoint.
    in_saves = [(("--kill-at-replace", 1), None), (("--kill-at-replace", 3), None), (("--kill-in-write", 2), None)]
    rng = random.Random(20261201)
    at_random = [((), rng.uniform(0.0, 4.0)) for _ in range(3)]  # wall-clock kills anywhere in training
    with ThreadPoolExecutor(3) as pool:
        jobs = [
            pool.submit(run_to_completion_or_death, reference, tmp_path / "reference.log"),
            pool.submit(kill_chain, tmp_path / "in_saves", in_saves),
            pool.submit(kill_chain, tmp_path / "at_random", at_random),
        ]
        assert jobs[0].result() == 0
        for job in jobs[1:]:
            job.result()
    expected = load_weights(reference / "weights.npz")
    for chain in ("in_saves", "at_random"):
        work = tmp_path / chain
        for a, b in zip(load_weights(work / "weights.npz"), expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        runs = {line.split()[0] for line in (work / "epochs.log").read_text().splitlines()}
        assert len(runs) >= 2 and "end 3" in (work / "epochs.log").read_text()  # killed at least once, then finished
        assert not (work / "backup").exists()
        assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []  # no temporaries left
        keras.saving.load_model(work / "best.keras")
