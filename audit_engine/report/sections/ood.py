"""The Out-of-distribution section: detector scores, the reference used, the most unusual rows, shift tests.

Reads the typed :class:`~audit_engine.results.ood.OODResult`. Without ``--reference`` the
audited data is its own reference: the section says so plainly (scores are relative to the
audited data itself, so about 5% of its rows are above each threshold by construction and
AUROC is not defined) and titles the row list "the most unusual rows of the audited data".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..blocks import Block, Cell, Figures, Heading, MAX_QUEUE_ROWS, MAX_SHIFT_ROWS, Paragraph, Table
from ..format import _Ids, _cell_text, fmt_id, fmt_number, humane, metric_name
from .performance import estimate_cell

if TYPE_CHECKING:
    from ...result import AuditResult
    from ...results.ood import OODScore, OODResult
    from ...stats import Estimate


def _est(e: Estimate | None) -> Cell:
    if e is None:
        return Cell("—", "num")
    cell = estimate_cell(e)
    if e.ci_high < 0.5:  # an AUROC whose whole interval is below chance (issue 22, defect 6)
        return Cell(cell.text, "num fail", cell.sub + " — worse than chance")
    return cell


def _intro(o: OODResult) -> list[Block]:
    q = f"{100 * o.threshold_quantile:g}th percentile"
    if o.self_referenced:
        text = (f"No --reference data was given, so the audited data ({fmt_number(o.reference.rows)} rows) is compared "
                f"with itself: each threshold is the audited data's own {q}, so about "
                f"{100 * (1 - o.threshold_quantile):g}% of its rows are above it by construction. These scores rank the "
                "audited rows by how unusual they are within this data; they say nothing about a shift from the "
                "training data. Pass --reference (the training data) to measure that")
        text += "." if o.ood_rows is not None else ", and --ood-data (known unfamiliar rows) to measure how well each score detects them."
    else:
        text = (f"Reference (in-distribution) rows: {fmt_number(o.reference.rows)} from --reference; each threshold is "
                f"the reference's {q}, and \"flagged\" is the share of audited rows above it.")
    facts = [text]
    if o.ood_rows is not None:
        facts.append(f"Known out-of-distribution rows (--ood-data): {fmt_number(o.ood_rows)}; AUROC says how well a "
                     "score separates them from the reference rows (1 is perfect, 0.5 is chance).")
    if o.logit_source:
        facts.append(f"Output scores are computed from the model's {o.logit_source.replace('_', '-')}.")
    return [Paragraph(" ".join(facts))]


def _scores(o: OODResult, ids: _Ids) -> list[Block]:
    blocks: list[Block] = [Heading("Scores"), Paragraph("Each score is higher for inputs that look less like the reference data.")]
    rows, hist_charts, roc = [], [], {}
    drawn: dict[str, dict[str, Any]] = {}
    same: list[str] = []
    with_auroc = o.ood_rows is not None
    for name, sc in o.scores.items():
        row = [Cell(metric_name(name)), Cell("model outputs" if sc.score_source == "model_outputs" else "data")]
        if with_auroc:
            row += [_est(sc.auroc), _est(sc.fpr_at_95_tpr)]
        row += [Cell(fmt_number(sc.threshold), "num"), Cell(fmt_number(sc.flagged_fraction, percent=True), "num")]
        if with_auroc:
            row.append(Cell(fmt_number(sc.ood_flagged_fraction, percent=True), "num"))
        rows.append(row)
        hist = _histogram(sc, o.self_referenced)
        twin = next((other for other, h in drawn.items() if h == hist), None)
        if twin is not None:  # e.g. ODIN tuned to temperature 1 and no input step is the max softmax probability
            same.append(f"{metric_name(name)} gives the same scores as {metric_name(twin)}")
        else:
            drawn[name] = hist
            hist_charts.append(ids.chart("histogram", metric_name(name),
                                         f"Histograms of the {metric_name(name)} score: " + ", ".join(hist["series"]) + ".", hist))
        if sc.roc is not None:
            roc[metric_name(name)] = {"fpr": list(sc.roc.fpr), "tpr": list(sc.roc.tpr)}
    columns = ["Score", "From"] + (["AUROC", "FPR at 95% TPR"] if with_auroc else []) + ["Threshold", "Audited rows flagged"]
    columns += ["OOD rows flagged"] if with_auroc else []
    note = ("Thresholds and flagged shares are counted exactly on these rows, so they carry no interval"
            + ("; AUROC and FPR carry 95% bootstrap intervals." if with_auroc else
               "; AUROC is not defined without known out-of-distribution rows (--ood-data)."))
    negated = [metric_name(n) for n in ("msp", "max_logit", "odin") if n in o.scores]
    if negated:  # issue 22, defect 11: a negative threshold is explained, not left to puzzle the reader
        note += (f" {', '.join(negated)} {'are' if len(negated) > 1 else 'is'} negated so that higher means more "
                 "unusual, as for every score: a threshold of −0.98 on the max softmax probability means a top "
                 "class probability of 0.98.")
    blocks.append(Table(columns, rows, note=note))
    if o.skipped:
        blocks.append(Paragraph("Not computed: " + "; ".join(f"{metric_name(k)}: {humane(v)}" for k, v in o.skipped.items())
                                + ".", "muted"))
    if roc:
        blocks.append(ids.chart("roc", "ROC curves", "ROC curves of each score separating out-of-distribution from "
                                "reference rows; the diagonal is chance.", {"curves": roc}))
    if hist_charts:
        blocks.append(Figures(hist_charts, caption="Score distributions (density): " + (
            "the audited data only (it is its own reference)." if o.self_referenced else
            "reference, audited and known out-of-distribution rows.")
            + "".join(f" {x}, so it is drawn once." for x in same)))
    return blocks


def _unusual_rows(o: OODResult) -> list[Block]:
    shown = list(o.most_ood[:MAX_QUEUE_ROWS])
    if not shown:
        return []
    rows = [[Cell(fmt_id(r.row), "num"), Cell(fmt_number(r.percentile, percent=True), "num"),
             Cell(", ".join(metric_name(x) for x in r.flagged_by) or "—"),
             Cell(_cell_text(r.prediction)), Cell(fmt_number(r.confidence), "num")] for r in shown]
    if o.self_referenced:
        caption = f"The {len(shown)} most unusual rows of the audited data"
        note = ("Percentile: the row's mean rank among the audited rows' own scores (no reference was given). "
                "Ranks and the model's confidence are exact, so they carry no interval.")
        head = "Percentile within the audited data"
    else:
        caption = f"The {len(shown)} audited rows least like the reference"
        note = "Percentile: the row's mean rank among the reference scores; ranks and confidence are exact (no interval)."
        head = "Percentile of reference"
    return [Table(["Row", head, "Flagged by", "Prediction", "Confidence"], rows, caption=caption, note=note)]


def _shift(o: OODResult) -> list[Block]:
    blocks: list[Block] = [Heading("Shift between reference and audited data")]
    summary = o.shift_summary
    if summary.status == "skipped":
        blocks.append(Paragraph(f"Not run: {humane(summary.reason or 'no reason recorded')}.", "not-run"))
        return blocks
    how = f" ({summary.tests}; {summary.correction or 'corrected for multiple testing'}"
    how += f", alpha {fmt_number(summary.alpha)})" if summary.alpha is not None else ")"
    blocks.append(Paragraph(f"{fmt_number(summary.drifted)} of {fmt_number(summary.tested)} features shifted{how}."))
    items = sorted(o.shift.items(), key=lambda kv: 2.0 if kv[1].p_adjusted is None else kv[1].p_adjusted)
    rows = [[Cell(k), Cell(v.test), Cell(fmt_number(v.statistic), "num"), Cell(fmt_number(v.p_value), "num"),
             Cell(fmt_number(v.p_adjusted), "num"), Cell(fmt_number(v.psi), "num"),
             Cell("yes" if v.drifted else "no", "flag" if v.drifted else "")] for k, v in items[:MAX_SHIFT_ROWS]]
    more = (summary.tested or len(items)) - len(rows)
    note = "Test statistics and p-values are exact for these rows (no interval applies)."
    if more > 0:
        note += f" {fmt_number(more)} more features were tested; the most significant are listed."
    blocks.append(Table(["Feature", "Test", "Statistic", "p-value", "Adjusted p", "PSI", "Drifted"], rows, note=note))
    return blocks


def _histogram(sc: OODScore, self_referenced: bool) -> dict[str, Any]:
    h = sc.histogram
    series = {"audited data" if self_referenced else "reference": list(h.reference)}
    if h.current is not None:
        series["audited"] = list(h.current)
    if h.ood is not None:
        series["out of distribution"] = list(h.ood)
    return {"edges": list(h.edges), "series": series}


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The ood section's blocks for ``result`` (the check ran: ``result.ood`` is set)."""
    o = result.ood
    assert o is not None
    blocks = _intro(o)
    if o.scores:
        blocks += _scores(o, ids)
    blocks += _unusual_rows(o)
    blocks += _shift(o)
    return blocks
