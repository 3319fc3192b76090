"""The comparison view (compare.html): a view model built from compare.json, then Jinja.

Like the audit views, numbers are formatted here and the template only lays them out;
autoescaping is on and undefined names are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import jinja2

from .format import attribute_name, css_text, fmt_number, fmt_p, interval_ends, metric_name, path_name

if TYPE_CHECKING:
    from ..compare import Comparison
    from ..result import AuditResult

__all__ = ["CompareView", "build_compare_view", "render_comparison", "write_comparison"]


def _num(x: Any, digits: int = 3) -> str:
    """Three decimals; a value that would round to ``±0.000`` but is not zero keeps its digits (no ``-0.000``)."""
    if x is None:
        return "—"
    v = float(x)
    if v != 0 and abs(v) < 0.5 * 10 ** -digits:
        return fmt_number(v)
    return f"{v:.{digits}f}"


def _interval(est: dict[str, Any] | None, *, signed: bool = False) -> str:
    if not est or est.get("ci_low") is None or est.get("ci_high") is None:
        return ""
    low, high = float(est["ci_low"]), float(est["ci_high"])
    if signed:
        if low == high:
            return "(no interval: every resample gave this change)"
        if _signed(low) == _signed(high):
            ends = interval_ends(low, high)
            return f"[{ends[0]}, {ends[1]}]" if ends else "(no interval: every resample gave this change)"
        return f"[{_signed(low)}, {_signed(high)}]"
    if _num(low) != _num(high):
        return f"[{_num(low)}, {_num(high)}]"
    ends = interval_ends(low, high)  # more digits where three decimals would show a zero-width interval
    return "(no interval: every resample gave this value)" if ends is None else f"[{ends[0]}, {ends[1]}]"


def _signed(x: Any) -> str:
    """``+0.012`` / ``−0.012``; a change that rounds to zero is ``0.000`` (never ``-0.000``)."""
    if x is None:
        return "—"
    v = float(x)
    if v != 0 and abs(v) < 0.0005:  # keep its digits rather than print ±0.000
        return ("+" if v > 0 else "−") + fmt_number(abs(v))
    text = f"{v:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text.replace("-", "−")


@dataclass
class Row:
    name: str
    a: str
    a_ci: str
    b: str
    b_ci: str
    delta: str
    delta_ci: str
    better_when: str
    change: str


@dataclass
class CompareView:
    title: str
    subtitle: str
    notices: list[str]
    status: str
    status_text: str
    method: str
    regressions: list[str]
    identity: list[tuple[str, str, str]]
    performance: list[Row]
    fairness: list[tuple[str, list[Row]]]
    ood: list[Row]
    verdict_changes: list[tuple[str, str, str, str]]
    agreement: str | None
    agreement_groups: list[tuple[str, str, str, str]] = field(default_factory=list)
    gate: list[tuple[str, str]] = field(default_factory=list)  # (status, message) of the compare-only rules
    mcnemar: str | None = None
    fidelity: list[str] = field(default_factory=list)
    shifts: list[str] = field(default_factory=list)  # paired tests that found a significant shift, in words
    status_class: str = "pass"


_BETTER = {"higher": "higher", "lower": "lower", "neither": "no direction"}


def _rows(block: dict[str, Any], *, names: Any = metric_name) -> list[Row]:
    out = []
    for name, e in block.items():
        out.append(Row(names(name), _num(e["a"].get("value")), _interval(e["a"]), _num(e["b"].get("value")),
                       _interval(e["b"]), _signed(e["delta"].get("value")), _interval(e["delta"], signed=True),
                       _BETTER.get(e["better_when"], e["better_when"]), e["change"]))
    return out


def _ood_name(key: str) -> str:
    score, _, metric = key.partition(".")
    return f"{metric_name(score)}: {metric_name(metric)}" if metric else metric_name(score)


def _regression_text(item: str) -> str:
    """``race: demographic_parity_difference`` → ``Demographic parity difference (race)``."""
    head, sep, tail = item.partition(": ")
    if sep and " " not in tail and "_" in tail:
        return f"{metric_name(tail)} ({attribute_name(head)})"
    if not sep and "_" in item and " " not in item:
        return _ood_name(item) if "." in item else metric_name(item)
    return item


def _shifts(doc: dict[str, Any]) -> list[str]:
    """Sentences for every paired test that found a significant shift (issue 22, defect 8)."""
    alpha = 1.0 - float(doc.get("confidence", 0.95))
    out = []
    mc = doc.get("mcnemar")
    if mc and mc.get("status") == "ran" and mc.get("p_value") is not None and mc["p_value"] < alpha:
        out.append(f"McNemar's test on the paired decisions: {mc['b']} rows only A got right, {mc['c']} only B "
                   f"({fmt_p(mc['p_value'])}).")
    fid = doc.get("fidelity") or {}
    for attr, block in (fid.get("selection_tests") or {}).items():
        for group, t in block.items():
            if t.get("p_value") is not None and t["p_value"] < alpha:
                out.append(f"{attribute_name(group)} ({attribute_name(attr)}): decisions flipped {t['to_positive']} "
                           f"times to the positive class and {t['to_negative']} times away from it "
                           f"(McNemar, {fmt_p(t['p_value'])}).")
    moved = fid.get("moved_beyond_interval") or []
    if moved:
        names = [path_name(p) for p in moved]
        out.append(f"{len(moved)} metric{'s' if len(moved) != 1 else ''} moved beyond {'their' if len(moved) != 1 else 'its'} "
                   "paired interval: " + "; ".join(names[:20]) + ("; … (all in compare.json)" if len(names) > 20 else "."))
    return out


def build_compare_view(doc: dict[str, Any]) -> CompareView:
    a, b = doc["a"], doc["b"]
    notices = []
    if not doc["same_data"]:
        notices.append("The two audits used different data (the data sha256 differ): changes mix model and data effects.")
    agreement, groups = None, []
    if doc.get("agreement"):
        ag = doc["agreement"]
        agreement = f"{ag['rate'] * 100:.1f}% of rows get the same decision from both models ({ag['flipped_rows']} flipped)."
        for attr, block in ag.get("by_group", {}).items():
            for g, v in block.items():
                groups.append((attribute_name(attr), attribute_name(g), fmt_number(v["n"]), f"{v['rate'] * 100:.1f}%"))
    mc = doc.get("mcnemar")
    mcnemar = None
    if mc and mc.get("status") == "ran":
        test = "exact binomial" if mc["method"] == "exact" else "χ² with continuity correction"
        mcnemar = (f"McNemar's test on {mc['on'].split(' (')[0]}: {mc['b']} rows only A got right, {mc['c']} only B; "
                   f"{test}, statistic {fmt_number(mc['statistic'])}, {fmt_p(mc['p_value'])}.")
    fid = doc.get("fidelity")
    fidelity = []
    if fid:
        q = ", ".join(f"{k.replace('p', '', 1)}th percentile {fmt_number(v)}" for k, v in fid["quantiles"].items())
        fidelity.append(f"Largest difference in predicted probability between the two models: "
                        f"{fmt_number(fid['max_abs_difference'])} (per row: {q}).")
        fidelity.append(f"Decisions flipped: {fmt_number(fid.get('flipped_rows', 0))}.")
        if not fid["moved_beyond_interval"]:
            fidelity.append("No performance or fairness metric moved beyond its paired interval.")
    shifts = _shifts(doc)
    status_class = "pass" if doc["status"] == "ok" and not shifts else "warn" if doc["status"] == "ok" else "fail"
    status_text = {"ok": "no regression", "regressed": "regressed",
                   "policy_fail": "no regression, but B fails its policy or the release gate"}.get(doc["status"], doc["status"])
    if doc["status"] == "ok" and shifts:
        status_text = "no regression by the gate, but a paired test found a significant shift"
    return CompareView(
        title=f"Model comparison: {_file(a['model_path'])} → {_file(b['model_path'])}",
        subtitle=f"A: {_file(a['model_path'])}  →  B: {_file(b['model_path'])}",
        notices=notices,
        status=doc["status"],
        status_text=status_text,
        method=doc["method"],
        regressions=[_regression_text(r) for r in doc["regressions"]],
        identity=[("Model file", _file(a["model_path"]), _file(b["model_path"])),
                  ("Model sha256", a["model_sha256"], b["model_sha256"]), ("Data sha256", a["data_sha256"], b["data_sha256"]),
                  ("Rows", fmt_number(a["rows"]), fmt_number(b["rows"])), ("Policy status", a["status"], b["status"])],
        performance=_rows(doc["performance"]),
        fairness=[(attribute_name(attr), _rows(block)) for attr, block in doc["fairness"].items()],
        ood=_rows(doc["ood"], names=_ood_name),
        verdict_changes=[(v["check"].capitalize(), metric_name(v["metric"]) + (f" ({attribute_name(v['subject'])})"
                                                                              if v.get("subject") else ""), v["a"], v["b"])
                         for v in doc["verdict_changes"]],
        agreement=agreement,
        agreement_groups=groups,
        gate=[(v["status"], v["message"]) for v in doc.get("verdicts", [])],
        mcnemar=mcnemar,
        fidelity=fidelity,
        shifts=shifts,
        status_class=status_class,
    )


def _file(path: Any) -> str:
    """A model's file name (never the auditor's local folder)."""
    return PurePath(str(path).replace("\\", "/")).name or str(path)


def render_comparison(doc: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("audit_engine", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["css_text"] = css_text
    return env.get_template("compare.html.j2").render(view=build_compare_view(doc))


def write_comparison(comparison: Comparison, out: Path, results: tuple[AuditResult, AuditResult] | None = None) -> None:
    """compare.json and compare.html (and both audits when given) into ``out``, atomically per file.

    Lives in the report layer so that :mod:`audit_engine.compare` computes and never renders.
    """
    from ..result import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    if results is not None:
        results[0].to_json(out / "audit_a.json")
        results[1].to_json(out / "audit_b.json")
    comparison.to_json(out / "compare.json")
    atomic_write_text(out / "compare.html", render_comparison(comparison.to_dict()))
