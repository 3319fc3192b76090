"""fairness (being built; see the issue)."""
