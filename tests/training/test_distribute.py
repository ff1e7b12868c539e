"""Strategy handling: choice of strategy (default on one device), batch sizes, datasets; Mirrored and multi-worker runs."""

import json
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras.training import distribute
from tests.workers.common import flipped_validation_data
from tests.workers.events import read_scalars
from tests.workers.launch import TIMEOUT_S, finish, free_ports, kill_all, load_weights, read_json, start, worker_env

TWO_WORKERS = {
    "cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
    "task": {"type": "worker", "index": 1},
}


@pytest.fixture
def no_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


@pytest.mark.parametrize(
    "tf_config, expected",
    [
        (None, 0),
        ("", 0),
        (TWO_WORKERS, 2),
        (json.dumps(TWO_WORKERS), 2),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]}}, 3),
        ({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, 1),
    ],
)
def test_num_workers(no_tf_config, tf_config, expected):
    assert distribute.num_workers(tf_config) == expected


def test_num_workers_reads_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    assert distribute.num_workers() == 2


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_bad_tf_config_raises(bad):
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.num_workers(bad)


def test_one_device_gives_the_default_strategy(no_tf_config):
    if len(tf.config.list_logical_devices("GPU")) > 1:
        pytest.skip("several GPUs: get_strategy() is a MirroredStrategy (tested with fake devices below)")
    strategy = distribute.get_strategy()
    assert strategy is tf.distribute.get_strategy()  # TensorFlow's default: no MirroredStrategy on one device
    assert not isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert distribute.is_chief(strategy)
    assert not distribute.is_multi_worker(strategy)
    assert distribute.global_batch_size(64, strategy) == 64


def test_single_worker_tf_config_gives_the_default_strategy(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 0}}))
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [])
    assert distribute.get_strategy() is tf.distribute.get_strategy()


class _FakeDevice:
    def __init__(self, name):
        self.name = name


@pytest.mark.parametrize("gpus, mirrored", [(0, False), (1, False), (2, True), (4, True)])
def test_mirrored_only_over_several_gpus(no_tf_config, monkeypatch, gpus, mirrored):
    devices = [_FakeDevice(f"/device:GPU:{i}") for i in range(gpus)]
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: devices if kind == "GPU" else [])
    made = []
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", lambda names: made.append(names) or "mirrored")
    strategy = distribute.get_strategy()
    if mirrored:
        assert strategy == "mirrored" and made == [[d.name for d in devices]]
    else:
        assert strategy is tf.distribute.get_strategy() and made == []


