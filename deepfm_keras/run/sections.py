"""The sections of a run config, `[data]` (with `[data.criteo]` and `[data.movielens]`), `[features]`, `[model]`,
`[training]` and `[output]`: one frozen dataclass each, every field with its default and the check of its value.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from deepfm_keras import optimizer_names
from deepfm_keras.run import values as v
from deepfm_keras.spec.tasks import TASK_KINDS

FORMATS = ("csv", "parquet", "criteo", "movielens")
TASKS = tuple(TASK_KINDS)
OPTIMIZERS = optimizer_names.names()  # the names `compile(optimizer=...)` takes, from the one table


def _key(default, check, **kwargs):
    """A config field: its default and the check of its value."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: default, metadata={"check": check}, **kwargs)
    return dataclasses.field(default=default, metadata={"check": check}, **kwargs)


@dataclasses.dataclass(frozen=True)
class CriteoData:
    """`[data.criteo]`: how Criteo-format lines become ids.

    Attributes:
        num_buckets: hash buckets per categorical field (when `min_count` is 0).
        min_count: learn vocabularies of values seen at least this many times
            (one extra pass over the training files); 0 hashes.
        max_size: for vocabularies, keep at most this many values per field.
        max_malformed_fraction: the share of malformed lines a part may have
            before the run fails.
    """

    num_buckets: int = _key(10_000, v.integer(1))
    min_count: int = _key(0, v.integer(0))
    max_size: int | None = _key(None, v.integer(1, optional=True))
    max_malformed_fraction: float = _key(0.01, v.number(0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class MovieLensData:
    """`[data.movielens]`: which MovieLens, and its implicit-feedback columns.

    Attributes:
        variant: `"ml-1m"` or `"ml-100k"`.
        history: add the implicit-feedback columns of
            `deepfm_keras.datasets.movielens_history` (what each user rated,
            who rated each movie, the user's genre shares, counts, the
            movie's age), read from the training rows only, after the split.
        history_max_len: the longest `user_items` / `movie_raters` list.
        history_ratings: with `history`, also the user's rated movies weighted
            by their centred ratings (`user_rated`, `user_rated_scores`),
            built out of fold for the training rows (`add_rating_columns`).
    """

    variant: str = _key("ml-1m", v.string(("ml-1m", "ml-100k")))
    history: bool = _key(False, v.boolean)
    history_max_len: int = _key(50, v.integer(1))
    history_ratings: bool = _key(False, v.boolean)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the rows come from and what the label is.

    Attributes:
        format: `"csv"`, `"parquet"` (read with pandas), `"criteo"` (tab-separated
            Criteo lines, plain or gzip, streamed: they need not fit in memory) or
            `"movielens"` (GroupLens files joined by `load_movielens`).
        train: the training file(s); for `movielens` the folder of the GroupLens
            files (empty: download).
        validation: optional file(s) for early stopping; empty: a seeded
            `validation_fraction` of the training rows (`criteo`: one line in
            `k = 1 / validation_fraction` of the training files, as they stream).
        test: optional holdout file(s), used only for the final metrics; empty: a
            seeded `holdout_fraction` of the rows (not for `criteo`, which needs them).
        label: the label column (`criteo`: its first field; `movielens`: `rating`).
        positive: with `model.task = "binary"`, the label value that is 1 (a
            string label such as `">50K"`); every other value is 0.
        binary_threshold: with `model.task = "binary"`, the label is
            `label >= binary_threshold` (e.g. 4 stars); None: the label is 0/1 already.
        group: a column to report the grouped AUC (gAUC) by, e.g. the user id.
        weight: a column of per-row training weights (finite, >= 0). The
            validation and holdout metrics stay unweighted.
        class_weight: `{0 = w0, 1 = w1}`: each training row weighted by its
            0/1 label (binary tasks; e.g. `{0 = 10.0, 1 = 1.0}` undoes keeping
            10% of the non-clicks). Keras divides a batch's weighted loss by
            its rows, so large weights also scale the steps.
        classes: with `model.task = "multiclass"`, the label values in class
            order (`[1, 2, 3, 4, 5]` for star ratings, `["news", "sport"]`):
            a row's class id is its value's position. Empty: the labels are
            class ids `0 .. model.num_classes - 1` already.
        separator: the CSV field separator.
        holdout_fraction, validation_fraction: the split when no file is given.
        split_seed: seed of that split.
        time_column: split by time instead: the latest `holdout_fraction` of the
            rows by this column are the holdout, the `validation_fraction` of the
            rest before them the validation rows (what a CTR model meets in
            production: it is trained on the past and scores the future).
        criteo: `[data.criteo]`, see `CriteoData`.
        movielens: `[data.movielens]`, see `MovieLensData`.
    """

    format: str = _key("csv", v.string(FORMATS))
    train: tuple[str, ...] = _key((), v.paths)
    validation: tuple[str, ...] = _key((), v.paths)
    test: tuple[str, ...] = _key((), v.paths)
    label: str = _key("", v.string())
    positive: Any = _key(None, v.label_value)
    binary_threshold: float | None = _key(None, v.number(optional=True))
    group: str | None = _key(None, v.string(optional=True))
    weight: str | None = _key(None, v.string(optional=True))
    class_weight: dict | None = _key(None, v.class_weight)
    classes: tuple = _key((), v.classes)
    separator: str = _key(",", v.string())
    holdout_fraction: float = _key(0.1, v.number(0.0, 0.9))
    validation_fraction: float = _key(0.1, v.number(0.0, 0.9))
    split_seed: int = _key(2017, v.integer(0))
    time_column: str | None = _key(None, v.string(optional=True))
    criteo: CriteoData = _key(CriteoData(), None)
    movielens: MovieLensData = _key(MovieLensData(), None)


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
    """

    numeric: tuple[Any, ...] = _key((), v.columns)
    categorical: tuple[Any, ...] = _key((), v.columns)
    bucketized: tuple[Any, ...] = _key((), v.columns)
    multi_categorical: Any = _key(None, v.list_columns)
    numeric_sequence: Any = _key(None, v.list_columns)
    min_count: int = _key(1, v.integer(1))
    max_len: int | None = _key(None, v.integer(1, optional=True))

    def names_columns(self) -> bool:
        return bool(self.numeric or self.categorical or self.bucketized or self.multi_categorical
                    or self.numeric_sequence)  # fmt: skip


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

    task: str = _key("binary", v.string(TASKS))
    num_classes: int | None = _key(None, v.integer(2, optional=True))
    embedding_dim: int = _key(16, v.integer(1))
    hidden_units: tuple[int, ...] = _key((256, 128, 64), v.int_list)
    dropout: float = _key(0.0, v.number(0.0, 0.99))
    embedding_l2: float = _key(0.0, v.number(0.0))
    parts: tuple[str, ...] = _key(("fm_1d", "fm_2d", "deep"), v.distinct_names(("fm_1d", "fm_2d", "deep")))


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
        shuffle_buffer: for streamed sources (`criteo`), the shuffle buffer in
            batches (tables are shuffled whole, in memory).
    """

    epochs: int = _key(20, v.integer(1))
    batch_size: int = _key(2048, v.integer(1))
    optimizer: str = _key("lazy_adam", v.string(OPTIMIZERS))
    learning_rate: float = _key(1e-3, v.number(0.0, low_open=True))
    patience: int = _key(3, v.integer(0))
    lr_decay: float = _key(1.0, v.number(0.0, 1.0, low_open=True))
    lr_patience: int = _key(2, v.integer(1))
    seed: int = _key(2017, v.integer(0))
    shuffle_buffer: int = _key(16, v.integer(1))


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

    dir: str = _key("runs/deepfm", v.path)
    export: bool = _key(True, v.boolean)
    tensorboard: bool = _key(True, v.boolean)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run: `deepfm_keras.run.pipeline.run(config)`."""

    data: DataConfig
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    output: OutputConfig = OutputConfig()

    def to_dict(self) -> dict:
        """The settings as plain JSON types (what `metrics.json` records)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))
