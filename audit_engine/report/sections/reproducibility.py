"""The Reproducibility section: engine, packages, model and data fingerprints, seed, settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..blocks import Block, Cell, KeyValues, Paragraph, Preformatted, Section, Table
from ..format import _is_number, fmt_number


def _reproducibility(doc: Mapping[str, Any]) -> Section:
    model, data = doc.get("model", {}), doc.get("data", {})
    engine, ev = doc.get("engine", {}), doc.get("evaluations", {})
    items = [
        ("Model file", str(model.get("path", "—"))),
        ("Model sha256", str(model.get("sha256", "—"))),
        ("Model producer / opset", f"{model.get('producer', '—')} / opset {model.get('opset', '—')}"),
        ("Data file", str(data.get("path") or "in-memory data")),
        ("Data sha256", str(data.get("sha256", "—"))),
        ("Rows audited", fmt_number(data.get("rows"))),
        ("Execution provider", str(model.get("provider", "—"))),
        ("Seed", fmt_number(doc.get("seed"))),
        ("Engine", f"{engine.get('name', 'audit-engine')} {engine.get('version', '')}"),
        ("Schema version", str(doc.get("schema_version", "—"))),
        ("Created", str(doc.get("created", "—"))),
        ("Model evaluations", f"{fmt_number(ev.get('model_calls'))} calls, {fmt_number(ev.get('rows_evaluated'))} rows, "
                              f"{fmt_number(ev.get('seconds'))} s in the model"),
    ]
    if _is_number(ev.get("total_seconds")):
        items.append(("Total time", f"{fmt_number(ev.get('total_seconds'))} s"))
    packages = engine.get("packages")
    blocks: list[Block] = [KeyValues(items)]
    if isinstance(packages, Mapping) and packages:
        blocks.append(Table(["Package", "Version"], [[Cell(str(k)), Cell(str(v))] for k, v in packages.items()],
                            caption="Package versions"))
    blocks.append(Preformatted(json.dumps(doc.get("config", {}), indent=2, ensure_ascii=False, sort_keys=True),
                               caption="Configuration"))
    blocks.append(Paragraph("Rebuild this report from audit.json alone with "
                            "audit-engine render audit.json --template audit --out report.html.", "muted"))
    return Section("reproducibility", "Reproducibility", blocks=blocks)
