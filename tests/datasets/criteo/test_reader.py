"""`CriteoReader` against naive pandas references: parsed features, bad arguments, a model and its export, class weights."""

import numpy as np
import pandas as pd
import pytest

from deepfm_keras import build_deepfm
from deepfm_keras.datasets import criteo
from tests.datasets.criteo.helpers import good_line, naive_frame, read_all


def test_parse_matches_naive_reference(criteo_dir):
    path = criteo_dir / "criteo_kaggle_8k_dev.txt"
    reader = criteo.CriteoReader(num_buckets=1000)
    features, labels = read_all(reader, path, batch_size=128)
    df = naive_frame(path)
    assert len(df) == 409 and labels.shape == (409, 1)
    assert reader.rows_read == 409 and reader.malformed_rows == 0
    np.testing.assert_array_equal(labels[:, 0], df[criteo.LABEL].astype(float).to_numpy())
    for name in criteo.INTEGER_FEATURES:
        raw = df[name]
        x = pd.to_numeric(raw.replace("", "0")).to_numpy("float64")
        np.testing.assert_allclose(features[name][:, 0], np.sign(x) * np.log1p(np.abs(x)), rtol=1e-6)
        np.testing.assert_array_equal(features[f"{name}_missing"][:, 0], (raw == "").to_numpy("float32"))
    for name in criteo.CATEGORICAL_FEATURES:
        ids = features[name][:, 0]
        raw = df[name].to_numpy()
        assert features[name].dtype == np.int64  # int64 ids: a large num_buckets never wraps
        np.testing.assert_array_equal(ids == 1, raw == "")  # missing -> OOV id 1
        assert ids.min() >= 1 and ids.max() < reader.vocabulary_size(name)
        # the same value always gets the same id: one id per distinct value
        pairs = pd.DataFrame({"v": raw, "id": ids})
        assert (pairs.groupby("v")["id"].nunique() == 1).all()
    # I2 holds negative counts in this sample: their sign is kept
    assert (features["I2"] < 0).any()


def test_bad_arguments_raise_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        criteo.CriteoReader().dataset(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="`files` is empty"):
        criteo.CriteoReader().dataset([])
    with pytest.raises(ValueError, match="num_buckets"):
        criteo.CriteoReader(num_buckets=0)
    with pytest.raises(ValueError, match="batch_size"):
        criteo.CriteoReader().dataset([__file__], batch_size=-1)
    with pytest.raises(ValueError, match="C2"):
        criteo.CriteoReader(vocabularies={"C1": []})


