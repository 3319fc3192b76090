"""The Evaluator contract: the one door through which every method calls the model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..data.space import FeatureSpace

__all__ = ["EvaluationStats", "Evaluator", "Progress"]

Progress = Callable[[int, int], None]
"""A progress callback: ``progress(rows_done, rows_total)``."""


@dataclass
class EvaluationStats:
    """Counters of model use: calls to the runtime, rows scored, seconds inside it."""

    model_calls: int = 0
    rows_evaluated: int = 0
    seconds: float = 0.0

    def add(self, other: EvaluationStats) -> None:
        self.model_calls += other.model_calls
        self.rows_evaluated += other.rows_evaluated
        self.seconds += other.seconds

    def copy(self) -> EvaluationStats:
        return EvaluationStats(self.model_calls, self.rows_evaluated, self.seconds)

    def since(self, earlier: EvaluationStats) -> EvaluationStats:
        return EvaluationStats(
            self.model_calls - earlier.model_calls,
            self.rows_evaluated - earlier.rows_evaluated,
            self.seconds - earlier.seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_calls": int(self.model_calls),
            "rows_evaluated": int(self.rows_evaluated),
            "seconds": round(float(self.seconds), 6),
        }


@runtime_checkable
class Evaluator(Protocol):
    """Rows in feature space in, scores out; batched, chunked, counted.

    Attributes
    ----------
    space: the FeatureSpace rows live in; rows are float64 ``(n, *space.row_shape)``.
    task: ``"classification"`` or ``"regression"``.
    classes: class labels (classification) in column order of :meth:`predict`.
    output_kind: how raw outputs became probabilities (``model.outputs``).
    stats: running :class:`EvaluationStats`.
    """

    space: FeatureSpace
    task: str
    classes: list[Any] | None
    output_kind: str
    stats: EvaluationStats

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` (rows sum to 1), or ``(n, 1)`` for regression."""
        ...

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """Logits ``(n, n_classes)`` when the model gives them, else log-probabilities."""
        ...
