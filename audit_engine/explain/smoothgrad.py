"""SmoothGrad by finite differences (Smilkov et al. 2017), for black boxes.

The attribution of row x is the average gradient of the explained score over Gaussian
noise, ``(1/N) Σ_s ∇f(x + ε_s)``, ``ε_s ~ N(0, σ²)`` with ``σ_j = noise_level·(max_j −
min_j)`` from the background data. The gradient is never available from an ONNX black
box, so each one is estimated from function values:

- ``central``: ``(f(x + h_j e_j) − f(x − h_j e_j)) / 2h_j`` per feature (2·d evaluations
  per noisy point), with per-feature steps ``h_j`` from the feature's scale
  (:func:`audit_engine.gradients.feature_steps`; a fixed step is too small for float32
  models on large-scale features);
- ``stein``: for high-dimensional inputs such as images, the antithetic Stein estimator
  ``(f(x + σu) − f(x − σu))·u / 2σ`` whose expectation is exactly the Gaussian-smoothed
  gradient SmoothGrad averages (Nesterov & Spokoiny 2017).

``noise_level = 0`` gives the plain gradient ("simple gradient"). The interval is the
bootstrap-t interval over the N independent noise draws (its coverage of the estimator's
expectation is measured against Gauss–Hermite quadrature on a logistic model:
benchmarks/coverage_explain.py). With no noise the central difference is deterministic:
its "interval" is only the float32 round-off bound. Both are widened by that bound,
``ROUNDOFF_FACTOR·eps·M / h_j`` (``M`` = 1 for probabilities, else the largest |score|),
so a difference below the output's resolution is never called significant; a row whose
every difference is below it is *saturated*. Categorical features are not
differentiated: their attribution is 0 and they are listed in ``params["skipped"]``.
"""

from __future__ import annotations

import numpy as np

from ..gradients import feature_steps
from ._common import DEFAULT_MAX_BYTES, ROUNDOFF_FACTOR, Predict, bootstrap_t_interval, chunks, gather_scores

__all__ = ["smoothgrad"]

_AUTO_MAX_EVALS = 256  # above 2·d evaluations per point, "auto" switches to Stein
_CELL_BLOCK = 4096  # cells per block when building Stein's noisy points (temporaries stay in cache)


