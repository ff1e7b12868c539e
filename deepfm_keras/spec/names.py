"""The one name rule of features, their inputs and the tasks (heads) of a model.

A name is kept exactly as the input (or output) name of the model and of the
exported serving signature (TensorFlow Serving's SignatureDef keys): ASCII
letters, digits, `_`, `.` and `-`, starting with a letter. A leading `_`
cannot be exported (TensorFlow renames such an argument), so it is refused
here rather than silently renamed at export time.

Example:

>>> is_name("user-id"), is_name("_user"), argument_name("User-ID")
(True, False, 'user_id')
"""

from __future__ import annotations

import re
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


def is_name(value: Any) -> bool:
    """Whether `value` is a string that follows the name rule (`fullmatch`: `"$"` alone lets `"user\\n"` through)."""
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def check_name(value: Any, what: str = "A feature `name`") -> None:
    """Raises a ValueError naming `what` and the value unless `value` follows the name rule."""
    if not is_name(value):
        raise ValueError(
            f"{what} should be a non-empty string of ASCII letters, digits, '_', '.' or '-' that starts with a "
            f"letter. Received: name={value!r}"
        )


def argument_name(name: str) -> str:
    """The key two names must not share: TensorFlow's argument name (`user-id` -> `user_id`), case-folded.

    A loaded signature takes `user-id` and `user_id` as one argument, and an
    export fails on names that differ only in case (`u` and `U`).
    """
    return name.replace("-", "_").replace(".", "_").lower()
