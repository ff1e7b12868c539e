"""Row-sparse optimizers: numbers against Keras' dense optimizers and NumPy, sparsity, state, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, NumericFeature, build_deepfm
from deepfm_keras.layers import CategoricalEmbedding
from deepfm_keras.optimizers import (
    LazyAdam,
    RowSparseOptimizer,
    RowWiseAdagrad,
    SparseAdagrad,
    SparseFtrl,
    SparseSGD,
    get,
    mark_row_sparse,
)
from tests.helpers import save_and_load

ROWS, DIM = 7, 3


def _table(seed: int = 0, row_sparse: bool = True, rows: int = ROWS) -> keras.Variable:
    values = np.random.default_rng(seed).normal(size=(rows, DIM)).astype("float32")
    variable = keras.Variable(values, name="table")
    if row_sparse:
        mark_row_sparse(variable)
    return variable


def _sparse_grad(variable, ids) -> tf.IndexedSlices:
    """Gradient of sum_i w_i * <table[ids_i], c> through a row lookup: IndexedSlices with repeated ids."""
    ids = tf.constant(ids, tf.int64)
    weights = tf.reshape(tf.range(1, len(ids) + 1, dtype=tf.float32), (-1, 1))
    with tf.GradientTape() as tape:
        rows = tf.gather(variable.value, ids)
        loss = tf.reduce_sum(rows * weights * tf.constant([[1.0, -2.0, 0.5]]))
    grad = tape.gradient(loss, variable.value)
    assert isinstance(grad, tf.IndexedSlices)
    return grad


def _run(optimizer, batches, seed=0, dense=False, row_sparse=True):
    """Applies one step per batch of ids; returns the table and the optimizer."""
    variable = _table(seed, row_sparse=row_sparse)
    optimizer.build([variable])
    for ids in batches:
        grad = _sparse_grad(variable, ids)
        optimizer.apply([tf.convert_to_tensor(grad) if dense else grad], [variable])
    return variable.numpy(), optimizer


ALL_ROWS = [[0, 1, 2, 3, 4, 5, 6, 2], [6, 5, 4, 3, 2, 1, 0, 0, 0], [3, 1, 0, 2, 4, 6, 5]]
SOME_ROWS = [[1, 3, 3], [3, 5], [1, 1, 6]]


@pytest.mark.parametrize(
    "sparse, dense",
    [
        (lambda: LazyAdam(0.05), lambda: keras.optimizers.Adam(0.05)),
        (lambda: SparseAdagrad(0.1), lambda: keras.optimizers.Adagrad(0.1)),
        (lambda: SparseSGD(0.1, momentum=0.9), lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
        (
            lambda: SparseSGD(0.1, momentum=0.9, nesterov=True),
            lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        ),
        (
            lambda: SparseFtrl(0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.02, beta=0.1),
            lambda: keras.optimizers.Ftrl(
                0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.02, beta=0.1
            ),
        ),
    ],
    ids=["adam", "adagrad", "momentum", "nesterov", "ftrl"],
)
def test_equals_keras_when_every_row_is_in_every_batch(sparse, dense):
    ours, _ = _run(sparse(), ALL_ROWS)
    theirs, _ = _run(dense(), ALL_ROWS, dense=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "sparse, dense",
    [
        (lambda: SparseAdagrad(0.1), lambda: keras.optimizers.Adagrad(0.1)),
        (lambda: SparseSGD(0.1), lambda: keras.optimizers.SGD(0.1)),
    ],
    ids=["adagrad", "sgd"],
)
def test_equals_keras_for_any_rows_where_keras_is_lazy_by_nature(sparse, dense):
    ours, _ = _run(sparse(), SOME_ROWS)
    theirs, _ = _run(dense(), SOME_ROWS, dense=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def _numpy_lazy_adam(table, batches, lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    table = table.copy()
    m, v = np.zeros_like(table), np.zeros_like(table)
    coefficient = np.array([1.0, -2.0, 0.5], "float32")
    for step, ids in enumerate(batches, start=1):
        grad = np.zeros_like(table)
        for position, i in enumerate(ids, start=1):  # the duplicates of an id add up
            grad[i] += position * coefficient
        alpha = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        for i in sorted(set(ids)):  # only the rows in the batch move, and only their moments decay
            m[i] = beta_1 * m[i] + (1 - beta_1) * grad[i]
            v[i] = beta_2 * v[i] + (1 - beta_2) * grad[i] ** 2
            table[i] -= alpha * m[i] / (np.sqrt(v[i]) + eps)
    return table, m, v


def test_lazy_adam_matches_a_numpy_lazy_adam_and_leaves_absent_rows_alone():
    start = _table().numpy()
    ours, optimizer = _run(LazyAdam(0.05), SOME_ROWS)
    expected, m, v = _numpy_lazy_adam(start, SOME_ROWS, 0.05)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    momentum, velocity = (s.numpy() for s in optimizer._slots(optimizer._trainable_variables[0]))
    np.testing.assert_allclose(momentum, m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(velocity, v, rtol=1e-5, atol=1e-9)
    untouched = [0, 2, 4]
    np.testing.assert_array_equal(ours[untouched], start[untouched])
    assert not momentum[untouched].any() and not velocity[untouched].any()
    # Stock Adam moves the absent rows too (their moments decay every step): the semantics differ.
    dense, _ = _run(keras.optimizers.Adam(0.05), SOME_ROWS, dense=True)
    assert not np.allclose(dense[[1, 3]], ours[[1, 3]])


def _merged_numpy_grad(shape, ids):
    """The dense gradient `_sparse_grad` gives for `ids`: the rows of repeated ids add up."""
    grad = np.zeros(shape, "float32")
    for position, i in enumerate(ids, start=1):
        grad[i] += position * np.array([1.0, -2.0, 0.5], "float32")
    return grad


# (constructor arguments, epsilon outside the root): Keras' placement, and FBGEMM's rowwise_adagrad
# (accumulator from 0, `lr * g / (sqrt(acc) + eps)`, FBGEMM's default eps).
ROW_WISE_VARIANTS = {
    "keras": ({"initial_accumulator_value": 0.1, "epsilon": 1e-7}, False),
    "fbgemm": ({"initial_accumulator_value": 0.0, "epsilon": 1e-8, "epsilon_outside_sqrt": True}, True),
}


@pytest.mark.parametrize("variant", ROW_WISE_VARIANTS)
def test_row_wise_adagrad_keeps_one_accumulator_per_row(variant):
    kwargs, outside = ROW_WISE_VARIANTS[variant]
    start = _table().numpy()
    ours, optimizer = _run(RowWiseAdagrad(0.1, **kwargs), SOME_ROWS)
    (accumulator,) = optimizer._slots(optimizer._trainable_variables[0])
    assert tuple(accumulator.shape) == (ROWS, 1)
    eps = kwargs["epsilon"]
    table, acc = start.copy(), np.full((ROWS, 1), kwargs["initial_accumulator_value"], "float32")
    for ids in SOME_ROWS:
        grad = _merged_numpy_grad(table.shape, ids)
        for i in set(ids):
            acc[i] += np.mean(grad[i] ** 2)
            denominator = np.sqrt(acc[i]) + eps if outside else np.sqrt(acc[i] + eps)
            table[i] -= 0.1 * grad[i] / denominator
    np.testing.assert_allclose(ours, table, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(accumulator.numpy(), acc, rtol=1e-5)
    np.testing.assert_array_equal(ours[[0, 2, 4]], start[[0, 2, 4]])


def test_row_wise_adagrad_epsilon_placement_changes_the_step_and_is_in_the_config():
    # A large epsilon makes the two placements far apart: sqrt(acc + 1) vs sqrt(acc) + 1.
    inside, _ = _run(RowWiseAdagrad(0.1, epsilon=1.0), SOME_ROWS)
    outside, optimizer = _run(RowWiseAdagrad(0.1, epsilon=1.0, epsilon_outside_sqrt=True), SOME_ROWS)
    assert not np.allclose(inside[[1, 3]], outside[[1, 3]], rtol=1e-3)
    assert RowWiseAdagrad().get_config()["epsilon_outside_sqrt"] is False
    config = keras.saving.serialize_keras_object(optimizer)
    assert config["config"]["epsilon_outside_sqrt"] is True
    assert keras.saving.deserialize_keras_object(config).epsilon_outside_sqrt is True
    with pytest.raises(ValueError, match="epsilon_outside_sqrt"):
        RowWiseAdagrad(epsilon_outside_sqrt="yes")


@pytest.mark.parametrize("outside", [False, True], ids=["keras", "fbgemm"])
def test_row_wise_adagrad_dense_gradient_uses_the_same_formula(outside):
    sparse, _ = _run(RowWiseAdagrad(0.1, epsilon_outside_sqrt=outside), ALL_ROWS)
    dense, _ = _run(RowWiseAdagrad(0.1, epsilon_outside_sqrt=outside), ALL_ROWS, dense=True)
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)


def test_row_wise_adagrad_is_element_wise_adagrad_for_unmarked_variables():
    ours, optimizer = _run(RowWiseAdagrad(0.1), ALL_ROWS, dense=True, row_sparse=False)
    theirs, _ = _run(keras.optimizers.Adagrad(0.1), ALL_ROWS, dense=True, row_sparse=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert tuple(optimizer._accumulators[0].shape) == (ROWS, DIM)


CLIPPING = {"clipnorm": 1.0, "clipvalue": 0.5, "global_clipnorm": 1.0}


@pytest.mark.parametrize(
    "make",
    [lambda **c: LazyAdam(0.05, **c), lambda **c: SparseSGD(0.1, momentum=0.9, **c), lambda **c: SparseFtrl(0.1, **c)],
    ids=["lazy_adam", "momentum", "ftrl"],
)
@pytest.mark.parametrize("option", CLIPPING)
def test_clipping_keeps_rows_outside_the_batch_bit_identical(option, make):
    optimizer = make(**{option: CLIPPING[option]})
    table = _table(rows=20)
    optimizer.build([table])
    start = table.numpy()
    optimizer.apply([_sparse_grad(table, [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 9])], [table])
    after_first = table.numpy()
    np.testing.assert_array_equal(after_first[10:], start[10:])
    optimizer.apply([_sparse_grad(table, [10, 11, 12, 12, 13, 14, 15, 16, 17, 18, 19])], [table])
    np.testing.assert_array_equal(table.numpy()[:10], after_first[:10])
    assert np.all(np.any(table.numpy()[10:] != after_first[10:], axis=1))


@pytest.mark.parametrize("option", CLIPPING)
def test_clipped_row_sparse_gradient_is_merged_and_stays_row_sparse(option):
    optimizer = LazyAdam(0.05, **{option: CLIPPING[option]})
    table = _table()
    optimizer.build([table])
    (clipped,) = optimizer._clip_gradients([_sparse_grad(table, [1, 3, 3, 1, 6])])
    assert isinstance(clipped, tf.IndexedSlices)
    assert sorted(clipped.indices.numpy().tolist()) == [1, 3, 6]  # one slice per distinct id


def _numpy_clip(option, value, grads):
    """Keras' clipping of dense arrays: per gradient norm, element-wise value, or the global norm."""
    if option == "clipnorm":
        return [g * value / max(np.linalg.norm(g), value) for g in grads]
    if option == "clipvalue":
        return [np.clip(g, -value, value) for g in grads]
    norm = np.sqrt(sum(np.sum(g.astype("float64") ** 2) for g in grads))
    return [g * min(1.0, value / norm) for g in grads]


