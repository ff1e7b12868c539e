"""A training run that can be killed and started again (BackupAndRestore).

Usage: python resumable.py WORK_DIR [--hang-at-epoch N] [--no-backup]

Trains 4 epochs with `make_callbacks(backup_dir=WORK_DIR/backup)`, appending
"<pid> begin <epoch>" / "<pid> end <epoch>" lines to WORK_DIR/epochs.log. With
--hang-at-epoch N it writes WORK_DIR/hanging after the second batch of epoch N
(0-based) and sleeps, for the test to SIGKILL it. At the end it writes
WORK_DIR/weights.npz and WORK_DIR/result.json.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras.distribute import get_strategy, global_batch_size  # noqa: E402
from deepfm_keras.training import fit, make_callbacks, set_seed  # noqa: E402

EPOCHS = 4


class EpochLog(keras.callbacks.Callback):
    def __init__(self, path, hang_at_epoch, marker):
        super().__init__()
        self.path, self.hang_at_epoch, self.marker = path, hang_at_epoch, marker
        self.epoch = None

    def _log(self, what):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()} {what}\n")

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work_dir")
    parser.add_argument("--hang-at-epoch", type=int, default=None)
    parser.add_argument("--no-backup", action="store_true")
    args = parser.parse_args()

    set_seed(0)
    strategy = get_strategy()
    with strategy.scope():
        model = build_model()
    inputs, labels = make_data(n=256)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(global_batch_size(32, strategy))
    callbacks = make_callbacks(backup_dir=None if args.no_backup else os.path.join(args.work_dir, "backup"))
    callbacks.append(
        EpochLog(os.path.join(args.work_dir, "epochs.log"), args.hang_at_epoch, os.path.join(args.work_dir, "hanging"))
    )
    history = fit(model, dataset, epochs=EPOCHS, callbacks=callbacks, strategy=strategy, verbose=0)
    np.savez(os.path.join(args.work_dir, "weights.npz"), **weights_dict(model))
    write_json(
        os.path.join(args.work_dir, "result.json"),
        {"epochs_run": len(history.history["loss"]), "history_epochs": history.epoch, "loss": history.history["loss"]},
    )


if __name__ == "__main__":
    main()
