"""Raw values to model inputs: one definition for pandas, tf.data, the Criteo stream and the serving export.

- `ids`: the id layout (`PAD_ID` 0, `OOV_ID` 1, known values from `FIRST_ID` 2).
- `raw`: type rules in Python (a value's key string; a table's columns as arrays).
- `layers`, `number_lists`: the Keras layers that apply a fitted encoding in TensorFlow ops.
- `column`: `Column`, the base class of the column kinds, and `ColumnState`, what a column learns.
- `numeric`, `categorical`: the column kinds, each with its options, fit, state, layers and features.
- `kinds`: the registry of column kinds (`COLUMN_KINDS`, `register_column_kind`).
- `encoder`: `FeatureEncoder`, which loops over its columns.
- `file_format`: the encoder file (`encoder.json`, format 1 or 2): its one reader and writer.
"""

from deepfm_keras.encoding.categorical import CategoricalColumn, MultiCategoricalColumn
from deepfm_keras.encoding.column import Column, ColumnState
from deepfm_keras.encoding.encoder import FeatureEncoder
from deepfm_keras.encoding.ids import FIRST_ID, OOV_ID, PAD_ID
from deepfm_keras.encoding.kinds import COLUMN_KINDS, column_from_dict, register_column_kind
from deepfm_keras.encoding.layers import (
    Bucketize,
    HashedLookup,
    NumericTransform,
    SplitTokens,
    VocabularyLookup,
    strip_spaces,
)
from deepfm_keras.encoding.number_lists import SplitNumbers
from deepfm_keras.encoding.numeric import BucketizedColumn, NumericColumn, NumericSequenceColumn
from deepfm_keras.encoding.raw import canonical_string

__all__ = [
    "COLUMN_KINDS",
    "FIRST_ID",
    "OOV_ID",
    "PAD_ID",
    "BucketizedColumn",
    "Bucketize",
    "CategoricalColumn",
    "Column",
    "ColumnState",
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
    "register_column_kind",
    "strip_spaces",
]
