"""Family-wise control of "the data supports a gap" over every test an audit reports.

An audit tests "no disparity" once per rate and view (:mod:`.disparity`): each sensitive
attribute and each intersection, for the selection rate, TPR, FPR, equalized odds,
precision, accuracy, mean score and calibration. Each test keeps its level, but with
two attributes and their intersection a fair model meets some 24 of them, and the share
of fair audits showing at least one red flag was 40.8 ± 2.5% (issue 23). The red flag is
therefore decided on Holm-adjusted p-values over the whole family, which keeps the
probability that a fair model shows *any* "supports a gap" at most α (strong control of
the family-wise error rate, whatever the dependence between the tests; Holm 1979,
Scand J Statist 6:65–70).

The family is the set of distinct null hypotheses, not of gaps: every gap built on one
rate (difference, ratio, to the reference group, the lowest impact ratio) shares that
rate's test and so its hypothesis, and counts once. Multiclass views contribute one
hypothesis per class and rate; their headline (worst-class) gap takes the smallest
adjusted p-value of its classes, which is what closed testing gives for "some class has
a gap".

Why Holm rather than a resampling max-T (Westfall & Young 1993): max-T gains power when
the tests are strongly correlated, but needs one joint permutation of the rows' group
labels across every view and stratum. The tests here are computed from additive counts,
each permuting within its own stratum and view (which is what makes them exact
conditional tests), so a joint law is not available without the rows; and a joint
permutation of group labels draws from the complete null only, so max-T would control
the error strongly only under subset pivotality (Westfall & Young 1993, §2.8), which
tests of different rates on the same groups need not have. Holm needs only the
p-values, is valid under any dependence and is uniformly more powerful than Bonferroni.
Its price is measured: on the multi-attribute null the family-wise error is well under
α (BENCHMARKS.md), the slack a max-T could at most recover.

Benjamini–Hochberg (false-discovery rate) was not chosen: an auditor reads one red flag
on a fair model as a false accusation, which is a family-wise event, not a proportion.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np

__all__ = ["METHOD", "holm", "adjust"]

METHOD = "holm"


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values ``(m,)`` → ``(m,)``; NaN entries stay NaN and do not count.

    With the finite p-values sorted ``p_(1) ≤ … ≤ p_(m)``, the adjusted value of ``p_(i)``
    is ``max_{j ≤ i} min(1, (m − j + 1) p_(j))``; rejecting where it is below α controls
    the family-wise error rate at α (Holm 1979). Equals
    ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def adjust(p_values: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """``{hypothesis: p}`` → ``{hypothesis: Holm-adjusted p}`` (NaN where p is NaN)."""
    keys = list(p_values)
    adjusted = holm(np.array([p_values[k] for k in keys], dtype=np.float64))
    return {k: (float(a) if math.isfinite(a) else float("nan")) for k, a in zip(keys, adjusted, strict=True)}
