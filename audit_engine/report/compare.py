"""The comparison view (compare.html): a view model built from compare.json, then Jinja.

Like the audit views, numbers are formatted here and the template only lays them out;
autoescaping is on and undefined names are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2

__all__ = ["CompareView", "build_compare_view", "render_comparison"]


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    return f"{float(x):.{digits}f}"


def _interval(est: dict[str, Any] | None) -> str:
    if not est or est.get("ci_low") is None or est.get("ci_high") is None:
        return ""
    return f"[{_num(est['ci_low'])}, {_num(est['ci_high'])}]"


def _signed(x: Any) -> str:
    return "—" if x is None else f"{float(x):+.3f}"


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


def _rows(block: dict[str, Any]) -> list[Row]:
    out = []
    for name, e in block.items():
        out.append(Row(name, _num(e["a"].get("value")), _interval(e["a"]), _num(e["b"].get("value")), _interval(e["b"]),
                       _signed(e["delta"].get("value")), _interval(e["delta"]), e["better_when"], e["change"]))
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
                groups.append((attr, g, str(v["n"]), f"{v['rate'] * 100:.1f}%"))
    mc = doc.get("mcnemar")
    mcnemar = None
    if mc and mc.get("status") == "ran":
        test = "exact binomial" if mc["method"] == "exact" else "χ² with continuity correction"
        mcnemar = (f"McNemar's test on {mc['on'].split(' (')[0]}: {mc['b']} rows only A got right, {mc['c']} only B; "
                   f"{test}, statistic {mc['statistic']:.3g}, p = {mc['p_value']:.3g}.")
    fid = doc.get("fidelity")
    fidelity = []
    if fid:
        q = ", ".join(f"{k} {v:.2g}" for k, v in fid["quantiles"].items())
        fidelity.append(f"Largest |p_B − p_A|: {fid['max_abs_difference']:.3g} (per-row quantiles: {q}).")
        fidelity.append(f"Decisions flipped: {fid.get('flipped_rows', 0)}.")
        moved = fid["moved_beyond_interval"]
        fidelity.append("No performance or fairness metric moved beyond its paired interval." if not moved else
                        f"Moved beyond the paired interval ({len(moved)}): " + ", ".join(moved[:20])
                        + (" …" if len(moved) > 20 else ""))
    return CompareView(
        title="Model comparison",
        subtitle=f"A: {a['model_path']}  →  B: {b['model_path']}",
        notices=notices,
        status=doc["status"],
        status_text={"ok": "no regression", "regressed": "regressed",
                     "policy_fail": "no regression, but B fails its policy or the release gate"}.get(doc["status"], doc["status"]),
        method=doc["method"],
        regressions=list(doc["regressions"]),
        identity=[("model sha256", a["model_sha256"], b["model_sha256"]), ("data sha256", a["data_sha256"], b["data_sha256"]),
                  ("rows", str(a["rows"]), str(b["rows"])), ("policy status", a["status"], b["status"])],
        performance=_rows(doc["performance"]),
        fairness=[(attr, _rows(block)) for attr, block in doc["fairness"].items()],
        ood=_rows(doc["ood"]),
        verdict_changes=[(v["check"], v["metric"] + (f" ({v['subject']})" if v.get("subject") else ""), v["a"], v["b"])
                         for v in doc["verdict_changes"]],
        agreement=agreement,
        agreement_groups=groups,
        gate=[(v["status"], v["message"]) for v in doc.get("verdicts", [])],
        mcnemar=mcnemar,
        fidelity=fidelity,
    )


def render_comparison(doc: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("audit_engine", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("compare.html.j2").render(view=build_compare_view(doc))
