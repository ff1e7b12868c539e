"""What SECURITY.md states, tested: no pickle (or other code-carrying format) is read anywhere in the package;
`.keras` files load in safe mode and refuse Python code, unregistered classes, foreign modules and non-modeling
Keras APIs; the backup, the encoder file and the serving artifact hold data (and a TF graph) only.

`tests/test_hostile_input.py` already checks that `keras.saving.load_model` refuses a `.keras` Lambda and that a
`.keras` file holds exactly `config.json`, `metadata.json` and `model.weights.h5`; these tests do not repeat that.
"""

import ast
import json
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pytest

import deepfm_keras
from deepfm_keras import CategoricalFeature, FeatureEncoder, NumericFeature, build_deepfm, export_serving_model
from deepfm_keras.training.checkpoints import METADATA, AtomicBackupAndRestore
from tests.conftest import REPO_ROOT

# ------------------------------------------------------------------------------------ no pickle anywhere

# Modules whose loaders run code from the data they read (or exist to do so).
CODE_LOADING_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "marshal", "shelve", "torch"}
# Calls that unpickle: pandas' pickle and HDF5 (PyTables stores object columns as pickles) readers.
UNPICKLING_CALLS = {"read_pickle", "read_hdf", "HDFStore"}


def unsafe_reads(source: str, filename: str = "<string>") -> list[str]:
    """Lines of `source` that import a code-loading module, unpickle, run code or turn Keras' safe mode off."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: import {n}" for n in names if n.split(".")[0] in CODE_LOADING_MODULES]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            keywords = {k.arg: k.value for k in node.keywords}
            if name in UNPICKLING_CALLS or name in ("eval", "exec") and not owner:
                found.append(f"{where}: {name}()")
            if name == "load" and owner in ("np", "numpy"):
                flag = keywords.get("allow_pickle")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    found.append(f"{where}: np.load without allow_pickle=False")
            if name == "enable_unsafe_deserialization":
                found.append(f"{where}: enable_unsafe_deserialization()")
            flag = keywords.get("safe_mode")
            if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is True):
                found.append(f"{where}: safe_mode={ast.unparse(flag)}")
    return found


def test_the_scanner_finds_each_kind_of_unsafe_read():
    source = "\n".join(
        [
            "import pickle",
            "from joblib import load",
            "import numpy as np",
            "np.load(path)",
            "np.load(path, allow_pickle=True)",
            "np.load(path, allow_pickle=False)",  # fine
            "pd.read_pickle(path)",
            "keras.saving.load_model(path, safe_mode=False)",
            "keras.saving.load_model(path, safe_mode=True)",  # fine
            "keras.config.enable_unsafe_deserialization()",
            "eval(text)",
        ]
    )
    assert [line.split(": ", 1)[0] for line in unsafe_reads(source)] == [
        f"<string>:{n}" for n in (1, 2, 4, 5, 7, 8, 10, 11)
    ]


def test_no_pickle_is_read_anywhere_in_the_package_or_the_examples():
    files = sorted((REPO_ROOT / "deepfm_keras").rglob("*.py")) + sorted((REPO_ROOT / "examples").glob("*.py"))
    assert len(files) > 20  # the scan does see the package
    found = [hit for path in files for hit in unsafe_reads(path.read_text(encoding="utf-8"), str(path))]
    assert found == []


# ------------------------------------------------------------------------------------------ .keras files


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small DeepFM model's .keras file and its members."""
    keras.utils.set_random_seed(0)
    model = build_deepfm([NumericFeature("x"), CategoricalFeature("u", 5)], embedding_dim=2, hidden_units=(3,))
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    return path, members


def rewritten(members: dict, path: Path, edit) -> Path:
    """A copy of the .keras members with config.json passed through `edit` (a function of the parsed JSON)."""
    config = json.loads(members["config.json"])
    edit(config)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, json.dumps(config) if name == "config.json" else data)
    return path


def objects(config):
    """Every serialized object (a dict with a `class_name`) in a Keras config."""
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for value in config.values():
            yield from objects(value)
    elif isinstance(config, list):
        for value in config:
            yield from objects(value)


# Values Keras writes inline (serialization_lib.deserialize_keras_object's special cases), not classes.
KERAS_SPECIAL = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}


def test_a_deepfm_file_names_only_keras_and_registered_deepfm_classes(saved):
    config = json.loads(saved[1]["config.json"])
    found = list(objects(config))
    assert len(found) > 10
    for obj in found:
        registered = obj.get("registered_name") or ""
        module = obj.get("module") or ""
        assert obj["class_name"] not in ("Lambda", "__lambda__"), obj
        if obj["class_name"] in KERAS_SPECIAL:
            continue
        assert registered.startswith("deepfm_keras>") or module == "keras" or module.startswith("keras."), obj
    assert any(o.get("registered_name", "") and o["registered_name"].startswith("deepfm_keras>") for o in found)
    loaded = deepfm_keras.load_model(saved[0])  # safe mode, no custom_objects
    assert len(loaded.weights) == len(keras.saving.load_model(saved[0], safe_mode=True).weights)


