"""The model card's machine-readable twin: ``model_card.json`` (schema: ``schema/model_card.schema.json``).

The sections follow Mitchell et al. (2019, "Model Cards for Model Reporting"): model
details, intended use, factors, metrics, evaluation data, training data, quantitative
analyses, ethical considerations, caveats. Measured parts come from the typed audit
result; written parts from the config's ``[model_card]`` table (null when not written).

Quantitative analyses are disaggregated (Mitchell et al. §4.7): for every sensitive
attribute and intersection, every group's n and its accuracy, selection rate, true and
false positive rate (regression: mean absolute error, mean error, mean prediction), each
``{value, ci_low, ci_high}`` as in audit.json. Performance metrics are listed in the shape
of Google's Model Card Toolkit (``type``, ``value``, ``confidence_interval``, ``slice``).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...results.fairness import AttributeFairness
from ...statements import MODEL_CARD_FIELDS
from ...stats import Estimate, finite_or_none

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["MODEL_CARD_VERSION", "model_card_document", "model_card_json", "disaggregated", "DISAGGREGATED_METRICS",
           "card_text", "validate_model_card"]

MODEL_CARD_VERSION = "1.0"
DISAGGREGATED_METRICS = {
    "classification": ("accuracy", "selection_rate", "tpr", "fpr"),
    "regression": ("mean_absolute_error", "mean_error", "mean_prediction"),
}
_DETAILS = ("name", "version", "owners", "date", "license", "contact", "citation", "description")


# Every [model_card] key a view reads (the written fields, and the bias audit's summary items); the
# config refuses any other key (audit_engine.statements), so an unknown one comes from an older file.
KNOWN_CARD_KEYS = tuple(MODEL_CARD_FIELDS)


def unknown_card_keys(card: Mapping[str, Any]) -> list[str]:
    """A sentence per [model_card] key no view reads (a misspelling is shown, never silently dropped)."""
    out = []
    for key in card:
        if key not in KNOWN_CARD_KEYS:
            close = difflib.get_close_matches(str(key), KNOWN_CARD_KEYS, n=1)
            out.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return out


def card_text(card: Mapping[str, Any], key: str) -> str | None:
    """A written model-card field as one line of text (lists joined by '; '), None when not written."""
    val = card.get(key)
    if val is None or val == "" or val == []:
        return None
    if isinstance(val, (list, tuple)):
        return "; ".join(str(x) for x in val)
    if isinstance(val, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in val.items())
    return str(val)


def written_card(result: AuditResult) -> Mapping[str, Any]:
    """The config's ``[model_card]`` table (empty when none was written)."""
    card = result.config["model_card"] if "model_card" in result.config else None
    return card if isinstance(card, Mapping) else {}


def disaggregated(view: AttributeFairness) -> list[tuple[str, int | None, dict[str, Estimate]]]:
    """(group, n, {metric: estimate}) for each group of a view, the metrics of its task that it computed."""
    names = DISAGGREGATED_METRICS.get(view.task, ())
    out = []
    for group, rates in view.groups.items():
        found = {m: est for m in names if (est := rates.estimate(m)) is not None}
        out.append((group, rates.n, found))
    return out


def _estimate(est: Estimate) -> dict[str, Any]:
    return {"value": finite_or_none(est.value), "ci_low": finite_or_none(est.ci_low),
            "ci_high": finite_or_none(est.ci_high)}


def _state(result: AuditResult, check: str) -> tuple[str, str | None]:
    info = result.checks.get(check)
    if getattr(result, check) is not None:
        return "ran", None
    if info is not None and info.status == "skipped":
        return "skipped", info.reason
    if info is not None and info.status == "error":
        return "error", info.error
    return "absent", f"the {check} check was not part of the audit"


def model_card_document(result: AuditResult) -> dict[str, Any]:
    """The model card as a JSON-ready dict (valid against ``model_card.schema.json``)."""
    card = written_card(result)
    model, data = result.model, result.data
    perf_state, perf_reason = _state(result, "performance")
    fair_state, fair_reason = _state(result, "fairness")
    metrics: dict[str, Any] = {"status": perf_state, "reason": perf_reason, "n": None, "confidence": None,
                               "performance_metrics": []}
    if result.performance is not None:
        perf = result.performance
        metrics.update(n=perf.n, confidence=perf.confidence, performance_metrics=[
            {"type": k, "value": finite_or_none(e.value), "slice": None,
             "confidence_interval": {"lower_bound": finite_or_none(e.ci_low), "upper_bound": finite_or_none(e.ci_high)}}
            for k, e in perf.metrics.items()])
    quant: dict[str, Any] = {"status": fair_state, "reason": fair_reason, "favorable_label": None,
                             "disaggregated": [], "gaps": []}
    for key, view in (result.fairness or {}).items():
        quant["favorable_label"] = quant["favorable_label"] or view.favorable_label
        for group, n, found in disaggregated(view):
            quant["disaggregated"].append({"attribute": key, "attributes": list(view.attributes), "group": group, "n": n,
                                           "metrics": {m: _estimate(e) for m, e in found.items()}})
        for name, est in view.metrics.items():
            p = getattr(est, "p_value", math.nan)
            quant["gaps"].append({"attribute": key, "metric": name, **_estimate(est), "p_value": finite_or_none(p),
                                  "supports_gap": getattr(est, "supports_gap", None)})
    findings = [{"status": v.status, "check": v.check, "metric": v.metric, "subject": v.subject, "message": v.message}
                for v in result.verdicts if v.status in ("warn", "fail")]
    return {
        "model_card_version": MODEL_CARD_VERSION,
        "audit": {"schema_version": result.schema_version, "engine_version": result.engine.version,
                  "created": result.created, "seed": result.seed, "status": result.status},
        "model_details": {
            **{k: card_text(card, k) for k in _DETAILS},
            "file": {"path": model.path, "sha256": model.sha256, "opset": model.opset, "producer": model.producer},
            "task": model.task,
            "classes": None if model.classes is None else [str(c) for c in model.classes],
            "inputs": [{"name": t.name, "dtype": t.dtype, "shape": None if t.shape is None else list(t.shape)}
                       for t in model.inputs],
        },
        "intended_use": {"primary_uses": card_text(card, "intended_use"),
                         "primary_users": card_text(card, "intended_users"),
                         "out_of_scope_uses": card_text(card, "out_of_scope_uses")},
        "factors": {"sensitive_attributes": list(data.sensitive), "description": card_text(card, "factors")},
        "metrics": metrics,
        "evaluation_data": {"path": data.path, "sha256": data.sha256, "rows": data.rows, "target": data.target,
                            "features": len(data.features), "description": card_text(card, "evaluation_data")},
        "training_data": card_text(card, "training_data"),
        "quantitative_analyses": quant,
        "ethical_considerations": card_text(card, "ethical_considerations"),
        "caveats": {"text": card_text(card, "caveats") or card_text(card, "limitations"), "findings": findings},
    }


def model_card_json(result: AuditResult) -> str:
    """``model_card.json``'s text: the validated document, indented."""
    doc = model_card_document(result)
    validate_model_card(doc)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def validate_model_card(doc: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` does not follow ``model_card.schema.json``."""
    import jsonschema
    from importlib import resources

    schema = json.loads((resources.files("audit_engine") / "schema" / "model_card.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