@pytest.mark.parametrize("option", CLIPPING)
def test_clipped_lazy_adam_update_equals_numpy_merge_then_clip(option):
    lr, beta_1, beta_2, eps = 0.05, 0.9, 0.999, 1e-7
    table, bias = _table(), keras.Variable(np.array([0.5, -0.5, 1.0], "float32"), name="bias")
    optimizer = LazyAdam(lr, **{option: CLIPPING[option]})
    optimizer.build([table, bias])
    expected, expected_bias = table.numpy().astype("float64"), bias.numpy().astype("float64")
    m, v = np.zeros_like(expected), np.zeros_like(expected)
    bias_m, bias_v = np.zeros(3), np.zeros(3)
    for step, ids in enumerate(SOME_ROWS, start=1):
        bias_grad = np.array([0.3, -0.1, 0.2], "float32") * step
        optimizer.apply([_sparse_grad(table, ids), tf.constant(bias_grad)], [table, bias])
        grad, bias_grad = _numpy_clip(option, CLIPPING[option], [_merged_numpy_grad(expected.shape, ids), bias_grad])
        alpha = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        rows = sorted(set(ids))
        m[rows] = beta_1 * m[rows] + (1 - beta_1) * grad[rows]
        v[rows] = beta_2 * v[rows] + (1 - beta_2) * grad[rows] ** 2
        expected[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + eps)
        bias_m = beta_1 * bias_m + (1 - beta_1) * bias_grad
        bias_v = beta_2 * bias_v + (1 - beta_2) * bias_grad**2
        expected_bias -= alpha * bias_m / (np.sqrt(bias_v) + eps)
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), expected_bias, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", CLIPPING)
def test_clipping_of_dense_gradients_is_exactly_keras(option):
    def run(optimizer):
        rng = np.random.default_rng(5)
        kernel = keras.Variable(rng.normal(size=(4, 2)).astype("float32"), name="kernel")
        bias = keras.Variable(rng.normal(size=(2,)).astype("float32"), name="bias")
        for _ in range(3):
            grads = [tf.constant(rng.normal(size=(4, 2)) * 3, "float32"), tf.constant(rng.normal(size=2), "float32")]
            optimizer.apply(grads, [kernel, bias])
        return kernel.numpy(), bias.numpy()

    for ours, theirs in zip(
        run(LazyAdam(0.05, **{option: CLIPPING[option]})),
        run(keras.optimizers.Adam(0.05, **{option: CLIPPING[option]})),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, theirs)


