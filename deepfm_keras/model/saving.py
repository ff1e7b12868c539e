"""`.keras` files written and read in bounded memory: the Keras format, without its whole-file buffers.

Keras (3.10-3.15) builds a `.keras` file's weights in an in-memory HDF5 file
and copies it once more into the zip whenever the weights fit in half the free
memory, and reads them back the same way: two extra copies of every table on
save, one on load. Here the weights go to a temporary HDF5 file next to the
target, block by block for large tables (`deepfm_keras.chunked`), which is
then streamed into the zip; on load the zip member is read in place (Keras
stores it uncompressed) and large tables are read block by block. The file is
the one `keras.saving.save_model` writes (`metadata.json`, `config.json`,
`model.weights.h5` with the same groups and datasets): `keras.saving.load_model`
reads it, and `load_keras_file` reads any `.keras` file.

`DeepFMModel.save`, `DeepFMModel.load_weights` and `deepfm_keras.load_model`
use these functions.

Example:

>>> save_keras_file(model, "model.keras")  # doctest: +SKIP
>>> model = load_keras_file("model.keras")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zipfile

import h5py
from keras.src.saving import saving_lib

from deepfm_keras import chunked

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local file header (30 bytes)


def save_keras_file(model, path: str | os.PathLike) -> None:
    """Writes `model` to the `.keras` file `path`, the weights through a temporary file on disk.

    Peak memory is the model's own plus one block of rows; disk use is the
    weights twice while the zip is written (the temporary file is removed).
    """
    path = os.fspath(path)
    config_json, metadata_json = saving_lib._serialize_model_as_json(model)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as tmp:
        weights_path = os.path.join(tmp, saving_lib._VARS_FNAME_H5)
        with open(path, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            zf.writestr(saving_lib._METADATA_FILENAME, metadata_json)
            zf.writestr(saving_lib._CONFIG_FILENAME, config_json)
            weights_store = saving_lib.H5IOStore(weights_path, mode="w")
            asset_store = saving_lib.DiskIOStore(saving_lib._ASSETS_DIRNAME, archive=zf, mode="w")
            try:
                saving_lib._save_state(
                    model, weights_store=weights_store, assets_store=asset_store, inner_path="", visited_saveables=set()
                )
            finally:
                weights_store.close()
                asset_store.close()
            zf.write(weights_path, saving_lib._VARS_FNAME_H5)  # streamed in blocks; zip64 past 4 GiB


class _MemberWindow(io.RawIOBase):
    """A read-only file object over bytes `[start, start + size)` of a file: an uncompressed zip member in place."""

    def __init__(self, path: str, start: int, size: int):
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start, self._size, self._pos = start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        if n == 0:
            return 0
        self._file.seek(self._start + self._pos)
        got = self._file.readinto(view[:n]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def _member_window(path: str, zf: zipfile.ZipFile, name: str) -> _MemberWindow | None:
    """A window on member `name` of the zip at `path` if it is stored uncompressed and unencrypted, else None."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if header[0] != b"PK\x03\x04":
        raise ValueError(f"{path}: member {name!r} has no local file header; the zip file is damaged.")
    start = info.header_offset + _LOCAL_HEADER.size + header[-2] + header[-1]
    return _MemberWindow(path, start, info.file_size)


class _WindowH5Store(saving_lib.H5IOStore):
    """Keras' `H5IOStore` in read mode, over a file object of ours (a zip member read in place)."""

    def __init__(self, window: _MemberWindow):
        self._window = window
        super().__init__(saving_lib._VARS_FNAME_H5, mode="r")

    def _get_h5_file(self, path_or_io, mode=None):
        return h5py.File(self._window, mode="r")

    def close(self):
        super().close()
        self._window.close()


