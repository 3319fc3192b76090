"""Text for people: numbers, intervals, metric and attribute names.

The checks compute and never format text; the templates lay out and never compute. The
section modules format through these functions only, so one number reads the same everywhere.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .blocks import Block, Cell, Chart, MAX_TABLE_ROWS, Paragraph, STATUSES, Section, Table


SECTION_TITLES = {
    "performance": "Performance",
    "fairness": "Fairness",
    "explanations": "Explanations",
    "ood": "Out of distribution",
    "uncertainty": "Uncertainty",
}


_METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "brier_score": "Brier score",
    "expected_calibration_error": "Expected calibration error",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "r2": "R²",
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
    "equal_opportunity_difference": "Equal opportunity difference",
    "predictive_parity_difference": "Predictive parity difference",
    "impact_ratio": "Impact ratio",
    "squared_calibration_error": "Squared calibration error (debiased)",
    "expected_calibration_error_plugin": "Expected calibration error (plug-in, L1)",
    "calibration_error_plugin": "Calibration error (plug-in, L1)",
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "tpr": "True positive rate",
    "fpr": "False positive rate",
    "fnr": "False negative rate",
    "precision": "Precision",
    "mean_score": "Mean score",
    "auroc": "AUROC",
    "fpr_at_95_tpr": "FPR at 95% TPR",
    "flagged_fraction": "Fraction flagged",
    "msp": "Max softmax probability",
    "max_logit": "Max logit",
    "energy": "Energy",
    "odin": "ODIN",
    "mahalanobis": "Mahalanobis distance",
    "knn": "k-NN distance",
    "iforest": "Isolation forest",
    "predictive_entropy": "Predictive entropy",
    "aleatoric": "Aleatoric (expected entropy)",
    "epistemic": "Epistemic (mutual information)",
}


def fmt_number(value: Any, *, digits: int = 3, percent: bool = False) -> str:
    """Text for a number: ``—`` when undefined, thousands separators for ints, ``digits`` significant digits."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "no")
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if percent:
        return f"{100.0 * value:.{max(digits - 2, 1)}f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    if magnitude < 1e-3:
        return f"{value:.2e}"
    text = f"{value:.{digits}g}"
    return text


def fmt_estimate(est: Any, *, percent: bool = False) -> str:
    """``0.648 (95% CI 0.636 to 0.660)`` or just the value when there is no interval."""
    value, low, high = _estimate(est)
    text = fmt_number(value, percent=percent)
    if low is not None and high is not None:
        text += f" ({fmt_number(low, percent=percent)} to {fmt_number(high, percent=percent)})"
    return text


def metric_name(key: str) -> str:
    """A readable name for a metric key (unknown keys: underscores become spaces)."""
    key = str(key)
    if key in _METRIC_NAMES:
        return _METRIC_NAMES[key]
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def attribute_name(key: str) -> str:
    """``race*sex`` → ``race × sex``."""
    return " × ".join(str(key).split("*"))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _estimate(v: Any) -> tuple[float | None, float | None, float | None]:
    """(value, ci_low, ci_high) from an estimate dict, a typed estimate (``stats.Estimate`` or a record with
    ``value``/``ci_low``/``ci_high``) or a plain number; Nones when absent or not finite."""
    if not isinstance(v, Mapping) and all(hasattr(v, k) for k in ("value", "ci_low", "ci_high")):
        v = {"value": v.value, "ci_low": v.ci_low, "ci_high": v.ci_high}
    if isinstance(v, Mapping):
        value = v.get("value")
        low, high = v.get("ci_low"), v.get("ci_high")
        return (
            float(value) if _is_number(value) else None,
            float(low) if _is_number(low) else None,
            float(high) if _is_number(high) else None,
        )
    if _is_number(v):
        return float(v), None, None
    return None, None, None


def _num(v: Any) -> float | None:
    return _estimate(v)[0]


def _numbers(seq: Any) -> list[float | None] | None:
    """A list of numbers (None where undefined), or None if ``seq`` is not such a list."""
    if not isinstance(seq, Sequence) or isinstance(seq, (str, bytes)) or not seq:
        return None
    out: list[float | None] = []
    for v in seq:
        if v is None:
            out.append(None)
        elif _is_number(v):
            out.append(float(v))
        else:
            return None
    return out


def _status(value: Any) -> str:
    return value if value in STATUSES else "unknown"


def _cls_for(value: Any) -> str:
    return "num" if _is_number(value) or _estimate(value)[0] is not None else ""


class _Ids:
    """Assigns chart ids in document order so they never come from data."""

    def __init__(self) -> None:
        self.n = 0

    def chart(self, chart: str, title: str, alt: str, data: dict[str, Any]) -> Chart:
        self.n += 1
        return Chart(chart=chart, title=title, alt=alt, data=data, id=f"chart-{self.n}")


def _scalar_leaves(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, Mapping):
        if {"value", "ci_low", "ci_high"} <= set(node):
            yield prefix, node
            return
        for k, v in node.items():
            yield from _scalar_leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, (list, tuple)):
        if node and all(_is_number(v) or v is None for v in node):
            yield prefix, f"{len(node)} numbers"
            return
        for i, v in enumerate(node[:10]):
            yield from _scalar_leaves(v, f"{prefix}[{i}]")
        if len(node) > 10:
            yield f"{prefix}[…]", f"{len(node) - 10} more entries"
    else:
        yield prefix, node


def generic_section(key: str, title: str, section: Any, *, note: str = "") -> Section:
    """A section shown as a table of its scalar values (for layouts this version does not know)."""
    rows = []
    leaves = list(_scalar_leaves(section))
    for path, value in leaves[:MAX_TABLE_ROWS * 5]:
        text = fmt_estimate(value) if isinstance(value, Mapping) else fmt_number(value)
        rows.append([Cell(path), Cell(text, _cls_for(value))])
    blocks: list[Block] = []
    if note:
        blocks.append(Paragraph(note, "muted"))
    more = len(leaves) - len(rows)
    blocks.append(Table(["Key", "Value"], rows, note=f"{more} more values are in audit.json." if more > 0 else ""))
    return Section(key, title, blocks=blocks)


def _ci(est: Any) -> str:
    """The interval as a second line for a table cell ("" when there is none)."""
    text = _interval_text(est)
    return "" if text == "—" else text


def _interval_text(est: Any, *, percent: bool = False) -> str:
    _, low, high = _estimate(est)
    if low is None or high is None:
        return "—"
    return f"{fmt_number(low, percent=percent)} to {fmt_number(high, percent=percent)}"


def _cell_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return fmt_estimate(v) if "value" in v else ", ".join(f"{k}: {_cell_text(x)}" for k, x in v.items())
    return fmt_number(v) if _is_number(v) or v is None or isinstance(v, bool) else str(v)
