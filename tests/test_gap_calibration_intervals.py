"""Coverage of the max-of-differences gap interval and the debiased calibration-error intervals.

Small numpy simulations from populations with known truth (no model needed), each with the
construction it replaced, which these same checks reject: the tests can fail.
"""

from __future__ import annotations

import numpy as np

from audit_engine.fairness.calibration_interval import (debiased_world, group_bins, group_calibration_draws,
                                               top_label_estimates, world_replicates)
from audit_engine.fairness.intervals import max_gap_interval
from audit_engine.fairness.metrics import debiased_squared_ce

W = np.array([1.0, -0.8])


def _eo_coverage(samples: int, seed: int) -> tuple[float, float]:
    """Equalized odds over groups a, b (equal rates) and c (different): new and old (percentile) coverage."""
    rng = np.random.default_rng(seed)
    shares = np.array([0.6, 0.35, 0.05])
    base = np.array([0.5485, 0.5485, 0.6774])
    tpr = np.array([0.7364, 0.7364, 0.8436])
    fpr = np.array([0.2136, 0.2136, 0.3364])
    truth = max(np.ptp(tpr), np.ptp(fpr))
    new = old = 0
    for _ in range(samples):
        ng = rng.multinomial(5000, shares)
        pos = rng.binomial(ng, base)
        neg = ng - pos
        tp, fp = rng.binomial(pos, tpr), rng.binomial(neg, fpr)
        value = max(np.ptp(tp / pos), np.ptp(fp / neg))
        td = rng.beta(tp + 0.5, pos - tp + 0.5, size=(400, 3))
        fd = rng.beta(fp + 0.5, neg - fp + 0.5, size=(400, 3))
        lo, hi = max_gap_interval([td, fd], 0.95)
        new += min(lo, value) <= truth <= max(hi, value)
        q = np.quantile(np.maximum(np.ptp(td, axis=1), np.ptp(fd, axis=1)), [0.025, 0.975])
        old += min(q[0], value) <= truth <= max(q[1], value)
    return new / samples, old / samples


def test_max_gap_interval_covers_equalized_odds_with_a_small_group():
    new, old = _eo_coverage(300, 0)
    assert new >= 0.92, new
    assert old < 0.90, old  # the percentile interval of the max's posterior sits too high


def test_max_gap_interval_two_groups_is_the_interval_of_the_absolute_difference():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(0.3, 0.02, 2000), rng.normal(0.5, 0.03, 2000)], axis=1)
    lo, hi = max_gap_interval([x], 0.9)
    q = np.quantile(x[:, 1] - x[:, 0], [0.05, 0.95])
    assert np.isclose(lo, q[0]) and np.isclose(hi, q[1])
    # near parity the lower end is 0 and the upper end the larger |end|
    y = np.stack([rng.normal(0.3, 0.02, 2000), rng.normal(0.3, 0.02, 2000)], axis=1)
    lo, hi = max_gap_interval([y], 0.9)
    d = np.quantile(y[:, 1] - y[:, 0], [0.05, 0.95])
    assert lo == 0.0 and np.isclose(hi, max(d[1], -d[0]))
    # to a reference: only pairs (g, ref); NaN columns take no part
    z = np.concatenate([x, np.full((2000, 1), np.nan)], axis=1)
    assert np.allclose(max_gap_interval([z], 0.9, ref=0), (q[0], q[1]))
    assert all(np.isnan(max_gap_interval([z], 0.9, ref=2)))


def _population(n: int, slope: float, offset: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, 2))
    z = x @ W
    p = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(slope * z + offset)))).astype(int)
    return np.stack([1 - p, p], axis=1), y


