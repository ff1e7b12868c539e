"""Per-field importance of a DeepFM model: first-order magnitudes and FM interaction strengths.

```
importance = field_importance(model, batch)     # batch: dict of input arrays, a few hundred rows
importance.fields                               # ('age', 'user', 'genres'), the model's field order
importance.first_order                          # (m,)   mean |c_fm_1d * w_i(x)|
importance.interaction                          # (m, m) mean |c_fm_2d * <e_i, e_j>|, zero diagonal
importance.top_pairs(3)                         # [('user', 'genres', 0.41), ...]
heatmap_image(importance)                       # (height, width, 3) uint8, for tf.summary.image
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import numpy as np

from deepfm_keras.model import DeepFMModel, part_names
from deepfm_keras.model.legacy import field_order_from_layers
from deepfm_keras.model.parts import combine_layer_name, head_suffix, part_layer_name
from deepfm_keras.spec.feature_spec import field_groups
from deepfm_keras.validation import check_inputs


@dataclasses.dataclass(frozen=True)
class FieldImportance:
    """How much each field, and each pair of fields, moves a DeepFM model's logit.

    All values are in logit units (before the output activation), averaged
    over the rows of the batch they were computed on; see `field_importance`.

    Attributes:
        fields: field names in the model's field order (numeric fields
            first, then categorical ones, as `deepfm_keras.field_order`).
        first_order: `(m,)` float64, mean `|c_fm_1d * w_i(x)|` per field.
        interaction: `(m, m)` float64, symmetric, zero diagonal: mean
            `|c_fm_2d * <e_i, e_j>|` per pair of fields.

    Example:

    >>> imp = FieldImportance(("a", "b", "c"), np.array([0.1, 0.2, 0.3]),
    ...                       np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float))
    >>> imp.top_pairs(2)
    [('b', 'c', 3.0), ('a', 'c', 2.0)]
    """

    fields: tuple[str, ...]
    first_order: np.ndarray
    interaction: np.ndarray

    def __post_init__(self):
        m = len(self.fields)
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "first_order", np.asarray(self.first_order, dtype="float64"))
        object.__setattr__(self, "interaction", np.asarray(self.interaction, dtype="float64"))
        if self.first_order.shape != (m,) or self.interaction.shape != (m, m):
            raise ValueError(
                f"`first_order` should have shape ({m},) and `interaction` ({m}, {m}) for {m} fields. "
                f"Received: {self.first_order.shape} and {self.interaction.shape}"
            )

    def top_pairs(self, n: int = 10) -> list[tuple[str, str, float]]:
        """The `n` strongest field pairs, strongest first.

        Args:
            n: how many pairs (at most `m * (m - 1) / 2` come back).

        Returns:
            `[(field_a, field_b, strength), ...]`, `field_a` before `field_b`
            in field order; ties keep field order. NaN strengths come last.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"`n` should be a non-negative integer. Received: n={n!r}")
        rows, cols = np.triu_indices(len(self.fields), k=1)
        values = self.interaction[rows, cols]
        order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")[: int(n)]
        return [(self.fields[rows[i]], self.fields[cols[i]], float(values[i])) for i in order]

    def to_dict(self) -> dict:
        """A JSON-ready dict: `{"fields": [...], "first_order": [...], "interaction": [[...], ...]}`."""
        return {
            "fields": list(self.fields),
            "first_order": self.first_order.tolist(),
            "interaction": self.interaction.tolist(),
        }

    def to_markdown(self, top: int = 10) -> str:
        """Two markdown tables: the `top` strongest pairs, and every field's first-order and total interaction."""
        lines = ["| rank | field a | field b | interaction |", "|---:|---|---|---:|"]
        for rank, (a, b, value) in enumerate(self.top_pairs(top), start=1):
            lines.append(f"| {rank} | {a} | {b} | {value:.4g} |")
        lines += ["", "| field | first order | interaction (sum over other fields) |", "|---|---:|---:|"]
        for name, first, total in zip(self.fields, self.first_order, self.interaction.sum(axis=1), strict=True):
            lines.append(f"| {name} | {first:.4g} | {total:.4g} |")
        return "\n".join(lines)


def _combine_weight(model: keras.Model, part: str, head: str | None = None) -> float:
    parts = part_names(model, head)
    if part not in parts:
        raise ValueError(f"Model {model.name!r} has no '{part}' part (its parts: {parts}).")
    kernel = np.asarray(model.get_layer(combine_layer_name(head)).kernel.numpy())
    if kernel.shape[-1] != 1:
        raise ValueError(
            f"Model {model.name!r}: field_importance reads a one-output head; this head has {kernel.shape[-1]} "
            "classes (read its per-class contribution weights with ContributionLogger)."
        )
    return float(kernel.reshape(-1)[parts.index(part)])


