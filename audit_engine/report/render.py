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

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from ..errors import ConfigError
from ..result import AuditResult, atomic_write_text
from . import charts
from .blocks import Chart, Details, Figures
from .compliance.bias_audit import bias_audit_refusal, bias_audit_view
from .compliance.eu_ai_act import eu_ai_act_json, eu_ai_act_view
from .format import css_text
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
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("audit_engine", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["css_text"] = css_text
    return env


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
    def walk(blocks: Any) -> None:
        for block in blocks:
            if isinstance(block, Chart):
                found.append(block)
            elif isinstance(block, Figures):
                found.extend(block.charts)
            elif isinstance(block, Details):
                walk(block.blocks)

    for section in sections:
        walk(section.blocks)
    return found


_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'(href="#|url\(#)([^")]+)')
_SVG_OPEN = re.compile(r"<svg\b")
# Chart kinds whose plotted numbers are small enough to carry as data-values (the numbers audit reads them).
_DATA_KINDS = ("sweep", "bars", "interval_bars")


def _svg(chart: Chart) -> Markup:
    """The chart's SVG: ids prefixed by the chart id (unique in the page), ``role="img"`` and an ``aria-label``."""
    try:
        svg = charts.draw(chart.chart, chart.title, chart.data)
    except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError) as exc:
        logger.warning("Chart %r could not be drawn (%s); the report shows its caption only.", chart.title, exc)
        return Markup('<p class="muted">(chart not drawn: its data is incomplete)</p>')
    prefix = chart.id or "chart"
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _SVG_REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    label = escape(f"{chart.title}. {chart.alt}")
    svg = _SVG_OPEN.sub(f'<svg role="img" aria-label="{label}"', svg, count=1)
    # Safe: matplotlib's SVG writer escapes every text node and attribute it writes; the label is escaped above.
    return Markup(svg)


def chart_values(chart: Chart) -> str:
    """The plotted numbers of a line or bar chart as JSON (``data-values``), else ""."""
    if chart.chart not in _DATA_KINDS:
        return ""
    keep = {k: v for k, v in chart.data.items() if k in ("x", "series", "labels", "values", "low", "high")}
    return json.dumps(_finite(keep), allow_nan=False, default=str, separators=(",", ":")) if keep else ""


def _finite(x: Any) -> Any:
    """NaN and infinities as null (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def render_html(result: AuditResult | dict[str, Any], *, template: str = "audit") -> str:
    """The HTML text of view ``template`` (audit | model-card | bias-audit) of ``result``."""
    view = build_view(result, template=template)
    found = _charts(view)
    svgs = {c.id: _svg(c) for c in found}
    values = {c.id: chart_values(c) for c in found}
    return _environment().get_template(TEMPLATES[template]).render(view=view, svgs=svgs, values=values)


@validate_params("render")
def render(
    result: AuditResult | str | os.PathLike[str], path: str | os.PathLike[str], *, template: str = "audit"
) -> Path:
    """Write the HTML view ``template`` of ``result`` (an AuditResult, a dict or an audit.json path) to ``path``.

    Raises
    ------
    ConfigError: ``template`` is "bias-audit" and the audit has no fairness section or
        declares no favourable outcome (nothing is written).
    """
    if isinstance(result, (str, os.PathLike)):
        result = AuditResult.from_json(result)
    if template == "bias-audit":
        refused = bias_audit_refusal(_result(result))
        if refused is not None:
            raise ConfigError(refused)
    html = render_html(result, template=template)
    atomic_write_text(path, html)
    if template == "model-card":  # its machine-readable twin, model_card.json, beside it
        atomic_write_text(Path(path).with_name(TWINS[template]), model_card_json(_result(result)))
    elif template == "eu-ai-act":  # eu_ai_act.json: the document the HTML view was written from
        atomic_write_text(Path(path).with_name(TWINS[template]), eu_ai_act_json(_result(result)))
    return Path(path)
