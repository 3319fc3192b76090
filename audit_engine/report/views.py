"""View models: what each report view shows, built from the audit.json dict alone.

The checks compute and never format text; the templates lay out and never compute. This
module sits between them: it reads an audit.json document (any 1.x minor version), picks
what a reader needs, formats every number into text, and returns plain dataclasses whose
``to_dict()`` is JSON (the snapshot tests compare those, not HTML bytes).

A view is a list of :class:`Section` objects, each a list of blocks (:class:`Heading`,
:class:`Paragraph`, :class:`Table`, :class:`Chart`, :class:`Figures`, :class:`KeyValues`,
:class:`Preformatted`), so one set of template macros lays out every section. Charts are
specifications (numbers only); :mod:`audit_engine.report.charts` draws them as SVG.

Every section builder reads its part of the document defensively: a check that did not run
is shown as "not run: <reason>"; keys it does not know are ignored; a section whose layout
is not recognised at all is shown as a table of its scalar values (:func:`generic_section`).
Nothing here grows with the number of audited rows: tables and charts are capped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuditView",
    "BiasAuditView",
    "Cell",
    "Chart",
    "Figures",
    "Heading",
    "KeyValues",
    "ModelCardView",
    "Paragraph",
    "Preformatted",
    "Section",
    "Table",
    "audit_view",
    "bias_audit_view",
    "fmt_estimate",
    "fmt_number",
    "generic_section",
    "model_card_view",
    "VIEW_BUILDERS",
]

logger = logging.getLogger(__name__)

STATUSES = ("pass", "warn", "fail")
MAX_TABLE_ROWS = 40      # rows of any one table (groups, features, shift tests, ...)
MAX_BARS = 20            # bars of any one bar chart
MAX_LOCAL_ROWS = 6       # local explanations shown per method
MAX_QUEUE_ROWS = 20      # review-queue rows shown
MAX_SHIFT_ROWS = 20      # shift tests shown (most significant first)
MAX_HEATMAP_SIDE = 32    # heatmaps larger than this are block-averaged down (SVG stays small)
SMALL_CATEGORY_SHARE = 0.02  # NYC LL144: categories under 2% of the data may be excluded

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


# ---------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Cell:
    """One table cell: its text and a CSS class from a fixed set (num, flag, pass, warn, fail, muted)."""

    text: str
    cls: str = ""
    sub: str = ""  # a second, smaller line (an interval)


@dataclass(frozen=True)
class Heading:
    text: str
    kind: str = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    cls: str = ""
    kind: str = "paragraph"


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    note: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class KeyValues:
    items: list[tuple[str, str]]
    kind: str = "keyvalues"


@dataclass(frozen=True)
class Preformatted:
    text: str
    caption: str = ""
    kind: str = "pre"


@dataclass(frozen=True)
class Chart:
    """A chart specification: ``chart`` names the drawing in charts.py, ``data`` holds numbers and labels.

    ``id`` is assigned by the view (``chart-1``, ``chart-2``, ...), never taken from data,
    so it is safe as an HTML id. ``alt`` says in words what the chart shows.
    """

    chart: str
    title: str
    alt: str
    data: dict[str, Any]
    id: str = ""
    kind: str = "chart"


@dataclass(frozen=True)
class Figures:
    """Several small charts side by side (image heatmaps)."""

    charts: list[Chart]
    caption: str = ""
    kind: str = "figures"


@dataclass(frozen=True)
class TokenText:
    """Texts with one background per token (text-model attributions).

    ``lines``: ``(caption, [(token, css background, title)])`` per text; the colours are
    computed here, the template only places them.
    """

    lines: list[tuple[str, list[tuple[str, str, str]]]]
    caption: str = ""
    kind: str = "tokens"


Block = Heading | Paragraph | Table | KeyValues | Preformatted | Chart | Figures | TokenText


@dataclass
class Section:
    """One part of a view; ``state`` is ran, skipped (``reason`` says why) or absent."""

    key: str
    title: str
    state: str = "ran"
    reason: str = ""
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Finding:
    status: str
    text: str


@dataclass
class AuditView:
    title: str
    status: str
    subtitle: str
    findings: list[Finding]
    verdict_counts: list[tuple[str, int]]
    verdicts: Table
    sections: list[Section]
    reproducibility: Section
    notices: list[str]
    template: str = "audit"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ModelCardView:
    title: str
    status: str
    subtitle: str
    sections: list[Section]
    notices: list[str]
    template: str = "model-card"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class BiasAuditView:
    title: str
    status: str
    subtitle: str
    outcome: Finding
    sections: list[Section]
    notices: list[str]
    template: str = "bias-audit"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- formatting
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
    """(value, ci_low, ci_high) from an estimate dict or a plain number; Nones when absent."""
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


# ---------------------------------------------------------------------------- chart ids
class _Ids:
    """Assigns chart ids in document order so they never come from data."""

    def __init__(self) -> None:
        self.n = 0

    def chart(self, chart: str, title: str, alt: str, data: dict[str, Any]) -> Chart:
        self.n += 1
        return Chart(chart=chart, title=title, alt=alt, data=data, id=f"chart-{self.n}")


# ---------------------------------------------------------------------------- generic
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


# ---------------------------------------------------------------------------- performance
def _performance(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    perf = doc["performance"]
    blocks: list[Block] = []
    n = perf.get("n")
    conf = perf.get("confidence", doc.get("config", {}).get("confidence", 0.95))
    level = f"{100 * float(conf):g}%" if _is_number(conf) else "95%"
    lead = f"Measured on {fmt_number(n)} rows" if _is_number(n) else "Measured on the audited data"
    if _is_number(perf.get("threshold")) and perf.get("positive_label") is not None:
        lead += f", positive class {perf['positive_label']}, decision threshold {fmt_number(perf['threshold'])}"
    blocks.append(Paragraph(f"{lead}. Intervals are {level} bootstrap intervals."))
    metrics = perf.get("metrics", {})
    rows = [
        [Cell(metric_name(k)), Cell(fmt_number(_estimate(m)[0]), "num"),
         Cell(_interval_text(m), "num")]
        for k, m in metrics.items()
    ]
    blocks.append(Table(["Metric", "Value", f"{level} interval"], rows))
    per_class = perf.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        metric_keys = sorted({m for v in per_class.values() if isinstance(v, Mapping) for m in v})
        rows = [
            [Cell(str(c))] + [Cell(fmt_estimate(v.get(m)) if isinstance(v, Mapping) else "—", "num") for m in metric_keys]
            for c, v in list(per_class.items())[:MAX_TABLE_ROWS]
        ]
        blocks.append(Table(["Class"] + [metric_name(m) for m in metric_keys], rows, caption="Per class"))
    cal = perf.get("calibration")
    if isinstance(cal, Mapping):
        mp, obs, cnt = _numbers(cal.get("mean_predicted")), _numbers(cal.get("observed")), _numbers(cal.get("count"))
        if mp and obs and len(mp) == len(obs):
            blocks.append(ids.chart(
                "calibration", "Calibration",
                f"Reliability diagram: {cal.get('what', 'predicted probability vs observed rate')}, "
                f"{len(mp)} bins; points on the diagonal are perfectly calibrated.",
                {"mean_predicted": mp, "observed": obs, "count": cnt or [], "bins": _numbers(cal.get("bins")) or []},
            ))
    cm = perf.get("confusion_matrix")
    if isinstance(cm, Mapping) and isinstance(cm.get("rows_true_columns_predicted"), list):
        labels = [str(x) for x in cm.get("labels", [])]
        matrix = cm["rows_true_columns_predicted"]
        if len(labels) == len(matrix) and len(labels) <= 20:
            rows = [[Cell(labels[i])] + [Cell(fmt_number(v), "num") for v in r] for i, r in enumerate(matrix)]
            blocks.append(Table(["True \\ predicted"] + labels, rows, caption="Confusion matrix (counts)"))
    return blocks


def _ci(est: Any) -> str:
    """The interval as a second line for a table cell ("" when there is none)."""
    text = _interval_text(est)
    return "" if text == "—" else text


def _interval_text(est: Any, *, percent: bool = False) -> str:
    _, low, high = _estimate(est)
    if low is None or high is None:
        return "—"
    return f"{fmt_number(low, percent=percent)} to {fmt_number(high, percent=percent)}"


# ---------------------------------------------------------------------------- fairness
_GROUP_COLUMNS = ("n", "base_rate", "selection_rate", "tpr", "fpr", "precision", "accuracy")
_FLAG_TEXT = {"small_group": "small group", "no_positives": "no positives", "no_negatives": "no negatives"}


def fairness_attributes(fair: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The per-attribute entries of a fairness section (dicts that hold ``groups``)."""
    source = fair.get("attributes") if isinstance(fair.get("attributes"), Mapping) else fair
    return {str(k): v for k, v in source.items() if isinstance(v, Mapping) and isinstance(v.get("groups"), Mapping)}


def _group_flags(g: Mapping[str, Any]) -> list[str]:
    flags = []
    for key in ("flags", "warnings", "notes"):
        val = g.get(key)
        if isinstance(val, str):
            flags.append(_FLAG_TEXT.get(val, val.replace("_", " ")))
        elif isinstance(val, Sequence):
            flags.extend(_FLAG_TEXT.get(str(x), str(x).replace("_", " ")) for x in val)
    for key in ("small", "too_small", "unstable"):
        if g.get(key) is True:
            flags.append("small group" if "small" in key else "unstable")
    undefined = g.get("undefined")
    if isinstance(undefined, Mapping) and undefined:
        flags.append("undefined: " + ", ".join(f"{metric_name(k).lower()} ({v})" for k, v in undefined.items()))
    return flags


