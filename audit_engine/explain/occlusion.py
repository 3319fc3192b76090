"""Occlusion / feature ablation (Zeiler & Fergus 2014), batched over rows and features.

Tabular: feature j of row x is replaced by a baseline value and the attribution is the
drop of the explained score, ``f(x) − f(x with x_j := b_j)`` (positive = the feature's
actual value pushes the score up). For a linear model this is ``coef_j·(x_j − b_j)``.
Baselines: ``mean`` (default), ``median``, ``zero``, an explicit row ``(d,)``, or
``sample`` — the expectation over ``n_samples`` background values of the feature
(interventional ablation), whose spread gives the interval. Categorical features are
always replaced by their mode (``sample`` draws background codes).

Images: a ``patch_size``×``patch_size`` window slides with ``stride`` over the image and
is set to the baseline (``zero`` by default, or ``mean``: the image's mean); each pixel's
attribution is the mean score drop of the windows that cover it, so the heatmap has the
image's shape.

Fixed baselines are deterministic: the value is exact (no sampling interval); its
interval is only the float32 round-off bound of the two evaluations,
``2·ROUNDOFF_FACTOR·eps·M`` (``M`` = 1 for probabilities, else the larger |score|), so a
drop below the output's resolution is never called significant. ``sample`` baselines get
the bootstrap-t interval over the background draws, widened by the same bound.
"""

from __future__ import annotations

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError
from ._common import DEFAULT_MAX_BYTES, ROUNDOFF_FACTOR, Predict, bootstrap_t_interval, chunks, gather_scores
from ._image import copy_where_planes, feed_dtype, patch_masks, spatial_shape, to_row_shape

__all__ = ["tabular_baseline", "occlusion_tabular", "occlusion_image"]


