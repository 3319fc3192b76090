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

import functools

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ._common import Predict, gather_scores
from .surrogate import weighted_ridge

__all__ = ["TabularLimeStats", "fit_tabular_stats", "lime_tabular"]


_GRID = 1024  # points of each bin's tabulated truncated-normal quantile function


@dataclass(frozen=True)
class TabularLimeStats:
    """Background statistics, per feature j (``V`` = most bins/categories of any feature).

    edges: list of quartile cut points (None for categorical features).
    values: ``(d, V)`` observed bin indices / category codes (padded with -1).
    cum: ``(d, V)`` cumulative frequencies (inf where padded or last).
    width: ``(d,)`` number of observed bins / categories.
    quantiles: ``(d, 4, _GRID + 1)`` quantile function of the normal (bin mean and std of
        the background) truncated to each numeric bin, tabulated on a uniform grid.
    categorical: ``(d,)`` mask.
    missing: ``(d,)`` share of missing (NaN) background values. "Missing" is a value of
        its own: a sample's value is missing with that probability (else drawn from the
        bins of the observed values), and ``z_j`` is 1 when the sample and the instance
        are both missing, or both observed in the same bin.
    """

    edges: list[np.ndarray | None]
    values: np.ndarray
    cum: np.ndarray
    width: np.ndarray
    quantiles: np.ndarray
    categorical: np.ndarray
    missing: np.ndarray | None = None

    @functools.cached_property
    def quantile_pairs(self) -> np.ndarray:
        """``(size, 2)`` float32: each tabulated quantile and the step to the next one."""
        q = self.quantiles.reshape(-1)
        step = np.r_[np.diff(q), 0.0]
        return np.ascontiguousarray(np.stack([q, step], axis=1), dtype=np.float32)

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
    quantiles = np.zeros((d, 4, _GRID + 1))
    grid = np.linspace(0.0, 1.0, _GRID + 1)
    for j in range(d):  # a loop over features (fitting), not over rows
        if categorical[j]:
            edges.append(None)
            continue
        col = bg[:, j]
        col = col[~np.isnan(col)] if np.isnan(col).any() else col
        if col.size == 0:
            col = np.zeros(1)
        qts = np.unique(np.percentile(col, [25, 50, 75]))
        edges.append(qts)
        b = np.searchsorted(qts, col)
        disc[:, j] = np.where(np.isnan(bg[:, j]), np.nan, np.searchsorted(qts, bg[:, j]))
        nb = qts.size + 1
        cnt = np.bincount(b, minlength=nb)
        s1 = np.bincount(b, weights=col, minlength=nb)
        s2 = np.bincount(b, weights=col * col, minlength=nb)
        mu = np.where(cnt > 0, s1 / np.maximum(cnt, 1), 0.0)
        sd = np.sqrt(np.maximum(np.where(cnt > 0, s2 / np.maximum(cnt, 1) - mu**2, 0.0), 0.0)) + 1e-11
        lo = np.r_[col.min(), qts]
        hi = np.r_[qts, col.max()]
        quantiles[j, :nb] = _truncnorm_quantiles(grid, lo, hi, mu, sd)
    missing = np.isnan(bg).mean(axis=0) if m else np.zeros(d)
    uniq = [np.unique(disc[~np.isnan(disc[:, j]), j], return_counts=True) for j in range(d)]
    uniq = [u if u[0].size else (np.zeros(1), np.ones(1, dtype=np.intp)) for u in uniq]
    big = max(len(u[0]) for u in uniq)
    values = np.full((d, big), -1.0)
    cum = np.full((d, big), np.inf)
    width = np.zeros(d, dtype=np.intp)
    for j, (v, c) in enumerate(uniq):
        values[j, : v.size] = v
        cum[j, : v.size - 1] = (np.cumsum(c) / c.sum())[:-1]
        width[j] = v.size
    return TabularLimeStats(edges, values, cum, width, quantiles, categorical, missing if missing.any() else None)


