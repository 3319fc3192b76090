"""The audit view: overall status beside what was not tested, findings, verdicts, one section per check.

Reads the typed result only: ``result.status``, ``result.verdicts``, ``result.checks``
(ran / skipped with the reason / error, per check and per skipped part such as
``checks["explanations.smoothgrad"]``), ``result.data`` and the typed ``ood`` section.
The headline (first finding) is the most severe verdict: failures before warnings, and
within a status the largest breach of its threshold. Verdict messages are the policy's;
snake_case metric keys in them are written as names here (:func:`~..format.humane`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING

from ..blocks import AuditView, Block, Cell, Finding, Paragraph, STATUSES, Section, Table
from ..format import (SECTION_TITLES, _Ids, _status, check_part_name, fmt_datetime, fmt_number, humane,
                      metric_name, plain)
from ...catalog import OPT_IN_CHECKS
from . import explanations, fairness, ood, performance, robustness, slices, uncertainty
from .first_screen import key_facts, model_identity
from .reproducibility import _reproducibility

if TYPE_CHECKING:
    from ...policy import Verdict
    from ...result import AuditResult

__all__ = ["audit_view", "check_sections", "not_tested", "findings"]

_BUILDERS: dict[str, Callable[[AuditResult, _Ids], list[Block]]] = {
    "performance": performance.section_blocks,
    "fairness": fairness.section_blocks,
    "explanations": explanations.section_blocks,
    "ood": ood.section_blocks,
    "uncertainty": uncertainty.section_blocks,
    "robustness": robustness.section_blocks,
    "slices": slices.section_blocks,
}
_SEVERITY = {"fail": 0, "warn": 1, "pass": 2}


def check_sections(result: AuditResult, ids: _Ids) -> list[Section]:
    """One Section per known check: its blocks when it ran, else why it did not (skipped, error, absent).

    An opt-in check (``catalog.OPT_IN_CHECKS``) the audit did not name has no Section at all."""
    out = []
    for key, title in SECTION_TITLES.items():
        info = result.checks.get(key)
        if info is None and key in OPT_IN_CHECKS:  # an opt-in check nobody asked for: not part of this report
            continue
        if info is None or getattr(result, key) is None:
            if info is not None and info.status == "error":
                reason = f"the check failed with an internal error ({info.error_type or 'error'}: {info.error})"
            elif info is not None and info.status == "skipped":
                reason = info.reason or "no reason recorded"
            else:
                reason = "this check was not part of the audit"
            out.append(Section(key, title, state="absent" if info is None else "skipped", reason=humane(reason)))
            continue
        section = Section(key, title, blocks=_BUILDERS[key](result, ids))
        section.blocks.append(Paragraph(_work(info.model_calls, info.rows_evaluated, info.seconds), "muted"))
        out.append(section)
    return out


def _work(calls: int | None, rows: int | None, seconds: float | None) -> str:
    took = f", {fmt_number(seconds)} s" if seconds is not None else ""
    if not calls:
        return f"Computed from the model scores already made for the audit (no further model calls){took}."
    return f"{fmt_number(calls)} model calls on {fmt_number(rows)} rows{took}."


def not_tested(result: AuditResult) -> list[tuple[str, str]]:
    """``(what, why)`` for every check or part that did not run, and every question the data could not answer."""
    items: list[tuple[str, str]] = []
    for key, info in result.checks.items():
        if info.status == "skipped":
            items.append((check_part_name(key), humane(info.reason or "no reason recorded")))
        elif info.status == "error":
            items.append((check_part_name(key), f"failed with an internal error ({info.error_type or 'error'}); "
                                                "its results are missing"))
    for key in SECTION_TITLES:
        if key not in result.checks and key not in OPT_IN_CHECKS:
            items.append((SECTION_TITLES[key], "not part of this audit (not among the configured checks)"))
    if result.fairness is not None and result.data.target is None:
        items.append(("Fairness — error rates", "no target column (--target), so only selection rates were compared: "
                                               "equalized odds, equal opportunity and predictive parity need labels"))
    if result.ood is not None:
        o = result.ood
        if o.shift_summary.status == "skipped":
            items.append(("Out of distribution — shift tests", humane(o.shift_summary.reason or "not run")))
        if o.ood_rows is None:
            items.append(("Out of distribution — detection quality",
                          "no --ood-data of known out-of-distribution rows, so AUROC and FPR at 95% TPR are not defined"))
        for name, why in o.skipped.items():
            if f"ood.{name}" not in result.checks:
                items.append((check_part_name(f"ood.{name}"), humane(why)))
    judged = {v.check for v in result.verdicts}
    unjudged = [SECTION_TITLES.get(k, k) for k, c in result.checks.items() if "." not in k and c.status == "ran"
                and k not in judged]
    if unjudged:
        items.append(("Policy", f"no rule judged {_and(unjudged)}: reported, not gated"))
    return items


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _breach(v: Verdict) -> float:
    if v.value is None or v.threshold is None:
        return 0.0
    return abs(v.value - v.threshold) / max(abs(v.threshold), 1e-12)


def ordered_verdicts(result: AuditResult) -> list[Verdict]:
    """Most severe first: fail, warn, pass; within a status the largest relative breach first."""
    return sorted(result.verdicts, key=lambda v: (_SEVERITY.get(v.status, 3), -_breach(v)))


def findings(result: AuditResult) -> list[Finding]:
    """Up to three findings, the headline first: the most severe verdicts, in plain words."""
    keep = _columns(result)
    out = [Finding(v.status, f"{SECTION_TITLES.get(v.check, v.check)}: {humane(v.message, keep)}")
           for v in ordered_verdicts(result) if v.status in ("fail", "warn")][:3]
    if not out and result.status == "error":
        out.append(Finding("fail", "A check failed with an internal error; its results are missing (see below)."))
    if not out and result.verdicts:
        n = len(result.verdicts)
        what = "The one policy rule" if n == 1 else f"All {n} policy rules"
        out.append(Finding("pass", f"{what} passed; the box beside says what was not tested."))
    return out


def _columns(result: AuditResult) -> set[str]:
    """Data column names: shown as the data spells them, never rewritten."""
    return {*result.data.features, *result.data.sensitive, *([result.data.target] if result.data.target else [])}


def _verdict_table(result: AuditResult) -> Table:
    rows = []
    for v in ordered_verdicts(result):
        st = _status(v.status)
        rows.append([Cell(st, st), Cell(SECTION_TITLES.get(v.check, v.check)),
                     Cell(metric_name(v.metric) + (f" — {v.subject}" if v.subject else "")),
                     Cell(fmt_number(v.value), "num"), Cell(fmt_number(v.threshold), "num"),
                     Cell(humane(v.message, _columns(result)))])
    return Table(["Status", "Check", "Metric", "Value", "Threshold", "Message"], rows,
                 note="The message gives each value's interval where the metric has one; the threshold is the "
                      "policy's setting.")


def _typed(result: AuditResult | dict) -> AuditResult:
    """The compliance views may still pass the audit.json dict; read it into the typed result."""
    from ...result import AuditResult

    return result if isinstance(result, AuditResult) else AuditResult.from_dict(result)


def _notices(result: AuditResult) -> list[str]:
    from ...result import SCHEMA_VERSION

    result = _typed(result)
    version = result.schema_version
    try:
        have = tuple(int(x) for x in version.split("."))
        mine = tuple(int(x) for x in SCHEMA_VERSION.split("."))
    except ValueError:
        return []
    if have[1:] < mine[1:]:
        return [f"This audit.json was written with schema {version}, older than this engine's {SCHEMA_VERSION}; "
                "sections added since are shown as not recorded."]
    if have[1:] > mine[1:]:
        return [f"This audit.json was written with schema {version}, newer than this engine's {SCHEMA_VERSION}; "
                "keys this version does not know are not shown."]
    return []


def _subtitle(result: AuditResult) -> str:
    result = _typed(result)
    data = PurePath(str(result.data.path).replace("\\", "/")).name if result.data.path else "in-memory data"
    return (f"Model {model_identity(result).file} audited on {data} "
            f"({fmt_number(result.data.rows)} rows), {fmt_datetime(result.created)}.")


def audit_view(result: AuditResult) -> AuditView:
    """The default report: status with what was not tested, findings, verdicts, one section per check."""
    ids = _Ids()
    counts = [(s, sum(1 for v in result.verdicts if v.status == s)) for s in STATUSES]
    return AuditView(
        title=f"Audit of {model_identity(result).name}",
        status=_status(result.status),
        subtitle=_subtitle(result),
        findings=findings(result),
        verdict_counts=counts,
        verdicts=_verdict_table(result),
        sections=check_sections(result, ids),
        reproducibility=_reproducibility(result),
        notices=_notices(result),
        not_tested=[(what, plain(why)) for what, why in not_tested(result)],
        key_facts=key_facts(result),
    )
