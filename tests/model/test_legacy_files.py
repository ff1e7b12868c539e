"""Files written before models kept their spec (commit 10c762a) still load, with identical predictions.

The files are made by `tests/data/pre_spec_files/make.py` (its docstring gives the command).
"""

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from deepfm_keras import FeatureEncoder, Task, head_names, part_names
from deepfm_keras.validation import model_fields

FILES = Path(__file__).resolve().parents[1] / "data" / "pre_spec_files"
KERAS_VERSION = tuple(int(p) for p in keras.version().split(".")[:2])
pytestmark = pytest.mark.skipif(
    KERAS_VERSION < (3, 15), reason="Keras before 3.15 cannot read the Dense configs 3.15 writes"
)

EXPECTED = {
    "binary": ((Task("prediction", "binary"),), ("fm_1d", "fm_2d", "deep")),
    "regression_deep_only": ((Task("prediction", "regression"),), ("deep",)),
    "multitask": ((Task("click"), Task("genre", "multiclass", num_classes=3)), ("fm_1d", "fm_2d", "deep")),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_model_file_without_a_spec_loads_with_identical_predictions(name):
    model = keras.saving.load_model(FILES / f"{name}.keras")
    saved = np.load(FILES / f"{name}.npz")
    x = {k[2:]: saved[k] for k in saved.files if k.startswith("x/")}
    expected = {k[2:]: saved[k] for k in saved.files if k.startswith("y/")}
    scores = model.predict(x, verbose=0)
    scores = scores if isinstance(scores, dict) else {"prediction": scores}
    assert sorted(scores) == sorted(expected)
    for head, values in expected.items():
        np.testing.assert_array_equal(scores[head], values, err_msg=head)
    # What the file does not say is read from its layers once, at load time.
    tasks, parts = EXPECTED[name]
    assert model.feature_spec is None
    assert sorted(model.tasks, key=lambda t: t.name) == sorted(tasks, key=lambda t: t.name)
    assert model.parts == parts
    heads = head_names(model)
    assert part_names(model, heads[0]) == part_names(model.from_config(model.get_config()), heads[0])
    fields = model_fields(model)
    assert fields["user"].vocabulary_size == 20 and fields["history"].vocabulary_size == 30
    assert fields["recent_prices"].nan_padding and not fields["tag_weights"].is_id


def test_an_encoder_file_written_before_loads_and_encodes_the_same():
    encoder = FeatureEncoder.load(FILES / "encoder.json")
    frame = pd.read_csv(FILES / "encoder_rows.csv", keep_default_na=False, na_values=[""])
    frame["user"] = frame["user"].astype(object).where(frame["user"].notna(), None)
    expected = np.load(FILES / "encoder_out.npz")
    got = encoder.transform(frame)
    assert sorted(got) == sorted(expected.files)
    for name in expected.files:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