def _impact_ratios(entry: Mapping[str, Any]) -> dict[str, float | None]:
    ratios = entry.get("impact_ratios")
    if isinstance(ratios, Mapping):
        inner = ratios.get("ratios") if isinstance(ratios.get("ratios"), Mapping) else ratios
        return {str(k): _num(v) for k, v in inner.items() if not isinstance(v, (list, str)) and k not in ("reference", "most_selected")}
    groups = entry.get("groups") if isinstance(entry.get("groups"), Mapping) else {}
    return {str(k): _num(g.get("impact_ratio")) for k, g in groups.items() if isinstance(g, Mapping) and "impact_ratio" in g}


def _group_value(g: Mapping[str, Any], key: str) -> Cell:
    """A group's figure, with its interval on a second line when the group records one (``g.ci.<key>``)."""
    v = g.get(key)
    if isinstance(v, Mapping):
        return Cell(fmt_number(_num(v)), "num", _interval_text(v))
    ci = g.get("ci").get(key) if isinstance(g.get("ci"), Mapping) else None
    if isinstance(ci, Mapping) and _is_number(v):
        sub = _interval_text({"value": v, "ci_low": ci.get("ci_low"), "ci_high": ci.get("ci_high")})
        return Cell(fmt_number(v), "num", "" if sub == "—" else sub)
    if v is None and isinstance(g.get("undefined"), Mapping) and key in g["undefined"]:
        return Cell("undefined", "num muted")
    return Cell(fmt_number(v), "num")


def _four_fifths_threshold(entry: Mapping[str, Any]) -> float:
    ff = entry.get("four_fifths")
    thr = ff.get("threshold") if isinstance(ff, Mapping) else None
    return float(thr) if _is_number(thr) else 0.8


