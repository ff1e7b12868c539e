"""`.keras` files in bounded memory (`deepfm_keras.model.saving`): Keras' own format, written and read by both."""

import io
import zipfile

import h5py
import keras
import numpy as np
import pytest

import deepfm_keras as dk
from deepfm_keras import chunked
from deepfm_keras.model import saving
from tests.builders import EVERY_KIND, random_inputs, small_model


@pytest.fixture(params=[1 << 30, 256], ids=["keras-writes", "block-wise"])  # 256 B: the test tables are ~1 KB
def chunk_bytes(request, monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_BYTES", request.param)
    return request.param


def _trained(optimizer="rowwise_adagrad"):
    keras.utils.set_random_seed(3)
    model = small_model(EVERY_KIND)
    model.compile(optimizer=optimizer)
    x = random_inputs(EVERY_KIND, 128, np.random.default_rng(0))
    y = np.random.default_rng(1).integers(0, 2, 128).astype("float32")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model, x


def _tree(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        weights = zf.read("model.weights.h5")
        stored = zf.getinfo("model.weights.h5").compress_type == zipfile.ZIP_STORED
    tree = {}
    with h5py.File(io.BytesIO(weights), "r") as f:
        f.visititems(lambda n, obj: tree.__setitem__(n, obj[()] if isinstance(obj, h5py.Dataset) else dict(obj.attrs)))
    return names, tree, stored


def _same_state(a, b):
    for x, y in zip(a.weights + a.optimizer.variables, b.weights + b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y), err_msg=x.path)


def test_model_save_writes_the_file_keras_writes(chunk_bytes, tmp_path):
    model, _ = _trained()
    assert chunked.is_large(model.get_layer("embedding_categorical").embeddings) == (chunk_bytes == 256)
    model.save(tmp_path / "ours.keras")  # DeepFMModel.save: through a temporary file
    keras.saving.save_model(model, tmp_path / "keras.keras")  # Keras' own writer
    ours, theirs = _tree(tmp_path / "ours.keras"), _tree(tmp_path / "keras.keras")
    assert ours[0] == theirs[0] == ["metadata.json", "config.json", "model.weights.h5"]
    assert ours[2], "the weights member is stored uncompressed, so a reader can read it in place"
    assert sorted(ours[1]) == sorted(theirs[1])
    for name, value in theirs[1].items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(ours[1][name], value, err_msg=name)
    assert not list(tmp_path.glob("tmp*")), "the temporary weights file is removed"


@pytest.mark.parametrize("loader", [dk.load_model, keras.saving.load_model], ids=["deepfm_keras", "keras"])
def test_saved_file_loads_with_the_same_predictions_and_optimizer_state(chunk_bytes, tmp_path, loader):
    model, x = _trained()
    model.save(tmp_path / "m.keras")
    loaded = loader(tmp_path / "m.keras")
    _same_state(model, loaded)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert type(loaded.optimizer) is type(model.optimizer)


def test_load_model_reads_a_file_keras_wrote_and_a_recompressed_one(chunk_bytes, tmp_path):
    model, x = _trained("lazy_adam")
    keras.saving.save_model(model, tmp_path / "keras.keras")
    _same_state(model, dk.load_model(tmp_path / "keras.keras"))
    # re-zipped with compression (an archiving tool did it): no member to read in place; extracted, then read
    with (
        zipfile.ZipFile(tmp_path / "keras.keras") as src,
        zipfile.ZipFile(tmp_path / "deflated.keras", "w", compression=zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    loaded = dk.load_model(tmp_path / "deflated.keras")
    _same_state(model, loaded)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deflated.keras", "keras.keras"]


def test_load_weights_from_a_keras_file(chunk_bytes, tmp_path):
    model, x = _trained()
    model.save(tmp_path / "m.keras")
    keras.utils.set_random_seed(9)
    fresh = small_model(EVERY_KIND)
    assert not np.allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh.load_weights(tmp_path / "m.keras")
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_save_keeps_keras_arguments(tmp_path):
    model, _ = _trained()
    model.save(tmp_path / "dir_model", zipped=False)  # Keras' unzipped directory: its own writer
    assert (tmp_path / "dir_model" / "config.json").exists()
    with pytest.raises(ValueError, match="extension"):
        model.save(tmp_path / "m.weights")


def test_member_window_reads_the_member_bytes_in_place(tmp_path):
    payload = bytes(range(256)) * 40
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("first.txt", b"x" * 100)
        zf.writestr("model.weights.h5", payload)
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        window = saving._member_window(str(tmp_path / "a.zip"), zf, "model.weights.h5")
    assert window.read() == payload
    window.seek(300)
    assert window.read(5) == payload[300:305]
    window.seek(-3, io.SEEK_END)
    assert window.read(10) == payload[-3:]
    window.close()


def test_a_zip64_member_is_read_in_place(tmp_path, monkeypatch):
    # A table over 4 GiB makes the weights member a zip64 one (extra fields in its local header); lowering the
    # limit gives a small file the same layout.
    model, x = _trained()
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1024)
    model.save(tmp_path / "m.keras")
    monkeypatch.undo()
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        extra = zf.getinfo("model.weights.h5").extra
    assert extra[:2] == b"\x01\x00", "the member carries a zip64 extra field"
    for loader in (dk.load_model, keras.saving.load_model):
        loaded = loader(tmp_path / "m.keras")
        _same_state(model, loaded)
        np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_a_compressed_bomb_member_is_refused_before_extraction(tmp_path):
    model, _ = _trained()
    model.save(tmp_path / "m.keras")
    with (
        zipfile.ZipFile(tmp_path / "m.keras") as src,
        zipfile.ZipFile(tmp_path / "bomb.keras", "w", compression=zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in ("metadata.json", "config.json"):
            dst.writestr(name, src.read(name))
        with dst.open("model.weights.h5", "w", force_zip64=True) as f:
            for _ in range(300):
                f.write(bytes(1 << 20))  # 300 MiB of zeros: compresses ~1000:1
    with pytest.raises(ValueError, match="bomb"):
        dk.load_model(tmp_path / "bomb.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.keras", "m.keras"], "nothing was extracted"


def test_load_model_does_not_draw_the_tables_it_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 256)  # the test model's tables (about 1 KB) count as large
    model, x = _trained()
    model.save(tmp_path / "m.keras")
    drawn = []
    real = chunked.initialize_in_place
    monkeypatch.setattr(chunked, "initialize_in_place", lambda v, init: drawn.append(v.path) or real(v, init))
    loaded = dk.load_model(tmp_path / "m.keras")
    assert drawn == []  # built as zeros, then read from the file
    _same_state(model, loaded)
    small_model(EVERY_KIND)  # a model built outside the load draws its large tables again
    assert "embedding_categorical/embeddings" in drawn