FTRL_SETTINGS = {
    "shrinkage": dict(
        learning_rate=0.1,
        l1_regularization_strength=0.01,
        l2_regularization_strength=0.02,
        l2_shrinkage_regularization_strength=0.03,
        beta=0.1,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
    ),
    "power_0.7": dict(
        learning_rate=0.05,
        l1_regularization_strength=0.5,
        l2_regularization_strength=0.0,
        beta=0.0,
        learning_rate_power=-0.7,
        initial_accumulator_value=0.3,
    ),
    "sparsifying_l1": dict(
        learning_rate=0.2,
        l1_regularization_strength=3.0,
        l2_regularization_strength=0.1,
        l2_shrinkage_regularization_strength=0.2,
        beta=1.0,
        initial_accumulator_value=0.0,
    ),
}


@pytest.mark.parametrize("setting", FTRL_SETTINGS)
def test_sparse_ftrl_equals_tensorflow_sparse_ftrl_kernel(setting):
    kwargs = FTRL_SETTINGS[setting]
    table = _table()
    optimizer = SparseFtrl(**kwargs)
    optimizer.build([table])
    reference = optimizer.get_config()  # the kernel's arguments, Keras' defaults filled in
    lr, l1 = reference["learning_rate"], reference["l1_regularization_strength"]
    l2 = reference["l2_regularization_strength"] + reference["beta"] / (2 * lr)
    accumulator = np.full((ROWS, DIM), reference["initial_accumulator_value"], "float32")
    theirs = [tf.Variable(table.numpy()), tf.Variable(accumulator), tf.Variable(np.zeros((ROWS, DIM), "float32"))]
    unmerged = [tf.Variable(t) for t in theirs]
    kernel_args = {
        "lr": lr,
        "l1": l1,
        "l2": l2,
        "l2_shrinkage": reference["l2_shrinkage_regularization_strength"],
        "lr_power": reference["learning_rate_power"],
    }
    for ids in [*SOME_ROWS, ALL_ROWS[1]]:
        grad = _sparse_grad(table, ids)
        optimizer.apply([grad], [table])
        indices, positions = np.unique(grad.indices.numpy(), return_inverse=True)
        merged = tf.math.unsorted_segment_sum(grad.values, positions, len(indices))
        var, accum, linear = (t.handle for t in theirs)
        tf.raw_ops.ResourceSparseApplyFtrlV2(
            var=var, accum=accum, linear=linear, grad=merged, indices=indices, **kernel_args
        )
        var, accum, linear = (t.handle for t in unmerged)
        tf.raw_ops.ResourceSparseApplyFtrlV2(
            var=var, accum=accum, linear=linear, grad=grad.values, indices=grad.indices, **kernel_args
        )
    ours = [table.numpy(), *(s.numpy() for s in optimizer._slots(table))]
    for name, mine, kernel in zip(["table", "accumulator", "linear"], ours, theirs, strict=True):
        np.testing.assert_allclose(mine, kernel.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    # The kernel fed the unmerged duplicate ids takes one FTRL step per occurrence: not the same optimizer.
    assert not np.allclose(unmerged[0].numpy(), theirs[0].numpy(), atol=1e-3)


def test_sparse_ftrl_leaves_rows_outside_the_batch_where_dense_keras_ftrl_zeroes_them():
    start = _table().numpy()
    ours, _ = _run(SparseFtrl(0.1, l1_regularization_strength=0.01), [[1, 3, 3]])
    dense, _ = _run(keras.optimizers.Ftrl(0.1, l1_regularization_strength=0.01), [[1, 3, 3]], dense=True)
    np.testing.assert_array_equal(ours[[0, 2, 4, 5, 6]], start[[0, 2, 4, 5, 6]])
    assert not dense[[0, 2, 4, 5, 6]].any()
    np.testing.assert_allclose(ours[[1, 3]], dense[[1, 3]], rtol=1e-6)


def test_weight_decay_applies_to_touched_rows_only():
    start = _table().numpy()
    ours, _ = _run(SparseSGD(0.1, weight_decay=0.5), SOME_ROWS)
    np.testing.assert_array_equal(ours[[0, 2, 4]], start[[0, 2, 4]])
    without, _ = _run(SparseSGD(0.1), SOME_ROWS)
    assert not np.allclose(ours[[1, 3, 5, 6]], without[[1, 3, 5, 6]])


def test_weight_decay_respects_exclusions():
    optimizer = SparseSGD(0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["table"])
    ours, _ = _run(optimizer, SOME_ROWS)
    without, _ = _run(SparseSGD(0.1), SOME_ROWS)
    np.testing.assert_allclose(ours, without, rtol=1e-6)


def test_weight_decay_of_a_dense_gradient_on_a_table_decays_every_row():
    ours, _ = _run(SparseSGD(0.1, weight_decay=0.5), ALL_ROWS, dense=True)
    theirs, _ = _run(keras.optimizers.SGD(0.1, weight_decay=0.5), ALL_ROWS, dense=True, row_sparse=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"use_ema": True}, {"gradient_accumulation_steps": 2}, {"amsgrad": True}])
