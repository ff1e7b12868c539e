"""The Criteo encoder: vocabularies learned in one pass against naive pandas counts; bad encoders and files refused."""

import numpy as np
import pytest

from deepfm_keras.datasets import criteo
from tests.datasets.criteo.helpers import naive_frame, read_all


def test_vocabulary_mode_matches_naive_counts(criteo_dir):
    train = criteo_dir / "criteo_kaggle_8k_train.txt"
    test = criteo_dir / "criteo_kaggle_8k_test.txt"
    vocabularies = criteo.build_vocabularies(train, min_count=5, batch_size=1000)
    df = naive_frame(train)
    for name in ("C1", "C9", "C20", "C26"):
        counts = df[name][df[name] != ""].value_counts()
        expected = counts[counts >= 5]
        expected = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
        assert vocabularies[name] == [v for v, _ in expected]
    reader = criteo.CriteoReader(vocabularies=vocabularies)
    features, _ = read_all(reader, test)
    test_df = naive_frame(test)
    for name in ("C1", "C9", "C26"):
        lookup = {v: i + 2 for i, v in enumerate(vocabularies[name])}
        expected = [lookup.get(v, 1) for v in test_df[name]]
        np.testing.assert_array_equal(features[name][:, 0], expected)
        assert reader.feature_spec[-26 + int(name[1:]) - 1].vocabulary_size == len(vocabularies[name]) + 2


def test_fit_encoder_reports_progress_and_caps_vocabularies(criteo_dir):
    train = criteo_dir / "criteo_kaggle_8k_train.txt"
    calls = []
    encoder = criteo.fit_encoder(
        train, min_count=3, max_size=20, batch_size=2000, progress=lambda n, s: calls.append((n, s))
    )
    assert [n for n, _ in calls] == [2000, 4000, 6000, 7200] and all(s >= 0 for _, s in calls)
    df = naive_frame(train)
    for name in ("C1", "C6", "C26"):
        counts = df[name][df[name] != ""].value_counts()
        expected = sorted(counts[counts >= 3].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
        assert encoder.vocabularies[name] == [v for v, _ in expected]
    assert encoder.input_dtypes["C1"] == "string" and encoder.input_dtypes["I1"] == "float64"
    reader = criteo.CriteoReader(encoder=encoder)
    assert reader.vocabulary_size("C26") == len(encoder.vocabularies["C26"]) + 2 <= 22
    with pytest.raises(ValueError, match="C1..C26"):
        criteo.CriteoReader(encoder=criteo.make_encoder().__class__(numeric=["I1"]).fit({"I1": [1.0]}))


def test_fit_encoder_refuses_files_with_no_well_formed_line(tmp_path):
    empty, other = tmp_path / "empty.txt", tmp_path / "other.txt"
    empty.write_bytes(b"")
    other.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="read 0 lines and none is a well-formed Criteo line"):
        criteo.fit_encoder(empty, min_count=1)
    with pytest.raises(ValueError, match="read 2 lines and none is a well-formed Criteo line"):
        criteo.fit_encoder([empty, other], min_count=1)
