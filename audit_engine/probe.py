"""What the Evaluator makes of a model's output, found by running it on a few rows.

``inspect`` used to print the graph's view only ("classification" for every model whose
output kind the graph does not state). :func:`probe` binds the user's data through
:func:`audit_engine.bind.bind` (the audit's door), or synthetic rows drawn from the input
signature through :func:`~audit_engine.bind.bind_rows`, and resolves the task, output kind
and classes exactly as an audit does. It lives outside :mod:`audit_engine.model` because it
binds data (``model`` imports neither ``data`` nor ``evaluator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .bind import bind, bind_rows
from .data.space import FeatureSpace
from .errors import AuditEngineError, AuditTimeoutError
from .model.loader import OnnxModel

__all__ = ["Probe", "probe", "synthetic_rows"]


@dataclass(frozen=True)
class Probe:
    """task, output_kind, classes (+ where they came from), the rows used, or why it failed."""

    task: str | None
    output_kind: str | None
    classes: list[Any] | None
    classes_source: str | None
    rows: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "output_kind": self.output_kind, "classes": self.classes,
                "classes_source": self.classes_source, "probe_rows": self.rows, "probe_error": self.error}


def synthetic_rows(model: OnnxModel, n: int = 8, seed: int = 0) -> np.ndarray | None:
    """``(n, *shape)`` uniform [0, 1) rows for a single float input with static per-row
    dims, else None (string, integer or several inputs need real data)."""
    inputs = model.session_inputs
    if len(inputs) != 1 or inputs[0].dtype not in ("float32", "float64", "float16"):
        return None
    shape = inputs[0].shape or ()
    per_row = shape[1:]
    if not per_row or not all(isinstance(d, int) and d > 0 for d in per_row):
        return None
    return np.random.default_rng(seed).random((n, *per_row))


def probe(model: OnnxModel, data: Any = None, *, n: int = 8, features: Any = None) -> Probe:
    """Resolve the output the way an audit would: on ``data`` through :func:`~audit_engine.bind.bind`,
    else on ``n`` synthetic rows."""
    try:
        if data is not None:
            bound = bind(model, data, features=features)  # the audit's door: same guards, same output resolution
            ev = bound.evaluator
            what = f"the given data ({bound.data.n_rows} rows; the output resolved as an audit resolves it)"
        else:
            rows = synthetic_rows(model, n)
            if rows is None:
                return Probe(model.task if model.output_kind else None, model.output_kind, model.classes,
                             "graph" if model.classes else None, "none",
                             "the inputs cannot be synthesised (strings, integers or several inputs); pass --data")
            what = f"{n} synthetic uniform [0, 1) rows"
            # The space FeatureSpace.bind makes for this array data, bound without loading it.
            ev = bind_rows(model, FeatureSpace.for_float_rows(model, rows.shape[1:]), rows)
        return Probe(ev.task, ev.output_kind, None if ev.classes is None else list(ev.classes), ev.classes_source, what)
    except AuditTimeoutError:
        raise  # inspect's --timeout: a model that never returns is an error, not an unresolved kind
    except AuditEngineError as exc:
        return Probe(None, None, None, None, "none", str(exc))
