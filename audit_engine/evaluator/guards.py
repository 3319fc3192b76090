"""Checks on what goes into and comes out of the model, so bad values fail with a sentence.

- :func:`check_outputs`: NaN (or +inf) in a model's outputs names the first rows that
  produced them, instead of crashing later in a metric (ECE binning, softmax).
- :func:`check_float32_range`: values a float32 input cannot hold (|x| > 3.4e38) name
  their column before any inference, instead of turning into inf inside the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidValueError, ModelRuntimeError

__all__ = ["check_outputs", "check_float32_range"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# -inf is a legitimate log-probability (or logit) of a class the model rules out.
_NEG_INF_OK = {None, "logits", "logit", "log_probabilities"}


def check_outputs(values: np.ndarray, output: str, kind: str | None, *, first_row: int = 0) -> None:
    """Raise ModelRuntimeError if ``values`` (n, k) hold NaN or inf (rows offset by ``first_row``)."""
    finite = np.isfinite(values)
    if finite.all():
        return
    bad = ~finite
    if kind in _NEG_INF_OK:
        bad &= ~np.isneginf(values)
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size == 0:
        return
    first = values[rows[0]][bad[rows[0]]][0]
    what = "NaN" if np.isnan(first) else "inf"
    shown = ", ".join(str(int(r) + first_row) for r in rows[:5])
    more = f" and {rows.size - 5} more" if rows.size > 5 else ""
    raise ModelRuntimeError(
        f"The model's output {output!r} is {what} for {rows.size} of {values.shape[0]} rows "
        f"(rows {shown}{more}); the audit cannot score NaN/inf outputs, so check those rows' values "
        "or the model's numerics (e.g. a log of 0 or an overflowing exp)."
    )


def check_float32_range(rows: np.ndarray, space: Any, where: str = "the data") -> None:
    """Raise InvalidValueError if a value fed to a float32/float16 input would overflow it.

    ``rows`` is (n, *space.row_shape) in feature space; categorical codes are never large.
    """
    specs = list(getattr(space, "inputs", ()))
    limits = {"float32": _FLOAT32_MAX, "float16": float(np.finfo(np.float16).max)}
    if getattr(space, "layout", None) == "columns" and len(specs) == rows.shape[1]:
        per_column = np.array([limits.get(s.dtype, np.inf) for s in specs])
        limit = per_column.reshape((1, -1) + (1,) * (rows.ndim - 2))
    elif specs and specs[0].dtype in limits:
        limit = limits[specs[0].dtype]
    else:
        return
    with np.errstate(invalid="ignore"):
        over = np.abs(rows) > limit
    if not over.any():
        return
    index = np.argwhere(over)[0]
    row, rest = int(index[0]), index[1:]
    names = list(getattr(space, "feature_names", []) or [])
    flat = int(np.ravel_multi_index(tuple(rest), rows.shape[1:])) if rest.size else 0
    column = names[flat] if flat < len(names) else f"element {list(map(int, rest))}"
    bound = float(np.broadcast_to(limit, rows.shape)[tuple(index)])
    dtype = "float16" if bound < _FLOAT32_MAX else "float32"
    raise InvalidValueError(
        f"Column {column!r} of {where} holds {float(rows[tuple(index)]):.4g} at row {row}, beyond what the "
        f"model's {dtype} input can hold (±{bound:.3g}; {int(over.sum())} value(s) overflow), "
        "so rescale or clip that column before auditing."
    )
