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

Every metric is written as a weighted statistic of per-row terms, so the point value
(unit weights) and the Poisson-bootstrap replicates (Poisson(1) weights) come from the
same vectorised code. Intervals (the check, :func:`run`): accuracy, balanced accuracy, log
loss and Brier score get closed forms from counts and power sums
(:mod:`.performance_intervals`: Wilson, Price–Bonett, Hall's skewness-corrected t; they
covered 94.5–95.4% where the 200-replicate percentile bootstrap covered 93.5–94.6%), the
binary ROC AUC DeLong's interval on the logit scale, the calibration errors the
debiased-world bootstrap, the multiclass AUC, per-class metrics and regression metrics the
Poisson-bootstrap percentile interval. Scores: higher is better for accuracy/AUC/R², lower is better for
log loss, Brier, ECE, MAE and RMSE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .checks import CheckOutcome
from .params import PerformanceParams
from .fairness.calibration_interval import top_label_estimates
from .fairness.metrics import debiased_squared_ce
from .performance_intervals import auc_estimate, closed_form_estimates, level_counts, power_sums
from .results.performance import Calibration, ConfusionMatrix, PerformanceResult
from .stats import Estimate, percentile_interval, poisson_weight_blocks

__all__ = ["classification_metrics", "regression_metrics", "weighted_auc", "ECE_BINS", "run"]

ECE_BINS = 15
_EPS = 1e-15

