"""The model card view (Mitchell et al. 2019, "Model Cards for Model Reporting").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..blocks import Block, Cell, Finding, Heading, KeyValues, MAX_TABLE_ROWS, ModelCardView, Paragraph, Section, Table
from .bias_audit import _not_run
from ..format import _Ids, _interval_text, _num, _numbers, _status, attribute_name, fmt_number, metric_name
from ..sections.fairness import fairness_attributes
from ..sections.summary import _notices, _subtitle

if TYPE_CHECKING:
    from ...result import AuditResult


_CARD_FIELDS = (
    ("owners", "Owners"),
    ("version", "Model version"),
    ("date", "Model date"),
    ("license", "License"),
    ("contact", "Contact"),
    ("citation", "Citation"),
)


_UNWRITTEN = "Not provided: the model owner should write this in the config's [model_card] table."


def _card_text(card: Mapping[str, Any], key: str) -> str:
    val = card.get(key)
    if val is None or val == "" or val == []:
        return ""
    if isinstance(val, (list, tuple)):
        return "; ".join(str(x) for x in val)
    if isinstance(val, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in val.items())
    return str(val)


def _card_paragraph(card: Mapping[str, Any], key: str) -> Paragraph:
    text = _card_text(card, key)
    return Paragraph(text) if text else Paragraph(_UNWRITTEN, "missing")


def model_card_view(result: AuditResult) -> ModelCardView:
    """A model card (Mitchell et al. 2019): measured sections from audit.json, written ones from config.model_card."""
    doc = result.to_dict()  # transitional: the typed rewrite reads the result's fields
    ids = _Ids()
    card = doc.get("config", {}).get("model_card") or {}
    card = card if isinstance(card, Mapping) else {}
    model, data = doc.get("model", {}), doc.get("data", {})
    sections = []
    details = [(label, _card_text(card, key) or "not provided") for key, label in _CARD_FIELDS]
    details += [
        ("Model file", str(model.get("path", "—"))),
        ("sha256", str(model.get("sha256", "—"))),
        ("Format", f"ONNX opset {model.get('opset', '—')}, produced by {model.get('producer', '—')}"),
        ("Task", str(model.get("task", "—"))),
        ("Classes", ", ".join(str(c) for c in (model.get("classes") or [])) or "—"),
        ("Inputs", "; ".join(f"{t.get('name')} {t.get('dtype')} {t.get('shape')}" for t in model.get("inputs", []) if isinstance(t, Mapping))),
        ("Outputs audited", f"{model.get('output', '—')} ({model.get('output_kind', '—')})"),
    ]
    sections.append(Section("details", "Model details", blocks=[KeyValues(details), _card_paragraph(card, "description")]
                            if _card_text(card, "description") else [KeyValues(details)]))
    sections.append(Section("intended_use", "Intended use", blocks=[
        Heading("Primary intended uses"), _card_paragraph(card, "intended_use"),
        Heading("Primary intended users"), _card_paragraph(card, "intended_users"),
        Heading("Out-of-scope uses"), _card_paragraph(card, "out_of_scope_uses"),
    ]))
    sens = data.get("sensitive") or []
    factors = [Paragraph("Audited groups: " + (", ".join(str(s) for s in sens) + " and their intersections."
                                               if sens else "no sensitive attributes were given to the audit."))]
    if _card_text(card, "factors"):
        factors.append(Paragraph(_card_text(card, "factors")))
    sections.append(Section("factors", "Factors", blocks=factors))
    perf = doc.get("performance")
    if isinstance(perf, Mapping) and isinstance(perf.get("metrics"), Mapping):
        rows = [[Cell(metric_name(k)), Cell(fmt_number(_num(m)), "num"), Cell(_interval_text(m), "num")]
                for k, m in perf["metrics"].items()]
        blocks: list[Block] = [Paragraph("Measured by the audit on the evaluation data below, with bootstrap intervals."),
                               Table(["Metric", "Value", "95% interval"], rows)]
        cal = perf.get("calibration")
        if isinstance(cal, Mapping) and _numbers(cal.get("mean_predicted")) and _numbers(cal.get("observed")):
            blocks.append(ids.chart("calibration", "Calibration", "Reliability diagram of the model's probabilities.",
                                    {"mean_predicted": _numbers(cal["mean_predicted"]), "observed": _numbers(cal["observed"]),
                                     "count": _numbers(cal.get("count")) or [], "bins": _numbers(cal.get("bins")) or []}))
        sections.append(Section("metrics", "Metrics", blocks=blocks))
    else:
        sections.append(_not_run(doc, "performance", "metrics", "Metrics"))
    sections.append(Section("evaluation_data", "Evaluation data", blocks=[
        KeyValues([("File", str(data.get("path") or "in-memory data")), ("sha256", str(data.get("sha256", "—"))),
                   ("Rows", fmt_number(data.get("rows"))), ("Target", str(data.get("target") or "—")),
                   ("Features", fmt_number(len(data.get("features") or [])))]),
        _card_paragraph(card, "evaluation_data") if _card_text(card, "evaluation_data") else Paragraph(
            "Chosen by whoever ran the audit; see the file and hash above.", "muted")]))
    sections.append(Section("training_data", "Training data", blocks=[_card_paragraph(card, "training_data")]))
    fair = doc.get("fairness")
    if isinstance(fair, Mapping) and fairness_attributes(fair):
        rows = []
        for attr, entry in fairness_attributes(fair).items():
            metrics = entry.get("metrics") if isinstance(entry.get("metrics"), Mapping) else {}
            for k in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                      "equal_opportunity_difference"):
                if k in metrics:
                    rows.append([Cell(attribute_name(attr)), Cell(metric_name(k)), Cell(fmt_number(_num(metrics[k])), "num"),
                                 Cell(_interval_text(metrics[k]), "num")])
        sections.append(Section("quantitative", "Quantitative analyses", blocks=[
            Paragraph("Disaggregated by each audited group; the audit report holds the full group tables."),
            Table(["Attribute", "Metric", "Value", "95% interval"], rows[:MAX_TABLE_ROWS])]))
    else:
        sections.append(_not_run(doc, "fairness", "quantitative", "Quantitative analyses"))
    sections.append(Section("ethics", "Ethical considerations", blocks=[_card_paragraph(card, "ethical_considerations")]))
    caveats: list[Block] = [_card_paragraph(card, "caveats") if _card_text(card, "caveats") else _card_paragraph(card, "limitations")]
    flagged = [v for v in doc.get("verdicts", []) if isinstance(v, Mapping) and v.get("status") in ("warn", "fail")]
    if flagged:
        caveats.append(Heading("Found by the audit"))
        caveats.append(Table(["Status", "Finding"], [[Cell(_status(v.get("status")), _status(v.get("status"))),
                                                      Cell(str(v.get("message", "")))] for v in flagged[:MAX_TABLE_ROWS]]))
    sections.append(Section("caveats", "Caveats and recommendations", blocks=caveats))
    name = _card_text(card, "name") or str(model.get("path", "model"))
    return ModelCardView(title=f"Model card: {name}", status=_status(doc.get("status")), subtitle=_subtitle(doc),
                         sections=sections, notices=_notices(doc))
