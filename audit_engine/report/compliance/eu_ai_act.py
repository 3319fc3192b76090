"""The EU AI Act evidence view: what this audit evidences, article by article, and what it does not.

Regulation (EU) 2024/1689 asks the provider of a high-risk system for, among others, an
examination of possible biases (Art. 10(2)(f)–(g)), record-keeping (Art. 12), instructions
that state the accuracy, per-group performance and known limitations (Art. 13(3)(b)),
declared accuracy and robustness (Art. 15) and technical documentation (Annex IV). An audit
of the model file evidences parts of these; it never evidences all of them.

One record, two views: :func:`eu_ai_act_document` builds the document (``eu_ai_act.json``,
every number copied from audit.json with the audit.json path it came from) and
:func:`eu_ai_act_view` writes the HTML view **from that document**, so the two cannot
disagree. Each item's ``status`` is ``evidenced`` (the audit holds the evidence),
``partly evidenced`` (some of the item, the rest listed under ``not_evidenced``) or ``not
evidenced``. The provider's own statements come from the config's ``[eu_ai_act]`` table
(:data:`audit_engine.statements.EU_AI_ACT_FIELDS`) and are marked as written, not measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from ...statements import EU_AI_ACT_FIELDS
from ..blocks import Block, Cell, KeyValues, Paragraph, Section, Table
from ..format import attribute_name, fmt_number, humane, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["EU_AI_ACT_VERSION", "EuAiActView", "eu_ai_act_document", "eu_ai_act_json", "eu_ai_act_view"]

EU_AI_ACT_VERSION = "1.0"
REGULATION = "Regulation (EU) 2024/1689 (Artificial Intelligence Act)"
DISCLAIMER = ("This document lists the evidence that one automated audit of the model file produced, mapped to the "
              "Act's articles. It supports the provider's technical documentation and conformity assessment; it does "
              "not replace them, and it is not a legal opinion.")
_PERFORMANCE = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier_score", "expected_calibration_error",
                "mae", "rmse", "r2")
_GAPS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
         "equal_opportunity_difference", "predictive_parity_difference")
_EVIDENCED, _PARTLY, _NOT = "evidenced", "partly evidenced", "not evidenced"


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf") else None


def _row(label: str, value: Any, source: str, *, est: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One piece of evidence: a label, a value (number or text), its interval if any, the audit.json path."""
    out: dict[str, Any] = {"label": label, "value": value, "source": source}
    if est is not None:
        out["value"] = _finite(est.get("value"))
        out["ci_low"], out["ci_high"] = _finite(est.get("ci_low")), _finite(est.get("ci_high"))
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _item(key: str, article: str, title: str, evidence: list[dict[str, Any]], missing: list[str],
          statements: list[tuple[str, str | list[str] | None]]) -> dict[str, Any]:
    written = [{"key": k, "label": EU_AI_ACT_FIELDS[k], "text": v} for k, v in statements]
    for k, v in statements:
        if v is None:
            missing.append(f"Not written by the provider: {EU_AI_ACT_FIELDS[k]} ([eu_ai_act] {k}).")
    status = _NOT if not evidence else _PARTLY if missing else _EVIDENCED
    return {"id": key, "article": article, "title": title, "status": status, "evidence": evidence,
            "statements": written, "not_evidenced": missing}


def _check_reason(doc: dict[str, Any], check: str) -> str:
    if not doc.get("checks"):  # an audit.json of schema 1.0 recorded no check states
        return f"Not recorded: this audit.json (schema {doc.get('schema_version')}) does not say whether {check} ran"
    info = (doc.get("checks") or {}).get(check)
    if info is None:
        return f"the {check} check was not part of this audit"
    if info.get("status") == "skipped":
        return humane(str(info.get("reason") or "skipped"))
    if info.get("status") == "error":
        return "the check failed with an internal error"
    return "not recorded"


def _record_keeping(doc: dict[str, Any]) -> dict[str, Any]:
    model, data, engine = doc.get("model") or {}, doc.get("data") or {}, doc.get("engine") or {}
    ev = [
        _row("Model file", PurePath(str(model.get("path") or "")).name or None, "model.path"),
        _row("Model sha256", model.get("sha256"), "model.sha256"),
        _row("ONNX opset and producer", f"opset {model.get('opset')}, {model.get('producer') or 'producer not recorded'}",
             "model.opset"),
        _row("Evaluation data sha256", data.get("sha256"), "data.sha256"),
        _row("Evaluation rows", data.get("rows"), "data.rows"),
        _row("Audit engine", f"{engine.get('name', 'audit-engine')} {engine.get('version', '')}".strip(), "engine.version"),
        _row("Package versions", ", ".join(f"{k} {v}" for k, v in sorted((engine.get("packages") or {}).items())),
             "engine.packages"),
        _row("Random seed", doc.get("seed"), "seed"),
        _row("Audit date (UTC)", doc.get("created"), "created"),
        _row("Execution provider", model.get("provider"), "model.provider"),
    ]
    ev = [e for e in ev if e["value"] not in (None, "")]
    missing = ["Automatic logging of events over the deployed system's lifetime (Art. 12(1)–(3)) is a property of "
               "the system in operation; an audit of the model file can only make this evaluation traceable."]
    return _item("art12", "Article 12", "Record-keeping: this evaluation can be traced and repeated", ev, missing, [])


