"""`progress=` of `fit_encoder` and `validate_files`: bytes, rate and ETA in a log and on a terminal, callbacks."""

import gzip
import io
import sys

import pytest

from deepfm_keras.datasets import criteo


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_fit_encoder_and_validate_files_report_bytes_rate_and_eta(criteo_dir, tmp_path, capsys, monkeypatch):
    train = criteo_dir / "criteo_kaggle_8k_train.txt"
    gz = tmp_path / "train.txt.gz"
    gz.write_bytes(gzip.compress(train.read_bytes()))
    size = train.stat().st_size
    criteo.fit_encoder([train, gz], min_count=3, batch_size=500, progress=True)
    log = capsys.readouterr().err  # not a terminal: plain lines
    assert "\r" not in log and "\b" not in log
    lines = log.splitlines()
    assert 5 <= len(lines) <= 11  # one every 10% (29 batches here), and the final one
    assert lines[0].startswith("vocabulary pass: ") and "ETA " in lines[0]
    total = f"{2 * size / 1e6:.1f} MB"  # plain file size + the gzip file's content size
    assert lines[-1].startswith(f"vocabulary pass: 14,400 lines, {total} of {total} (100%), ")
    assert "B/s, " in lines[-1] and "ETA" not in lines[-1]

    report = criteo.validate_files([train, gz], progress=True)
    assert report.rows == 14_400
    stored = f"{(size + gz.stat().st_size) / 1e6:.1f} MB"  # a .gz file counts as its compressed bytes
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"validating: 14,400 lines, {stored} of {stored} (100%)")

    calls = []
    criteo.validate_files(train, progress=lambda n, s: calls.append(n), max_examples=0)
    assert calls == [7200]  # fewer lines than one report's worth: one call at the end of the file

    monkeypatch.setattr(sys, "stderr", Terminal())
    criteo.fit_encoder(train, min_count=3, batch_size=2000, progress=True)
    live = sys.stderr.getvalue()
    assert live.startswith("\r[") and live.count("\n") == 1 and live.endswith("\n")  # one line redrawn in place
    assert "7,200 lines" in live.split("\r")[-1]
    with pytest.raises(ValueError, match="`progress` should be True, False or a callable"):
        criteo.fit_encoder(train, progress="yes")
