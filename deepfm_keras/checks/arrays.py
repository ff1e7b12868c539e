"""Eager checks of arrays where they enter (inputs, labels, scores, sample and class weights), naming field, row, value."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from deepfm_keras.checks.fields import check_keys, model_fields, model_tasks
from deepfm_keras.spec.features import NUMERIC_LIMIT

# Ids are int64 from the input to the table; a value needing more is refused at the entry.
_INT64_MAX = np.iinfo(np.int64).max


def _check_head_keys(value: Mapping, heads: list, what: str, alternative: str = "") -> None:
    """Raises unless the dict `value` has exactly one entry per head, naming the unexpected and missing keys."""
    unexpected = sorted(str(k) for k in value if k not in heads)
    missing = [h for h in heads if h not in value]
    if unexpected or missing:
        raise ValueError(
            f"`{what}` should have one entry per head {heads}{alternative}. "
            + (f"Unexpected: {unexpected}. " if unexpected else "")
            + (f"Missing: {missing}." if missing else "")
        )


def check_task_labels(model, y, *, rows: int | None = None, what: str = "y") -> dict:
    """Checks a dict of labels against a multi-head model: exactly one entry per head, each checked by its task."""
    heads = model_tasks(model)
    if not isinstance(y, Mapping):
        raise ValueError(
            f"Model {model.name!r} has several heads {list(heads)}: `{what}` should be a dict from head name to labels."
        )
    _check_head_keys(y, list(heads), what)
    return {
        name: check_labels(y[name], rows=rows, task=task, num_classes=units, what=f"{what}['{name}']")
        for name, (task, units) in heads.items()
    }


def _show(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _first_bad(mask: np.ndarray) -> tuple:
    """Index (row, or row and column) of the first True of `mask`."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(index: tuple) -> str:
    return f"row {index[0]}" if len(index) == 1 or index[1:] == (0,) else f"row {index[0]}, column {index[1]}"


def _as_ids(name: str, value: np.ndarray) -> np.ndarray:
    kind = value.dtype.kind
    if kind in "iu":
        if kind == "u" and value.size and value.max() > _INT64_MAX:
            index = _first_bad(value > _INT64_MAX)
            raise ValueError(f"Feature '{name}', {_where(index)}: id {value[index]} does not fit int64.")
        return value.astype("int64", copy=False)
    if kind == "f":
        bad = ~np.isfinite(value) | (value != np.round(value)) | (np.abs(value) > 2.0**63)
        if bad.any():
            index = _first_bad(bad)
            raise ValueError(
                f"Feature '{name}', {_where(index)}: ids should be whole numbers; received {_show(value[index])} "
                f"(dtype {value.dtype})."
            )
        return value.astype("int64")
    raise ValueError(
        f"Feature '{name}' should hold integer ids; received dtype {value.dtype}"
        + (f" (row 0: {_show(value.reshape(-1)[0])})" if value.size else "")
        + ". Encode raw values into ids with a FeatureEncoder."
    )


def _require_numbers(value: np.ndarray, kinds: str, subject: str) -> None:
    """Raises `"<subject> numbers; received dtype ... (row 0: ...)"` unless `value`'s dtype kind is in `kinds`."""
    if value.dtype.kind not in kinds:
        raise ValueError(
            f"{subject} numbers; received dtype {value.dtype}"
            + (f" (row 0: {_show(value.reshape(-1)[0])})" if value.size else "")
            + "."
        )


def _as_numbers(name: str, value: np.ndarray, nan_padding: bool = False) -> np.ndarray:
    _require_numbers(value, "iuf", f"Feature '{name}' should hold")
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes inf, refused just below
        out = value.astype("float32", copy=False)
        bad = ~(np.abs(out) <= NUMERIC_LIMIT)  # NaN compares False: refused too
        if nan_padding:
            bad &= ~np.isnan(out)  # a numeric sequence's padding
    if bad.any():
        index = _first_bad(bad)
        shown = _show(value[index])
        if np.isfinite(out[index]):
            raise ValueError(
                f"Feature '{name}', {_where(index)}: {shown} is beyond +-{NUMERIC_LIMIT:g}, where the FM's squares "
                "overflow float32. Scale numeric inputs (FeatureEncoder standardises them; NumericColumn(log1p=True) "
                "for counts)."
            )
        raise ValueError(
            f"Feature '{name}', {_where(index)}: {shown} is not a finite float32. Encode missing values "
            "first (FeatureEncoder fills NaN with the mean, and can add a missing indicator)."
        )
    return out