def test_feature_spec_builds_a_model_that_reads_batches(criteo_dir):
    reader = criteo.CriteoReader(num_buckets=50)
    model = build_deepfm(reader.feature_spec, embedding_dim=4, hidden_units=(8,))
    features, labels = next(iter(reader.dataset(criteo_dir / "criteo_kaggle_8k_test.txt", batch_size=64)))
    prediction = model.predict_on_batch(features)
    assert prediction.shape == (64, 1) and np.all((prediction > 0) & (prediction < 1))
    assert [f.name for f in reader.feature_spec][:2] == ["I1", "I2"]
    assert len(criteo.CriteoReader(missing_indicators=False).feature_spec) == 39


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hashing", "vocabulary"])
def test_a_criteo_model_exports_and_serves_like_keras(criteo_dir, tmp_path, mode):
    import keras
    import tensorflow as tf

    from deepfm_keras import export_serving_model, predictions, serving_request

    train = criteo_dir / "criteo_kaggle_8k_dev.txt"
    if mode == "hashing":
        reader = criteo.CriteoReader(num_buckets=1000)
    else:
        reader = criteo.CriteoReader(encoder=criteo.fit_encoder(train, min_count=2))
    keras.utils.set_random_seed(0)
    model = build_deepfm(reader.feature_spec, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(reader.dataset(train, batch_size=128), epochs=2, shuffle=False, verbose=0)
    path = export_serving_model(model, reader, tmp_path / "1")  # the reader's encoder goes into the artifact

    test = criteo_dir / "criteo_kaggle_8k_test.txt"
    features, _ = read_all(reader, test, batch_size=391)
    expected = model.predict(features, verbose=0)[:, 0]
    df = naive_frame(test)
    rows = {n: pd.to_numeric(df[n].replace("", np.nan)).astype("float64") for n in criteo.INTEGER_FEATURES}
    rows.update({n: df[n] for n in criteo.CATEGORICAL_FEATURES})
    request = serving_request(pd.DataFrame(rows), path)  # the encoder is read back from the artifact
    assert request["I1"].dtype == np.float64 and request["C1"].dtype == object
    serve = tf.saved_model.load(path).signatures["serving_default"]
    served = predictions(serve(**{k: tf.constant(v) for k, v in request.items()}))
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
    assert np.ptp(expected) > 0.01


def test_class_weight_weights_each_row_by_its_label(criteo_dir):
    files = criteo_dir / "criteo_kaggle_8k_test.txt"
    reader = criteo.CriteoReader(num_buckets=50)
    unweighted = list(reader.dataset(files, batch_size=1000))
    weighted = list(reader.dataset(files, batch_size=1000, class_weight={0: 1 / 0.25, 1: 1}))
    assert len(weighted) == len(unweighted) and all(len(b) == 3 for b in weighted)
    labels = np.concatenate([y.numpy() for _, y, _ in weighted])[:, 0]
    weights = np.concatenate([w.numpy() for _, _, w in weighted])
    assert weights.dtype == np.float32 and weights.shape == labels.shape
    assert 0 < labels.mean() < 1  # both labels occur
    np.testing.assert_array_equal(weights, np.where(labels == 1, 1.0, 4.0))
    np.testing.assert_array_equal(labels, np.concatenate([y.numpy() for _, y in unweighted])[:, 0])
    for (x, _, _), (x0, _) in zip(weighted[:2], unweighted[:2], strict=True):
        np.testing.assert_array_equal(x["C1"].numpy(), x0["C1"].numpy())


def test_class_weight_stays_aligned_when_batches_are_shuffled_and_lines_dropped(tmp_path):
    lines = [good_line(i, label=str(i % 2)) for i in range(40)]
    lines[7] = "2" + lines[7][1:]  # malformed: dropped, and the batch it was in is shorter
    path = tmp_path / "day.txt"
    path.write_text("\n".join(lines) + "\n")
    reader = criteo.CriteoReader(num_buckets=50)
    ds = reader.dataset(path, batch_size=6, shuffle_buffer=4, seed=0, class_weight={0: 3.0, 1: 0.5})
    rows = 0
    for x, y, w in ds:
        i1 = np.round(np.expm1(x["I1"].numpy()[:, 0])).astype(int)  # log1p of the line number
        np.testing.assert_array_equal(y.numpy()[:, 0], i1 % 2)
        np.testing.assert_array_equal(w.numpy(), np.where(i1 % 2 == 1, 0.5, 3.0))
        rows += len(w)
    assert rows == 39


# Keras warns at the end of every stream of unknown length, weighted or not.
@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_a_criteo_model_trains_on_class_weighted_batches(criteo_dir):
    reader = criteo.CriteoReader(num_buckets=50)
    model = build_deepfm(reader.feature_spec, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    files = criteo_dir / "criteo_kaggle_8k_test.txt"
    weighted = reader.dataset(files, batch_size=512, class_weight={0: 2.0, 1: 1.0})
    model.fit(weighted.take(2), epochs=1, verbose=0)
    x, y, w = next(iter(weighted))
    p = np.clip(model.predict_on_batch(x)[:, 0].astype("float64"), 1e-7, 1 - 1e-7)
    y = y.numpy()[:, 0]
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    loss = model.evaluate(weighted.take(1), verbose=0)
    assert loss == pytest.approx(np.sum(w.numpy() * losses) / len(losses), rel=1e-5)


@pytest.mark.parametrize(
    ("class_weight", "message"),
    [
        ({0: 10.0}, r"exactly the keys 0 and 1. Received keys: \[0\]"),
        ({0: 1.0, 1: 1.0, 2: 1.0}, r"exactly the keys 0 and 1"),
        ({"0": 1.0, "1": 1.0}, r"exactly the keys 0 and 1. Received keys: \['0', '1'\]"),
        ({False: 1.0, True: 1.0}, r"exactly the keys 0 and 1"),
        ({0: 0.0, 1: 1.0}, r"`class_weight\[0\]` should be a finite number > 0. Received: 0.0"),
        ({0: 1.0, 1: -2}, r"`class_weight\[1\]` should be a finite number > 0. Received: -2"),
        ({0: float("nan"), 1: 1.0}, r"`class_weight\[0\]` should be a finite number > 0. Received: nan"),
        ({0: 1e39, 1: 1.0}, r"`class_weight\[0\]` should be a finite number > 0"),
        ({0: "10", 1: 1.0}, r"`class_weight\[0\]` should be a number. Received: '10'"),
        ([10.0, 1.0], r"`class_weight` should be a dict \{0: weight, 1: weight\}. Received: list"),
    ],
)
def test_bad_class_weight_raises_naming_the_key(tmp_path, class_weight, message):
    path = tmp_path / "day.txt"
    path.write_text(good_line() + "\n")
    with pytest.raises(ValueError, match=message):
        criteo.CriteoReader(num_buckets=50).dataset(path, class_weight=class_weight)
