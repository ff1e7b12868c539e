"""Raw values to model inputs: one definition for pandas, tf.data, the Criteo stream and the serving export.

- `columns`: the column specs (what each raw column becomes, and its options).
- `raw`: type rules in Python (a value's key string; a table's columns as arrays).
- `layers`: the Keras layers that apply a fitted encoding in TensorFlow ops.
- `numbers`: the layer that parses lists of numbers (weights, numeric sequences), and the eager checks naming a row.
- `fitting`: the state each column learns from data (vocabularies, statistics, boundaries).
- `apply`: raw tensors or a DataFrame through the layers (`encode`, `transform`, `raw_inputs`).
- `config`: reading a saved encoder file (format 1 or 2), every field checked before use.
- `encoder`: `FeatureEncoder`, the column specs and their fitted state, saved as JSON; its methods call the two above.
"""

from deepfm_keras.encoding.columns import (
    BucketizedColumn,
    CategoricalColumn,
    MultiCategoricalColumn,
    NumericColumn,
    NumericSequenceColumn,
    column_from_dict,
)
from deepfm_keras.encoding.encoder import FeatureEncoder
from deepfm_keras.encoding.layers import (
    FIRST_ID,
    OOV_ID,
    PAD_ID,
    Bucketize,
    HashedLookup,
    NumericTransform,
    SplitTokens,
    VocabularyLookup,
    strip_spaces,
)
from deepfm_keras.encoding.numbers import SplitNumbers
from deepfm_keras.encoding.raw import canonical_string

__all__ = [
    "FIRST_ID",
    "OOV_ID",
    "PAD_ID",
    "BucketizedColumn",
    "Bucketize",
    "CategoricalColumn",
    "FeatureEncoder",
    "HashedLookup",
    "MultiCategoricalColumn",
    "NumericColumn",
    "NumericSequenceColumn",
    "NumericTransform",
    "SplitNumbers",
    "SplitTokens",
    "VocabularyLookup",
    "canonical_string",
    "column_from_dict",
    "strip_spaces",
]
