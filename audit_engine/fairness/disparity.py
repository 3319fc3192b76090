"""Tests of "no disparity": conditional permutation tests computed from the group counts.

Each rate is a proportion within a *stratum* of rows (selection rate: all rows; TPR and
FNR: the rows of the positive class; FPR and TNR: the other rows; precision: the rows
predicted positive; accuracy: all rows, counting correct predictions; calibration: the
rows of each score bin, counting positives). Under the null hypothesis that the outcome
is independent of the group within the stratum, permuting group labels among the
stratum's rows keeps every group size and the stratum's number of successes, so the
successes per group follow a multivariate hypergeometric law — drawn here from the
counts alone (``Generator.multivariate_hypergeometric``), never from rows.

The statistic is Pearson's X² of the stratum's group × outcome table (it weighs every
group by its size, so a few small, noisy groups do not drown a gap between large ones,
as the max − min gap itself would); ``p = (1 + #{X²* >= X²}) / (1 + n_perm)`` over
``n_perm`` permuted tables. Every gap built on a rate (difference, ratio, to the
reference) shares that rate's p-value: they share its null. This is a valid test at every sample size (its false-positive rate
under the null is at most the level; Phipson & Smyth 2010). Equalized odds permutes
within the positives and within the negatives independently (its null is TPR and FPR
equal across groups).
"""

from __future__ import annotations

import numpy as np

__all__ = ["permuted_successes", "permuted_tables", "p_value", "chi_square"]


def permuted_successes(sizes: np.ndarray, successes: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_perm, g)`` successes per group of a stratum under the permutation null.

    sizes: ``(g,)`` unweighted rows of each group in the stratum; successes: their total.
    """
    sizes = np.asarray(np.round(sizes), dtype=np.int64)
    total = int(sizes.sum())
    k = int(round(successes))
    if total == 0:
        return np.zeros((n_perm, len(sizes)))
    k = min(max(k, 0), total)
    return rng.multivariate_hypergeometric(sizes, k, size=n_perm).astype(np.float64)


def permuted_tables(table: np.ndarray, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_perm, g, B)`` permuted group × category tables with both margins of ``table`` ``(g, B)`` kept.

    Permuting group labels among rows gives each group a multivariate hypergeometric draw
    of categories from what the groups before it left (drawn group by group).
    Each multivariate draw is a chain of univariate hypergeometric draws (category by
    category, from what is left), vectorised over the permutations.
    """
    table = np.asarray(np.round(table), dtype=np.int64)
    g, b = table.shape
    out = np.zeros((n_perm, g, b))
    left = np.broadcast_to(table.sum(axis=0), (n_perm, b)).copy()
    sizes = table.sum(axis=1)
    for i in range(g - 1):
        want = np.full(n_perm, int(sizes[i]), dtype=np.int64)
        rest = left.sum(axis=1)
        for j in range(b):
            rest = rest - left[:, j]
            draw = want if j == b - 1 else _hypergeometric(left[:, j], rest, want, rng)
            out[:, i, j] = draw
            left[:, j] -= draw
            want = want - draw
    out[:, g - 1] = left
    return out


def _hypergeometric(good: np.ndarray, bad: np.ndarray, sample: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Univariate hypergeometric draws, 0 where nothing is drawn (numpy wants ``ngood + nbad >= 1``)."""
    ok = (sample > 0) & (good > 0)
    out = np.zeros(good.shape, dtype=np.int64)
    if ok.any():
        out[ok] = rng.hypergeometric(good[ok], bad[ok], sample[ok])
    return out


def p_value(observed: float, permuted: np.ndarray, *, higher_is_extreme: bool = True) -> float:
    """Permutation p-value ``(1 + #{as or more extreme}) / (1 + n)``; NaN permuted values count as extreme.

    A tolerance of 1e-12 makes ties (common with small counts) count as extreme, so the
    test stays valid.
    """
    if not np.isfinite(observed):
        return float("nan")
    permuted = np.asarray(permuted, dtype=np.float64)
    undefined = ~np.isfinite(permuted)
    extreme = permuted >= observed - 1e-12 if higher_is_extreme else permuted <= observed + 1e-12
    hits = int(np.count_nonzero(extreme | undefined))
    return (1 + hits) / (1 + permuted.size)


def chi_square(successes: np.ndarray, trials: np.ndarray) -> np.ndarray | float:
    """Pearson's X² of a groups × (success, failure) table; ``successes`` ``(..., g)``, ``trials`` ``(g,)``.

    0 when the pooled rate is 0 or 1 (the table carries no evidence of a difference).
    """
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(trials, dtype=np.float64)
    total = m.sum()
    pooled = x.sum(axis=-1, keepdims=True) / total if total > 0 else np.zeros(x.shape[:-1] + (1,))
    var = m * pooled * (1.0 - pooled)
    terms = np.divide((x - m * pooled) ** 2, var, out=np.zeros(np.broadcast(x, var).shape), where=var > 0)
    out = terms.sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out
