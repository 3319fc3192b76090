"""Gradients of a black box from function values alone, batched over many rows.

Two estimators, both calling ``fn`` once on one large batch:

- :func:`central_difference` — ``(f(x + h e_j) − f(x − h e_j)) / 2h`` for every feature j:
  2·d evaluations per row, exact up to O(h²) for smooth f.
- :func:`stein_gradient` — the Gaussian-smoothed gradient
  ``∇ E_u[f(x + σu)] = E_u[(f(x + σu) − f(x − σu)) u] / (2σ)`` (antithetic Stein / evolution
  strategies estimator; Nesterov & Spokoiny 2017), for high-dimensional inputs such as
  images, where 2·d evaluations per row would be too many.

``fn`` maps rows ``(m, *row_shape)`` to scores ``(m,)``; typically
``lambda r: evaluator.predict(r)[:, target]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

__all__ = ["central_difference", "stein_gradient", "feature_steps"]

ScoreFn = Callable[[np.ndarray], np.ndarray]


def feature_steps(reference: np.ndarray, *, relative: float = 1e-2, floor: float = 1e-6) -> np.ndarray:
    """Per-feature finite-difference steps from the data's scale, shape ``row_shape``.

    A fixed step does not suit float32 models whose features span different scales: the
    step is ``relative`` times each feature's standard deviation (or its absolute mean
    when constant), never below ``floor``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: scale 1
        scale = np.nanstd(ref, axis=0)  # missing values (NaN) are not part of a feature's scale
        fallback = np.nanmean(np.abs(ref), axis=0)
    scale = np.where(scale > 0, scale, np.where(fallback > 0, fallback, 1.0))
    return np.maximum(relative * scale, floor)


def central_difference(
    fn: ScoreFn, rows: np.ndarray, *, steps: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Central-difference gradient of ``fn`` at each row.

    Parameters
    ----------
    fn: rows (m, *row_shape) -> scores (m,).
    rows: (n, *row_shape) points.
    steps: per-feature step, shape ``row_shape`` (see :func:`feature_steps`).
    mask: boolean ``row_shape``; features where False are not differentiated (gradient 0),
        e.g. categorical codes.

    Returns
    -------
    (n, *row_shape) gradient estimates; one call of ``fn`` on 2·n·d rows.
    """
    rows = np.asarray(rows, dtype=np.float64)
    n = rows.shape[0]
    shape = rows.shape[1:]
    flat = rows.reshape(n, -1)
    d = flat.shape[1]
    h = np.broadcast_to(np.asarray(steps, dtype=np.float64), shape).reshape(-1)
    active = np.ones(d, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    idx = np.flatnonzero(active)
    grads = np.zeros((n, d))
    if idx.size == 0 or n == 0:
        return grads.reshape(rows.shape)
    k = idx.size
    delta = np.zeros((k, d))
    delta[np.arange(k), idx] = h[idx]
    plus = flat[:, None, :] + delta[None]
    minus = flat[:, None, :] - delta[None]
    batch = np.concatenate([plus, minus], axis=1).reshape((n * 2 * k, *shape))
    values = np.asarray(fn(batch), dtype=np.float64).reshape(n, 2, k)
    grads[:, idx] = (values[:, 0] - values[:, 1]) / (2.0 * h[idx])
    return grads.reshape(rows.shape)


def stein_gradient(
    fn: ScoreFn,
    rows: np.ndarray,
    *,
    sigma: float | np.ndarray,
    n_samples: int,
    rng: np.random.Generator,
    return_samples: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Antithetic Stein estimate of the σ-smoothed gradient at each row.

    Parameters
    ----------
    fn: rows (m, *row_shape) -> scores (m,).
    rows: (n, *row_shape).
    sigma: noise scale (scalar or ``row_shape``).
    n_samples: antithetic pairs per row (2·n_samples evaluations per row).
    rng: numpy Generator; noise is drawn once for all rows up front.
    return_samples: also return the per-sample estimates (n, n_samples, *row_shape),
        whose spread gives an interval.

    Returns
    -------
    (n, *row_shape) mean estimate [, per-sample estimates].
    """
    rows = np.asarray(rows, dtype=np.float64)
    n = rows.shape[0]
    shape = rows.shape[1:]
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), shape)
    u = rng.standard_normal((n, n_samples, *shape))
    plus = rows[:, None] + sig * u
    minus = rows[:, None] - sig * u
    batch = np.concatenate([plus, minus], axis=1).reshape((n * 2 * n_samples, *shape))
    values = np.asarray(fn(batch), dtype=np.float64).reshape(n, 2, n_samples)
    diff = (values[:, 0] - values[:, 1]).reshape((n, n_samples) + (1,) * len(shape))
    per_sample = diff * u / (2.0 * sig)
    mean = per_sample.mean(axis=1)
    return (mean, per_sample) if return_samples else mean
