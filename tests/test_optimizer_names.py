"""The optimizer-name table: what each name gives, name matching, learning rates, errors."""

import keras
import pytest

from deepfm_keras import optimizer_names, optimizers
from deepfm_keras.optimizer_names import NAMES, canonical_name, get, names, optimizer_class
from deepfm_keras.optimizers import LazyAdam, RowWiseAdagrad, SparseAdagrad, SparseFtrl, SparseSGD

EXPECTED = {
    "adam": LazyAdam,
    "lazy_adam": LazyAdam,
    "adagrad": SparseAdagrad,
    "rowwise_adagrad": RowWiseAdagrad,
    "sgd": SparseSGD,
    "ftrl": SparseFtrl,
    "dense_adam": keras.optimizers.Adam,
}


def test_every_name_gives_its_class():
    assert names() == tuple(NAMES) == tuple(EXPECTED)
    for name, cls in EXPECTED.items():
        assert optimizer_class(name) is cls
        assert type(get(name)) is cls, name


def test_optimizers_module_shares_the_one_table():
    assert optimizers.NAMES is optimizer_names.NAMES
    assert optimizers.get is optimizer_names.get and optimizers.names is optimizer_names.names
    with pytest.raises(TypeError):
        NAMES["adam"] = "keras.optimizers.Adam"  # read-only: nobody re-points a name behind the others' backs


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("Adam", "adam"),
        ("LAZY_ADAM", "lazy_adam"),
        ("LazyAdam", "lazy_adam"),
        ("row_wise_adagrad", "rowwise_adagrad"),
        ("RowWiseAdagrad", "rowwise_adagrad"),
        ("DenseAdam", "dense_adam"),
        ("rmsprop", None),
    ],
)
def test_names_match_ignoring_case_and_underscores(spelling, name):
    assert canonical_name(spelling) == name


@pytest.mark.parametrize("identifier", ["adam", "dense_adam", "rowwise_adagrad", "rmsprop", {"class_name": "SGD"}])
def test_get_applies_the_learning_rate(identifier):
    optimizer = get(identifier, learning_rate=0.25)
    assert float(optimizer.learning_rate) == 0.25
    assert float(get(identifier).learning_rate) != 0.25  # the class default otherwise


def test_get_takes_a_learning_rate_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert get("ftrl", learning_rate=schedule)._learning_rate is schedule


def test_get_passes_keras_identifiers_through():
    stock = keras.optimizers.RMSprop()
    assert get(stock) is stock
    assert type(get("rmsprop")) is keras.optimizers.RMSprop
    assert type(get("adamw")) is keras.optimizers.AdamW
    config = keras.saving.serialize_keras_object(SparseSGD(0.3, momentum=0.5))
    restored = get(config)
    assert type(restored) is SparseSGD and restored.momentum == 0.5
    assert get(None) is None


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError, match="sparse_adamw") as error:
        get("sparse_adamw")
    assert all(name in str(error.value) for name in NAMES)
    with pytest.raises(ValueError, match="dense_adam"):
        optimizer_class("rmsprop")  # a Keras name, but not one of the table's


@pytest.mark.parametrize("learning_rate", [0, -0.1])
def test_learning_rate_must_be_positive(learning_rate):
    with pytest.raises(ValueError, match="`learning_rate` should be positive"):
        get("adam", learning_rate=learning_rate)


def test_learning_rate_with_an_instance_is_refused():
    optimizer = LazyAdam(0.01)
    with pytest.raises(ValueError, match="instance"):
        get(optimizer, learning_rate=0.5)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
