"""`write_synthetic`: valid Criteo lines, the same for the same seed in plain and gzip files."""

import gzip

from deepfm_keras.datasets import criteo
from tests.datasets.criteo.helpers import naive_frame


def test_synthetic_files_are_valid_and_seeded(tmp_path):
    a = criteo.write_synthetic(tmp_path / "a.txt", 2500, seed=1, chunk_rows=1000)
    b = criteo.write_synthetic(tmp_path / "b.txt.gz", 2500, seed=1, chunk_rows=1000)
    assert open(a, "rb").read() == gzip.open(b).read()
    c = criteo.write_synthetic(tmp_path / "c.TXT.GZ", 2500, seed=1, chunk_rows=1000)  # any case of .gz: gzip
    assert gzip.open(c).read() == open(a, "rb").read()
    report = criteo.validate_files([a, b])
    assert (report.rows, report.malformed_rows) == (5000, 0)
    df = naive_frame(a)
    assert 0.05 < (df["I1"] == "").mean() < 0.15
    assert 0.05 < df[criteo.LABEL].astype(int).mean() < 0.6
