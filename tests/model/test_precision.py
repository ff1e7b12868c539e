"""The default dtype policy: picked from the machine, overridable; a bfloat16 model trains, saves and loads."""

import keras
import numpy as np
import pytest

from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, NumericFeature, build_deepfm, precision
from tests.helpers import save_and_load


@pytest.mark.parametrize(
    "flags, has_gpu, expected",
    [
        ({"avx512f", "avx512_bf16"}, False, "mixed_bfloat16"),  # AMD Zen 4
        ({"avx512f", "amx_bf16", "amx_tile"}, False, "mixed_bfloat16"),  # Intel Sapphire Rapids
        ({"avx2", "fma"}, False, "float32"),  # no bfloat16 instructions: emulated, slow
        ({"avx512f", "avx512_bf16"}, True, "float32"),  # GPUs: not measured
    ],
)
def test_default_policy_follows_the_machine(monkeypatch, flags, has_gpu, expected):
    monkeypatch.delenv(precision.ENVIRONMENT_VARIABLE, raising=False)
    assert precision.default_dtype_policy(flags=frozenset(flags), has_gpu=has_gpu) == expected


def test_regression_models_stay_float32(monkeypatch):
    monkeypatch.delenv(precision.ENVIRONMENT_VARIABLE, raising=False)
    flags = frozenset({"avx512_bf16"})
    assert precision.default_dtype_policy(task="regression", flags=flags, has_gpu=False) == "float32"
    assert precision.default_dtype_policy(task="binary", flags=flags, has_gpu=False) == "mixed_bfloat16"


def test_environment_overrides_the_choice(monkeypatch):
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "float32")
    assert precision.default_dtype_policy(flags=frozenset({"avx512_bf16"}), has_gpu=False) == "float32"


def test_cpu_flags_reads_the_flags_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\nbugs\t: x\n")
    assert precision.cpu_flags(str(path)) == frozenset({"fpu", "avx512f", "avx512_bf16"})
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


SPEC = [
    NumericFeature("x"),
    CategoricalFeature("user", vocabulary_size=40),
    MultiCategoricalFeature("tags", vocabulary_size=9, max_len=3),
]


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "user": rng.integers(0, 40, size=(n, 1)),
        "tags": rng.integers(0, 9, size=(n, 3)),
    }
    y = (x["user"][:, 0] % 2).astype("float32").reshape(-1, 1)
    return x, y


def test_auto_takes_the_environment_choice_and_restores_the_global_policy(monkeypatch):
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "mixed_bfloat16")
    model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    assert model.get_layer("deep").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("prediction").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"
    monkeypatch.setenv(precision.ENVIRONMENT_VARIABLE, "float32")
    assert build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,)).get_layer("deep").dtype_policy.name == "float32"


def test_a_global_policy_set_by_the_user_wins_over_auto():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_deepfm(SPEC, embedding_dim=4, hidden_units=(8,))
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("fm_2d").dtype_policy.name == "mixed_bfloat16"


def test_bfloat16_model_learns_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_deepfm(SPEC, embedding_dim=8, hidden_units=(16,), dtype_policy="mixed_bfloat16")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = _data()
    assert model.get_layer("embedding_categorical").embeddings.dtype == "float32"
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.05
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    loaded = save_and_load(model, tmp_path)
    assert loaded.get_layer("deep").dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out, rtol=1e-6, atol=1e-6)
