"""The Weak slices section: the slices where the model does worse than on the rest.

Reads the typed :class:`~audit_engine.results.slices.SlicesResult`. One sentence says how
many slices were tested, that the p-values are Benjamini–Hochberg adjusted over all of them
at the false-discovery rate, and that the effects' intervals are false-coverage-rate adjusted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..blocks import Block, Cell, Paragraph, Table
from ..format import _Ids, fmt_number, fmt_p, humane
from .performance import estimate_cell

if TYPE_CHECKING:
    from ...result import AuditResult

_LOSS = {"error": ("error rate", True), "log_loss": ("mean log loss (nats)", False),
         "absolute_error": ("mean absolute error", False)}


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    s = result.slices
    if s is None:
        return []
    name, percent = _LOSS.get(s.loss, (s.loss, False))
    where = (f"the seeded hashed sample of {fmt_number(s.rows)} rows" if s.sampled
             else f"{fmt_number(s.rows)} audited rows")
    blocks: list[Block] = [Paragraph(
        f"Slices are conjunctions of up to {s.max_level} conditions on {len(s.columns)} columns "
        f"({', '.join(s.columns)}; {fmt_number(s.predicates)} conditions in all), each of at least "
        f"{fmt_number(s.min_size)} rows, compared on the {name} with the rest of {where} (higher = worse; overall "
        f"{fmt_number(s.mean_loss, percent=percent)})."),
        Paragraph(
        f"The p-values are Benjamini–Hochberg adjusted over the {fmt_number(s.tested)} slices tested (false-discovery "
        f"rate {s.fdr:g}); {fmt_number(s.discovered)} slices were discovered, and the intervals of the effects are "
        f"false-coverage-rate adjusted (Benjamini–Yekutieli, {100 * s.interval_level:.4g}% level).")]
    if s.discovered:
        g = s.slice_error_gap
        blocks.append(Paragraph(
            f"Largest gap among the {fmt_number(s.discovered)} discovered slices (what a policy's "
            f"largest slice error gap rule judges): {fmt_number(g.value, percent=percent)}"
            + (f" in {' AND '.join(s.largest.predicates)} ({fmt_number(s.largest.size)} rows)"
               if s.largest is not None else "")
            + (";" if g.ci_low == g.ci_low and g.ci_high == g.ci_high else "")
            + (f" interval {fmt_number(g.ci_low, percent=percent)} to {fmt_number(g.ci_high, percent=percent)}."
               if g.ci_low == g.ci_low and g.ci_high == g.ci_high else ".")))
    if s.slices:
        rows = [[Cell(" AND ".join(w.predicates)), Cell(fmt_number(w.size), "num"),
                 Cell(fmt_number(w.loss, percent=percent), "num"), Cell(fmt_number(w.rest_loss, percent=percent), "num"),
                 estimate_cell(w.effect, percent=percent), Cell(fmt_p(w.p_value), "num"),
                 Cell(fmt_p(w.p_adjusted), "num")] for w in s.slices]
        blocks.append(Table(["Slice", "Rows", name[:1].upper() + name[1:], "Rest", "Effect (slice − rest)", "p",
                             "p (BH-adjusted)"], rows,
                            note=f"The {len(s.slices)} discovered slices ranked first by SliceLine's score (large "
                                 "slices with large losses first)."))
    else:
        blocks.append(Paragraph("No slice does significantly worse than the rest at this false-discovery rate."))
    for note in s.notes:
        blocks.append(Paragraph(humane(note), "muted"))
    return blocks
