"""Weak-slice discovery with false-discovery-rate control (see :mod:`.search`)."""

from .search import Predicates, Slice, SliceSearch, benjamini_hochberg, newcombe_difference, predicates, search

__all__ = ["Predicates", "Slice", "SliceSearch", "benjamini_hochberg", "newcombe_difference", "predicates", "search"]