def test_default_strategy_trains_with_steps_per_execution(no_tf_config):
    # DeepFMModel.compile reads the replicas of the strategy its model was built under: one here, so 32 steps.
    from deepfm_keras import CategoricalFeature, build_deepfm

    strategy = distribute.get_strategy()
    with strategy.scope():
        model = build_deepfm([CategoricalFeature("u", 20)], embedding_dim=4, hidden_units=(8,))
        model.compile(optimizer="adam", loss="binary_crossentropy")
    assert model.distribute_strategy is strategy
    assert model.steps_per_execution == 32
    x = {"u": np.arange(2, 18, dtype="int32").repeat(8)}
    y = (x["u"] % 2).astype("float32")
    data = distribute.prepare_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), strategy)
    history = model.fit(data, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_passed_strategy_is_used_as_is():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert distribute.get_strategy(strategy) is strategy
    with pytest.raises(TypeError, match="`strategy` should be a tf.distribute.Strategy"):
        distribute.get_strategy("mirrored")


def test_global_batch_size():
    strategy = distribute.get_strategy(tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert distribute.global_batch_size(64, strategy) == 64 * strategy.num_replicas_in_sync
    assert distribute.global_batch_size(8) == 8  # default strategy: one replica
    for bad in (0, -3, 2.5, True, "8"):
        with pytest.raises(ValueError, match="`per_replica_batch_size` should be a positive integer"):
            distribute.global_batch_size(bad, strategy)


def test_prepare_dataset():
    strategy = distribute.get_strategy(tf.distribute.MirroredStrategy(["/cpu:0"]))
    dataset = distribute.prepare_dataset(tf.data.Dataset.range(10).batch(4), strategy)
    # One worker: no sharding (the data-sharding policy is set under multi-worker, tested below).
    assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.AUTO
    assert [b.tolist() for b in dataset.as_numpy_iterator()] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(TypeError, match="`dataset` should be a tf.data.Dataset"):
        distribute.prepare_dataset(np.arange(4))


def test_epoch_logs_come_from_the_metric_state(no_tf_config):
    # multi_worker_fit's epoch logs: the metrics' (all-reduced) state, not what the last step returned;
    # a step returning other keys (a custom train_step) gives those outputs.
    strategy = distribute.get_strategy()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(loss="mse", metrics=["mae"])
    x = np.arange(8, dtype="float32").reshape(-1, 1)
    expected = model.evaluate(x, 2 * x, batch_size=3, verbose=0, return_dict=True)
    assert expected == pytest.approx({"loss": np.mean(x**2), "mae": np.mean(x)})
    stale = {"loss": tf.constant(-1.0), "mae": tf.constant(-1.0)}
    assert distribute._global_logs(model, stale, strategy) == pytest.approx(expected)
    assert distribute._global_logs(model, {"custom": tf.constant(3.0)}, strategy) == {"custom": 3.0}


# Mirrored over 2 replicas: the global batch is split in two halves whose gradients are
# all-reduced (summed) instead of one gradient over the whole batch; only float32 rounding
# differs. Observed: losses equal to 1e-7 relative and weights to 9e-8 after 4 epochs.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_single_device(tmp_path):
    finish(start("mirrored.py", tmp_path, log=tmp_path / "log.txt"))
    result = read_json(tmp_path / "result.json")
    assert result["replicas"] == 2 and len(result["devices"]) == 2
    # DeepFMModel.compile's default: 32 steps per execution on one replica, 1 on several (Keras fails there).
    assert result["steps_per_execution"] == {"single": 32, "mirrored": 1}
    single, mirrored = np.array(result["single_loss"]), np.array(result["mirrored_loss"])
    assert single[-1] < single[0]  # it trains
    np.testing.assert_allclose(mirrored, single, rtol=LOSS_RTOL)
    assert result["max_weight_diff"] < WEIGHT_ATOL

    # ContributionLogger next to TensorBoard under MirroredStrategy: one value per epoch.
    scalars = read_scalars(tmp_path / "logs" / "contributions")
    epochs = len(single)
    for i, part in enumerate(("fm_1d", "fm_2d", "deep")):
        assert [step for step, _ in scalars[f"contribution/{part}"]] == list(range(epochs))
        assert scalars[f"contribution/{part}"][-1][1] == pytest.approx(result["combine"]["kernel"][i], abs=1e-6)
    assert scalars["contribution/bias"][-1][1] == pytest.approx(result["combine"]["bias"], abs=1e-6)
    assert (tmp_path / "logs" / "train").is_dir()


def run_two_workers(script, tmp_path, *args, timeout=TIMEOUT_S):
    """Runs `script OUT_PREFIX SHARED_DIR *args` as the two workers of a loopback cluster; fails past `timeout`."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            procs.append(
                start(
                    script,
                    tmp_path / f"worker{index}",
                    tmp_path / "shared",
                    *args,
                    env=worker_env(TF_CONFIG=tf_config),
                    log=tmp_path / f"worker{index}.log",
                )
            )
        deadline = time.monotonic() + timeout
        for proc in procs:
            finish(proc, timeout=max(1.0, deadline - time.monotonic()))
    finally:
        kill_all(procs)


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_weights(tmp_path):
    run_two_workers("multi_worker.py", tmp_path)

    results = [read_json(tmp_path / f"worker{i}.json") for i in range(2)]
    assert [r["multi_worker"] for r in results] == [True, True]
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["chief"] for r in results] == [True, False]
    assert {r["shard_policy"] for r in results} == {str(tf.data.experimental.AutoShardPolicy.DATA)}
    for r in results:
        assert r["epochs"] == [0, 1, 2]
        assert r["history"]["loss"][-1] < r["history"]["loss"][0]
        assert len(r["history"]["val_loss"]) == 3
    first, second = (load_weights(tmp_path / f"worker{i}.npz") for i in range(2))
    assert len(first) == len(second) > 0
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)

    # Only the chief wrote the shared outputs; the other worker wrote to a scratch directory,
    # removed at the end like the backups.
    assert [r["scratch_dirs"] for r in results] == [0, 1]
    assert results[1]["scratch_left"] == []
    shared = tmp_path / "shared"
    assert sorted(p.name for p in shared.iterdir()) == ["best.keras", "logs"]
    assert sorted(p.name for p in (shared / "logs").iterdir()) == ["contributions", "train", "validation"]
    assert len(list((shared / "logs" / "contributions").iterdir())) == 1  # one events file
    scalars = read_scalars(shared / "logs" / "contributions")
    assert [step for step, _ in scalars["contribution/deep"]] == [0, 1, 2]
    assert [value for _, value in scalars["contribution/deep"]][-1] == pytest.approx(results[0]["combine_kernel"][2])


@pytest.mark.slow
def test_multi_worker_early_stopping_and_lr_decisions_agree(tmp_path):
    # Worker 0 evaluates the validation rows labelled as in training, worker 1 the flipped ones:
    # on its own shard alone, worker 1's val_loss rises from epoch 1 while worker 0's falls,
    # and the two would stop (and halve the learning rate) at different epochs.
    run_two_workers("plateau.py", tmp_path)
    results = [read_json(tmp_path / f"worker{i}.json") for i in range(2)]
    first, second = results
    assert [r["chief"] for r in results] == [True, False]
    x, y, flipped = flipped_validation_data(first["val_batches"], first["global_batch_size"])
    assert first["val_rows"] == np.flatnonzero(~flipped).tolist()
    assert second["val_rows"] == np.flatnonzero(flipped).tolist()

    # The callbacks saw the same logs, so they decided the same on both workers.
    assert first["history"] == second["history"]
    assert first["epochs"] == second["epochs"]
    assert first["epoch_learning_rates"] == second["epoch_learning_rates"]
    history = first["history"]
    val_loss = history["val_loss"]
    best = int(np.argmin(val_loss))
    stop = first["epochs"][-1]
    assert stop == best + first["patience"] < first["max_epochs"] - 1  # early stopping ended the run
    lrs = first["epoch_learning_rates"]
    assert lrs[-1] < lrs[0]  # ReduceLROnPlateau reduced the learning rate
    assert history["learning_rate"] == pytest.approx(lrs)

    # The logged val_loss / val_auc are those of the whole validation set: the chief's best
    # checkpoint (the best epoch's weights) evaluated here on all rows, and not on either shard.
    model = keras.saving.load_model(tmp_path / "shared" / "best.keras")
    whole = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert history["val_loss"][best] == pytest.approx(whole["loss"], rel=1e-5)
    assert history["val_auc"][best] == pytest.approx(whole["auc"], abs=1e-4)
    own = [model.evaluate({k: v[rows] for k, v in x.items()}, y[rows], verbose=0, return_dict=True)
           for rows in (~flipped, flipped)]  # fmt: skip
    assert own[0]["loss"] < whole["loss"] - 0.01 < whole["loss"] + 0.01 < own[1]["loss"]
    assert own[0]["auc"] > whole["auc"] + 0.1 > whole["auc"] - 0.1 > own[1]["auc"]

    # The chief's TensorBoard logged the same epochs, values and learning rates.
    shared = tmp_path / "shared"
    assert sorted(p.name for p in shared.iterdir()) == ["best.keras", "logs"]
    validation = read_scalars(shared / "logs" / "validation")
    assert [step for step, _ in validation["epoch_loss"]] == first["epochs"]
    assert [value for _, value in validation["epoch_loss"]] == pytest.approx(val_loss, rel=1e-6)
    train = read_scalars(shared / "logs" / "train")
    assert [value for _, value in train["epoch_learning_rate"]] == pytest.approx(lrs, rel=1e-6)


@pytest.mark.slow
def test_multi_worker_stop_set_on_one_worker_stops_all(tmp_path):
    # A callback on worker 1 alone sets model.stop_training after epoch 0 (early stopping would not).
    run_two_workers("plateau.py", tmp_path, "--no-best-model", "--stop-worker-1-after", "0")
    results = [read_json(tmp_path / f"worker{i}.json") for i in range(2)]
    assert [r["epochs"] for r in results] == [[0], [0]]
    assert results[0]["history"] == results[1]["history"]
