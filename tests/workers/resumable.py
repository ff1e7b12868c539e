"""A training run that can be killed and started again (BackupAndRestore).

Usage: python resumable.py WORK_DIR [--hang-at-epoch N] [--no-backup] [--seeded-data] [--best-model]
                           [--kill-at-replace N] [--kill-in-write N]

Trains 4 epochs with `make_callbacks(backup_dir=WORK_DIR/backup)`, appending
"<pid> begin <epoch>" / "<pid> end <epoch>" lines to WORK_DIR/epochs.log and
writing WORK_DIR/training once training has begun. With --hang-at-epoch N it
writes WORK_DIR/hanging after the second batch of epoch N (0-based) and
sleeps, for the test to SIGKILL it. --seeded-data trains on a shuffled, seeded
`make_dataset`; --best-model adds `best_model_path=WORK_DIR/best.keras` and
validation data. The kill switches SIGKILL the process itself inside a save:
--kill-at-replace N at the N-th atomic replace (the temporary file is complete,
the target not yet replaced), --kill-in-write N in the N-th `save_weights`
(half the temporary file written). At the end it writes WORK_DIR/weights.npz
and WORK_DIR/result.json.
"""

import argparse
import os
import signal
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras import io, make_dataset  # noqa: E402
from deepfm_keras.training import fit, make_callbacks, set_seed  # noqa: E402
from deepfm_keras.training.distribute import get_strategy, global_batch_size  # noqa: E402

EPOCHS = 4


class EpochLog(keras.callbacks.Callback):
    def __init__(self, path, hang_at_epoch, marker, started):
        super().__init__()
        self.path, self.hang_at_epoch, self.marker, self.started = path, hang_at_epoch, marker, started
        self.epoch = None

    def _log(self, what):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {what}\n")

    def on_train_begin(self, logs=None):
        with open(self.started, "w") as f:
            f.write(str(os.getpid()))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._log(f"begin {epoch}")

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.hang_at_epoch and batch == 1:
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(600)  # the test kills us with SIGKILL here, mid-epoch

    def on_epoch_end(self, epoch, logs=None):
        self._log(f"end {epoch}")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill_switches(kill_at_replace, kill_in_write):
    """SIGKILLs this process in the middle of the N-th atomic replace or `save_weights` call."""
    calls = {"replace": 0, "write": 0}
    real_replace, real_save_weights = io.replace, keras.Model.save_weights

    def replace(tmp, path):
        calls["replace"] += 1
        if calls["replace"] == kill_at_replace:
            die()  # the temporary is complete; the target is still the previous file
        real_replace(tmp, path)

    def save_weights(self, filepath, *args, **kwargs):
        calls["write"] += 1
        real_save_weights(self, filepath, *args, **kwargs)
        if calls["write"] == kill_in_write:
            with open(filepath, "r+b") as f:
                f.truncate(os.path.getsize(filepath) // 2)
            die()  # half of the temporary written

    io.replace = replace
    keras.Model.save_weights = save_weights


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work_dir")
    parser.add_argument("--hang-at-epoch", type=int, default=None)
    parser.add_argument("--no-backup", action="store_true")
    parser.add_argument("--seeded-data", action="store_true")
    parser.add_argument("--best-model", action="store_true")
    parser.add_argument("--kill-at-replace", type=int, default=None)
    parser.add_argument("--kill-in-write", type=int, default=None)
    args = parser.parse_args()
    install_kill_switches(args.kill_at_replace, args.kill_in_write)

    set_seed(0)
    strategy = get_strategy()
    with strategy.scope():
        model = build_model()
    inputs, labels = make_data(n=256)
    batch_size = global_batch_size(32, strategy)
    if args.seeded_data:
        dataset = make_dataset(inputs, labels, batch_size=batch_size, seed=5)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)
    validation = None
    if args.best_model:
        val_inputs, val_labels = make_data(n=64, seed=1)
        validation = tf.data.Dataset.from_tensor_slices((val_inputs, val_labels)).batch(64)
    callbacks = make_callbacks(
        backup_dir=None if args.no_backup else os.path.join(args.work_dir, "backup"),
        best_model_path=os.path.join(args.work_dir, "best.keras") if args.best_model else None,
    )
    work = args.work_dir
    callbacks.append(
        EpochLog(
            os.path.join(work, "epochs.log"),
            args.hang_at_epoch,
            os.path.join(work, "hanging"),
            os.path.join(work, "training"),
        )
    )
    history = fit(
        model, dataset, epochs=EPOCHS, validation_data=validation, callbacks=callbacks, strategy=strategy, verbose=0
    )
    with io.atomic_path(os.path.join(work, "weights.npz")) as tmp:
        np.savez(tmp, **weights_dict(model))
    write_json(
        os.path.join(args.work_dir, "result.json"),
        {"epochs_run": len(history.history["loss"]), "history_epochs": history.epoch, "loss": history.history["loss"]},
    )


if __name__ == "__main__":
    main()
