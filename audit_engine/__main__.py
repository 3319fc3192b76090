"""``python -m audit_engine`` runs the CLI."""

from .cli import entry

entry()