def test_options_that_densify_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LazyAdam(**kwargs)


def test_get_resolves_names_and_passes_instances_through():
    assert [type(get(n)).__name__ for n in ("adam", "Adagrad", "rowwise_adagrad", "SGD", "ftrl")] == [
        "LazyAdam",
        "SparseAdagrad",
        "RowWiseAdagrad",
        "SparseSGD",
        "SparseFtrl",
    ]
    stock = keras.optimizers.RMSprop()
    assert get(stock) is stock
    assert type(get("rmsprop")) is keras.optimizers.RMSprop


SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=50),
    MultiCategoricalFeature("tags", vocabulary_size=9, max_len=3),
]


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 20, size=(n, 1)),  # users 20..49 never appear
        "tags": rng.integers(0, 9, size=(n, 3)),
    }
    return x, (rng.random((n, 1)) < 0.5).astype("float32")


def test_model_gradient_stays_row_sparse_with_embedding_l2_on_rows():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), embedding_l2=1e-3, embedding_l2_scope="rows")
    x, y = _data()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True))) + tf.add_n(model.losses)
    tables = [model.get_layer(n).embeddings for n in ("embedding_categorical", "linear_categorical")]
    grads = tape.gradient(loss, [t.value for t in tables])
    assert all(isinstance(g, tf.IndexedSlices) for g in grads)


