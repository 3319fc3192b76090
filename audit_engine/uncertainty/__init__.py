"""uncertainty (being built; see the issue)."""
