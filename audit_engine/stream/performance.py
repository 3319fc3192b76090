"""Performance from additive tallies: the streamed counterpart of :mod:`audit_engine.performance`.

A :class:`ClassificationTally` / :class:`RegressionTally` is updated chunk by chunk and
holds O(classes² + bins) numbers, never rows. Point values are the in-memory formulas
applied to exact sums (equal to :func:`audit_engine.performance.classification_metrics`
with unit weights up to float rounding of the sums):

- accuracy, balanced accuracy, the confusion matrix: counts of (true, predicted) cells;
- log loss and Brier score: sums of the per-row terms;
- the calibration errors: per top-label-confidence bin (15 bins, ``ECE_BINS``) counts,
  hits and confidence sums;
- ROC AUC: exact (Mann–Whitney, ties one half) from the kept scores while the data has at
  most ``exact_auc_values`` scores; beyond that from a histogram of ``auc_bins`` equal
  bins of the score on [0, 1] per class, which counts every (positive, negative) pair
  sharing a bin as one half. Each such pair is off by at most one half, so
  ``|AUC − AUC_hist| <= 0.5 · Σ_b P_b N_b / (P N)``: that bound is ``auc.error_bound``.

Accuracy, balanced accuracy, log loss and Brier get the in-memory check's closed-form
intervals (:mod:`audit_engine.performance_intervals`) from the same tallies (counts and
the power sums Σv, Σv², Σv³ of the row losses), so they equal the in-memory intervals.
So does the binary ROC AUC (DeLong on the logit scale, from the kept scores' levels or the
histogram's bins), and so do the calibration errors (the debiased-world bootstrap of
:func:`audit_engine.fairness.calibration_interval.binned_top_label_estimates` from the
per-bin tallies, on the in-memory check's random stream). The other intervals (precision,
recall, F1 per class of a multiclass model) come from a Poisson bootstrap over *cells*
(true class, predicted class, top-label correct, confidence bin): the Poisson(1)-weighted
count of a cell of n_c rows is Poisson(n_c), so these metrics of counts get the row
bootstrap's distribution. Regression: MAE and RMSE get normal
(delta-method) intervals from the sums of |e|, e², e⁴; R² its point value only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..fairness.calibration_interval import binned_top_label_estimates
from ..fairness.metrics import debiased_squared_ce
from ..performance import ECE_BINS, weighted_auc
from ..performance_intervals import auc_estimate, closed_form_estimates, level_counts, power_sums
from ..results.performance import Calibration, ConfusionMatrix, PerformanceResult, Streaming
from ..stats import Estimate, percentile_interval

__all__ = ["ClassificationTally", "RegressionTally", "AUC_BINS"]

AUC_BINS = 1 << 20
EXACT_AUC_VALUES = 4_000_000
_EPS = 1e-15
_BLOCK = 4_000_000  # Poisson draws per block of replicates


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def histogram_auc(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC and its error bound from per-bin counts ``(..., B)`` of positives and negatives."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    total = pos.sum(axis=-1) * neg.sum(axis=-1)
    auc = _ratio((pos * (below + 0.5 * neg)).sum(axis=-1), total)
    bound = _ratio(0.5 * (pos * neg).sum(axis=-1), total)
    return auc, bound


@dataclass
class ClassificationTally:
    """Additive performance tallies of a classifier with ``k`` classes.

    ``positive_index``: the positive column (binary) or None (multiclass, argmax).
    """

    k: int
    positive_index: int | None
    calibration_bins: int
    auc_bins: int = AUC_BINS
    exact_auc_values: int = EXACT_AUC_VALUES
    n: int = 0
    confusion: np.ndarray = field(init=False)
    logloss: float = 0.0
    brier: float = 0.0
    ece_count: np.ndarray = field(init=False)
    ece_hits: np.ndarray = field(init=False)
    ece_conf: np.ndarray = field(init=False)
    cal_count: np.ndarray = field(init=False)
    cal_pred: np.ndarray = field(init=False)
    cal_hit: np.ndarray = field(init=False)
    auc_pos: np.ndarray = field(init=False)  # (classes with an AUC, auc_bins)
    auc_neg: np.ndarray = field(init=False)
    kept_scores: list[np.ndarray] | None = field(init=False)
    kept_y: list[np.ndarray] | None = field(init=False)
    loss_sums: dict[str, np.ndarray] = field(init=False)  # metric -> [n, Σv, Σv², Σv³] of its row losses
    cell_count: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        k = self.k
        self.binary = self.positive_index is not None and k == 2
        if not self.binary:
            self.auc_bins = max(1 << 12, AUC_BINS // max(1, k))
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.ece_count = np.zeros(ECE_BINS, dtype=np.int64)
        self.ece_hits = np.zeros(ECE_BINS, dtype=np.int64)
        self.ece_conf = np.zeros(ECE_BINS)
        b = self.calibration_bins
        self.cal_count = np.zeros(b, dtype=np.int64)
        self.cal_pred = np.zeros(b)
        self.cal_hit = np.zeros(b)
        m = 1 if self.binary else k
        self.auc_pos = np.zeros((m, self.auc_bins), dtype=np.int64)
        self.auc_neg = np.zeros((m, self.auc_bins), dtype=np.int64)
        self.kept_scores, self.kept_y = [], []
        self.n_cells = k * k * 2 * ECE_BINS
        self.loss_sums = {"log_loss": np.zeros(4), "brier_score": np.zeros(4)}
        self.cell_count = np.zeros(self.n_cells, dtype=np.int64)

    # ------------------------------------------------------------------ update
    def update(self, proba: np.ndarray, y_index: np.ndarray, predicted: np.ndarray) -> None:
        """Add one chunk: ``proba`` (m, k), true and predicted class indices (m,)."""
        m, k = proba.shape
        rows = np.arange(m)
        yi = np.asarray(y_index, dtype=np.int64)
        pred = np.asarray(predicted, dtype=np.int64)
        self.n += m
        self.confusion += np.bincount(yi * k + pred, minlength=k * k).reshape(k, k)
        ll = -np.log(np.clip(proba[rows, yi], _EPS, 1.0))
        if self.binary:
            p_pos = proba[:, self.positive_index]
            y_pos = (yi == self.positive_index).astype(np.float64)
            br = (p_pos - y_pos) ** 2
        else:
            onehot = np.zeros((m, k))
            onehot[rows, yi] = 1.0
            br = ((proba - onehot) ** 2).sum(axis=1)
        self.logloss += float(ll.sum())
        self.brier += float(br.sum())
        self.loss_sums["log_loss"] += power_sums(ll)
        self.loss_sums["brier_score"] += power_sums(br)
        top = proba.max(axis=1)
        top_correct = (proba.argmax(axis=1) == yi).astype(np.int64)
        ece_bin = np.minimum((top * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        self.ece_count += np.bincount(ece_bin, minlength=ECE_BINS)
        self.ece_hits += np.bincount(ece_bin, weights=top_correct, minlength=ECE_BINS).astype(np.int64)
        self.ece_conf += np.bincount(ece_bin, weights=top, minlength=ECE_BINS)
        # reliability diagram (performance.calibration_curve)
        if self.binary:
            p, hit = p_pos, y_pos
        else:
            p, hit = top, top_correct.astype(np.float64)
        nb = self.calibration_bins
        idx = np.minimum((p * nb).astype(np.int64), nb - 1)
        self.cal_count += np.bincount(idx, minlength=nb)
        self.cal_pred += np.bincount(idx, weights=p, minlength=nb)
        self.cal_hit += np.bincount(idx, weights=hit, minlength=nb)
        # AUC histograms (and the exact scores while they fit)
        scores = p_pos[:, None] if self.binary else proba
        truth = y_pos[:, None].astype(bool) if self.binary else (yi[:, None] == np.arange(k)[None])
        bins = np.minimum((scores * self.auc_bins).astype(np.int64), self.auc_bins - 1)
        for c in range(scores.shape[1]):
            self.auc_pos[c] += np.bincount(bins[truth[:, c], c], minlength=self.auc_bins)
            self.auc_neg[c] += np.bincount(bins[~truth[:, c], c], minlength=self.auc_bins)
        if self.kept_scores is not None:
            if self.n * scores.shape[1] <= self.exact_auc_values:
                self.kept_scores.append(scores.copy())
                self.kept_y.append(yi.copy())
            else:
                self.kept_scores = self.kept_y = None
        # bootstrap cells
        cell = ((yi * k + pred) * 2 + top_correct) * ECE_BINS + ece_bin
        self.cell_count += np.bincount(cell, minlength=self.n_cells)

    # ------------------------------------------------------------------ figures
    def _cell_axes(self) -> dict[str, np.ndarray]:
        """Per cell: true class, predicted class, top correct, confidence bin."""
        k = self.k
        grids = np.unravel_index(np.arange(self.n_cells), (k, k, 2, ECE_BINS))
        return dict(zip(("true", "pred", "top_correct", "ece_bin"), grids, strict=True))

    def _per_class_statistics(self, w: np.ndarray, axes: dict[str, np.ndarray]) -> dict[int, dict[str, np.ndarray]]:
        out = {}
        for c in range(self.k):
            is_c = (axes["true"] == c).astype(np.float64)
            pred_c = (axes["pred"] == c).astype(np.float64)
            tp = w @ (is_c * pred_c)
            out[c] = {"precision": _ratio(tp, w @ pred_c), "recall": _ratio(tp, w @ is_c),
                      "f1": _ratio(2 * tp, w @ is_c + w @ pred_c)}
        return out

    def auc_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Binary: positives and negatives per score level (distinct kept scores, else histogram bins)."""
        if self.kept_scores is not None and self.kept_scores:
            y = np.concatenate(self.kept_y) == self.positive_index
            return level_counts(np.concatenate(self.kept_scores)[:, 0], y)
        return self.auc_pos[0], self.auc_neg[0]

    def auc(self) -> tuple[list[float], list[float], str]:
        """Per scored class: AUC and its error bound, and the method (``exact`` | ``histogram``)."""
        if self.kept_scores is not None and self.kept_scores:
            scores = np.concatenate(self.kept_scores)
            yi = np.concatenate(self.kept_y)
            ones = np.ones((1, len(yi)))
            if self.binary:
                return [float(weighted_auc(scores[:, 0], (yi == self.positive_index).astype(float), ones)[0])], [0.0], "exact"
            return [float(weighted_auc(scores[:, c], (yi == c).astype(float), ones)[0]) for c in range(self.k)], \
                [0.0] * self.k, "exact"
        auc, bound = histogram_auc(self.auc_pos, self.auc_neg)
        return [float(a) for a in auc], [float(b) for b in bound], "histogram"

    def report(self, *, classes: list[Any], positive_label: Any, threshold: float | None, n_boot: int,
               confidence: float, rng: np.random.Generator,
               calibration_rng: np.random.Generator) -> tuple[PerformanceResult, Streaming]:
        """The performance section (as the in-memory check writes it) and its ``streaming`` block.

        rng: the cell bootstrap; calibration_rng: the calibration errors' debiased-world
        bootstrap (the in-memory check's stream, so both give the same interval).
        """
        k, n = self.k, self.n
        cm = self.confusion
        correct = np.trace(cm)
        present = [c for c in range(k) if cm[c].sum() > 0]
        points: dict[str, float] = {
            "accuracy": correct / n,
            "balanced_accuracy": float(np.mean([cm[c, c] / cm[c].sum() for c in present])) if present else np.nan,
            "log_loss": self.logloss / n,
            "brier_score": self.brier / n,
        }
        sq = float(debiased_squared_ce(self.ece_count[None].astype(float), self.ece_hits[None].astype(float),
                                       self.ece_conf[None])[0])
        points["expected_calibration_error"] = float(np.sqrt(max(sq, 0.0)))
        points["squared_calibration_error"] = sq
        points["expected_calibration_error_plugin"] = float(np.abs(self.ece_hits - self.ece_conf).sum() / n)
        aucs, bounds, auc_method = self.auc()
        auc_classes = [c for c in range(k) if 0 < cm[c].sum() < n] if not self.binary else []
        if self.binary:
            points["roc_auc"] = aucs[0]
            auc_bound = bounds[0]
        elif auc_classes:
            points["roc_auc"] = float(np.nanmean([aucs[c] for c in auc_classes]))
            auc_bound = float(np.mean([bounds[c] for c in auc_classes]))
        else:
            auc_bound = float("nan")
        axes = self._cell_axes()
        class_reps: dict[int, dict[str, list[np.ndarray]]] = {c: {"precision": [], "recall": [], "f1": []} for c in range(k)}
        per_block = max(1, _BLOCK // self.n_cells)
        done = 0
        while k > 2 and done < n_boot:  # only the per-class figures of a multiclass model need it
            b = min(per_block, n_boot - done)
            w = rng.poisson(self.cell_count.astype(np.float64), size=(b, self.n_cells)).astype(np.float64)
            for c, stats in self._per_class_statistics(w, axes).items():
                for m, v in stats.items():
                    class_reps[c][m].append(v)
            done += b
        metrics = {m: Estimate(float(points[m]), float("nan"), float("nan")) for m in points}
        # proportions and mean losses: the in-memory check's closed forms, from the same tallies
        metrics.update(closed_form_estimates(points, n=n, correct=float(correct), class_hits=np.diag(cm)[present],
                                             class_rows=cm.sum(axis=1)[present], loss_sums=self.loss_sums,
                                             confidence=confidence))
        # calibration errors: the in-memory construction, from the same per-bin tallies
        metrics.update(binned_top_label_estimates(self.ece_count, self.ece_hits, self.ece_conf, n_boot=n_boot,
                                                  rng=calibration_rng, confidence=confidence))
        plug = metrics["expected_calibration_error_plugin"]
        metrics["expected_calibration_error_plugin"] = Estimate(plug.value, float("nan"), float("nan"))
        if self.binary:  # DeLong from the exact score levels, or from the histogram's bins
            metrics["roc_auc"] = auc_estimate(points["roc_auc"], *self.auc_levels(), confidence)
        elif "roc_auc" in metrics:
            metrics["roc_auc"] = Estimate(points["roc_auc"], float("nan"), float("nan"))
        per_class = None
        if k > 2:
            per_class = {}
            for c in range(k):
                tp, pred_c, is_c = cm[c, c], cm[:, c].sum(), cm[c].sum()
                cp = {"precision": tp / pred_c if pred_c else np.nan, "recall": tp / is_c if is_c else np.nan,
                      "f1": 2 * tp / (is_c + pred_c) if is_c + pred_c else np.nan}
                entry = {m: _estimate(float(cp[m]), class_reps[c][m], confidence) for m in cp}
                if c in auc_classes:
                    entry["roc_auc"] = Estimate(aucs[c], float("nan"), float("nan"))
                per_class[str(classes[c])] = entry
        edges = np.linspace(0.0, 1.0, self.calibration_bins + 1)
        mean_pred = _ratio(self.cal_pred, self.cal_count)
        observed = _ratio(self.cal_hit, self.cal_count)
        calibration = Calibration(
            what="p(positive) vs observed positive rate" if self.binary else "top-label confidence vs accuracy",
            bins=tuple(float(e) for e in edges), mean_predicted=tuple(float(v) for v in mean_pred),
            observed=tuple(float(v) for v in observed), count=tuple(int(c) for c in self.cal_count),
        )
        report = PerformanceResult(
            task="classification", n=n, positive_label=positive_label, threshold=threshold, n_bootstrap=n_boot,
            confidence=confidence, metrics=metrics, per_class=per_class, calibration=calibration,
            confusion_matrix=ConfusionMatrix(labels=tuple(str(c) for c in classes),
                                             rows_true_columns_predicted=tuple(tuple(int(x) for x in r) for r in cm)),
        )
        streaming = {
            "intervals": "closed forms for accuracy (Wilson), balanced accuracy (Price–Bonett), log loss and "
                         "Brier (Hall's skewness-corrected t)" + (" and the AUC (DeLong, logit scale)" if self.binary else "")
                         + ", and the debiased-world bootstrap for the calibration errors from their "
                         f"per-bin tallies, as in memory" + ("" if self.binary else f"; per-class precision, recall and F1: Poisson "
                         f"bootstrap over {self.n_cells} cells (true, predicted, top-label correct, confidence bin)"),
            "auc": {"method": auc_method, "bins": None if auc_method == "exact" else int(self.auc_bins),
                    "error_bound": None if not np.isfinite(auc_bound) else float(auc_bound)},
        }
        if not self.binary:
            streaming["auc"]["interval"] = "none: multiclass AUC intervals need rows (run without streaming)"
        return report, Streaming.from_dict(streaming)


@dataclass
class RegressionTally:
    """Additive sums of a regressor's errors: n, Σy, Σy², Σ|e|, Σe², Σe⁴ (e = ŷ − y)."""

    n: int = 0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(5))

    def update(self, pred: np.ndarray, y: np.ndarray) -> None:
        e = pred - y
        e2 = e**2
        self.n += len(e)
        self.sums += np.array([y.sum(), (y**2).sum(), np.abs(e).sum(), e2.sum(), (e2**2).sum()])

    def report(self, *, n_boot: int, confidence: float) -> tuple[PerformanceResult, Streaming]:
        from scipy import stats

        n = self.n
        sy, syy, sabs, se2, se4 = self.sums
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        mae = sabs / n
        mse = se2 / n
        sd_abs = np.sqrt(max(se2 / n - mae**2, 0.0) / n)
        sd_mse = np.sqrt(max(se4 / n - mse**2, 0.0) / n)
        rmse = np.sqrt(mse)
        sd_rmse = sd_mse / (2 * rmse) if rmse > 0 else 0.0
        ss_tot = syy - n * (sy / n) ** 2
        r2 = 1.0 - se2 / ss_tot if ss_tot > 0 else float("nan")
        metrics = {
            "mae": Estimate(mae, max(0.0, mae - z * sd_abs), mae + z * sd_abs),
            "rmse": Estimate(rmse, max(0.0, rmse - z * sd_rmse), rmse + z * sd_rmse),
            "r2": Estimate(r2, float("nan"), float("nan")),
        }
        report = PerformanceResult(task="regression", n=n, positive_label=None, threshold=None, n_bootstrap=n_boot,
                                   confidence=confidence, metrics=metrics)
        return report, Streaming(intervals="normal (delta method) from the sums of |e|, e², e⁴; none for r2")


def _estimate(value: float, reps: list[np.ndarray] | None, confidence: float) -> Estimate:
    if not reps:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = percentile_interval(np.concatenate(reps), confidence)
    if np.isfinite(value) and np.isfinite(low) and np.isfinite(high):  # an interval holds its point
        low, high = min(low, value), max(high, value)
    return Estimate(float(value), low, high)
