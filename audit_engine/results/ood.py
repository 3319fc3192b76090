"""Typed ``ood`` section of audit.json (see ``schema/ood.schema.json``).

Every score is oriented so that higher = more out of distribution. Without ``--reference``
the audited data is its own reference (``reference.source == "audited data"``): each
score's threshold is then the audited data's own 95th percentile, about 5% of its rows
are above it by construction, and no AUROC is defined unless ``--ood-data`` was given.

>>> result.ood.to_frame()            # one row per score: auroc, fpr_at_95_tpr, flagged_fraction, threshold
>>> result.ood.scores["knn"].auroc   # an Estimate (None without --ood-data)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..stats import Estimate
from .record import Record, record

__all__ = ["OODResult", "OODReference", "DetectorSpace", "ScoreHistogram", "RocCurve", "OODScore",
           "UnusualRow", "ShiftTest", "ShiftSummary"]


@record
class OODReference(Record):
    """Where the in-distribution rows came from: ``reference`` (``--reference``) or ``audited data``."""

    source: str
    rows: int
    note: str | None


@record
class DetectorSpace(Record):
    """Where the data detectors ran (``space``: input, features, pca_of_features, pca_of_input)."""

    space: str
    dimensions: int
    detectors: tuple[str, ...] | None = None
    missing_indicators: tuple[str, ...] | None = None
    tensor: str | None = None
    shape: tuple[int | str | None, ...] | None = None
    dtype: str | None = None
    consumer: str | None = None
    reason: str | None = None
    features_dimensions: int | None = None
    input_dimensions: int | None = None
    solver: str | None = None
    tap: str | None = None


@record
class ScoreHistogram(Record):
    """Counts of each group's scores on shared ``edges`` (``len(edges) == len(counts) + 1``)."""

    edges: tuple[float, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...] | None = None
    ood: tuple[int, ...] | None = None


@record
class RocCurve(Record):
    """ROC of reference (negative) vs OOD rows (positive), thinned to at most 50 points."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


@record
class OODScore(Record):
    """One score or detector: its threshold (the reference's ``threshold_quantile``), the share
    of audited rows above it, and with ``--ood-data`` the AUROC and FPR at 95% TPR."""

    score_source: str
    logit_source: str | None = None
    threshold: float | None
    flagged_fraction: float | None
    ood_flagged_fraction: float | None = None
    auroc: Estimate | None
    fpr_at_95_tpr: Estimate | None
    roc: RocCurve | None = None
    histogram: ScoreHistogram
    params: Mapping[str, Any]


@record
class UnusualRow(Record):
    """An audited row with high scores: ``percentile`` is the mean, over the scores, of the
    share of reference scores at or below the row's score (1 = beyond every reference row)."""

    row: int
    percentile: float
    scores: Mapping[str, float | None]
    flagged_by: tuple[str, ...]
    prediction: Any
    confidence: float | None = None


@record
class ShiftTest(Record):
    """One feature's shift test (``ks`` numeric, ``chi2`` categorical), BH-adjusted, with PSI."""

    test: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    psi: float | None
    drifted: bool


@record
class ShiftSummary(Record):
    """Whether the shift tests ran (they need ``--reference``) and how many features drifted."""

    status: str
    reason: str | None = None
    tested: int | None = None
    drifted: int | None = None
    drifted_fraction: float | None = None
    shown: int | None = None
    alpha: float | None = None
    correction: str | None = None
    tests: str | None = None


@record
class OODResult(Record):
    """``ood``: scores, detectors, the most unusual audited rows and per-feature shift tests."""

    reference: OODReference
    ood_rows: int | None
    logit_source: str | None
    detector_space: DetectorSpace | None
    direction: str
    threshold_quantile: float
    scores: Mapping[str, OODScore]
    skipped: Mapping[str, str]
    most_ood: tuple[UnusualRow, ...]
    shift: Mapping[str, ShiftTest]
    shift_summary: ShiftSummary

    @property
    def self_referenced(self) -> bool:
        """True when no ``--reference`` was given: the audited data was compared with itself."""
        return self.reference.source != "reference"

    def to_frame(self) -> Any:
        """One row per score: ``score, source, auroc, auroc_ci_low, auroc_ci_high, fpr_at_95_tpr
        (+ interval), flagged_fraction, threshold`` (AUROC columns NaN without ``--ood-data``)."""
        import pandas as pd

        rows = []
        for name, s in self.scores.items():
            rows.append({
                "score": name, "source": s.score_source,
                **_est("auroc", s.auroc), **_est("fpr_at_95_tpr", s.fpr_at_95_tpr),
                "flagged_fraction": _nan(s.flagged_fraction), "threshold": _nan(s.threshold),
            })
        columns = ["score", "source", "auroc", "auroc_ci_low", "auroc_ci_high", "fpr_at_95_tpr",
                   "fpr_at_95_tpr_ci_low", "fpr_at_95_tpr_ci_high", "flagged_fraction", "threshold"]
        return pd.DataFrame(rows, columns=columns)

    def shift_frame(self) -> Any:
        """One row per shown feature: ``feature, test, statistic, p_value, p_adjusted, psi, drifted``."""
        import pandas as pd

        rows = [{"feature": f, **t.to_dict()} for f, t in self.shift.items()]
        return pd.DataFrame(rows, columns=["feature", "test", "statistic", "p_value", "p_adjusted", "psi", "drifted"])


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _est(name: str, e: Estimate | None) -> dict[str, float]:
    if e is None:
        return {name: math.nan, f"{name}_ci_low": math.nan, f"{name}_ci_high": math.nan}
    return {name: e.value, f"{name}_ci_low": e.ci_low, f"{name}_ci_high": e.ci_high}
