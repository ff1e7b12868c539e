"""Former home of the encoder and the tf.data helper, kept so existing imports keep working.

The encoding now lives in `deepfm_keras.encoding` (column specs, fit state,
the Keras layers that apply it) and the tf.data pipeline in
`deepfm_keras.data`. New code imports from there (or from `deepfm_keras`).
"""

from deepfm_keras.data import make_dataset
from deepfm_keras.encoding import FIRST_ID, OOV_ID, PAD_ID, FeatureEncoder, canonical_string

__all__ = ["FIRST_ID", "OOV_ID", "PAD_ID", "FeatureEncoder", "canonical_string", "make_dataset"]
