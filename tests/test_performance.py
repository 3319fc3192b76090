"""Performance metrics against scikit-learn as the oracle, with honest intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn import metrics as skm

import audit_engine as ae
from audit_engine import performance

from .conftest import data_path, model_path

COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _ece_reference(proba, y, n_bins=15):
    """Guo et al. (2017) ECE written plainly, as an independent oracle."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


def _debiased_reference(proba, y, n_bins=15):
    """Kumar, Liang & Ma (2019) debiased squared calibration error, written plainly."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        k = inside.sum()
        if k:
            acc = correct[inside].mean()
            var = acc * (1 - acc) / (k - 1) if k > 1 else 0.0
            total += k / len(conf) * ((acc - conf[inside].mean()) ** 2 - var)
    return total


def test_debiased_ece_interval_covers_zero_for_a_calibrated_model():
    # y ~ Bernoulli(p): perfectly calibrated, so the true (binned) calibration error is 0.
    rng = np.random.default_rng(11)
    covered = plugin_covered = 0
    sims = 100
    for _ in range(sims):
        p = rng.beta(2, 2, size=2000)
        y = (rng.random(p.size) < p).astype(np.intp)
        proba = np.stack([1 - p, p], axis=1)
        stats = performance.classification_metrics(proba, y, positive_index=1)
        est = performance.estimate_all(stats, p.size, n_boot=200, rng=rng, confidence=0.95)
        covered += est["expected_calibration_error"].ci_low <= 0.0
        plugin_covered += est["expected_calibration_error_plugin"].ci_low <= 0.0  # its bootstrap interval
        assert est["squared_calibration_error"].ci_low <= est["squared_calibration_error"].value
    assert covered >= 0.9 * sims, covered
    assert plugin_covered == 0  # the plug-in ECE's interval never reaches the true 0


@pytest.fixture(scope="module")
def binary_ctx():
    config = ae.AuditConfig(target="two_year_recid", features=COMPAS_NUMERIC, n_bootstrap=200)
    return ae.prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=config)


def test_binary_metrics_equal_sklearn(binary_ctx):
    ctx = binary_ctx
    section = performance.run(ctx).section.to_dict()
    m = section["metrics"]
    y = ctx.data.y
    p = ctx.proba[:, 1]
    pred = (p >= 0.5).astype(int)
    assert_allclose(m["accuracy"]["value"], skm.accuracy_score(y, pred), atol=1e-12)
    assert_allclose(m["balanced_accuracy"]["value"], skm.balanced_accuracy_score(y, pred), atol=1e-12)
    assert_allclose(m["roc_auc"]["value"], skm.roc_auc_score(y, p), atol=1e-12)
    assert_allclose(m["log_loss"]["value"], skm.log_loss(y, ctx.proba), atol=1e-9)
    assert_allclose(m["brier_score"]["value"], skm.brier_score_loss(y, p), atol=1e-12)
    assert_allclose(m["expected_calibration_error_plugin"]["value"], _ece_reference(ctx.proba, ctx.y_index),
                    atol=1e-12)
    sq = _debiased_reference(ctx.proba, ctx.y_index)
    assert_allclose(m["squared_calibration_error"]["value"], sq, atol=1e-12)
    assert_allclose(m["expected_calibration_error"]["value"], np.sqrt(max(sq, 0.0)), atol=1e-12)
    assert m["expected_calibration_error_plugin"]["ci_low"] is None  # biased: no interval claimed
    for name, est in m.items():
        if name != "expected_calibration_error_plugin":
            assert est["ci_low"] <= est["value"] <= est["ci_high"]
            assert est["ci_high"] - est["ci_low"] > 0
    assert section["positive_label"] == 1 and section["threshold"] == 0.5
    cm = np.array(section["confusion_matrix"]["rows_true_columns_predicted"])
    assert_allclose(cm, skm.confusion_matrix(y, pred))


def test_threshold_and_positive_label(binary_ctx):
    ctx = binary_ctx  # the tallies are taken at prepare time, with the config's threshold and positive label
    other = ae.prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"),
                       config=ctx.config.replace(threshold=0.3, positive_label=0))
    m = performance.run(other).section.to_dict()["metrics"]
    y0 = (ctx.data.y == 0).astype(int)
    p0 = ctx.proba[:, 0]
    assert_allclose(m["accuracy"]["value"], skm.accuracy_score(y0, (p0 >= 0.3).astype(int)), atol=1e-12)
    assert_allclose(m["roc_auc"]["value"], skm.roc_auc_score(y0, p0), atol=1e-12)


def test_weighted_auc_with_ties_matches_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=300).astype(float)
    labels = rng.integers(0, 2, size=300)
    weights = rng.poisson(1.0, size=(4, 300)).astype(float)
    got = performance.weighted_auc(scores, labels, weights)
    for b in range(4):
        expected = skm.roc_auc_score(labels, scores, sample_weight=weights[b])
        assert_allclose(got[b], expected, atol=1e-12)


def test_multiclass_metrics_equal_sklearn():
    npz = np.load(data_path("digits.npz"))
    ctx = ae.prepare(model_path("digits_cnn.onnx"), ae.load_data(npz["x"], y=npz["y"]),
                     config=ae.AuditConfig(n_bootstrap=50))
    section = performance.run(ctx).section.to_dict()
    m = section["metrics"]
    y, proba = npz["y"], ctx.proba
    assert_allclose(m["accuracy"]["value"], skm.accuracy_score(y, proba.argmax(1)), atol=1e-12)
    assert_allclose(m["balanced_accuracy"]["value"], skm.balanced_accuracy_score(y, proba.argmax(1)), atol=1e-12)
    assert_allclose(m["roc_auc"]["value"], skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), atol=1e-9)
    assert_allclose(m["log_loss"]["value"], skm.log_loss(y, proba, labels=list(range(10))), atol=1e-9)
    onehot = np.eye(10)[y]
    assert_allclose(m["brier_score"]["value"], ((proba - onehot) ** 2).sum(1).mean(), atol=1e-12)
    per_class = section["per_class"]
    precision = skm.precision_score(y, proba.argmax(1), average=None)
    recall = skm.recall_score(y, proba.argmax(1), average=None)
    for c in range(10):
        assert_allclose(per_class[str(c)]["precision"]["value"], precision[c], atol=1e-12)
        assert_allclose(per_class[str(c)]["recall"]["value"], recall[c], atol=1e-12)


def test_regression_metrics_equal_sklearn():
    frame = pd.read_csv(data_path("diabetes.csv"))
    ctx = ae.prepare(model_path("diabetes_linear.onnx"), frame, config=ae.AuditConfig(target="target", n_bootstrap=100))
    m = performance.run(ctx).section.to_dict()["metrics"]
    y, pred = frame["target"].to_numpy(), ctx.proba[:, 0]
    assert_allclose(m["mae"]["value"], skm.mean_absolute_error(y, pred), rtol=1e-10)
    assert_allclose(m["rmse"]["value"], np.sqrt(skm.mean_squared_error(y, pred)), rtol=1e-10)
    assert_allclose(m["r2"]["value"], skm.r2_score(y, pred), rtol=1e-10)
    assert m["r2"]["ci_low"] < m["r2"]["value"] < m["r2"]["ci_high"]


def test_bootstrap_interval_covers_truth_in_simulation():
    """Coverage sanity: a 90% Poisson-bootstrap interval of accuracy covers the truth ~90%."""
    rng = np.random.default_rng(7)
    hits = 0
    trials = 60
    for t in range(trials):
        y = rng.integers(0, 2, 400)
        correct_prob = 0.8
        pred = np.where(rng.random(400) < correct_prob, y, 1 - y)
        proba = np.stack([1 - pred, pred], axis=1).astype(float)
        stats = performance.classification_metrics(proba, y, positive_index=1)
        est = performance.estimate_all({"accuracy": stats["accuracy"]}, 400, n_boot=300,
                                       rng=np.random.default_rng(t), confidence=0.9)["accuracy"]
        hits += est.ci_low <= correct_prob <= est.ci_high
    assert 0.75 <= hits / trials <= 1.0
