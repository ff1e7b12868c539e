"""Sample weights end to end: the weighted loss Keras computes, zero-weight rows, and checks naming the row."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepfm_keras import CategoricalFeature, NumericFeature, build_deepfm, make_dataset
from deepfm_keras.training import fit
from deepfm_keras.training.distribute import get_strategy

SPEC = [NumericFeature("x"), CategoricalFeature("user", vocabulary_size=20)]


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = {"x": rng.normal(size=(n, 1)).astype("float32"), "user": rng.integers(0, 20, size=(n, 1))}
    y = (rng.random((n, 1)) < 0.4).astype("float32")
    w = rng.uniform(0.0, 4.0, size=n).astype("float32")  # mean about 2: the two normalisations differ
    return x, y, w


def binary_model():
    keras.utils.set_random_seed(0)
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def bce(y, p):
    p = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)  # Keras' epsilon
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).reshape(-1)


def test_weighted_loss_is_the_weighted_sum_over_the_row_count():
    x, y, w = make_data(203)
    model = binary_model()
    losses = bce(y, model.predict(x, verbose=0))
    # Keras 3 (3.10 and 3.15 measured) divides a batch's weighted loss by its rows, not by its sum of weights,
    # and the epoch's loss is the row-weighted mean of the batches': sum(w * l) / n over the whole dataset.
    expected = np.sum(w * losses) / len(w)
    assert abs(expected - np.sum(w * losses) / np.sum(w)) > 0.1  # the other convention is far off
    weighted = make_dataset(x, y, sample_weight=w, batch_size=32, seed=0)  # shuffled, last batch of 11
    assert model.evaluate(weighted, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, sample_weight=w, batch_size=32, verbose=0) == pytest.approx(expected, rel=1e-5)
    unweighted = make_dataset(x, y, batch_size=32, seed=0)
    assert model.evaluate(unweighted, verbose=0) == pytest.approx(losses.mean(), rel=1e-5)


def one_sgd_step(initial, x, y, w):
    """The weight changes of one plain-SGD step on one batch, from the weights `initial`."""
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="regression")
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    fit(model, make_dataset(x, y, sample_weight=w, batch_size=len(w), shuffle=False), epochs=1, verbose=0)
    return [after - before for after, before in zip(model.get_weights(), initial, strict=True)]


def test_a_zero_weight_row_does_not_change_the_step():
    keras.utils.set_random_seed(1)
    initial = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,), task="regression").get_weights()
    x, _, w = make_data(17, seed=3)
    y = np.random.default_rng(4).normal(size=(17, 1)).astype("float32")
    k = 5
    absurd_y, zero_w = y.copy(), w.copy()
    absurd_y[k], zero_w[k] = 1e6, 0.0
    with_row = one_sgd_step(initial, x, absurd_y, zero_w)
    keep = np.arange(17) != k
    without_row = one_sgd_step(initial, {n: v[keep] for n, v in x.items()}, y[keep], w[keep])
    # The batch's loss divides by its 17 rows, the other's by 16: the steps differ by that factor only.
    for a, b in zip(with_row, without_row, strict=True):
        np.testing.assert_allclose(a, b * 16 / 17, rtol=1e-4, atol=1e-7)
    # The same row weighted 1 moves the weights by orders of magnitude more: the comparison above can fail.
    weighted = one_sgd_step(initial, x, absurd_y, np.where(keep, w, 1.0).astype("float32"))
    assert max(np.abs(d).max() for d in weighted) > 100 * max(np.abs(d).max() for d in with_row)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.r_[np.ones(5), np.nan, np.ones(4)], r"`sample_weight of fit`, row 5: nan should be a finite number >= 0"),
        (np.r_[np.ones(8), -1.0, 1.0], r"`sample_weight of fit`, row 8: -1.0 should be a finite number >= 0"),
        (np.ones(9), r"`sample_weight of fit` has 9 rows; the inputs have 10"),
        (np.array(["a"] * 10), r"`sample_weight of fit` should be numbers; received dtype <U1 \(row 0: 'a'\)"),
        (np.zeros(10), r"`sample_weight of fit` is 0 in every row"),
    ],
)
def test_fit_with_arrays_checks_the_weights(weights, message):
    x, y, _ = make_data(10)
    model = binary_model()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, sample_weight=weights, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message.replace("of fit", "of evaluate")):
        model.evaluate(x, y, sample_weight=weights, verbose=0)
    with pytest.raises(ValueError, match=message.replace("of fit", "of validation_data")):
        model.fit(x, y, validation_data=(x, y, weights), epochs=1, verbose=0)


def test_fit_with_arrays_takes_good_weights_and_needs_labels():
    x, y, w = make_data(10)
    model = binary_model()
    history = model.fit(x, y, sample_weight=w.reshape(-1, 1), validation_data=(x, y, w), epochs=1, verbose=0)
    assert set(history.history) == {"loss", "val_loss"}
    with pytest.raises(ValueError, match="`sample_weight` of fit needs labels"):
        model.fit(x, sample_weight=w, epochs=1, verbose=0)


def test_every_batch_of_a_users_own_pipeline_checks_its_weights():
    x, y, w = make_data(8)
    w[6] = -1.0
    model = binary_model()
    own = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Sample weights of a batch should be finite and >= 0"):
        model.fit(own, epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Sample weights of a batch should be finite and >= 0"):
        model.evaluate(own, verbose=0)


def test_training_fit_under_the_default_strategy_trains_on_weighted_batches():
    strategy = get_strategy()
    x, y, w = make_data(256, seed=2)
    with strategy.scope():
        model = binary_model()
    history = fit(model, make_dataset(x, y, sample_weight=w, batch_size=64, seed=0), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
