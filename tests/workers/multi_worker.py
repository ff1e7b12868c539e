"""One worker of a MultiWorkerMirroredStrategy run; the cluster comes from TF_CONFIG.

Usage: TF_CONFIG=... python multi_worker.py OUT_PREFIX SHARED_DIR. Trains 3 epochs with
validation and `make_callbacks` (TensorBoard + contributions, backup, best model, early
stopping) writing under SHARED_DIR, as every worker of a real cluster would; writes
OUT_PREFIX.npz (final weights) and OUT_PREFIX.json (strategy, replicas, logs).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras.training import fit, make_callbacks, set_seed  # noqa: E402
from deepfm_keras.training.distribute import get_strategy, global_batch_size, is_chief, is_multi_worker, prepare_dataset  # noqa: E402

EPOCHS = 3


def main(out_prefix, shared_dir):
    strategy = get_strategy()  # MultiWorkerMirroredStrategy: created first, before other ops
    set_seed(0)
    with strategy.scope():
        model = build_model()
    batch = global_batch_size(32, strategy)
    inputs, labels = make_data(n=512)
    train = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch)
    val_inputs, val_labels = make_data(n=128, seed=1)
    val = tf.data.Dataset.from_tensor_slices((val_inputs, val_labels)).batch(batch)
    callbacks = make_callbacks(
        log_dir=os.path.join(shared_dir, "logs"),
        contribution_data={k: v[:64] for k, v in val_inputs.items()},
        backup_dir=os.path.join(shared_dir, "backup"),
        best_model_path=os.path.join(shared_dir, "best.keras"),
        early_stopping_patience=5,
        strategy=strategy,
    )
    history = fit(model, train, epochs=EPOCHS, validation_data=val, callbacks=callbacks, strategy=strategy)
    scratch = [c.path for c in callbacks if type(c).__name__ == "_RemoveAtTrainEnd"]
    np.savez(f"{out_prefix}.npz", **weights_dict(model))
    combine = model.get_layer("combine")
    write_json(
        f"{out_prefix}.json",
        {
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "chief": is_chief(strategy),
            "multi_worker": is_multi_worker(strategy),
            "shard_policy": str(prepare_dataset(train, strategy).options().experimental_distribute.auto_shard_policy),
            "epochs": history.epoch,
            "scratch_dirs": len(scratch),
            "scratch_left": [p for p in scratch if os.path.exists(p)],
            "history": history.history,
            "combine_kernel": np.asarray(combine.kernel.numpy()).reshape(-1).tolist(),
        },
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
