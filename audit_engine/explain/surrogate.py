"""Batched weighted ridge regression: the local surrogate of LIME, for many rows at once.

For each explained row ``i`` LIME fits ``min_b,c Σ_s w_is (y_is − z_is·b − c)² + α‖b‖²``
(scikit-learn's ``Ridge(alpha=α, fit_intercept=True)`` with ``sample_weight``; the
intercept is not penalised). Here the weighted moments of all rows are accumulated with
batched matrix products and the centred ``(d, d)`` normal equations of every row are
solved in one ``np.linalg.solve`` call on a stacked ``(n, d, d)`` array — no Python loop
over rows, no per-row scikit-learn fit.

The samples are split into ``n_folds`` contiguous folds of i.i.d. draws; the moments of
the folds add up to those of the full sample, so the full fit (the reported weights) and
one fit per fold (their spread gives the standard error, batch-means style) cost one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import mean_interval

__all__ = ["RidgeFit", "weighted_ridge"]


@dataclass(frozen=True)
class RidgeFit:
    """coef ``(n, d, t)``, intercept ``(n, t)``, r2 ``(n, t)`` weighted R² of the full fit,
    ci_low / ci_high ``(n, d, t)`` from the fold fits."""

    coef: np.ndarray
    intercept: np.ndarray
    r2: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def _solve(sw, sx, sxx, sy, sxy, alpha):
    # centred normal equations: (Sxx − sx sxᵀ/sw + αI) b = Sxy − sx syᵀ/sw
    d = sx.shape[-1]
    inv = 1.0 / np.maximum(sw, 1e-300)
    a = sxx - sx[:, :, None] * sx[:, None, :] * inv[:, None, None] + alpha * np.eye(d)
    rhs = sxy - sx[:, :, None] * sy[:, None, :] * inv[:, None, None]
    coef = np.linalg.solve(a, rhs)
    intercept = (sy - np.einsum("nd,ndt->nt", sx, coef)) * inv[:, None]
    return coef, intercept


def weighted_ridge(
    z: np.ndarray,
    w: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float = 1.0,
    n_folds: int = 10,
    confidence: float = 0.95,
) -> RidgeFit:
    """Fit one weighted ridge per row.

    Parameters
    ----------
    z: ``(n, S, d)`` interpretable features of the S samples of each row.
    w: ``(n, S)`` sample weights (LIME: the kernel of the distance to the instance).
    y: ``(n, S, t)`` scores to explain (t targets share the samples).
    alpha: ridge penalty (LIME's default 1).
    n_folds: folds for the interval (>= 2 gives an interval, 1 gives none).
    """
    n, s, d = z.shape
    k = max(1, min(int(n_folds), s))
    edges = np.linspace(0, s, k + 1).astype(int)
    # BLAS threading: measured (benchmarks/bench_explain.py), the batched products run
    # faster with the default thread count than with one thread on this formulation
    parts = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):  # a loop over folds, not rows
        zk, wk, yk = z[:, a:b], w[:, a:b], y[:, a:b]
        zw = zk * wk[:, :, None]
        parts.append((
            wk.sum(axis=1),
            zw.sum(axis=1),
            np.matmul(zw.transpose(0, 2, 1), zk),
            np.einsum("ns,nst->nt", wk, yk),
            np.matmul(zw.transpose(0, 2, 1), yk),
            np.einsum("ns,nst->nt", wk, yk * yk),
        ))
    full = [sum(p[i] for p in parts) for i in range(6)]
    coef, intercept = _solve(*full[:5], alpha)
    sw, sx, sxx, sy, sxy, syy = full
    # weighted residual sum of squares from the moments
    quad = np.einsum("ndt,nde,net->nt", coef, sxx, coef)
    rss = (syy - 2 * np.einsum("ndt,ndt->nt", coef, sxy) - 2 * intercept * sy
           + quad + 2 * intercept * np.einsum("nd,ndt->nt", sx, coef) + intercept**2 * sw[:, None])
    tss = syy - sy**2 / np.maximum(sw, 1e-300)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(tss > 1e-15, 1.0 - rss / np.where(tss > 1e-15, tss, 1.0), np.nan)
    if k >= 2:
        folds = np.stack([_solve(*p[:5], alpha)[0] for p in parts])  # (k, n, d, t)
        _, lo, hi = mean_interval(folds, axis=0, confidence=confidence)
        # centre the interval on the full fit: its half-width is the fold spread / sqrt(k)
        mid = folds.mean(axis=0)
        lo, hi = coef - (mid - lo), coef + (hi - mid)
    else:
        lo, hi = coef.copy(), coef.copy()
    return RidgeFit(coef, intercept, r2, lo, hi)