def check_inputs(model_or_fields, x, *, what: str = "the input") -> dict[str, np.ndarray]:
    """Checks a dict of arrays against a model's inputs and returns it in the model's shapes and dtypes.

    Args:
        model_or_fields: the model, or `model_fields(model)`.
        x: dict from feature name to array-like.
        what: how errors refer to `x` (e.g. `"validation_data"`).

    Returns:
        Dict name -> NumPy array, in the model's input order: float32 or
        int64, `(n, 1)` for numeric and single-level fields, `(n, max_len)`
        for multi-level ones.

    Raises:
        ValueError: naming the field, the row and the value, for an
            unexpected or missing key, a wrong shape, rows that differ between
            fields, a non-finite number, a non-integer id, or an id outside
            `[0, vocabulary_size)`.
    """
    fields = model_or_fields if isinstance(model_or_fields, Mapping) else model_fields(model_or_fields)
    check_keys(fields, x, what=what)
    out, rows = {}, {}
    for name, field in fields.items():
        value = np.asarray(x[name])
        if value.ndim == 1 and field.width == 1:
            value = value.reshape(-1, 1)
        if value.ndim != 2 or value.shape[1] != field.width:
            expected = "(n,) or (n, 1)" if field.width == 1 else f"(n, {field.width})"
            raise ValueError(f"Feature '{name}' should have shape {expected}. Received shape {value.shape}")
        rows[name] = len(value)
        if field.is_id:
            value = _as_ids(name, value)
            if field.vocabulary_size is not None and value.size:
                bad = (value < 0) | (value >= field.vocabulary_size)
                if bad.any():
                    index = _first_bad(bad)
                    raise ValueError(
                        f"Feature '{name}', {_where(index)}: id {value[index]} is outside "
                        f"[0, {field.vocabulary_size}) (vocabulary_size={field.vocabulary_size}). Map unseen values "
                        "to the OOV id with a FeatureEncoder, or give the feature a larger vocabulary_size."
                    )
        else:
            value = _as_numbers(name, value, field.nan_padding)
        out[name] = value
    if len(set(rows.values())) > 1:
        raise ValueError(f"Every feature should have the same number of rows. Received: {rows}")
    return out


def check_labels(
    y, *, rows: int | None = None, task: str | None = None, num_classes: int | None = None, what: str = "labels"
) -> np.ndarray:
    """Checks labels and returns them as float32 `(n, 1)` (int64 class ids for a multi-class task).

    Args:
        y: array-like of labels, `(n,)` or `(n, 1)`.
        rows: the number of input rows they must match, if known.
        task: `"binary"` (labels must be 0 or 1), `"regression"`,
            `"multiclass"` (class ids `0 .. num_classes - 1`) or None.
        num_classes: the classes of a multi-class task.
        what: how errors refer to `y`.

    Raises:
        ValueError: naming the first offending row and value, for
            non-numeric, non-finite, wrongly shaped or (binary) non-0/1
            labels, or a row count that differs from the inputs'.
    """
    value = np.asarray(y)
    if value.ndim == 1:
        value = value.reshape(-1, 1)
    if value.ndim != 2 or value.shape[1] != 1:
        raise ValueError(f"`{what}` should have shape (n,) or (n, 1). Received shape {np.shape(y)}")
    _require_numbers(value, "iufb", f"`{what}` should be")
    value = value.astype("float64" if task == "multiclass" else "float32")
    bad = ~np.isfinite(value)
    rule = "a finite number"
    if task == "binary":
        bad |= (value != 0) & (value != 1)
        rule = "0 or 1 (a binary model)"
    elif task == "multiclass":
        with np.errstate(invalid="ignore"):
            bad |= (value != np.round(value)) | (value < 0) | (value >= (num_classes or np.inf))
        rule = f"a class id in 0 .. {num_classes - 1} (a {num_classes}-class head)" if num_classes else "a class id"
    if bad.any():
        row = _first_bad(bad)[0]
        raise ValueError(f"`{what}`, row {row}: {_show(np.asarray(y).reshape(-1)[row])} should be {rule}.")
    if rows is not None and len(value) != rows:
        raise ValueError(f"`{what}` has {len(value)} rows; the inputs have {rows}.")
    return value.astype("int64") if task == "multiclass" else value


