"""Trains the same model on 1 device and under MirroredStrategy over 2 logical CPUs.

Usage: python mirrored.py OUT_DIR. Writes OUT_DIR/result.json with both loss
trajectories and the largest final weight difference; the mirrored run also logs
contributions (ContributionLogger) and TensorBoard events under OUT_DIR/logs.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Logical devices must be configured before TensorFlow initialises its devices.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
from common import build_model, make_data, weights_dict, write_json  # noqa: E402

from deepfm_keras.training.callbacks import ContributionLogger  # noqa: E402
from deepfm_keras.training.distribute import get_strategy, global_batch_size, prepare_dataset  # noqa: E402

EPOCHS = 4
PER_REPLICA = 32


def run(strategy, initial, log_dir=None):
    with strategy.scope():
        model = build_model(steps_per_execution=None)  # the compile default, which depends on the replicas
        model.set_weights(initial)
    inputs, labels = make_data()
    batch = global_batch_size(PER_REPLICA * 2 // strategy.num_replicas_in_sync, strategy)
    dataset = prepare_dataset(tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch), strategy)
    callbacks = []
    if log_dir:
        fixed = {k: v[:128] for k, v in inputs.items()}
        callbacks = [keras.callbacks.TensorBoard(log_dir), ContributionLogger(log_dir, validation_data=fixed)]
    history = model.fit(dataset, epochs=EPOCHS, verbose=0, shuffle=False, callbacks=callbacks)
    combine = model.get_layer("combine")
    return (
        model,
        history.history["loss"],
        {
            "kernel": np.asarray(combine.kernel.numpy()).reshape(-1).tolist(),
            "bias": float(np.asarray(combine.bias.numpy()).reshape(-1)[0]),
        },
    )


def main(out_dir):
    keras.utils.set_random_seed(0)
    initial = build_model().get_weights()
    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    single, single_loss, _ = run(tf.distribute.OneDeviceStrategy(logical[0]), initial)
    mirrored_strategy = get_strategy(tf.distribute.MirroredStrategy(logical))
    mirrored, mirrored_loss, combine = run(mirrored_strategy, initial, os.path.join(out_dir, "logs"))
    a, b = weights_dict(single), weights_dict(mirrored)
    write_json(
        os.path.join(out_dir, "result.json"),
        {
            "devices": logical,
            "replicas": mirrored_strategy.num_replicas_in_sync,
            "steps_per_execution": {"single": single.steps_per_execution, "mirrored": mirrored.steps_per_execution},
            "single_loss": single_loss,
            "mirrored_loss": mirrored_loss,
            "max_weight_diff": max(float(np.max(np.abs(a[k] - b[k]))) for k in a),
            "combine": combine,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1])
