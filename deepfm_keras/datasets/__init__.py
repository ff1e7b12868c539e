"""Readers of public recommendation / CTR datasets.

Import the submodule you need, e.g. `from deepfm_keras.datasets import movielens`;
nothing is loaded or downloaded at import time.
"""