def _bias(doc: dict[str, Any], statements: dict[str, Any]) -> dict[str, Any]:
    fairness = doc.get("fairness") or {}
    ev: list[dict[str, Any]] = []
    missing: list[str] = []
    for attr, view in fairness.items():
        if not isinstance(view, dict):
            continue
        where = f"fairness.{attr}"
        ev.append(_row(f"{attribute_name(attr)}: groups compared", len(view.get("groups") or {}), f"{where}.groups",
                       reference_group=view.get("reference_group")))
        for name in _GAPS:
            est = (view.get("metrics") or {}).get(name)
            if isinstance(est, dict):
                ev.append(_row(f"{attribute_name(attr)}: {metric_name(name)}", None, f"{where}.metrics.{name}", est=est,
                               p_value=_finite(est.get("p_value")), p_adjusted=_finite(est.get("p_adjusted")),
                               supports_gap=est.get("supports_gap")))
        small = view.get("small_groups") or []
        if small:
            missing.append(f"{attribute_name(attr)}: {len(small)} group(s) below the minimum group size were shown but "
                           "not judged (too few rows to measure a gap).")
    if not ev:
        missing.append(f"No bias examination: {_check_reason(doc, 'fairness')}. Declare the sensitive attributes "
                       "(--sensitive) to examine biases.")
    if not (doc.get("data") or {}).get("target"):
        missing.append("Error-rate gaps (equalized odds, equal opportunity, predictive parity) need labelled data.")
    missing.append("Biases in the training data itself (Art. 10(2)(f)) are not visible from the model and the "
                   "evaluation data.")
    return _item("art10", "Article 10(2)(f)–(g)", "Examination of possible biases", ev, missing,
                 [("bias_measures", statements.get("bias_measures")), ("training_data", statements.get("training_data"))])


def _performance_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = ((doc.get("performance") or {}).get("metrics") or {})
    return [_row(metric_name(k), None, f"performance.metrics.{k}", est=metrics[k])
            for k in _PERFORMANCE if isinstance(metrics.get(k), dict)]


def _group_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for attr, view in (doc.get("fairness") or {}).items():
        if not isinstance(view, dict) or "*" in attr:
            continue
        for group, rates in (view.get("groups") or {}).items():
            acc = rates.get("accuracy") if isinstance(rates, dict) else None
            if _finite(acc) is None:
                continue
            ci = (rates.get("ci") or {}).get("accuracy") or {}
            out.append(_row(f"Accuracy, {attribute_name(attr)} = {group}", None,
                            f"fairness.{attr}.groups.{group}.accuracy",
                            est={"value": acc, "ci_low": ci.get("ci_low"), "ci_high": ci.get("ci_high")},
                            n=rates.get("n")))
    return out


def _not_run(doc: dict[str, Any]) -> list[str]:
    return [f"{k}: {humane(str(v.get('reason') or v.get('error') or v.get('status')))}"
            for k, v in (doc.get("checks") or {}).items() if isinstance(v, dict) and v.get("status") != "ran"]


