"""LIME for tabular data (Ribeiro, Singh & Guestrin 2016), batched over many rows.

Reproduces ``lime.lime_tabular.LimeTabularExplainer`` with ``discretize_continuous=True``
and the ``quartile`` discretizer:

1. each numeric feature is cut at the quartiles of the background data; categorical
   features (integer codes) keep their codes;
2. a perturbed sample draws, for every feature independently, a bin (or category) with
   the background frequencies; the interpretable representation ``z_j`` is 1 when the
   drawn bin equals the instance's bin; the model sees a value drawn from a normal
   truncated to the bin (mean and std of the background values in that bin) — the
   category code itself for categorical features; sample 0 is the instance;
3. weights ``sqrt(exp(−D²/width²))`` with ``D`` the Euclidean distance of ``z`` to the
   all-ones vector and ``width = 0.75·sqrt(d)``;
4. a weighted ridge (α = 1) of the target's probability on ``z``.

The returned weight of feature j means what ``explanation.as_map()[label]`` means with
``num_features >= d``: the change of the probability associated with the feature lying in
the instance's bin (category). The samples of all requested rows are scored in one
Evaluator call; the surrogates are solved together (:mod:`.surrogate`).

One deliberate difference: where a bin holds a single value lime returns its z-score
(a quirk of ``BaseDiscretizer.get_undiscretize_values``); here that value itself is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ._common import Predict, gather_scores
from .surrogate import weighted_ridge

__all__ = ["TabularLimeStats", "fit_tabular_stats", "lime_tabular"]


@dataclass(frozen=True)
class TabularLimeStats:
    """Background statistics, per feature j (``V`` = most bins/categories of any feature).

    edges: list of quartile cut points (None for categorical features).
    values: ``(d, V)`` observed bin indices / category codes (padded with -1).
    cum: ``(d, V)`` cumulative frequencies (padded with 1).
    means, stds, lows, highs: ``(d, 4)`` per-bin truncated-normal parameters (numeric).
    categorical: ``(d,)`` mask.
    """

    edges: list[np.ndarray | None]
    values: np.ndarray
    cum: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    categorical: np.ndarray

    def discretize(self, x: np.ndarray) -> np.ndarray:
        """Bin index (numeric) or code (categorical) of rows ``(n, d)``."""
        out = np.asarray(x, dtype=np.float64).copy()
        for j, e in enumerate(self.edges):
            if e is not None:
                out[:, j] = np.searchsorted(e, out[:, j])
        return out


def fit_tabular_stats(background: np.ndarray, categorical: np.ndarray) -> TabularLimeStats:
    """Quartile bins and frequencies of ``background`` ``(m, d)`` as lime computes them."""
    bg = np.asarray(background, dtype=np.float64)
    m, d = bg.shape
    categorical = np.asarray(categorical, dtype=bool)
    edges: list[np.ndarray | None] = []
    disc = bg.copy()
    means = np.zeros((d, 4))
    stds = np.ones((d, 4))
    lows = np.zeros((d, 4))
    highs = np.zeros((d, 4))
    for j in range(d):  # a loop over features (fitting), not over rows
        if categorical[j]:
            edges.append(None)
            continue
        col = bg[:, j]
        qts = np.unique(np.percentile(col, [25, 50, 75]))
        edges.append(qts)
        b = np.searchsorted(qts, col)
        disc[:, j] = b
        nb = qts.size + 1
        cnt = np.bincount(b, minlength=nb)
        s1 = np.bincount(b, weights=col, minlength=nb)
        s2 = np.bincount(b, weights=col * col, minlength=nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.where(cnt > 0, s1 / np.maximum(cnt, 1), 0.0)
            var = np.where(cnt > 0, s2 / np.maximum(cnt, 1) - mu**2, 0.0)
        means[j, :nb] = mu
        stds[j, :nb] = np.sqrt(np.maximum(var, 0.0)) + 1e-11
        lows[j, :nb] = np.r_[col.min(), qts]
        highs[j, :nb] = np.r_[qts, col.max()]
    uniq = [np.unique(disc[:, j], return_counts=True) for j in range(d)]
    width = max(len(u[0]) for u in uniq)
    values = np.full((d, width), -1.0)
    cum = np.ones((d, width))
    for j, (v, c) in enumerate(uniq):
        values[j, : v.size] = v
        cum[j, : v.size] = np.cumsum(c) / c.sum()
    return TabularLimeStats(edges, values, cum, means, stds, lows, highs, categorical)


def _truncnorm(u: np.ndarray, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw from N(mean, std) truncated to [lo, hi], u ~ U(0, 1)."""
    a = (lo - mean) / std
    b = (hi - mean) / std
    # sample in the tail nearer zero to keep the CDF away from 1 (precision)
    flip = a > 0
    a2 = np.where(flip, -b, a)
    b2 = np.where(flip, -a, b)
    pa, pb = ndtr(a2), ndtr(b2)
    zs = ndtri(np.clip(pa + u * (pb - pa), 1e-300, 1 - 1e-16))
    zs = np.where(flip, -zs, zs)
    x = mean + std * zs
    x = np.where(np.isfinite(x), x, mean)
    return np.where(hi > lo, np.clip(x, lo, hi), lo)


