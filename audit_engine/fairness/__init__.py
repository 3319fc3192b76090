"""Group fairness from additive per-group counts: metrics, Poisson bootstrap, impact ratios.

::

    counts = group_counts(y_true, y_pred, sensitive_frame, scores=p_positive)   # per chunk
    counts = counts.merge(other_chunk_counts)                                   # additive
    report = fairness_report(counts, n_boot=1000, rng=0)                        # views, gaps, CIs
    report.to_dict()["race"]["metrics"]["demographic_parity_difference"]
"""

from .analysis import FairnessReport, fairness_report, parse_reference
from .counts import GroupCounts, GroupSums, group_counts, group_sums, score_bin_edges
from .impact import four_fifths, impact_ratios, ll144_view

__all__ = [
    "FairnessReport",
    "GroupCounts",
    "GroupSums",
    "fairness_report",
    "four_fifths",
    "group_counts",
    "group_sums",
    "impact_ratios",
    "ll144_view",
    "parse_reference",
    "score_bin_edges",
]
