"""Keras layers of DeepFM, each registered for plain `.keras` loading."""

from deepfm_keras.layers.embedding import CategoricalEmbedding, NumericEmbedding
from deepfm_keras.layers.interaction import FirstOrderFM, PartCombine, SecondOrderFM
from deepfm_keras.layers.mlp import MLP
from deepfm_keras.layers.pooling import MaskedMeanPooling, NumericSequencePooling
from deepfm_keras.layers.width import FitWidth

__all__ = [
    "CategoricalEmbedding",
    "FitWidth",
    "FirstOrderFM",
    "MLP",
    "MaskedMeanPooling",
    "NumericEmbedding",
    "NumericSequencePooling",
    "PartCombine",
    "SecondOrderFM",
]
