"""The model card view (Mitchell et al. 2019, "Model Cards for Model Reporting").

Measured sections come from the typed audit result; written ones from the config's
``[model_card]`` table. Quantitative analyses are disaggregated: per sensitive attribute
and intersection, every group's n with its accuracy, selection rate, true and false
positive rate and their intervals. :func:`~.model_card_document.model_card_document` is the
same card as JSON (``model_card.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..blocks import MAX_TABLE_ROWS, Block, Cell, Heading, KeyValues, ModelCardView, Paragraph, Section, Table
from ..format import _Ids, _status, attribute_name, fmt_number, metric_name, shape_text
from ..sections.fairness import group_label
from ..sections.performance import _interval_methods, calibration_blocks, estimate_cell, level_text
from ..sections.first_screen import model_identity
from ..sections.summary import _notices, _subtitle
from .bias_audit import not_run_section
from .model_card_document import DISAGGREGATED_METRICS, card_text, disaggregated, unknown_card_keys, written_card

if TYPE_CHECKING:
    from ...result import AuditResult

__all__ = ["model_card_view"]

_CARD_FIELDS = (
    ("owners", "Owners"),
    ("version", "Model version"),
    ("date", "Model date"),
    ("license", "License"),
    ("contact", "Contact"),
    ("citation", "Citation"),
)
_UNWRITTEN = "Not provided: the model owner should write this in the config's [model_card] table."


def _written(card: dict, key: str) -> Paragraph:
    text = card_text(card, key)
    return Paragraph(text) if text else Paragraph(_UNWRITTEN, "missing")


def _details(result: AuditResult, card: dict) -> Section:
    model = result.model
    items = [(label, card_text(card, key) or "not provided") for key, label in _CARD_FIELDS]
    items += [
        ("Model file", model_identity(result).file),
        ("sha256", model.sha256),
        ("Format", f"ONNX opset {model.opset}, produced by {model.producer}"),
        ("Task", model.task),
        ("Classes", ", ".join(str(c) for c in (model.classes or ())) or "—"),
        ("Inputs", "; ".join(f"{t.name}: {shape_text(t.shape)} of {t.dtype}" for t in model.inputs)),
        ("Outputs audited", f"{model.output or '—'} ({(model.output_kind or '—').replace('_', ' ')})"),
    ]
    blocks: list[Block] = [KeyValues(items)]
    if card_text(card, "description"):
        blocks.append(_written(card, "description"))
    return Section("details", "Model details", blocks=blocks)


def _metrics(result: AuditResult, ids: _Ids) -> Section:
    perf = result.performance
    if perf is None:
        return not_run_section(result, "performance", "metrics", "Metrics")
    level = level_text(perf.confidence)
    rows = [[Cell(metric_name(k)), estimate_cell(e, reason="no interval: a biased plug-in estimate"
                                                  if k.endswith("_plugin") else "")] for k, e in perf.metrics.items()]
    blocks: list[Block] = [
        Paragraph(f"Measured by the audit on the {fmt_number(perf.n)} rows of the evaluation data below, with the "
                  f"interval under each value. {_interval_methods(perf, level)}"),
        Table(["Metric", "Value"], rows)]
    if perf.calibration is not None:
        blocks += calibration_blocks(perf.calibration, ids, title="Calibration")
    return Section("metrics", "Metrics", blocks=blocks)


def _quantitative(result: AuditResult) -> Section:
    fair = result.fairness
    if not fair:
        return not_run_section(result, "fairness", "quantitative", "Quantitative analyses")
    first = next(iter(fair.values()))
    names = DISAGGREGATED_METRICS.get(first.task, ())
    blocks: list[Block] = [Paragraph(
        "Performance disaggregated by each audited group (Mitchell et al. 2019): each group's rows and its "
        + ", ".join(metric_name(m).lower() for m in names) + ", with intervals under each value"
        + (f"; a selection is a prediction of the favourable outcome, class {first.favorable_label}"
           if first.favorable_label is not None else "")
        + ". Gaps between groups and their tests are in the audit report.")]
    for key, view in fair.items():
        rows = []
        for group, n, found in disaggregated(view)[:MAX_TABLE_ROWS]:
            cells = []
            for m in names:
                est = found.get(m)
                if est is not None and est.value != est.value:  # NaN: undefined for this group
                    cells.append(Cell("undefined", "num muted", view.groups[group].undefined.get(m, "a zero denominator")))
                else:
                    cells.append(estimate_cell(est, reason="" if est is not None else "needs a target"))
            rows.append([Cell(group_label(view, group, n=False)), Cell(fmt_number(n), "num")] + cells)
        more = len(view.groups) - len(rows)
        blocks += [Heading(attribute_name(key)),
                   Table(["Group", "n"] + [metric_name(m) for m in names], rows,
                         note=f"{more} more groups are in model_card.json." if more > 0 else "")]
    return Section("quantitative", "Quantitative analyses", blocks=blocks)


def _caveats(result: AuditResult, card: dict) -> Section:
    key = "caveats" if card_text(card, "caveats") else "limitations"
    blocks: list[Block] = [_written(card, key)]
    flagged = [v for v in result.verdicts if v.status in ("warn", "fail")]
    if flagged:
        blocks.append(Heading("Found by the audit"))
        blocks.append(Table(["Status", "Finding"], [[Cell(v.status, v.status), Cell(v.message[:1].upper() + v.message[1:])]
                                                    for v in flagged[:MAX_TABLE_ROWS]]))
    return Section("caveats", "Caveats and recommendations", blocks=blocks)


def model_card_view(result: AuditResult) -> ModelCardView:
    """A model card (Mitchell et al. 2019): measured sections from the audit, written ones from config.model_card."""
    card = dict(written_card(result))
    data = result.data
    ids = _Ids()
    sens = list(data.sensitive)
    factors: list[Block] = [Paragraph("Audited groups: " + (", ".join(sens) + " and their intersections."
                                                            if sens else "no sensitive attributes were given to the audit."))]
    if card_text(card, "factors"):
        factors.append(_written(card, "factors"))
    evaluation: list[Block] = [
        KeyValues([("File", data.path or "in-memory data"), ("sha256", data.sha256), ("Rows", fmt_number(data.rows)),
                   ("Target", data.target or "—"), ("Features", fmt_number(len(data.features)))]),
        _written(card, "evaluation_data") if card_text(card, "evaluation_data") else Paragraph(
            "Chosen by whoever ran the audit; see the file and hash above.", "muted")]
    sections = [
        _details(result, card),
        Section("intended_use", "Intended use", blocks=[
            Heading("Primary intended uses"), _written(card, "intended_use"),
            Heading("Primary intended users"), _written(card, "intended_users"),
            Heading("Out-of-scope uses"), _written(card, "out_of_scope_uses")]),
        Section("factors", "Factors", blocks=factors),
        _metrics(result, ids),
        Section("evaluation_data", "Evaluation data", blocks=evaluation),
        Section("training_data", "Training data", blocks=[_written(card, "training_data")]),
        _quantitative(result),
        Section("ethics", "Ethical considerations", blocks=[_written(card, "ethical_considerations")]),
        _caveats(result, card),
    ]
    name = card_text(card, "name") or model_identity(result).file
    doc = result.to_dict()  # the subtitle and notices helpers (summary.py) read the JSON form
    unknown = unknown_card_keys(card)
    notices = _notices(doc) + ([f"The config's [model_card] table has fields this model card does not know, so they "
                                f"are not shown: {', '.join(unknown)}."] if unknown else [])
    return ModelCardView(title=f"Model card: {name}", status=_status(result.status), subtitle=_subtitle(doc),
                         sections=sections, notices=notices)
