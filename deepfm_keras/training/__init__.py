"""Training: `fit` on one or many workers, the callbacks, checkpoints, and what they write.

- `fit.py`: `set_seed`, `make_callbacks`, `fit`;
- `distribute.py`: `get_strategy`, `global_batch_size`, `prepare_dataset`, the multi-worker loop;
- `callbacks.py`: `ContributionLogger`, `FieldImportanceLogger` (and `HParamsLogger`, `log_hparams`);
- `checkpoints.py`: `AtomicModelCheckpoint`, `AtomicBackupAndRestore`;
- `hparams.py`: `HParamsLogger`, `log_hparams`;
- `importance.py`: `field_importance`, `FieldImportance`, `heatmap_image`;

`deepfm_keras.training.fit` is the function; its module is imported as
`from deepfm_keras.training.fit import ...`.
"""

from deepfm_keras.training import callbacks, checkpoints, distribute, hparams, importance
from deepfm_keras.training.fit import fit, make_callbacks, set_seed

__all__ = [
    "callbacks",
    "checkpoints",
    "distribute",
    "fit",
    "hparams",
    "importance",
    "make_callbacks",
    "set_seed",
]
