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

from deepfm_keras.model import head_names, part_models
from deepfm_keras.model import part_names as model_part_names
from deepfm_keras.training.distribute import is_chief
from deepfm_keras.training.hparams import HParamsLogger, log_hparams  # noqa: F401 (re-exported)
from deepfm_keras.training.importance import field_importance, heatmap_image
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

    A model with several heads (`build_deepfm(tasks=...)`) is logged per head:
    `contribution/<task>/<part>`, `contribution_share/<task>/<part>`, ... from
    each head's own `combine_<task>` layer, one custom-scalars chart set per
    head. A multi-class head logs each class's weights and shares,
    `contribution/<part>/class_<c>`.

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

    def _heads(self) -> list[tuple[str | None, str, tuple[str, ...]]]:
        """`(head, combine layer name, part names)` per head: one for a one-head model, one per task otherwise."""
        if self.combine_name != "combine" or "combine" in {layer.name for layer in self.model.layers}:
            self._combine_layer()
            parts = self.part_names if self.part_names is not None else None
            if parts is None:
                parts = tuple(_parts_of(self.model, self.combine_name))
            self.part_names = parts
            return [(None, self.combine_name, parts)]
        heads = [h for h in head_names(self.model) if h is not None]
        if not heads:
            self._combine_layer()  # raises, naming the missing layer
        return [(h, f"combine_{h}", tuple(model_part_names(self.model, h))) for h in heads]

    def on_train_begin(self, logs=None):
        self._head_list = self._heads()
        if self.validation_data is not None:
            self.validation_data = check_inputs(
                self.model, self.validation_data, what="the validation_data of ContributionLogger"
            )
        for _, combine_name, parts in self._head_list:
            kernel = self.model.get_layer(combine_name).kernel
            if len(kernel.shape) != 2 or kernel.shape[0] != len(parts):
                raise ValueError(
                    f"Layer '{combine_name}' should have a kernel of shape ({len(parts)}, 1) (or ({len(parts)}, classes)), "
                    f"one weight per part {list(parts)}. Received: shape={tuple(kernel.shape)}"
                )
        if self.validation_data is not None:
            names = sorted({p for _, _, parts in self._head_list for p in parts})
            self._parts = part_models(self.model, names=names)
        if is_chief(self.model.distribute_strategy):
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, self.run_name))
            charts = []
            for head, combine_name, parts in self._head_list:
                prefix = "" if head is None else f"{re.escape(head)}/"
                title = "" if head is None else f"{head}: "
                names = "|".join(re.escape(p) for p in parts)
                tail = "$" if self.model.get_layer(combine_name).kernel.shape[1] == 1 else r"/class_\d+$"
                charts.append((f"{title}combine weights c_part", f"^contribution/{prefix}({names}){tail}"))
                if self.validation_data is not None:
                    charts += [
                        (f"{title}scale-aware shares", f"^contribution_share/{prefix}({names}){tail}"),
                        (f"{title}std of each part's output", f"^contribution_std/{prefix}({names}){tail}"),
                    ]
                charts.append((f"{title}global bias b", f"^contribution/{prefix}bias{tail}"))
            _write_layout(self._writer, "DeepFM parts", charts)

    def _combine_layer(self):
        try:
            return self.model.get_layer(self.combine_name)
        except ValueError:
            raise ValueError(
                f"Model {self.model.name!r} has no layer named '{self.combine_name}': is it a DeepFM model?"
            ) from None

    def contributions(self) -> dict[str, dict[str, float]]:
        """The current values, as written to TensorBoard.

        Returns:
            `{"contribution": {part: weight, ..., "bias": b}}`, plus, with
            `validation_data`, `"contribution_share"` and `"contribution_std"`
            (`{part: value}` each). A multi-task model's names are
            `<task>/<part>`; a multi-class head has one entry per class,
            `<part>/class_<c>`.
        """
        heads = getattr(self, "_head_list", None) or self._heads()
        values = {"contribution": {}}
        if self.validation_data is not None:
            values["contribution_share"], values["contribution_std"] = {}, {}
            names = sorted({p for _, _, parts in heads for p in parts})
            parts_models = self._parts or part_models(self.model, names=names)
            outputs = {
                n: keras.ops.convert_to_numpy(parts_models[n](self.validation_data, training=False)).astype(np.float64)
                for n in names
            }
        for head, combine_name, parts in heads:
            combine = self.model.get_layer(combine_name)
            kernel = keras.ops.convert_to_numpy(combine.kernel).astype(np.float64).reshape(len(parts), -1)
            units = kernel.shape[1]
            bias = (
                keras.ops.convert_to_numpy(combine.bias).astype(np.float64).reshape(-1)
                if getattr(combine, "use_bias", True) and getattr(combine, "bias", None) is not None
                else np.zeros(units)
            )
            prefix = "" if head is None else f"{head}/"
            for c in range(units):
                suffix = "" if units == 1 else f"/class_{c}"
                for p, part in enumerate(parts):
                    values["contribution"][f"{prefix}{part}{suffix}"] = float(kernel[p, c])
                values["contribution"][f"{prefix}bias{suffix}"] = float(bias[c])
                if self.validation_data is None:
                    continue
                std = np.array(
                    [float(np.std(outputs[part][:, c if outputs[part].shape[-1] == units else 0])) for part in parts]
                )
                scaled = kernel[:, c] * std
                total = np.abs(scaled).sum()
                if not np.isfinite(total):  # a NaN / inf weight or part output: no share is meaningful
                    share = np.full_like(scaled, np.nan)
                else:
                    share = scaled / total if total > 0 else np.zeros_like(scaled)
                for p, part in enumerate(parts):
                    values["contribution_share"][f"{prefix}{part}{suffix}"] = float(share[p])
                    values["contribution_std"][f"{prefix}{part}{suffix}"] = float(std[p])
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


def _parts_of(model, combine_name: str) -> list[str]:
    """Part names feeding a combine layer of any name (a user's variant may name it otherwise)."""
    if combine_name == "combine":
        return model_part_names(model)
    if combine_name.startswith("combine_"):
        return model_part_names(model, combine_name[len("combine_") :])
    raise ValueError(f"Layer '{combine_name}': give `part_names` for a combine layer of another name.")


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
    `deepfm_keras.training.importance.field_importance(model, data)` (first-order
    magnitude `mean |c_fm_1d * w_i(x)|` per field, FM interaction strength
    `mean |c_fm_2d * <e_i, e_j>|` per pair of fields) and writes to
    `os.path.join(log_dir, run_name)`:

    - image `field_importance/interaction`: the field x field heatmap
      (`deepfm_keras.training.importance.heatmap_image`; labelled axes when
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
