"""`DeepFMModel`: it keeps its spec, takes Keras' compile arguments, and loads with plain Keras after the import."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from deepfm_keras import DeepFMModel, Task, part_models, part_names
from deepfm_keras.optimizers import LazyAdam
from deepfm_keras.validation import model_fields, spec_fields
from tests.builders import EVERY_KIND, random_inputs, small_model
from tests.helpers import save_and_load

SPEC = list(EVERY_KIND)
RNG = np.random.default_rng(3)


def batch(rows=16):
    return random_inputs(SPEC, rows, RNG)


def small(**kwargs):
    return small_model(SPEC, **kwargs)


def test_compile_takes_the_positional_arguments_of_keras():
    model = small()
    model.compile("adam", "binary_crossentropy", None, ["auc"])
    assert isinstance(model.optimizer, LazyAdam)
    history = model.fit(batch(), RNG.integers(0, 2, size=16).astype("float32"), verbose=0)
    assert set(history.history) == {"loss", "auc"}
    with pytest.raises(TypeError):
        model.compile("adam", "mse", None, None, None, False, 1, False, True, "one too many")


def test_compile_without_a_loss_gives_each_head_its_tasks_loss_and_weight():
    one = small(task="regression")
    one.compile("sgd")
    assert one.loss == "mse"
    several = small(tasks=[Task("click"), Task("genre", "multiclass", num_classes=3, loss_weight=0.5)])
    several.compile("adam")
    assert several.loss == {"click": "binary_crossentropy", "genre": "sparse_categorical_crossentropy"}
    assert several._compile_loss._user_loss_weights == {"click": 1.0, "genre": 0.5}
    x = batch()
    history = several.fit(x, {"click": np.ones(16), "genre": RNG.integers(0, 3, size=16)}, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"task": "regression", "parts": ("deep",)},
        {"tasks": [Task("click"), Task("genre", "multiclass", num_classes=3)]},
    ],
    ids=["binary", "deep_only", "two_heads"],
)
def test_the_model_keeps_its_spec_tasks_and_parts_through_config_and_file(kwargs, tmp_path):
    model = small(**kwargs)
    assert model.feature_spec == tuple(SPEC)
    assert model.parts == tuple(kwargs.get("parts", ("fm_1d", "fm_2d", "deep")))
    expected_tasks = tuple(kwargs.get("tasks", [Task("prediction", kwargs.get("task", "binary"))]))
    assert model.tasks == expected_tasks
    config = model.get_config()
    assert config["feature_spec"][3] == {
        "kind": "multi_categorical", "name": "tags", "vocabulary_size": 12, "max_len": 4, "weight_name": "tag_weights",
    }  # fmt: skip
    clone = DeepFMModel.from_config(config)
    loaded = save_and_load(model, tmp_path)
    x = batch()
    for other in (clone, loaded):
        assert (other.feature_spec, other.tasks, other.parts) == (model.feature_spec, model.tasks, model.parts)
    scores, again = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for a, b in zip(keras.tree.flatten(scores), keras.tree.flatten(again), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_input_checks_read_the_spec_the_model_keeps():
    model = small()
    assert model_fields(model) == spec_fields(SPEC)
    assert model_fields(model)["recent_prices"].nan_padding and model_fields(model)["tag_weights"].width == 4
    x = batch(4)
    x["user"][2, 0] = 20
    # A part sub-model keeps the spec too: its inputs are checked the same way.
    deep = part_models(model)["deep"]
    assert deep.feature_spec == model.feature_spec and deep.tasks == () and deep.parts == ()
    with pytest.raises(ValueError, match=r"Feature 'user', row 2: id 20 is outside \[0, 20\)"):
        deep.predict(x, verbose=0)


def test_part_names_follow_the_kept_parts_of_each_head():
    model = small(tasks=[Task("click"), Task("buy")], parts=("deep", "fm_2d"))
    assert part_names(model, "click") == ["deep_click", "fm_2d"]
    assert part_names(model, "buy") == ["deep_buy", "fm_2d"]
    with pytest.raises(ValueError, match="no layer named 'combine_view'"):
        part_names(model, "view")


@pytest.mark.slow
def test_plain_keras_load_model_works_in_a_fresh_process_after_import_deepfm_keras(tmp_path):
    model = small()
    model.compile("adam", "binary_crossentropy")
    x = batch()
    model.fit(x, RNG.integers(0, 2, size=16).astype("float32"), verbose=0)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "x.npz", **x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import deepfm_keras  # registers every class of the package
        import keras

        model = keras.saving.load_model(sys.argv[1] + "/model.keras")
        x = dict(np.load(sys.argv[1] + "/x.npz"))
        np.testing.assert_array_equal(model.predict(x, verbose=0), np.load(sys.argv[1] + "/expected.npy"))
        print("LOADED", type(model).__name__, type(model.optimizer).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED DeepFMModel LazyAdam" in result.stdout


def test_the_checked_steps_are_a_mixin_and_the_model_stays_functional():
    from deepfm_keras.model.steps import CheckedSteps

    model = small()
    mro = type(model).__mro__
    assert mro.index(CheckedSteps) < mro.index(keras.Model)
    assert "__init__" not in vars(CheckedSteps)  # Keras reads the functional constructor of DeepFMModel
    clone = DeepFMModel.from_config(model.get_config())
    assert type(clone) is DeepFMModel
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
