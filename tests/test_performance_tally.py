"""The tallies every source feeds: regression figures, the macro AUC interval, the shift tests.

Oracles: scikit-learn's metrics, scipy's ``ks_2samp`` and ``chi2_contingency``, the row-based
``psi``, DeLong's binary interval, and known truths in small simulations.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from audit_engine.ood.shift import ShiftTally, psi
from audit_engine.performance_intervals import auc_interval, level_counts, macro_auc_interval
from audit_engine.performance_tally import ClassificationTally, RegressionTally


def _regression(rng, n, offset=0.0):
    x = rng.normal(size=n)
    y = offset + x + rng.normal(size=n)
    return offset + 0.8 * x, y


def test_regression_tally_equals_sklearn_whatever_the_chunks():
    pred, y = _regression(np.random.default_rng(0), 1000, offset=1e6)  # a large offset: the shift keeps R² exact
    whole = RegressionTally(shift=float(y[0]))
    whole.update(pred, y)
    parts = RegressionTally(shift=float(y[0]))
    for lo in range(0, 1000, 333):
        parts.update(pred[lo:lo + 333], y[lo:lo + 333])
    np.testing.assert_allclose(parts.sums, whole.sums, rtol=1e-12)
    report = parts.report(n_boot=0, confidence=0.95)
    m = report.metrics
    assert m["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-9)
    assert m["rmse"].value == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), rel=1e-9)
    assert m["r2"].value == pytest.approx(skm.r2_score(y, pred), rel=1e-9)
    for est in m.values():
        assert est.ci_low < est.value < est.ci_high


def test_regression_intervals_cover_the_truth():
    """ŷ = 0.8 x on y = x + ε (normal): E|e| = sqrt(2/π · 1.04), E e² = 1.04, R² = 1 − 1.04 / 2."""
    rng = np.random.default_rng(5)
    truth = {"mae": np.sqrt(2 / np.pi * 1.04), "rmse": np.sqrt(1.04), "r2": 0.48}
    hits = dict.fromkeys(truth, 0)
    sims = 400
    for _ in range(sims):
        pred, y = _regression(rng, 300)
        tally = RegressionTally(shift=float(y[0]))
        tally.update(pred, y)
        report = tally.report(n_boot=0, confidence=0.95)
        for name, value in truth.items():
            hits[name] += report.metrics[name].ci_low <= value <= report.metrics[name].ci_high
    for name, count in hits.items():
        assert 0.92 <= count / sims <= 0.98, (name, count)


def _three_classes(rng, n):
    y = rng.integers(0, 3, n)
    logits = np.eye(3)[y] * 1.2 + rng.normal(size=(n, 3))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), y


def test_macro_auc_interval_for_one_class_is_delong():
    p, y = _three_classes(np.random.default_rng(1), 400)
    got = macro_auc_interval(p, y, [1], 0.95)
    pos, neg = level_counts(p[:, 1], y == 1)
    expect = auc_interval(pos, neg, 0.95)
    assert got == pytest.approx(expect, rel=2e-3)  # 1/P, 1/N here; DeLong's 1/(P−1), 1/(N−1) there


def test_macro_auc_interval_width_matches_the_spread_of_the_macro_auc():
    """Oracle: the macro AUC's standard deviation over 600 independent data sets."""
    rng = np.random.default_rng(2)
    macros, ses = [], []
    for _ in range(600):
        p, y = _three_classes(rng, 300)
        aucs = [skm.roc_auc_score(y == c, p[:, c]) for c in range(3)]
        m = float(np.mean(aucs))
        low, high = macro_auc_interval(p, y, [0, 1, 2], 0.95)
        macros.append(m)
        # back from the logit-scale interval to the standard error of the AUC
        ses.append((np.log(high / (1 - high)) - np.log(low / (1 - low))) / (2 * 1.959964) * m * (1 - m))
    assert np.mean(ses) == pytest.approx(np.std(macros), rel=0.12)


def test_multiclass_tally_gives_per_class_and_macro_auc_intervals():
    p, y = _three_classes(np.random.default_rng(3), 500)
    tally = ClassificationTally(3, None, 10)
    tally.update(p, y, p.argmax(axis=1))
    report = tally.report(classes=["a", "b", "c"], positive_label=None, threshold=None, n_boot=50, confidence=0.95,
                          rng=np.random.default_rng(0), calibration_rng=np.random.default_rng(1))
    macro = report.metrics["roc_auc"]
    assert macro.value == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"), rel=1e-12)
    assert (macro.ci_low, macro.ci_high) == pytest.approx(macro_auc_interval(p, y, [0, 1, 2], 0.95), rel=1e-12)
    for c, label in enumerate("abc"):
        est = report.per_class[label]["roc_auc"]
        assert est.value == pytest.approx(skm.roc_auc_score(y == c, p[:, c]), rel=1e-12)
        assert (est.ci_low, est.ci_high) == pytest.approx(auc_interval(*level_counts(p[:, c], y == c), 0.95),
                                                          rel=1e-12)


def test_shift_tally_with_ties_and_missing_values_equals_scipy():
    rng = np.random.default_rng(4)
    ref = np.c_[rng.integers(0, 20, 300).astype(float), rng.integers(0, 3, 300)]
    cur = np.c_[rng.integers(2, 22, 500).astype(float), rng.choice(3, 500, p=[0.5, 0.3, 0.2])]
    ref[rng.random(300) < 0.05, 0] = np.nan
    cur[rng.random(500) < 0.1, 0] = np.nan
    tally = ShiftTally(ref, np.array([False, True]), 10)
    for lo in range(0, 500, 130):
        tally.update(cur[lo:lo + 130])
    ks, chi = tally.results(["x", "c"])
    oracle = stats.ks_2samp(ref[:, 0], cur[:, 0], nan_policy="omit")
    assert ks.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert ks.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    assert ks.psi == pytest.approx(psi(ref[:, 0], cur[:, 0], bins=10), rel=1e-12)
    table = np.stack([np.bincount(ref[:, 1].astype(int)), np.bincount(cur[:, 1].astype(int))])
    assert chi.statistic == pytest.approx(stats.chi2_contingency(table, correction=False).statistic, rel=1e-12)
    assert chi.psi == pytest.approx(psi(ref[:, 1], cur[:, 1], categorical=True), rel=1e-12)
