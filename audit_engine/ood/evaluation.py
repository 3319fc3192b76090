"""How well an OOD score separates in-distribution rows from out-of-distribution rows.

Scores are "higher = more out of distribution". With a known OOD set:

- **AUROC** of OOD (positive) against in-distribution rows (negative): the probability
  that a random OOD row scores above a random in-distribution row, ties counted one half
  (equals ``sklearn.metrics.roc_auc_score`` with OOD as class 1).
- **FPR at 95% TPR** as in Liang et al. 2018 and Liu et al. 2020: the threshold keeps
  95% of the in-distribution rows (true positive rate of in-distribution = 0.95), and the
  FPR is the fraction of OOD rows that still pass as in-distribution (score at or below
  it). Lower is better.

Intervals: a stratified Poisson bootstrap (each in-distribution and each OOD row weighted
by its own Poisson(1) draw per replicate), percentile intervals.

Without an OOD set, :func:`reference_threshold` puts the threshold at the reference's
95th percentile and :func:`flagged_fraction` reports the share of rows above it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..stats import weighted_auc
from ..stats import Estimate, percentile_interval, poisson_weight_blocks

__all__ = ["separation", "reference_threshold", "flagged_fraction", "fpr_at_tpr", "histogram"]


def _weighted_quantile(sorted_values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Per weight row (b, n): the smallest sorted value whose cumulative weight reaches q·total."""
    cum = np.cumsum(weights, axis=1)
    target = q * cum[:, -1:]
    idx = np.argmax(cum >= target - 1e-12, axis=1)
    return sorted_values[idx]


def fpr_at_tpr(id_scores: np.ndarray, ood_scores: np.ndarray, *, tpr: float = 0.95,
               id_weights: np.ndarray | None = None, ood_weights: np.ndarray | None = None) -> np.ndarray:
    """FPR of OOD rows at the threshold that keeps ``tpr`` of the in-distribution rows, per weight row.

    Weights ``(b, n_id)`` / ``(b, n_ood)`` (default one row of ones) give ``(b,)`` values.
    """
    s_id = np.sort(np.asarray(id_scores, dtype=np.float64))
    order = np.argsort(id_scores, kind="mergesort")
    w_id = np.ones((1, s_id.size)) if id_weights is None else np.asarray(id_weights)[:, order]
    w_ood = np.ones((1, len(ood_scores))) if ood_weights is None else np.asarray(ood_weights)
    thresholds = _weighted_quantile(s_id, w_id, tpr)
    passes = np.asarray(ood_scores, dtype=np.float64)[None, :] <= thresholds[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w_ood * passes).sum(axis=1) / w_ood.sum(axis=1)


def separation(
    id_scores: np.ndarray,
    ood_scores: np.ndarray,
    *,
    n_boot: int = 1000,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """AUROC and FPR at 95% TPR, each with a stratified Poisson-bootstrap interval."""
    id_scores = np.asarray(id_scores, dtype=np.float64)
    ood_scores = np.asarray(ood_scores, dtype=np.float64)
    scores = np.r_[id_scores, ood_scores]
    is_ood = np.r_[np.zeros(id_scores.size), np.ones(ood_scores.size)]
    n_id = id_scores.size
    auc0 = float(weighted_auc(scores, is_ood, np.ones((1, scores.size)))[0])
    fpr0 = float(fpr_at_tpr(id_scores, ood_scores)[0])
    aucs, fprs = [], []
    if n_boot > 0:
        for w in poisson_weight_blocks(rng, scores.size, n_boot):
            aucs.append(weighted_auc(scores, is_ood, w))
            fprs.append(fpr_at_tpr(id_scores, ood_scores, id_weights=w[:, :n_id], ood_weights=w[:, n_id:]))
    auc_ci = percentile_interval(np.concatenate(aucs), confidence) if aucs else (np.nan, np.nan)
    fpr_ci = percentile_interval(np.concatenate(fprs), confidence) if fprs else (np.nan, np.nan)
    return {"auroc": Estimate(auc0, *auc_ci), "fpr_at_95_tpr": Estimate(fpr0, *fpr_ci)}


def roc_points(id_scores: np.ndarray, ood_scores: np.ndarray, *, n_points: int = 50) -> dict[str, list[float]]:
    """The ROC curve of separating OOD (positive, higher score) from in-distribution rows,
    thinned to at most ``n_points`` points for the report: ``{fpr, tpr}``, both increasing.

    Every distinct threshold is a point of the full curve; the thinned curve keeps the
    points nearest to an even grid of FPR values, plus (0, 0) and (1, 1).
    """
    s_id = np.sort(np.asarray(id_scores, dtype=np.float64))
    s_ood = np.sort(np.asarray(ood_scores, dtype=np.float64))
    thresholds = np.unique(np.r_[s_id, s_ood])[::-1]
    fpr = 1.0 - np.searchsorted(s_id, thresholds, side="left") / max(1, s_id.size)
    tpr = 1.0 - np.searchsorted(s_ood, thresholds, side="left") / max(1, s_ood.size)
    fpr, tpr = np.r_[0.0, fpr, 1.0], np.r_[0.0, tpr, 1.0]
    if fpr.size > n_points:
        keep = np.unique(np.r_[0, np.searchsorted(fpr, np.linspace(0, 1, n_points - 1)).clip(0, fpr.size - 1), fpr.size - 1])
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}


def reference_threshold(reference_scores: np.ndarray, *, quantile: float = 0.95) -> float:
    """The ``quantile`` of in-distribution scores: rows above it are flagged."""
    return float(np.quantile(np.asarray(reference_scores, dtype=np.float64), quantile))


def flagged_fraction(scores: np.ndarray, threshold: float) -> float:
    """Share of rows whose score is above ``threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    return float(np.mean(scores > threshold)) if scores.size else float("nan")


def histogram(groups: dict[str, np.ndarray], *, bins: int = 20) -> dict[str, Any]:
    """Counts of each group's scores on shared bins (for the report): ``{edges, <group>: counts}``."""
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in groups.values()])
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    out: dict[str, Any] = {"edges": edges.tolist()}
    for name, v in groups.items():
        out[name] = np.histogram(np.asarray(v, dtype=np.float64), bins=edges)[0].tolist()
    return out
