"""Keras callbacks that explain a DeepFM model in TensorBoard.

```
ContributionLogger(log_dir, batch)       # run contributions/: combine weights and shares, on one chart each
FieldImportanceLogger(log_dir, batch)    # run field_importance/: field x field heatmap, top pairs, per-field scalars
HParamsLogger(log_dir, {"batch_size": 512})   # run hparams/: one HParams session, the final epoch's metrics
log_hparams(log_dir, metrics={"holdout/auc": 0.81})  # after evaluation: holdout metrics for the same session
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from deepfm_keras.distribute import is_chief
from deepfm_keras.hparams import HParamsLogger, log_hparams  # noqa: F401 (re-exported)
from deepfm_keras.importance import field_importance, heatmap_image
from deepfm_keras.model import part_models
from deepfm_keras.model import part_names as model_part_names
from deepfm_keras.validation import check_inputs


class ContributionLogger(keras.callbacks.Callback):
    """Logs what each DeepFM part contributes, as TensorBoard scalars, every epoch.

    DeepFM's output is `act(c_fm_1d * fm_1d + c_fm_2d * fm_2d + c_deep * deep + b)`
    where `c_*` and `b` are the kernel and bias of the `combine` Dense layer.
    The parts are read from the model (`deepfm_keras.model.part_names`), so
    a variant with other parts, or a fourth one, is logged by its own names.
    At the end of every epoch this callback writes, at step `epoch` (0-based,
    the step Keras' `TensorBoard` callback uses for epoch metrics):

    - `contribution/fm_1d`, `contribution/fm_2d`, `contribution/deep`: the
      raw `combine` weights `c_part`, and `contribution/bias`: `b`.
    - `contribution_share/<part>` (only with `validation_data`): the
      scale-aware share `c_part * std(part) / sum_p |c_p * std(p)|`, where
      `std(part)` is the standard deviation of that part's output (before
      `combine`) on the fixed `validation_data` batch. The sign of `c_part` is
      kept, so the absolute values of the shares sum to 1; a share near 0
      means the part barely moves the logit, whatever the size of its raw
      weight. A NaN weight or part output makes every share NaN (never 0:
      the model is broken, not balanced).
    - `contribution_std/<part>` (only with `validation_data`): `std(part)`.

    When training begins it also writes a custom-scalars layout (category
    "DeepFM parts"), so TensorBoard's Custom Scalars tab shows the weights
    of all parts on one chart, the shares on another, the stds on a third
    and the bias on a fourth.

    The part outputs come from `deepfm_keras.part_models(model)`, sub-models
    sharing the model's weights, called in inference mode. The events go to
    `os.path.join(log_dir, run_name)`, so the callback can share its
    `log_dir` with `keras.callbacks.TensorBoard(log_dir)` (which writes to
    `train/` and `validation/`) and TensorBoard shows it as its own run. It
    works under any `tf.distribute` strategy: the weights are read in the
    cross-replica context; under `MultiWorkerMirroredStrategy` only the chief
    writes.

    Args:
        log_dir: TensorBoard log directory (the one given to `TensorBoard`).
        validation_data: a fixed batch for the shares: a dict from input name
            to array, exactly the model's inputs (a few hundred rows are
            plenty), checked by `deepfm_keras.validation.check_inputs` when
            training begins. `None` logs the raw weights only.
        run_name: sub-folder of `log_dir` for the events.
        part_names: names of the part layers, in the order of the `combine`
            kernel's rows; `None` reads them from the model.
        combine_name: name of the `Dense(1)` layer that combines the parts.

    Example:

    ```python
    batch = {name: values[:512] for name, values in val_inputs.items()}
    model.fit(
        train,
        epochs=5,
        callbacks=[
            keras.callbacks.TensorBoard("logs"),
            ContributionLogger("logs", validation_data=batch),
        ],
    )
    ```
    Then `tensorboard --logdir logs`, Scalars tab, `contribution*` groups.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        validation_data: Mapping | None = None,
        *,
        run_name: str = "contributions",
        part_names: Sequence[str] | None = None,
        combine_name: str = "combine",
    ):
        super().__init__()
        if not log_dir:
            raise ValueError(f"`log_dir` should be a non-empty path. Received: log_dir={log_dir!r}")
        if validation_data is not None and not isinstance(validation_data, Mapping):
            raise ValueError(
                "`validation_data` should be a dict from input name to array (one fixed batch). "
                f"Received: validation_data={type(validation_data).__name__}"
            )
        if not run_name or not isinstance(run_name, str):
            raise ValueError(f"`run_name` should be a non-empty string. Received: run_name={run_name!r}")
        self.log_dir = os.fspath(log_dir)
        self.validation_data = dict(validation_data) if validation_data is not None else None
        self.run_name = run_name
        self.part_names = tuple(part_names) if part_names is not None else None
        self.combine_name = combine_name
        self._writer = None
        self._parts = None

    def on_train_begin(self, logs=None):
        combine = self._combine_layer()
        self._resolve_part_names()
        if self.validation_data is not None:
            self.validation_data = check_inputs(
                self.model, self.validation_data, what="the validation_data of ContributionLogger"
            )
        kernel = combine.kernel
        if tuple(kernel.shape) != (len(self.part_names), 1):
            raise ValueError(
                f"Layer '{self.combine_name}' should have a kernel of shape ({len(self.part_names)}, 1), "
                f"one weight per part {list(self.part_names)}. Received: shape={tuple(kernel.shape)}"
            )
        if self.validation_data is not None:
            self._parts = part_models(self.model, names=self.part_names)
        if is_chief(self.model.distribute_strategy):
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, self.run_name))
            parts = "|".join(re.escape(p) for p in self.part_names)
            charts = [("combine weights c_part", f"^contribution/({parts})$")]
            if self.validation_data is not None:
                charts += [
                    ("scale-aware shares", f"^contribution_share/({parts})$"),
                    ("std of each part's output", f"^contribution_std/({parts})$"),
                ]
            charts.append(("global bias b", "^contribution/bias$"))
            _write_layout(self._writer, "DeepFM parts", charts)

    def _combine_layer(self):
        try:
            return self.model.get_layer(self.combine_name)
        except ValueError:
            raise ValueError(
                f"Model {self.model.name!r} has no layer named '{self.combine_name}': is it a DeepFM model?"
            ) from None

    def _resolve_part_names(self):
        if self.part_names is None:
            self.part_names = tuple(model_part_names(self.model))

    def contributions(self) -> dict[str, dict[str, float]]:
        """The current values, as written to TensorBoard.

        Returns:
            `{"contribution": {part: weight, ..., "bias": b}}`, plus, with
            `validation_data`, `"contribution_share"` and `"contribution_std"`
            (`{part: value}` each).
        """
        combine = self._combine_layer()
        self._resolve_part_names()
        kernel = keras.ops.convert_to_numpy(combine.kernel).reshape(-1).astype(np.float64)
        bias = float(keras.ops.convert_to_numpy(combine.bias).reshape(-1)[0]) if combine.use_bias else 0.0
        values = {"contribution": {**dict(zip(self.part_names, kernel.tolist(), strict=True)), "bias": bias}}
        if self.validation_data is not None:
            parts = self._parts or part_models(self.model, names=self.part_names)
            std = np.array(
                [
                    float(np.std(keras.ops.convert_to_numpy(parts[n](self.validation_data, training=False))))
                    for n in self.part_names
                ]
            )
            scaled = kernel * std
            total = np.abs(scaled).sum()
            if not np.isfinite(total):  # a NaN / inf weight or part output: no share is meaningful
                share = np.full_like(scaled, np.nan)
            else:
                share = scaled / total if total > 0 else np.zeros_like(scaled)
            values["contribution_share"] = dict(zip(self.part_names, share.tolist(), strict=True))
            values["contribution_std"] = dict(zip(self.part_names, std.tolist(), strict=True))
        return values

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        values = self.contributions()
        with self._writer.as_default(step=epoch):
            for group, scalars in values.items():
                for name, value in scalars.items():
                    tf.summary.scalar(f"{group}/{name}", value)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _write_layout(writer, category: str, charts: Sequence[tuple[str, str]]) -> None:
    """Writes a custom-scalars layout: one category of multi-line charts, each `(title, tag regex)`.

    TensorBoard merges the layouts of all runs, charts of one category title
    once each, so every run of a log directory may write the same layout.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title=category,
                chart=[
                    layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[regex]))
                    for title, regex in charts
                ],
            )
        ]
    )
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(custom_scalar_summary.pb(layout).SerializeToString(), step=0)
    writer.flush()


class FieldImportanceLogger(keras.callbacks.Callback):
    """Logs, every epoch, how much each field and each pair of fields moves the logit.

    At the end of every epoch (step `epoch`, 0-based) it computes
    `deepfm_keras.importance.field_importance(model, data)` (first-order
    magnitude `mean |c_fm_1d * w_i(x)|` per field, FM interaction strength
    `mean |c_fm_2d * <e_i, e_j>|` per pair of fields) and writes to
    `os.path.join(log_dir, run_name)`:

    - image `field_importance/interaction`: the field x field heatmap
      (`deepfm_keras.importance.heatmap_image`; labelled axes when
      matplotlib is installed), in the Images tab;
    - text `field_importance/summary`: the `top_pairs` strongest pairs and
      every field's values as markdown tables, in the Text tab;
    - scalars `field_importance/first_order/<field>` and
      `field_importance/interaction/<field>` (the sum of the field's
      interaction strengths with every other field), plus a custom-scalars
      layout (category "DeepFM fields") with each group on one chart.

    Under `MultiWorkerMirroredStrategy` only the chief computes and writes.

    Args:
        log_dir: TensorBoard log directory.
        data: a fixed batch, a dict from input name to array, exactly the
            model's inputs (a few hundred rows), checked when training begins.
        run_name: sub-folder of `log_dir` for the events.
        top_pairs: how many pairs the text summary lists.

    Example:

    ```python
    batch = {name: values[:512] for name, values in val_inputs.items()}
    model.fit(train, epochs=5, callbacks=[FieldImportanceLogger("logs", batch)])
    ```
    """

    def __init__(
        self, log_dir: str | os.PathLike, data: Mapping, *, run_name: str = "field_importance", top_pairs: int = 10
    ):
        super().__init__()
        if not log_dir:
            raise ValueError(f"`log_dir` should be a non-empty path. Received: log_dir={log_dir!r}")
        if not isinstance(data, Mapping):
            raise ValueError(
                "`data` should be a dict from input name to array (one fixed batch). "
                f"Received: data={type(data).__name__}"
            )
        if not run_name or not isinstance(run_name, str):
            raise ValueError(f"`run_name` should be a non-empty string. Received: run_name={run_name!r}")
        if isinstance(top_pairs, bool) or not isinstance(top_pairs, int) or top_pairs < 1:
            raise ValueError(f"`top_pairs` should be a positive integer. Received: top_pairs={top_pairs!r}")
        self.log_dir = os.fspath(log_dir)
        self.data = dict(data)
        self.run_name = run_name
        self.top_pairs = top_pairs
        self._writer = None

    def on_train_begin(self, logs=None):
        self.data = check_inputs(self.model, self.data, what="the data of FieldImportanceLogger")
        if is_chief(self.model.distribute_strategy):
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, self.run_name))
            charts = [
                ("first-order magnitude per field", "^field_importance/first_order/"),
                ("FM interaction strength per field (sum over partners)", "^field_importance/interaction/"),
            ]
            _write_layout(self._writer, "DeepFM fields", charts)

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        importance = field_importance(self.model, self.data)
        image = heatmap_image(importance, title=f"FM interaction strength, epoch {epoch}")
        with self._writer.as_default(step=epoch):
            tf.summary.image("field_importance/interaction", image[None])
            tf.summary.text("field_importance/summary", importance.to_markdown(self.top_pairs))
            totals = importance.interaction.sum(axis=1)
            for name, first, total in zip(importance.fields, importance.first_order, totals, strict=True):
                tf.summary.scalar(f"field_importance/first_order/{name}", first)
                tf.summary.scalar(f"field_importance/interaction/{name}", total)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
