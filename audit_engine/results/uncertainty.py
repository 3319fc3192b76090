"""Typed ``uncertainty`` section of audit.json (see ``schema/uncertainty.schema.json``).

Entropies are in nats; per row, predictive entropy = aleatoric (expected entropy) +
epistemic (mutual information; Gal & Ghahramani 2016, Kendall & Gal 2017). MC-dropout
figures carry their Monte Carlo standard error (``mc_se``); a committee is a fixed set of
members, so its figures are exact (``mc_error`` is None).

>>> result.uncertainty.to_frame()          # one row per method and measure
>>> result.uncertainty.review_frame()      # the rows that most need a human look
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .record import Record, record

__all__ = ["UncertaintyResult", "UncertaintyMethod", "MeasureSummary", "MeasureHistogram", "MCErrorInfo",
           "OODComparison", "ReviewEntry", "ModelCalls"]

MEASURES = ("predictive_entropy", "aleatoric", "epistemic", "vote_entropy", "disagreement")


@record
class MeasureHistogram(Record):
    """Counts of a per-row measure on ``edges`` (``len(edges) == len(counts) + 1``)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@record
class MeasureSummary(Record):
    """Mean, quantiles and histogram of one per-row measure (nats; disagreement is a share)."""

    mean: float | None
    median: float | None
    p90: float | None
    p99: float | None
    max: float | None
    mc_se: Mapping[str, float | None] | None = None
    mean_corrected: float | None = None
    histogram: MeasureHistogram


@record
class MCErrorInfo(Record):
    """How the Monte Carlo errors of MC dropout were computed (jackknife over groups of passes)."""

    method: str
    groups: int
    per_row_se: Mapping[str, Mapping[str, float | None]]
    interval: str | None = None
    adaptive: Mapping[str, Any] | None = None


@record
class ModelCalls(Record):
    """Model calls of one method (counted by its own Evaluator)."""

    model_calls: int
    rows_evaluated: int
    seconds: float


@record
class OODComparison(Record):
    """Mean uncertainty of the audited rows against ``--ood-data`` rows (bias-corrected means)."""

    audited_mean_epistemic: float
    ood_mean_epistemic: float
    audited_mean_aleatoric: float | None = None
    ood_mean_aleatoric: float | None = None
    audited_mean_epistemic_mc_se: float | None = None
    ood_mean_epistemic_mc_se: float | None = None
    ood_passes: int | None = None
    ood_rows: int | None = None
    note: str | None = None


@record
class UncertaintyMethod(Record):
    """One method (``mc_dropout`` or ``committee``): passes (or members), summaries per measure."""

    method: str
    rows: int
    passes: int
    units: str
    outputs_vary: bool
    summary: Mapping[str, MeasureSummary]
    params: Mapping[str, Any]
    mc_error: MCErrorInfo | None
    evaluations: ModelCalls
    ood_comparison: OODComparison | None = None


@record
class ReviewEntry(Record):
    """A row for human review: ``priority`` is its mean percentile rank over the signals in
    [0, 1]; ``reason`` names the signal that ranks it highest."""

    row: int
    priority: float
    reason: str
    signals: Mapping[str, float | None]
    prediction: Any
    confidence: float


@record
class UncertaintyResult(Record):
    """``uncertainty``: MC dropout and/or a committee on ``rows`` audited rows, and the review queue."""

    rows: int
    sampled: bool
    mc_dropout: UncertaintyMethod | None = None
    committee: UncertaintyMethod | None = None
    review_queue: tuple[ReviewEntry, ...]
    review_signals: tuple[str, ...]

    @property
    def methods(self) -> dict[str, UncertaintyMethod]:
        """The methods that ran, by name."""
        return {m.method: m for m in (self.mc_dropout, self.committee) if m is not None}

    def to_frame(self) -> Any:
        """One row per method and measure: ``method, measure, mean, mean_corrected, mean_mc_se,
        median, p90, p99, max, passes`` (MC columns NaN for a committee)."""
        import math

        import pandas as pd

        rows = []
        for name, m in self.methods.items():
            for measure, s in m.summary.items():
                se = (s.mc_se or {}).get("mean")
                rows.append({"method": name, "measure": measure, "mean": _f(s.mean),
                             "mean_corrected": _f(s.mean_corrected), "mean_mc_se": math.nan if se is None else se,
                             "median": _f(s.median), "p90": _f(s.p90), "p99": _f(s.p99), "max": _f(s.max),
                             "passes": m.passes})
        return pd.DataFrame(rows, columns=["method", "measure", "mean", "mean_corrected", "mean_mc_se", "median",
                                           "p90", "p99", "max", "passes"])

    def review_frame(self) -> Any:
        """The review queue: ``row, priority, reason, prediction, confidence`` and one column per signal."""
        import pandas as pd

        rows = [{"row": e.row, "priority": e.priority, "reason": e.reason, "prediction": e.prediction,
                 "confidence": e.confidence, **dict(e.signals)} for e in self.review_queue]
        return pd.DataFrame(rows, columns=["row", "priority", "reason", "prediction", "confidence",
                                           *self.review_signals])


def _f(x: float | None) -> float:
    return float("nan") if x is None else float(x)
