"""Large tables in row blocks (`deepfm_keras.chunked`): in-place initialisation, block-wise save and load.

`CHUNK_BYTES` is lowered to a few KB here so that small tables take the
block-by-block paths; `tests/test_memory.py` measures the memory they save.
"""

import h5py
import keras
import numpy as np
import pytest

from deepfm_keras import CategoricalFeature, NumericFeature, build_deepfm, chunked, load_model, make_dataset
from deepfm_keras.layers import CategoricalEmbedding


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 2048)


def test_row_blocks_cover_every_row_once():
    blocks = list(chunked.row_blocks((1001, 16), itemsize=4, chunk_bytes=4096))
    assert blocks[0] == (0, 64) and blocks[-1][1] == 1001
    covered = np.concatenate([np.arange(a, b) for a, b in blocks])
    np.testing.assert_array_equal(covered, np.arange(1001))
    assert list(chunked.row_blocks((3, 10**6), itemsize=4, chunk_bytes=16)) == [(0, 1), (1, 2), (2, 3)]


def test_read_and_assign_rows_touch_only_their_rows():
    v = keras.Variable(np.zeros((6, 2), "float32"))
    chunked.assign_rows(v, 2, np.ones((3, 2), "float32"))
    np.testing.assert_array_equal(v.numpy().sum(axis=1), [0, 0, 2, 2, 2, 0])
    np.testing.assert_array_equal(chunked.read_rows(v, 1, 3), [[0, 0], [1, 1]])


def _table(initializer, rows=4000, dim=8):
    layer = CategoricalEmbedding([rows - 1], [1], output_dim=dim, embeddings_initializer=initializer)
    layer.build((None, 1))
    return layer.embeddings.numpy()


def test_large_table_filled_in_place_follows_the_initializer(small_chunks):
    table = _table(keras.initializers.RandomUniform(-0.05, 0.05, seed=3))
    assert table.min() >= -0.05 and table.max() < 0.05
    assert abs(table.std() - 0.1 / np.sqrt(12)) < 0.002  # uniform(-0.05, 0.05)
    blocks = list(chunked.row_blocks(table.shape))
    assert len(blocks) > 10
    # every block drew numbers of its own: no block repeats the first
    first = table[blocks[0][0] : blocks[0][1]]
    for start, _ in blocks[1:]:
        assert not np.allclose(table[start : start + 8], first[:8])
    # a seeded initializer gives the same table again; another seed another one
    np.testing.assert_array_equal(table, _table(keras.initializers.RandomUniform(-0.05, 0.05, seed=3)))
    assert not np.allclose(table, _table(keras.initializers.RandomUniform(-0.05, 0.05, seed=4)))


def test_variance_scaling_blocks_keep_the_whole_table_variance(small_chunks):
    table = _table(keras.initializers.GlorotNormal(seed=1), rows=6000, dim=8)
    whole = keras.initializers.GlorotNormal(seed=1)((6000, 8)).numpy()
    assert abs(table.std() / whole.std() - 1) < 0.05


def test_small_tables_and_other_initializers_keep_keras_values(monkeypatch):
    plain = keras.initializers.Orthogonal(seed=2)
    assert not chunked.can_initialize_in_place(plain, (64, 8))
    expected = keras.initializers.Orthogonal(seed=2)((64, 8)).numpy()
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 64)
    np.testing.assert_allclose(_table(keras.initializers.Orthogonal(seed=2), rows=64), expected, atol=1e-6)
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 1 << 30)  # under the block size: Keras' add_weight, its numbers
    np.testing.assert_array_equal(
        _table(keras.initializers.RandomUniform(seed=5)), keras.initializers.RandomUniform(seed=5)((4000, 8)).numpy()
    )


SPEC = [NumericFeature("n"), CategoricalFeature("a", 700), CategoricalFeature("b", 400)]


