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

from ..stats import RATE_METHODS, rate_interval

__all__ = ["rate_interval", "gamma_cell_draws", "include_point", "max_gap_interval", "PRIOR", "RATE_METHODS"]

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


def max_gap_interval(rate_draws: list[np.ndarray], confidence: float = 0.95, *,
                     ref: int | None = None) -> tuple[float, float]:
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

    Returns
    -------
    ``(low, high)`` = ``(max_k max(l_k, −u_k, 0), max_k max(u_k, −l_k))`` over the pairs k
    of every rate; NaN when no pair is defined. See the module docstring for the
    construction and its coverage.
    """
    alpha = 1.0 - confidence
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    for x in rate_draws:
        x = np.asarray(x, dtype=np.float64)
        cols = np.flatnonzero(np.isfinite(x).all(axis=0))
        if ref is not None:
            if ref not in cols:
                continue
            others = cols[cols != ref]
            d = x[:, others] - x[:, [ref]]
        else:
            i, j = np.triu_indices(len(cols), k=1)
            d = x[:, cols[i]] - x[:, cols[j]]
        if d.shape[1] == 0:
            continue
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2], axis=0)
        lows.append(np.maximum(np.maximum(lo, -hi), 0.0))
        highs.append(np.maximum(hi, -lo))
    if not lows:
        return float("nan"), float("nan")
    return float(np.concatenate(lows).max()), float(np.concatenate(highs).max())
