"""``python -m audit_engine`` runs the CLI."""

try:
    from .cli import entry
except KeyboardInterrupt:  # Ctrl-C while the CLI is still being imported: one line, no traceback
    import sys

    print("audit-engine: interrupted (Ctrl-C); no partial output is left.", file=sys.stderr)
    raise SystemExit(130) from None

entry()