def _refuse_bomb(zf: zipfile.ZipFile, name: str) -> None:
    """Refuses a compressed member that declares far more bytes than it stores (Keras' own check where it has one)."""
    reject = getattr(saving_lib, "_reject_zip_bomb", None)  # Keras 3.14+
    if reject is not None:
        reject(zf, name)
    info = zf.getinfo(name)
    if info.file_size > 1 << 28 and info.file_size > 100 * max(1, info.compress_size):
        raise ValueError(
            f"Not allowed: archive member {name!r} declares {info.file_size} bytes but stores {info.compress_size}; "
            "refusing to extract a potential decompression bomb."
        )


class _WeightsOfFile:
    """The weights store of a `.keras` file: its member in place, or extracted to a temporary file."""

    def __init__(self, path: str, zf: zipfile.ZipFile):
        self._tmp = None
        window = _member_window(path, zf, saving_lib._VARS_FNAME_H5)
        if window is not None:
            self.store = _WindowH5Store(window)
        else:  # a compressed member (the file was re-zipped): extracted next to it, in blocks
            _refuse_bomb(zf, saving_lib._VARS_FNAME_H5)
            self._tmp = tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path)))
            zf.extract(saving_lib._VARS_FNAME_H5, self._tmp.name)
            self.store = saving_lib.H5IOStore(os.path.join(self._tmp.name, saving_lib._VARS_FNAME_H5), mode="r")

    def close(self) -> None:
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _load_weights(model, path: str, zf: zipfile.ZipFile, *, skip_mismatch: bool = False, assets: bool) -> None:
    weights = _WeightsOfFile(path, zf)
    asset_store = None
    if assets and len(zf.namelist()) > 3:
        asset_store = saving_lib.DiskIOStore(saving_lib._ASSETS_DIRNAME, archive=zf, mode="r")
    failed: set[int] = set()
    errors: dict[int, tuple] = {}
    try:
        saving_lib._load_state(
            model,
            weights_store=weights.store,
            assets_store=asset_store,
            inner_path="",
            skip_mismatch=skip_mismatch,
            visited_saveables=set(),
            failed_saveables=failed,
            error_msgs=errors,
        )
    finally:
        weights.close()
        if asset_store is not None:
            asset_store.close()
    if failed:
        saving_lib._raise_loading_failure(errors, warn_only=skip_mismatch)


def load_keras_file(path: str | os.PathLike, custom_objects=None, compile: bool = True):
    """Reads a `.keras` file as `keras.saving.load_model` does (in safe mode), its weights in place, block by block.

    Files whose weights are not one HDF5 member (`.npz` weights) go to
    `keras.saving.load_model`.
    """
    import keras

    path = os.fspath(path)
    with zipfile.ZipFile(path, "r") as zf:
        if saving_lib._VARS_FNAME_H5 not in zf.namelist():
            return keras.saving.load_model(path, custom_objects=custom_objects, compile=compile)
        safe_read = getattr(saving_lib, "_safe_zip_read", None)  # Keras 3.14+: refuses a decompression bomb
        config_json = safe_read(zf, saving_lib._CONFIG_FILENAME) if safe_read else zf.read(saving_lib._CONFIG_FILENAME)
        with chunked.tables_read_next():  # the file's weights overwrite the tables: no random draw first
            model = saving_lib._model_from_config(config_json, custom_objects, compile, True)  # safe mode
        _load_weights(model, path, zf, assets=True)
    return model


def load_weights_from_keras_file(model, path: str | os.PathLike, *, skip_mismatch: bool = False) -> None:
    """`model.load_weights(path)` for a `.keras` file, its weights read in place and block by block."""
    path = os.fspath(path)
    with zipfile.ZipFile(path, "r") as zf:
        _load_weights(model, path, zf, skip_mismatch=skip_mismatch, assets=False)


def is_local_keras_file(path) -> bool:
    """Whether `path` names an existing local `.keras` file (not a remote or Hugging Face path)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    path = os.fspath(path)
    return path.endswith(".keras") and "://" not in path and os.path.isfile(path)
