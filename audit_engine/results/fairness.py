"""The ``fairness`` section as typed records: one :class:`AttributeFairness` per view.

``result.fairness`` is a :class:`FairnessResult` (a read-only mapping ``{view: AttributeFairness}``,
views being attributes, ``"race"``, and intersections, ``"race*sex"``). The records mirror
``schema/fairness.schema.json`` field for field; :mod:`audit_engine.fairness.analysis`
builds them and ``to_dict()`` is the JSON.

fairlearn-style access (pandas is imported only when a frame is asked for)::

    view = result.fairness["race"]
    view.by_group            # DataFrame: one row per group; n, each rate, <rate>_ci_low/_ci_high
    view.to_frame()          # DataFrame: one row per gap (value, interval, p-value, to the reference)
    result.fairness.to_frame()  # the gap tables of every view, with an ``attribute`` column

Undefined numbers are NaN in the records (null in the JSON), with the reason under
``undefined`` / ``undefined_metrics``; a rate the audit did not compute is None (absent).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..stats import Estimate, finite_or_none
from .record import Record, RecordMap, record

__all__ = [
    "GapEstimate", "RateInterval", "GroupRates", "FourFifths", "LL144Category", "LL144View", "GroupCalibration",
    "FairnessCalibration", "ThresholdSweep", "ClassFairness", "LeftOut", "Multiplicity", "AttributeFairness", "FairnessResult",
    "RATE_KEYS", "CLASSIFICATION_RATES", "REGRESSION_RATES",
]

CLASSIFICATION_RATES = ("selection_rate", "base_rate", "tpr", "fnr", "fpr", "tnr", "precision", "accuracy",
                        "mean_score", "calibration_error", "calibration_error_plugin", "impact_ratio")
REGRESSION_RATES = ("mean_prediction", "mean_target", "mean_error", "mean_absolute_error")
RATE_KEYS = CLASSIFICATION_RATES + REGRESSION_RATES


# ------------------------------------------------------------------------------- gaps
@dataclass(frozen=True)
class GapEstimate(Estimate):
    """A gap between groups: value, interval, and the permutation p-value of "no disparity".

    ``p_value`` is this gap's own test; ``p_adjusted`` is the same test Holm-adjusted over
    the whole family of tests the audit reports (every rate of every view, intersections
    included; :mod:`audit_engine.fairness.multiplicity`). ``supports_gap`` is True when
    ``p_adjusted < level`` (1 − confidence), so the chance that a fair model shows any
    "supports a gap" is at most ``level``; without an adjusted value (a gap made outside
    an audit) it falls back to ``p_value``. NaN p-value: no test exists for this metric
    (``supports_gap`` None).

    The interval is a statement about this gap alone: its lower end is put at the parity
    value (0 for a difference, 1 for a ratio) when the gap's *own* test does not reject,
    so an interval that excludes parity always has ``p_value < level``; with many tests
    it can exclude parity while ``supports_gap`` is False (significant alone, not after
    the adjustment).

    ``level`` is not in the JSON (it is 1 − ``config.confidence``); :meth:`from_dict` picks
    one that gives back the written ``supports_gap``, so a round trip keeps the verdict.
    """

    p_value: float = float("nan")
    level: float = field(default=0.05, compare=False)
    p_adjusted: float = float("nan")

    @property
    def supports_gap(self) -> bool | None:
        p = self.p_adjusted if math.isfinite(self.p_adjusted) else self.p_value
        return None if not math.isfinite(p) else bool(p < self.level)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["p_value"] = finite_or_none(self.p_value)
        if math.isfinite(self.p_adjusted):
            out["p_adjusted"] = finite_or_none(self.p_adjusted)
        out["supports_gap"] = self.supports_gap
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> Estimate:  # type: ignore[override]
        """A tested gap (with ``p_value``) as a GapEstimate; an untested one (regression) as an Estimate."""
        base = Estimate.from_dict(doc)
        if "p_value" not in doc:
            return base
        p = math.nan if doc.get("p_value") is None else float(doc["p_value"])
        adjusted = math.nan if doc.get("p_adjusted") is None else float(doc["p_adjusted"])
        decisive = adjusted if math.isfinite(adjusted) else p
        supports = doc.get("supports_gap")
        level = 0.05
        if supports is not None and math.isfinite(decisive) and (decisive < level) != bool(supports):
            level = math.nextafter(decisive, math.inf) if supports else decisive
        return cls(base.value, base.ci_low, base.ci_high, p, level, adjusted)


# ------------------------------------------------------------------------------- groups
@record
class RateInterval(Record):
    """``ci[rate]``: a group rate's interval (Jeffreys/Wilson for proportions; NaN when undefined)."""

    ci_low: float
    ci_high: float