def test_embedding_l2_penalises_the_distinct_looked_up_rows_once():
    layer = CategoricalEmbedding(
        [5, 4], [1, 2], output_dim=2, embeddings_regularizer=keras.regularizers.L2(0.5), regularize="rows"
    )
    ids = np.array([[1, 2, 2], [1, 0, 3]])
    layer(ids)
    table = layer.embeddings.numpy()
    rows = sorted({1, 6 + 2, 6 + 0, 6 + 3})  # field 2 starts at row 5 + 1
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * np.sum(table[rows] ** 2), rtol=1e-6)


def test_embedding_l2_on_a_small_table_is_the_whole_table_penalty_by_default():
    from deepfm_keras.layers.embedding import DENSE_REGULARIZER_MAX_ROWS

    layer = CategoricalEmbedding([5, 4], [1, 2], output_dim=2, embeddings_regularizer=keras.regularizers.L2(0.5))
    layer(np.array([[1, 2, 2]]))
    assert layer.regularizes_table
    np.testing.assert_allclose(float(layer.losses[0]), 0.5 * np.sum(layer.embeddings.numpy() ** 2), rtol=1e-6)
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), embedding_l2=1e-3)
    x, y = _data()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True))) + tf.add_n(model.losses)
    grad = tape.gradient(loss, model.get_layer("embedding_categorical").embeddings.value)
    assert not isinstance(grad, tf.IndexedSlices)  # every row is pulled towards 0 at every step
    # Past 2^18 rows the default switches to the looked-up rows (not built here: only the decision).
    big = CategoricalEmbedding([DENSE_REGULARIZER_MAX_ROWS], [1], output_dim=2)
    assert not big.regularizes_table
    assert CategoricalEmbedding([DENSE_REGULARIZER_MAX_ROWS - 1], [1], output_dim=2).regularizes_table
    with pytest.raises(ValueError, match="regularize"):
        CategoricalEmbedding([5], [1], output_dim=2, regularize="some")


