"""Performance from additive tallies: the one implementation of the performance check's figures.

Whatever the source (rows in memory, a streamed Parquet source, Ray actors), the rows come
in chunks aligned to global row indices and update a :class:`ClassificationTally` /
:class:`RegressionTally` (:meth:`add`; two tallies of disjoint rows :meth:`merge`); the
section is the tally's :meth:`report`. So an in-memory, a streamed and a Ray audit get the
same figures by construction. A tally holds O(classes² + bins) numbers, never rows
(exact AUC scores aside, while they fit in ``exact_auc_values``). Point values:

- accuracy, balanced accuracy, the confusion matrix: counts of (true, predicted) cells;
- log loss and Brier score: sums of the per-row terms;
- the calibration errors: per top-label-confidence bin (15 bins, ``ECE_BINS``) counts,
  hits and confidence sums;
- ROC AUC: exact (Mann–Whitney, ties one half) from the kept scores while the data has at
  most ``exact_auc_values`` scores; beyond that from a histogram of ``auc_bins`` equal
  bins of the score on [0, 1] per class, which counts every (positive, negative) pair
  sharing a bin as one half. Each such pair is off by at most one half, so
  ``|AUC − AUC_hist| <= 0.5 · Σ_b P_b N_b / (P N)``: that bound is ``auc.error_bound``;
- regression: MAE, RMSE and R² from power sums of the errors e = ŷ − y and of y − K
  (K the first row's target, a shift that keeps the sums well conditioned).

Intervals (all from the tallies, :mod:`audit_engine.performance_intervals` for the closed forms):

- accuracy (Wilson), balanced accuracy (Price–Bonett), log loss and Brier (Hall's
  skewness-corrected t): measured coverage 94.5–95.4% (see that module);
- the binary ROC AUC: DeLong on the logit scale from the score levels; a multiclass
  model's per-class one-vs-rest AUC the same, and its macro AUC DeLong's variance with the
  covariances of the per-class AUCs (:func:`~audit_engine.performance_intervals.macro_auc_interval`)
  from the kept scores; beyond ``exact_auc_values`` scores (histogram bins), the mean of the
  per-class intervals' ends (conservative). Coverage: ``benchmarks/multiclass_auc_coverage.py``;
- the calibration errors: the debiased-world bootstrap from the per-bin tallies
  (:func:`audit_engine.fairness.calibration_interval.binned_top_label_estimates`);
- per-class precision, recall, F1 (multiclass): a Poisson bootstrap over *cells* (true
  class, predicted class, top-label correct, confidence bin): the Poisson(1)-weighted count
  of a cell of n_c rows is Poisson(n_c), so these functions of cell counts get the row
  bootstrap's distribution;
- MAE: Hall's interval of the mean |e|; RMSE: the square root of Hall's interval of the
  mean e²; R²: the delta method on log(1 − R²) = log(mean e²) − log(mean (y − ȳ)²) from
  the power sums, mapped back (so the interval stays below 1). Coverage measured by
  ``benchmarks/regression_coverage.py``.

Random draws (the bootstraps) happen in :meth:`report`, from the tallies and a seeded
stream, never per chunk: chunking, order and backend cannot change them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from .fairness.calibration_interval import binned_top_label_estimates
from .fairness.metrics import debiased_squared_ce
from .performance_intervals import (auc_estimate, closed_form_estimates, level_counts, macro_auc_interval, power_sums,
                                    skewed_mean_interval)
from .results.performance import Calibration, ConfusionMatrix, PerformanceResult, Streaming
from .stats import Estimate, percentile_interval, weighted_auc

__all__ = ["ClassificationTally", "RegressionTally", "AUC_BINS", "ECE_BINS", "histogram_auc"]

ECE_BINS = 15
"""Equal-width bins of the top-label confidence for the calibration errors."""

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
        # reliability diagram: per equal-width bin of p(positive) (binary) or the top-label confidence
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

    def add(self, chunk: Any) -> None:
        """Add one :class:`~audit_engine.context.Chunk` (its probabilities, true and predicted classes)."""
        self.update(chunk.proba, chunk.y_index, chunk.predicted)

    def merge(self, other: ClassificationTally) -> ClassificationTally:
        """Add the tally of other rows (``other`` follows ``self`` in row order); returns ``self``."""
        if (other.k, other.positive_index, other.calibration_bins, other.auc_bins) != \
                (self.k, self.positive_index, self.calibration_bins, self.auc_bins):
            raise ValueError("only tallies of the same model and settings merge")
        self.n += other.n
        for name in ("confusion", "ece_count", "ece_hits", "ece_conf", "cal_count", "cal_pred", "cal_hit", "auc_pos",
                     "auc_neg", "cell_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.logloss += other.logloss
        self.brier += other.brier
        for name in self.loss_sums:
            self.loss_sums[name] = self.loss_sums[name] + other.loss_sums[name]
        if self.kept_scores is None or other.kept_scores is None or \
                self.n * (1 if self.binary else self.k) > self.exact_auc_values:
            self.kept_scores = self.kept_y = None
        else:
            self.kept_scores = self.kept_scores + other.kept_scores
            self.kept_y = (self.kept_y or []) + (other.kept_y or [])
        return self

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

    def auc_levels(self, c: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positives and negatives per score level (distinct kept scores, else histogram bins), in
        increasing score: of p(positive) (binary, ``c`` None) or of class ``c``'s column one-vs-rest."""
        column = 0 if self.binary or c is None else c
        positive = self.positive_index if self.binary or c is None else c
        if self.kept_scores is not None and self.kept_scores:
            y = np.concatenate(self.kept_y) == positive
            return level_counts(np.concatenate(self.kept_scores)[:, column], y)
        return self.auc_pos[column], self.auc_neg[column]

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
               calibration_rng: np.random.Generator) -> PerformanceResult:
        """The performance section, with its ``streaming`` block (how the intervals were drawn, the AUC's method).

        rng: the cell bootstrap; calibration_rng: the calibration errors' debiased-world bootstrap.
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
        class_auc: dict[int, Estimate] = {}
        if self.binary:  # DeLong from the exact score levels, or from the histogram's bins
            metrics["roc_auc"] = auc_estimate(points["roc_auc"], *self.auc_levels(), confidence)
        else:  # per class one-vs-rest DeLong; the macro AUC: the mean of their ends (conservative)
            class_auc = {c: auc_estimate(aucs[c], *self.auc_levels(c), confidence) for c in auc_classes}
            if "roc_auc" in metrics and auc_method == "exact":  # DeLong with the per-class covariances
                metrics["roc_auc"] = _held(points["roc_auc"], *macro_auc_interval(
                    np.concatenate(self.kept_scores), np.concatenate(self.kept_y), auc_classes, confidence))
            elif "roc_auc" in metrics:  # histogram bins only: the mean of the per-class ends (conservative)
                lows = [e.ci_low for e in class_auc.values()]
                highs = [e.ci_high for e in class_auc.values()]
                low, high = (float(np.mean(lows)), float(np.mean(highs))) if np.all(np.isfinite(lows + highs)) \
                    else (float("nan"), float("nan"))
                metrics["roc_auc"] = _held(points["roc_auc"], low, high)
        per_class = None
        if k > 2:
            per_class = {}
            for c in range(k):
                tp, pred_c, is_c = cm[c, c], cm[:, c].sum(), cm[c].sum()
                cp = {"precision": tp / pred_c if pred_c else np.nan, "recall": tp / is_c if is_c else np.nan,
                      "f1": 2 * tp / (is_c + pred_c) if is_c + pred_c else np.nan}
                entry = {m: _estimate(float(cp[m]), class_reps[c][m], confidence) for m in cp}
                if c in auc_classes:
                    entry["roc_auc"] = class_auc[c]
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
                         "Brier (Hall's skewness-corrected t), the AUC (DeLong, logit scale"
                         + (")" if self.binary else "; per class one-vs-rest and for the macro AUC)")
                         + ", and the debiased-world bootstrap for the calibration errors from their per-bin tallies"
                         + ("" if self.binary else f"; per-class precision, recall and F1: Poisson "
                            f"bootstrap over {self.n_cells} cells (true, predicted, top-label correct, confidence bin)"),
            "auc": {"method": auc_method, "bins": None if auc_method == "exact" else int(self.auc_bins),
                    "error_bound": None if not np.isfinite(auc_bound) else float(auc_bound)},
        }
        if not self.binary:
            streaming["auc"]["interval"] = (
                "macro AUC: DeLong with the covariances of the per-class AUCs, logit scale" if auc_method == "exact"
                else "macro AUC: the mean of the per-class DeLong intervals' ends (histogram bins: conservative)")
        report = dataclasses.replace(report, streaming=Streaming.from_dict(streaming))
        return report


@dataclass
class RegressionTally:
    """Additive power sums of a regressor's errors e = ŷ − y and of u = y − ``shift``.

    ``sums``: n, Σ|e|, Σe², Σ|e|³, Σe⁴, Σe⁶, Σu, Σu², Σu³, Σu⁴, Σe²u, Σe²u² (see :data:`SUMS`).
    ``shift``: any fixed value near the targets (the audit uses the first row's target, the
    same whatever the source), so the centred sums do not cancel catastrophically.
    """

    shift: float = 0.0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(12))

    SUMS = ("n", "abs_e", "e2", "abs_e3", "e4", "e6", "u", "u2", "u3", "u4", "e2u", "e2u2")

    @property
    def n(self) -> int:
        return int(self.sums[0])

    def update(self, pred: np.ndarray, y: np.ndarray) -> None:
        """Add predictions and targets ``(m,)``."""
        e = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        u = np.asarray(y, dtype=np.float64) - self.shift
        a, e2, u2 = np.abs(e), e * e, u * u
        self.sums = self.sums + np.array([e.size, a.sum(), e2.sum(), (a * e2).sum(), (e2 * e2).sum(),
                                          (e2 * e2 * e2).sum(), u.sum(), u2.sum(), (u2 * u).sum(), (u2 * u2).sum(),
                                          (e2 * u).sum(), (e2 * u2).sum()])

    def add(self, chunk: Any) -> None:
        """Add one :class:`~audit_engine.context.Chunk` (its predictions and targets)."""
        self.update(chunk.proba[:, 0], chunk.y)

    def merge(self, other: RegressionTally) -> RegressionTally:
        """Add the tally of other rows (same ``shift``); returns ``self``."""
        if other.shift != self.shift:
            raise ValueError("only regression tallies with the same shift merge")
        self.sums = self.sums + other.sums
        return self

    def report(self, *, n_boot: int, confidence: float) -> PerformanceResult:
        """MAE, RMSE and R² with their closed-form intervals (see the module doc)."""
        n, s_abs, s_e2, s_abs3, s_e4, s_e6, s_u, s_u2, s_u3, s_u4, s_e2u, s_e2u2 = (float(v) for v in self.sums)
        mae, mse = s_abs / n, s_e2 / n
        mae_ci = skewed_mean_interval(np.array([n, s_abs, s_e2, s_abs3]), confidence)
        mse_low, mse_high = skewed_mean_interval(np.array([n, s_e2, s_e4, s_e6]), confidence)
        rmse_ci = (float(np.sqrt(max(mse_low, 0.0))), float(np.sqrt(max(mse_high, 0.0))))
        c = s_u / n
        ss_tot = s_u2 - n * c * c
        r2 = 1.0 - s_e2 / ss_tot if ss_tot > 0 else float("nan")
        metrics = {"mae": _held(mae, *mae_ci), "rmse": _held(float(np.sqrt(mse)), *rmse_ci),
                   "r2": _held(r2, *_r2_interval(n, mse, ss_tot / n, s_e4, s_u, s_u2, s_u3, s_u4, s_e2, s_e2u, s_e2u2,
                                                 confidence))}
        streaming = Streaming(intervals="MAE: Hall's skewness-corrected t from the power sums of |e|; RMSE: the "
                                        "square root of that interval for the mean of e²; R²: the delta method on "
                                        "log(1 − R²) from power sums of e and y")
        return PerformanceResult(task="regression", n=int(n), positive_label=None, threshold=None, n_bootstrap=n_boot,
                                 confidence=confidence, metrics=metrics, streaming=streaming)


def _r2_interval(n: float, a: float, b: float, s_e4: float, s_u: float, s_u2: float, s_u3: float, s_u4: float,
                 s_e2: float, s_e2u: float, s_e2u2: float, confidence: float) -> tuple[float, float]:
    """Delta-method interval of R² = 1 − a / b on the scale log(a / b) (a = mean e², b = mean (y − ȳ)²).

    Var(log a − log b) ≈ [Var(e²)/a² + Var(d²)/b² − 2 Cov(e², d²)/(a b)] / n with d = y − ȳ;
    the moments come from the power sums of e and u = y − shift (d = u − ū).
    """
    if n < 3 or a <= 0 or b <= 0:
        return float("nan"), float("nan")
    c = s_u / n
    d4 = (s_u4 - 4 * c * s_u3 + 6 * c * c * s_u2 - 4 * c**3 * s_u) / n + c**4
    e2d2 = (s_e2u2 - 2 * c * s_e2u + c * c * s_e2) / n
    var = ((s_e4 / n - a * a) / (a * a) + (d4 - b * b) / (b * b) - 2 * (e2d2 - a * b) / (a * b)) / n
    if not np.isfinite(var) or var < 0:
        return float("nan"), float("nan")
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    centre, half = np.log(a / b), z * np.sqrt(var)
    return float(1.0 - np.exp(centre + half)), float(1.0 - np.exp(centre - half))


def _held(value: float, low: float, high: float) -> Estimate:
    """An Estimate whose interval holds its point value (NaN bounds stay NaN)."""
    if np.isfinite(value) and np.isfinite(low) and np.isfinite(high):
        low, high = min(low, value), max(high, value)
    return Estimate(float(value), float(low), float(high))


def _estimate(value: float, reps: list[np.ndarray] | None, confidence: float) -> Estimate:
    if not reps:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = percentile_interval(np.concatenate(reps), confidence)
    if np.isfinite(value) and np.isfinite(low) and np.isfinite(high):  # an interval holds its point
        low, high = min(low, value), max(high, value)
    return Estimate(float(value), low, high)