def field_importance(model: keras.Model, inputs: Mapping, *, head: str | None = None) -> FieldImportance:
    """Measures each field's first-order magnitude and the strength of its FM interactions, in logit units.

    With `c_fm_1d`, `c_fm_2d` the entries of the `combine` kernel for the
    `fm_1d` and `fm_2d` parts, `w_i(x)` field `i`'s first-order term (its
    id's weight, the masked mean of its ids' weights, or `w_i * x` for a
    numeric field) and `e_i(x)` its embedding as the FM sees it (its id's
    vector, the masked mean of its ids' vectors, or `x * v_i` for a numeric
    field), over the `n` rows of `inputs`:

    - `first_order[i] = mean_rows |c_fm_1d * w_i(x)|`
    - `interaction[i, j] = mean_rows |c_fm_2d * <e_i(x), e_j(x)>|` for
      `i != j`, `0` on the diagonal.

    These are the terms the model adds to its logit (`fm_1d` is
    `sum_i w_i`, `fm_2d` is `sum_{i<j} <e_i, e_j>`), so they are comparable
    with each other and across fields whatever the scale of the embeddings,
    and a field whose terms are large on some rows but cancel on average
    still counts (the mean of the absolute value). The deep part, which mixes
    every field, is not split by field.

    The terms are read from sub-models sharing the model's layers (no copy of
    any weight), called in inference mode, so it works on a model fresh from
    `build_deepfm`, on one loaded from a `.keras` file, and on one trained
    under a `tf.distribute` strategy.

    Args:
        model: a model built by `build_deepfm` (or from `build_first_order`,
            `build_field_embeddings`, `build_second_order` and `combine_parts`).
        inputs: a dict from input name to array, exactly the model's inputs
            (checked by `deepfm_keras.validation.check_inputs`); a few hundred
            rows are plenty. Memory is `rows * m * m` floats.
        head: the task of a multi-task model whose terms to read (its
            `fm_1d_<head>` and `combine_<head>`; the embeddings and the
            2nd-order FM are shared by every head).

    Returns:
        A `FieldImportance`.

    Raises:
        ValueError: if the model lacks an `fm_1d` or `fm_2d` part or the
            `combine` layer, or `inputs` does not match the model.

    Example:

    >>> from deepfm_keras import build_deepfm, CategoricalFeature, NumericFeature
    >>> spec = [NumericFeature("x"), CategoricalFeature("u", 10), CategoricalFeature("i", 5)]
    >>> model = build_deepfm(spec, embedding_dim=4, hidden_units=(8,))
    >>> batch = {"x": np.ones((6, 1), "float32"), "u": np.arange(6).reshape(-1, 1), "i": np.zeros((6, 1), "int64")}
    >>> importance = field_importance(model, batch)
    >>> importance.fields, importance.interaction.shape
    (('x', 'u', 'i'), (3, 3))
    """
    first, second = part_layer_name("fm_1d", head), part_layer_name("fm_2d", head)
    c_first = _combine_weight(model, first, head)
    c_second = _combine_weight(model, second, head)
    inputs = check_inputs(model, inputs, what="the inputs of field_importance")
    spec = getattr(model, "feature_spec", None)
    terms = DeepFMModel(
        model.input,
        [model.get_layer(first).input, model.get_layer(second).input],
        name=f"{model.name}_field_terms",
        feature_spec=spec,
        tasks=(),
        parts=(),
    )
    weights, embeddings = (keras.ops.convert_to_numpy(t).astype("float64") for t in terms(inputs, training=False))
    weights = weights.reshape(weights.shape[0], -1)  # (n, m)
    if spec is not None:
        fields = [f.name for _, _, group in field_groups(spec) for f in group]
        linear_fields = fields
    else:
        fields = field_order_from_layers(model, "embedding")
        linear_fields = field_order_from_layers(model, f"linear{head_suffix(head)}")
    if linear_fields != fields or len(fields) != embeddings.shape[1] or weights.shape[1] != len(fields):
        raise ValueError(
            f"Model {model.name!r}: its first-order and embedding fields differ or are not named: "
            "field_importance needs a model built with deepfm_keras.model's builders."
        )
    first_order = np.mean(np.abs(c_first * weights), axis=0)
    interaction = np.mean(np.abs(c_second * np.einsum("nik,njk->nij", embeddings, embeddings)), axis=0)
    np.fill_diagonal(interaction, 0.0)
    return FieldImportance(tuple(fields), first_order, interaction)


# A perceptual colour ramp (viridis at 5 stops), for the heatmap without matplotlib.
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype="float64")


def _plain_heatmap(matrix: np.ndarray, cell: int) -> np.ndarray:
    finite = np.where(np.isfinite(matrix), matrix, 0.0)
    top = finite.max() if finite.size else 0.0
    scaled = finite / top if top > 0 else np.zeros_like(finite)
    position = scaled * (len(_RAMP) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(_RAMP) - 2)
    frac = (position - low)[..., None]
    colours = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    colours[~np.isfinite(matrix)] = (255, 0, 255)  # NaN: magenta, never a plausible value
    return np.round(np.kron(colours, np.ones((cell, cell, 1)))).astype("uint8")


def _matplotlib_heatmap(importance: FieldImportance, title: str) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m = len(importance.fields)
    size = min(3.0 + 0.4 * m, 16.0)  # inches: a readable cell per field, at most 1280 pixels a side
    figure = Figure(figsize=(size + 1.2, size), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = axes.imshow(importance.interaction, cmap="viridis")
    fontsize = max(4.0, min(10.0, 400.0 / max(m, 1)))
    axes.set_xticks(range(m), importance.fields, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(m), importance.fields, fontsize=fontsize)
    axes.set_title(title, fontsize=10)
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def heatmap_image(importance: FieldImportance, *, title: str = "FM interaction strength") -> np.ndarray:
    """Renders `importance.interaction` as a field x field heatmap image.

    With matplotlib installed, a figure with the field names on both axes and
    a colour bar; otherwise a plain image of `24 x 24`-pixel cells (rows and
    columns in field order, viridis colours scaled to the largest value,
    NaN in magenta).

    Args:
        importance: from `field_importance`.
        title: the figure title (matplotlib only).

    Returns:
        `(height, width, 3)` uint8 RGB array (add a batch axis for
        `tf.summary.image`).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _plain_heatmap(importance.interaction, cell=24)
    return _matplotlib_heatmap(importance, title)