def test_deepfm_load_model_refuses_python_code_in_both_file_formats(tmp_path):
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    for name in ("lambda.keras", "lambda.h5"):  # .h5: Keras' legacy format, also refused in safe mode since 3.11.3
        model.save(tmp_path / name)
        with pytest.raises(ValueError, match="safe_mode"):
            deepfm_keras.load_model(tmp_path / name)


def test_an_unregistered_class_is_refused(saved, tmp_path):
    def rename(config):
        for obj in objects(config):
            if obj.get("registered_name") == "deepfm_keras>CategoricalEmbedding":
                obj["registered_name"] = "somebody_else>CategoricalEmbedding"

    path = rewritten(saved[1], tmp_path / "unregistered.keras", rename)
    with pytest.raises(TypeError, match="Could not locate class 'CategoricalEmbedding'"):
        keras.saving.load_model(path, safe_mode=True)


def test_a_class_from_a_foreign_module_is_never_imported(saved, tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Planted: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def plant(config):
        dense = next(o for o in objects(config) if o["class_name"] == "Dense")
        dense.update(module="planted_module", class_name="Planted", registered_name=None)

    path = rewritten(saved[1], tmp_path / "foreign.keras", plant)
    with pytest.raises(TypeError, match="Could not locate class 'Planted'"):
        keras.saving.load_model(path, safe_mode=True)
    assert not marker.exists() and "planted_module" not in sys.modules


@pytest.mark.parametrize("api", ["keras.config>enable_unsafe_deserialization", "keras.utils>get_file"])
def test_a_lambda_naming_a_non_modeling_keras_api_is_refused(tmp_path, api):
    """The known safe-mode bypass: a Lambda whose function is a Keras API that turns safe mode off or fetches files."""
    inputs = keras.Input((1,))
    path = tmp_path / "api.keras"
    keras.Model(inputs, keras.layers.Lambda(keras.activations.relu)(inputs)).save(path)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    module, function = api.split(">")

    def point_at_api(config):
        lam = next(o for o in objects(config) if o["class_name"] == "Lambda")
        lam["config"]["function"] = {
            "module": module,
            "class_name": "function",
            "config": function,
            "registered_name": "function",
        }

    path = rewritten(members, tmp_path / "bypass.keras", point_at_api)
    with pytest.raises(ValueError, match="not a modeling function"):
        keras.saving.load_model(path, safe_mode=True)
    lambda_path = tmp_path / "lambda.keras"  # safe mode is still on for the process: a lambda is still refused
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(lambda_path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(lambda_path)


# --------------------------------------------------------------------- backups, encoder file, serving artifact


def test_the_backup_holds_hdf5_numbers_and_a_json_that_names_a_file_in_its_folder(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_deepfm([CategoricalFeature("u", 5)], embedding_dim=2, hidden_units=(3,))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    backup = tmp_path / "backup"
    x, y = {"u": np.arange(8) % 5}, np.arange(8) % 2
    model.fit(x, y, epochs=2, verbose=0, callbacks=[AtomicBackupAndRestore(backup, delete_checkpoint=False)])
    files = sorted(p.name for p in backup.iterdir())
    assert len(files) == 2 and METADATA in files and files[0].endswith(".weights.h5"), files
    metadata = json.loads((backup / METADATA).read_text())
    assert metadata["weights"] == files[0]
    datasets = []
    with h5py.File(backup / files[0], "r") as f:
        f.visititems(lambda name, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
        assert datasets and all(d.dtype.kind in "fiub" for d in datasets)  # numbers only: no object or opaque data
    (backup / METADATA).write_text(json.dumps({**metadata, "weights": "../elsewhere.weights.h5"}))
    with pytest.raises(ValueError, match="`weights` should be a file name"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[AtomicBackupAndRestore(backup, delete_checkpoint=False)])


def test_an_encoder_file_is_json_data_and_unknown_keys_are_refused(tmp_path):
    frame = pd.DataFrame({"u": ["__import__('os').system('x')", "b"], "x": [1.0, 2.0]})
    encoder = FeatureEncoder(numeric=["x"], categorical=["u"]).fit(frame)
    path = tmp_path / "encoder.json"
    encoder.save(path)
    loaded = FeatureEncoder.load(path)
    assert loaded.transform(frame)["u"].tolist() == encoder.transform(frame)["u"].tolist()  # a key, nothing more
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "__reduce__": ["os.system", ["x"]]}))
    with pytest.raises(ValueError, match="encoder.json"):
        FeatureEncoder.load(path)


def test_the_serving_artifact_holds_a_graph_variables_and_json(tmp_path):
    frame = pd.DataFrame({"u": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
    encoder = FeatureEncoder(numeric=["x"], categorical=["u"]).fit(frame)
    model = build_deepfm(encoder.feature_spec, embedding_dim=2, hidden_units=(3,))
    path = Path(export_serving_model(model, encoder, tmp_path / "serving" / "1"))
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert "saved_model.pb" in files and "assets.extra/encoder.json" in files
    allowed = ("saved_model.pb", "fingerprint.pb", "variables/variables.", "assets.extra/encoder.json")
    assert all(f.startswith(allowed) for f in files), files
