"""A training run described by a small TOML (or JSON) file: data, features, model, training, output.

The command line (`deepfm-keras train --config run.toml`) and the examples run
the same pipeline (`deepfm_keras.pipeline.run`) from a `RunConfig`. Every key is
checked when the file is read: an unknown section or key, a value of the wrong
type or out of range is refused with its dotted name (`model.dropout`) and the
value, before TensorFlow is imported.

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
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deepfm_keras import optimizer_names
from deepfm_keras.tasks import TASK_KINDS

FORMATS = ("csv", "parquet", "criteo", "movielens")
TASKS = tuple(TASK_KINDS)
OPTIMIZERS = optimizer_names.names()  # the names `compile(optimizer=...)` takes, from the one table


class ConfigError(ValueError):
    """A run configuration that cannot be run: names the key and the value."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the rows come from and what the label is.

    Attributes:
        format: `"csv"`, `"parquet"` (read with pandas), `"criteo"` (tab-separated
            Criteo lines, plain or `.gz`, streamed: they need not fit in memory) or
            `"movielens"` (GroupLens files joined by `load_movielens`).
        train: the training file(s); for `movielens` the folder of the GroupLens
            files (empty: download).
        validation: optional file(s) for early stopping; empty: a seeded
            `validation_fraction` of the training rows (not for `criteo`).
        test: optional holdout file(s), used only for the final metrics; empty: a
            seeded `holdout_fraction` of the rows (not for `criteo`, which needs them).
        label: the label column (`criteo`: its first field; `movielens`: `rating`).
        binary_threshold: with `model.task = "binary"`, the label is
            `label >= binary_threshold` (e.g. 4 stars); None: the label is 0/1 already.
        group: a column to report the grouped AUC (gAUC) by, e.g. the user id.
        weight: a column of per-row training weights (finite, >= 0; not for
            `criteo`). The validation and holdout metrics stay unweighted.
        class_weight: `{0 = w0, 1 = w1}`: each training row weighted by its
            0/1 label (binary tasks; e.g. `{0 = 10.0, 1 = 1.0}` undoes keeping
            10% of the non-clicks). Keras divides a batch's weighted loss by
            its rows, so large weights also scale the steps.
        classes: with `model.task = "multiclass"`, the label values in class
            order (`[1, 2, 3, 4, 5]` for star ratings, `["news", "sport"]`):
            a row's class id is its value's position. Empty: the labels are
            class ids `0 .. model.num_classes - 1` already.
        separator: the CSV field separator.
        variant: for `movielens`, `"ml-1m"` or `"ml-100k"`.
        history: for `movielens`, add the implicit-feedback columns of
            `deepfm_keras.datasets.movielens_history` (what each user rated,
            who rated each movie, the user's genre shares, counts, the
            movie's age), read from the training rows only, after the split.
        history_max_len: the longest `user_items` / `movie_raters` list.
        history_ratings: with `history`, also the user's rated movies weighted
            by their centred ratings (`user_rated`, `user_rated_scores`),
            built out of fold for the training rows (`add_rating_columns`).
        holdout_fraction, validation_fraction: the split when no file is given.
        split_seed: seed of that split.
        time_column: split by time instead: the latest `holdout_fraction` of the
            rows by this column are the holdout, the `validation_fraction` of the
            rest before them the validation rows (what a CTR model meets in
            production: it is trained on the past and scores the future).
        max_malformed_fraction: for `criteo`, the share of malformed lines a part
            may have before the run fails.
    """

    format: str = "csv"
    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    label: str = ""
    binary_threshold: float | None = None
    group: str | None = None
    weight: str | None = None
    class_weight: dict | None = None
    classes: tuple = ()
    separator: str = ","
    variant: str = "ml-1m"
    history: bool = False
    history_max_len: int = 50
    history_ratings: bool = False
    holdout_fraction: float = 0.1
    validation_fraction: float = 0.1
    split_seed: int = 2017
    time_column: str | None = None
    max_malformed_fraction: float = 0.01


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    """Which columns become which kind of field (see `deepfm_keras.FeatureEncoder`).

    Each list entry is a column name, or a table of that column's options
    (`{name = "ad_id", num_bins = 1000000}` hashes into 10^6 bins;
    `{name = "price", clip_min = 0, embedding_dim = 4}`; the keys are the
    arguments of `CategoricalColumn`, `NumericColumn`, `BucketizedColumn`,
    `MultiCategoricalColumn`, `NumericSequenceColumn`, `embedding_dim` and
    `embedding_name` included). `multi_categorical` and `numeric_sequence`
    also take a table keyed by column, each value a separator or a table of
    options without `name` (`{ history = { separator = "|", weight =
    "history_ratings", embedding_name = "item_id", max_len = 50 } }`);
    `weight` is short for `weight_column`.

    Attributes:
        numeric: numeric columns (standardised).
        categorical: single-level categorical columns (one id per row).
        bucketized: numeric columns cut into buckets, each bucket a category.
        multi_categorical: `{column: separator or options}` for id lists such
            as `"a|b|c"`, or a list of names or option tables. With
            `weight = "col"`, column `col` holds one number per id
            (`"0.5|1|2"`), fed to the model as the list's weights.
        numeric_sequence: `{column: separator or options}` for lists of numbers
            such as `"9.99|12.5"` (standardised, padded with NaN), or a list of
            names or option tables.
        min_count: values seen fewer times in the training rows go to the OOV id.
        max_len: ids kept per multi-categorical row (None: the longest row; an
            option table's `max_len` wins).
        criteo_num_buckets: for `criteo`, hash buckets per categorical field
            (used when `criteo_min_count` is 0).
        criteo_min_count: for `criteo`, learn vocabularies of values seen at least
            this many times (one extra pass over the training files).
        criteo_max_size: for `criteo` vocabularies, keep at most this many values.
    """

    numeric: tuple[Any, ...] = ()
    categorical: tuple[Any, ...] = ()
    bucketized: tuple[Any, ...] = ()
    multi_categorical: Any = None
    numeric_sequence: Any = None
    min_count: int = 1
    max_len: int | None = None
    criteo_num_buckets: int = 10_000
    criteo_min_count: int = 0
    criteo_max_size: int | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """`build_deepfm` settings.

    Attributes:
        task: `"binary"` (sigmoid, log loss, AUC), `"regression"` (MSE, RMSE)
            or `"multiclass"` (softmax over `num_classes`, log loss, accuracy).
        num_classes: the classes of a multi-class task (default: the length
            of `data.classes`).
        embedding_dim: the common embedding size k of every field.
        hidden_units: the deep part's MLP.
        dropout: dropout after each MLP block.
        embedding_l2: L2 penalty on the embeddings and first-order weights.
        parts: the parts the model combines, of `fm_1d`, `fm_2d`, `deep`
            (all three: DeepFM; `["deep"]` or `["fm_1d", "fm_2d"]`: its
            deep-only and FM-only ablations).
    """

    task: str = "binary"
    num_classes: int | None = None
    embedding_dim: int = 16
    hidden_units: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.0
    embedding_l2: float = 1e-5
    parts: tuple[str, ...] = ("fm_1d", "fm_2d", "deep")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Optimizer, batches, epochs and stopping.

    Attributes:
        epochs: most epochs; early stopping usually ends sooner.
        batch_size: the global batch size.
        optimizer: a name of `deepfm_keras.optimizer_names` (the names
            `compile(optimizer=...)` takes): `"lazy_adam"` (= `"adam"`: Adam
            whose table updates touch only the batch's rows), `"adagrad"`,
            `"rowwise_adagrad"`, `"sgd"`, `"ftrl"`, or `"dense_adam"` (stock
            Keras Adam: every table row at every step).
        learning_rate: the optimizer's learning rate.
        patience: epochs without validation gain before stopping (restoring the
            best epoch); 0 turns early stopping off.
        lr_decay: learning-rate factor after `lr_patience` epochs without gain
            (1 keeps it).
        lr_patience: epochs without gain before the decay.
        seed: seed of the initialisation and the shuffling.
        shuffle_buffer: for `criteo`, the shuffle buffer in batches.
    """

    epochs: int = 20
    batch_size: int = 2048
    optimizer: str = "lazy_adam"
    learning_rate: float = 1e-3
    patience: int = 3
    lr_decay: float = 1.0
    lr_patience: int = 2
    seed: int = 2017
    shuffle_buffer: int = 16


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """What the run writes.

    Attributes:
        dir: the output folder: `metrics.json`, `model.keras`, `encoder.json`,
            `logs/` (TensorBoard) and, with `export`, `serving/1`.
        export: also write the TensorFlow Serving SavedModel (raw features in)
            and check its scores against the Keras model's.
        tensorboard: write TensorBoard logs.
    """

    dir: str = "runs/deepfm"
    export: bool = True
    tensorboard: bool = True


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run: `deepfm_keras.pipeline.run(config)`."""

    data: DataConfig
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    output: OutputConfig = OutputConfig()

    def to_dict(self) -> dict:
        """The settings as plain JSON types (what `metrics.json` records)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


_SECTIONS = {
    "data": DataConfig,
    "features": FeaturesConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "output": OutputConfig,
}


def _fail(key: str, value, should: str):
    raise ConfigError(f"`{key}` should be {should}. Received: {key}={value!r}")


def _int(key, value, low=None):
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(key, value, "an integer")
    if low is not None and value < low:
        _fail(key, value, f"an integer >= {low}")
    return value


def _float(key, value, low=None, high=None, *, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(key, value, "a finite number")
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        _fail(
            key, value, f"a number {'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        )
    if high is not None and value > high:
        _fail(key, value, f"a number <= {high}")
    return value


def _str(key, value, choices=None):
    if not isinstance(value, str):
        _fail(key, value, "a string")
    if choices is not None and value not in choices:
        _fail(key, value, f"one of {list(choices)}")
    return value


def _paths(key, value, base: Path | None) -> tuple[str, ...]:
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in items):
        _fail(key, value, "a path or a list of paths")
    out = []
    for p in items:
        p = os.path.expanduser(os.fspath(p))
        if base is not None and not os.path.isabs(p):
            p = os.fspath(base / p)
        out.append(p)
    return tuple(out)


def _columns(key, value):
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)) or not isinstance(value, (list, tuple)):
        _fail(key, value, "a list of column names or option tables")
    for i, item in enumerate(value):
        if isinstance(item, Mapping):
            if not isinstance(item.get("name"), str):
                _fail(f"{key}[{i}].name", item.get("name"), "a column name")
        elif not isinstance(item, str):
            _fail(f"{key}[{i}]", item, "a column name or an option table")
    return tuple(dict(item) if isinstance(item, Mapping) else item for item in value)


def _list_columns(key, value):
    """`{column: separator or option table}` or a list of names / option tables (the options are checked later)."""
    if not isinstance(value, Mapping):
        return _columns(key, value)
    out = {}
    for col, options in value.items():
        if isinstance(options, Mapping):
            if "name" in options:
                _fail(f"{key}.{col}.name", options["name"], "left out: the key of the table is the column's name")
            if "separator" in options and (not isinstance(options["separator"], str) or not options["separator"]):
                _fail(f"{key}.{col}.separator", options["separator"], "a non-empty separator string")
            out[col] = dict(options)
        elif not isinstance(options, str) or not options:
            _fail(f"{key}.{col}", options, "a non-empty separator string or a table of options")
        else:
            out[col] = options
    return out


def _class_weight(key: str, value) -> dict:
    """`{0 = w0, 1 = w1}` (TOML keys are strings) -> `{0: w0, 1: w1}`, both finite and > 0."""
    if not isinstance(value, Mapping) or sorted(str(x) for x in value) != ["0", "1"]:
        raise ConfigError(
            f"`{key}` should be a table with keys 0 and 1, e.g. {{ 0 = 10.0, 1 = 1.0 }}. Received: {value!r}"
        )
    out = {}
    for label, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise ConfigError(f"`{key}.{label}` should be a positive number. Received: {weight!r}")
        out[int(label)] = float(weight)
    return out


def _check_section(name: str, raw: Mapping, base: Path | None):
    cls = _SECTIONS[name]
    if not isinstance(raw, Mapping):
        _fail(name, raw, "a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"Unknown key(s) {unknown} in [{name}]. Known keys: {sorted(known)}")
    v = dict(raw)
    k = lambda field: f"{name}.{field}"  # noqa: E731
    if name == "data":
        if "format" in v:
            _str(k("format"), v["format"], FORMATS)
        for field in ("train", "validation", "test"):
            if field in v:
                v[field] = _paths(k(field), v[field], base)
        for field in ("label", "separator", "variant"):
            if field in v:
                _str(k(field), v[field])
        for field in ("group", "time_column", "weight"):
            if v.get(field) is not None:
                _str(k(field), v[field])
        if v.get("class_weight") is not None:
            v["class_weight"] = _class_weight(k("class_weight"), v["class_weight"])
        if v.get("binary_threshold") is not None:
            v["binary_threshold"] = _float(k("binary_threshold"), v["binary_threshold"])
        for field in ("holdout_fraction", "validation_fraction"):
            if field in v:
                v[field] = _float(k(field), v[field], 0.0, 0.9)
        if "max_malformed_fraction" in v:
            v["max_malformed_fraction"] = _float(k("max_malformed_fraction"), v["max_malformed_fraction"], 0.0, 1.0)
        if "split_seed" in v:
            _int(k("split_seed"), v["split_seed"], 0)
        for field in ("history", "history_ratings"):
            if field in v and not isinstance(v[field], bool):
                raise ConfigError(f"`{k(field)}` should be true or false. Received: {v[field]!r}")
        if "history_max_len" in v:
            _int(k("history_max_len"), v["history_max_len"], 1)
        if v.get("classes") is not None:
            classes = v["classes"]
            if (
                not isinstance(classes, (list, tuple))
                or len(classes) < 2
                or any(isinstance(c, bool) or not isinstance(c, (int, float, str)) for c in classes)
            ):
                _fail(k("classes"), classes, "a list of at least two label values (numbers or strings)")
            if len({str(c) for c in classes}) != len(classes):
                _fail(k("classes"), classes, "a list without repeats")
            v["classes"] = tuple(classes)
    elif name == "features":
        for field in ("numeric", "categorical", "bucketized"):
            if field in v:
                v[field] = _columns(k(field), v[field])
        for field in ("multi_categorical", "numeric_sequence"):
            if v.get(field) is not None:
                v[field] = _list_columns(k(field), v[field])
        for field, low in (("min_count", 1), ("criteo_num_buckets", 1), ("criteo_min_count", 0)):
            if field in v:
                _int(k(field), v[field], low)
        for field in ("max_len", "criteo_max_size"):
            if v.get(field) is not None:
                _int(k(field), v[field], 1)
    elif name == "model":
        if "task" in v:
            _str(k("task"), v["task"], TASKS)
        if v.get("num_classes") is not None:
            _int(k("num_classes"), v["num_classes"], 2)
        if "embedding_dim" in v:
            _int(k("embedding_dim"), v["embedding_dim"], 1)
        if "hidden_units" in v:
            units = v["hidden_units"]
            if not isinstance(units, (list, tuple)):
                _fail(k("hidden_units"), units, "a list of positive integers (empty: no MLP layers)")
            v["hidden_units"] = tuple(_int(f"{k('hidden_units')}[{i}]", u, 1) for i, u in enumerate(units))
        if "dropout" in v:
            v["dropout"] = _float(k("dropout"), v["dropout"], 0.0, 0.99)
        if "embedding_l2" in v:
            v["embedding_l2"] = _float(k("embedding_l2"), v["embedding_l2"], 0.0)
        if "parts" in v:
            parts = v["parts"]
            allowed = ("fm_1d", "fm_2d", "deep")
            if not isinstance(parts, (list, tuple)) or not parts or any(p not in allowed for p in parts):
                _fail(k("parts"), parts, f"a non-empty list of {list(allowed)}")
            if len(set(parts)) != len(parts):
                _fail(k("parts"), parts, "a list without repeats")
            v["parts"] = tuple(parts)
    elif name == "training":
        for field, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("lr_patience", 1), ("seed", 0)):
            if field in v:
                _int(k(field), v[field], low)
        if "shuffle_buffer" in v:
            _int(k("shuffle_buffer"), v["shuffle_buffer"], 1)
        if "optimizer" in v:
            _str(k("optimizer"), v["optimizer"], OPTIMIZERS)
        if "learning_rate" in v:
            v["learning_rate"] = _float(k("learning_rate"), v["learning_rate"], 0.0, low_open=True)
        if "lr_decay" in v:
            v["lr_decay"] = _float(k("lr_decay"), v["lr_decay"], 0.0, 1.0, low_open=True)
    elif name == "output":
        if "dir" in v:
            v["dir"] = (
                _paths(k("dir"), v["dir"], base)[0]
                if isinstance(v["dir"], str)
                else _fail(k("dir"), v["dir"], "a path")
            )
        for field in ("export", "tensorboard"):
            if field in v and not isinstance(v[field], bool):
                _fail(k(field), v[field], "true or false")
    return cls(**v)


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
    sections = {name: _check_section(name, raw[name], base) for name in _SECTIONS if name in raw}
    config = RunConfig(**sections)
    data, features = config.data, config.features
    if data.format != "movielens" and not data.train:
        raise ConfigError("`data.train` should name at least one file.")
    if data.format in ("csv", "parquet") and not data.label:
        raise ConfigError("`data.label` should name the label column.")
    if data.format in ("csv", "parquet") and not (
        features.numeric
        or features.categorical
        or features.bucketized
        or features.multi_categorical
        or features.numeric_sequence
    ):
        raise ConfigError(
            "[features] names no column: list them under numeric, categorical, bucketized, multi_categorical or "
            "numeric_sequence "
            "(`deepfm-keras init --data FILE --label COLUMN` writes a first guess)."
        )
    if data.format == "criteo":
        if not data.test:
            raise ConfigError("`data.test` should name the Criteo test file(s): a stream is not split.")
        if config.model.task != "binary":
            raise ConfigError(
                f"Criteo labels are clicks: `model.task` should be 'binary'. Received: {config.model.task!r}"
            )
    model = config.model
    if model.task == "multiclass":
        if model.num_classes is None and not data.classes:
            raise ConfigError("`model.task = 'multiclass'` needs `model.num_classes` or `data.classes` (the labels).")
        if model.num_classes is not None and data.classes and model.num_classes != len(data.classes):
            raise ConfigError(
                f"`model.num_classes` is {model.num_classes} but `data.classes` lists {len(data.classes)} labels."
            )
        if model.num_classes is None:
            config = dataclasses.replace(config, model=dataclasses.replace(model, num_classes=len(data.classes)))
        if data.binary_threshold is not None:
            raise ConfigError("`data.binary_threshold` makes 0/1 labels: it is for model.task = 'binary'.")
    elif model.num_classes is not None or data.classes:
        raise ConfigError(
            f"`model.num_classes` and `data.classes` are for model.task = 'multiclass'. Received: task={model.task!r}"
        )
    if data.holdout_fraction + data.validation_fraction >= 1:
        raise ConfigError(
            "`data.holdout_fraction` + `data.validation_fraction` should leave training rows. Received: "
            f"{data.holdout_fraction} + {data.validation_fraction}"
        )
    return config


def load_config(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Reads a `.toml` or `.json` run configuration.

    Args:
        path: the file. Relative paths inside it are taken from its folder.
        overrides: `{"training.epochs": 3, ...}` applied on top (what the command
            line's `--set key=value` gives); relative paths in them are taken
            from the working directory.

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
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for key, value in (overrides or {}).items():
        section, _, field = key.partition(".")
        if not field or "." in field:
            raise ConfigError(f"An override should be section.key=value. Received: {key!r}")
        if section not in _SECTIONS:
            raise ConfigError(f"Unknown section {section!r} in override {key!r}. Known sections: {list(_SECTIONS)}")
        if key in _PATH_KEYS:  # a path given on the command line is relative to the working directory
            value = _absolute(value)
        raw.setdefault(section, {})[field] = value
    return config_from_dict(raw, base_dir=path.parent)


_PATH_KEYS = ("data.train", "data.validation", "data.test", "output.dir")


def _absolute(value):
    if isinstance(value, (str, os.PathLike)):
        return os.path.abspath(os.path.expanduser(os.fspath(value)))
    if isinstance(value, (list, tuple)):
        return [_absolute(v) for v in value]
    return value  # a wrong type: config_from_dict names it


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
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed
