"""Permutation importance (Breiman 2001; scikit-learn's ``permutation_importance``).

The importance of feature j is the increase of a loss when column j is shuffled across
the evaluated rows, averaged over ``n_repeats`` shuffles; the interval is the Student-t
interval over the repeats. Losses (lower is better): ``mse`` (regression) and
``log_loss`` (classification) — for a linear model on standardised data the MSE
importance is ``2·coef_j²``; ``accuracy`` reports the drop of accuracy. The labels are
the data's target when given, else the model's own predictions (then importance measures
how much the model's output depends on the feature). All permutations are drawn up front
from one stream, so the numbers do not depend on batching.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._common import Predict, mean_interval

__all__ = ["permutation_importance", "METRICS"]

METRICS = ("auto", "mse", "log_loss", "accuracy")
_BLOCK_BYTES = 128 * 1024**2


def _loss(metric: str, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row loss ``(..., m)`` of ``scores`` ``(..., m, k)``."""
    if metric == "mse":
        return (scores[..., 0] - labels) ** 2
    idx = labels.astype(np.intp)
    p = np.take_along_axis(scores, np.broadcast_to(idx[:, None], scores.shape[:-1] + (1,)), axis=-1)[..., 0]
    if metric == "log_loss":
        return -np.log(np.clip(p, 1e-15, 1.0))
    return -(scores.argmax(axis=-1) == idx).astype(np.float64)  # accuracy as a loss: its drop


def permutation_importance(
    predict: Predict,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    metric: str,
    n_repeats: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Importance of every feature of rows ``x`` ``(n, *row_shape)``.

    labels: ``(n,)`` regression values or class indices. Returns value, ci_low, ci_high
    ``(1, *row_shape)`` and the unpermuted loss.
    """
    if metric not in METRICS[1:]:
        raise ConfigError(f"Unknown permutation metric {metric!r}; use one of {', '.join(METRICS)}.")
    n = x.shape[0]
    if n < 2:
        raise ConfigError(f"Permutation importance needs at least 2 rows to shuffle; got {n}.")
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    perms = np.argsort(rng.random((n_repeats, d, n)), axis=2)  # (R, d, n), drawn once up front
    base_loss = float(_loss(metric, predict(x), labels).mean())
    per_feature = max(1, _BLOCK_BYTES // max(1, n_repeats * n * d * 8))
    increases = np.empty((n_repeats, d))
    for j0 in range(0, d, per_feature):  # blocks of features, each one Evaluator call
        j1 = min(d, j0 + per_feature)
        k = j1 - j0
        pert = np.broadcast_to(flat, (n_repeats, k, n, d)).copy()
        cols = np.arange(j0, j1)
        shuffled = flat[perms[:, j0:j1], cols[None, :, None]]  # (R, k, n)
        pert[:, np.arange(k), :, cols] = np.moveaxis(shuffled, 1, 0)
        scores = predict(pert.reshape((-1,) + x.shape[1:])).reshape(n_repeats, k, n, -1)
        increases[:, j0:j1] = _loss(metric, scores, labels).mean(axis=2) - base_loss
    value, lo, hi = mean_interval(increases, axis=0, confidence=confidence)
    shape = (1,) + x.shape[1:]
    return value.reshape(shape), lo.reshape(shape), hi.reshape(shape), base_loss
