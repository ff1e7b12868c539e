"""`CriteoReader`: Criteo-format files as `tf.data` batches of DeepFM inputs, through the Criteo encoder.

Lines are read in file order (`files.line_batches`), split and checked with
the format's policy (`format.split_fields`), counted, and encoded by
`reader.encoder` (the layers the serving export runs). `dataset` can weight
rows by label (`class_weight`) and split the lines as they stream
(`hold_out_every`, `part`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deepfm_keras import validation
from deepfm_keras.datasets.criteo.encoder import check_encoder, make_encoder
from deepfm_keras.datasets.criteo.files import check_files, line_batches, positive_int
from deepfm_keras.datasets.criteo.format import CATEGORICAL_FEATURES, INTEGER_FEATURES, split_fields
from deepfm_keras.encoding import FeatureEncoder


class CriteoReader:
    """Turns Criteo-format files into batches of DeepFM inputs, streaming with `tf.data`.

    Args:
        num_buckets: number of hash buckets per categorical field (used when
            neither `vocabularies` nor `encoder` is given).
        vocabularies: optional dict `C1..C26 -> list of values` (e.g. from
            `build_vocabularies`); values not listed map to OOV id 1.
        missing_indicators: add a 0/1 numeric feature `I<k>_missing` per
            integer field.
        encoder: a fitted `FeatureEncoder` of the Criteo columns (from
            `fit_encoder`, `make_encoder` or `FeatureEncoder.load`); the other
            arguments are then ignored.

    Example:

    >>> reader = CriteoReader(num_buckets=1000)
    >>> len(reader.feature_spec), reader.feature_spec[-1].vocabulary_size
    (52, 1002)
    """

    def __init__(
        self,
        *,
        num_buckets: int = 100_000,
        vocabularies: Mapping[str, Sequence[str]] | None = None,
        missing_indicators: bool = True,
        encoder: FeatureEncoder | None = None,
    ):
        if encoder is None:
            encoder = make_encoder(
                num_buckets=num_buckets, vocabularies=vocabularies, missing_indicators=missing_indicators
            )
        self.encoder = check_encoder(encoder)
        self._counters = None

    # -- spec ---------------------------------------------------------------
    @property
    def vocabularies(self) -> dict[str, list[str]] | None:
        """`C1..C26 -> values` in vocabulary mode, else None (hashing)."""
        return self.encoder.vocabularies or None

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.encoder.feature_spec if f.kind == "numeric"]

    def vocabulary_size(self, column: str) -> int:
        return self.encoder.vocabulary_size(column)

    @property
    def feature_spec(self) -> list:
        """Features for `build_deepfm`: the numeric ones, then `C1..C26`."""
        return self.encoder.feature_spec

    # -- counters -----------------------------------------------------------
    def _ensure_state(self):
        import tensorflow as tf

        if self._counters is None:
            with tf.init_scope():
                self._counters = (
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_rows_read"),
                    tf.Variable(0, dtype=tf.int64, trainable=False, name="criteo_malformed_rows"),
                )

    @property
    def rows_read(self) -> int:
        """Lines read so far (well-formed and malformed)."""
        return 0 if self._counters is None else int(self._counters[0].numpy())

    @property
    def malformed_rows(self) -> int:
        """Lines skipped as malformed so far."""
        return 0 if self._counters is None else int(self._counters[1].numpy())

    def reset_counts(self) -> None:
        if self._counters is not None:
            self._counters[0].assign(0)
            self._counters[1].assign(0)

    # -- parsing ------------------------------------------------------------
    def _parse_blocks(self, lines):
        import tensorflow as tf

        self._ensure_state()
        lines = tf.convert_to_tensor(lines, dtype=tf.string)
        fields, ok = split_fields(lines)
        self._counters[0].assign_add(tf.size(ok, out_type=tf.int64))
        self._counters[1].assign_add(tf.reduce_sum(tf.cast(tf.logical_not(ok), tf.int64)))
        fields = tf.cond(tf.reduce_all(ok), lambda: fields, lambda: tf.boolean_mask(fields, ok))
        labels = tf.strings.to_number(fields[:, :1], tf.float32)
        first = 1 + len(INTEGER_FEATURES)
        ints = fields[:, 1:first]
        missing = tf.equal(ints, "")
        x = tf.strings.to_number(tf.where(missing, "0", ints), tf.float64)
        x = tf.where(missing, tf.constant(np.nan, tf.float64), x)
        return x, fields[:, first:], labels

    def parse_raw(self, lines):
        """Parses a batch of lines into raw columns; malformed ones are dropped and counted.

        Args:
            lines: 1-D string tensor of raw lines (without `\\n`).

        Returns:
            `(raw, labels)`: dict of `(n,)` tensors (float64 `I` fields, NaN
            for missing; string `C` fields) as the serving signature takes
            them, and float32 labels `(n, 1)`, `n` the well-formed lines.
        """
        ints, cats, labels = self._parse_blocks(lines)
        raw = {name: ints[:, i] for i, name in enumerate(INTEGER_FEATURES)}
        raw.update({name: cats[:, i] for i, name in enumerate(CATEGORICAL_FEATURES)})
        return raw, labels

    def parse_lines(self, lines):
        """Parses and encodes a batch of lines; malformed ones are dropped and counted.

        The `I` and `C` fields go to `encoder.encode` as two blocks, so
        columns encoded alike (all `I` fields; all `C` fields when hashed)
        take one call of their layer.

        Returns:
            `(features, labels)`: the encoder's model inputs (`(n, 1)` float32
            numeric, int64 ids) and float32 labels `(n, 1)`.
        """
        ints, cats, labels = self._parse_blocks(lines)
        return self.encoder.encode(blocks=[(INTEGER_FEATURES, ints), (CATEGORICAL_FEATURES, cats)]), labels

    def raw_dataset(self, files, *, batch_size: int = 4096):
        """A `tf.data.Dataset` of `(raw, labels)` batches: the well-formed lines as serving-signature inputs.

        `raw` is what the exported `serving_default` takes (float64 `I`
        fields with NaN for missing, string `C` fields), so
        `serve(**raw)["prediction"]` scores log lines directly.
        """
        files = check_files(files)
        batch_size = positive_int("batch_size", batch_size)
        self._ensure_state()
        return line_batches(files, batch_size).map(self.parse_raw)

    def dataset(
        self,
        files,
        *,
        batch_size: int = 4096,
        shuffle_buffer: int = 0,
        seed: int | None = None,
        num_parallel_calls: int | None = None,
        class_weight: Mapping[int, float] | None = None,
        hold_out_every: int = 0,
        hold_out_offset: int = 0,
        part: str = "train",
    ):
        """A `tf.data.Dataset` of `(features, labels)` (or `(features, labels, weights)`) batches from `files`.

        Lines are read in file order, grouped `batch_size` at a time, parsed and
        encoded together; batches are then shuffled in a buffer of
        `shuffle_buffer` batches (0: no shuffling) and prefetched. A batch may
        hold fewer than `batch_size` rows when lines were skipped as malformed;
        batches with no valid row are dropped.

        The Criteo format has no weight column. `class_weight` gives each row
        the weight of its label, `{0: w0, 1: w1}` (Keras' `class_weight`
        convention), and the dataset then yields float32 `(n,)` weights as a
        third element, which `fit` and `evaluate` use as sample weights. The
        usual case is negative downsampling: logs that keep every click and a
        fraction `rate` of the non-clicks train with `{0: 1 / rate, 1: 1.0}`,
        so the loss, and the predicted CTR, are those of the full traffic
        (without it the model predicts the CTR of the sample:
        `p / (p + (1 - p) * rate)` for a true CTR of `p`). Keras divides a
        batch's weighted loss by its row count, not by the sum of weights, so
        weights above 1 also scale the gradient up: lower the learning rate,
        or give `{0: 1.0, 1: rate}` (the same ratio, so the same predicted
        CTR, with weights at most 1). Weight validation data that is
        downsampled alike the same way, and leave data that is not unweighted.

        Args:
            files: Criteo-format files, plain or gzip (told apart by content).
            batch_size: lines per batch (before malformed lines are dropped).
            shuffle_buffer: batches in the shuffle buffer (0: no shuffling).
            seed: seed of the shuffling.
            num_parallel_calls: parallel parse calls (None: `tf.data.AUTOTUNE`).
            class_weight: optional `{0: w0, 1: w1}`, both keys, finite weights
                `> 0` (`deepfm_keras.validation.check_class_weight`).
            hold_out_every: with `k > 1`, split the files' lines as they
                stream: line `j` of line batch `i` is held out when
                `(i * batch_size + j + hold_out_offset) % k == 0` (1 line in
                `k`). 0: no split.
            hold_out_offset: the offset of that split (a seed).
            part: `"train"` (the batches that are not held out) or `"holdout"`.

        Raises:
            FileNotFoundError: naming a file that does not exist.
            ValueError: naming a file named `*.gz` that does not start with
                the gzip header, or a gzip file shorter than 18 bytes.
            tf.errors.InvalidArgumentError: while iterating, naming a gzip
                file that ends early (truncated).
            tf.errors.DataLossError: while iterating, for corrupt gzip data.
            ValueError: for a `class_weight` without exactly the keys 0 and
                1, or with a weight that is not a finite number `> 0`.
        """
        import tensorflow as tf

        files = check_files(files)
        batch_size = positive_int("batch_size", batch_size)
        if class_weight is not None:
            class_weight = validation.check_class_weight(class_weight)
        self._ensure_state()
        ds = line_batches(files, batch_size)
        if hold_out_every:
            if part not in ("train", "holdout") or hold_out_every < 2:
                raise ValueError(
                    f"`hold_out_every` should be 0 or >= 2 and `part` 'train' or 'holdout'. "
                    f"Received: hold_out_every={hold_out_every!r}, part={part!r}"
                )
            every, offset, held = int(hold_out_every), int(hold_out_offset), part == "holdout"

            def keep(i, lines):  # line j of batch i is held out when (i * batch_size + j + offset) % every == 0
                position = i * batch_size + tf.range(tf.size(lines, out_type=tf.int64)) + offset
                return tf.boolean_mask(lines, tf.equal(position % every == 0, held))

            ds = ds.enumerate().map(keep)
        ds = ds.map(self.parse_lines, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE)
        ds = ds.filter(lambda features, labels: tf.shape(labels)[0] > 0)
        if class_weight is not None:
            ds = ds.map(_label_weights(class_weight))
        if shuffle_buffer:
            ds = ds.shuffle(positive_int("shuffle_buffer", shuffle_buffer), seed=seed)
        return ds.prefetch(tf.data.AUTOTUNE)


def _label_weights(class_weight: Mapping[int, float]):
    """The map `(features, labels) -> (features, labels, weights)`: each row weighted by its 0/1 label's weight."""
    import tensorflow as tf

    def add_weights(features, labels):
        weights = tf.where(labels[:, 0] > 0.5, class_weight[1], class_weight[0])
        return features, labels, tf.cast(weights, tf.float32)

    return add_weights
