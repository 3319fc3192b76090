"""The Robustness section: flip rates per perturbation kind × severity, group disparities, fragile rows.

Reads the typed :class:`~audit_engine.results.robustness.RobustnessResult`. Every flip rate
shows its Wilson interval on the cell's second line; the disparity table shows, at the
policy's severity level, whether one group's decisions flip more often than another's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..blocks import Block, Cell, Heading, MAX_QUEUE_ROWS, Paragraph, Table
from ..format import _Ids, attribute_name, fmt_id, fmt_number, fmt_p, metric_name
from .performance import estimate_cell
from ...stats import Estimate

if TYPE_CHECKING:
    from ...result import AuditResult
    from ...results.robustness import FlipRate, RobustnessResult

_KIND_NAMES = {"jitter": "Jitter", "category_swap": "Category swap", "missing": "Missing values",
               "noise": "Gaussian noise", "blur": "Blur", "brightness": "Brightness", "contrast": "Contrast",
               "quantise": "Quantisation", "typo": "Character typos", "casing": "Casing",
               "whitespace": "Whitespace", "punctuation": "Punctuation"}
_SEVERITY_UNITS = {"jitter": "× each feature's spread", "category_swap": "share of cells",
                   "missing": "share of cells", "noise": "σ, share of the range", "blur": "σ in pixels",
                   "brightness": "shift, share of the range", "contrast": "scale", "quantise": "grey levels",
                   "typo": "edit probability per letter or digit", "casing": "share of words swapcased",
                   "whitespace": "share of word gaps doubled or removed",
                   "punctuation": "share of words losing or gaining an end mark"}


def _flip(f: FlipRate) -> Cell:
    return estimate_cell(Estimate(f.value, f.ci_low, f.ci_high), percent=True)


def _table(r: RobustnessResult, what: str) -> Table:
    levels = sorted({x.level for x in r.results})
    rows = []
    for kind in r.kinds:
        found = {x.level: x for x in r.results if x.kind == kind}
        severities = ", ".join(f"{found[lv].severity:g}" for lv in levels if lv in found)
        row = [Cell(_KIND_NAMES.get(kind, metric_name(kind)), "",
                    f"{_SEVERITY_UNITS.get(kind, 'severity')}: {severities}")]
        for lv in levels:
            x = found.get(lv)
            if x is None:
                row.append(Cell("—", "num muted"))
            elif what == "flip":
                row.append(_flip(x.flip_rate))
            else:
                row.append(estimate_cell(x.score_shift))
        rows.append(row)
    columns = ["Perturbation"] + [f"Level {lv}" + (" (policy)" if lv == r.policy_level else "") for lv in levels]
    shift = r.decision.split("; ")[-1].replace("the score shift is ", "")
    note = (f"Share of the {fmt_number(r.rows)} rows whose decision changed; second line: the "
            f"{100 * r.confidence:g}% Wilson interval (the counts are in audit.json)." if what == "flip" else
            f"Mean over the rows of the score shift, {shift}; second line: the {100 * r.confidence:g}% t interval.")
    return Table(columns, rows, caption="Flip rate" if what == "flip" else "Score shift", note=note)


def _disparity(r: RobustnessResult) -> list[Block]:
    rows = []
    for x in r.results:
        if x.level != r.policy_level:
            continue
        for attr, d in x.disparity.items():
            groups = x.groups.get(attr, {})
            hi = groups.get(d.most_flipped) if d.most_flipped is not None else None
            lo = groups.get(d.least_flipped) if d.least_flipped is not None else None
            rows.append([Cell(_KIND_NAMES.get(x.kind, x.kind)), Cell(attribute_name(attr)),
                         Cell("—" if d.test is None else ("Fisher's exact" if d.test == "fisher_exact"
                                                          else "χ² homogeneity")),
                         Cell(fmt_p(d.p_value), "num"),
                         Cell("—" if hi is None else f"{d.most_flipped}: {fmt_number(hi.value, percent=True)}"),
                         Cell("—" if lo is None else f"{d.least_flipped}: {fmt_number(lo.value, percent=True)}"),
                         estimate_cell(d.gap, reason="a single group", percent=True)])
    if not rows:
        return []
    return [Heading("Do some groups' decisions flip more often?"),
            Table(["Perturbation", "Attribute", "Test", "p", "Most flipped", "Least flipped", "Gap"], rows,
                  note=(f"At severity level {r.policy_level}: the test asks whether the groups' flip rates differ "
                        "(Fisher's exact test for two groups, else χ² homogeneity; p-values not adjusted for the "
                        "number of rows of this table); the gap (highest − lowest group) carries Newcombe's interval. "
                        "Every level's figures are in audit.json."))]


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    r = result.robustness
    if r is None:
        return []
    m = r.flip_rate
    sample = (f"a seeded sample of {fmt_number(r.rows)} audited rows" if r.sampled
              else f"the {fmt_number(r.rows)} audited rows")
    blocks: list[Block] = [Paragraph(
        f"Each row of {sample} ({r.modality} data) was perturbed once per kind and severity level and scored "
        f"again; a row "
        f"flips when its decision changes (decision: {r.decision}). Higher flip rates mean less robust decisions.")]
    if r.modality == "text":
        blocks.append(Paragraph(
            "The texts were edited as written (typos, casing, whitespace, punctuation) and then tokenised by the "
            "model's own tokenizer; an edit the tokenizer normalises away (a lower-casing tokenizer and casing, for "
            "one) cannot flip a decision.", "muted"))
    if m.kind is not None:
        blocks.append(Paragraph(
            f"Highest flip rate at the policy's level {m.level}: {fmt_number(m.value, percent=True)} under "
            f"{_KIND_NAMES.get(m.kind, m.kind).lower()} ({100 * r.confidence:g}% interval "
            f"{fmt_number(m.ci_low, percent=True)} to {fmt_number(m.ci_high, percent=True)})."))
    if r.kinds:
        blocks.append(_table(r, "flip"))
        blocks.append(_table(r, "shift"))
    for kind, why in r.skipped.items():
        blocks.append(Paragraph(f"{_KIND_NAMES.get(kind, kind)} not tested: {why}.", "muted"))
    blocks += _disparity(r)
    shown = list(r.fragile_rows[:MAX_QUEUE_ROWS])
    if shown:
        blocks.append(Heading("Most fragile rows"))
        blocks.append(Table(["Row", "Mean score shift"],
                            [[Cell(fmt_id(f.row), "num"), Cell(fmt_number(f.mean_score_shift), "num")] for f in shown],
                            note="Rows of the audited data whose scores moved most, averaged over every kind and "
                                 "severity level."))
    return blocks
