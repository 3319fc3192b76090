"""The Reproducibility section: engine, packages, model and data fingerprints, seed, settings.

Reads the typed top-level blocks (``result.model``, ``result.data``, ``result.engine``,
``result.evaluations``); the configuration is shown as recorded (JSON).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..blocks import Block, Cell, KeyValues, Paragraph, Preformatted, Section, Table
from ..format import fmt_datetime, fmt_id, fmt_number

if TYPE_CHECKING:
    from ...result import AuditResult


def _set(x: object) -> object:
    """The configuration without unset (null) or empty entries: what was actually chosen."""
    if isinstance(x, dict):
        kept = {k: _set(v) for k, v in x.items() if v is not None}
        return {k: v for k, v in kept.items() if v not in ({}, [])}
    if isinstance(x, list):
        return [_set(v) for v in x]
    return x


def _reproducibility(result: AuditResult) -> Section:
    model, data, engine, ev = result.model, result.data, result.engine, result.evaluations
    items = [
        ("Model file", model.path),
        ("Model sha256", model.sha256),
        ("Model producer / opset", f"{model.producer or 'unknown'} / opset {model.opset}"),
        ("Output read as", f"{model.output or '—'}: {model.normalisation or model.output_kind or '—'}"),
        ("Data file", data.path or "in-memory data"),
        ("Data sha256", data.sha256),
        ("Rows audited", fmt_number(data.rows)),
        ("Execution provider", model.provider),
        ("Seed", fmt_id(result.seed)),
        ("Engine", f"{engine.name} {engine.version}"),
        ("Schema version", result.schema_version),
        ("Created", fmt_datetime(result.created)),
        ("Model evaluations", f"{fmt_number(ev.model_calls)} calls on {fmt_number(ev.rows_evaluated)} rows, "
                              f"{fmt_number(ev.seconds)} s in the model"),
    ]
    if ev.total_seconds is not None:
        items.append(("Total time", f"{fmt_number(ev.total_seconds)} s"))
    blocks: list[Block] = [KeyValues(items)]
    if engine.packages:
        blocks.append(Table(["Package", "Version"], [[Cell(k), Cell(v)] for k, v in engine.packages.items()],
                            caption="Package versions"))
    settings = _set(dict(result.config))
    blocks.append(Preformatted(json.dumps(settings, indent=2, ensure_ascii=False, sort_keys=True),
                               caption="Configuration (the settings given; unset ones are left out, all are in audit.json)"))
    blocks.append(Paragraph("Rebuild this report from audit.json alone with "
                            "audit-engine render audit.json --template audit --out report.html.", "muted"))
    return Section("reproducibility", "Reproducibility", blocks=blocks)