def _top_label_bins(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[np.ndarray, ...]:
    top = proba.max(axis=1)
    b = np.minimum((top * bins).astype(int), bins - 1)
    hit = (proba.argmax(axis=1) == y).astype(float)
    return (np.bincount(b, minlength=bins).astype(float), np.bincount(b, weights=hit, minlength=bins),
            np.bincount(b, weights=top, minlength=bins))


def _ece_coverage(slope: float, offset: float, samples: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    if slope == 1.0 and offset == 0.0:
        truth = 0.0
    else:
        n_b, k_b, s_b = _top_label_bins(*_population(2_000_000, slope, offset, np.random.default_rng(99)))
        ok = n_b > 0
        truth = float(np.sum(n_b[ok] * (k_b[ok] / n_b[ok] - s_b[ok] / n_b[ok]) ** 2) / n_b.sum())
    new = old = 0
    for _ in range(samples):
        proba, y = _population(500, slope, offset, rng)
        est = top_label_estimates(proba, y, bins=15, n_boot=200, rng=rng, confidence=0.95)["squared_calibration_error"]
        new += est.ci_low <= truth <= est.ci_high
        # the construction it replaced: percentile interval of Poisson-bootstrap replicates
        n_b, k_b, s_b = _top_label_bins(proba, y)
        n_star = rng.poisson(np.broadcast_to(n_b, (200, 15))).astype(float)
        k_star = rng.binomial(n_star.astype(int), np.divide(k_b, n_b, out=np.zeros(15), where=n_b > 0))
        reps = debiased_squared_ce(n_star, k_star, n_star * np.divide(s_b, n_b, out=np.zeros(15), where=n_b > 0))
        q = np.quantile(reps, [0.025, 0.975])
        old += min(q[0], est.value) <= truth <= max(q[1], est.value)
    return new / samples, old / samples


def test_debiased_ece_interval_covers_a_miscalibrated_model():
    new, old = _ece_coverage(1.4, 0.3, 300, 2)
    assert 0.92 <= new <= 0.99, new
    assert old < 0.93, old


def test_debiased_ece_interval_reaches_zero_for_a_calibrated_model():
    new, old = _ece_coverage(1.0, 0.0, 300, 3)
    assert new >= 0.93, new
    assert old < 0.93, old


def test_group_calibration_draws_cover_per_group():
    rng = np.random.default_rng(4)
    bins = 10
    pop_p, pop_y = _population(2_000_000, 1.4, 0.3, np.random.default_rng(5))
    b = np.minimum((pop_p[:, 1] * bins).astype(int), bins - 1)
    n_b = np.bincount(b, minlength=bins)
    truth = float(np.sum(n_b * (np.bincount(b, weights=pop_y, minlength=bins) / n_b
                                - np.bincount(b, weights=pop_p[:, 1], minlength=bins) / n_b) ** 2) / n_b.sum())
    hits = 0
    samples = 300
    for _ in range(samples):
        proba, y = _population(250, 1.4, 0.3, rng)
        p = proba[:, 1]
        pred = (p >= 0.5).astype(int)
        bb = np.minimum((p * bins).astype(int), bins - 1)
        rows = np.zeros((1, 2, 2, bins))
        sums = np.zeros((1, 2, 2, bins))
        np.add.at(rows, (0, y, pred, bb), 1.0)
        np.add.at(sums, (0, y, pred, bb), p)
        draws = group_calibration_draws(group_bins(rows, rows, sums, 1), 200, rng)[:, 0]
        value = np.sqrt(max(float(debiased_squared_ce(rows.sum(axis=(1, 2)), rows[:, 1].sum(axis=1),
                                                      sums.sum(axis=(1, 2)))[0]), 0.0))
        lo, hi = np.quantile(draws, [0.025, 0.975])
        hits += min(lo, value) <= np.sqrt(truth) <= max(hi, value)
    assert 0.92 <= hits / samples <= 0.99, hits / samples


def test_debiased_world_shrinks_each_bin_and_replicates_are_reproducible():
    n_b = np.array([100.0, 4.0, 0.0])
    k_b = np.array([60.0, 2.0, 0.0])
    s_b = np.array([50.0, 2.0, 0.0])
    prob, sbar = debiased_world(n_b, k_b, s_b)
    # bin 0: deviation 0.1, var 0.24/99, shrunk to sqrt(0.01 - 0.24/99)
    assert np.isclose(prob[0], 0.5 + np.sqrt(0.01 - 0.24 / 99))
    assert prob[1] == 0.5 and prob[2] == 0.0 and np.allclose(sbar, [0.5, 0.5, 0.0])
    a = world_replicates(n_b, prob, sbar, 50, np.random.default_rng(0))
    b = world_replicates(n_b, prob, sbar, 50, np.random.default_rng(0))
    assert a.shape == (50,) and np.array_equal(a, b)
