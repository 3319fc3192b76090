"""The Fairness section: per sensitive attribute, group rates, gaps with intervals and tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..blocks import Block, Cell, Figures, Heading, MAX_TABLE_ROWS, Paragraph, Table
from ..format import _Ids, _ci, _estimate, _interval_text, _is_number, _num, _numbers, attribute_name, fmt_number, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult


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


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The fairness section's blocks for ``result`` (empty when the check did not run)."""
    return _fairness(result.to_dict(), ids)  # transitional: reads the JSON form until this section is typed
