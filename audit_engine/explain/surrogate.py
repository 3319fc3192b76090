"""Batched weighted ridge regression: the local surrogate of LIME, for many rows at once.

For each explained row ``i`` LIME fits ``min_b,c Σ_s w_is (y_is − z_is·b − c)² + α‖b‖²``
(scikit-learn's ``Ridge(alpha=α, fit_intercept=True)`` with ``sample_weight``; the
intercept is not penalised). Here the weighted moments of all rows are accumulated with
batched matrix products (one weighted Gram matrix per fold, BLAS ``syrk`` on √w-scaled rows) and the centred ``(d, d)`` normal equations of every row are
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

__all__ = ["RidgeFit", "ridge_from_design", "weighted_ridge"]


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


def _gram(v: np.ndarray) -> np.ndarray:
    """``vᵀ v`` of each matrix of a stack ``(..., S, m)`` (the same buffer on both sides: ``syrk``)."""
    return np.matmul(np.swapaxes(v, -1, -2), v)


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
    z: ``(n, S, d)`` interpretable features of the S samples of each row (bool or float).
    w: ``(n, S)`` sample weights (LIME: the kernel of the distance to the instance).
    y: ``(n, S, t)`` scores to explain (t targets share the samples).
    alpha: ridge penalty (LIME's default 1).
    n_folds: folds for the interval (>= 2 gives an interval, 1 gives none).

    Notes
    -----
    Every moment comes from one weighted Gram matrix ``Xᵀ diag(w) X`` per fold of the
    design ``X = [z, 1, y − y₀]`` ``(S, d + 1 + t)``: one batched matrix product per fold
    instead of six products and reductions (the reductions over short axes dominated).
    ``y₀`` (the instance's own score, sample 0) is subtracted in float64 before the
    products; the slopes and R² do not depend on a shift of ``y``, the intercept gets it
    back, and the centred scores keep ``syy − sy²/sw`` free of cancellation. Float32
    products were measured 2.5× faster but not kept: BLAS rounds a float32 product
    differently with the array's alignment, so a row's weights moved (by ~1e-7) with
    the grouping of rows, and results must not depend on it.
    """
    n, s, d = z.shape
    t = y.shape[2]
    y0 = np.asarray(y[:, 0, :], dtype=np.float64)
    x = np.empty((n, s, d + 1 + t))
    x[..., :d] = z
    x[..., d] = 1.0
    x[..., d + 1 :] = y - y0[:, None, :]
    return ridge_from_design(x, w, y0, alpha=alpha, n_folds=n_folds, confidence=confidence)


def ridge_from_design(
    x: np.ndarray, w: np.ndarray, y0: np.ndarray, *, alpha: float = 1.0, n_folds: int = 10, confidence: float = 0.95,
) -> RidgeFit:
    """:func:`weighted_ridge` on a prepared float64 design ``x`` ``(n, S, d + 1 + t)``:
    columns ``[z, 1, y − y0]``, with ``y0`` ``(n, t)`` the shift taken off the scores."""
    n, s, m = x.shape
    t = y0.shape[1]
    d = m - 1 - t
    k = max(1, min(int(n_folds), s))
    edges = np.linspace(0, s, k + 1).astype(int)
    # Xᵀ W X = (√W X)ᵀ (√W X): numpy hands the product of a matrix with its own transpose
    # to BLAS ``syrk`` (half the multiplications of ``gemm``; measured 1.4× on the Gram)
    xs = x * np.sqrt(np.asarray(w, dtype=np.float64))[:, :, None]
    if s % k == 0:  # equal folds: one batched product over (row, fold) pairs
        grams = _gram(xs.reshape(n, k, s // k, m)).transpose(1, 0, 2, 3)
    else:  # a loop over folds, not rows; contiguous copies keep the product in BLAS
        grams = np.stack([_gram(np.ascontiguousarray(xs[:, a:b])) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    del xs  # grams: (k, n, m, m)

    def moments(g: np.ndarray) -> tuple[np.ndarray, ...]:
        return (g[:, d, d], g[:, :d, d], g[:, :d, :d], g[:, d, d + 1 :], g[:, :d, d + 1 :],
                np.diagonal(g[:, d + 1 :, d + 1 :], axis1=1, axis2=2))

    # the full fit and the k fold fits: (k + 1)·n systems stacked into one solve
    stacked = np.concatenate([grams.sum(axis=0)[None], grams]) if k >= 2 else grams.sum(axis=0)[None]
    fits, intercepts = _solve(*moments(stacked.reshape(-1, m, m))[:5], alpha)
    fits = fits.reshape(-1, n, d, t)
    coef, intercept = fits[0], intercepts[:n]
    full = moments(stacked[0])
    sw, sx, sxx, sy, sxy, syy = full
    # weighted residual sum of squares from the moments
    quad = np.einsum("ndt,nde,net->nt", coef, sxx, coef)
    rss = (syy - 2 * np.einsum("ndt,ndt->nt", coef, sxy) - 2 * intercept * sy
           + quad + 2 * intercept * np.einsum("nd,ndt->nt", sx, coef) + intercept**2 * sw[:, None])
    tss = syy - sy**2 / np.maximum(sw, 1e-300)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(tss > 1e-15, 1.0 - rss / np.where(tss > 1e-15, tss, 1.0), np.nan)
    intercept = intercept + y0
    if k >= 2:
        folds = fits[1:]  # (k, n, d, t)
        _, lo, hi = mean_interval(folds, axis=0, confidence=confidence)
        # centre the interval on the full fit: its half-width is the fold spread / sqrt(k)
        mid = folds.mean(axis=0)
        lo, hi = coef - (mid - lo), coef + (hi - mid)
    else:
        lo, hi = coef.copy(), coef.copy()
    return RidgeFit(coef, intercept, r2, lo, hi)