def smoothgrad(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    background: np.ndarray,
    mask: np.ndarray,
    noise_level: float,
    n_samples: int,
    rngs: list[np.random.Generator],
    estimator: str = "auto",
    step: float = 1e-2,
    confidence: float = 0.95,
    boot_rng: np.random.Generator | None = None,
    output_eps: float = float(np.finfo(np.float32).eps),
    probability: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    interval_targets: int | None = None,
    feed_dtype: np.dtype | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray, np.ndarray]:
    """Smoothed gradients ``(t, n, *row_shape)`` with intervals, and the estimator used.

    mask: boolean ``row_shape``; False features (categorical) are neither perturbed nor
    differentiated. boot_rng: the bootstrap's stream (intervals over noise draws).
    output_eps, probability: the output's round-off (:func:`._common.output_resolution`).
    Rows are processed in groups whose noisy points fit ``max_bytes`` (one row at least);
    each row's noise comes from its own stream and every group resamples the draws with
    the same bootstrap indices, so the grouping does not change the result.
    interval_targets: intervals for the first this many target columns only (None: all);
    the others get NaN bounds — the per-cell bootstrap is most of the method's own time
    on images, and callers that read only the values (rank stability, sanity) skip it.
    feed_dtype: the dtype the model's input is fed in (images: float32): Stein's noisy
    points are built in it, the same numbers the Evaluator would cast them to.

    Returns
    -------
    value, ci_low, ci_high ``(t, n, *row_shape)``; the estimator; the round-off bound
    ``(t, n, *row_shape)``; ``saturated`` ``(t, n)`` bool: every finite difference of the
    row was below the output's resolution.
    """
    n = x.shape[0]
    shape = x.shape[1:]
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    active = np.asarray(mask, dtype=bool).reshape(-1)
    bg = np.asarray(background, dtype=np.float64).reshape(background.shape[0], -1)
    h = feature_steps(bg, relative=step).reshape(-1)
    with np.errstate(all="ignore"):  # missing values (NaN) do not widen or poison the range
        span = np.nan_to_num(np.fmax.reduce(bg, axis=0) - np.fmin.reduce(bg, axis=0), nan=0.0)
    sigma = noise_level * span * active
    if estimator == "auto":
        estimator = "central" if 2 * int(active.sum()) <= _AUTO_MAX_EVALS else "stein"
    s = n_samples if noise_level > 0 or estimator == "stein" else 1
    t = targets.shape[1]
    idx = np.flatnonzero(active)
    k = idx.size
    if k == 0 or n == 0:
        out = np.zeros((t, n) + shape)
        return out, out.copy(), out.copy(), estimator, out.copy(), np.zeros((t, n), dtype=bool)
    per_row = 8 * s * d * (2 * (2 * k + 1) if estimator == "central" else 5 + t)
    values = np.empty((4, t, n) + shape)
    saturated = np.empty((n, t), dtype=bool)
    boot_seed = int((boot_rng if boot_rng is not None else np.random.default_rng(0)).integers(0, 2**63 - 1))
    n_int = t if interval_targets is None else max(0, min(t, int(interval_targets)))
    for a, b in chunks(n, per_row, max_bytes):
        values[:, :, a:b], saturated[a:b] = _smoothgrad_rows(
            predict, flat[a:b], targets[a:b], rngs[a:b], shape=shape, sigma=sigma, h=h, idx=idx, active=active,
            noise_level=noise_level, s=s, estimator=estimator, confidence=confidence, boot_seed=boot_seed,
            output_eps=output_eps, probability=probability, n_int=n_int,
            dtype=np.dtype(feed_dtype) if feed_dtype is not None else np.dtype(np.float64))
    return values[0], values[1], values[2], estimator, values[3], saturated.T


