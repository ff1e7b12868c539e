"""A training run described by a small TOML (or JSON) file: data, features, model, training, output.

The command line (`deepfm-keras train --config run.toml`) and the examples run
the same pipeline (`deepfm_keras.run.pipeline.run`) from a `RunConfig`. Every
key is checked when the file is read: an unknown section or key, a value of
the wrong type or out of range is refused with its dotted name
(`model.dropout`) and the value, before TensorFlow is imported. Each field
carries its check (`deepfm_keras.run.values`); the knobs of one dataset live
in its own sub-table (`[data.criteo]`, `[data.movielens]`).

A file for a CSV of clicks:

```toml
[data]
format = "csv"                     # csv | parquet | criteo | movielens
train = "clicks.csv"               # one path or a list; relative to the config file
label = "clicked"

[features]
numeric = ["price"]
categorical = ["user_id", "item_id", { name = "ad_id", num_bins = 1000000, embedding_dim = 8 }]  # hashed
multi_categorical = { tags = "|", history = { separator = "|", weight = "history_ratings", embedding_name = "item_id", max_len = 50, combiner = "mean" } }
numeric_sequence = { recent_prices = "|" }

[model]
task = "binary"
embedding_dim = 16

[training]
epochs = 20
batch_size = 2048

[output]
dir = "runs/clicks"
```

Example:

>>> config = config_from_dict({"data": {"format": "csv", "train": "t.csv", "label": "y"},
...                            "features": {"categorical": ["user"]}})
>>> config.model.task, config.training.batch_size
('binary', 2048)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deepfm_keras.run import values as v
from deepfm_keras.run.sections import (
    FORMATS,
    OPTIMIZERS,
    TASKS,
    CriteoData,
    DataConfig,
    FeaturesConfig,
    ModelConfig,
    MovieLensData,
    OutputConfig,
    RunConfig,
    TrainingConfig,
)
from deepfm_keras.run.values import ConfigError

__all__ = [
    "FORMATS",
    "OPTIMIZERS",
    "TASKS",
    "ConfigError",
    "CriteoData",
    "DataConfig",
    "FeaturesConfig",
    "ModelConfig",
    "MovieLensData",
    "OutputConfig",
    "RunConfig",
    "TrainingConfig",
    "config_from_dict",
    "load_config",
    "parse_override",
    "set_keys",
]


_SECTIONS = {"data": DataConfig, "features": FeaturesConfig, "model": ModelConfig,
             "training": TrainingConfig, "output": OutputConfig}  # fmt: skip

MOVED = {
    "data.variant": "data.movielens.variant",
    "data.history": "data.movielens.history",
    "data.history_max_len": "data.movielens.history_max_len",
    "data.history_ratings": "data.movielens.history_ratings",
    "data.max_malformed_fraction": "data.criteo.max_malformed_fraction",
    "features.criteo_num_buckets": "data.criteo.num_buckets",
    "features.criteo_min_count": "data.criteo.min_count",
    "features.criteo_max_size": "data.criteo.max_size",
}
"""Keys of earlier versions -> where they are now (a config with an old key is refused, naming the new one)."""


def _section(cls, name: str, raw, base: Path | None):
    """The dataclass `cls` of table `raw` (`[name]`), every key checked by its field's check."""
    if not isinstance(raw, Mapping):
        v.fail(name, raw, "a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    moved = sorted(f"{name}.{key}" for key in raw if f"{name}.{key}" in MOVED)
    if moved:
        raise ConfigError(
            "; ".join(f"`{old}` is now `{MOVED[old]}`" for old in moved)
            + ": move it to its sub-table (e.g. [data.criteo] or [data.movielens])."
        )
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"Unknown key(s) {unknown} in [{name}]. Known keys: {sorted(fields)}")
    out = {}
    for key, value in raw.items():
        check = fields[key].metadata["check"]
        if check is None:  # a sub-table
            out[key] = _section(type(fields[key].default), f"{name}.{key}", value, base)
        else:
            out[key] = check(f"{name}.{key}", value, base)
    return cls(**out)


