"""HTML reports rendered with Jinja from audit.json (see render.py)."""

from .render import TEMPLATES, render, render_html

__all__ = ["TEMPLATES", "render", "render_html"]