def _trained(optimizer):
    rng = np.random.default_rng(0)
    x = {"n": rng.normal(size=512).astype("float32"), "a": rng.integers(0, 700, 512), "b": rng.integers(0, 400, 512)}
    y = rng.integers(0, 2, 512).astype("float32")
    keras.utils.set_random_seed(1)
    model = build_deepfm(SPEC, embedding_dim=8, hidden_units=(8,))
    model.compile(optimizer=optimizer)
    model.fit(make_dataset(x, y, batch_size=64, seed=0), epochs=1, verbose=0)
    return model, x


def _h5_tree(path):
    tree = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: tree.__setitem__(name, obj[()] if isinstance(obj, h5py.Dataset) else None))
    return tree


@pytest.mark.parametrize("optimizer", ["rowwise_adagrad", "lazy_adam"])
def test_block_wise_weights_file_is_keras_own_file(small_chunks, tmp_path, optimizer, monkeypatch):
    model, x = _trained(optimizer)
    model.save_weights(tmp_path / "blocks.weights.h5")
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 1 << 30)  # Keras' own writer for every variable
    model.save_weights(tmp_path / "keras.weights.h5")
    ours, theirs = _h5_tree(tmp_path / "blocks.weights.h5"), _h5_tree(tmp_path / "keras.weights.h5")
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        if value is not None:
            np.testing.assert_array_equal(ours[name], value, err_msg=name)
    # the table and its slots were among the block-wise ones
    assert any(v is not None and v.size * 4 > 2048 for v in ours.values())


@pytest.mark.parametrize("optimizer", ["rowwise_adagrad", "lazy_adam"])
def test_block_wise_load_restores_weights_and_optimizer_state(small_chunks, tmp_path, optimizer):
    model, x = _trained(optimizer)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    keras.utils.set_random_seed(2)
    fresh = build_deepfm(SPEC, embedding_dim=8, hidden_units=(8,))
    fresh.compile(optimizer=optimizer)
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(path)
    for a, b in zip(model.weights + model.optimizer.variables, fresh.weights + fresh.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), fresh.predict(x, verbose=0))


def test_block_wise_load_refuses_a_table_of_another_shape(small_chunks, tmp_path):
    model, _ = _trained("rowwise_adagrad")
    model.save_weights(tmp_path / "w.weights.h5")
    other = build_deepfm(
        [NumericFeature("n"), CategoricalFeature("a", 900), CategoricalFeature("b", 400)],
        embedding_dim=8,
        hidden_units=(8,),
    )
    with pytest.raises(ValueError, match=r"has shape \(1102, [18]\), but variable .* has shape \(1302, [18]\)"):
        other.load_weights(tmp_path / "w.weights.h5")


def test_block_wise_paths_under_a_distribution_strategy(small_chunks, tmp_path):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        keras.utils.set_random_seed(4)
        model = build_deepfm(SPEC, embedding_dim=8, hidden_units=(8,))
        model.compile(optimizer="rowwise_adagrad")
    table = model.get_layer("embedding_categorical").embeddings
    assert isinstance(table.value, tf.distribute.DistributedValues)
    values = table.numpy()
    assert values.std() > 0.01 and len(np.unique(values[:, 0])) == len(values)  # filled block by block
    rng = np.random.default_rng(0)
    x = {"n": rng.normal(size=256).astype("float32"), "a": rng.integers(0, 700, 256), "b": rng.integers(0, 400, 256)}
    model.fit(x, rng.integers(0, 2, 256).astype("float32"), batch_size=64, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    with strategy.scope():
        keras.utils.set_random_seed(5)
        fresh = build_deepfm(SPEC, embedding_dim=8, hidden_units=(8,))
    fresh.load_weights(tmp_path / "m.weights.h5")
    loaded = load_model(tmp_path / "m.keras")
    for other in (fresh, loaded):
        for w, v in zip(model.weights, other.weights, strict=True):
            np.testing.assert_array_equal(w.numpy(), v.numpy(), err_msg=w.path)
        np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
