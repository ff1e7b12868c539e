"""DeepFM (Guo et al., IJCAI 2017) for native Keras 3 on TensorFlow.

`import deepfm_keras` is cheap: it imports neither TensorFlow nor Keras, so
`deepfm-keras --help` answers at once. The first name used from the package
(`deepfm_keras.build_deepfm`, `from deepfm_keras import FeatureEncoder`, ...)
imports all of it, which registers every Keras class of the package, so from
then on plain `keras.saving.load_model(path)` finds them too.
"""

from __future__ import annotations

import importlib
import importlib.util

from deepfm_keras.version import __version__  # noqa: F401 (in __all__)

# Public name -> the module defining it. Using any of them imports every module listed here.
_EXPORTS = {
    "ContributionLogger": "deepfm_keras.callbacks",
    "FieldImportanceLogger": "deepfm_keras.callbacks",
    "HParamsLogger": "deepfm_keras.hparams",
    "log_hparams": "deepfm_keras.hparams",
    "FieldImportance": "deepfm_keras.importance",
    "field_importance": "deepfm_keras.importance",
    "make_dataset": "deepfm_keras.data",
    "get_strategy": "deepfm_keras.distribute",
    "global_batch_size": "deepfm_keras.distribute",
    "BucketizedColumn": "deepfm_keras.encoding",
    "CategoricalColumn": "deepfm_keras.encoding",
    "FeatureEncoder": "deepfm_keras.encoding",
    "MultiCategoricalColumn": "deepfm_keras.encoding",
    "NumericColumn": "deepfm_keras.encoding",
    "NumericSequenceColumn": "deepfm_keras.encoding",
    "canonical_string": "deepfm_keras.encoding",
    "CategoricalFeature": "deepfm_keras.features",
    "MultiCategoricalFeature": "deepfm_keras.features",
    "NumericFeature": "deepfm_keras.features",
    "NumericSequenceFeature": "deepfm_keras.features",
    "feature_from_dict": "deepfm_keras.features",
    "field_order": "deepfm_keras.features",
    "spec_from_dicts": "deepfm_keras.features",
    "spec_to_dicts": "deepfm_keras.features",
    "batch_predict": "deepfm_keras.inference",
    "save_model": "deepfm_keras.io",
    "DeepFMModel": "deepfm_keras.model",
    "build_deep": "deepfm_keras.model",
    "build_deepfm": "deepfm_keras.model",
    "build_embedding_views": "deepfm_keras.model",
    "build_field_embeddings": "deepfm_keras.model",
    "build_first_order": "deepfm_keras.model",
    "build_inputs": "deepfm_keras.model",
    "build_second_order": "deepfm_keras.model",
    "combine_parts": "deepfm_keras.model",
    "head_names": "deepfm_keras.model",
    "part_models": "deepfm_keras.model",
    "part_names": "deepfm_keras.model",
    "export_serving_model": "deepfm_keras.serving",
    "load_model": "deepfm_keras.serving",
    "predictions": "deepfm_keras.serving",
    "request_to_frame": "deepfm_keras.serving",
    "serving_request": "deepfm_keras.serving",
    "Task": "deepfm_keras.tasks",
    "compile_kwargs": "deepfm_keras.tasks",
}
_SUBMODULES = ("metrics", "optimizers", "precision", "validation")
_MODULES = (*dict.fromkeys(_EXPORTS.values()), *(f"deepfm_keras.{name}" for name in _SUBMODULES))

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def _import_all() -> None:
    """Imports every public module once: TensorFlow, Keras, and the registration of the package's Keras classes."""
    for module in _MODULES:
        importlib.import_module(module)


def __getattr__(name: str):
    if name in _EXPORTS:
        _import_all()
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"deepfm_keras.{name}") is not None:
        # A submodule (`from deepfm_keras import validation` inside the package): that module only, so that
        # modules importing each other never meet a half-imported package.
        value = importlib.import_module(f"deepfm_keras.{name}")
    else:
        raise AttributeError(f"module 'deepfm_keras' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
