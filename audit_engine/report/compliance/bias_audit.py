"""The bias audit view (NYC Local Law 144 style: selection rates and impact ratios by category).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..blocks import BiasAuditView, Block, Cell, Finding, MAX_BARS, MAX_TABLE_ROWS, Paragraph, SMALL_CATEGORY_SHARE, Section, Table
from ..format import _Ids, _is_number, _num, _status, attribute_name, fmt_number
from ..sections.fairness import _four_fifths_threshold, _impact_ratios, fairness_attributes
from ..sections.summary import _notices, _subtitle

if TYPE_CHECKING:
    from ...result import AuditResult


def _not_run(doc: Mapping[str, Any], check: str, key: str, title: str) -> Section:
    info = doc.get("checks", {}).get(check) if isinstance(doc.get("checks"), Mapping) else None
    if isinstance(info, Mapping) and info.get("status") == "skipped":
        return Section(key, title, state="skipped", reason=str(info.get("reason", "no reason recorded")))
    return Section(key, title, state="absent", reason=f"the {check} check was not part of the audit")


_SEX = re.compile(r"sex|gender", re.I)


_RACE = re.compile(r"race|ethnic", re.I)


def _ll144_kind(attr: str) -> str | None:
    parts = attr.split("*")
    if len(parts) == 1:
        return "sex" if _SEX.search(attr) else "race" if _RACE.search(attr) else None
    if len(parts) == 2 and {_ll144_kind(parts[0]), _ll144_kind(parts[1])} == {"sex", "race"}:
        return "intersection"
    return None


def bias_audit_view(result: AuditResult) -> BiasAuditView:
    """Impact-ratio tables in the form of a NYC Local Law 144 bias audit, with the four-fifths rule outcome.

    Categories: sex, race/ethnicity and their intersection (recognised by attribute name; other
    attributes are listed after them). Selection rate = share of the category the model selects
    (predicts positive); impact ratio = a category's selection rate / the highest category's.
    Categories under 2% of the rows are marked and left out of the four-fifths outcome, as the
    law's rules allow; rows whose category is unknown are counted.
    """
    doc = result.to_dict()  # transitional: the typed rewrite reads the result's fields
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
