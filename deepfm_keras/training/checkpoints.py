"""Crash-safe checkpoints: the best-model `.keras` file and the resume backup, written atomically.

Keras' `ModelCheckpoint` and `BackupAndRestore` write their files in place, so
a SIGKILL or a full disk mid-write leaves a truncated file where the good one
was, and the restarted run crashes on it. The two subclasses here keep the
Keras arguments and behaviour and change only how files are written
(`deepfm_keras.io`); `deepfm_keras.training.make_callbacks` uses them.

- `AtomicModelCheckpoint`: the model goes to a hidden temporary file next to
  `filepath`, which then replaces `filepath` with `os.replace`.
- `AtomicBackupAndRestore`: each backup is a new, epoch-tagged weights file
  (weights and optimizer state), then a metadata JSON naming it replaces the
  previous one; older weights files are deleted after. The metadata is the
  commit point: it always names a complete weights file of the epoch it
  records. On restart, files the metadata does not name (a half-written
  leftover of a killed save) are deleted, never loaded.
"""

from __future__ import annotations

import json
import os
import secrets

import keras

from deepfm_keras import data, io

METADATA = "training_metadata.json"
LEGACY_WEIGHTS = "latest.weights.h5"  # what keras.callbacks.BackupAndRestore writes (older deepfm_keras backups)
BACKUP_FORMAT = 1


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that writes each file atomically (temporary file, fsync, `os.replace`).

    Same arguments as `ModelCheckpoint`, but `filepath` is one fixed path (no
    `{epoch}`-style placeholders). A crash during a save leaves the previous
    file; temporaries of `filepath` left by a killed run are removed at
    `on_train_begin`.

    Example:

    >>> checkpoint = AtomicModelCheckpoint("best.keras", monitor="val_loss", save_best_only=True)
    """

    def __init__(self, filepath, *args, **kwargs):
        if "{" in os.fspath(filepath):
            raise ValueError(
                f"`filepath` should be one fixed path, without placeholders. Received: filepath={filepath!r}"
            )
        super().__init__(filepath, *args, **kwargs)

    def on_train_begin(self, logs=None):
        io.remove_temporaries(self.filepath)
        super().on_train_begin(logs)

    def _save_model(self, epoch, batch, logs):
        target = self.filepath
        tmp = io.temporary_name(target)
        self.filepath = tmp  # ModelCheckpoint decides whether to save, and saves, to `self.filepath`
        try:
            super()._save_model(epoch, batch, logs)
        except BaseException:
            io.remove(tmp)
            raise
        finally:
            self.filepath = target
        if os.path.exists(tmp):  # saved (e.g. the monitored value improved)
            io.replace(tmp, target)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backup is always a complete, consistent pair of files.

    Each save writes `epoch<E>-<token>.weights.h5` (weights and optimizer
    state) atomically, then atomically replaces `training_metadata.json`
    (`{"epoch": E, "batch": ..., "weights": "<that file>"}`), then deletes the
    other weights files. A restart loads the weights the metadata names and
    resumes at its epoch; anything else in the directory (a temporary or
    weights file of a killed save) is deleted, never loaded. A backup written
    by `keras.callbacks.BackupAndRestore` itself (`latest.weights.h5`, a
    metadata file without `"weights"`) is still restored.

    At `on_train_begin` it also calls
    `deepfm_keras.data.set_shuffle_epoch(initial_epoch)`, so a seeded
    `make_dataset` shuffles the resumed epochs as an uninterrupted run does.

    Args:
        backup_dir: a directory of its own (removed when training completes,
            with `delete_checkpoint=True`).
        save_freq: `"epoch"` or a number of batches, as in `BackupAndRestore`.
        delete_checkpoint: remove the backup at the end of training.

    Raises:
        ValueError: at `on_train_begin`, for a metadata file that is not
            valid JSON of this format or names a missing weights file
            (never written by this class: the directory was edited).
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(os.fspath(backup_dir), save_freq=save_freq, delete_checkpoint=delete_checkpoint)
        self._metadata_path = os.path.join(self.backup_dir, METADATA)

    # -- restore -------------------------------------------------------------
    def _read_metadata(self) -> dict | None:
        if not os.path.exists(self._metadata_path):
            return None
        with open(self._metadata_path, encoding="utf-8") as f:
            text = f.read()
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"Backup metadata {self._metadata_path} is not valid JSON ({e}).") from None
        epoch = metadata.get("epoch") if isinstance(metadata, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(
                f"Backup metadata {self._metadata_path}: `epoch` should be a non-negative integer. "
                f"Received: {metadata!r}"
            )
        weights = metadata.get("weights", LEGACY_WEIGHTS)
        if not isinstance(weights, str) or os.path.basename(weights) != weights or not weights:
            raise ValueError(
                f"Backup metadata {self._metadata_path}: `weights` should be a file name. Received: {weights!r}"
            )
        if not os.path.isfile(os.path.join(self.backup_dir, weights)):
            raise ValueError(f"Backup metadata {self._metadata_path} names weights file {weights!r}, which is missing.")
        return {**metadata, "weights": weights}

    def _remove_unreferenced(self, keep: set[str]) -> None:
        """Deletes this callback's files (weights, temporaries, Keras' `.bkp` copies) other than `keep`."""
        if not os.path.isdir(self.backup_dir):
            return
        for entry in os.listdir(self.backup_dir):
            ours = io.is_temporary(entry) or entry.endswith((".weights.h5", ".bkp"))
            if ours and entry not in keep:
                io.remove(os.path.join(self.backup_dir, entry))

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call `fit()`. "
                f"Model {self.model} is unbuilt."
            )
        metadata = self._read_metadata()
        initial_epoch = 0
        if metadata is None:
            self._remove_unreferenced(set())  # weights of a save killed before its first metadata
        else:
            self._remove_unreferenced({METADATA, metadata["weights"]})
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)  # its state is in the weights file
            self.model.load_weights(os.path.join(self.backup_dir, metadata["weights"]))
            initial_epoch = metadata["epoch"]
            self.model._initial_epoch = initial_epoch  # what fit (and multi_worker_fit) resume from
        data.set_shuffle_epoch(initial_epoch)

    # -- save ------------------------------------------------------------------
    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch{self._current_epoch}-{secrets.token_hex(4)}.weights.h5"
        with io.atomic_path(os.path.join(self.backup_dir, weights)) as tmp:
            self.model.save_weights(tmp)
        metadata = {
            "format_version": BACKUP_FORMAT,
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "weights": weights,
        }
        with io.atomic_write(self._metadata_path) as f:
            json.dump(metadata, f)
        self._remove_unreferenced({METADATA, weights})

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            # The metadata goes first: a kill during the removal leaves no metadata naming a deleted file.
            if os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
                io.fsync_directory(self.backup_dir)
            io.remove(self.backup_dir)