def check_scores(model, scores: np.ndarray) -> np.ndarray:
    """Returns `scores` if they are all finite; else raises naming the first row and the model's non-finite weights.

    With inputs that pass `check_inputs` a score can only be NaN or inf when
    the model itself is (a diverged training run): no NaN score leaves
    `predict` or `batch_predict` silently.
    """
    bad = ~np.isfinite(scores)
    if bad.any():
        broken = [w.path for w in model.weights if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
        raise ValueError(
            f"Model {model.name!r} scored row {_first_bad(bad)[0]} as {_show(scores[_first_bad(bad)])}. "
            + (f"Its weights {broken[:5]} are not finite: training diverged." if broken else "Its weights are finite.")
        )
    return scores


def check_sample_weights(sample_weight, *, rows: int | None = None, what: str = "sample_weight") -> np.ndarray:
    """Checks per-row training weights and returns them as float32 `(n,)`.

    Keras 3 (3.10 to 3.15 measured) weights the loss of a batch as
    `sum(w * loss) / batch_size`, not `/ sum(w)`: weights scale the gradient
    (and the logged loss), so weights of mean 1 keep the learning rate's scale.

    Args:
        sample_weight: array-like of weights, `(n,)` or `(n, 1)`: numbers
            (booleans count as 0/1), finite, `>= 0`, not all zero.
        rows: the number of rows they must match, if known.
        what: how errors refer to the weights.

    Returns:
        The weights as a float32 array of shape `(n,)`.

    Raises:
        ValueError: naming the first offending row and value, for non-numeric,
            non-finite (in float32) or negative weights, a wrong shape, a row
            count that differs from the inputs', or weights that are all zero.

    Example:

    >>> check_sample_weights([1.0, 0.5, 0.0])
    array([1. , 0.5, 0. ], dtype=float32)
    >>> check_sample_weights([1.0, -2.0])
    Traceback (most recent call last):
    ...
    ValueError: `sample_weight`, row 1: -2.0 should be a finite number >= 0.
    """
    value = np.asarray(sample_weight)
    if value.ndim == 2 and value.shape[1] == 1:
        value = value.reshape(-1)
    if value.ndim != 1:
        raise ValueError(f"`{what}` should have shape (n,) or (n, 1). Received shape {np.shape(sample_weight)}")
    _require_numbers(value, "iufb", f"`{what}` should be")
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes inf, refused just below
        out = value.astype("float32")
        bad = ~(np.isfinite(out) & (out >= 0))
    if bad.any():
        row = _first_bad(bad)[0]
        raise ValueError(f"`{what}`, row {row}: {_show(value[row])} should be a finite number >= 0.")
    if rows is not None and len(out) != rows:
        raise ValueError(f"`{what}` has {len(out)} rows; the inputs have {rows}.")
    if not out.any():
        raise ValueError(f"`{what}` is 0 in every row ({len(out)} rows): no row would train.")
    return out


def check_head_weights(sample_weight, heads, *, rows: int | None = None, what: str = "sample_weight") -> dict:
    """Checks the weights of a several-head model's rows: one array per head, or one array for all heads.

    Args:
        sample_weight: a dict from head name to weights, with exactly the
            heads' names (e.g. a conversion head weighted 0 on the rows
            without a click), or one array, used for every head.
        heads: the head names (`model.output_names`, or the keys of a dict `y`).
        rows: the number of rows each array must match, if known.
        what: how errors refer to the weights.

    Returns:
        `{head: float32 (n,)}`, each checked by `check_sample_weights`.

    Raises:
        ValueError: naming the missing or unexpected heads, or the head, row
            and value of a bad weight.

    Example:

    >>> check_head_weights({"click": [1, 1], "buy": [0, 1]}, ["buy", "click"])["buy"]
    array([0., 1.], dtype=float32)
    >>> check_head_weights({"click": [1, 1]}, ["buy", "click"])
    Traceback (most recent call last):
    ...
    ValueError: `sample_weight` should have one entry per head ['buy', 'click'] (or be one array for all). Missing: ['buy'].
    """
    heads = list(heads)
    if not isinstance(sample_weight, Mapping):
        one = check_sample_weights(sample_weight, rows=rows, what=what)
        return dict.fromkeys(heads, one)
    _check_head_keys(sample_weight, heads, what, " (or be one array for all)")
    return {h: check_sample_weights(sample_weight[h], rows=rows, what=f"{what}['{h}']") for h in heads}


def check_class_weight(class_weight) -> dict[int, float]:
    """Checks a binary task's weight per label value, as `{0: w0, 1: w1}`, and returns it with float values.

    Args:
        class_weight: a mapping with exactly the keys 0 and 1 (integers)
            and finite weights `> 0`; e.g. `{0: 1 / rate, 1: 1.0}` after
            keeping a fraction `rate` of the negatives.

    Returns:
        `{0: float, 1: float}`.

    Raises:
        ValueError: naming the key or value that is wrong.

    Example:

    >>> check_class_weight({0: 10, 1: 1})
    {0: 10.0, 1: 1.0}
    """
    if not isinstance(class_weight, Mapping):
        raise ValueError(
            f"`class_weight` should be a dict {{0: weight, 1: weight}}. Received: {type(class_weight).__name__}"
        )
    keys = list(class_weight)
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in keys) or sorted(keys) != [0, 1]:
        raise ValueError(f"`class_weight` should have exactly the keys 0 and 1. Received keys: {keys!r}")
    out = {}
    for label in (0, 1):
        weight = class_weight[label]
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
            raise ValueError(f"`class_weight[{label}]` should be a number. Received: {weight!r}")
        with np.errstate(over="ignore"):
            finite = np.isfinite(np.float32(weight))  # the weights are float32 in the pipeline
        if not (finite and weight > 0):
            raise ValueError(f"`class_weight[{label}]` should be a finite number > 0. Received: {weight!r}")
        out[label] = float(weight)
    return out
