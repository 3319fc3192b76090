"""Render an AuditResult (or an audit.json file) to a self-contained HTML file.

Computation never formats text here beyond presentation: the view model is built from
the audit.json dict alone, so a report can be rebuilt later with ``audit-engine render``.
Jinja runs with autoescaping on and StrictUndefined.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2

from ..result import AuditResult, atomic_write_text

__all__ = ["TEMPLATES", "render", "render_html"]

TEMPLATES = {"audit": "audit.html.j2"}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("audit_engine", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(result: AuditResult | dict[str, Any], *, template: str = "audit") -> str:
    from ..errors import ConfigError

    if template not in TEMPLATES:
        raise ConfigError(f"Unknown template {template!r}; use one of: {', '.join(TEMPLATES)}.")
    doc = result.to_dict() if isinstance(result, AuditResult) else result
    return _environment().get_template(TEMPLATES[template]).render(doc=doc)


def render(
    result: AuditResult | str | os.PathLike[str], path: str | os.PathLike[str], *, template: str = "audit"
) -> Path:
    """Write the HTML view ``template`` of ``result`` (an AuditResult or audit.json path) to ``path``."""
    if not isinstance(result, AuditResult):
        result = AuditResult.from_json(result)
    html = render_html(result, template=template)
    atomic_write_text(path, html)
    return Path(path)
