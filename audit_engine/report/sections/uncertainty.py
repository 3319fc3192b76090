"""The Uncertainty section: MC-dropout / committee measures and the review queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Mapping
from typing import Any

from ..blocks import Block, Cell, Figures, Heading, MAX_QUEUE_ROWS, Paragraph, Table
from ..format import _Ids, _cell_text, _estimate, _is_number, _num, fmt_estimate, fmt_number, metric_name
from .ood import _histogram

if TYPE_CHECKING:
    from ...result import AuditResult


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


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The uncertainty section's blocks for ``result`` (empty when the check did not run)."""
    return _uncertainty(result.to_dict(), ids)  # transitional: reads the JSON form until this section is typed
