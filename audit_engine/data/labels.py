"""Target labels as the model's class indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidValueError

__all__ = ["class_indices", "label_key"]


def class_indices(y: np.ndarray, classes: Sequence[Any], target: str | None) -> np.ndarray:
    """Map target values ``(n,)`` to the model's class indices ``(n,)`` (labels compared as strings).

    Raises InvalidValueError naming the target values that are not among ``classes``.
    """
    lookup = {label_key(c): i for i, c in enumerate(classes)}
    labels = np.array([label_key(v) for v in np.asarray(y).tolist()], dtype=object)
    unknown = sorted({v for v in set(labels.tolist()) if v not in lookup})
    if unknown:
        raise InvalidValueError(
            f"The target {target or 'y'!r} holds value(s) {', '.join(map(repr, unknown[:5]))} that are not "
            f"among the model's classes ({', '.join(map(repr, lookup))}); check the target column."
        )
    return np.array([lookup[v] for v in labels], dtype=np.intp)


def label_key(value: Any) -> str:
    """A label as classes are compared: integral floats as ints (``1.0`` -> ``"1"``), else ``str``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