def _smoothgrad_rows(predict: Predict, flat: np.ndarray, targets: np.ndarray, rngs: list[np.random.Generator], *,
                     shape: tuple[int, ...], sigma: np.ndarray, h: np.ndarray, idx: np.ndarray, active: np.ndarray,
                     noise_level: float, s: int, estimator: str, confidence: float, boot_seed: int,
                     output_eps: float, probability: bool, n_int: int, dtype: np.dtype,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(4, t, n, *shape)``: value, ci_low, ci_high, round-off bound of a group of rows
    ``flat`` ``(n, d)``; and ``saturated`` ``(n, t)``. Intervals for the first ``n_int``
    targets (NaN for the others)."""
    n, d = flat.shape
    t = targets.shape[1]
    k = idx.size
    if estimator == "central":
        eps = np.stack([g.standard_normal((s, d)) for g in rngs])  # (n, S, d)
        centre = flat[:, None, :] + (eps * sigma if noise_level > 0 else 0.0)
        delta = np.zeros((k, d))
        delta[np.arange(k), idx] = h[idx]
        pts = np.concatenate([centre[:, :, None, :] + delta, centre[:, :, None, :] - delta], axis=2)
        scores = predict(pts.reshape((-1,) + shape))
        owner = np.repeat(np.arange(n), s * 2 * k)
        v = gather_scores(scores, owner, targets).reshape(n, s, 2, k, t)
        e = _unit_error(v, n, t, output_eps, probability)  # (n, t)
        diff = v[:, :, 0] - v[:, :, 1]  # (n, S, k, t)
        grads = np.zeros((n, s, d, t))
        grads[:, :, idx, :] = diff / (2.0 * h[idx])[None, None, :, None]
        draws = lambda j: grads[..., j]  # noqa: E731  (n, S, d) draws of target j
        value = grads.mean(axis=1)  # (n, d, t)
        bound = np.zeros((n, d, t))
        bound[:, idx, :] = e[:, None, :] / h[idx][None, :, None]
        saturated = np.all(np.abs(diff) <= 2.0 * e[:, None, None, :], axis=(1, 2))  # (n, t)
    else:
        sig = np.where(active, sigma if noise_level > 0 else h, 0.0)
        sig = np.where(active & (sig <= 0), h, sig)
        u = np.empty((n, s, d))
        for i, g in enumerate(rngs):
            g.standard_normal((s, d), out=u[i])
        if not active.all():
            u *= active
        # (n, S, 2, d) noisy points, built in the model's input type (no float64 copy) and
        # a block of cells at a time: no (n, S, d) float64 temporary (60 MB a row on a
        # 224×224 image, whose page faults cost as much as the arithmetic)
        pts = np.empty((n, s, 2, d), dtype=dtype)
        mean_abs = np.empty((n, d))
        for c0 in range(0, d, _CELL_BLOCK):
            c1 = min(d, c0 + _CELL_BLOCK)
            step = u[:, :, c0:c1] * sig[c0:c1]
            np.add(flat[:, None, c0:c1], step, out=pts[:, :, 0, c0:c1], casting="same_kind")
            np.subtract(flat[:, None, c0:c1], step, out=pts[:, :, 1, c0:c1], casting="same_kind")
            np.abs(u[:, :, c0:c1], out=step)
            step.mean(axis=1, out=mean_abs[:, c0:c1])
        del step
        scores = predict(pts.reshape((-1,) + shape))
        del pts
        owner = np.repeat(np.arange(n), s * 2)
        v = gather_scores(scores, owner, targets).reshape(n, s, 2, t)
        e = _unit_error(v, n, t, output_eps, probability)
        safe = np.where(sig > 0, sig, 1.0)
        diff = v[:, :, 0] - v[:, :, 1]  # (n, S, t)
        bound = e[:, None, :] * (mean_abs / safe)[..., None] * active[None, :, None]
        # draw s of cell j: diff_s·u_sj / 2σ_j, built per target, only for the targets with
        # an interval (never stored as (n, S, d, t)); the bootstrap reads each in turn
        w = u
        w /= 2.0 * safe
        scratch = np.empty_like(w) if n_int and s > 1 else None
        draws = lambda j: np.multiply(w, diff[:, :, j, None], out=scratch)  # noqa: E731  (n, S, d)
        value = np.matmul(diff.transpose(0, 2, 1), w).transpose(0, 2, 1) / s  # (n, d, t)
        saturated = np.all(np.abs(diff) <= 2.0 * e[:, None, :], axis=1)
    lo = np.full_like(value, np.nan)
    hi = np.full_like(value, np.nan)
    if s > 1:
        for j in range(n_int):  # the same resampling indices for every target (a fresh stream each)
            _, lo_j, hi_j = bootstrap_t_interval(draws(j), axis=1, rng=np.random.default_rng(boot_seed),
                                                 confidence=confidence)
            lo[..., j], hi[..., j] = np.minimum(lo_j, value[..., j]), np.maximum(hi_j, value[..., j])
    else:
        lo[..., :n_int], hi[..., :n_int] = value[..., :n_int], value[..., :n_int]
    lo, hi = lo - bound, hi + bound
    move = lambda a: np.moveaxis(a, -1, 0).reshape((t, n) + shape)  # noqa: E731
    return np.stack([move(value), move(lo), move(hi), move(bound)]), saturated


def _unit_error(v: np.ndarray, n: int, t: int, eps: float, probability: bool) -> np.ndarray:
    """Round-off bound ``(n, t)`` of one evaluation: ``ROUNDOFF_FACTOR·eps·M``."""
    if probability:
        return np.full((n, t), ROUNDOFF_FACTOR * eps)
    mag = np.abs(v.reshape(n, -1, t)).max(axis=1)
    return ROUNDOFF_FACTOR * eps * np.maximum(mag, np.finfo(np.float64).tiny)
