"""The Performance section: headline metrics with their intervals, per class, calibration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Mapping
from typing import Any

from ..blocks import Block, Cell, MAX_TABLE_ROWS, Paragraph, Table
from ..format import _Ids, _estimate, _interval_text, _is_number, _numbers, fmt_estimate, fmt_number, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult


def _performance(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    perf = doc["performance"]
    blocks: list[Block] = []
    n = perf.get("n")
    conf = perf.get("confidence", doc.get("config", {}).get("confidence", 0.95))
    level = f"{100 * float(conf):g}%" if _is_number(conf) else "95%"
    lead = f"Measured on {fmt_number(n)} rows" if _is_number(n) else "Measured on the audited data"
    if _is_number(perf.get("threshold")) and perf.get("positive_label") is not None:
        lead += f", positive class {perf['positive_label']}, decision threshold {fmt_number(perf['threshold'])}"
    blocks.append(Paragraph(f"{lead}. Intervals are {level} bootstrap intervals."))
    metrics = perf.get("metrics", {})
    rows = [
        [Cell(metric_name(k)), Cell(fmt_number(_estimate(m)[0]), "num"),
         Cell(_interval_text(m), "num")]
        for k, m in metrics.items()
    ]
    blocks.append(Table(["Metric", "Value", f"{level} interval"], rows))
    per_class = perf.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        metric_keys = sorted({m for v in per_class.values() if isinstance(v, Mapping) for m in v})
        rows = [
            [Cell(str(c))] + [Cell(fmt_estimate(v.get(m)) if isinstance(v, Mapping) else "—", "num") for m in metric_keys]
            for c, v in list(per_class.items())[:MAX_TABLE_ROWS]
        ]
        blocks.append(Table(["Class"] + [metric_name(m) for m in metric_keys], rows, caption="Per class"))
    cal = perf.get("calibration")
    if isinstance(cal, Mapping):
        mp, obs, cnt = _numbers(cal.get("mean_predicted")), _numbers(cal.get("observed")), _numbers(cal.get("count"))
        if mp and obs and len(mp) == len(obs):
            blocks.append(ids.chart(
                "calibration", "Calibration",
                f"Reliability diagram: {cal.get('what', 'predicted probability vs observed rate')}, "
                f"{len(mp)} bins; points on the diagonal are perfectly calibrated.",
                {"mean_predicted": mp, "observed": obs, "count": cnt or [], "bins": _numbers(cal.get("bins")) or []},
            ))
    cm = perf.get("confusion_matrix")
    if isinstance(cm, Mapping) and isinstance(cm.get("rows_true_columns_predicted"), list):
        labels = [str(x) for x in cm.get("labels", [])]
        matrix = cm["rows_true_columns_predicted"]
        if len(labels) == len(matrix) and len(labels) <= 20:
            rows = [[Cell(labels[i])] + [Cell(fmt_number(v), "num") for v in r] for i, r in enumerate(matrix)]
            blocks.append(Table(["True \\ predicted"] + labels, rows, caption="Confusion matrix (counts)"))
    return blocks


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The performance section's blocks for ``result`` (empty when the check did not run)."""
    return _performance(result.to_dict(), ids)  # transitional: reads the JSON form until this section is typed
