"""Target values as the model's class indices (labels compared as strings).

``1.0`` and ``1`` are one label (``"1"``), so a float target column read from CSV or
Parquet matches a graph's integer class labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidValueError

__all__ = ["class_indices", "label_string"]


def label_string(value: Any) -> str:
    """The string a label is compared by: integral floats lose their ``.0``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def class_indices(y: np.ndarray, classes: Sequence[Any], target: str | None) -> np.ndarray:
    """Map target values ``(n,)`` to the model's class indices ``(n,)`` (labels compared as strings).

    Raises InvalidValueError naming the values that are not among ``classes``.
    """
    lookup = {label_string(c): i for i, c in enumerate(classes)}
    labels = np.array([label_string(v) for v in np.asarray(y).tolist()], dtype=object)
    unknown = sorted({v for v in set(labels.tolist()) if v not in lookup})
    if unknown:
        raise InvalidValueError(
            f"The target {target or 'y'!r} holds value(s) {', '.join(map(repr, unknown[:5]))} that are not "
            f"among the model's classes ({', '.join(map(repr, lookup))}); check the target column."
        )
    return np.array([lookup[v] for v in labels], dtype=np.intp)
