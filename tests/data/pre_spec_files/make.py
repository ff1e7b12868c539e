"""Writes the files of `tests/model/test_legacy_files.py`: models and an encoder saved before models kept their spec.

They were written by commit 10c762a (the last `main` before `DeepFMModel` kept
its feature spec, tasks and parts in its config), with Keras 3.15 and float32:

    git worktree add /tmp/old 10c762a
    PYTHONPATH=/tmp/old:. DEEPFM_KERAS_DTYPE_POLICY=float32 python tests/data/pre_spec_files/make.py tests/data/pre_spec_files

(`tests.builders` gives the spec, `EVERY_KIND`, and the inputs, from the repository root.)

Each model is saved with the inputs it was scored on and its predictions; the
encoder with the raw rows it transformed and what it gave.
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import deepfm_keras as dk
from tests.builders import EVERY_KIND, random_inputs


def main(out: Path) -> None:
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    spec = list(EVERY_KIND)
    models = {
        "binary": dk.build_deepfm(spec, embedding_dim=4, hidden_units=(8,)),
        "regression_deep_only": dk.build_deepfm(spec, embedding_dim=4, hidden_units=(8,), task="regression",
                                                parts=("deep",)),
        "multitask": dk.build_deepfm(spec, embedding_dim=4, hidden_units=(8,),
                                     tasks=[dk.Task("click"), dk.Task("genre", "multiclass", num_classes=3)]),
    }  # fmt: skip
    x = random_inputs(spec, 16, rng)
    for name, model in models.items():
        for w in model.weights:  # weights away from their initial values, so that a reload with fresh ones shows
            w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
        scores = model.predict(x, verbose=0)
        model.save(out / f"{name}.keras")
        flat = scores if isinstance(scores, dict) else {"prediction": scores}
        np.savez(out / f"{name}.npz", **{f"x/{k}": v for k, v in x.items()}, **{f"y/{k}": v for k, v in flat.items()})

    frame = pd.DataFrame({
        "user": ["a", "b", "c", "a", "zz", None],
        "age": [21.0, 35.0, np.nan, 50.0, 18.0, 40.0],
        "genres": ["x|y", "y", "", "x|z", "q", None],
        "city": ["p", "q", "r", "p", "s", "t"],
    })  # fmt: skip
    encoder = dk.FeatureEncoder([
        dk.CategoricalColumn("user"),
        dk.NumericColumn("age"),
        dk.MultiCategoricalColumn("genres", separator="|", max_len=3),
        dk.CategoricalColumn("city", num_bins=8),
    ])  # fmt: skip
    encoder.fit(frame.iloc[:4])
    encoder.save(out / "encoder.json")
    frame.to_csv(out / "encoder_rows.csv", index=False)
    np.savez(out / "encoder_out.npz", **encoder.transform(frame))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