def config_from_dict(raw: Mapping, *, base_dir: str | os.PathLike | None = None) -> RunConfig:
    """Checks a parsed configuration and returns the `RunConfig`.

    Args:
        raw: `{"data": {...}, "features": {...}, ...}` as read from TOML or JSON.
        base_dir: relative paths are taken from here (the config file's folder);
            None keeps them relative to the working directory.

    Returns:
        The `RunConfig`.

    Raises:
        ConfigError: naming the key and the value, for an unknown section or key,
            a wrong type, a value out of range, or a run that cannot work (no
            feature, no training file, `criteo` without a test file).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"A run configuration should be a table of sections. Received: {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"Unknown section(s) {unknown}. Known sections: {list(_SECTIONS)}")
    if "data" not in raw:
        raise ConfigError("The configuration has no [data] section: it needs at least data.train and data.label.")
    base = Path(base_dir) if base_dir is not None else None
    config = RunConfig(**{name: _section(cls, name, raw[name], base) for name, cls in _SECTIONS.items() if name in raw})
    return _check_run(config)


def _check_run(config: RunConfig) -> RunConfig:
    """Refuses settings that cannot work together; fills `model.num_classes` from `data.classes`."""
    data, model = config.data, config.model
    if data.format != "movielens" and not data.train:
        raise ConfigError("`data.train` should name at least one file.")
    if data.format in ("csv", "parquet") and not data.label:
        raise ConfigError("`data.label` should name the label column.")
    if data.format in ("csv", "parquet") and not config.features.names_columns():
        raise ConfigError(
            "[features] names no column: list them under numeric, categorical, bucketized, multi_categorical or "
            "numeric_sequence (`deepfm-keras init --data FILE --label COLUMN` writes a first guess)."
        )
    if data.format == "criteo" and not data.test:
        raise ConfigError("`data.test` should name the Criteo test file(s): a stream is not split.")
    if model.task == "multiclass":
        if model.num_classes is None and not data.classes:
            raise ConfigError("`model.task = 'multiclass'` needs `model.num_classes` or `data.classes` (the labels).")
        if model.num_classes is not None and data.classes and model.num_classes != len(data.classes):
            raise ConfigError(
                f"`model.num_classes` is {model.num_classes} but `data.classes` lists {len(data.classes)} labels."
            )
        if model.num_classes is None:
            config = dataclasses.replace(config, model=dataclasses.replace(model, num_classes=len(data.classes)))
    elif model.num_classes is not None or data.classes:
        raise ConfigError(
            f"`model.num_classes` and `data.classes` are for model.task = 'multiclass'. Received: task={model.task!r}"
        )
    # `binary_threshold` may stay in a regression config (`--set model.task=binary` then uses it), as before.
    for key in ("binary_threshold", "positive") if model.task == "multiclass" else ("positive",):
        if model.task != "binary" and getattr(data, key) is not None:
            raise ConfigError(f"`data.{key}` makes 0/1 labels: it is for model.task = 'binary'.")
    if data.positive is not None and data.binary_threshold is not None:
        raise ConfigError("Give `data.positive` (the label value that is 1) or `data.binary_threshold`, not both.")
    if data.holdout_fraction + data.validation_fraction >= 1:
        raise ConfigError(
            "`data.holdout_fraction` + `data.validation_fraction` should leave training rows. Received: "
            f"{data.holdout_fraction} + {data.validation_fraction}"
        )
    return config


def set_keys(section, prefix: str) -> dict[str, Any]:
    """`{dotted key: value}` of the keys of a section (and its sub-tables) that differ from their defaults."""
    out = {}
    for f in dataclasses.fields(section):
        value, key = getattr(section, f.name), f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(set_keys(value, key))
        elif value != (f.default if f.default is not dataclasses.MISSING else f.default_factory()):
            out[key] = value
    return out


def load_config(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Reads a `.toml` or `.json` run configuration.

    Args:
        path: the file. Relative paths inside it are taken from its folder.
        overrides: `{"training.epochs": 3, "data.criteo.min_count": 2, ...}`
            applied on top (what the command line's `--set key=value` gives);
            relative paths in them are taken from the working directory.

    Returns:
        The checked `RunConfig`.

    Raises:
        ConfigError: for a file that cannot be parsed (with the parser's line and
            column) or any bad value (see `config_from_dict`).
        FileNotFoundError: if `path` does not exist.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON: {error}") from None
    else:
        tomllib = _tomllib()
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for key, value in (overrides or {}).items():
        names = key.split(".")
        if len(names) < 2 or not all(names):
            raise ConfigError(f"An override should be section.key=value. Received: {key!r}")
        section, *inner, field = names
        if section not in _SECTIONS:
            raise ConfigError(f"Unknown section {section!r} in override {key!r}. Known sections: {list(_SECTIONS)}")
        if key in _PATH_KEYS and isinstance(value, (str, os.PathLike)):  # relative to the working directory
            value = os.path.abspath(os.path.expanduser(os.fspath(value)))
        table = raw.setdefault(section, {})
        for name in inner:
            table = table.setdefault(name, {})
        table[field] = value
    return config_from_dict(raw, base_dir=path.parent)


_PATH_KEYS = ("data.train", "data.validation", "data.test", "output.dir")


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def parse_override(text: str) -> tuple[str, Any]:
    """`"training.epochs=3"` -> `("training.epochs", 3)`; the value is read as TOML (a bare word is a string).

    >>> parse_override("model.hidden_units=[64, 32]")
    ('model.hidden_units', [64, 32])
    >>> parse_override("output.dir=runs/x")
    ('output.dir', 'runs/x')
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"An override should be section.key=value. Received: {text!r}")
    tomllib = _tomllib()
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed
