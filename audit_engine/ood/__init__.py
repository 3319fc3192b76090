"""ood (being built; see the issue)."""
