"""Helpers of the Criteo reader's tests: naive pandas references and hand-made lines."""

import numpy as np
import pandas as pd

from deepfm_keras.datasets import criteo

COLUMNS = [criteo.LABEL, *criteo.INTEGER_FEATURES, *criteo.CATEGORICAL_FEATURES]


def read_all(reader, files, batch_size=1000):
    batches = list(reader.dataset(files, batch_size=batch_size))
    features = {k: np.concatenate([b[0][k].numpy() for b in batches]) for k in batches[0][0]}
    labels = np.concatenate([b[1].numpy() for b in batches])
    return features, labels


def naive_frame(path):
    return pd.read_csv(path, sep="\t", header=None, names=COLUMNS, dtype=str, keep_default_na=False)


def good_line(i=0, label="1"):
    ints = [str(i), "-1", "", "5"] + ["0"] * 9
    cats = [f"{i:08x}", ""] + ["68fd1e64"] * 24
    return "\t".join([label, *ints, *cats])
