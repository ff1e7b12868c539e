"""One worker of a MultiWorkerMirroredStrategy run; the cluster comes from TF_CONFIG.

Usage: TF_CONFIG=... python multi_worker.py OUT_PREFIX. Writes OUT_PREFIX.npz (final
weights) and OUT_PREFIX.json (strategy, replicas, losses).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras.distribute import get_strategy, global_batch_size, is_chief, is_multi_worker, prepare_dataset  # noqa: E402
from deepfm_keras.training import fit, set_seed  # noqa: E402

EPOCHS = 3


def main(out_prefix):
    strategy = get_strategy()  # MultiWorkerMirroredStrategy: created first, before other ops
    set_seed(0)
    with strategy.scope():
        model = build_model()
    inputs, labels = make_data(n=512)
    batch = global_batch_size(32, strategy)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch)
    dataset = prepare_dataset(dataset, strategy)
    history = fit(model, dataset, epochs=EPOCHS, strategy=strategy)
    np.savez(f"{out_prefix}.npz", **weights_dict(model))
    write_json(
        f"{out_prefix}.json",
        {
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "chief": is_chief(strategy),
            "multi_worker": is_multi_worker(strategy),
            "loss": history.history["loss"],
        },
    )


if __name__ == "__main__":
    main(sys.argv[1])
