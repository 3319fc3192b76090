"""The bias audit view (NYC Local Law 144 style: selection rates and impact ratios by category).

Reads the typed fairness result: each view's ``ll144`` table (categories, shares, exclusions
under ``min_share``), with each category's selection-rate interval from the view's groups.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...results.fairness import AttributeFairness
from ..blocks import MAX_BARS, MAX_TABLE_ROWS, BiasAuditView, Block, Cell, Finding, KeyValues, Paragraph, Section, Table
from ..format import _Ids, _status, attribute_name, fmt_number
from ..sections.performance import estimate_cell
from ..sections.first_screen import model_identity
from ..sections.summary import _notices, _subtitle

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["bias_audit_view", "not_run_section", "bias_audit_refusal"]


def bias_audit_refusal(result: AuditResult) -> str | None:
    """Why no bias audit can be written for ``result`` (one sentence with the fix), or None.

    The command line refuses to write the document then (exit 2, nothing written), as for
    every other bad input (issue 22, defect 14).
    """
    fair = result.fairness or {}
    if not fair:
        return ("The audit has no fairness section, so there is no bias audit to write; rerun the audit with "
                "--sensitive COL and --favorable-label V.")
    if any(v.impact_refused is not None for v in fair.values()) or all(v.ll144 is None for v in fair.values()):
        return ("The audit declares no favourable outcome, so selection rates have no direction and no bias audit "
                "can be written; rerun the audit with --favorable-label V (or favorable_label in audit.toml).")
    return None


def not_run_section(result: AuditResult, check: str, key: str, title: str) -> Section:
    """The section of a check that did not run: skipped (with the recorded reason) or absent."""
    info = result.checks.get(check)
    if info is not None and info.status == "skipped":
        return Section(key, title, state="skipped", reason=info.reason or "no reason recorded")
    if info is not None and info.status == "error":
        return Section(key, title, state="skipped", reason=f"the check failed: {info.error}")
    return Section(key, title, state="absent", reason=f"the {check} check was not part of the audit")


_SEX = re.compile(r"sex|gender", re.I)
_RACE = re.compile(r"race|ethnic", re.I)
_KINDS = {"sex": "Sex", "race": "Race/ethnicity", "intersection": "Intersectional (sex × race/ethnicity)"}


def _ll144_kind(attr: str) -> str | None:
    parts = attr.split("*")
    if len(parts) == 1:
        return "sex" if _SEX.search(attr) else "race" if _RACE.search(attr) else None
    if len(parts) == 2 and {_ll144_kind(parts[0]), _ll144_kind(parts[1])} == {"sex", "race"}:
        return "intersection"
    return None


def _category_section(attr: str, view: AttributeFairness, index: int, ids: _Ids, failing: list[str]) -> Section:
    kind = _ll144_kind(attr)
    title = _KINDS[kind] if kind else f"Other attribute: {attribute_name(attr)}"
    ll = view.ll144
    assert ll is not None  # the caller passes views with a Local Law 144 table
    four = view.four_fifths.threshold if view.four_fifths is not None else 0.8
    share_text = fmt_number(ll.min_share, percent=True, digits=2)
    rows, bars_l, bars_v = [], [], []
    left = view.left_out or {}
    for name, c in list(ll.categories.items())[:MAX_TABLE_ROWS]:
        label = attribute_name(name) if "*" in attr else str(name)
        ratio = c.impact_ratio
        passes = None if c.excluded or ratio is None else ratio >= four
        if passes is False:
            failing.append(f"{attribute_name(attr)} = {label}")
        group = view.groups.get(name)
        selection = estimate_cell(group.estimate("selection_rate") if group is not None else None)
        if c.excluded:
            ratio_cell = Cell("excluded", "num muted", f"under {share_text} of the data")
        elif ratio is None:
            ratio_cell = Cell("undefined", "num muted", "no category is selected")
        else:
            ratio_cell = Cell(fmt_number(ratio), "num" + (" fail" if passes is False else ""))
        rows.append([Cell(label), Cell(fmt_number(c.n), "num"), Cell(fmt_number(c.share, percent=True), "num"),
                     selection, ratio_cell, _report_ratio_cell(view, name, left),
                     Cell("—" if passes is None else "meets 4/5" if passes else "below 4/5",
                          "" if passes is None else "pass" if passes else "fail")])
        if passes is not None and ratio is not None:
            bars_l.append(f"{label} (n = {fmt_number(c.n)})")
            bars_v.append(ratio)
    blocks: list[Block] = []
    if ll.most_selected_group is not None:
        blocks.append(Paragraph(f"Most selected category: {attribute_name(ll.most_selected_group)}."))
    more = len(ll.categories) - len(rows)
    blocks.append(Table(
        ["Category", "Rows", "Share of data", "Selection rate", "Impact ratio, this view (point value)",
         "Impact ratio, audit report (point value)", "Four-fifths rule"], rows,
        note=(f"This view excludes categories under {share_text} of the rows and divides by the most selected "
              f"remaining category ({attribute_name(ll.most_selected_group or '—')}). The audit report leaves out groups "
              f"with fewer than {fmt_number(view.min_group_size)} rows instead and divides by its most selected group "
              f"({attribute_name(_report_most_selected(view) or '—')}); its figure is shown beside this one"
              + (" and differs for some categories." if _differs(view) else " and agrees here.")
              + (f" {more} more categories are in audit.json." if more > 0 else ""))))
    blocks.append(Paragraph(f"Rows whose category is unknown (not in any category above): {fmt_number(ll.unknown)}."))
    if bars_v:
        blocks.append(ids.chart("bars", f"Impact ratios: {title}", f"Bars: impact ratio per category for {title} "
                                f"(label: category and its rows); the dashed line at {fmt_number(four)} is the "
                                "four-fifths rule.",
                                {"labels": bars_l[:MAX_BARS], "values": bars_v[:MAX_BARS], "xlabel": "impact ratio",
                                 "line": four}))
    return Section(f"attr-{index}", title, blocks=blocks)


def _report_ratio_cell(view: AttributeFairness, name: str, left: dict) -> Cell:
    """The audit report's impact ratio of a category (its own rule: ``min_group_size``)."""
    if name in left and "selection_rate" in left[name].rates:
        return Cell("left out", "num muted", f"under {fmt_number(view.min_group_size)} rows")
    ratio = (view.impact_ratios or {}).get(name)
    return Cell(fmt_number(ratio), "num") if ratio is not None else Cell("—", "num muted")


