"""Render an AuditResult (or an audit.json file) to a self-contained HTML file.

The walk: audit.json dict → view model (:mod:`.sections` and :mod:`.compliance`, every number already text) →
SVG charts (:mod:`.charts`) → Jinja template. Jinja runs with autoescaping on for every
template and ``StrictUndefined``; the only unescaped values are the SVG drawings, whose
text matplotlib escapes. A report can be rebuilt from audit.json alone
(``audit-engine render audit.json --template audit|model-card|bias-audit|eu-ai-act --out FILE``).

Older files: any audit.json of this engine's schema MAJOR version renders (sections a
newer minor added are shown as not recorded; keys this version does not know are ignored);
another MAJOR is refused with :class:`~audit_engine.errors.SchemaVersionError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..errors import ConfigError
from ..result import AuditResult, atomic_write_text
from . import charts
from .blocks import Chart, Figures
from .compliance.bias_audit import bias_audit_view
from .compliance.eu_ai_act import eu_ai_act_json, eu_ai_act_view
from .compliance.model_card import model_card_view
from .compliance.model_card_document import model_card_json
from .sections.summary import audit_view
from ..params import validate_params

VIEW_BUILDERS: dict[str, Any] = {
    "audit": audit_view,
    "model-card": model_card_view,
    "bias-audit": bias_audit_view,
    "eu-ai-act": eu_ai_act_view,
}

__all__ = ["TEMPLATES", "TWINS", "render", "render_html", "build_view"]

logger = logging.getLogger(__name__)

TEMPLATES = {
    "audit": "audit.html.j2",
    "model-card": "model-card.html.j2",
    "bias-audit": "bias-audit.html.j2",
    "eu-ai-act": "eu-ai-act.html.j2",
}
TWINS = {"model-card": "model_card.json", "eu-ai-act": "eu_ai_act.json"}
"""The machine-readable twin each view writes beside its HTML file."""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("audit_engine", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _result(result: AuditResult | dict[str, Any]) -> AuditResult:
    """The typed result; a dict goes through AuditResult.from_dict so its version is checked."""
    if isinstance(result, AuditResult):
        return result
    if not isinstance(result, dict):
        raise ConfigError(f"render expects an AuditResult, an audit.json dict or a path; got {type(result).__name__}.")
    return AuditResult.from_dict(result)


def build_view(result: AuditResult | dict[str, Any], *, template: str = "audit") -> Any:
    """The view model of ``template`` for ``result`` (what the snapshot tests compare)."""
    if template not in TEMPLATES:
        raise ConfigError(f"Unknown template {template!r}; use one of: {', '.join(TEMPLATES)}.")
    return VIEW_BUILDERS[template](_result(result))


def _charts(view: Any) -> list[Chart]:
    found: list[Chart] = []
    sections = list(getattr(view, "sections", []))
    if hasattr(view, "reproducibility"):
        sections.append(view.reproducibility)
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Chart):
                found.append(block)
            elif isinstance(block, Figures):
                found.extend(block.charts)
    return found


def _svg(chart: Chart) -> Markup:
    try:
        svg = charts.draw(chart.chart, chart.title, chart.data)
    except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError) as exc:
        logger.warning("Chart %r could not be drawn (%s); the report shows its caption only.", chart.title, exc)
        return Markup('<p class="muted">(chart not drawn: its data is incomplete)</p>')
    # Safe: matplotlib's SVG writer escapes every text node and attribute it writes.
    return Markup(svg)


def render_html(result: AuditResult | dict[str, Any], *, template: str = "audit") -> str:
    """The HTML text of view ``template`` (audit | model-card | bias-audit) of ``result``."""
    view = build_view(result, template=template)
    svgs = {c.id: _svg(c) for c in _charts(view)}
    return _environment().get_template(TEMPLATES[template]).render(view=view, svgs=svgs)


@validate_params("render")
def render(
    result: AuditResult | str | os.PathLike[str], path: str | os.PathLike[str], *, template: str = "audit"
) -> Path:
    """Write the HTML view ``template`` of ``result`` (an AuditResult, a dict or an audit.json path) to ``path``."""
    if isinstance(result, (str, os.PathLike)):
        result = AuditResult.from_json(result)
    html = render_html(result, template=template)
    atomic_write_text(path, html)
    if template == "model-card":  # its machine-readable twin, model_card.json, beside it
        atomic_write_text(Path(path).with_name(TWINS[template]), model_card_json(_result(result)))
    elif template == "eu-ai-act":  # eu_ai_act.json: the document the HTML view was written from
        atomic_write_text(Path(path).with_name(TWINS[template]), eu_ai_act_json(_result(result)))
    return Path(path)
