"""Closed-form performance intervals: equal to statsmodels where it has them, measured coverage elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

import audit_engine as ae
from audit_engine.performance_intervals import (
    auc_interval,
    level_counts,
    mean_of_proportions_interval,
    power_sums,
    proportion_interval,
    skewed_mean_interval,
)
from audit_engine.performance_tally import ClassificationTally

from .conftest import data_path, model_path

COMPAS_NUMERIC = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")


@pytest.mark.parametrize("k, n", [(0, 20), (3, 20), (641, 1000), (20, 20), (9999, 10_000)])
def test_accuracy_interval_is_wilson(k, n):
    assert proportion_interval(k, n, 0.95) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"),
                                                            abs=1e-12)
    assert proportion_interval(k, n, 0.9) == pytest.approx(proportion_confint(k, n, alpha=0.1, method="wilson"),
                                                           abs=1e-12)


@pytest.mark.parametrize("h1, n1, h0, n0", [(30, 50, 400, 450), (1, 10, 9, 10), (250, 260, 3, 240)])
def test_balanced_accuracy_interval_is_agresti_caffo_for_two_classes(h1, n1, h0, n0):
    # (r1 + r0) / 2 = 1/2 + (r1 − (1 − r0)) / 2: the Agresti–Caffo interval of a difference, halved
    low, high = confint_proportions_2indep(h1, n1, n0 - h0, n0, method="agresti-caffo", compare="diff", alpha=0.05)
    expect = (max(0.5 + low / 2, 0.0), min(0.5 + high / 2, 1.0))
    got = mean_of_proportions_interval(np.array([h1, h0]), np.array([n1, n0]), 0.95)
    assert got == pytest.approx(expect, abs=1e-12)


def test_skewed_mean_interval_is_the_t_interval_for_symmetric_data():
    v = np.r_[np.linspace(-1, 1, 41), np.linspace(-1, 1, 41)] + 3.0  # skewness exactly 0
    expect = stats.t.interval(0.95, v.size - 1, loc=v.mean(), scale=stats.sem(v))
    assert skewed_mean_interval(power_sums(v), 0.95) == pytest.approx(expect, rel=1e-9)


def test_skewed_mean_interval_covers_skewed_means_better_than_the_t_interval():
    # log-normal losses (skewness ~6) at n = 60: the symmetric t interval misses high too often
    rng = np.random.default_rng(3)
    sims, n = 2000, 60
    truth = np.exp(0.5)  # mean of LogNormal(0, 1)
    x = rng.lognormal(0.0, 1.0, size=(sims, n))
    hall = np.array([skewed_mean_interval(power_sums(row), 0.95) for row in x])
    t_half = stats.t.ppf(0.975, n - 1) * x.std(axis=1, ddof=1) / np.sqrt(n)
    hall_cov = np.mean((hall[:, 0] <= truth) & (truth <= hall[:, 1]))
    t_cov = np.mean(np.abs(x.mean(axis=1) - truth) <= t_half)
    assert hall_cov > t_cov + 0.01, (hall_cov, t_cov)
    assert np.all((hall[:, 0] <= x.mean(axis=1)) & (x.mean(axis=1) <= hall[:, 1]))


def test_log_loss_and_brier_intervals_cover_in_a_small_simulation():
    # the harness's population at n = 500 (logistic model, truth logit 1.4 z + 0.3): 95% within ±2.5 points
    rng = np.random.default_rng(5)
    w = np.array([1.0, -0.8])

    def draw(n):
        z = rng.standard_normal((n, 2)) @ w
        y = rng.random(n) < 1 / (1 + np.exp(-(1.4 * z + 0.3)))
        p = 1 / (1 + np.exp(-z))
        return -np.log(np.where(y, p, 1 - p)), (p - y) ** 2

    big_ll, big_br = draw(1_000_000)
    covered = np.zeros(2)
    sims = 800
    for _ in range(sims):
        for i, (v, truth) in enumerate(zip(draw(500), (big_ll.mean(), big_br.mean()), strict=True)):
            low, high = skewed_mean_interval(power_sums(v), 0.95)
            covered[i] += low <= truth <= high
    assert np.all(np.abs(covered / sims - 0.95) <= 0.025), covered / sims


@pytest.fixture(scope="module")
def compas_doc():
    cfg = ae.AuditConfig(target="two_year_recid", features=COMPAS_NUMERIC, n_bootstrap=50, checks=("performance",))
    return ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg).to_dict()["performance"]


def test_audit_writes_the_closed_form_intervals(compas_doc):
    m, cm = compas_doc["metrics"], np.array(compas_doc["confusion_matrix"]["rows_true_columns_predicted"])
    n = int(cm.sum())
    assert (m["accuracy"]["ci_low"], m["accuracy"]["ci_high"]) == pytest.approx(
        proportion_confint(int(np.trace(cm)), n, method="wilson"), abs=1e-12)
    for est in m.values():
        if est["ci_low"] is not None:
            assert est["ci_low"] <= est["value"] <= est["ci_high"]


def test_streamed_tally_gives_the_same_closed_form_intervals():
    rng = np.random.default_rng(2)
    p = rng.beta(2, 3, 3000)
    y = (rng.random(3000) < p).astype(int)
    proba = np.c_[1 - p, p]
    tally = ClassificationTally(2, 1, 10, exact_auc_values=0)
    for lo in range(0, 3000, 700):
        sl = slice(lo, lo + 700)
        tally.update(proba[sl], y[sl], (p[sl] >= 0.5).astype(int))
    report = tally.report(classes=[0, 1], positive_label=1, threshold=0.5, n_boot=20, confidence=0.95,
                             rng=np.random.default_rng(0), calibration_rng=np.random.default_rng(1))
    ll = -np.log(np.where(y == 1, p, 1 - p))
    expect = skewed_mean_interval(power_sums(ll), 0.95)
    got = report.metrics["log_loss"]
    assert (got.ci_low, got.ci_high) == pytest.approx(expect, rel=1e-10)
    correct = int(((p >= 0.5) == (y == 1)).sum())
    acc = report.metrics["accuracy"]
    assert (acc.ci_low, acc.ci_high) == pytest.approx(proportion_confint(correct, 3000, method="wilson"), abs=1e-12)


def test_auc_interval_is_delong_on_the_logit_scale():
    # oracle: the placement values of DeLong et al. (1988) from every (positive, negative) pair
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # ties
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])
    a = psi.mean()
    assert a == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    se = np.sqrt(psi.mean(axis=1).var(ddof=1) / pos.size + psi.mean(axis=0).var(ddof=1) / neg.size)
    half = stats.norm.ppf(0.975) * se / (a * (1 - a))
    expect = 1 / (1 + np.exp(-(np.log(a / (1 - a)) + np.array([-half, half]))))
    assert auc_interval(*level_counts(s, y), 0.95) == pytest.approx(tuple(expect), abs=1e-12)
    assert auc_interval(*level_counts(s[y == 1], y[y == 1]), 0.95) == pytest.approx((np.nan, np.nan), nan_ok=True)
