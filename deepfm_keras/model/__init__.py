"""The DeepFM model: builder steps, the model class that keeps its spec, and its heads' parts.

- `embeddings.py`: `build_inputs`, `build_field_embeddings`, `build_embedding_views`;
- `builders.py`: `build_first_order`, `build_second_order`, `build_deep`, `combine_parts`, `build_deepfm`;
- `deepfm.py`: `DeepFMModel`, the model class (spec, strict inputs, entry checks, optimizer names);
- `steps.py`: `CheckedSteps`, the steps of `DeepFMModel` (batch checks, also before an XLA-compiled step);
- `parts.py`: the naming rule of heads and parts, `head_names`, `part_names`, `part_models`;
- `legacy.py`: what a model that keeps no spec says of itself, read from its layers.
"""

from deepfm_keras.model.builders import build_deep, build_deepfm, build_first_order, build_second_order, combine_parts
from deepfm_keras.model.deepfm import DEFAULT_STEPS_PER_EXECUTION, DeepFMModel
from deepfm_keras.model.embeddings import build_embedding_views, build_field_embeddings, build_inputs
from deepfm_keras.model.parts import PART_NAMES, head_names, part_models, part_names

__all__ = [
    "DEFAULT_STEPS_PER_EXECUTION",
    "PART_NAMES",
    "DeepFMModel",
    "build_deep",
    "build_deepfm",
    "build_embedding_views",
    "build_field_embeddings",
    "build_first_order",
    "build_inputs",
    "build_second_order",
    "combine_parts",
    "head_names",
    "part_models",
    "part_names",
]
