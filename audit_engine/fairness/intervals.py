"""Intervals for group rates and the gaps between groups, computed from per-group counts.

Three pieces, each chosen for its measured coverage (``benchmarks/coverage.py``):

- **Rates** (a proportion ``k / m`` of one group: selection rate, TPR, FPR, precision,
  accuracy, ...): the Jeffreys interval, the equal-tailed interval of the
  Beta(k + ½, m − k + ½) posterior (Brown, Cai & DasGupta 2001), with their boundary
  modification (lower bound 0 when k = 0, upper bound 1 when k = m), so it never has
  zero width and always holds k / m. Wilson's score interval is the alternative.
- **Posterior draws of the cells** (:func:`gamma_cell_draws`): each cell of a view's
  confusion table (group × true class × predicted class × score bin) gets an independent
  Gamma(rows + a / B, 1) draw. Rates are ratios of sums of cells of one group, so each
  rate's draw is exactly a Beta posterior draw under a Dirichlet(a, ..., a) prior on the
  group's confusion cells (Gamma normalisation, and sums of Gammas with one scale are
  Gamma); every gap, ratio and signed difference is then computed per draw by the same
  code as the point value. This is the Bayesian counterpart (Rubin 1981) of the cell
  Poisson bootstrap and stays a function of the additive counts.
- **Gaps that are a maximum of differences** (max − min of a rate, equalized odds, the
  largest gap to the reference; :func:`max_gap_interval`): the posterior of a maximum
  sits above the maximum of the true values (each draw takes the largest of several noisy
  differences), so its percentile interval under-covers when two differences are close
  (equalized odds: 85% in the 5%-group cell). Instead each signed pairwise difference
  ``x_i − x_j`` gets its own equal-tailed posterior interval ``[l, u]``, the interval of
  ``|x_i − x_j|`` is ``[max(l, −u, 0), max(u, −l)]``, and the gap's interval is the
  elementwise maximum over the differences: ``[max_k lower_k, max_k upper_k]`` (the
  interval of a maximum from the intervals of its terms, as in union–intersection
  constructions; Casella & Berger 2002, §9.2.3). With one dominant difference it is that
  difference's interval; with m tied ones the lower end misses with probability
  ``1 − (1 − α/2)^m`` and the upper end almost never, so coverage stays near 1 − α
  (equalized odds: 94.0–96.5% in every cell of the grid, BENCHMARKS.md).
- :func:`include_point` extends any interval to hold its own point value.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import stats as sps

from ..stats import RATE_METHODS, rate_interval

__all__ = ["rate_interval", "gamma_cell_draws", "include_point", "max_gap_interval", "ratio_gap_interval",
           "simultaneous_critical_value", "impact_ratio_intervals", "PRIOR", "RATE_METHODS"]

PRIOR = 0.5  # Dirichlet concentration per confusion cell (Jeffreys for one-vs-rest rates)
_BLOCK = 4_000_000


def gamma_cell_draws(rows: np.ndarray, counts: np.ndarray, score_sums: np.ndarray | None, n_draws: int,
                     rng: np.random.Generator, *, prior: float = PRIOR,
                     bin_centres: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield blocks ``(r, *cells)`` of posterior draws of a view's cells, ``n_draws`` in all.

    Parameters
    ----------
    rows: ``(g, K, K, B)`` unweighted rows per cell; counts: the same, weighted.
    score_sums: the same, weighted sums of p(positive), or None.
    prior: Dirichlet concentration per (true, predicted) cell, split evenly over the B bins
        (a sum of Gamma(a / B) draws is Gamma(a)).
    bin_centres: ``(B,)`` score given to the prior mass of empty cells (default bin midpoints).

    Weighted counts follow the draw in proportion to each cell's mean weight (1 for empty
    cells); score sums follow each cell's mean score.
    """
    rows = np.asarray(rows, dtype=np.float64)
    b = rows.shape[-1]
    shape = rows + prior / b
    occupied = rows > 0
    mean_weight = np.divide(counts, rows, out=np.ones_like(rows), where=occupied)
    mean_score = None
    if score_sums is not None:
        centres = bin_centres if bin_centres is not None else (np.arange(b) + 0.5) / b
        fill = np.broadcast_to(centres, rows.shape)
        mean_score = np.divide(score_sums, counts, out=np.array(fill, dtype=np.float64), where=counts > 0)
    per_block = max(1, _BLOCK // max(1, rows.size))
    done = 0
    while done < n_draws:
        r = min(per_block, n_draws - done)
        draws = rng.standard_gamma(np.broadcast_to(shape, (r,) + shape.shape)) * mean_weight
        yield draws, None if mean_score is None else draws * mean_score
        done += r


def include_point(value: float, low: float, high: float) -> tuple[float, float]:
    """``[min(low, value), max(high, value)]``; NaN bounds stay NaN unless the value is finite."""
    if not np.isfinite(value):
        return low, high
    if not (np.isfinite(low) and np.isfinite(high)):
        return low, high
    return float(min(low, value)), float(max(high, value))


def simultaneous_critical_value(draws: np.ndarray, alpha_side: float, lower_tail: np.ndarray) -> float:
    """One-sided simultaneous critical value ``c`` over the columns of posterior draws (max-T).

    draws: ``(r, m)`` posterior draws of m quantities; lower_tail: ``(m,)`` True where a
    column's bound of interest is its lower one. Each column is standardised by its
    posterior mean and standard deviation, signed so that its tail of interest is
    negative, and ``c`` is minus the ``alpha_side`` quantile of each draw's smallest
    standardised value: the bounds ``mean_k ∓ c · sd_k`` then hold all m quantities at
    once with posterior probability ``1 − alpha_side`` (the single-step max-T band;
    Hothorn, Bretz & Westfall 2008, Biom J 50:346, §3, with the joint law taken from the
    draws). Correlated columns (pairs sharing a group) give a smaller ``c`` than
    Bonferroni; ``c`` is clipped to ``[z_{1−alpha_side}, z_{1−alpha_side/m}]``. Standardised
    values need no tail resolution of the draws (200 draws resolve ``alpha_side = 0.025``),
    where per-column quantiles at a level near ``alpha_side / m`` would need thousands.
    """
    r, m = draws.shape
    z_one = float(sps.norm.ppf(1 - alpha_side))
    if m <= 1 or r < 2:
        return z_one
    mean, sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, np.inf)
    t = (draws - mean) / sd
    t = np.where(lower_tail[None, :], t, -t)
    c = -float(np.quantile(t.min(axis=1), alpha_side))
    return float(np.clip(c, z_one, sps.norm.ppf(1 - alpha_side / m)))