def _report_most_selected(view: AttributeFairness) -> str | None:
    return view.four_fifths.most_selected_group if view.four_fifths is not None else None


def _differs(view: AttributeFairness) -> bool:
    """True when the audit report's impact ratio differs from this view's for some category."""
    ll, left = view.ll144, view.left_out or {}
    if ll is None:
        return False
    for name, c in ll.categories.items():
        out_there = name in left and "selection_rate" in left[name].rates
        if c.excluded != out_there:
            return True
        mine, theirs = c.impact_ratio, (view.impact_ratios or {}).get(name)
        if not c.excluded and (mine is None) != (theirs is None):
            return True
        if not c.excluded and mine is not None and theirs is not None and abs(mine - theirs) > 1e-9:
            return True
    return False


# The summary items a published Local Law 144 bias audit carries (6 RCNY § 5-304), written by a
# person in the config's free-text [model_card] table under these keys; absent ones are said to be.
SUMMARY_ITEMS = (
    ("bias_audit_auditor", "Independent auditor"),
    ("bias_audit_date", "Date of the bias audit"),
    ("bias_audit_distribution_date", "Distribution date of the tool"),
    ("bias_audit_data_source", "Source of the data"),
    ("bias_audit_data_explanation", "Explanation of the data (historical or test data, and why)"),
    ("bias_audit_scoring_rate", "Scoring rate (for tools that output a score)"),
)


