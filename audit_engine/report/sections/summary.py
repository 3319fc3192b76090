"""The audit view: overall status, findings, verdicts, then one section per check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..blocks import AuditView, Block, Cell, Finding, Paragraph, STATUSES, Section, Table
from ..format import SECTION_TITLES, _Ids, _is_number, _num, _status, attribute_name, fmt_estimate, fmt_number, generic_section, metric_name
from . import explanations, fairness, ood, performance, uncertainty
from .fairness import _impact_ratios, fairness_attributes
from .reproducibility import _reproducibility

if TYPE_CHECKING:
    from ...result import AuditResult

logger = logging.getLogger(__name__)


_BUILDERS: dict[str, Callable[[AuditResult, _Ids], list[Block]]] = {
    "performance": performance.section_blocks,
    "fairness": fairness.section_blocks,
    "explanations": explanations.section_blocks,
    "ood": ood.section_blocks,
    "uncertainty": uncertainty.section_blocks,
}


def check_sections(result: AuditResult, ids: _Ids) -> list[Section]:
    """One Section per known check (ran, skipped with its reason, or absent), then unknown extra sections."""
    doc = result.to_dict()  # transitional: the typed rewrite reads result.checks
    out = []
    checks = doc.get("checks") if isinstance(doc.get("checks"), Mapping) else {}
    for key, title in SECTION_TITLES.items():
        info = checks.get(key) if isinstance(checks.get(key), Mapping) else {}
        section = doc.get(key)
        if not isinstance(section, Mapping):
            if info.get("status") in ("skipped", "error"):
                reason = info.get("reason") if info.get("status") == "skipped" else f"the check failed: {info.get('error')}"
                out.append(Section(key, title, state="skipped", reason=str(reason or "no reason recorded")))
            else:
                out.append(Section(key, title, state="absent", reason="this check was not part of the audit"))
            continue
        mark = ids.n
        try:
            blocks = _BUILDERS[key](result, ids)
            sec = Section(key, title, blocks=blocks)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            logger.warning("The %s section has a layout this report does not know (%s); showing its values.", key, exc)
            ids.n = mark
            sec = generic_section(key, title, section,
                                  note="This section's layout is not one this report version knows; its values are listed as recorded.")
        if info.get("status") == "ran" and _is_number(info.get("seconds")):
            sec.blocks.append(Paragraph(
                f"{fmt_number(info.get('model_calls'))} model calls, {fmt_number(info.get('rows_evaluated'))} rows "
                f"evaluated, {fmt_number(info.get('seconds'))} s.", "muted"))
        out.append(sec)
    return out


def _verdict_table(doc: Mapping[str, Any]) -> Table:
    rows = []
    order = {"fail": 0, "warn": 1, "pass": 2}
    verdicts = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping)]
    for v in sorted(verdicts, key=lambda v: order.get(v.get("status"), 3)):
        st = _status(v.get("status"))
        rows.append([Cell(st, st), Cell(SECTION_TITLES.get(str(v.get("check")), str(v.get("check", "")))),
                     Cell(metric_name(v.get("metric", "")) + (f" — {v['subject']}" if v.get("subject") else "")),
                     Cell(fmt_number(_num(v.get("value"))), "num"), Cell(fmt_number(_num(v.get("threshold"))), "num"),
                     Cell(str(v.get("message", "")))])
    return Table(["Status", "Check", "Metric", "Value", "Threshold", "Message"], rows)


def _findings(doc: Mapping[str, Any]) -> list[Finding]:
    """The three most important findings, in plain words: failures, then warnings, then headlines."""
    cands: list[tuple[float, Finding]] = []
    for v in doc.get("verdicts", []):
        if not isinstance(v, Mapping) or v.get("status") not in ("fail", "warn"):
            continue
        value, thr = _num(v.get("value")), _num(v.get("threshold"))
        breach = abs(value - thr) / max(abs(thr), 1e-12) if value is not None and thr is not None else 0.0
        base = 3.0 if v["status"] == "fail" else 2.0
        check = SECTION_TITLES.get(str(v.get("check")), str(v.get("check", "")))
        message = str(v.get("message", ""))
        metric = str(v.get("metric", ""))
        if metric:
            message = message.replace(metric, metric_name(metric).lower() if metric_name(metric) != metric else metric, 1)
        cands.append((base + min(breach, 0.99), Finding(v["status"], f"{check}: {message[:1].upper() + message[1:]}")))
    perf = doc.get("performance")
    if isinstance(perf, Mapping) and isinstance(perf.get("metrics"), Mapping):
        m = perf["metrics"]
        key = next((k for k in ("roc_auc", "accuracy", "r2", "mae") if k in m), None)
        if key:
            cands.append((1.0, Finding("info", f"Performance: {metric_name(key)} is {fmt_estimate(m[key])} on "
                                               f"{fmt_number(perf.get('n'))} rows.")))
    fair = doc.get("fairness")
    if isinstance(fair, Mapping):
        worst: tuple[float, str, str, str] | None = None
        for attr, entry in fairness_attributes(fair).items():
            ratios = _impact_ratios(entry)
            left = entry.get("left_out") if isinstance(entry.get("left_out"), Mapping) else {}
            for g, r in ratios.items():
                if isinstance(left.get(g), Mapping) and "selection_rate" in (left[g].get("rates") or []):
                    continue  # a small group is shown, not headlined
                if r is not None and (worst is None or r < worst[0]):
                    worst = (r, attr, g, str(entry.get("reference_group", "")))
        if worst:
            cands.append((0.9, Finding("info", f"Fairness: the lowest impact ratio is {fmt_number(worst[0])}, for "
                                               f"{attribute_name(worst[1])} = {worst[2]} (four-fifths rule: 0.8).")))
    ood = doc.get("ood")
    if isinstance(ood, Mapping) and isinstance(ood.get("scores"), Mapping):
        best = max(((n, _num(s.get("auroc"))) for n, s in ood["scores"].items() if isinstance(s, Mapping) and _num(s.get("auroc")) is not None),
                   key=lambda t: t[1], default=None)
        if best:
            cands.append((0.8, Finding("info", f"Out of distribution: the best score, {metric_name(best[0])}, "
                                               f"separates the unfamiliar inputs with AUROC {fmt_number(best[1])}.")))
    cands.sort(key=lambda t: -t[0])
    return [f for _, f in cands[:3]]


def _notices(doc: Mapping[str, Any]) -> list[str]:
    from ...result import SCHEMA_VERSION

    version = str(doc.get("schema_version", ""))
    notes = []
    try:
        have = tuple(int(x) for x in version.split("."))
        mine = tuple(int(x) for x in SCHEMA_VERSION.split("."))
    except ValueError:
        return notes
    if have[1:] < mine[1:]:
        notes.append(f"This audit.json was written with schema {version}, older than this engine's {SCHEMA_VERSION}; "
                     "sections added since are shown as not recorded.")
    elif have[1:] > mine[1:]:
        notes.append(f"This audit.json was written with schema {version}, newer than this engine's {SCHEMA_VERSION}; "
                     "keys this version does not know are not shown.")
    return notes


def _subtitle(doc: Mapping[str, Any]) -> str:
    model, data = doc.get("model", {}), doc.get("data", {})
    return (f"Model {model.get('path', '—')} audited on {data.get('path') or 'in-memory data'} "
            f"({fmt_number(data.get('rows'))} rows), {doc.get('created', '')}.")


def audit_view(result: AuditResult) -> AuditView:
    """The default report: summary (status, three findings, verdicts), one section per check, reproducibility."""
    doc = result.to_dict()  # transitional: the typed rewrite reads the result's fields
    ids = _Ids()
    verdicts = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping)]
    counts = [(s, sum(1 for v in verdicts if v.get("status") == s)) for s in STATUSES]
    return AuditView(
        title=f"Audit of {doc.get('model', {}).get('path', 'a model')}",
        status=_status(doc.get("status")),
        subtitle=_subtitle(doc),
        findings=_findings(doc),
        verdict_counts=counts,
        verdicts=_verdict_table(doc),
        sections=check_sections(result, ids),
        reproducibility=_reproducibility(doc),
        notices=_notices(doc),
    )