def max_gap_interval(rate_draws: list[np.ndarray], confidence: float = 0.95, *,
                     ref: int | None = None, simultaneous: bool = True) -> tuple[float, float]:
    """Interval of ``max`` over rates and pairs of groups of ``|x_i − x_j|`` from posterior draws.

    Parameters
    ----------
    rate_draws: one ``(r, g)`` array of posterior draws per rate (one for a max − min gap,
        two for equalized odds: TPR and FPR); NaN columns (groups left out or undefined)
        take no part.
    confidence: 1 − α; each signed difference gets its equal-tailed ``α/2, 1 − α/2``
        posterior quantiles ``l, u``.
    ref: the reference group's column: pairs are then ``(g, ref)`` only (the largest gap
        to the reference), else every pair ``i < j`` (the max − min gap).
    simultaneous: the lower end from simultaneous lower bounds over the pairs that could
        hold the maximum (below); False gives the plain maximum of the pairs' own ends.

    Returns
    -------
    ``(low, high)``; NaN when no pair is defined. The upper end is ``max_k max(u_k, −l_k)``:
    it misses only when the pair holding the true maximum misses on its own (≤ α/2). The
    lower end ``max_k max(l_k, −u_k, 0)`` misses when *any* pair's lower bound exceeds its
    truth, which with m near-tied pairs happens with probability up to ``1 − (1 − α/2)^m``
    (equalized odds with ten groups: 89.1% coverage, issue 23). So each pair's lower end
    is taken on its side of 0 as ``mean ∓ c · sd`` of its draws, with the max-T critical
    value ``c`` of :func:`simultaneous_critical_value` over all pairs (never above its own
    equal-tailed end): the lower end then misses with probability about α/2 whatever the
    number of ties. (Restricting the band to the pairs that could hold the maximum, as in
    the two-step method of Romano, Shaikh & Wolf 2014, gave a smaller ``c`` but missed
    more often in simulation: 5.0% against 4.0% on one side, ten groups with 32 tied pairs.)
    """
    alpha = 1.0 - confidence
    cols: list[np.ndarray] = []
    for x in rate_draws:
        x = np.asarray(x, dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(x).all(axis=0))
        if ref is not None:
            if ref not in ok:
                continue
            others = ok[ok != ref]
            d = x[:, others] - x[:, [ref]]
        else:
            i, j = np.triu_indices(len(ok), k=1)
            d = x[:, ok[i]] - x[:, ok[j]]
        if d.shape[1]:
            cols.append(d)
    if not cols:
        return float("nan"), float("nan")
    d = np.concatenate(cols, axis=1)
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2], axis=0)
    lows = np.maximum(np.maximum(lo, -hi), 0.0)
    highs = np.maximum(hi, -lo)
    low = float(lows.max())
    if simultaneous:
        if d.shape[1] > 1:
            lower_tail = np.median(d, axis=0) >= 0  # |d| is bounded below by the tail on d's own side
            c = simultaneous_critical_value(d, alpha / 2, lower_tail)
            mean, sd = d.mean(axis=0), d.std(axis=0, ddof=1)
            bound = np.where(lower_tail, mean - c * sd, -(mean + c * sd))
            # never above the pair's own equal-tailed lower end: the band only widens
            low = float(np.minimum(np.maximum(bound, 0.0), lows).max())
    return low, float(highs.max())