def _fairness(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    fair = doc["fairness"]
    blocks: list[Block] = []
    attrs = fairness_attributes(fair)
    if not attrs:
        raise ValueError("no attribute entries with groups")
    first = next(iter(attrs.values()))
    threshold = first.get("threshold", doc.get("config", {}).get("threshold"))
    intro = (f"Group metrics of the binary decisions at threshold {fmt_number(threshold)}"
             if _is_number(threshold) else "Group metrics of the model's decisions")
    if first.get("positive_label") is not None:
        intro += f" (positive class {first['positive_label']})"
    tested = any(isinstance(m, Mapping) and "p_value" in m for e in attrs.values()
                 for m in (e.get("metrics") or {}).values())
    if tested:
        blocks.append(Paragraph(intro + " for each sensitive attribute and each intersection, with 95% intervals in "
                                "parentheses. A gap is one the data supports when its test of no disparity (a "
                                "permutation test) gives p < 0.05; groups too small for a stable figure are shown "
                                "with their numbers but left out of headline gaps and verdicts."))
    else:
        blocks.append(Paragraph(intro + " for each sensitive attribute and each intersection, with bootstrap "
                                "intervals in parentheses. A gap whose interval excludes zero is a difference the "
                                "data supports; groups too small for a stable figure are flagged, never dropped."))
    fav = _favorable_text(first)
    if fav:
        blocks.append(Paragraph(fav[0], fav[1]))
    for attr, entry in attrs.items():
        blocks.append(Heading(attribute_name(attr)))
        groups: Mapping[str, Any] = entry["groups"]
        ratios = _impact_ratios(entry)
        four = _four_fifths_threshold(entry)
        facts = []
        if entry.get("reference_group") is not None:
            facts.append(f"Reference group: {entry['reference_group']}")
        if _is_number(entry.get("unknown")) and entry.get("unknown"):
            facts.append(f"rows with an unknown value: {fmt_number(entry['unknown'])}")
        if facts:
            blocks.append(Paragraph("; ".join(facts) + "."))
        left = _left_out_text(entry)
        if left:
            blocks.append(Paragraph(left, "muted"))
        present = [c for c in _GROUP_COLUMNS if any(isinstance(g, Mapping) and c in g for g in groups.values())]
        columns = ["Group"] + [metric_name(c) if c != "n" else "n" for c in present]
        if ratios:
            columns.append("Impact ratio")
        columns.append("Flags")
        rows = []
        for name, g in list(groups.items())[:MAX_TABLE_ROWS]:
            if not isinstance(g, Mapping):
                continue
            row = [Cell(attribute_name(name) if "*" in attr else str(name))]
            row += [_group_value(g, c) for c in present]
            if ratios:
                r = ratios.get(str(name))
                row.append(Cell(fmt_number(r), "num fail" if r is not None and r < four else "num"))
            flags = _group_flags(g)
            row.append(Cell("; ".join(flags), "flag" if flags else ""))
            rows.append(row)
        more = len(groups) - len(rows)
        blocks.append(Table(columns, rows, note=f"{more} more groups are in audit.json." if more > 0 else ""))
        ff = entry.get("four_fifths")
        if isinstance(ff, Mapping) and isinstance(ff.get("passes"), bool):
            below = [str(x) for x in ff.get("below", []) or []]
            text = (f"Four-fifths rule (impact ratio at least {fmt_number(four)} against the most selected group, "
                    f"{ff.get('most_selected_group', '—')}): ")
            text += "met by every group." if ff["passes"] else (
                f"not met by {len(below)} group{'s' if len(below) != 1 else ''}: {', '.join(below[:12])}"
                + ("…" if len(below) > 12 else "") + ".")
            blocks.append(Paragraph(text, "" if ff["passes"] else "fail"))
        metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
        ref_metrics = entry.get("reference_metrics") if isinstance(entry.get("reference_metrics"), Mapping) else {}
        if metrics:
            cols = ["Gap", "Between groups (max − min)"]
            if ref_metrics:
                cols.append(f"To the reference group ({entry.get('reference_group', '—')})")
            has_test = any(isinstance(m, Mapping) and "p_value" in m for m in metrics.values())
            if has_test:
                cols.append("Test of no disparity")
            rows = []
            for k, m in metrics.items():
                if not (isinstance(m, Mapping) or _is_number(m) or m is None):
                    continue
                row = [Cell(metric_name(k)), Cell(fmt_number(_num(m)), "num", _ci(m))]
                if ref_metrics:
                    row.append(Cell(fmt_number(_num(ref_metrics.get(k))), "num", _ci(ref_metrics.get(k))))
                if has_test:
                    row.append(_test_cell(m))
                rows.append(row)
            blocks.append(Table(cols, rows))
            undefined = entry.get("undefined_metrics")
            if isinstance(undefined, Mapping) and undefined:
                blocks.append(Paragraph("Undefined: " + "; ".join(f"{metric_name(k)}: {v}" for k, v in undefined.items()) + ".", "muted"))
            gap_keys = [k for k, m in metrics.items() if _num(m) is not None and str(k).endswith("difference")]
            if gap_keys:
                blocks.append(ids.chart(
                    "interval_bars", f"Gaps for {attribute_name(attr)}",
                    f"Bars: fairness gaps (max − min over groups) for {attribute_name(attr)}; whiskers: bootstrap "
                    "intervals; 0 means no gap.",
                    {"labels": [metric_name(k) for k in gap_keys],
                     "values": [_estimate(metrics[k])[0] for k in gap_keys],
                     "low": [_estimate(metrics[k])[1] for k in gap_keys],
                     "high": [_estimate(metrics[k])[2] for k in gap_keys],
                     "reference": 0.0, "xlabel": "difference"},
                ))
        figs = []
        sweep = _sweep(entry.get("threshold_sweep", entry.get("sweep")))
        if sweep:
            figs.append(ids.chart("sweep", f"Gaps across thresholds: {attribute_name(attr)}",
                                  f"Lines: fairness gaps for {attribute_name(attr)} as the decision threshold moves.", sweep))
        rates = _sweep_groups(entry.get("sweep"), groups)
        if rates:
            figs.append(ids.chart("sweep", f"Selection rate across thresholds: {attribute_name(attr)}",
                                  f"Lines: selection rate of each of the largest groups of {attribute_name(attr)} as the "
                                  "decision threshold moves.", rates))
        cal = _group_calibration(entry.get("calibration"), groups)
        if cal:
            figs.append(ids.chart("group_calibration", f"Calibration by group: {attribute_name(attr)}",
                                  f"Reliability diagram per group of {attribute_name(attr)} (largest groups).", cal))
        if figs:
            blocks.append(Figures(figs))
    sweep = _sweep(fair.get("threshold_sweep", fair.get("sweep")))
    if sweep:
        blocks.append(Heading("Threshold sweep"))
        blocks.append(ids.chart("sweep", "Threshold sweep", "Lines: fairness gaps as the decision threshold moves.", sweep))
    return blocks


def _favorable_text(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """The sentence that states the favourable outcome (or that it is missing), with its CSS class."""
    if "favorable_label" not in entry:
        return None
    if entry.get("favorable_label") is not None:
        return (f"Favourable outcome: class {entry['favorable_label']}. A selection is a prediction of it, so "
                "selection rates, impact ratios and the four-fifths rule count how often a group gets it.", "")
    reason = entry.get("impact_refused") or "the favourable outcome is not declared"
    return (f"No impact ratios or four-fifths verdicts: {reason}.", "warn")


def _left_out_text(entry: Mapping[str, Any]) -> str:
    left = entry.get("left_out")
    if not isinstance(left, Mapping) or not left:
        return ""
    size = entry.get("min_group_size")
    rule = f" (minimum {fmt_number(size)} rows, {fmt_number(entry.get('min_class_rows'))} in a rate's denominator)" \
        if _is_number(size) else ""
    parts = [f"{attribute_name(str(g))}: {', '.join(metric_name(r).lower() for r in (v.get('rates') or []))}"
             for g, v in list(left.items())[:12] if isinstance(v, Mapping)]
    more = "…" if len(left) > 12 else ""
    return (f"Shown but left out of headline gaps and verdicts{rule}: " + "; ".join(parts) + more + ".")


def _test_cell(m: Any) -> Cell:
    if not isinstance(m, Mapping) or not _is_number(m.get("p_value")):
        return Cell("—", "muted")
    p = float(m["p_value"])
    if m.get("supports_gap"):
        return Cell("supports a gap", "fail", f"p = {fmt_number(p)}")
    return Cell("no evidence of a gap", "", f"p = {fmt_number(p)}")


_MAX_SERIES = 6


def _largest(groups: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    sizes = {str(k): _num(g.get("n")) or 0.0 for k, g in groups.items() if isinstance(g, Mapping)}
    return sorted((str(n) for n in names), key=lambda n: -sizes.get(n, 0.0))[:_MAX_SERIES]


def _sweep_groups(node: Any, groups: Mapping[str, Any]) -> dict[str, Any] | None:
    if not isinstance(node, Mapping) or not isinstance(node.get("groups"), Mapping):
        return None
    ts = _numbers(node.get("thresholds"))
    if not ts:
        return None
    series = {}
    for name in _largest(groups, node["groups"]):
        g = node["groups"].get(name)
        nums = _numbers(g.get("selection_rate")) if isinstance(g, Mapping) else None
        if nums and len(nums) == len(ts):
            series[name] = nums
    return {"x": ts, "series": series, "xlabel": "decision threshold", "ylabel": "selection rate"} if series else None


def _group_calibration(node: Any, groups: Mapping[str, Any]) -> dict[str, Any] | None:
    if not isinstance(node, Mapping) or not isinstance(node.get("groups"), Mapping):
        return None
    series = {}
    for name in _largest(groups, node["groups"]):
        g = node["groups"].get(name)
        if not isinstance(g, Mapping):
            continue
        mp, obs = _numbers(g.get("mean_predicted")), _numbers(g.get("observed"))
        if mp and obs and len(mp) == len(obs):
            series[name] = {"mean_predicted": mp, "observed": obs}
    return {"series": series} if series else None


def _sweep(node: Any) -> dict[str, Any] | None:
    """``{thresholds: [...], <metric>: [...]}`` → chart data of the difference metrics, or None."""
    if not isinstance(node, Mapping):
        return None
    ts = _numbers(node.get("thresholds", node.get("threshold")))
    if not ts:
        return None
    series: dict[str, list[float | None]] = {}
    for key, val in node.items():
        if key in ("thresholds", "threshold"):
            continue
        nums = _numbers(val)
        if nums and len(nums) == len(ts):
            if str(key).endswith("ratio"):
                continue  # ratios live on another scale; the chart shows differences
            series[metric_name(key)] = nums
    return {"x": ts, "series": dict(list(series.items())[:8]), "xlabel": "decision threshold", "ylabel": "gap"} if series else None


# ---------------------------------------------------------------------------- explanations
_PIXEL = re.compile(r"^x\[(\d+(?:,\d+)*)\]$")


def _image_shape(doc: Mapping[str, Any]) -> list[int] | None:
    shape = doc.get("data", {}).get("row_shape")
    if isinstance(shape, list) and len(shape) in (2, 3) and all(isinstance(s, int) and s > 0 for s in shape):
        return shape
    return None


def _grid(attributions: Mapping[str, Any], shape: list[int], layout: str | None) -> list[list[float]] | None:
    """Sum attributions named ``x[c,h,w]`` over channels into an (h, w) grid; None if names do not fit."""
    if len(shape) == 2:
        h, w, cax = shape[0], shape[1], None
    elif layout == "NHWC" or (shape[2] in (1, 3, 4) and shape[0] not in (1, 3, 4)):
        h, w, cax = shape[0], shape[1], 2
    else:
        h, w, cax = shape[1], shape[2], 0
    grid = [[0.0] * w for _ in range(h)]
    seen = 0
    for name, val in attributions.items():
        m = _PIXEL.match(str(name))
        v = _num(val)
        if not m or v is None:
            continue
        idx = [int(i) for i in m.group(1).split(",")]
        if len(idx) != len(shape):
            return None
        hw = idx if cax is None else [i for j, i in enumerate(idx) if j != cax]
        if hw[0] >= h or hw[1] >= w:
            return None
        grid[hw[0]][hw[1]] += v
        seen += 1
    return _downsample(grid) if seen else None


def _downsample(grid: list[list[float]]) -> list[list[float]]:
    h, w = len(grid), len(grid[0])
    step = max(1, math.ceil(max(h, w) / MAX_HEATMAP_SIDE))
    if step == 1:
        return grid
    out = []
    for i in range(0, h, step):
        row = []
        for j in range(0, w, step):
            cells = [grid[a][b] for a in range(i, min(i + step, h)) for b in range(j, min(j + step, w))]
            row.append(sum(cells) / len(cells))
        out.append(row)
    return out


def _nested_grid(node: Any) -> list[list[float]] | None:
    """An (h, w) grid from a nested list of shape (h, w), (1, h, w), (c, h, w) or (h, w, c) (channels summed)."""
    if not isinstance(node, list) or not node:
        return None
    while isinstance(node, list) and len(node) == 1 and isinstance(node[0], list) and node[0] and isinstance(node[0][0], list):
        node = node[0]
    if not all(isinstance(r, list) and r for r in node):
        return None
    if isinstance(node[0][0], list):  # 3-D
        if len(node) <= 4:  # (c, h, w)
            h, w = len(node[0]), len(node[0][0])
            grid = [[sum(_num(node[c][i][j]) or 0.0 for c in range(len(node))) for j in range(w)] for i in range(h)]
        else:  # (h, w, c)
            grid = [[sum(_num(v) or 0.0 for v in px) for px in row] for row in node]
    else:
        grid = [[_num(v) or 0.0 for v in row] for row in node]
    if len({len(r) for r in grid}) != 1:
        return None
    return _downsample(grid)


def _image_input(local: Mapping[str, Any], shape: list[int]) -> list[list[float]] | None:
    """The input image of a local explanation (key ``input``/``image``), as an (h, w) grid."""
    raw = local.get("input", local.get("image"))
    if not isinstance(raw, list):
        return None
    flat: list[Any] = raw
    while flat and isinstance(flat[0], list):
        flat = [v for sub in flat for v in sub]
    nums = _numbers(flat)
    size = math.prod(shape)
    if nums and len(nums) != size:  # stored block-averaged (large images): read its own nesting
        return _nested_grid(raw)
    if not nums:
        return None
    h, w = (shape[0], shape[1]) if len(shape) == 2 else (shape[1], shape[2]) if shape[0] in (1, 3, 4) else (shape[0], shape[1])
    channels = size // (h * w)
    if shape[0] == channels and len(shape) == 3:  # CHW: average channels
        grid = [[sum((nums[c * h * w + i * w + j] or 0.0) for c in range(channels)) / channels for j in range(w)] for i in range(h)]
    else:  # HWC or HW
        grid = [[sum((nums[(i * w + j) * channels + c] or 0.0) for c in range(channels)) / channels for j in range(w)] for i in range(h)]
    return _downsample(grid)


def _explanations(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    expl = doc["explanations"]
    methods = {str(k): v for k, v in expl.items() if isinstance(v, Mapping) and ("global" in v or "local" in v)}
    if not methods:
        raise ValueError("no explanation methods")
    blocks: list[Block] = [Paragraph(
        "Attributions say how much each feature moved the model's score. Bars show the global "
        "importance with its interval; a feature is marked when the interval of its signed mean "
        "attribution excludes zero (it pushes the score the same way across rows). Deterministic "
        "methods are exact up to float32 round-off; saturated rows are never called significant.")]
    shape = _image_shape(doc)
    layout = doc.get("model", {}).get("layout") or doc.get("data", {}).get("image_layout")
    quality_rows: list[list[Cell]] = []
    curves: dict[str, Any] = {}
    quality_bars: dict[str, Any] = {}
    for method, entry in methods.items():
        blocks.append(Heading(f"Method: {method}"))
        params = entry.get("params")
        if isinstance(params, Mapping) and params:
            blocks.append(Paragraph("Parameters: " + ", ".join(f"{k} = {fmt_number(v) if not isinstance(v, (Mapping, list)) else json.dumps(v)}" for k, v in params.items()) + "."))
        glob = entry.get("global")
        if isinstance(glob, Mapping) and glob:
            image_grid = _nested_grid(entry.get("global_heatmap")) or (_grid(glob, shape, layout) if shape else None)
            if image_grid is not None:
                blocks.append(ids.chart("heatmap", f"{method}: global attribution map",
                                        f"Heatmap of the mean attribution per pixel ({method}).",
                                        {"grid": image_grid, "image": None}))
            else:
                items = [(str(k), _estimate(v)) for k, v in glob.items() if _estimate(v)[0] is not None]
                items.sort(key=lambda kv: -abs(kv[1][0] or 0.0))
                top = items[:MAX_BARS]
                blocks.append(ids.chart(
                    "interval_bars", f"{method}: global importance",
                    f"Bars: the {len(top)} most important features by {method}; whiskers: intervals.",
                    {"labels": [k for k, _ in top], "values": [e[0] for _, e in top],
                     "low": [e[1] for _, e in top], "high": [e[2] for _, e in top],
                     "reference": 0.0, "xlabel": "attribution"}))
                rows = []
                signed = entry.get("global_signed") if isinstance(entry.get("global_signed"), Mapping) else None
                for k, (v, lo, hi) in top:
                    if signed is not None:  # mean |attribution| is always positive: test the signed mean
                        _, lo_s, hi_s = _estimate(signed.get(k))
                        sig = lo_s is not None and hi_s is not None and (lo_s > 0 or hi_s < 0)
                    else:
                        sig = lo is not None and hi is not None and (lo > 0 or hi < 0)
                    rows.append([Cell(k), Cell(fmt_number(v), "num"),
                                 Cell(_interval_text({"value": v, "ci_low": lo, "ci_high": hi}), "num"),
                                 Cell("excludes 0" if sig else "", "flag" if sig else "")])
                more = len(items) - len(top)
                blocks.append(Table(["Feature", "Attribution", "Interval", "Significance"], rows,
                                    note=f"{more} more features are in audit.json." if more > 0 else ""))
        sig = entry.get("significant")
        if isinstance(sig, list) and sig:
            frac = entry.get("significant_fraction")
            blocks.append(Paragraph(f"Features whose interval excludes zero: {', '.join(str(x) for x in sig[:15])}"
                                    + ("…" if len(sig) > 15 else "")
                                    + (f" ({fmt_number(frac, percent=True)} of features)." if _is_number(frac) else ".")))
        local = entry.get("local")
        if isinstance(local, list) and local:
            blocks.extend(_local_blocks(method, local, shape, layout, ids))
        if isinstance(entry.get("pathwise"), Mapping) or entry.get("refused"):
            from .pathwise_view import pathwise_blocks

            blocks.extend(pathwise_blocks(entry, ids))
        if isinstance(entry.get("attention"), Mapping):
            from .pathwise_view import attention_blocks

            blocks.extend(attention_blocks(entry, ids))
        blocks.extend(_sanity_blocks(method, entry.get("sanity")))
        sat = entry.get("saturated_rows")
        if isinstance(sat, list) and sat:
            blocks.append(Paragraph(f"{len(sat)} explained row(s) are saturated: the model's output did not change "
                                    "beyond float32 resolution, so their attributions are not called significant."))
        stab = entry.get("rank_stability")
        if isinstance(stab, Mapping):
            items = [(metric_name(k), fmt_estimate(v)) for k, v in stab.items() if isinstance(v, Mapping) and _estimate(v)[0] is not None]
            if items:
                blocks.append(Paragraph("Rank stability across seeds: " + "; ".join(f"{k} {v}" for k, v in items)
                                        + (f" (top {stab['k']})" if _is_number(stab.get("k")) else "") + "."))
        quality = entry.get("quality")
        if isinstance(quality, Mapping):
            keys = [k for k in ("deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc")
                    if _estimate(quality.get(k))[0] is not None]
            if keys:
                quality_bars.setdefault("labels", []).extend(f"{method}: {metric_name(k).lower()}" for k in keys)
                quality_bars.setdefault("values", []).extend(_estimate(quality[k])[0] for k in keys)
                quality_bars.setdefault("low", []).extend(_estimate(quality[k])[1] for k in keys)
                quality_bars.setdefault("high", []).extend(_estimate(quality[k])[2] for k in keys)
        quality = entry.get("quality")
        if isinstance(quality, Mapping):
            for qname, q in quality.items():
                if isinstance(q, Mapping):
                    for sub, val in q.items():
                        if isinstance(val, Mapping) and "value" in val:
                            quality_rows.append([Cell(method), Cell(metric_name(f"{qname} {sub}")), Cell(fmt_estimate(val), "num")])
                        curve = _numbers(val)
                        if curve and sub in ("curve", "mean_curve", "y", "values"):
                            curves[f"{method} {qname}"] = curve
                    if _numbers(q.get("fractions")) and f"{method} {qname}" in curves:
                        pass
                elif _estimate(q)[0] is not None:
                    quality_rows.append([Cell(method), Cell(metric_name(qname)), Cell(fmt_estimate(q), "num")])
                else:
                    curve = _numbers(q)
                    if curve:
                        curves[f"{method} {qname}"] = curve
    if quality_rows or curves or quality_bars:
        blocks.append(Heading("Faithfulness"))
        blocks.append(Paragraph(
            "Deletion and insertion curves (Petsiuk et al. 2018): the model's score as the most "
            "important features are removed (deletion: a fast drop is faithful, lower area is better) "
            "or added back (insertion: a fast rise is faithful, higher area is better)."))
        if quality_rows:
            blocks.append(Table(["Method", "Measure", "Value (interval)"], quality_rows))
        if quality_bars:
            blocks.append(ids.chart("interval_bars", "Faithfulness: deletion and insertion areas",
                                    "Bars: area under the deletion curve (lower is more faithful) and insertion curve "
                                    "(higher is more faithful) per method, beside a random ranking's; whiskers: intervals.",
                                    dict(quality_bars, xlabel="area under the curve")))
        if curves:
            blocks.append(ids.chart("curves", "Deletion and insertion curves",
                                    "Lines: model score against the fraction of features removed or inserted.",
                                    {"series": curves, "xlabel": "fraction of features", "ylabel": "score"}))
    return blocks


def _sanity_blocks(method: str, sanity: Any) -> list[Block]:
    """The randomisation cascade of one method (Adebayo et al. 2018) as a small table."""
    if not isinstance(sanity, Mapping) or not isinstance(sanity.get("steps"), list) or not sanity["steps"]:
        return []
    rows = [[Cell(fmt_number(i + 1), "num"), Cell(str(st.get("layer", ""))), Cell(fmt_estimate(st.get("spearman")), "num")]
            for i, st in enumerate(sanity["steps"]) if isinstance(st, Mapping)]
    flagged = sanity.get("flagged") is True
    return [Table(["Step", "Layer randomised (cumulative, from the output)", "Spearman of |attributions| (interval)"], rows,
                  caption=f"Sanity check of {method}: model-parameter randomisation (Adebayo et al. 2018)",
                  note=(f"{method} {sanity.get('message', '')}." if sanity.get("message") else "")
                  + (" Its attributions should not be read as explanations of this model." if flagged else ""))]


def _local_blocks(method: str, local: list[Any], shape: list[int] | None, layout: str | None, ids: _Ids) -> list[Block]:
    blocks: list[Block] = []
    shown = [e for e in local if isinstance(e, Mapping)][:MAX_LOCAL_ROWS]
    if shape or any(isinstance(e.get("heatmap"), list) for e in shown):
        charts = []
        for e in shown:
            attrs = e.get("attributions")
            grid = _nested_grid(e.get("heatmap")) or (_grid(attrs, shape, layout) if isinstance(attrs, Mapping) else None)
            if grid is None:
                continue
            image = _image_input(e, shape) if shape else None
            charts.append(ids.chart(
                "heatmap", f"row {_cell_text(e.get('row', '?'))}",
                f"Row {_cell_text(e.get('row', '?'))}: predicted {_prediction_text(e)}. Heatmap of {method} attributions"
                + (" over the input image." if image else "."),
                {"grid": grid, "image": image}))
        if charts:
            blocks.append(Figures(charts, caption=f"Local {method} attributions for {len(charts)} sampled rows "
                                                  "(red raises the explained class's score, blue lowers it)."))
            return blocks
    token_block = _token_text(method, shown)
    if token_block is not None:
        return [token_block]
    rows = []
    for e in shown:
        attrs = e.get("attributions")
        if not isinstance(attrs, Mapping):
            continue
        top = sorted(((str(k), _num(v)) for k, v in attrs.items() if _num(v) is not None), key=lambda kv: -abs(kv[1] or 0.0))[:5]
        rows.append([Cell(fmt_number(e.get("row"))), Cell(_prediction_text(e)),
                     Cell("; ".join(f"{k}: {fmt_number(v)}" for k, v in top))])
    if rows:
        blocks.append(Table(["Row", "Prediction", "Top attributions"], rows,
                            caption=f"Local {method} explanations for {len(rows)} of {len(local)} sampled rows"))
    return blocks


def _token_text(method: str, shown: list[Any]) -> TokenText | None:
    """Text rows (``tokens`` in audit.json): each token shaded by its attribution, red up / blue down."""
    texts = [e for e in shown if isinstance(e.get("tokens"), list)]
    if not texts:
        return None
    lines = []
    for e in texts:
        toks = [t for t in e["tokens"] if isinstance(t, Mapping)]
        vals = [abs(_num(t.get("value")) or 0.0) for t in toks]
        top = max(vals, default=0.0) or 1.0
        spans = []
        for t in toks:
            v = _num(t.get("value")) or 0.0
            alpha = min(1.0, abs(v) / top) * 0.75
            rgb = "220,50,47" if v > 0 else "38,110,200"
            spans.append((str(t.get("token", "")), f"background: rgba({rgb},{alpha:.2f})", fmt_number(v)))
        lines.append((f"Row {_cell_text(e.get('row', '?'))}: predicted {_prediction_text(e)}", spans))
    return TokenText(lines, caption=f"Local {method} attributions per token for {len(lines)} sampled texts "
                                    "(red raises the explained class's score, blue lowers it; hover for the value).")


def _prediction_text(e: Mapping[str, Any]) -> str:
    pred = e.get("prediction")
    parts = []
    if isinstance(pred, Mapping):
        label = pred.get("label", pred.get("class"))
        score = pred.get("score", pred.get("probability"))
        parts.append(str(label) if label is not None else "")
        if _is_number(score):
            parts.append(f"(score {fmt_number(score)})")
    elif pred is not None:
        parts.append(fmt_number(pred) if _is_number(pred) else str(pred))
        if _is_number(e.get("probability")):
            parts.append(f"(p {fmt_number(e['probability'])})")
    for key in ("target", "explained", "explained_class"):
        if e.get(key) is not None and e.get(key) != pred:
            parts.append(f"explaining {e.get(key)}")
            break
    runner = e.get("runner_up")
    if isinstance(runner, Mapping):
        label = runner.get("prediction", runner.get("label", runner.get("class", "")))
        prob = f" (p {fmt_number(runner['probability'])})" if _is_number(runner.get("probability")) else ""
        parts.append(f"; runner-up {label}{prob}")
    elif runner is not None:
        parts.append(f"; runner-up {runner}")
    return " ".join(p for p in parts if p) or "—"


# ---------------------------------------------------------------------------- ood
def _ood(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    ood = doc["ood"]
    blocks: list[Block] = []
    scores = ood.get("scores") if isinstance(ood.get("scores"), Mapping) else {}
    shift = ood.get("shift") if isinstance(ood.get("shift"), Mapping) else {}
    if not scores and not shift:
        raise ValueError("no OOD scores or shift tests")
    ref = ood.get("reference") if isinstance(ood.get("reference"), Mapping) else {}
    facts = []
    if ref:
        facts.append(f"Reference (in-distribution) rows: {fmt_number(ref.get('rows'))} from the {ref.get('source', 'reference')}")
    if _is_number(ood.get("ood_rows")):
        facts.append(f"known out-of-distribution rows: {fmt_number(ood['ood_rows'])}")
    if ood.get("logit_source"):
        facts.append(f"output scores computed from {str(ood['logit_source']).replace('_', ' ')}")
    if facts:
        blocks.append(Paragraph("; ".join(facts) + "."))
    if ref.get("note"):
        blocks.append(Paragraph(str(ref["note"]), "muted"))
    if scores:
        blocks.append(Heading("Scores"))
        q = ood.get("threshold_quantile")
        qtext = f"{100 * float(q):g}th percentile" if _is_number(q) else "95th percentile"
        blocks.append(Paragraph(
            "Each score is higher for inputs that look less like the reference data. AUROC says how well it "
            "separates the known out-of-distribution rows from in-distribution rows (1 is perfect, 0.5 is "
            f"chance). The threshold is the reference's {qtext}; \"flagged\" is the share of audited rows above it."))
        rows = []
        hist_charts = []
        roc: dict[str, Any] = {}
        for name, sc in scores.items():
            if not isinstance(sc, Mapping):
                continue
            rows.append([Cell(metric_name(name)), Cell(str(sc.get("score_source", "")).replace("_", " ")),
                         Cell(fmt_number(_num(sc.get("auroc"))), "num", _ci(sc.get("auroc"))),
                         Cell(fmt_number(_num(sc.get("fpr_at_95_tpr"))), "num", _ci(sc.get("fpr_at_95_tpr"))),
                         Cell(fmt_number(_num(sc.get("threshold"))), "num"),
                         Cell(fmt_number(_num(sc.get("flagged_fraction")), percent=True), "num"),
                         Cell(fmt_number(_num(sc.get("ood_flagged_fraction")), percent=True), "num")])
            hist = _histogram(sc.get("histogram"))
            if hist:
                hist_charts.append(ids.chart("histogram", metric_name(name),
                                             f"Histograms of the {metric_name(name)} score: " + ", ".join(hist["series"]) + ".", hist))
            curve = _roc_points(sc)
            if curve:
                roc[metric_name(name)] = curve
        blocks.append(Table(["Score", "From", "AUROC", "FPR at 95% TPR", "Threshold", "Audited rows flagged",
                             "OOD rows flagged"], rows))
        skipped = ood.get("skipped")
        if isinstance(skipped, Mapping) and skipped:
            blocks.append(Paragraph("Not computed: " + "; ".join(f"{metric_name(k)}: {v}" for k, v in skipped.items()) + ".", "muted"))
        if roc:
            blocks.append(ids.chart("roc", "ROC curves", "ROC curves of each score separating out-of-distribution from "
                                    "in-distribution rows, from the binned score histograms; the diagonal is chance.",
                                    {"curves": roc}))
        if hist_charts:
            blocks.append(Figures(hist_charts, caption="Score distributions (density) per dataset: reference, audited "
                                                       "and known out-of-distribution rows."))
    top = ood.get("most_ood")
    if isinstance(top, list) and top:
        shown = [r for r in top if isinstance(r, Mapping)][:MAX_QUEUE_ROWS]
        rows = [[Cell(fmt_number(r.get("row")), "num"), Cell(fmt_number(_num(r.get("percentile")), percent=True), "num"),
                 Cell(", ".join(metric_name(x) for x in r.get("flagged_by", []) or []) or "—"),
                 Cell(_cell_text(r.get("prediction"))), Cell(fmt_number(_num(r.get("confidence"))), "num")] for r in shown]
        blocks.append(Table(["Row", "Percentile of reference", "Flagged by", "Prediction", "Confidence"], rows,
                            caption=f"The {len(shown)} most out-of-distribution audited rows"))
    summary = ood.get("shift_summary") if isinstance(ood.get("shift_summary"), Mapping) else {}
    if shift or summary:
        blocks.append(Heading("Shift between reference and audited data"))
    if summary.get("status") == "skipped":
        blocks.append(Paragraph(f"Not run: {summary.get('reason', 'no reason recorded')}.", "not-run"))
    if shift:
        items = [(str(k), v) for k, v in shift.items() if isinstance(v, Mapping)]
        items.sort(key=lambda kv: (_num(kv[1].get("p_adjusted", kv[1].get("p_value"))) if _num(kv[1].get("p_adjusted", kv[1].get("p_value"))) is not None else 2.0))
        tested = summary.get("tested", len(items))
        drifted = summary.get("drifted", sum(1 for _, v in items if v.get("drifted") is True))
        how = f" ({summary['tests']}; {summary.get('correction', 'corrected for multiple testing')}" if summary.get("tests") else " (corrected for multiple testing"
        how += f", alpha {fmt_number(summary['alpha'])})" if _is_number(summary.get("alpha")) else ")"
        blocks.append(Paragraph(f"{fmt_number(drifted)} of {fmt_number(tested)} features shifted{how}."))
        rows = []
        for k, v in items[:MAX_SHIFT_ROWS]:
            rows.append([Cell(k), Cell(str(v.get("test", ""))), Cell(fmt_number(_num(v.get("statistic"))), "num"),
                         Cell(fmt_number(_num(v.get("p_value"))), "num"), Cell(fmt_number(_num(v.get("p_adjusted"))), "num"),
                         Cell(fmt_number(_num(v.get("psi"))), "num"),
                         Cell("yes" if v.get("drifted") is True else "no", "flag" if v.get("drifted") is True else "")])
        shown_total = summary.get("tested") if _is_number(summary.get("tested")) else len(items)
        more = int(shown_total) - len(rows)
        blocks.append(Table(["Feature", "Test", "Statistic", "p-value", "Adjusted p", "PSI", "Drifted"], rows,
                            note=f"{more} more features were tested; the most significant are listed." if more > 0 else ""))
    return blocks


def _roc_points(sc: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """ROC points of a score: ``sc.roc{fpr, tpr}`` if recorded, else from its reference and OOD histograms.

    From histograms: sweeping the threshold down the shared bin edges, TPR is the share of OOD
    rows above it and FPR the share of reference rows above it (a binned ROC).
    """
    curve = sc.get("roc")
    if isinstance(curve, Mapping):
        fpr, tpr = _numbers(curve.get("fpr")), _numbers(curve.get("tpr"))
        if fpr and tpr and len(fpr) == len(tpr):
            return {"fpr": fpr, "tpr": tpr}
    hist = sc.get("histogram")
    if not isinstance(hist, Mapping):
        return None
    ref, bad = _numbers(hist.get("reference")), _numbers(hist.get("ood"))
    if not ref or not bad or len(ref) != len(bad):
        return None
    r_tot, b_tot = sum(v or 0.0 for v in ref), sum(v or 0.0 for v in bad)
    if r_tot <= 0 or b_tot <= 0:
        return None
    fpr, tpr, r_acc, b_acc = [0.0], [0.0], 0.0, 0.0
    for r, b in zip(reversed(ref), reversed(bad), strict=True):
        r_acc += r or 0.0
        b_acc += b or 0.0
        fpr.append(r_acc / r_tot)
        tpr.append(b_acc / b_tot)
    return {"fpr": fpr, "tpr": tpr}


def _histogram(node: Any) -> dict[str, Any] | None:
    """``{edges|bins: [...], <dataset>: [counts]}`` → chart data (counts per dataset), or None."""
    if not isinstance(node, Mapping):
        return None
    edges = _numbers(node.get("edges", node.get("bins", node.get("bin_edges"))))
    if not edges or len(edges) < 2:
        return None
    series = {}
    source = node.get("counts") if isinstance(node.get("counts"), Mapping) else node
    if _numbers(node.get("counts")):
        source = {"rows": node["counts"]}
    for key, val in source.items():
        if key in ("edges", "bins", "bin_edges"):
            continue
        nums = _numbers(val)
        if nums and len(nums) == len(edges) - 1:
            series[{"current": "audited", "ood": "out of distribution"}.get(str(key), str(key))] = nums
    return {"edges": edges, "series": series} if series else None


# ---------------------------------------------------------------------------- uncertainty
_UNC_MEASURES = ("predictive_entropy", "aleatoric", "epistemic")


def _uncertainty(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    unc = doc["uncertainty"]
    blocks: list[Block] = []
    methods = {k: v for k, v in unc.items() if isinstance(v, Mapping) and isinstance(v.get("summary"), Mapping)}
    if _is_number(unc.get("rows")):
        blocks.append(Paragraph(f"Measured on {fmt_number(unc['rows'])} rows"
                                + (" (a sample of the audited data)" if unc.get("sampled") else "") + ". "
                                "Predictive entropy (in nats) splits into expected entropy (aleatoric: noise the model "
                                "sees in the data) and mutual information (epistemic: what the model does not know; high "
                                "on unfamiliar inputs)."))
    for name, m in methods.items():
        blocks.append(Heading(f"Method: {metric_name(m.get('method', name)) if m.get('method', name) != 'mc_dropout' else 'MC dropout'}"))
        facts = []
        if _is_number(m.get("passes")):
            facts.append(f"{fmt_number(m['passes'])} passes" if name == "mc_dropout" else f"{fmt_number(m['passes'])} models")
        err = m.get("mc_error") if isinstance(m.get("mc_error"), Mapping) else None
        adaptive = err.get("adaptive") if err and isinstance(err.get("adaptive"), Mapping) else None
        if adaptive and adaptive.get("mode") == "auto" and _is_number(adaptive.get("tolerance")):
            facts.append(f"a pilot of {fmt_number(adaptive.get('pilot_passes'))} passes set the number of fresh passes that "
                         f"brings the Monte Carlo standard error of the mean epistemic uncertainty to at most "
                         f"{float(adaptive['tolerance']):g} nats"
                         + ("" if adaptive.get("tolerance_met") else
                            f" — not reached within {fmt_number(adaptive.get('max_passes'))} passes"))
        if name == "committee":
            facts.append("the committee is a fixed set of models, so its figures carry no Monte Carlo error")
        if m.get("outputs_vary") is False:
            facts.append("the outputs did not vary between passes, so epistemic uncertainty is zero")
        if facts:
            blocks.append(Paragraph("; ".join(facts) + "."))
        summary = m["summary"]
        stats = ("mean", "median", "p90", "p99", "max")
        rows = []
        hist_charts = []
        for key, val in summary.items():
            if not isinstance(val, Mapping):
                continue
            se = val.get("mc_se") if isinstance(val.get("mc_se"), Mapping) else {}
            rows.append([Cell(metric_name(key))]
                        + [Cell(fmt_number(_num(val.get(st))) + (f" ± {fmt_number(_num(se.get(st)))}" if _num(se.get(st)) is not None else ""), "num")
                           for st in stats]
                        + ([Cell(fmt_number(_num(val.get("mean_corrected"))), "num")] if err else []))
            hist = _histogram(val.get("histogram"))
            if hist:
                hist_charts.append(ids.chart("histogram", metric_name(key), f"Histogram of {metric_name(key)} over the rows.",
                                             dict(hist, xlabel="nats")))
        blocks.append(Table(["Measure", "Mean", "Median", "90th pct", "99th pct", "Max"] + (["Mean, bias-corrected"] if err else []), rows,
                            note=("± one Monte Carlo standard error (jackknife over groups of passes); the bias-corrected "
                                  "mean removes the plug-in estimator's O(1/passes) downward bias." if err else "")))
        comp = m.get("ood_comparison")
        if isinstance(comp, Mapping) and _is_number(comp.get("ood_mean_epistemic")):
            blocks.append(Paragraph(
                f"Mean epistemic uncertainty: {fmt_number(_num(comp.get('audited_mean_epistemic')))} on the audited rows, "
                f"{fmt_number(_num(comp.get('ood_mean_epistemic')))} on {fmt_number(comp.get('ood_rows'))} known "
                "out-of-distribution rows."))
        if hist_charts:
            blocks.append(Figures(hist_charts))
    if not methods:  # another layout: list its measures
        for key, val in unc.items():
            if _estimate(val)[0] is not None:
                blocks.append(Paragraph(f"{metric_name(key)}: {fmt_estimate(val)}."))
    queue = unc.get("review_queue")
    if isinstance(queue, Mapping):
        queue = queue.get("rows", queue.get("items"))
    if isinstance(queue, list) and queue:
        shown = [q for q in queue if isinstance(q, Mapping)][:MAX_QUEUE_ROWS]
        signals = unc.get("review_signals") if isinstance(unc.get("review_signals"), list) else []
        blocks.append(Heading("Review queue"))
        blocks.append(Paragraph(f"The {len(shown)} rows that most need a human look, highest priority first"
                                + (f" (signals: {', '.join(metric_name(x).lower() for x in signals)})" if signals else "") + "."))
        sig_keys = [k for k in dict.fromkeys(k for q in shown if isinstance(q.get("signals"), Mapping) for k in q["signals"])][:4]
        rows = []
        for q in shown:
            sig = q.get("signals") if isinstance(q.get("signals"), Mapping) else {}
            rows.append([Cell(fmt_number(q.get("row")), "num"), Cell(fmt_number(_num(q.get("priority"))), "num"),
                         Cell(_cell_text(q.get("prediction"))), Cell(fmt_number(_num(q.get("confidence"))), "num")]
                        + [Cell(fmt_number(_num(sig.get(k))), "num") for k in sig_keys]
                        + [Cell(str(q.get("reason", "")))])
        blocks.append(Table(["Row", "Priority", "Prediction", "Confidence"] + [metric_name(k) for k in sig_keys] + ["Reason"], rows))
        if any(_num(q.get("priority")) is not None for q in shown):
            blocks.append(ids.chart(
                "bars", "Review queue", "Bars: review priority of the rows in the queue (1 is the most urgent).",
                {"labels": [f"row {_cell_text(q.get('row'))}" for q in shown],
                 "values": [_num(q.get("priority")) for q in shown], "xlabel": "priority"}))
    if not blocks:
        raise ValueError("no uncertainty measures")
    return blocks


def _cell_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return fmt_estimate(v) if "value" in v else ", ".join(f"{k}: {_cell_text(x)}" for k, x in v.items())
    return fmt_number(v) if _is_number(v) or v is None or isinstance(v, bool) else str(v)


_BUILDERS: dict[str, Callable[[Mapping[str, Any], _Ids], list[Block]]] = {
    "performance": _performance,
    "fairness": _fairness,
    "explanations": _explanations,
    "ood": _ood,
    "uncertainty": _uncertainty,
}


def check_sections(doc: Mapping[str, Any], ids: _Ids) -> list[Section]:
    """One Section per known check (ran, skipped with its reason, or absent), then unknown extra sections."""
    out = []
    checks = doc.get("checks") if isinstance(doc.get("checks"), Mapping) else {}
    for key, title in SECTION_TITLES.items():
        info = checks.get(key) if isinstance(checks.get(key), Mapping) else {}
        section = doc.get(key)
        if not isinstance(section, Mapping):
            if info.get("status") in ("skipped", "error"):
                reason = info.get("reason") if info.get("status") == "skipped" else f"the check failed: {info.get('error')}"
                out.append(Section(key, title, state="skipped", reason=str(reason or "no reason recorded")))
            else:
                out.append(Section(key, title, state="absent", reason="this check was not part of the audit"))
            continue
        mark = ids.n
        try:
            blocks = _BUILDERS[key](doc, ids)
            sec = Section(key, title, blocks=blocks)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            logger.warning("The %s section has a layout this report does not know (%s); showing its values.", key, exc)
            ids.n = mark
            sec = generic_section(key, title, section,
                                  note="This section's layout is not one this report version knows; its values are listed as recorded.")
        if info.get("status") == "ran" and _is_number(info.get("seconds")):
            sec.blocks.append(Paragraph(
                f"{fmt_number(info.get('model_calls'))} model calls, {fmt_number(info.get('rows_evaluated'))} rows "
                f"evaluated, {fmt_number(info.get('seconds'))} s.", "muted"))
        out.append(sec)
    return out


# ---------------------------------------------------------------------------- summary
def _verdict_table(doc: Mapping[str, Any]) -> Table:
    rows = []
    order = {"fail": 0, "warn": 1, "pass": 2}
    verdicts = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping)]
    for v in sorted(verdicts, key=lambda v: order.get(v.get("status"), 3)):
        st = _status(v.get("status"))
        rows.append([Cell(st, st), Cell(SECTION_TITLES.get(str(v.get("check")), str(v.get("check", "")))),
                     Cell(metric_name(v.get("metric", "")) + (f" — {v['subject']}" if v.get("subject") else "")),
                     Cell(fmt_number(_num(v.get("value"))), "num"), Cell(fmt_number(_num(v.get("threshold"))), "num"),
                     Cell(str(v.get("message", "")))])
    return Table(["Status", "Check", "Metric", "Value", "Threshold", "Message"], rows)


def _findings(doc: Mapping[str, Any]) -> list[Finding]:
    """The three most important findings, in plain words: failures, then warnings, then headlines."""
    cands: list[tuple[float, Finding]] = []
    for v in doc.get("verdicts", []):
        if not isinstance(v, Mapping) or v.get("status") not in ("fail", "warn"):
            continue
        value, thr = _num(v.get("value")), _num(v.get("threshold"))
        breach = abs(value - thr) / max(abs(thr), 1e-12) if value is not None and thr is not None else 0.0
        base = 3.0 if v["status"] == "fail" else 2.0
        check = SECTION_TITLES.get(str(v.get("check")), str(v.get("check", "")))
        message = str(v.get("message", ""))
        metric = str(v.get("metric", ""))
        if metric:
            message = message.replace(metric, metric_name(metric).lower() if metric_name(metric) != metric else metric, 1)
        cands.append((base + min(breach, 0.99), Finding(v["status"], f"{check}: {message[:1].upper() + message[1:]}")))
    perf = doc.get("performance")
    if isinstance(perf, Mapping) and isinstance(perf.get("metrics"), Mapping):
        m = perf["metrics"]
        key = next((k for k in ("roc_auc", "accuracy", "r2", "mae") if k in m), None)
        if key:
            cands.append((1.0, Finding("info", f"Performance: {metric_name(key)} is {fmt_estimate(m[key])} on "
                                               f"{fmt_number(perf.get('n'))} rows.")))
    fair = doc.get("fairness")
    if isinstance(fair, Mapping):
        worst: tuple[float, str, str, str] | None = None
        for attr, entry in fairness_attributes(fair).items():
            ratios = _impact_ratios(entry)
            left = entry.get("left_out") if isinstance(entry.get("left_out"), Mapping) else {}
            for g, r in ratios.items():
                if isinstance(left.get(g), Mapping) and "selection_rate" in (left[g].get("rates") or []):
                    continue  # a small group is shown, not headlined
                if r is not None and (worst is None or r < worst[0]):
                    worst = (r, attr, g, str(entry.get("reference_group", "")))
        if worst:
            cands.append((0.9, Finding("info", f"Fairness: the lowest impact ratio is {fmt_number(worst[0])}, for "
                                               f"{attribute_name(worst[1])} = {worst[2]} (four-fifths rule: 0.8).")))
    ood = doc.get("ood")
    if isinstance(ood, Mapping) and isinstance(ood.get("scores"), Mapping):
        best = max(((n, _num(s.get("auroc"))) for n, s in ood["scores"].items() if isinstance(s, Mapping) and _num(s.get("auroc")) is not None),
                   key=lambda t: t[1], default=None)
        if best:
            cands.append((0.8, Finding("info", f"Out of distribution: the best score, {metric_name(best[0])}, "
                                               f"separates the unfamiliar inputs with AUROC {fmt_number(best[1])}.")))
    cands.sort(key=lambda t: -t[0])
    return [f for _, f in cands[:3]]


def _reproducibility(doc: Mapping[str, Any]) -> Section:
    model, data = doc.get("model", {}), doc.get("data", {})
    engine, ev = doc.get("engine", {}), doc.get("evaluations", {})
    items = [
        ("Model file", str(model.get("path", "—"))),
        ("Model sha256", str(model.get("sha256", "—"))),
        ("Model producer / opset", f"{model.get('producer', '—')} / opset {model.get('opset', '—')}"),
        ("Data file", str(data.get("path") or "in-memory data")),
        ("Data sha256", str(data.get("sha256", "—"))),
        ("Rows audited", fmt_number(data.get("rows"))),
        ("Execution provider", str(model.get("provider", "—"))),
        ("Seed", fmt_number(doc.get("seed"))),
        ("Engine", f"{engine.get('name', 'audit-engine')} {engine.get('version', '')}"),
        ("Schema version", str(doc.get("schema_version", "—"))),
        ("Created", str(doc.get("created", "—"))),
        ("Model evaluations", f"{fmt_number(ev.get('model_calls'))} calls, {fmt_number(ev.get('rows_evaluated'))} rows, "
                              f"{fmt_number(ev.get('seconds'))} s in the model"),
    ]
    if _is_number(ev.get("total_seconds")):
        items.append(("Total time", f"{fmt_number(ev.get('total_seconds'))} s"))
    packages = engine.get("packages")
    blocks: list[Block] = [KeyValues(items)]
    if isinstance(packages, Mapping) and packages:
        blocks.append(Table(["Package", "Version"], [[Cell(str(k)), Cell(str(v))] for k, v in packages.items()],
                            caption="Package versions"))
    blocks.append(Preformatted(json.dumps(doc.get("config", {}), indent=2, ensure_ascii=False, sort_keys=True),
                               caption="Configuration"))
    blocks.append(Paragraph("Rebuild this report from audit.json alone with "
                            "audit-engine render audit.json --template audit --out report.html.", "muted"))
    return Section("reproducibility", "Reproducibility", blocks=blocks)


def _notices(doc: Mapping[str, Any]) -> list[str]:
    from ..result import SCHEMA_VERSION

    version = str(doc.get("schema_version", ""))
    notes = []
    try:
        have = tuple(int(x) for x in version.split("."))
        mine = tuple(int(x) for x in SCHEMA_VERSION.split("."))
    except ValueError:
        return notes
    if have[1:] < mine[1:]:
        notes.append(f"This audit.json was written with schema {version}, older than this engine's {SCHEMA_VERSION}; "
                     "sections added since are shown as not recorded.")
    elif have[1:] > mine[1:]:
        notes.append(f"This audit.json was written with schema {version}, newer than this engine's {SCHEMA_VERSION}; "
                     "keys this version does not know are not shown.")
    return notes


def _subtitle(doc: Mapping[str, Any]) -> str:
    model, data = doc.get("model", {}), doc.get("data", {})
    return (f"Model {model.get('path', '—')} audited on {data.get('path') or 'in-memory data'} "
            f"({fmt_number(data.get('rows'))} rows), {doc.get('created', '')}.")


def audit_view(doc: Mapping[str, Any]) -> AuditView:
    """The default report: summary (status, three findings, verdicts), one section per check, reproducibility."""
    ids = _Ids()
    verdicts = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping)]
    counts = [(s, sum(1 for v in verdicts if v.get("status") == s)) for s in STATUSES]
    return AuditView(
        title=f"Audit of {doc.get('model', {}).get('path', 'a model')}",
        status=_status(doc.get("status")),
        subtitle=_subtitle(doc),
        findings=_findings(doc),
        verdict_counts=counts,
        verdicts=_verdict_table(doc),
        sections=check_sections(doc, ids),
        reproducibility=_reproducibility(doc),
        notices=_notices(doc),
    )


# ---------------------------------------------------------------------------- model card
_CARD_FIELDS = (
    ("owners", "Owners"),
    ("version", "Model version"),
    ("date", "Model date"),
    ("license", "License"),
    ("contact", "Contact"),
    ("citation", "Citation"),
)
_UNWRITTEN = "Not provided: the model owner should write this in the config's [model_card] table."


def _card_text(card: Mapping[str, Any], key: str) -> str:
    val = card.get(key)
    if val is None or val == "" or val == []:
        return ""
    if isinstance(val, (list, tuple)):
        return "; ".join(str(x) for x in val)
    if isinstance(val, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in val.items())
    return str(val)


def _card_paragraph(card: Mapping[str, Any], key: str) -> Paragraph:
    text = _card_text(card, key)
    return Paragraph(text) if text else Paragraph(_UNWRITTEN, "missing")


def model_card_view(doc: Mapping[str, Any]) -> ModelCardView:
    """A model card (Mitchell et al. 2019): measured sections from audit.json, written ones from config.model_card."""
    ids = _Ids()
    card = doc.get("config", {}).get("model_card") or {}
    card = card if isinstance(card, Mapping) else {}
    model, data = doc.get("model", {}), doc.get("data", {})
    sections = []
    details = [(label, _card_text(card, key) or "not provided") for key, label in _CARD_FIELDS]
    details += [
        ("Model file", str(model.get("path", "—"))),
        ("sha256", str(model.get("sha256", "—"))),
        ("Format", f"ONNX opset {model.get('opset', '—')}, produced by {model.get('producer', '—')}"),
        ("Task", str(model.get("task", "—"))),
        ("Classes", ", ".join(str(c) for c in (model.get("classes") or [])) or "—"),
        ("Inputs", "; ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in model.get("inputs", []) if isinstance(t, Mapping))),
        ("Outputs audited", f"{model.get('output', '—')} ({model.get('output_kind', '—')})"),
    ]
    sections.append(Section("details", "Model details", blocks=[KeyValues(details), _card_paragraph(card, "description")]
                            if _card_text(card, "description") else [KeyValues(details)]))
    sections.append(Section("intended_use", "Intended use", blocks=[
        Heading("Primary intended uses"), _card_paragraph(card, "intended_use"),
        Heading("Primary intended users"), _card_paragraph(card, "intended_users"),
        Heading("Out-of-scope uses"), _card_paragraph(card, "out_of_scope_uses"),
    ]))
    sens = data.get("sensitive") or []
    factors = [Paragraph("Audited groups: " + (", ".join(str(s) for s in sens) + " and their intersections."
                                               if sens else "no sensitive attributes were given to the audit."))]
    if _card_text(card, "factors"):
        factors.append(Paragraph(_card_text(card, "factors")))
    sections.append(Section("factors", "Factors", blocks=factors))
    perf = doc.get("performance")
    if isinstance(perf, Mapping) and isinstance(perf.get("metrics"), Mapping):
        rows = [[Cell(metric_name(k)), Cell(fmt_number(_num(m)), "num"), Cell(_interval_text(m), "num")]
                for k, m in perf["metrics"].items()]
        blocks: list[Block] = [Paragraph("Measured by the audit on the evaluation data below, with bootstrap intervals."),
                               Table(["Metric", "Value", "95% interval"], rows)]
        cal = perf.get("calibration")
        if isinstance(cal, Mapping) and _numbers(cal.get("mean_predicted")) and _numbers(cal.get("observed")):
            blocks.append(ids.chart("calibration", "Calibration", "Reliability diagram of the model's probabilities.",
                                    {"mean_predicted": _numbers(cal["mean_predicted"]), "observed": _numbers(cal["observed"]),
                                     "count": _numbers(cal.get("count")) or [], "bins": _numbers(cal.get("bins")) or []}))
        sections.append(Section("metrics", "Metrics", blocks=blocks))
    else:
        sections.append(_not_run(doc, "performance", "metrics", "Metrics"))
    sections.append(Section("evaluation_data", "Evaluation data", blocks=[
        KeyValues([("File", str(data.get("path") or "in-memory data")), ("sha256", str(data.get("sha256", "—"))),
                   ("Rows", fmt_number(data.get("rows"))), ("Target", str(data.get("target") or "—")),
                   ("Features", fmt_number(len(data.get("features") or [])))]),
        _card_paragraph(card, "evaluation_data") if _card_text(card, "evaluation_data") else Paragraph(
            "Chosen by whoever ran the audit; see the file and hash above.", "muted")]))
    sections.append(Section("training_data", "Training data", blocks=[_card_paragraph(card, "training_data")]))
    fair = doc.get("fairness")
    if isinstance(fair, Mapping) and fairness_attributes(fair):
        rows = []
        for attr, entry in fairness_attributes(fair).items():
            metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
            for k in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                      "equal_opportunity_difference"):
                if k in metrics:
                    rows.append([Cell(attribute_name(attr)), Cell(metric_name(k)), Cell(fmt_number(_num(metrics[k])), "num"),
                                 Cell(_interval_text(metrics[k]), "num")])
        sections.append(Section("quantitative", "Quantitative analyses", blocks=[
            Paragraph("Disaggregated by each audited group; the audit report holds the full group tables."),
            Table(["Attribute", "Metric", "Value", "95% interval"], rows[:MAX_TABLE_ROWS])]))
    else:
        sections.append(_not_run(doc, "fairness", "quantitative", "Quantitative analyses"))
    sections.append(Section("ethics", "Ethical considerations", blocks=[_card_paragraph(card, "ethical_considerations")]))
    caveats: list[Block] = [_card_paragraph(card, "caveats") if _card_text(card, "caveats") else _card_paragraph(card, "limitations")]
    flagged = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping) and v.get("status") in ("warn", "fail")]
    if flagged:
        caveats.append(Heading("Found by the audit"))
        caveats.append(Table(["Status", "Finding"], [[Cell(_status(v.get("status")), _status(v.get("status"))),
                                                      Cell(str(v.get("message", "")))] for v in flagged[:MAX_TABLE_ROWS]]))
    sections.append(Section("caveats", "Caveats and recommendations", blocks=caveats))
    name = _card_text(card, "name") or str(model.get("path", "model"))
    return ModelCardView(title=f"Model card: {name}", status=_status(doc.get("status")), subtitle=_subtitle(doc),
                         sections=sections, notices=_notices(doc))


def _not_run(doc: Mapping[str, Any], check: str, key: str, title: str) -> Section:
    info = doc.get("checks", {}).get(check) if isinstance(doc.get("checks"), Mapping) else None
    if isinstance(info, Mapping) and info.get("status") == "skipped":
        return Section(key, title, state="skipped", reason=str(info.get("reason", "no reason recorded")))
    return Section(key, title, state="absent", reason=f"the {check} check was not part of the audit")


# ---------------------------------------------------------------------------- bias audit (NYC LL144)
_SEX = re.compile(r"sex|gender", re.I)
_RACE = re.compile(r"race|ethnic", re.I)


def _ll144_kind(attr: str) -> str | None:
    parts = attr.split("*")
    if len(parts) == 1:
        return "sex" if _SEX.search(attr) else "race" if _RACE.search(attr) else None
    if len(parts) == 2 and {_ll144_kind(parts[0]), _ll144_kind(parts[1])} == {"sex", "race"}:
        return "intersection"
    return None


def bias_audit_view(doc: Mapping[str, Any]) -> BiasAuditView:
    """Impact-ratio tables in the form of a NYC Local Law 144 bias audit, with the four-fifths rule outcome.

    Categories: sex, race/ethnicity and their intersection (recognised by attribute name; other
    attributes are listed after them). Selection rate = share of the category the model selects
    (predicts positive); impact ratio = a category's selection rate / the highest category's.
    Categories under 2% of the rows are marked and left out of the four-fifths outcome, as the
    law's rules allow; rows whose category is unknown are counted.
    """
    fair = doc.get("fairness")
    attrs = fairness_attributes(fair) if isinstance(fair, Mapping) else {}
    kinds = {"sex": "Sex", "race": "Race/ethnicity", "intersection": "Intersectional (sex × race/ethnicity)"}
    ordered = sorted(attrs.items(), key=lambda kv: ["sex", "race", "intersection", None].index(_ll144_kind(kv[0])))
    sections: list[Section] = []
    failing: list[str] = []
    ids = _Ids()
    refused = next((e for e in attrs.values() if "favorable_label" in e and e.get("favorable_label") is None), None)
    favorable = next((e.get("favorable_label") for e in attrs.values() if e.get("favorable_label") is not None), None)
    if refused is not None:  # selection has no direction without the favourable outcome: no tables
        ordered = []
    for attr, entry in ordered:
        kind = _ll144_kind(attr)
        title = kinds[kind] if kind else f"Other attribute: {attribute_name(attr)}"
        ll = entry.get("ll144") if isinstance(entry.get("ll144"), Mapping) else {}
        four = _four_fifths_threshold(entry)
        min_share = float(ll["min_share"]) if _is_number(ll.get("min_share")) else SMALL_CATEGORY_SHARE
        cats = ll.get("categories") if isinstance(ll.get("categories"), Mapping) else None
        if cats is None:  # older layout: derive the table from the group figures
            groups = {str(k): v for k, v in entry["groups"].items() if isinstance(v, Mapping)}
            total = sum(float(g["n"]) for g in groups.values() if _is_number(g.get("n"))) or 1.0
            ratios = _impact_ratios(entry)
            cats = {}
            for name, g in groups.items():
                share = float(g["n"]) / total if _is_number(g.get("n")) else None
                small = share is not None and share < min_share
                cats[name] = {"n": g.get("n"), "share": share, "selection_rate": g.get("selection_rate"),
                              "impact_ratio": None if small else ratios.get(name), "excluded": small}
        unknown = ll.get("unknown", entry.get("unknown"))
        rows = []
        bars_l, bars_v = [], []
        for name, c in list(cats.items())[:MAX_TABLE_ROWS]:
            if not isinstance(c, Mapping):
                continue
            small = c.get("excluded") is True
            ratio = _num(c.get("impact_ratio"))
            passes = None if small or ratio is None else ratio >= four
            if passes is False:
                failing.append(f"{attribute_name(attr)} = {attribute_name(name) if '*' in attr else name}")
            label = attribute_name(name) if "*" in attr else str(name)
            rows.append([Cell(label), Cell(fmt_number(c.get("n")), "num"),
                         Cell(fmt_number(_num(c.get("share")), percent=True), "num"),
                         Cell(fmt_number(_num(c.get("selection_rate"))), "num"),
                         Cell(fmt_number(ratio) if not small else "excluded", "num" + (" fail" if passes is False else "")),
                         Cell(f"under {fmt_number(min_share, percent=True, digits=2)}" if small else "", "flag" if small else ""),
                         Cell("—" if passes is None else "meets 4/5" if passes else "below 4/5",
                              "" if passes is None else "pass" if passes else "fail")])
            if not small and ratio is not None:
                bars_l.append(label)
                bars_v.append(ratio)
        blocks: list[Block] = []
        most = ll.get("most_selected_group", (entry.get("four_fifths") or {}).get("most_selected_group")
                      if isinstance(entry.get("four_fifths"), Mapping) else None)
        if most is not None:
            blocks.append(Paragraph(f"Most selected category: {most}."))
        blocks.append(Table(["Category", "Number of applicants", "Share of data", "Selection rate", "Impact ratio",
                             "Small category", "Four-fifths rule"], rows))
        more = len(cats) - len(rows)
        if more > 0:
            blocks.append(Paragraph(f"{more} more categories are in audit.json.", "muted"))
        if unknown is not None:
            blocks.append(Paragraph(f"Rows whose category is unknown (not in any category above): {fmt_number(unknown)}."))
        if bars_v:
            blocks.append(ids.chart("bars", f"Impact ratios: {title}", f"Bars: impact ratio per category for {title}; "
                                    f"the dashed line at {fmt_number(four)} is the four-fifths rule.",
                                    {"labels": bars_l[:MAX_BARS], "values": bars_v[:MAX_BARS], "xlabel": "impact ratio",
                                     "line": four}))
        sections.append(Section(f"attr-{len(sections) + 1}", title, blocks=blocks))
    if refused is not None:
        reason = refused.get("impact_refused") or "the favourable outcome is not declared"
        outcome = Finding("unknown", f"No bias audit: {reason}.")
    elif not attrs:
        info = doc.get("checks", {}).get("fairness") if isinstance(doc.get("checks"), Mapping) else None
        reason = info.get("reason") if isinstance(info, Mapping) and info.get("reason") else "no sensitive attributes were audited"
        outcome = Finding("unknown", f"No impact ratios: {reason}.")
    elif failing:
        outcome = Finding("fail", f"Four-fifths rule not met by {len(failing)} categor{'y' if len(failing) == 1 else 'ies'}: "
                                  + ", ".join(failing[:10]) + ("…" if len(failing) > 10 else "") + ".")
    else:
        outcome = Finding("pass", "Every category that is not excluded as small has an impact ratio at or above the "
                                  "four-fifths threshold.")
    selects = ("predicts the positive class" if favorable is None
               else f"predicts the favourable outcome, class {favorable},")
    method = Section("method", "Method", blocks=[Paragraph(
        f"Selection rate: the share of a category that the model selects ({selects} at the "
        f"decision threshold {fmt_number(doc.get('config', {}).get('threshold'))}). Impact ratio: a category's "
        "selection rate divided by the selection rate of the most selected category. Categories under 2% of the "
        "data are marked and excluded from the four-fifths outcome. This view follows the tables required for "
        "bias audits of automated employment decision tools under New York City Local Law 144 (rules at "
        "6 RCNY § 5-300 et seq.); whether the law applies to this model is for the employer to decide.")])
    return BiasAuditView(title=f"Bias audit: {doc.get('model', {}).get('path', 'model')}", status=_status(doc.get("status")),
                         subtitle=_subtitle(doc), outcome=outcome, sections=[method] + sections, notices=_notices(doc))


VIEW_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "audit": audit_view,
    "model-card": model_card_view,
    "bias-audit": bias_audit_view,
}
