"""One worker of a MultiWorkerMirroredStrategy run whose validation shards disagree; the cluster comes from TF_CONFIG.

Usage: TF_CONFIG=... python plateau.py OUT_PREFIX SHARED_DIR [--no-best-model] [--stop-worker-1-after EPOCH]

The validation set (`common.flipped_validation_data`) has `VAL_BATCHES` global batches whose
second halves have flipped labels. TensorFlow splits every global batch between the two
workers, so worker 0 evaluates the rows labelled as in training (its own val_loss falls as
the model learns) and worker 1 the flipped rows (its own val_loss rises). Trains up to
`EPOCHS` epochs with `make_callbacks` (TensorBoard, best model, early stopping with patience
`PATIENCE`, all writing under SHARED_DIR; --no-best-model leaves the checkpoint out) and a
`ReduceLROnPlateau` with patience 1, all on val_loss. --stop-worker-1-after EPOCH adds, on
worker 1 only, a callback that sets `model.stop_training` at the end of that epoch, as a
callback acting on one worker's own state would. Each epoch end appends a JSON line
(epoch, the learning rate the epoch trained with, the logs the callbacks got) to
OUT_PREFIX.epochs.jsonl, so a run that crashes or hangs still shows what each worker saw. At
the end it writes OUT_PREFIX.json: the history, those learning rates, and the validation
rows this worker evaluated.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, flipped_validation_data, make_data, write_json  # noqa: E402

from deepfm_keras.training import fit, make_callbacks, set_seed  # noqa: E402
from deepfm_keras.training.distribute import get_strategy, global_batch_size, is_chief, prepare_dataset  # noqa: E402

EPOCHS = 12
PATIENCE = 2
VAL_BATCHES = 4


class EpochRecord(keras.callbacks.Callback):
    """Appends `{"epoch", "lr", "logs"}` to a JSON-lines file at each epoch end; keeps the learning rates."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.lrs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch, "lr": self.lrs[-1], "logs": {k: float(v) for k, v in (logs or {}).items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class StopAfter(keras.callbacks.Callback):
    """Sets `model.stop_training` at the end of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


def shard_rows(n, batch_size, strategy):
    """The row numbers of an `n`-row dataset batched at `batch_size` that this worker gets from `fit`'s split."""
    rows = strategy.experimental_distribute_dataset(
        prepare_dataset(tf.data.Dataset.range(n).batch(batch_size), strategy)
    )
    return sorted(int(i) for batch in rows for part in strategy.experimental_local_results(batch) for i in part)


def main(out_prefix, shared_dir, best_model, stop_worker_1_after):
    strategy = get_strategy()  # MultiWorkerMirroredStrategy: created first, before other ops
    set_seed(0)
    with strategy.scope():
        model = build_model(metrics=[keras.metrics.AUC(name="auc")])
    batch = global_batch_size(32, strategy)
    inputs, labels = make_data(n=512)
    train = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch)
    val_inputs, val_labels, _ = flipped_validation_data(VAL_BATCHES, batch)
    val = tf.data.Dataset.from_tensor_slices((val_inputs, val_labels)).batch(batch)
    callbacks = make_callbacks(
        log_dir=os.path.join(shared_dir, "logs"),
        best_model_path=os.path.join(shared_dir, "best.keras") if best_model else None,
        early_stopping_patience=PATIENCE,
        strategy=strategy,
    )
    record = EpochRecord(f"{out_prefix}.epochs.jsonl")
    callbacks.insert(0, record)  # first: it writes the logs down before any callback acts on them
    callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=1, min_lr=1e-4))
    if stop_worker_1_after is not None and strategy.cluster_resolver.task_id == 1:
        callbacks.append(StopAfter(stop_worker_1_after))
    history = fit(model, train, epochs=EPOCHS, validation_data=val, callbacks=callbacks, strategy=strategy)
    write_json(
        f"{out_prefix}.json",
        {
            "chief": is_chief(strategy),
            "max_epochs": EPOCHS,
            "patience": PATIENCE,
            "global_batch_size": batch,
            "val_batches": VAL_BATCHES,
            "epochs": history.epoch,
            "history": history.history,
            "epoch_learning_rates": record.lrs,
            "val_rows": shard_rows(len(val_labels), batch, strategy),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out_prefix")
    parser.add_argument("shared_dir")
    parser.add_argument("--no-best-model", action="store_true")
    parser.add_argument("--stop-worker-1-after", type=int, default=None)
    args = parser.parse_args()
    main(
        args.out_prefix,
        args.shared_dir,
        best_model=not args.no_best_model,
        stop_worker_1_after=args.stop_worker_1_after,
    )