def ratio_gap_interval(rate_draws: list[np.ndarray], confidence: float = 0.95, *,
                       ref: int | None = None, simultaneous: bool = True) -> tuple[float, float]:
    """Interval of ``min`` over rates and pairs of ``min(x_i, x_j) / max(x_i, x_j)`` from posterior draws.

    The ratio gap is ``exp(−max_k |log x_i − log x_j|)``, a decreasing function of a max
    gap of log rates, so its interval is :func:`max_gap_interval` of the log draws, mapped
    back: ``[exp(−high), exp(−low)]``. The upper end (the side a near-tie pushes too low,
    where a percentile interval of the draws' minimum left the truth above it in 11–23% of
    samples; issue 23) comes from the simultaneous lower ends. Same arguments as
    :func:`max_gap_interval`; rates must be ≥ 0 (a 0 draw counts as the smallest float).
    """
    logs = [np.log(np.maximum(np.asarray(x, dtype=np.float64), np.finfo(np.float64).tiny)) for x in rate_draws]
    low, high = max_gap_interval(logs, confidence, ref=ref, simultaneous=simultaneous)
    if not (np.isfinite(low) and np.isfinite(high)):
        return float("nan"), float("nan")
    return float(np.exp(-high)), float(np.exp(-low))


def impact_ratio_intervals(selection_draws: np.ndarray, eligible: np.ndarray, confidence: float = 0.95, *,
                           simultaneous: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``(g,)``, ``(g,)`` of each group's impact ratio ``x_g / max_h x_h`` (h over the eligible groups).

    selection_draws: ``(r, g)`` posterior draws of the selection rates; eligible: ``(g,)``.
    The ratio is ``exp(−max_h (log x_h − log x_g))``, the maximum taken over the eligible
    groups (the group itself among them gives the term 0, so an eligible group's ratio is
    at most 1). A percentile interval of the draws of the ratio divides by the draws'
    maximum, which sits above the true maximum with near ties, and left the truth above
    the interval in 12–22% of samples (ten and six unbalanced groups; issue 23). Here the
    interval of the maximum is built from its terms as in :func:`max_gap_interval`, with
    signed terms: upper end ``max_h u_h``, lower end the largest of the simultaneous lower
    ends ``mean_h − c · sd_h`` (:func:`simultaneous_critical_value`). NaN where a group's
    rate or every candidate is undefined.
    """
    alpha = 1.0 - confidence
    x = np.log(np.maximum(np.asarray(selection_draws, dtype=np.float64), np.finfo(np.float64).tiny))
    ok = np.isfinite(x).all(axis=0)
    cand = np.flatnonzero(ok & np.asarray(eligible, dtype=bool))
    g = x.shape[1]
    low, high = np.full(g, np.nan), np.full(g, np.nan)
    for i in np.flatnonzero(ok):
        others = cand[cand != i]
        if others.size == 0:
            if i in cand:  # the only candidate: its ratio is 1 by construction
                low[i] = high[i] = 1.0
            continue
        d = x[:, others] - x[:, [i]]  # (r, m) log x_h − log x_i
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2], axis=0)
        top_low, top_high = float(lo.max()), float(hi.max())
        if simultaneous and d.shape[1] > 1:
            c = simultaneous_critical_value(d, alpha / 2, np.ones(d.shape[1], dtype=bool))
            top_low = float(np.minimum(d.mean(axis=0) - c * d.std(axis=0, ddof=1), lo).max())
        if i in cand:  # the group itself: a term 0 in the maximum
            top_low, top_high = max(top_low, 0.0), max(top_high, 0.0)
        low[i], high[i] = np.exp(-top_high), np.exp(-top_low)
    return low, high
