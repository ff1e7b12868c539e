"""Atomic writes (deepfm_keras.io) and the writers that use them: a failed write leaves the previous file."""

import errno
import json
import os

import keras
import numpy as np
import pandas as pd
import pytest

from deepfm_keras import FeatureEncoder
from deepfm_keras.io import (
    atomic_directory,
    atomic_path,
    atomic_write,
    is_temporary,
    remove_temporaries,
    save_model,
    temporary_name,
)


class DiskFull(OSError):
    def __init__(self):
        super().__init__(errno.ENOSPC, "No space left on device")


def test_atomic_write_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "a.json"
    with atomic_write(path) as f:
        f.write("old")
    assert path.read_text() == "old"
    with pytest.raises(DiskFull):
        with atomic_write(path) as f:
            f.write("half of the new")
            raise DiskFull
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.json"]  # the temporary is gone
    with atomic_write(path, "wb") as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["a.json"]
    with pytest.raises(ValueError, match="`mode` should be 'w' or 'wb'"):
        with atomic_write(path, "a"):
            pass


def test_temporary_names_keep_the_suffix_and_are_recognised(tmp_path):
    name = temporary_name(tmp_path / "best.weights.h5")
    assert os.path.dirname(name) == str(tmp_path) and name.endswith(".weights.h5")
    assert is_temporary(os.path.basename(name)) and not is_temporary("best.weights.h5")
    assert temporary_name(tmp_path / "x") != temporary_name(tmp_path / "x")
    with atomic_path(tmp_path / "arrays.npz") as tmp:
        assert tmp.endswith(".npz")
        np.savez(tmp, a=np.arange(3))
    assert np.load(tmp_path / "arrays.npz")["a"].tolist() == [0, 1, 2]
    # A leftover of a killed write (and only that target's) is removed on request.
    leftover = temporary_name(tmp_path / "arrays.npz")
    other = temporary_name(tmp_path / "other.npz")
    open(leftover, "w").close()
    open(other, "w").close()
    remove_temporaries(tmp_path / "arrays.npz")
    assert not os.path.exists(leftover) and os.path.exists(other)


def test_atomic_directory_replaces_a_whole_tree(tmp_path):
    target = tmp_path / "export"
    with atomic_directory(target) as tmp:
        (open(os.path.join(tmp, "v"), "w")).write("1")
    assert (target / "v").read_text() == "1"
    with pytest.raises(DiskFull):
        with atomic_directory(target) as tmp:
            (open(os.path.join(tmp, "v"), "w")).write("2")
            raise DiskFull
    assert (target / "v").read_text() == "1" and os.listdir(tmp_path) == ["export"]
    with atomic_directory(target) as tmp:
        (open(os.path.join(tmp, "w"), "w")).write("2")
    assert os.listdir(target) == ["w"] and os.listdir(tmp_path) == ["export"]


def small_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
    return model


def test_save_model_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    model = small_model()
    save_model(model, path)
    good = path.read_bytes()
    with pytest.raises(ValueError, match="should end in '.keras'"):
        save_model(model, tmp_path / "m.h5")

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 truncated")
        raise DiskFull

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(DiskFull):
        save_model(model, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["m.keras"]
    monkeypatch.undo()
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(np.ones((1, 2)), verbose=0), [[2.0]])


def test_encoder_save_keeps_the_previous_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "encoder.json"
    encoder = FeatureEncoder(categorical=["u"]).fit(pd.DataFrame({"u": ["a", "b", "b"]}))
    encoder.save(path)
    good = path.read_text(encoding="utf-8")

    def dump_half(obj, f, **kwargs):
        f.write(json.dumps(obj)[:10])
        raise DiskFull

    monkeypatch.setattr(json, "dump", dump_half)
    with pytest.raises(DiskFull):
        encoder.save(path)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == good and os.listdir(tmp_path) == ["encoder.json"]
    assert FeatureEncoder.load(path).vocabularies == {"u": ["b", "a"]}