def _slice_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Weak slices beyond the declared groups (a known limitation the data shows), when the audit searched them."""
    sl = doc.get("slices")
    if not isinstance(sl, dict):
        return []
    out = [_row(f"Slices where the model does worse than the rest ({sl.get('loss')}; BH-adjusted at "
                f"false-discovery rate {sl.get('fdr')})", sl.get("discovered"), "slices.discovered",
                tested=sl.get("tested"))]
    largest = sl.get("largest")
    if isinstance(largest, dict):
        out.append(_row(f"Largest slice gap: {' AND '.join(largest.get('predicates') or [])}", None,
                        "slices.slice_error_gap", est=sl.get("slice_error_gap"), n=largest.get("size")))
    return out


def _transparency(doc: dict[str, Any], statements: dict[str, Any]) -> dict[str, Any]:
    ev = _performance_rows(doc) + _group_rows(doc) + _slice_rows(doc)
    missing = [f"Not tested by this audit — {line}." for line in _not_run(doc)]
    if not doc.get("performance"):
        missing.append(f"No accuracy figures: {_check_reason(doc, 'performance')}.")
    return _item("art13", "Article 13(3)(b)(ii)–(v)", "Accuracy, performance for specific groups, known limitations",
                 ev, missing, [("intended_purpose", statements.get("intended_purpose")),
                               ("known_limitations", statements.get("known_limitations")),
                               ("human_oversight", statements.get("human_oversight"))])


def _accuracy_robustness(doc: dict[str, Any], statements: dict[str, Any]) -> dict[str, Any]:
    ev = _performance_rows(doc)
    ood = doc.get("ood") or {}
    for name, score in (ood.get("scores") or {}).items():
        if isinstance(score, dict) and _finite(score.get("auroc")) is not None:
            ev.append(_row(f"Out-of-distribution detection AUROC, {metric_name(name)}", _finite(score.get("auroc")),
                           f"ood.scores.{name}.auroc"))
    shift = ood.get("shift") or {}
    if isinstance(shift, dict) and shift:
        drifted = [k for k, v in shift.items() if isinstance(v, dict) and v.get("drifted")]
        ev.append(_row("Features whose distribution shifted from the reference data", len(drifted), "ood.shift",
                       tested=len([v for v in shift.values() if isinstance(v, dict)])))
    unc = doc.get("uncertainty") or {}
    if unc:
        ev.append(_row("Predictive uncertainty measured", ", ".join(sorted(k for k in unc if isinstance(unc[k], dict)))
                       or "yes", "uncertainty"))
    rob = doc.get("robustness") or {}
    top = rob.get("flip_rate") if isinstance(rob, dict) else None
    if isinstance(top, dict) and top.get("kind") is not None:
        ev.append(_row(f"Highest decision flip rate under perturbation ({metric_name(str(top['kind']))}, severity "
                       f"level {top.get('level')} of 5)", None, "robustness.flip_rate", est=top,
                       n=rob.get("rows")))
    missing = [] if rob else [
        "Robustness under realistic perturbation of the inputs (Art. 15(4)) was not tested by this audit.",
    ]
    missing.append(
        "Consistency across model versions (Art. 15(1)) needs two audits: run audit-engine compare on the versions.")
    if not ood:
        missing.append(f"Behaviour on data unlike the evaluation data: {_check_reason(doc, 'ood')}.")
    if not ev:
        missing.insert(0, f"No accuracy figures: {_check_reason(doc, 'performance')}.")
    return _item("art15", "Article 15(1)–(5)", "Accuracy, robustness and cybersecurity", ev, missing,
                 [("cybersecurity", statements.get("cybersecurity"))])


def _annex_iv(doc: dict[str, Any], statements: dict[str, Any]) -> dict[str, Any]:
    model = doc.get("model") or {}
    inputs = "; ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in model.get("inputs") or [])
    outputs = "; ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in model.get("outputs") or [])
    checks = doc.get("checks") or {}
    verdicts = doc.get("verdicts") or []
    ev = [
        _row("2(b) Inputs of the model", inputs or None, "model.inputs"),
        _row("2(b) Outputs of the model", outputs or None, "model.outputs"),
        _row("2(b) Task and classes", f"{model.get('task')}; classes {model.get('classes')}", "model.task"),
        _row("2(g) Checks run in this audit", ", ".join(k for k, v in checks.items() if isinstance(v, dict)
                                                         and v.get("status") == "ran") or None, "checks"),
        _row("2(g) Policy verdicts (pass / warn / fail)",
             " / ".join(str(sum(1 for v in verdicts if v.get("status") == s)) for s in ("pass", "warn", "fail")),
             "verdicts"),
        _row("2(g) Test settings", f"seed {doc.get('seed')}; the whole configuration is in audit.json", "config"),
    ]
    ev = [e for e in ev if e["value"] not in (None, "")]
    missing = ["2(c)–(f) architecture, training, data sheets and human oversight, and items 5–9 (risk management, "
               "changes, standards, declaration of conformity, post-market monitoring) are the provider's documents."]
    return _item("annex_iv", "Annex IV", "Technical documentation: what this audit contributes", ev, missing,
                 [("system_name", statements.get("system_name")), ("system_version", statements.get("system_version")),
                  ("provider", statements.get("provider")), ("annex_iii_area", statements.get("annex_iii_area")),
                  ("deployment_form", statements.get("deployment_form")),
                  ("risk_management", statements.get("risk_management")),
                  ("post_market_monitoring", statements.get("post_market_monitoring"))])


def eu_ai_act_document(result: AuditResult | dict[str, Any]) -> dict[str, Any]:
    """The EU AI Act evidence document of an audit (a JSON-ready dict; see the module docstring)."""
    doc = result if isinstance(result, dict) else result.to_dict()
    written = (doc.get("config") or {}).get("eu_ai_act") or {}
    statements = {k: written.get(k) for k in EU_AI_ACT_FIELDS}
    items = [_bias(doc, statements), _record_keeping(doc), _transparency(doc, statements),
             _accuracy_robustness(doc, statements), _annex_iv(doc, statements)]
    model = doc.get("model") or {}
    return {
        "document": "eu-ai-act-evidence",
        "version": EU_AI_ACT_VERSION,
        "regulation": REGULATION,
        "disclaimer": DISCLAIMER,
        "subject": {"model": PurePath(str(model.get("path") or "")).name or None, "sha256": model.get("sha256"),
                    "audit_created": doc.get("created"), "audit_status": doc.get("status"),
                    "engine_version": (doc.get("engine") or {}).get("version")},
        "statements": statements,
        "items": items,
        "not_evidenced": [f"{it['article']}: {line}" for it in items for line in it["not_evidenced"]],
    }


def eu_ai_act_json(result: AuditResult | dict[str, Any]) -> str:
    """``eu_ai_act.json``: the document as text (what ``render --template eu-ai-act`` writes beside the HTML)."""
    return json.dumps(eu_ai_act_document(result), indent=2, sort_keys=False) + "\n"


@dataclass
class EuAiActView:
    title: str
    status: str
    subtitle: str
    sections: list[Section]
    notices: list[str]
    template: str = "eu-ai-act"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value_cell(e: dict[str, Any]) -> Cell:
    value = e.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        sub = ""
        if e.get("ci_low") is not None and e.get("ci_high") is not None:
            sub = f"{fmt_number(e['ci_low'])} to {fmt_number(e['ci_high'])}"
        return Cell(fmt_number(value), "num", sub)
    return Cell(fmt_number(value) if value is not None else "—")


def _note(e: dict[str, Any]) -> str:
    parts = []
    if "n" in e:
        parts.append(f"n = {fmt_number(e['n'])}")
    if "reference_group" in e:
        parts.append(f"reference group {e['reference_group']}")
    if "tested" in e:
        parts.append(f"of {fmt_number(e['tested'])} tested")
    if e.get("supports_gap") is not None:
        parts.append("the data supports a gap" if e["supports_gap"] else "no gap demonstrated")
    p = e.get("p_adjusted", e.get("p_value"))
    if p is not None:
        parts.append("p < 0.001" if p < 0.001 else f"p = {p:.3f}")
    return "; ".join(parts)


_STATUS_CLASS = {_EVIDENCED: "pass", _PARTLY: "warn", _NOT: "fail"}


def _section(item: dict[str, Any]) -> Section:
    blocks: list[Block] = [Paragraph(f"Status: {item['status']}.", _STATUS_CLASS[item["status"]])]
    if item["evidence"]:
        rows = [[Cell(e["label"]), _value_cell(e), Cell(_note(e), "muted"), Cell(e["source"], "muted")]
                for e in item["evidence"]]
        blocks.append(Table(["Evidence", "Value", "Notes", "Recorded in audit.json at"], rows,
                            caption="Measured by the audit (intervals under the values)"))
    if item["statements"]:
        blocks.append(KeyValues([(s["label"][:1].upper() + s["label"][1:],
                                  ("; ".join(s["text"]) if isinstance(s["text"], list) else s["text"])
                                  if s["text"] is not None else "not written by the provider")
                                 for s in item["statements"]]))
    for line in item["not_evidenced"]:
        blocks.append(Paragraph(line, "missing"))
    return Section(item["id"], f"{item['article']} — {item['title']}", blocks=blocks)


def eu_ai_act_view(result: AuditResult) -> EuAiActView:
    """The HTML view, written from :func:`eu_ai_act_document` (one record for both)."""
    document = eu_ai_act_document(result)
    subject = document["subject"]
    name = (document["statements"].get("system_name") or subject["model"] or "model")
    counts = {s: sum(1 for it in document["items"] if it["status"] == s) for s in (_EVIDENCED, _PARTLY, _NOT)}
    summary = Section("summary", "What this audit evidences", blocks=[
        Paragraph(DISCLAIMER, "muted"),
        Table(["Article", "Subject", "Status"],
              [[Cell(it["article"]), Cell(it["title"]), Cell(it["status"], _STATUS_CLASS[it["status"]])]
               for it in document["items"]],
              caption=f"{counts[_EVIDENCED]} evidenced, {counts[_PARTLY]} partly, {counts[_NOT]} not evidenced"),
    ])
    plain = Section("not_evidenced", "What this audit does not evidence",
                    blocks=[Paragraph(line) for line in document["not_evidenced"]])
    status = str(subject.get("audit_status") or "warn")
    return EuAiActView(
        title=f"EU AI Act evidence: {name}",
        status=status,
        subtitle=(f"{REGULATION}. Model sha256 {subject['sha256']}; audited {subject['audit_created']} with "
                  f"audit-engine {subject['engine_version']}; audit outcome {status}."),
        sections=[summary, *(_section(it) for it in document["items"]), plain],
        notices=[],
    )
