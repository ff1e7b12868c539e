"""Gzip told by content, truncated or corrupt gzip files raising in every read path, content size estimates."""

import gzip

import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras.datasets import criteo
from deepfm_keras.datasets.criteo.files import content_size_estimate
from tests.datasets.criteo.helpers import good_line, read_all


@pytest.fixture(scope="module")
def damaged_gz(tmp_path_factory):
    """A good 409-row gzip file, and damaged copies of it."""
    folder = tmp_path_factory.mktemp("gz")
    good = folder / "good.txt.gz"
    criteo.write_synthetic(good, 409)
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    files = {
        "good": data,
        "two members": data + data,  # concatenated gzip streams (pigz, bgzip): valid
        "truncated": data[: len(data) // 2],
        "no trailer": data[:-8],
        "last byte missing": data[:-1],
        "bit flip": bytes(flipped),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.txt.gz"
        paths[name].write_bytes(content)
    return paths


@pytest.mark.parametrize("name, rows", [("good", 409), ("two members", 818)])
def test_whole_gzip_files_read_in_full(damaged_gz, name, rows):
    path = damaged_gz[name]
    reader = criteo.CriteoReader(num_buckets=100)
    assert sum(int(labels.shape[0]) for _, labels in reader.dataset(path, batch_size=100)) == rows
    assert criteo.validate_files(path).rows == rows
    assert criteo.gzip_content_size(path) == len(gzip.open(path).read())
    assert criteo.fit_encoder(path, min_count=1, batch_size=100).vocabularies["C1"]


@pytest.mark.parametrize("name", ["truncated", "no trailer", "last byte missing", "bit flip"])
def test_a_truncated_or_corrupt_gzip_file_raises_in_every_read_path(damaged_gz, name):
    path, good = damaged_gz[name], damaged_gz["good"]
    reader = criteo.CriteoReader(num_buckets=100)
    # Today TensorFlow's reader stops silently at a truncation: 197-200 of 409 rows trained on, no error.
    with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.DataLossError)) as error:
        for _ in reader.dataset([good, path], batch_size=100):
            pass
    if name != "bit flip":  # TensorFlow's own inflate() error does not name the file
        assert "ended early" in error.value.message and str(path) in error.value.message
    with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.DataLossError)):
        for _ in reader.raw_dataset(path, batch_size=100):
            pass
    with pytest.raises(ValueError, match=f"Criteo file {path} cannot be read to its end"):
        criteo.fit_encoder([good, path], min_count=1, batch_size=100)
    with pytest.raises(ValueError, match=f"Criteo file {path} is a truncated or corrupt gzip file"):
        criteo.validate_files([good, path])
    with pytest.raises(ValueError, match=f"Criteo file {path} is a truncated or corrupt gzip file"):
        criteo.gzip_content_size(path)


def read_every_path(path):
    """What each read path of the module makes of one file: rows, raw columns, a vocabulary, a validation."""
    reader = criteo.CriteoReader(num_buckets=1000)
    features, labels = read_all(reader, path, batch_size=100)
    raw = [r for r, _ in reader.raw_dataset(path, batch_size=100)]
    raw = {k: np.concatenate([r[k].numpy() for r in raw]) for k in ("I1", "C3")}
    done = []
    encoder = criteo.fit_encoder(path, min_count=1, batch_size=100, progress=lambda lines, _: done.append(lines))
    report = criteo.validate_files(path)
    return features, labels, raw, encoder.vocabularies, done[-1], (report.rows, report.malformed_rows)


@pytest.mark.parametrize("name", ["x.gz", "x.GZ", "x.txt", "x"])
def test_gzip_is_detected_by_content_whatever_the_name(criteo_dir, tmp_path, name):
    plain = criteo_dir / "criteo_kaggle_8k_dev.txt"
    path = tmp_path / name
    path.write_bytes(gzip.compress(plain.read_bytes()))
    expected = read_every_path(plain)
    # Before: a gzip file not named `*.gz` was read as text, every line malformed, 0 of its 409 rows kept.
    got = read_every_path(path)
    for name_of, want, have in zip(
        ["features", "labels", "raw", "vocabularies", "lines", "report"], expected, got, strict=True
    ):
        if isinstance(want, dict):
            assert sorted(want) == sorted(have), name_of
            for key in want:
                np.testing.assert_array_equal(np.asarray(have[key]), np.asarray(want[key]), err_msg=f"{name_of} {key}")
        else:
            np.testing.assert_array_equal(have, want, err_msg=name_of)
    assert got[1].shape == (409, 1) and got[5] == (409, 0)
    assert content_size_estimate(str(path)) == plain.stat().st_size  # progress=True totals


def test_a_gz_file_that_is_not_gzip_is_refused(tmp_path):
    gz_header_only = tmp_path / "short.txt"
    gz_header_only.write_bytes(b"\x1f\x8b")  # gzip by its first bytes, too short to be one
    with pytest.raises(ValueError, match=f"Criteo file {gz_header_only} is not a gzip file"):
        criteo.CriteoReader().dataset(gz_header_only)
    for name in ("not.gz", "NOT.GZ"):
        for content in (b"", good_line(1).encode() + b"\n", b"\x1f\x8b"):
            path = tmp_path / name
            path.write_bytes(content)
            message = f"Criteo file {path} is not a gzip file"
            with pytest.raises(ValueError, match=message):
                criteo.CriteoReader().dataset(path)
            with pytest.raises(ValueError, match=message):
                criteo.CriteoReader().raw_dataset(path)
            with pytest.raises(ValueError, match=message):
                criteo.fit_encoder(path, min_count=1)
            with pytest.raises(ValueError, match=message):
                criteo.fit_encoder(path, min_count=1, progress=True)
            with pytest.raises(ValueError, match=f"Criteo file {path} is (not a|a truncated or corrupt) gzip file"):
                criteo.validate_files(path)


def test_gzip_content_size_estimate(tmp_path):
    data = b"".join(f"{i}\t{i * 7919 % 1000}\tsome text\n".encode() for i in range(200_000))
    one = tmp_path / "one.gz"
    one.write_bytes(gzip.compress(data))
    assert content_size_estimate(str(one)) == len(data)  # one member: the trailer's size
    many = tmp_path / "many.gz"  # bgzip-like: the trailer holds only the last member's size
    many.write_bytes(b"".join(gzip.compress(data[i : i + 50_000]) for i in range(0, len(data), 50_000)))
    estimate = content_size_estimate(str(many))
    assert estimate != 50_000 and 0.7 * len(data) < estimate < 1.3 * len(data)
    plain = tmp_path / "plain.txt"
    plain.write_bytes(data)
    assert content_size_estimate(str(plain)) == len(data)