def _truncnorm_quantiles(p: np.ndarray, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Quantiles ``(bins, len(p))`` of N(mean, std) truncated to [lo, hi] (per bin)."""
    lo, hi, mean, std = (np.asarray(a, dtype=np.float64)[:, None] for a in (lo, hi, mean, std))
    a = (lo - mean) / std
    b = (hi - mean) / std
    flip = a > 0  # work in the tail nearer zero, where the normal CDF keeps its precision
    a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
    pa, pb = ndtr(a2), ndtr(b2)
    q = np.where(flip, 1.0 - p[None], p[None])
    zs = ndtri(np.clip(pa + q * (pb - pa), 1e-300, 1 - 1e-16))
    x = mean + std * np.where(flip, -zs, zs)
    x = np.where(np.isfinite(x), x, mean)
    return np.where(hi > lo, np.clip(x, lo, hi), lo)


def sample_tabular(
    stats: TabularLimeStats, x: np.ndarray, n_samples: int, rngs: list[np.random.Generator],
    *, out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Perturbations of rows ``x`` ``(n, d)``.

    Returns
    -------
    z: ``(n, S, d)`` bool interpretable representation (sample 0 all True).
    inverse: ``(n, S, d)`` float32, the perturbed rows in feature space (sample 0 = the row);
        written into ``out`` when given (saves a copy of the largest array).
    """
    n, d = x.shape
    s = n_samples
    big = stats.values.shape[1]
    # Single precision throughout: the model reads float32 anyway, the bin frequencies and
    # the quantile table need no more than 2^-24 resolution, and half the bytes made the
    # sampling and the Evaluator's input copy measurably faster (benchmarks/bench_explain.py).
    u = np.empty((n, 2, s, d), dtype=np.float32)
    for i, g in enumerate(rngs):  # one stream per row (see row_rngs); the draws are vectorised
        g.random(out=u[i], dtype=np.float32)
    pick, within = u[:, 0], u[:, 1]
    cum = stats.cum.astype(np.float32)
    # bin (category) position: count of cumulative frequencies the uniform passes
    idx = np.zeros((n, s, d), dtype=np.int32)
    if big <= 8:
        for k in range(big - 1):
            idx += pick >= cum[:, k]
    else:
        for j in range(d):
            idx[..., j] = np.searchsorted(cum[j, : stats.width[j] - 1], pick[..., j], side="right")
    inst_code = stats.discretize(x)
    inst_pos = (stats.values[None, :, :] == inst_code[:, :, None]).argmax(axis=2).astype(np.int32)
    idx[:, 0] = inst_pos
    z = idx == inst_pos[:, None, :]
    # numeric features: interpolate the tabulated quantile function of the drawn bin
    within *= _GRID
    cell = within.astype(np.int32)
    np.minimum(cell, _GRID - 1, out=cell)
    within -= cell
    flat = idx * (_GRID + 1)
    flat += cell
    flat += (np.arange(d, dtype=np.int32) * 4 * (_GRID + 1))
    # One 8-byte gather per value from a table of (quantile, step to the next) float32 pairs,
    # instead of two 4-byte gathers: the gathers dominate this function.
    pairs = stats.quantile_pairs.view(np.float64)
    both = np.take(pairs, flat, mode="clip").view(np.float32).reshape(*flat.shape, 2)
    inverse = out if out is not None else np.empty(flat.shape, dtype=np.float32)
    np.multiply(within, both[..., 1], out=inverse)
    inverse += both[..., 0]
    cat = np.flatnonzero(stats.categorical)
    if cat.size:
        inverse[..., cat] = stats.values[cat, idx[..., cat]]
    if stats.missing is not None:  # "missing" drawn with its background share, after the other draws
        cols = np.flatnonzero(stats.missing > 0)
        rate = stats.missing[cols].astype(np.float32)
        drawn = np.stack([g.random((s, cols.size), dtype=np.float32) < rate for g in rngs])  # (n, S, m)
        inst = np.isnan(x[:, cols])
        drawn[:, 0] = inst
        inverse[..., cols] = np.where(drawn, np.float32(np.nan), inverse[..., cols])
        z[..., cols] = np.where(inst[:, None, :], drawn, z[..., cols] & ~drawn)
    inverse[:, 0] = x
    return z, inverse


_CACHE_ELEMENTS = 600_000  # perturbation values handled at once by numpy (stays in cache)
_BATCH_BYTES = 256 * 1024**2  # perturbed rows sent to the Evaluator in one call


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

    The perturbations of up to ``_BATCH_BYTES`` worth of rows (all rows, for 100 rows of
    30 features at 5000 samples) go to ``predict`` in one call; sampling and fitting run
    on small row blocks so that numpy works in cache.

    Returns values, ci_low, ci_high ``(t, n, d)`` and the surrogate's weighted R² ``(t, n)``.
    """
    n, d = x.shape
    t = targets.shape[1]
    s = n_samples
    width = float(kernel_width) if kernel_width is not None else 0.75 * np.sqrt(d)
    out = np.empty((3, t, n, d))
    r2 = np.empty((t, n))
    small = max(1, _CACHE_ELEMENTS // (s * d))
    batch = max(small, _BATCH_BYTES // (8 * s * d) // small * small)
    for a0 in range(0, n, batch):  # batches of rows: one Evaluator call each
        a1 = min(n, a0 + batch)
        inverse = np.empty((a1 - a0, s, d), dtype=np.float32)
        z = np.empty((a1 - a0, s, d), dtype=np.bool_)
        for b0 in range(a0, a1, small):  # cache-sized blocks of rows
            b1 = min(a1, b0 + small)
            zb, _ = sample_tabular(stats, x[b0:b1], s, rngs[b0:b1], out=inverse[b0 - a0 : b1 - a0])
            z[b0 - a0 : b1 - a0] = zb
        scores = predict(inverse.reshape(-1, d))
        del inverse
        owner = np.repeat(np.arange(a0, a1), s)
        y = gather_scores(scores, owner, targets).reshape(a1 - a0, s, t)
        for b0 in range(a0, a1, small):
            b1 = min(a1, b0 + small)
            zb = z[b0 - a0 : b1 - a0].astype(np.float64)
            w = np.sqrt(np.exp(-(d - zb.sum(axis=2)) / width**2))
            fit = weighted_ridge(zb, w, y[b0 - a0 : b1 - a0], alpha=alpha, n_folds=n_folds, confidence=confidence)
            for k, arr in enumerate((fit.coef, fit.ci_low, fit.ci_high)):
                out[k, :, b0:b1] = np.moveaxis(arr, -1, 0)
            r2[:, b0:b1] = fit.r2.T
    return out[0], out[1], out[2], r2
