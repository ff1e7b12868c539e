import keras
import numpy as np
import pytest

from deepfm_keras.layers import CategoricalEmbedding, NumericEmbedding
from tests.helpers import assert_config_round_trip, assert_layer_save_load

RNG = np.random.default_rng(0)


def test_numeric_embedding_matches_numpy():
    kernel = RNG.normal(size=(3, 4)).astype("float32")
    layer = NumericEmbedding(3, 4, embeddings_initializer=keras.initializers.Constant(kernel))
    x = RNG.normal(size=(5, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, x[:, :, None] * kernel[None], rtol=1e-6)
    assert len(layer.weights) == 1


def _fused(vocab, lengths, dim):
    layer = CategoricalEmbedding(vocab, lengths, dim)
    layer.build((None, sum(lengths)))
    table = RNG.normal(size=(layer.table_size, dim)).astype("float32")
    layer.embeddings.assign(table)
    return layer, table


def test_categorical_embedding_offsets_and_out_of_range():
    layer, table = _fused([5, 3], [1, 2], dim=4)
    assert layer.table_size == (5 + 1) + (3 + 1)
    ids = np.array([[0, 0, 2], [4, 1, 1], [5, 3, -1], [-7, 99, 2**30]])
    out = keras.ops.convert_to_numpy(layer(ids))
    # Field 0 owns rows 0..4 and its out-of-range row 5; field 1 rows 6..8 and out-of-range row 9.
    expected_rows = np.array([[0, 6, 8], [4, 7, 7], [5, 9, 9], [5, 9, 9]])
    np.testing.assert_allclose(out, table[expected_rows])


def test_categorical_embedding_out_of_range_never_reads_other_fields():
    layer, _ = _fused([2, 2], [1, 1], dim=1)
    table = np.arange(layer.table_size, dtype="float32")[:, None]
    layer.embeddings.assign(table)
    out = keras.ops.convert_to_numpy(layer(np.array([[2, -1], [3, 2]])))[..., 0]
    np.testing.assert_array_equal(out, [[2, 5], [2, 5]])


def test_categorical_embedding_gradient_reaches_only_used_rows():
    import tensorflow as tf

    layer, _ = _fused([4, 3], [1, 1], dim=2)
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(layer(np.array([[1, 2]])))
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.embeddings.value))
    used = np.nonzero(np.abs(grad.numpy()).sum(axis=1))[0]
    np.testing.assert_array_equal(used, [1, 5 + 2])


def test_configs_round_trip():
    for layer in (
        NumericEmbedding(2, 3, embeddings_regularizer="l2"),
        CategoricalEmbedding([5, 3], [1, 2], 4, embeddings_initializer="zeros"),
    ):
        assert_config_round_trip(layer)


def test_save_load(tmp_path):
    ids = RNG.integers(-2, 7, size=(8, 3))
    assert_layer_save_load(CategoricalEmbedding([5, 3], [1, 2], 4), ids, tmp_path, ((3,), "int32"))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NumericEmbedding(0, 3), "num_fields"),
        (lambda: NumericEmbedding(2, 0), "output_dim.*Received: output_dim=0"),
        (lambda: CategoricalEmbedding([5, 0], [1, 1], 4), "vocabulary_sizes"),
        (lambda: CategoricalEmbedding([5, 3], [1], 4), "one entry per field"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_input_width():
    with pytest.raises(ValueError, match="expects 3 id columns"):
        CategoricalEmbedding([5, 3], [1, 2], 4)(np.zeros((2, 4), "int32"))
