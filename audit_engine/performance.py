"""Performance of the model on the audited data, each metric with an interval.

Classification: accuracy, balanced accuracy, ROC AUC (binary; macro one-vs-rest for
multiclass), log loss, Brier score (binary: on p(positive); multiclass: mean squared
distance to the one-hot label, as scikit-learn's multiclass ``brier_score_loss``), and
calibration on 15 equal-width bins of the top-label confidence:

- ``squared_calibration_error``: the debiased estimator of the binned squared calibration
  error of Kumar, Liang & Ma (2019, "Verified uncertainty calibration", eq. 4),
  ``Σ_b (n_b/n) [(acc_b − conf_b)² − acc_b (1 − acc_b) / (n_b − 1)]``; unbiased, so ≈ 0
  on average for a calibrated model (it may be slightly negative);
- ``expected_calibration_error``: its root ``sqrt(max(0, ·))``, the debiased ℓ2 calibration
  error (interval: the root of the squared error's interval, so it reaches 0 whenever
  the data cannot rule out perfect calibration). Both intervals come from the
  debiased-world parametric bootstrap of :mod:`.fairness.calibration_interval` (a plain
  bootstrap of the debiased estimator sits too high and covered 90–92% at n = 500);
- ``expected_calibration_error_plugin``: the plug-in L1 ECE of Guo et al. (2017),
  weighted |accuracy − confidence|; biased upward (above 0 for a calibrated model). Multiclass adds per-class precision,
recall, F1 and one-vs-rest AUC. Regression: MAE, RMSE, R².

The check (:func:`tally`, :func:`run`) computes every figure from the additive tally of
:mod:`.performance_tally`, fed chunk by chunk by :func:`audit_engine.audit.prepare` whatever
the source (in memory, streamed Parquet, Ray), so the figures do not depend on the source;
the intervals are listed there (closed forms with measured coverage: Wilson, Price–Bonett,
Hall's skewness-corrected t, DeLong; the debiased-world bootstrap for the calibration
errors; the cell bootstrap for per-class precision, recall and F1).

The row-level functions below write every metric as a weighted statistic of per-row terms,
so the point value (unit weights) and Poisson-bootstrap replicates (Poisson(1) weights) come
from the same vectorised code; :func:`audit_engine.compare.compare_models` uses them for
paired intervals on shared rows. Scores: higher is better for accuracy/AUC/R², lower is
better for log loss, Brier, ECE, MAE and RMSE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .checks import CheckOutcome
from .fairness.metrics import debiased_squared_ce
from .params import PerformanceParams
from .performance_tally import ECE_BINS, ClassificationTally, RegressionTally
from .stats import Estimate, percentile_interval, poisson_weight_blocks, weighted_auc

__all__ = ["Params", "classification_metrics", "regression_metrics", "weighted_auc", "ECE_BINS", "tally", "run"]
_EPS = 1e-15

Statistic = Callable[[np.ndarray], np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def row_terms(proba: np.ndarray, y_index: np.ndarray, *, positive_index: int | None,
              threshold: float = 0.5) -> dict[str, Any]:
    """Per-row terms of the classification metrics (arguments as :func:`classification_metrics`).

    ``correct`` (n,), ``class_masks`` / ``class_hits``: one (n,) indicator per present true
    class (rows of the class; rows of the class classified correctly), ``brier`` and
    ``log_loss`` (n,) per-row losses.
    """
    n, k = proba.shape
    if positive_index is not None and k == 2:
        p_pos = proba[:, positive_index]
        y_pos = (y_index == positive_index).astype(np.float64)
        pred_pos = (p_pos >= threshold).astype(np.float64)
        correct = (pred_pos == y_pos).astype(np.float64)
        class_masks = [y_pos, 1.0 - y_pos]
        class_hits = [y_pos * pred_pos, (1.0 - y_pos) * (1.0 - pred_pos)]
        brier_terms = (p_pos - y_pos) ** 2
    else:
        pred = proba.argmax(axis=1)
        correct = (pred == y_index).astype(np.float64)
        onehot = np.eye(k)[y_index]
        class_masks = [onehot[:, c] for c in range(k) if onehot[:, c].any()]
        class_hits = [onehot[:, c] * correct for c in range(k) if onehot[:, c].any()]
        brier_terms = ((proba - onehot) ** 2).sum(axis=1)
    logloss_terms = -np.log(np.clip(proba[np.arange(n), y_index], _EPS, 1.0))
    return {"correct": correct, "class_masks": class_masks, "class_hits": class_hits, "brier": brier_terms,
            "log_loss": logloss_terms}


def classification_metrics(
    proba: np.ndarray, y_index: np.ndarray, *, positive_index: int | None, threshold: float = 0.5
) -> dict[str, Statistic]:
    """Weighted statistics for a classifier.

    Parameters
    ----------
    proba: (n, k) probabilities.
    y_index: (n,) true class index into proba's columns.
    positive_index: column of the positive class for binary problems, else None.
    threshold: decision threshold on p(positive) (binary only); multiclass uses argmax.
    """
    k = proba.shape[1]
    terms = row_terms(proba, y_index, positive_index=positive_index, threshold=threshold)
    correct, class_masks, class_hits = terms["correct"], terms["class_masks"], terms["class_hits"]
    brier_terms, logloss_terms = terms["brier"], terms["log_loss"]
    if positive_index is not None and k == 2:
        p_pos = proba[:, positive_index]
        y_pos = (y_index == positive_index).astype(np.float64)
    # ECE on the top-label confidence (Guo et al. 2017).
    top = proba.max(axis=1)
    top_correct = (proba.argmax(axis=1) == y_index).astype(np.float64)
    bins = np.minimum((top * ECE_BINS).astype(int), ECE_BINS - 1)
    bin_onehot = np.eye(ECE_BINS)[bins]

    def mean(terms: np.ndarray) -> Statistic:
        return lambda w: (w @ terms) / w.sum(axis=1)

    def balanced(w: np.ndarray) -> np.ndarray:
        recalls = np.stack([_ratio(w @ h, w @ m) for h, m in zip(class_hits, class_masks, strict=True)])
        return np.nanmean(recalls, axis=0) if recalls.size else np.full(w.shape[0], np.nan)

    hit_onehot = bin_onehot * top_correct[:, None]
    conf_onehot = bin_onehot * top[:, None]

    def ece(w: np.ndarray) -> np.ndarray:
        acc = w @ hit_onehot
        conf = w @ conf_onehot
        return np.abs(acc - conf).sum(axis=1) / w.sum(axis=1)

    def squared_ce(w: np.ndarray) -> np.ndarray:
        return debiased_squared_ce(w @ bin_onehot, w @ hit_onehot, w @ conf_onehot)

    out: dict[str, Statistic] = {
        "accuracy": mean(correct),
        "balanced_accuracy": balanced,
        "log_loss": mean(logloss_terms),
        "brier_score": mean(brier_terms),
        "expected_calibration_error": lambda w: np.sqrt(np.maximum(squared_ce(w), 0.0)),
        "squared_calibration_error": squared_ce,
        "expected_calibration_error_plugin": ece,
    }
    if positive_index is not None and k == 2:
        out["roc_auc"] = lambda w: weighted_auc(p_pos, y_pos, w)
    elif k > 2:
        present = [c for c in range(k) if (y_index == c).any() and (y_index != c).any()]

        def macro_auc(w: np.ndarray) -> np.ndarray:
            aucs = np.stack([weighted_auc(proba[:, c], (y_index == c).astype(float), w) for c in present])
            return np.nanmean(aucs, axis=0)

        if present:
            out["roc_auc"] = macro_auc
    return out


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, Statistic]:
    """Weighted MAE, RMSE and R² (lower is better for MAE/RMSE; higher for R²)."""
    err = pred - y
    abs_err = np.abs(err)
    sq_err = err**2
    y2 = y**2

    def r2(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        mean_y = (w @ y) / total
        ss_tot = w @ y2 - total * mean_y**2
        return 1.0 - _ratio(w @ sq_err, ss_tot)

    return {
        "mae": lambda w: (w @ abs_err) / w.sum(axis=1),
        "rmse": lambda w: np.sqrt((w @ sq_err) / w.sum(axis=1)),
        "r2": r2,
    }


def estimate_all(
    statistics: dict[Any, Statistic], n: int, *, n_boot: int, rng: np.random.Generator, confidence: float
) -> dict[Any, Estimate]:
    """Point values and intervals for many statistics sharing the same bootstrap weights."""
    ones = np.ones((1, n))
    values = {name: float(stat(ones)[0]) for name, stat in statistics.items()}
    reps: dict[Any, list[np.ndarray]] = {name: [] for name in statistics}
    if n_boot > 0:
        for w in poisson_weight_blocks(rng, n, n_boot):
            for name, stat in statistics.items():
                reps[name].append(np.asarray(stat(w), dtype=np.float64))
    out = {}
    for name in statistics:
        low, high = percentile_interval(np.concatenate(reps[name]), confidence) if reps[name] else (np.nan, np.nan)
        if np.isfinite(values[name]) and np.isfinite(low) and np.isfinite(high):  # an interval holds its point
            low, high = min(low, values[name]), max(high, values[name])
        out[name] = Estimate(values[name], low, high)
    return out


Params = PerformanceParams


def applies(ctx: Any) -> str | None:
    """None when the data has a target; performance needs true labels or values."""
    if ctx.y is None:
        return "the data has no target (unlabeled data); pass --target COL to measure performance"
    return None


def tally(ctx: Any) -> ClassificationTally | RegressionTally | None:
    """The performance tally of the audited rows (None without a target): fed every chunk by ``prepare``."""
    if ctx.y is None:
        return None
    if ctx.task == "regression":
        return RegressionTally(shift=float(np.asarray(ctx.y, dtype=np.float64)[0]))
    calibration_bins = int(ctx.config.params("performance").calibration_bins)
    return ClassificationTally(ctx.evaluator.n_outputs, ctx.positive_index, calibration_bins)


def run(ctx: Any) -> Any:
    """The performance check: the section from the tally of every row (:mod:`.performance_tally`)."""
    cfg = ctx.config
    tally = ctx.tallies["performance"]
    if ctx.task == "regression":
        report = tally.report(n_boot=cfg.n_bootstrap, confidence=cfg.confidence)
    else:
        report = tally.report(classes=ctx.classes, positive_label=ctx.positive_label,
                              threshold=cfg.threshold if ctx.positive_index is not None else None,
                              n_boot=cfg.n_bootstrap, confidence=cfg.confidence, rng=ctx.rng("performance"),
                              calibration_rng=ctx.rng("performance", "calibration"))
    return CheckOutcome(report)
