"""DeepFM (Guo et al., IJCAI 2017) for native Keras 3 on TensorFlow.

`import deepfm_keras` imports TensorFlow and Keras and registers every Keras
class of the package, as keras-hub and keras-rs do, so a plain
`keras.saving.load_model("model.keras")` finds them in a fresh process. The
`deepfm-keras` command parses its arguments in `deepfm_keras_cli`, which
imports neither, so `--help` answers at once.
"""

from deepfm_keras import metrics, optimizers, validation
from deepfm_keras.data import make_dataset
from deepfm_keras.encoding import (
    BucketizedColumn,
    CategoricalColumn,
    FeatureEncoder,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    canonical_string,
)
from deepfm_keras.inference import batch_predict
from deepfm_keras.io import save_model
from deepfm_keras.model import (
    DeepFMModel,
    build_deep,
    build_deepfm,
    build_embedding_views,
    build_field_embeddings,
    build_first_order,
    build_inputs,
    build_second_order,
    combine_parts,
    head_names,
    part_models,
    part_names,
    precision,
)
from deepfm_keras.serving import export_serving_model, load_model, predictions, request_to_frame, serving_request
from deepfm_keras.spec.feature_spec import field_order, spec_from_dicts, spec_to_dicts
from deepfm_keras.spec.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    NumericSequenceFeature,
    feature_from_dict,
)
from deepfm_keras.spec.tasks import Task, compile_kwargs
from deepfm_keras.training.callbacks import ContributionLogger, FieldImportanceLogger
from deepfm_keras.training.distribute import get_strategy, global_batch_size
from deepfm_keras.training.hparams import HParamsLogger, log_hparams
from deepfm_keras.training.importance import FieldImportance, field_importance
from deepfm_keras.version import __version__

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CategoricalFeature",
    "ContributionLogger",
    "DeepFMModel",
    "FeatureEncoder",
    "FieldImportance",
    "FieldImportanceLogger",
    "HParamsLogger",
    "MultiCategoricalColumn",
    "MultiCategoricalFeature",
    "NumericColumn",
    "NumericFeature",
    "NumericSequenceColumn",
    "NumericSequenceFeature",
    "Task",
    "__version__",
    "batch_predict",
    "build_deep",
    "build_deepfm",
    "build_embedding_views",
    "build_field_embeddings",
    "build_first_order",
    "build_inputs",
    "build_second_order",
    "canonical_string",
    "combine_parts",
    "compile_kwargs",
    "export_serving_model",
    "feature_from_dict",
    "field_importance",
    "field_order",
    "get_strategy",
    "global_batch_size",
    "head_names",
    "load_model",
    "log_hparams",
    "make_dataset",
    "metrics",
    "optimizers",
    "part_models",
    "part_names",
    "precision",
    "predictions",
    "request_to_frame",
    "save_model",
    "serving_request",
    "spec_from_dicts",
    "spec_to_dicts",
    "validation",
]
