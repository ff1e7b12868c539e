"""The line format's policy: malformed lines skipped, counted and named; CRLF; raw bytes in `C` fields."""

import gzip

import numpy as np

from deepfm_keras.datasets import criteo
from tests.datasets.criteo.helpers import good_line, read_all


def test_malformed_lines_are_skipped_counted_and_named(tmp_path):
    lines = [
        good_line(1),
        good_line(2).replace("\t", "\t\t", 1),  # stray separator: 41 fields
        "\t".join(good_line(3).split("\t")[:-1]),  # 39 fields
        good_line(4).replace("\t-1\t", "\tabc\t"),  # non-numeric integer
        good_line(5).replace("\t-1\t", "\t1.5\t"),  # not an integer
        good_line(6).replace("\t-1\t", "\tnan\t"),
        good_line(7, label="2"),  # bad label
        "",  # blank line
        good_line(8).replace("\t-1\t", "\t99999999999999999999\t"),  # beyond int64
        good_line(9),
    ]
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n")
    reader = criteo.CriteoReader(num_buckets=100)
    features, labels = read_all(reader, path, batch_size=3)
    assert reader.rows_read == 10 and reader.malformed_rows == 8
    np.testing.assert_allclose(features["I1"][:, 0], np.log1p([1, 9]), rtol=1e-6)
    report = criteo.validate_files(path, max_examples=3)
    assert (report.rows, report.malformed_rows) == (10, 8)
    assert report.examples[0] == f"{path}:2: expected 40 tab-separated fields, found 41"
    assert report.examples[2] == f"{path}:4: field 'I2' should be an integer or empty, found b'abc'"
    full = criteo.validate_files(path, max_examples=20)
    assert any(":7: field 'label'" in e for e in full.examples)
    reader.reset_counts()
    assert reader.rows_read == 0


def test_crlf_gzip_many_files_and_empty_file(tmp_path):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(("\r\n".join([good_line(1), good_line(2)]) + "\r\n").encode())
    gz = tmp_path / "part.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write(good_line(3) + "\n")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    reader = criteo.CriteoReader(num_buckets=100)
    features, _ = read_all(reader, [crlf, gz, empty])
    np.testing.assert_allclose(features["I1"][:, 0], np.log1p([1, 2, 3]), rtol=1e-6)
    assert reader.malformed_rows == 0
    assert list(criteo.CriteoReader().dataset(empty)) == []
    assert criteo.validate_files(crlf).malformed_rows == 0


def test_latin1_values_keep_their_bytes(tmp_path):
    line = good_line(1).split("\t")
    line[15] = "caf\xe9"
    path = tmp_path / "latin1.txt"
    path.write_bytes(("\t".join(line) + "\n").encode("latin-1") * 3)
    encoder = criteo.fit_encoder(path, min_count=2)
    assert encoder.vocabularies["C2"] == ["caf\udce9"]
    features, _ = read_all(criteo.CriteoReader(encoder=encoder), path)
    assert features["C2"][:, 0].tolist() == [2, 2, 2]