Statistic = Callable[[np.ndarray], np.ndarray]


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each weight row: ``(b, n)`` weights → ``(b,)`` AUCs (NaN if one class).

    Ties count one half (Mann–Whitney), so unit weights equal scikit-learn's roc_auc_score.
    """
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    pos = positive[order].astype(np.float64)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * pos, starts, axis=1)
    wn = np.add.reduceat(w * (1.0 - pos), starts, axis=1)
    neg_before = np.cumsum(wn, axis=1) - wn
    total_p = wp.sum(axis=1)
    total_n = wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wp * (neg_before + 0.5 * wn)).sum(axis=1) / (total_p * total_n)


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


def per_class_metrics(proba: np.ndarray, y_index: np.ndarray) -> dict[int, dict[str, Statistic]]:
    """Per-class precision, recall, F1 and one-vs-rest AUC (multiclass)."""
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    out: dict[int, dict[str, Statistic]] = {}
    for c in range(k):
        is_c = (y_index == c).astype(np.float64)
        pred_c = (pred == c).astype(np.float64)
        tp = is_c * pred_c

        def precision(w: np.ndarray, tp: np.ndarray = tp, pred_c: np.ndarray = pred_c) -> np.ndarray:
            return _ratio(w @ tp, w @ pred_c)

        def recall(w: np.ndarray, tp: np.ndarray = tp, is_c: np.ndarray = is_c) -> np.ndarray:
            return _ratio(w @ tp, w @ is_c)

        def f1(w: np.ndarray, tp: np.ndarray = tp, is_c: np.ndarray = is_c, pred_c: np.ndarray = pred_c) -> np.ndarray:
            return _ratio(2 * (w @ tp), w @ is_c + w @ pred_c)

        stats: dict[str, Statistic] = {"precision": precision, "recall": recall, "f1": f1}
        if is_c.any() and (1 - is_c).any():
            stats["roc_auc"] = lambda w, c=c, is_c=is_c: weighted_auc(proba[:, c], is_c, w)
        out[c] = stats
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


def calibration_curve(proba: np.ndarray, y_index: np.ndarray, positive_index: int | None, n_bins: int = 10) -> Calibration:
    """Reliability diagram data: per equal-width bin, mean predicted vs observed frequency.

    Binary: on p(positive) vs the positive rate. Multiclass: top-label confidence vs accuracy.
    """
    if positive_index is not None and proba.shape[1] == 2:
        p = proba[:, positive_index]
        hit = (y_index == positive_index).astype(float)
        what = "p(positive) vs observed positive rate"
    else:
        p = proba.max(axis=1)
        hit = (proba.argmax(axis=1) == y_index).astype(float)
        what = "top-label confidence vs accuracy"
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    mean_pred = _ratio(np.bincount(idx, weights=p, minlength=n_bins), count)
    observed = _ratio(np.bincount(idx, weights=hit, minlength=n_bins), count)
    return Calibration(what=what, bins=tuple(float(e) for e in edges), mean_predicted=tuple(float(v) for v in mean_pred),
                       observed=tuple(float(v) for v in observed), count=tuple(int(c) for c in count))


Params = PerformanceParams


def applies(ctx: Any) -> str | None:
    """None when the data has a target; performance needs true labels or values."""
    if ctx.y is None:
        return "the data has no target (unlabeled data); pass --target COL to measure performance"
    return None


def run(ctx: Any) -> Any:
    """The performance check: needs a target; returns a CheckOutcome."""

    if getattr(ctx, "stream", None) is not None:  # streamed data: tallies over every row (stream/check.py)
        from .stream.check import performance_outcome

        return performance_outcome(ctx)
    params = ctx.config.params("performance")
    rng = ctx.rng("performance")
    cfg = ctx.config
    n = len(ctx.y)
    if ctx.task == "regression":
        stats = regression_metrics(ctx.proba[:, 0], ctx.y.astype(np.float64))
        report = PerformanceResult(
            task="regression", n=n, positive_label=None, threshold=None, n_bootstrap=cfg.n_bootstrap,
            confidence=cfg.confidence,
            metrics=estimate_all(stats, n, n_boot=cfg.n_bootstrap, rng=rng, confidence=cfg.confidence),
        )
    else:
        stats = classification_metrics(ctx.proba, ctx.y_index, positive_index=ctx.positive_index, threshold=cfg.threshold)
        ones = np.ones((1, n))
        points = {name: float(stat(ones)[0]) for name, stat in stats.items()}
        # Proportions, mean losses and the binary AUC: closed-form intervals (performance_intervals.py);
        # only the multiclass AUC needs the row bootstrap.
        metrics = {name: Estimate(points[name], float("nan"), float("nan")) for name in stats}
        if ctx.positive_index is not None and ctx.proba.shape[1] == 2 and "roc_auc" in points:
            metrics["roc_auc"] = auc_estimate(points["roc_auc"], *level_counts(
                ctx.proba[:, ctx.positive_index], ctx.y_index == ctx.positive_index), cfg.confidence)
        else:  # the macro one-vs-rest AUC of a multiclass model: row bootstrap
            metrics.update(estimate_all({k: v for k, v in stats.items() if k == "roc_auc"}, n,
                                        n_boot=cfg.n_bootstrap, rng=rng, confidence=cfg.confidence))
        terms = row_terms(ctx.proba, ctx.y_index, positive_index=ctx.positive_index, threshold=cfg.threshold)
        metrics.update(closed_form_estimates(
            points, n=n, correct=terms["correct"].sum(), confidence=cfg.confidence,
            class_hits=np.array([h.sum() for h in terms["class_hits"]]),
            class_rows=np.array([m.sum() for m in terms["class_masks"]]),
            loss_sums={"log_loss": power_sums(terms["log_loss"]), "brier_score": power_sums(terms["brier"])}))
        # Debiased calibration error: debiased-world bootstrap (fairness/calibration_interval.py).
        # The plug-in ECE is biased upward; it is kept for comparison without an interval.
        metrics.update(top_label_estimates(ctx.proba, ctx.y_index, bins=ECE_BINS, n_boot=cfg.n_bootstrap,
                                           rng=ctx.rng("performance", "calibration"), confidence=cfg.confidence))
        per_class = None
        if ctx.proba.shape[1] > 2:
            per_class = {}
            for c, class_stats in per_class_metrics(ctx.proba, ctx.y_index).items():
                per_class[str(ctx.classes[c])] = estimate_all(
                    class_stats, n, n_boot=cfg.n_bootstrap, rng=ctx.rng("performance", "class", c), confidence=cfg.confidence
                )
        pred = ctx.predicted_index
        k = ctx.proba.shape[1]
        cm = np.zeros((k, k), dtype=int)
        np.add.at(cm, (ctx.y_index, pred), 1)
        report = PerformanceResult(
            task="classification", n=n, positive_label=ctx.positive_label,
            threshold=cfg.threshold if ctx.positive_index is not None else None,
            n_bootstrap=cfg.n_bootstrap, confidence=cfg.confidence, metrics=metrics, per_class=per_class,
            calibration=calibration_curve(ctx.proba, ctx.y_index, ctx.positive_index, params.calibration_bins),
            confusion_matrix=ConfusionMatrix(labels=tuple(str(c) for c in ctx.classes),
                                             rows_true_columns_predicted=tuple(tuple(int(x) for x in r) for r in cm)),
        )
    return CheckOutcome(report)
