"""Argument checks shared by the layers: positive integers and lists of them, with the argument's name."""

from __future__ import annotations

import numpy as np


def positive_int(name: str, value) -> int:
    """`value` as an int, or a ValueError "`name` should be a positive integer. Received: name=value"."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` should be a positive integer. Received: {name}={value!r}")
    return int(value)


def positive_int_list(name: str, values, minimum: int = 1) -> list[int]:
    """`values` as a non-empty list of ints `>= minimum`, or a ValueError naming `name`."""
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` should be a list of integers. Received: {name}={values!r}") from None
    if not values or any(v < minimum for v in values):
        raise ValueError(f"`{name}` should be a non-empty list of integers >= {minimum}. Received: {name}={values}")
    return values