@record
class GroupRates(Record):
    """One group's rates (``groups[<group>]``): n, each rate (NaN = undefined, None = not computed),
    ``flags``, ``undefined`` (rate -> why), ``ci`` (rate -> interval) and ``vs_reference``
    (signed difference to the reference group, with its interval; None for the reference itself)."""

    n: int | None = None
    selection_rate: float | None = None
    base_rate: float | None = None
    tpr: float | None = None
    fnr: float | None = None
    fpr: float | None = None
    tnr: float | None = None
    precision: float | None = None
    accuracy: float | None = None
    mean_score: float | None = None
    calibration_error: float | None = None
    calibration_error_plugin: float | None = None
    impact_ratio: float | None = None
    mean_prediction: float | None = None
    mean_target: float | None = None
    mean_error: float | None = None
    mean_absolute_error: float | None = None
    flags: tuple[str, ...] = ()
    undefined: Mapping[str, str] = field(default_factory=dict)
    ci: Mapping[str, RateInterval] = field(default_factory=dict)
    vs_reference: Mapping[str, Estimate] | None = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> GroupRates:  # type: ignore[override]
        obj = super().from_dict(doc)
        nulls = {k: math.nan for k in RATE_KEYS if k in doc and doc[k] is None}  # computed but undefined
        return dataclasses.replace(obj, **nulls) if nulls else obj

    @property
    def rates(self) -> dict[str, float]:
        """The computed rates in schema order (NaN where undefined)."""
        return {k: getattr(self, k) for k in RATE_KEYS if getattr(self, k) is not None}

    def estimate(self, rate: str) -> Estimate | None:
        """The rate with its interval (NaN bounds when none is claimed); None when not computed."""
        value = getattr(self, rate, None) if rate in RATE_KEYS else None
        if value is None:
            return None
        ci = self.ci.get(rate)
        return Estimate(value, ci.ci_low, ci.ci_high) if ci is not None else Estimate(value, math.nan, math.nan)


# ------------------------------------------------------------------------------- impact
@record
class FourFifths(Record):
    """The four-fifths rule over the groups not left out for the selection rate."""

    threshold: float
    most_selected_group: str | None
    passes: bool | None
    below: tuple[str, ...]


@record
class LL144Category(Record):
    n: int
    share: float
    selection_rate: float | None
    impact_ratio: float | None
    excluded: bool


@record
class LL144View(Record):
    """NYC Local Law 144: categories under ``min_share`` of the known rows are excluded from impact ratios."""

    min_share: float
    unknown: int
    most_selected_group: str | None
    excluded: tuple[str, ...]
    categories: Mapping[str, LL144Category]


# ------------------------------------------------------------------------------- curves
@record
class GroupCalibration(Record):
    """One group's reliability diagram: per bin of p(positive), rows, mean predicted, observed rate."""

    count: tuple[int, ...]
    mean_predicted: tuple[float, ...]
    observed: tuple[float, ...]


@record
class FairnessCalibration(Record):
    bins: tuple[float, ...]
    groups: Mapping[str, GroupCalibration]


@record
class ThresholdSweep(Record):
    """Point values at each threshold (the inner score-bin edges): gaps, and per group rates.

    The threshold applies to the positive class's score. ``groups[g]["selection_rate"]``
    counts the favourable outcome when one is declared (as the view's group table does);
    the gaps are over the groups the view headlines (``left_out`` groups excluded), so at
    the operating threshold both equal the view's ``groups`` and ``metrics``.
    """

    thresholds: tuple[float, ...]
    demographic_parity_difference: tuple[float, ...]
    demographic_parity_ratio: tuple[float, ...] | None = None
    equalized_odds_difference: tuple[float, ...] | None = None
    equal_opportunity_difference: tuple[float, ...] | None = None
    false_positive_rate_difference: tuple[float, ...] | None = None
    groups: Mapping[str, Mapping[str, tuple[float, ...]]]

    @property
    def gaps(self) -> dict[str, tuple[float, ...]]:
        names = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                 "equal_opportunity_difference", "false_positive_rate_difference")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}


# ------------------------------------------------------------------------------- views
@record
class ClassFairness(Record):
    """Multiclass: one class treated as positive (one-vs-rest)."""

    groups: Mapping[str, GroupRates]
    metrics: Mapping[str, GapEstimate]
    reference_metrics: Mapping[str, GapEstimate]
    impact_ratios: Mapping[str, float]


@record
class Multiplicity(Record):
    """How ``supports_gap`` was adjusted for the number of tests (the same in every view of an audit).

    ``method``: ``"holm"`` (family-wise error rate); ``family_size``: the distinct tests of
    "no disparity" over every view of the audit (gaps that share a rate share its test);
    ``level``: the family-wise error rate controlled (1 − confidence).
    """

    method: str
    family_size: int
    level: float
    error_rate: str = "family-wise"