def _nan_stat(fn: object, bg: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: baseline 0
        return np.nan_to_num(fn(bg, axis=0), nan=0.0)  # type: ignore[operator]


def tabular_baseline(background: np.ndarray, categorical: np.ndarray, baseline: str | np.ndarray) -> np.ndarray:
    """The ``(d,)`` replacement values: numeric by ``baseline``, categorical by the mode."""
    bg = np.asarray(background, dtype=np.float64)
    d = bg.shape[1]
    if isinstance(baseline, str):
        if baseline == "mean":  # missing values (NaN) are left out of the baseline
            base = _nan_stat(np.nanmean, bg)
        elif baseline == "median":
            base = _nan_stat(np.nanmedian, bg)
        elif baseline == "zero":
            base = np.zeros(d)
        else:
            raise ConfigError(
                f"Unknown occlusion baseline {baseline!r}; use 'mean', 'median', 'zero', 'sample' or a row of {d} values."
            )
    else:
        base = np.asarray(baseline, dtype=np.float64).reshape(-1)
        if base.shape != (d,) or not np.all(np.isfinite(base)):
            raise ConfigError(f"An occlusion baseline row must hold {d} finite values; got shape {list(base.shape)}.")
        return base
    cat = np.flatnonzero(np.asarray(categorical, dtype=bool))
    for j in cat:  # mode of each categorical feature
        codes, counts = np.unique(bg[:, j], return_counts=True)
        base[j] = codes[counts.argmax()]
    return base


def occlusion_tabular(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    background: np.ndarray,
    categorical: np.ndarray,
    baseline: str | np.ndarray = "mean",
    n_samples: int = 50,
    rngs: list[np.random.Generator] | None = None,
    confidence: float = 0.95,
    boot_rng: np.random.Generator | None = None,
    eps: float = float(np.finfo(np.float32).eps),
    probability: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Attributions ``(t, n, d)`` with intervals of rows ``x`` ``(n, d)``, and the round-off bound ``(t, n, d)``."""
    n, d = x.shape
    if isinstance(baseline, str) and baseline == "sample":
        bg = np.asarray(background, dtype=np.float64)
        picks = np.stack([g.integers(0, bg.shape[0], size=(n_samples, d)) for g in rngs or []])  # (n, S, d)
        repl = bg[picks, np.arange(d)]  # (n, S, d) background values per feature
        s = n_samples
    else:
        repl = tabular_baseline(background, categorical, baseline)[None, None, :]
        s = 1
    # rows (n, S, d features occluded, d)
    pert = np.broadcast_to(x[:, None, None, :], (n, s, d, d)).copy()
    diag = np.arange(d)
    pert[:, :, diag, diag] = np.broadcast_to(repl, (n, s, d))
    scores = predict(np.concatenate([x, pert.reshape(-1, d)]))
    t = targets.shape[1]
    base = gather_scores(scores[:n], np.arange(n), targets)  # (n, t)
    owner = np.repeat(np.arange(n), s * d)
    occ = gather_scores(scores[n:], owner, targets).reshape(n, s, d, t)
    drops = base[:, None, None, :] - occ  # (n, S, d, t)
    bound = np.broadcast_to(_drop_error(base, occ.reshape(n, -1, t), eps, probability)[:, None, :], (n, d, t))
    if s > 1:
        value, lo, hi = bootstrap_t_interval(drops, axis=1, rng=boot_rng or np.random.default_rng(0),
                                             confidence=confidence)
    else:
        value = drops[:, 0]
        lo, hi = value, value
    move = lambda a: np.moveaxis(a, -1, 0)  # noqa: E731
    return move(value), move(lo - bound), move(hi + bound), move(bound)


def _drop_error(base: np.ndarray, occ: np.ndarray, eps: float, probability: bool) -> np.ndarray:
    """Round-off bound ``(n, t)`` of a difference of two evaluations of each row."""
    if probability:
        return np.full(base.shape, 2.0 * ROUNDOFF_FACTOR * eps)
    mag = np.maximum(np.abs(base), np.abs(occ).max(axis=1))
    return 2.0 * ROUNDOFF_FACTOR * eps * mag


def occlusion_image(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    space: FeatureSpace,
    patch_size: int,
    stride: int,
    baseline: str | float = "zero",
    eps: float = float(np.finfo(np.float32).eps),
    probability: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel attributions ``(t, n, *row_shape)`` of images ``x`` ``(n, *row_shape)``, and
    the round-off bound of each (a mean of exact drops: the drops' bound), same shape.

    The occluded images (n × P of them) are built and scored ``max_bytes`` at a time.
    """
    n = x.shape[0]
    hw = spatial_shape(space)
    masks = patch_masks(hw, patch_size, stride)  # (P, H, W)
    p = masks.shape[0]
    if isinstance(baseline, str):
        if baseline == "zero":
            fill = np.zeros((n,) + (1,) * (x.ndim - 1))
        elif baseline == "mean":
            fill = x.reshape(n, -1).mean(axis=1).reshape((n,) + (1,) * (x.ndim - 1))
        else:
            raise ConfigError(f"Unknown image occlusion baseline {baseline!r}; use 'zero', 'mean' or a number.")
    else:
        fill = np.full((n,) + (1,) * (x.ndim - 1), float(baseline))
    base = gather_scores(predict(x), np.arange(n), targets)
    dt = feed_dtype(space)
    xf, fill = x.astype(dt), fill.astype(dt)
    owner = np.repeat(np.arange(n), p)
    patch = np.tile(np.arange(p), n)
    occ = np.empty((n * p, targets.shape[1]))
    pieces = chunks(n * p, 2 * x[0].nbytes, max_bytes)  # item (row i, patch j), row-major
    buf = np.empty((max((b - a for a, b in pieces), default=0),) + x.shape[1:], dtype=dt)  # reused: no page faults
    for a, b in pieces:
        i, j = owner[a:b], patch[a:b]
        pert = buf[: b - a]  # (m, *row_shape)
        np.take(xf, i, axis=0, out=pert)
        copy_where_planes(space, pert, fill[i].reshape(-1), masks[j])
        occ[a:b] = gather_scores(predict(pert), i, targets)
    occ = occ.reshape(n, p, -1)
    drops = base[:, None, :] - occ  # (n, P, t)
    cover = masks.reshape(p, -1).astype(np.float64)  # (P, HW)
    counts = np.maximum(cover.sum(axis=0), 1.0)
    heat = np.einsum("npt,pk->tnk", drops, cover) / counts  # (t, n, HW)
    h, w = masks.shape[1:]
    heat = heat.reshape(heat.shape[:2] + (h, w))
    heat = np.ascontiguousarray(to_row_shape(space, heat))
    bound = np.moveaxis(_drop_error(base, occ, eps, probability), -1, 0)  # (t, n)
    return heat, np.broadcast_to(bound.reshape(bound.shape + (1,) * (heat.ndim - 2)), heat.shape).copy()