def test_training_touches_only_the_rows_of_the_batch():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), embedding_l2=1e-3, embedding_l2_scope="rows")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert isinstance(model.optimizer, LazyAdam)
    x, y = _data()
    tables = [model.get_layer(n).embeddings for n in ("embedding_categorical", "linear_categorical")]
    before = [t.numpy() for t in tables]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for table, start in zip(tables, before, strict=True):
        changed = np.flatnonzero(np.any(table.numpy() != start, axis=1))
        assert set(changed) <= set(range(20)) | set(range(51, 51 + 10)), changed  # users 0..19, tag rows
        np.testing.assert_array_equal(table.numpy()[20:50], start[20:50])


def test_save_load_keeps_the_optimizer_state_and_resumes_identically(tmp_path):
    x, y = _data(128)
    keras.utils.set_random_seed(3)
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="rowwise_adagrad", loss="binary_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    loaded = save_and_load(model, tmp_path)
    assert type(loaded.optimizer) is RowWiseAdagrad
    for ours, theirs in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


def test_stock_optimizer_on_a_large_table_warns():
    model = build_deepfm([CategoricalFeature("id", 300_000)], embedding_dim=16, hidden_units=(4,))
    with pytest.warns(UserWarning, match="only the rows"):
        model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")


@pytest.mark.parametrize("cls", [LazyAdam, SparseAdagrad, RowWiseAdagrad, SparseSGD, SparseFtrl])
def test_every_optimizer_trains_a_model_and_is_registered(cls, tmp_path):
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer=cls(0.05), loss="binary_crossentropy")
    x, y = _data()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert isinstance(model.optimizer, RowSparseOptimizer)
    config = keras.saving.serialize_keras_object(model.optimizer)
    assert config["registered_name"] == f"deepfm_keras>{cls.__name__}"
    assert type(keras.saving.deserialize_keras_object(config)) is cls


def test_ids_past_int32_never_wrap_onto_another_row():
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    x, _ = _data(4)
    wrapped = {k: v.copy() for k, v in x.items()}
    far = {k: v.copy() for k, v in x.items()}
    far["user"][:, 0] = [2**32 + 3, 2**31 + 3, -(2**32) + 3, 2**40]
    wrapped["user"][:, 0] = 3
    out_of_range = {k: v.copy() for k, v in x.items()}
    out_of_range["user"][:, 0] = 50  # the field's out-of-range row

    def score(inputs):  # the model itself: `predict` refuses out-of-range ids before the graph sees them
        return keras.ops.convert_to_numpy(model(inputs))

    np.testing.assert_allclose(score(far), score(out_of_range), rtol=1e-6)
    assert not np.allclose(score(far), score(wrapped))


def test_fused_table_offsets_are_int64():
    layer = CategoricalEmbedding([2**31 - 10, 100], [1, 1], output_dim=2)  # never built: 2^31 rows
    rows = keras.ops.convert_to_numpy(layer.table_indices(np.array([[5, 7], [2**31, -1]])))
    assert rows.dtype == np.int64
    np.testing.assert_array_equal(rows, [[5, 2**31 - 9 + 7], [2**31 - 10, 2**31 - 9 + 100]])
    assert layer.table_size == 2**31 - 10 + 1 + 101


def test_mixed_precision_keeps_the_table_float32_and_casts_only_rows():
    layer = CategoricalEmbedding([10], [2], output_dim=4, dtype="mixed_bfloat16")
    out = layer(np.array([[1, 2]]))
    assert layer.embeddings.dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
