"""The in-graph batch checks hold wherever the step is compiled: with and without XLA, several steps per execution.

XLA compiles a `tf.debugging.Assert` to nothing, so each test here fails if a
check were left inside the XLA-compiled step: the bad batch would train.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext

from deepfm_keras import CategoricalFeature, NumericFeature, build_deepfm
from deepfm_keras.checks.graph import assert_batch, assert_sample_weights
from deepfm_keras.validation import model_fields

SPEC = [CategoricalFeature("u", 10), NumericFeature("x")]
BATCH, BATCHES = 4, 5
BAD = 2  # the bad batch is the 3rd of 5: with 4 steps per execution, in the middle of the first execution
CASES = {
    "binary label 5": r"Labels of a batch should be 0 or 1",
    "id out of range": r"ids outside \[0, vocabulary_size\)(.|\n)*in field\(s\):\] \[u\]",
    "NaN sample weight": r"Sample weights of a batch should be finite and >= 0",
}


def batches(case=None) -> tf.data.Dataset:
    """`BATCHES` batches of `(x, y, sample_weight)`; with a `case`, row 1 of batch `BAD` holds that bad value."""
    rows = BATCH * BATCHES
    x = {"u": np.arange(rows) % 10, "x": np.linspace(-1, 1, rows, dtype="float32")}
    y = (np.arange(rows) % 2).astype("float32")
    w = np.ones(rows, "float32")
    row = BAD * BATCH + 1
    if case == "binary label 5":
        y[row] = 5.0
    elif case == "id out of range":
        x["u"][row] = 10
    elif case == "NaN sample weight":
        w[row] = np.nan
    return tf.data.Dataset.from_tensor_slices((x, y, w)).batch(BATCH)


def make_model(jit_compile, steps_per_execution, optimizer="adam"):
    keras.utils.set_random_seed(0)  # every model of a test starts from the same weights
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    if optimizer == "sgd":
        optimizer = keras.optimizers.SGD(momentum=0.9)  # a stock optimizer, with a slot per weight
    model.compile(optimizer, "binary_crossentropy", jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    assert model.jit_compile is jit_compile
    return model


def state(model) -> list[np.ndarray]:
    """Every weight and every optimizer variable (slots and the step counter `iterations`)."""
    return [keras.ops.convert_to_numpy(v).copy() for v in [*model.weights, *model.optimizer.variables]]


def assert_same_state(model, reference):
    got, expected = state(model), state(reference)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)  # bit-identical (NaN where NaN)


def assert_bad_batch_updates_nothing(jit_compile, steps_per_execution, case, optimizer="adam"):
    """The guarantee: the batches before the bad one have trained (as one step per execution would), nothing after."""
    reference = make_model(jit_compile, steps_per_execution, optimizer)
    reference.fit(batches().take(BAD), verbose=0)
    model = make_model(jit_compile, steps_per_execution, optimizer)
    with pytest.raises(tf.errors.InvalidArgumentError, match=CASES[case]):
        model.fit(batches(case), verbose=0)
    assert int(model.optimizer.iterations.numpy()) == BAD
    assert_same_state(model, reference)
    with pytest.raises(tf.errors.InvalidArgumentError, match=CASES[case]):
        model.evaluate(batches(case), verbose=0)
    assert_same_state(model, reference)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("steps_per_execution", [1, 4])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_bad_batch_updates_nothing_with_a_row_sparse_optimizer(jit_compile, steps_per_execution, case):
    assert_bad_batch_updates_nothing(jit_compile, steps_per_execution, case)  # "adam": LazyAdam


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_a_bad_batch_updates_nothing_with_a_stock_optimizer_under_xla(steps_per_execution, case):
    """What Keras' `jit_compile="auto"` does on a GPU with a stock optimizer."""
    assert_bad_batch_updates_nothing(True, steps_per_execution, case, optimizer="sgd")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_bad_batch_updates_nothing_under_a_mirrored_strategy(jit_compile):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    models = []
    for _ in range(2):
        with strategy.scope():
            models.append(make_model(jit_compile, 4))
    reference, model = models
    reference.fit(batches().take(BAD), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=CASES["binary label 5"]):
        model.fit(batches("binary label 5"), verbose=0)
    assert_same_state(model, reference)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_step_is_compiled_by_xla_with_jit_compile_and_trains_on_good_batches(monkeypatch, jit_compile):
    """Keras compiles the step itself with XLA (no silent fallback), and good batches train there."""
    compiled = []
    train_step, test_step = keras.Model.train_step, keras.Model.test_step

    def spy(step):
        def traced(self, data):
            compiled.append(GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
            return step(self, data)

        return traced

    monkeypatch.setattr(keras.Model, "train_step", spy(train_step))
    monkeypatch.setattr(keras.Model, "test_step", spy(test_step))
    model = make_model(jit_compile, 4, optimizer="sgd")
    before = state(model)
    model.fit(batches(), verbose=0)
    model.evaluate(batches(), verbose=0)
    x = {"u": np.arange(8) % 10, "x": np.zeros(8, "float32")}
    model.fit(x, np.zeros(8), batch_size=4, verbose=0)  # arrays too (checked before, and in the graph)
    assert compiled and set(compiled) == {jit_compile}
    assert int(model.optimizer.iterations.numpy()) == BATCHES + 2
    assert not np.array_equal(state(model)[0], before[0])


def test_xla_drops_an_assert_so_the_checks_refuse_to_be_compiled():
    """Why the model checks before the compiled step: inside XLA a failing Assert lets the update run."""
    total = tf.Variable(0.0)

    @tf.function(jit_compile=True)
    def step(x):
        check = tf.debugging.Assert(tf.reduce_all(x < 2.0), ["x should be < 2"])
        with tf.control_dependencies([check]):
            total.assign_add(tf.reduce_sum(x))

    step(tf.constant([1.0, 5.0]))  # no error
    assert total.numpy() == 6.0

    fields = model_fields(build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,)))
    batch = {"u": tf.constant([[1]], tf.int64), "x": tf.constant([[0.5]])}
    with pytest.raises(RuntimeError, match="inside a function compiled with XLA"):
        tf.function(lambda: assert_batch(fields, batch, tf.constant([[1.0]]), task="binary"), jit_compile=True)()
    with pytest.raises(RuntimeError, match="inside a function compiled with XLA"):
        tf.function(lambda: assert_sample_weights(tf.constant([1.0])), jit_compile=True)()
    x, y = tf.function(lambda: assert_batch(fields, batch, tf.constant([[1.0]]), task="binary"))()
    assert x["u"].numpy().tolist() == [[1]] and y.numpy().tolist() == [[1.0]]
