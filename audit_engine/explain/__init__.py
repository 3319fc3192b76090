"""explanations (being built; see the issue)."""