@record
class LeftOut(Record):
    """Why a group stays out of headline gaps and verdicts, and for which rates."""

    reason: str
    rates: tuple[str, ...]


@record
class AttributeFairness(Record):
    """One view (an attribute or an intersection) of the fairness section.

    ``metrics``: gaps between groups (difference = max − min, ratio = min / max over the
    eligible groups); ``reference_metrics``: the same gaps to ``reference_group``. Tested
    gaps are :class:`GapEstimate` (p-value, ``supports_gap``); regression gaps are plain
    :class:`~audit_engine.stats.Estimate`.
    """

    attributes: tuple[str, ...]
    task: str
    positive_label: str | None = None
    threshold: float | None = None
    reference_group: str
    n: int
    unknown: int
    favorable_label: str | None = None  # null in the JSON (with impact_refused) when not declared
    groups: Mapping[str, GroupRates]
    metrics: Mapping[str, GapEstimate]
    reference_metrics: Mapping[str, GapEstimate] | None = None
    undefined_metrics: Mapping[str, str]
    small_groups: tuple[str, ...]
    impact_ratios: Mapping[str, float] | None = None
    four_fifths: FourFifths | None = None
    ll144: LL144View | None = None
    impact_refused: str | None = None
    per_class: Mapping[str, ClassFairness] | None = None
    min_group_size: int | None = None
    min_class_rows: int | None = None
    left_out: Mapping[str, LeftOut] | None = None
    calibration: FairnessCalibration | None = None
    sweep: ThresholdSweep | None = None
    unavailable: Mapping[str, str] | None = None
    multiplicity: Multiplicity | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.impact_refused is not None:  # not declared: the engine writes an explicit null beside the reason
            out.setdefault("favorable_label", None)
        return out

    @property
    def by_group(self) -> Any:
        """A pandas DataFrame, one row per group (index ``group``): ``n``, each computed rate,
        and ``<rate>_ci_low`` / ``<rate>_ci_high`` (NaN where no interval is claimed)."""
        import pandas as pd

        names = [k for k in RATE_KEYS if any(getattr(g, k) is not None for g in self.groups.values())]
        rows = []
        for label, g in self.groups.items():
            row: dict[str, Any] = {"group": label, "n": g.n}
            for k in names:
                est = g.estimate(k)
                row[k] = math.nan if est is None else est.value
                row[f"{k}_ci_low"] = math.nan if est is None else est.ci_low
                row[f"{k}_ci_high"] = math.nan if est is None else est.ci_high
            rows.append(row)
        return pd.DataFrame(rows).set_index("group")

    def to_frame(self) -> Any:
        """The gap table: one row per metric with its value, interval, test, and the same gap
        to the reference group (``reference_value``, ``reference_ci_low``, ``reference_ci_high``)."""
        import pandas as pd

        ref = self.reference_metrics or {}
        rows = []
        for name, est in self.metrics.items():
            r = ref.get(name)
            rows.append({
                "metric": name, "value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high,
                "p_value": getattr(est, "p_value", math.nan), "p_adjusted": getattr(est, "p_adjusted", math.nan),
                "supports_gap": getattr(est, "supports_gap", None),
                "reference_value": math.nan if r is None else r.value,
                "reference_ci_low": math.nan if r is None else r.ci_low,
                "reference_ci_high": math.nan if r is None else r.ci_high,
            })
        columns = ["metric", "value", "ci_low", "ci_high", "p_value", "p_adjusted", "supports_gap", "reference_value",
                   "reference_ci_low", "reference_ci_high"]
        return pd.DataFrame(rows, columns=columns)


class FairnessResult(RecordMap[AttributeFairness]):
    """``fairness``: ``{view: AttributeFairness}``; ``to_frame()`` stacks the gap tables (column ``attribute``)."""

    item = AttributeFairness

    def to_frame(self) -> Any:
        """The views' gap tables stacked: the first column is ``attribute`` (the view: ``race``,
        ``race*sex``), then the columns of :meth:`AttributeFairness.to_frame`."""
        return super().to_frame().rename(columns={"name": "attribute"})

    def plot(self, view: str | None = None, *, rate: str = "selection_rate", ax: Any = None) -> Any:
        """Per-group ``rate`` of ``view`` with intervals, with matplotlib
        (:func:`audit_engine.report.plots.plot_fairness`); returns the Axes."""
        from ..report.plots import plot_fairness  # matplotlib: imported when a chart is asked for

        return plot_fairness(self, view, rate=rate, ax=ax)

    def estimate(self, view: str, metric: str) -> Estimate | None:
        entry = self.get(view)
        return None if entry is None else entry.metrics.get(metric)

    @property
    def attributes(self) -> dict[str, AttributeFairness]:
        """The single-attribute views (no intersections)."""
        return {k: v for k, v in self.items() if len(v.attributes) == 1}
