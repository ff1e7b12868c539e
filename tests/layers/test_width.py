"""FitWidth (deepfm_keras/layers/width.py): cut or zero-pad to the FM width."""

import keras
import numpy as np
import pytest

from deepfm_keras.layers import FitWidth


def test_cuts_longer_and_pads_shorter_vectors():
    e = np.arange(10, dtype="float32").reshape(1, 2, 5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(FitWidth(3)(e)), e[..., :3])
    padded = keras.ops.convert_to_numpy(FitWidth(7)(e))
    np.testing.assert_array_equal(padded[..., :5], e)
    np.testing.assert_array_equal(padded[..., 5:], 0.0)


def test_registered_name_did_not_move_with_the_module():
    assert keras.saving.get_registered_name(FitWidth) == "deepfm_keras>FitWidth"


@pytest.mark.parametrize("width", [0, -3, 2.5, True])
def test_bad_width(width):
    with pytest.raises(ValueError, match=f"`width` should be a positive integer. Received: width={width!r}"):
        FitWidth(width)