def sample_tabular(
    stats: TabularLimeStats, x: np.ndarray, n_samples: int, rngs: list[np.random.Generator]
) -> tuple[np.ndarray, np.ndarray]:
    """Perturbations of rows ``x`` ``(n, d)``.

    Returns
    -------
    z: ``(n, S, d)`` binary interpretable representation (sample 0 all ones).
    inverse: ``(n, S, d)`` the perturbed rows in feature space (sample 0 = the row).
    """
    n, d = x.shape
    s = n_samples
    u = np.stack([g.random((2, s, d)) for g in rngs]) if n else np.zeros((0, 2, s, d))
    pick, within = u[:, 0], u[:, 1]
    codes = np.empty((n, s, d))
    for j in range(d):  # per feature: searchsorted over all rows and samples at once
        width = int((stats.values[j] >= 0).sum())
        idx = np.minimum(np.searchsorted(stats.cum[j, :width], pick[..., j], side="right"), width - 1)
        codes[..., j] = stats.values[j, idx]
    inst = stats.discretize(x)
    codes[:, 0] = inst
    z = (codes == inst[:, None, :]).astype(np.float64)
    inverse = codes.copy()
    num = ~stats.categorical
    if num.any():
        jj = np.flatnonzero(num)
        b = codes[..., jj].astype(np.intp)
        take = lambda table: table[jj, b]  # noqa: E731 - (n, S, |num|) lookup
        inverse[..., jj] = _truncnorm(within[..., jj], take(stats.lows), take(stats.highs),
                                      take(stats.means), take(stats.stds))
    inverse[:, 0] = x
    return z, inverse


def lime_tabular(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    stats: TabularLimeStats,
    n_samples: int,
    rngs: list[np.random.Generator],
    kernel_width: float | None = None,
    alpha: float = 1.0,
    n_folds: int = 10,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LIME weights of rows ``x`` ``(n, d)`` for target columns ``targets`` ``(n, t)``.

    Returns values, ci_low, ci_high ``(t, n, d)`` and the surrogate's weighted R² ``(t, n)``.
    """
    n, d = x.shape
    width = float(kernel_width) if kernel_width is not None else 0.75 * np.sqrt(d)
    z, inverse = sample_tabular(stats, x, n_samples, rngs)
    dist2 = (1.0 - z).sum(axis=2)
    w = np.sqrt(np.exp(-dist2 / width**2))
    scores = predict(inverse.reshape(n * n_samples, d))
    owner = np.repeat(np.arange(n), n_samples)
    y = gather_scores(scores, owner, targets).reshape(n, n_samples, -1)
    fit = weighted_ridge(z, w, y, alpha=alpha, n_folds=n_folds, confidence=confidence)
    move = lambda a: np.moveaxis(a, -1, 0)  # noqa: E731 - (n, d, t) -> (t, n, d)
    return move(fit.coef), move(fit.ci_low), move(fit.ci_high), fit.r2.T
