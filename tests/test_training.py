"""Training helpers: callbacks by option, fit under a strategy, seeded runs, resuming after SIGKILL."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import CategoricalFeature, ContributionLogger, NumericFeature, build_deepfm, get_strategy
from deepfm_keras.training import fit, make_callbacks, set_seed
from tests.workers.launch import finish, kill_all, load_weights, read_json, start, wait_for

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
    kinds = {
        "backup_dir": keras.callbacks.BackupAndRestore,
        "best_model_path": keras.callbacks.ModelCheckpoint,
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
        assert (run / "backup" / "latest.weights.h5").exists()
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
