"""DeepFM (Guo et al., IJCAI 2017) for native Keras 3 on TensorFlow."""

from deepfm_keras import metrics, optimizers, precision, validation
from deepfm_keras.callbacks import ContributionLogger
from deepfm_keras.data import make_dataset
from deepfm_keras.distribute import get_strategy, global_batch_size
from deepfm_keras.encoding import (
    BucketizedColumn,
    CategoricalColumn,
    FeatureEncoder,
    MultiCategoricalColumn,
    NumericColumn,
    canonical_string,
)
from deepfm_keras.features import (
    CategoricalFeature,
    MultiCategoricalFeature,
    NumericFeature,
    feature_from_dict,
    field_order,
    spec_from_dicts,
    spec_to_dicts,
)
from deepfm_keras.inference import batch_predict
from deepfm_keras.io import save_model
from deepfm_keras.model import (
    DeepFMModel,
    build_deep,
    build_deepfm,
    build_field_embeddings,
    build_first_order,
    build_inputs,
    build_second_order,
    combine_parts,
    part_models,
    part_names,
)
from deepfm_keras.serving import export_serving_model, load_model, predictions, request_to_frame, serving_request
from deepfm_keras.version import __version__

__all__ = [
    "DeepFMModel",
    "BucketizedColumn",
    "CategoricalColumn",
    "CategoricalFeature",
    "ContributionLogger",
    "FeatureEncoder",
    "MultiCategoricalColumn",
    "MultiCategoricalFeature",
    "NumericColumn",
    "NumericFeature",
    "__version__",
    "batch_predict",
    "build_deep",
    "build_deepfm",
    "build_field_embeddings",
    "build_first_order",
    "build_inputs",
    "build_second_order",
    "canonical_string",
    "combine_parts",
    "export_serving_model",
    "feature_from_dict",
    "field_order",
    "get_strategy",
    "global_batch_size",
    "load_model",
    "make_dataset",
    "metrics",
    "optimizers",
    "precision",
    "validation",
    "part_models",
    "part_names",
    "predictions",
    "request_to_frame",
    "save_model",
    "serving_request",
    "spec_from_dicts",
    "spec_to_dicts",
]
