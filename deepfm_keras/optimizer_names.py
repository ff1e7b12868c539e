"""The one table of optimizer names: what `compile(optimizer=...)`, run configs and the CLI accept.

`NAMES` maps each name to the import path of its class, so this module
imports no other module of the package (nor TensorFlow or Keras until `get`
makes an optimizer) and `deepfm_keras.optimizers` re-exports `NAMES`,
`names` and `get` without an import cycle.

| name | optimizer |
|---|---|
| `"adam"`, `"lazy_adam"` | `deepfm_keras.optimizers.LazyAdam` |
| `"adagrad"` | `deepfm_keras.optimizers.SparseAdagrad` |
| `"rowwise_adagrad"` | `deepfm_keras.optimizers.RowWiseAdagrad` |
| `"sgd"` | `deepfm_keras.optimizers.SparseSGD` |
| `"ftrl"` | `deepfm_keras.optimizers.SparseFtrl` |
| `"dense_adam"` | `keras.optimizers.Adam` (updates every table row at every step) |

Example:

>>> names()
('adam', 'lazy_adam', 'adagrad', 'rowwise_adagrad', 'sgd', 'ftrl', 'dense_adam')
>>> canonical_name("LazyAdam")
'lazy_adam'
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Mapping

NAMES: Mapping[str, str] = types.MappingProxyType(
    {
        "adam": "deepfm_keras.optimizers.LazyAdam",
        "lazy_adam": "deepfm_keras.optimizers.LazyAdam",
        "adagrad": "deepfm_keras.optimizers.SparseAdagrad",
        "rowwise_adagrad": "deepfm_keras.optimizers.RowWiseAdagrad",
        "sgd": "deepfm_keras.optimizers.SparseSGD",
        "ftrl": "deepfm_keras.optimizers.SparseFtrl",
        "dense_adam": "keras.optimizers.Adam",
    }
)
"""Optimizer name -> the import path of its class (read-only)."""


def names() -> tuple[str, ...]:
    """The names of `NAMES`, in table order."""
    return tuple(NAMES)


def canonical_name(name: str) -> str | None:
    """The name of `NAMES` that `name` matches ignoring case and underscores, or None.

    Args:
        name: an optimizer name, such as `"Adam"`, `"LazyAdam"` or `"row_wise_adagrad"`.
    """
    key = name.lower().replace("_", "")
    return next((known for known in NAMES if known.replace("_", "") == key), None)


def optimizer_class(name: str) -> type:
    """The class of an optimizer name of `NAMES` (matched as `canonical_name` does).

    Raises:
        ValueError: for a name not in `NAMES`, listing the names.
    """
    known = canonical_name(name)
    if known is None:
        raise ValueError(f"Unknown optimizer name {name!r}. Known names: {', '.join(NAMES)} (any case).")
    module, _, cls = NAMES[known].rpartition(".")
    return getattr(importlib.import_module(module), cls)


def get(identifier, learning_rate=None):
    """Resolves an optimizer identifier: names of `NAMES` first, anything else by `keras.optimizers.get`.

    A name is matched ignoring case and underscores (`"Adam"`, `"LazyAdam"`
    and `"lazy_adam"` all give `LazyAdam`). Another name Keras knows (such
    as `"rmsprop"`) gives the stock, dense, Keras optimizer; a string that is
    neither raises a `ValueError` listing the names of `NAMES`. Config dicts
    go to `keras.optimizers.get`; an optimizer instance is returned as it is.

    Args:
        identifier: a name, a config dict or a `keras.optimizers.Optimizer`.
        learning_rate: if given, the learning rate (a positive float or a
            `keras.optimizers.schedules.LearningRateSchedule`) of the optimizer
            made from a name or a dict. Not allowed with an instance.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ValueError: for an unknown name, a learning rate that is not positive,
            or a learning rate with an optimizer instance.

    Example:

    >>> optimizer = get("adam", learning_rate=0.01)
    >>> type(optimizer).__name__, round(float(optimizer.learning_rate), 6)
    ('LazyAdam', 0.01)
    >>> type(get("dense_adam")).__module__.startswith("keras")
    True
    """
    import keras

    if isinstance(learning_rate, int | float) and not learning_rate > 0:
        raise ValueError(f"`learning_rate` should be positive. Received: learning_rate={learning_rate!r}")
    if isinstance(identifier, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise ValueError(
                "`learning_rate` cannot be given with an optimizer instance (it would change the instance). "
                f"Received: learning_rate={learning_rate!r} and {type(identifier).__name__}"
            )
        return identifier
    if isinstance(identifier, str) and canonical_name(identifier) is not None:
        cls = optimizer_class(identifier)
        return cls() if learning_rate is None else cls(learning_rate=learning_rate)
    try:
        optimizer = keras.optimizers.get(identifier)
    except ValueError:
        if not isinstance(identifier, str):
            raise
        raise ValueError(
            f"Unknown optimizer name {identifier!r}. Known names: {', '.join(NAMES)} (any case), "
            "or a name `keras.optimizers.get` knows."
        ) from None
    if optimizer is not None and learning_rate is not None:
        optimizer.learning_rate = learning_rate
    return optimizer
