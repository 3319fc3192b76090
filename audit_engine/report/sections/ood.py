"""The Out-of-distribution section: detector scores, the reference used, shift tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Mapping
from typing import Any

from ..blocks import Block, Cell, Figures, Heading, MAX_QUEUE_ROWS, MAX_SHIFT_ROWS, Paragraph, Table
from ..format import _Ids, _cell_text, _ci, _is_number, _num, _numbers, fmt_number, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult


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


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The ood section's blocks for ``result`` (empty when the check did not run)."""
    return _ood(result.to_dict(), ids)  # transitional: reads the JSON form until this section is typed