def _summary_section(result: AuditResult, threshold: float | None) -> Section:
    card = (result.config or {}).get("model_card") or {}
    items = []
    for key, label in SUMMARY_ITEMS:
        value = card.get(key)
        if key == "bias_audit_scoring_rate" and not value:
            value = ("not applicable: this view uses the selection rate, because the model's output is turned into a "
                     f"decision at the threshold {fmt_number(threshold)}" if threshold is not None else None)
        items.append((label, str(value) if value not in (None, "") else "not provided"))
    data = result.data
    items.append(("Rows audited", fmt_number(data.rows)))
    missing = [label for (key, label), (_, v) in zip(SUMMARY_ITEMS, items, strict=False) if v == "not provided"]
    blocks: list[Block] = [KeyValues(items)]
    if missing:
        blocks.append(Paragraph("Not provided: " + "; ".join(missing) + ". Write them in the audit config's "
                                "[model_card] table (keys " + ", ".join(k for k, _ in SUMMARY_ITEMS) + ").", "muted"))
    return Section("bias-audit-summary", "Summary of the bias audit", blocks=blocks)


def bias_audit_view(result: AuditResult) -> BiasAuditView:
    """Impact-ratio tables in the form of a NYC Local Law 144 bias audit, with the four-fifths rule outcome.

    Categories: sex, race/ethnicity and their intersection (recognised by attribute name; other
    attributes are listed after them). Selection rate = share of the category the model selects
    (predicts the favourable outcome); impact ratio = a category's selection rate / the highest
    category's. Categories under ``ll144_min_share`` (2%) of the rows are marked and left out of
    the four-fifths outcome, as the law's rules allow; rows whose category is unknown are counted.
    """
    fair = result.fairness or {}
    order = ["sex", "race", "intersection", None]
    views = sorted(((k, v) for k, v in fair.items() if v.ll144 is not None), key=lambda kv: order.index(_ll144_kind(kv[0])))
    refused = next((v.impact_refused for v in fair.values() if v.impact_refused is not None), None)
    favorable = next((v.favorable_label for v in fair.values() if v.favorable_label is not None), None)
    ids = _Ids()
    failing: list[str] = []
    sections = [] if refused is not None else [_category_section(k, v, i + 1, ids, failing) for i, (k, v) in enumerate(views)]
    if refused is not None:
        outcome = Finding("unknown", f"No bias audit: {refused}.")
    elif not fair:
        info = result.checks.get("fairness")
        reason = info.reason if info is not None and info.reason else "no sensitive attributes were audited"
        outcome = Finding("unknown", f"No impact ratios: {reason}.")
    elif not views:
        outcome = Finding("unknown", "No impact ratios: this audit's fairness section has no Local Law 144 table "
                                     "(regression, or written by an older engine version).")
    elif failing:
        outcome = Finding("fail", f"Four-fifths rule not met by {len(failing)} categor{'y' if len(failing) == 1 else 'ies'}: "
                                  + ", ".join(failing[:10]) + ("…" if len(failing) > 10 else "") + ".")
    else:
        outcome = Finding("pass", "Every category that is not excluded as small has an impact ratio at or above the "
                                  "four-fifths threshold.")
    first = next(iter(fair.values()), None)
    threshold = first.threshold if first is not None and first.threshold is not None else None
    share = views[0][1].ll144.min_share if views else 0.02  # type: ignore[union-attr]
    selects = ("predicts the positive class" if favorable is None
               else f"predicts the favourable outcome, class {favorable},")
    at = f" at the decision threshold {fmt_number(threshold)}" if threshold is not None else ""
    method = Section("method", "Method", blocks=[Paragraph(
        f"Selection rate: the share of a category that the model selects ({selects}{at}), with its interval. Impact "
        "ratio: a category's selection rate divided by the selection rate of the most selected category. Categories "
        f"under {fmt_number(share, percent=True, digits=2)} of the data are marked and excluded from the four-fifths "
        "outcome (the Local Law 144 rule). The audit report follows another rule: it leaves out groups under its "
        "minimum group size and divides by its own most selected group, so its impact ratios and failing groups can "
        "differ; each table shows the audit report's figure beside this view's. This view follows the tables required for bias audits of automated employment decision tools under "
        "New York City Local Law 144 (rules at 6 RCNY § 5-300 et seq.); whether the law applies to this model is for "
        "the employer to decide.")])
    return BiasAuditView(title=f"Bias audit: {model_identity(result).name}", status=_status(result.status),
                         subtitle=_subtitle(result.to_dict()), outcome=outcome,
                         sections=([] if refused is not None or not views else [_summary_section(result, threshold)])
                         + [method] + sections,
                         notices=_notices(result.to_dict()))
