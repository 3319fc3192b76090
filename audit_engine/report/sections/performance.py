"""The Performance section: headline metrics with their intervals, per class, calibration, confusion matrix.

Reads the typed :class:`~audit_engine.results.performance.PerformanceResult` only. Every
number is shown with its interval or with the reason it has none; calibration bins show
their rows, and bins under :data:`~audit_engine.results.performance.MIN_BIN_ROWS` rows are
marked and left out of the drawn curve.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...results.performance import MIN_BIN_ROWS, Calibration, ConfusionMatrix, PerformanceResult
from ...stats import Estimate
from ..blocks import MAX_TABLE_ROWS, Block, Cell, Paragraph, Table
from ..format import _Ids, fmt_number, interval_ends, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["section_blocks", "estimate_cell", "level_text", "calibration_blocks", "boundary", "BOUNDARY_TEXT"]

# A sampled quantity whose resampling interval has zero width (every replicate gave the same
# value, e.g. an AUC of 1 or a recall of 1 on a few hundred rows) is not known exactly: the
# views say so instead of printing "1 (1 to 1)" (issue 22, defect 7). A one-sided,
# boundary-aware interval belongs to the computation (performance code); until it exists
# the report never shows a zero-width interval.
BOUNDARY_TEXT = "every resample gave {value}, so no interval is shown; the uncertainty is not zero"


def boundary(est: Estimate | None) -> bool:
    """True when ``est`` has a finite interval of zero width (a degenerate resampling interval)."""
    return (est is not None and math.isfinite(est.value) and math.isfinite(est.ci_low) and math.isfinite(est.ci_high)
            and interval_ends(est.ci_low, est.ci_high) is None)

# Why a metric carries no interval (shown in its place).
_NO_INTERVAL = {
    "expected_calibration_error_plugin": "no interval: a biased plug-in estimate, shown for comparison",
}


def level_text(confidence: float) -> str:
    """``0.95`` → ``95%``."""
    return f"{100 * confidence:g}%"


def estimate_cell(est: Estimate | None, *, reason: str = "", percent: bool = False) -> Cell:
    """A table cell: the value, with its interval (or the reason it has none) on a second line."""
    if est is None:
        return Cell("—", "num muted", reason or "not computed")
    if not math.isfinite(est.value):
        return Cell("undefined", "num muted", reason or "a zero denominator")
    text = fmt_number(est.value, percent=percent)
    if boundary(est):
        return Cell(text, "num", BOUNDARY_TEXT.format(value=fmt_number(est.value, percent=percent)))
    if math.isfinite(est.ci_low) and math.isfinite(est.ci_high):
        low, high = interval_ends(est.ci_low, est.ci_high, percent=percent) or ("", "")
        return Cell(text, "num", f"{low} to {high}")
    return Cell(text, "num", reason or "no interval: no bootstrap replicates were drawn")


def _metrics_table(perf: PerformanceResult, level: str) -> Table:
    rows = []
    for key, est in perf.metrics.items():
        cell = estimate_cell(est, reason=_NO_INTERVAL.get(key, ""))
        has_interval = math.isfinite(est.ci_low) and math.isfinite(est.ci_high) and not boundary(est)
        rows.append([Cell(metric_name(key)), Cell(cell.text, cell.cls), Cell(cell.sub, "num" if has_interval else "muted")])
    return Table(["Metric", "Value", f"{level} interval"], rows)


def _per_class_table(perf: PerformanceResult) -> Table | None:
    if not perf.per_class:
        return None
    names: list[str] = []
    for metrics in perf.per_class.values():
        names += [m for m in metrics if m not in names]
    rows = [[Cell(str(label))] + [estimate_cell(metrics.get(m)) for m in names]
            for label, metrics in list(perf.per_class.items())[:MAX_TABLE_ROWS]]
    return Table(["Class"] + [metric_name(m) for m in names], rows,
                 caption="Per class (one class against the rest), with intervals")


def calibration_blocks(cal: Calibration, ids: _Ids, *, title: str = "Calibration") -> list[Block]:
    """A reliability diagram of the bins with enough rows, and the table of every bin with its rows."""
    reliable = cal.reliable(MIN_BIN_ROWS)
    shown = [ok and c > 0 for ok, c in zip(reliable, cal.count, strict=True)]
    sparse = [i for i, c in enumerate(cal.count) if 0 < c < MIN_BIN_ROWS]
    what = cal.what or "predicted probability vs observed rate"
    alt = (f"Reliability diagram: {what}, {sum(shown)} of {len(cal.count)} bins drawn (each with at least "
           f"{MIN_BIN_ROWS} rows; point size: rows); points on the diagonal are perfectly calibrated.")
    data = {
        "mean_predicted": [v if ok and math.isfinite(v) else None for v, ok in zip(cal.mean_predicted, shown, strict=True)],
        "observed": [v if ok and math.isfinite(v) else None for v, ok in zip(cal.observed, shown, strict=True)],
        "count": list(cal.count), "bins": list(cal.bins), "reliable": list(reliable), "min_rows": MIN_BIN_ROWS,
    }
    blocks: list[Block] = [ids.chart("calibration", title, alt, data)]
    rows = []
    for i, count in enumerate(cal.count):
        low, high = cal.bins[i], cal.bins[i + 1]
        note = "empty" if count == 0 else f"under {MIN_BIN_ROWS} rows: not drawn" if count < MIN_BIN_ROWS else ""
        rows.append([Cell(f"{fmt_number(low)} to {fmt_number(high)}"), Cell(fmt_number(count), "num"),
                     Cell(fmt_number(cal.mean_predicted[i]) if count else "—", "num"),
                     Cell(fmt_number(cal.observed[i]) if count else "—", "num"),
                     Cell(note, "flag" if note else "")])
    blocks.append(Table(["Bin", "Rows", "Mean predicted", "Observed", "Note"], rows,
                        caption=f"Calibration bins ({what}; point values per bin, the calibration error above "
                                "carries the interval)",
                        note=(f"{len(sparse)} bin{'s' if len(sparse) != 1 else ''} with fewer than {MIN_BIN_ROWS} rows "
                              "are too small for a reliable point and are not drawn." if sparse else "")))
    return blocks


def _confusion_table(cm: ConfusionMatrix) -> Table | None:
    if len(cm.labels) != len(cm.rows_true_columns_predicted) or len(cm.labels) > 20:
        return None
    rows = [[Cell(cm.labels[i])] + [Cell(fmt_number(v), "num") for v in r]
            for i, r in enumerate(cm.rows_true_columns_predicted)]
    return Table(["True \\ predicted"] + list(cm.labels), rows, caption="Confusion matrix (rows, exact counts)")


def _interval_methods(perf: PerformanceResult, level: str) -> str:
    """The sentence that names how the intervals were made (performance.py, performance_intervals.py)."""
    replicates = f"{fmt_number(perf.n_bootstrap)} replicates"
    if perf.task != "classification":
        return f"Intervals are {level} Poisson-bootstrap percentile intervals ({replicates})."
    auc = "DeLong (logit scale) for the ROC AUC, " if perf.threshold is not None else ""
    return (f"Intervals are {level}: Wilson score for accuracy, Price–Bonett for balanced accuracy, Hall's "
            f"skewness-corrected t for log loss and Brier score, {auc}a debiased-world parametric bootstrap for "
            f"the calibration errors and Poisson-bootstrap percentile intervals for the others ({replicates}).")


def performance_blocks(perf: PerformanceResult, ids: _Ids) -> list[Block]:
    level = level_text(perf.confidence)
    lead = f"Measured on {fmt_number(perf.n)} rows"
    if perf.threshold is not None and perf.positive_label is not None:
        lead += f", positive class {perf.positive_label}, decision threshold {fmt_number(perf.threshold)}"
    blocks: list[Block] = [
        Paragraph(f"{lead}. {_interval_methods(perf, level)}"),
        _metrics_table(perf, level),
    ]
    per_class = _per_class_table(perf)
    if per_class is not None:
        blocks.append(per_class)
    if perf.calibration is not None:
        blocks += calibration_blocks(perf.calibration, ids)
    if perf.confusion_matrix is not None:
        table = _confusion_table(perf.confusion_matrix)
        if table is not None:
            blocks.append(table)
    return blocks


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The performance section's blocks for ``result`` (empty when the check did not run)."""
    return [] if result.performance is None else performance_blocks(result.performance, ids)
