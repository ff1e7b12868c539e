"""The encoder file (`encoder.json`): every version written before still loads and encodes the same, and round trips.

The fixtures in `tests/encoding/files/` were written by the code of each
version (`make.py` there says how); `tests/data/pre_spec_files/encoder.json`
is format 2 before the options added later.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras.encoding import FeatureEncoder

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = Path(__file__).resolve().parent / "files"
PRE_SPEC = DATA / "pre_spec_files" / "encoder.json"
VERSIONS = {"v1.json": "v1", "v2_every_option.json": "v2"}  # file -> its rows in rows.json


def _make():
    spec = importlib.util.spec_from_file_location("encoder_files_make", FILES / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make = _make()


def assert_same(got: dict, expected: dict, where: str) -> None:
    assert list(got) == list(expected), where
    for name, value in expected.items():
        got_value = np.asarray(got[name])
        assert got_value.dtype == value.dtype, f"{where}: {name}"
        np.testing.assert_array_equal(got_value, value, err_msg=f"{where}: {name}")


@pytest.fixture(scope="module")
def expected():
    saved = np.load(FILES / "expected.npz")
    out = {file: {} for file in VERSIONS}
    for key in saved.files:
        file, name = key.split("/")
        out[file][name] = saved[key]
    return out


@pytest.mark.parametrize("file", list(VERSIONS))
def test_every_file_version_loads_and_encodes_as_when_it_was_written(file, expected):
    encoder = FeatureEncoder.load(FILES / file)
    frame = make.rows(VERSIONS[file])
    assert_same(encoder.transform(frame), expected[file], f"{file} transform")
    encoded = encoder.encode({k: tf.constant(v) for k, v in encoder.raw_inputs(frame).items()})
    reshaped = {k: v.numpy().reshape(expected[file][k].shape) for k, v in encoded.items()}
    assert_same(reshaped, expected[file], f"{file} encode")


@pytest.mark.parametrize("path", [FILES / "v2_every_option.json", PRE_SPEC], ids=["every_option", "pre_spec"])
def test_a_loaded_version_2_file_is_written_back_unchanged(path, tmp_path):
    encoder = FeatureEncoder.load(path)
    encoder.save(tmp_path / "once.json")
    once = (tmp_path / "once.json").read_text(encoding="utf-8")
    assert json.loads(once) == json.loads(path.read_text(encoding="utf-8"))
    FeatureEncoder.load(tmp_path / "once.json").save(tmp_path / "twice.json")
    assert (tmp_path / "twice.json").read_text(encoding="utf-8") == once  # the writer has one key order


@pytest.mark.parametrize("file", list(VERSIONS))
def test_every_version_round_trips_through_the_current_one(file, expected, tmp_path):
    encoder = FeatureEncoder.load(FILES / file)
    encoder.save(tmp_path / "encoder.json")
    saved = json.loads((tmp_path / "encoder.json").read_text(encoding="utf-8"))
    assert saved["format_version"] == 2
    loaded = FeatureEncoder.load(tmp_path / "encoder.json")
    assert loaded.columns == encoder.columns and loaded.state == encoder.state
    assert loaded.feature_spec == encoder.feature_spec and loaded.input_dtypes == encoder.input_dtypes
    assert loaded.to_config() == encoder.to_config() == FeatureEncoder.from_config(saved).to_config()
    assert_same(loaded.transform(make.rows(VERSIONS[file])), expected[file], f"{file} reloaded")


def test_fitting_the_same_rows_today_gives_the_file_written_then():
    fitted = make.v2_encoder().fit(make.fit_split(make.rows("v2")))
    assert fitted.to_config() == json.loads((FILES / "v2_every_option.json").read_text(encoding="utf-8"))


def test_an_unfitted_encoder_round_trips_without_state(tmp_path):
    encoder = FeatureEncoder.load(FILES / "v2_every_option.json")
    config = {k: v for k, v in encoder.to_config().items() if k != "state"}
    unfitted = FeatureEncoder.from_config(config)
    assert not unfitted.is_fitted and unfitted.columns == encoder.columns
    assert unfitted.to_config() == config
