"""The Uncertainty section: MC-dropout / committee measures and the review queue.

Reads the typed :class:`~audit_engine.results.uncertainty.UncertaintyResult`. MC-dropout
figures show their Monte Carlo standard error as the cell's second line; a committee's
figures are exact (a fixed set of models), which the table note says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..blocks import Block, Cell, Figures, Heading, MAX_QUEUE_ROWS, Paragraph, Table
from ..format import _Ids, _cell_text, fmt_id, fmt_number, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult
    from ...results.uncertainty import UncertaintyMethod, UncertaintyResult

_STATS = ("mean", "median", "p90", "p99", "max")


def _method(name: str, m: UncertaintyMethod, ids: _Ids) -> list[Block]:
    blocks: list[Block] = [Heading("Method: MC dropout" if name == "mc_dropout" else "Method: committee of models")]
    facts = [f"{fmt_number(m.passes)} passes" if name == "mc_dropout" else f"{fmt_number(m.passes)} models"]
    adaptive = m.mc_error.adaptive if m.mc_error is not None else None
    if adaptive and adaptive.get("mode") == "auto" and adaptive.get("tolerance") is not None:
        facts.append(f"a pilot of {fmt_number(adaptive.get('pilot_passes'))} passes set the number of fresh passes that "
                     f"brings the Monte Carlo standard error of the mean epistemic uncertainty to at most "
                     f"{float(adaptive['tolerance']):g} nats"
                     + ("" if adaptive.get("tolerance_met") else
                        f" — not reached within {fmt_number(adaptive.get('max_passes'))} passes"))
    if not m.outputs_vary:
        facts.append("the outputs did not vary between passes, so epistemic uncertainty is zero")
    blocks.append(Paragraph("; ".join(facts) + "."))
    mc = m.mc_error is not None
    rows, charts = [], []
    for key, s in m.summary.items():
        se = s.mc_se or {}
        row = [Cell(metric_name(key))]
        for st in _STATS:
            e = se.get(st)
            row.append(Cell(fmt_number(getattr(s, st)), "num", f"± {fmt_number(e)}" if e is not None else ""))
        if mc:
            row.append(Cell(fmt_number(s.mean_corrected), "num", f"± {fmt_number(se.get('mean'))}" if se.get("mean") is not None else ""))
        rows.append(row)
        charts.append(ids.chart("histogram", metric_name(key), f"Histogram of {metric_name(key)} over the rows.",
                                {"edges": list(s.histogram.edges), "series": {"rows": list(s.histogram.counts)},
                                 "xlabel": "nats" if key != "disagreement" else "share of model pairs that disagree"}))
    note = ("Second line: ± one Monte Carlo standard error (jackknife over groups of passes); the bias-corrected mean "
            "removes the plug-in estimator's O(1/passes) downward bias." if mc else
            "A committee is a fixed set of models, so its figures are exact: no interval applies.")
    blocks.append(Table(["Measure", "Mean", "Median", "90th pct", "99th pct", "Max"]
                        + (["Mean, bias-corrected"] if mc else []), rows, note=note))
    comp = m.ood_comparison
    if comp is not None:
        se = (f" (± {fmt_number(comp.audited_mean_epistemic_mc_se)} and ± {fmt_number(comp.ood_mean_epistemic_mc_se)})"
              if comp.audited_mean_epistemic_mc_se is not None and comp.ood_mean_epistemic_mc_se is not None else "")
        blocks.append(Paragraph(
            f"Mean epistemic uncertainty: {fmt_number(comp.audited_mean_epistemic)} nats on the audited rows, "
            f"{fmt_number(comp.ood_mean_epistemic)} on {fmt_number(comp.ood_rows)} known out-of-distribution rows{se}."))
    blocks.append(Figures(charts))
    return blocks


def _queue(u: UncertaintyResult, ids: _Ids) -> list[Block]:
    shown = list(u.review_queue[:MAX_QUEUE_ROWS])
    if not shown:
        return []
    signals = list(u.review_signals)[:4]
    blocks: list[Block] = [Heading("Review queue"), Paragraph(
        f"The {len(shown)} rows that most need a human look, highest priority first (signals: "
        f"{', '.join(metric_name(x).lower() for x in u.review_signals)}). Priority is the row's mean percentile rank "
        "over the signals (1 = the most uncertain row on every signal).")]
    rows = [[Cell(fmt_id(q.row), "num"), Cell(fmt_number(q.priority), "num"), Cell(_cell_text(q.prediction)),
             Cell(fmt_number(q.confidence), "num")]
            + [Cell(fmt_number(q.signals.get(k)), "num") for k in signals]
            + [Cell(metric_name(q.reason))] for q in shown]
    blocks.append(Table(["Row", "Priority", "Prediction", "Confidence"] + [metric_name(k) for k in signals]
                        + ["Ranked highest by"], rows,
                        note="Priorities are ranks among the audited rows and the signals are per-row values, "
                             "so no interval applies."))
    return blocks


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The uncertainty section's blocks for ``result`` (the check ran: ``result.uncertainty`` is set)."""
    u = result.uncertainty
    assert u is not None
    blocks: list[Block] = [Paragraph(
        f"Measured on {fmt_number(u.rows)} rows" + (" (a seeded sample of the audited data)" if u.sampled else "")
        + ". Predictive entropy (in nats) splits into expected entropy (aleatoric: noise the model sees in the data) "
        "and mutual information (epistemic: what the model does not know; high on unfamiliar inputs).")]
    for name, m in u.methods.items():
        blocks += _method(name, m, ids)
    return blocks + _queue(u, ids)
