"""The Fairness section: per attribute and intersection, group rates, gaps with intervals and tests.

Reads the typed :class:`~audit_engine.results.fairness.FairnessResult` only. Each view shows
its groups (with n) and rates with intervals, its gaps once (between groups, and to the
reference group only where that differs), the four-fifths rule, and per-group charts whose
labels carry the group sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...results.fairness import AttributeFairness, FairnessResult, GroupRates, ThresholdSweep
from ...results.performance import MIN_BIN_ROWS
from ...stats import Estimate
from ..blocks import MAX_BARS, MAX_TABLE_ROWS, Block, Cell, Chart, Figures, Heading, Paragraph, Table
from ..format import _Ids, _num, attribute_name, fmt_number, metric_name
from .performance import estimate_cell, level_text

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["section_blocks", "group_label", "group_rate_columns", "fairness_attributes", "lowest_impact_ratio"]

_CLASSIFICATION_COLUMNS = ("selection_rate", "impact_ratio", "base_rate", "accuracy", "tpr", "fpr", "precision")
_REGRESSION_COLUMNS = ("mean_prediction", "mean_target", "mean_error", "mean_absolute_error")
# Group tables hold at most these rates each, so they fit a printed page.
_TABLES = (("Outcomes by group", ("selection_rate", "impact_ratio", "base_rate", "accuracy")),
           ("Error rates by group (true positive rate among the group's positives, false positive rate among its "
            "negatives, precision among its predicted positives)", ("tpr", "fpr", "precision")),
           ("Predictions and errors by group", _REGRESSION_COLUMNS))
_FLAG_TEXT = {"small_group": "small group", "no_positives": "no positives", "no_negatives": "no negatives",
              "no_predicted_positives": "nobody selected"}
_MAX_SERIES = 6
_SAME = 1e-12


def group_label(view: AttributeFairness, name: str, *, n: bool = True) -> str:
    """``Caucasian (n = 2,103)``; intersections as ``African-American × Male``."""
    label = attribute_name(name) if len(view.attributes) > 1 else str(name)
    size = view.groups[name].n if name in view.groups else None
    return f"{label} (n = {fmt_number(size)})" if n and size is not None else label


def group_rate_columns(view: AttributeFairness) -> list[str]:
    """The rates shown per group: those the view computed, in a fixed order."""
    wanted = _REGRESSION_COLUMNS if view.task == "regression" else _CLASSIFICATION_COLUMNS
    return [k for k in wanted if any(getattr(g, k) is not None for g in view.groups.values())]


def _rate_cell(view: AttributeFairness, g: GroupRates, rate: str) -> Cell:
    est = g.estimate(rate)
    if est is not None and not math.isfinite(est.value):
        return Cell("undefined", "num muted", g.undefined.get(rate, "a zero denominator"))
    cell = estimate_cell(est, reason="no interval was computed")
    if rate == "impact_ratio" and view.four_fifths is not None and est is not None and est.value < view.four_fifths.threshold:
        return Cell(cell.text, "num fail", cell.sub)
    return cell


def _flags(g: GroupRates, left: Any) -> str:
    flags = [_FLAG_TEXT.get(f, f.replace("_", " ")) for f in g.flags]
    if left is not None:
        flags.append("left out of headline gaps for " + ", ".join(metric_name(r).lower() for r in left.rates))
    return "; ".join(flags)


def _groups_tables(view: AttributeFairness) -> list[Table]:
    present = group_rate_columns(view)
    tables = []
    for caption, wanted in _TABLES:
        rates = [r for r in wanted if r in present]
        if not rates:
            continue
        rows = []
        for name, g in list(view.groups.items())[:MAX_TABLE_ROWS]:
            row = [Cell(group_label(view, name, n=False)), Cell(fmt_number(g.n), "num")]
            rows.append(row + [_rate_cell(view, g, r) for r in rates])
        more = len(view.groups) - len(rows)
        tables.append(Table(["Group", "n"] + [metric_name(r) for r in rates], rows, caption=caption,
                            note=f"{more} more groups are in audit.json." if more > 0 else ""))
    return tables


def _flags_paragraph(view: AttributeFairness) -> Paragraph | None:
    """The flagged groups, one clause each (beside the table, so the table stays narrow)."""
    left = view.left_out or {}
    parts = [f"{group_label(view, name)}: {text}" for name, g in view.groups.items() if (text := _flags(g, left.get(name)))]
    if not parts:
        return None
    more = "…" if len(parts) > 12 else ""
    return Paragraph("Flagged groups: " + "; ".join(parts[:12]) + more + ".", "muted")


def _same(a: Estimate, b: Estimate | None) -> bool:
    if b is None:
        return False
    pairs = ((a.value, b.value), (a.ci_low, b.ci_low), (a.ci_high, b.ci_high))
    return all((math.isnan(x) and math.isnan(y)) or abs(x - y) <= _SAME for x, y in pairs)


def _shown_gaps(view: AttributeFairness) -> dict[str, Estimate]:
    """The gaps to show: the lowest impact ratio is left out where it repeats the demographic parity ratio."""
    gaps = dict(view.metrics)
    if "impact_ratio" in gaps and _same(gaps["impact_ratio"], gaps.get("demographic_parity_ratio")):
        del gaps["impact_ratio"]
    return gaps


def _test_cell(est: Estimate) -> Cell:
    p = getattr(est, "p_value", math.nan)
    if not math.isfinite(p):
        return Cell("no test", "muted", "no test of no disparity exists for this gap")
    if getattr(est, "supports_gap", None):
        return Cell("supports a gap", "fail", f"p = {fmt_number(p)}")
    return Cell("no evidence of a gap", "", f"p = {fmt_number(p)}")


def _gaps_table(view: AttributeFairness, gaps: dict[str, Estimate]) -> Table:
    ref = view.reference_metrics or {}
    both = any(not _same(est, ref.get(k)) for k, est in gaps.items() if k in ref)
    two = len(view.groups) == 2
    cols = ["Gap", "Between the two groups" if two else "Between groups (max − min)"]
    if both:
        cols.append(f"To the reference group ({view.reference_group})")
    cols.append("Test of no disparity")
    rows = []
    for k, est in gaps.items():
        row = [Cell(metric_name(k)), estimate_cell(est, reason=view.undefined_metrics.get(k, ""))]
        if both:
            row.append(estimate_cell(ref.get(k), reason="not measured to the reference group"))
        rows.append(row + [_test_cell(est)])
    note = "" if both else ("With two groups the gap to the reference group is the gap between them, so it is shown once."
                            if two else "The gaps to the reference group equal the gaps between groups and are shown once.")
    if "impact_ratio" in view.metrics and "impact_ratio" not in gaps:
        note += (" " if note else "") + ("The lowest impact ratio equals the demographic parity ratio (lowest over "
                                         "highest selection rate) and is shown once.")
    return Table(cols, rows, note=note)


def _four_fifths_paragraph(view: AttributeFairness) -> Paragraph | None:
    ff = view.four_fifths
    if ff is None or ff.passes is None:
        return None
    text = (f"Four-fifths rule (impact ratio at least {fmt_number(ff.threshold)} against the most selected group, "
            f"{attribute_name(ff.most_selected_group or '—')}): ")
    if ff.passes:
        return Paragraph(text + "met by every group.")
    below = list(ff.below)
    return Paragraph(text + f"not met by {len(below)} group{'s' if len(below) != 1 else ''}: "
                     + ", ".join(attribute_name(b) for b in below[:12]) + ("…" if len(below) > 12 else "") + ".", "fail")


def _ll144_paragraph(view: AttributeFairness) -> Paragraph | None:
    """The bias-audit view's impact ratios beside this report's, with the two rules (issue 22, defect 4)."""
    ll = view.ll144
    if ll is None or not view.impact_ratios:
        return None
    left = view.left_out or {}
    mine = [g for g in view.impact_ratios if not (g in left and "selection_rate" in left[g].rates)]
    parts = []
    differs = False
    for g, c in ll.categories.items():
        label = attribute_name(g)
        ours = view.impact_ratios.get(g)
        in_ours = g in mine
        if c.excluded:
            parts.append(f"{label} excluded")
            differs |= in_ours
        else:
            parts.append(f"{label} {fmt_number(c.impact_ratio)}")
            differs |= (not in_ours) or ours is None or c.impact_ratio is None or abs(ours - c.impact_ratio) > 1e-9
    rule = (f"Impact ratios above: groups with at least {fmt_number(view.min_group_size)} rows, divided by the most "
            f"selected of them ({attribute_name(view.four_fifths.most_selected_group or '—') if view.four_fifths else '—'}). "
            f"The bias-audit view follows the Local Law 144 rule instead (categories under "
            f"{fmt_number(ll.min_share, percent=True, digits=2)} of the rows excluded, divided by the most selected "
            f"remaining category, {attribute_name(ll.most_selected_group or '—')})")
    verdict = ", so its figures differ: " if differs else "; its figures agree: "
    more = "…" if len(parts) > 12 else ""
    return Paragraph(rule + verdict + "; ".join(parts[:12]) + more + ".", "muted")


def _largest(view: AttributeFairness, names: Any) -> list[str]:
    return sorted((str(n) for n in names if n in view.groups), key=lambda n: -(view.groups[n].n or 0))[:_MAX_SERIES]


def _charts(view: AttributeFairness, gaps: dict[str, Estimate], ids: _Ids) -> list[Chart]:
    name = attribute_name("*".join(view.attributes))
    out = []
    rate = "mean_prediction" if view.task == "regression" else "selection_rate"
    groups = [(k, g.estimate(rate)) for k, g in list(view.groups.items())[:MAX_BARS]]
    groups = [(k, e) for k, e in groups if e is not None and math.isfinite(e.value)]
    if groups:
        out.append(ids.chart("interval_bars", f"{metric_name(rate)} by group: {name}",
                             f"Bars: {metric_name(rate).lower()} of each group of {name} (label: group and its rows); "
                             "whiskers: intervals.",
                             {"labels": [group_label(view, k) for k, _ in groups], "values": [e.value for _, e in groups],
                              "low": [e.ci_low for _, e in groups], "high": [e.ci_high for _, e in groups],
                              "xlabel": metric_name(rate).lower()}))
    diffs = [k for k, e in gaps.items() if k.endswith("difference") and math.isfinite(e.value)]
    if diffs:
        out.append(ids.chart("interval_bars", f"Gaps for {name}",
                             f"Bars: fairness gaps (max − min over groups) for {name}; whiskers: intervals; 0 means no gap.",
                             {"labels": [metric_name(k) for k in diffs], "values": [gaps[k].value for k in diffs],
                              "low": [gaps[k].ci_low for k in diffs], "high": [gaps[k].ci_high for k in diffs],
                              "reference": 0.0, "xlabel": "difference"}))
    if view.sweep is not None:
        out += _sweep_charts(view, view.sweep, name, ids)
    if view.calibration is not None:
        series = {}
        for g in _largest(view, view.calibration.groups):
            cal = view.calibration.groups[g]
            keep = [c >= MIN_BIN_ROWS for c in cal.count]
            series[group_label(view, g)] = {
                "mean_predicted": [v if ok else None for v, ok in zip(cal.mean_predicted, keep, strict=True)],
                "observed": [v if ok else None for v, ok in zip(cal.observed, keep, strict=True)],
                "count": list(cal.count)}
        if series:
            out.append(ids.chart("group_calibration", f"Calibration by group: {name}",
                                 f"Reliability diagram per group of {name} (largest groups; label: group and its rows); "
                                 f"bins with fewer than {MIN_BIN_ROWS} rows of a group are not drawn.", {"series": series}))
    return out


def _sweep_charts(view: AttributeFairness, sweep: ThresholdSweep, name: str, ids: _Ids) -> list[Chart]:
    out = []
    series = {metric_name(k): list(v) for k, v in sweep.gaps.items() if k.endswith("difference")}
    if series:
        out.append(ids.chart("sweep", f"Gaps across thresholds: {name}",
                             f"Lines: fairness gaps for {name} as the decision threshold moves (point values).",
                             {"x": list(sweep.thresholds), "series": series, "xlabel": "decision threshold", "ylabel": "gap"}))
    rates = {group_label(view, g): list(sweep.groups[g]["selection_rate"]) for g in _largest(view, sweep.groups)
             if "selection_rate" in sweep.groups[g]}
    if rates:
        out.append(ids.chart("sweep", f"Selection rate across thresholds: {name}",
                             f"Lines: selection rate of each of the largest groups of {name} (label: group and its rows) "
                             "as the decision threshold moves (point values).",
                             {"x": list(sweep.thresholds), "series": rates, "xlabel": "decision threshold",
                              "ylabel": "selection rate"}))
    return out


def _view_blocks(view: AttributeFairness, key: str, ids: _Ids) -> list[Block]:
    name = attribute_name(key)
    facts = [f"{fmt_number(view.n)} rows", f"reference group: {attribute_name(view.reference_group)}"]
    if view.unknown:
        facts.append(f"{fmt_number(view.unknown)} rows with an unknown value are not in any group")
    blocks: list[Block] = [Heading(name), Paragraph("; ".join(facts) + ".")]
    if view.left_out:
        rule = (f" (at least {fmt_number(view.min_group_size)} rows, {fmt_number(view.min_class_rows)} in a rate's "
                "denominator)" if view.min_group_size is not None else "")
        blocks.append(Paragraph(f"{len(view.left_out)} group{'s are' if len(view.left_out) != 1 else ' is'} shown with "
                                f"their numbers but left out of headline gaps and verdicts{rule}.", "muted"))
    blocks += _groups_tables(view)
    flagged = _flags_paragraph(view)
    if flagged is not None:
        blocks.append(flagged)
    four = _four_fifths_paragraph(view)
    if four is not None:
        blocks.append(four)
    other = _ll144_paragraph(view)
    if other is not None:
        blocks.append(other)
    gaps = _shown_gaps(view)
    if gaps:
        blocks.append(_gaps_table(view, gaps))
    if view.unavailable:
        blocks.append(Paragraph("Not measured: " + "; ".join(f"{metric_name(k)} ({v})" for k, v in view.unavailable.items())
                                + ".", "muted"))
    if view.per_class:
        blocks.append(Paragraph(f"Per class (one against the rest): {', '.join(view.per_class)}; each class's group "
                                "rates and gaps are in audit.json; the gaps above are the worst class.", "muted"))
    figs = _charts(view, gaps, ids)
    if figs:
        blocks.append(Figures(figs))
    return blocks


def fairness_blocks(fair: FairnessResult, ids: _Ids, *, confidence: float = 0.95) -> list[Block]:
    first = next(iter(fair.values()))
    intro = "Group metrics of the model's decisions"
    if first.threshold is not None:
        intro = f"Group metrics of the binary decisions at threshold {fmt_number(first.threshold)}"
    if first.positive_label is not None:
        intro += f" (positive class {first.positive_label})"
    blocks: list[Block] = [Paragraph(
        intro + f" for each sensitive attribute and each intersection, with {level_text(confidence)} intervals under "
        "each number. A gap is one the data supports when its permutation test of no disparity gives "
        f"p < {fmt_number(1 - confidence)}; groups too small for a stable figure are shown with their numbers but left "
        "out of headline gaps and verdicts.")]
    if (mult := first.multiplicity) is not None:
        blocks.append(Paragraph(
            f"This audit ran {mult.family_size} tests of no disparity (every gap of every attribute and intersection), so "
            f"each p-value is {mult.method.capitalize()}-adjusted before it can flag a gap: a model that is fair on "
            f"every one of them shows any \"supports a gap\" with a chance of at most {fmt_number(100 * mult.level)}%."))
    if first.task == "classification":
        if first.favorable_label is not None:
            blocks.append(Paragraph(f"Favourable outcome: class {first.favorable_label}. A selection is a prediction of "
                                    "it, so selection rates, impact ratios and the four-fifths rule count how often a "
                                    "group gets it."))
        elif first.impact_refused is not None:
            blocks.append(Paragraph(f"No impact ratios or four-fifths verdicts: {first.impact_refused}.", "warn"))
    for key, view in fair.items():
        blocks += _view_blocks(view, key, ids)
    return blocks


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The fairness section's blocks for ``result`` (empty when the check did not run)."""
    if not result.fairness:
        return []
    confidence = result.performance.confidence if result.performance is not None else result.config["confidence"]
    return fairness_blocks(result.fairness, ids, confidence=float(confidence))


def lowest_impact_ratio(fair: FairnessResult) -> tuple[float, str, str] | None:
    """(ratio, view, group) of the lowest impact ratio over groups not left out for the selection rate."""
    worst: tuple[float, str, str] | None = None
    for key, view in fair.items():
        left = view.left_out or {}
        for g, r in (view.impact_ratios or {}).items():
            if g in left and "selection_rate" in left[g].rates:
                continue  # a small group is shown, not headlined
            if math.isfinite(r) and (worst is None or r < worst[0]):
                worst = (r, key, g)
    return worst


# --- transitional: summary.py (res12-core) still reads the JSON form through these two
def fairness_attributes(fair: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The views of a fairness section in its JSON form."""
    return {str(k): v for k, v in FairnessResult.from_dict(fair).to_dict().items()}


def _impact_ratios(entry: Mapping[str, Any]) -> dict[str, float | None]:
    """A view's impact ratios in its JSON form (None where undefined)."""
    return {str(k): _num(v) for k, v in (entry.get("impact_ratios") or {}).items()}
