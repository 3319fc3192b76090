"""Coverage of the max-of-differences gap interval and the debiased calibration-error intervals.

Small numpy simulations from populations with known truth (no model needed), each with the
construction it replaced, which these same checks reject: the tests can fail.
"""

from __future__ import annotations

import numpy as np

from audit_engine.fairness.calibration_interval import (debiased_world, equal_error_draws, group_bins,
                                                        group_calibration_draws, scaled_world, tiny_group_interval,
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


# ---------------------------------------------------------------------------- issue 9
def _group_bins_of(n_rows: int, shares: tuple[float, ...], slope: float, offset: float,
                   rng: np.random.Generator, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(g, B)`` rows, positives and score sums of a sample in which the group is independent of (x, y)."""
    proba, y = _population(n_rows, slope, offset, rng)
    g = rng.choice(len(shares), size=n_rows, p=np.asarray(shares))
    b = np.minimum((proba[:, 1] * bins).astype(int), bins - 1)
    out = [np.zeros((len(shares), bins)) for _ in range(3)]
    for arr, w in zip(out, (np.ones(n_rows), y.astype(float), proba[:, 1]), strict=True):
        np.add.at(arr, (g, b), w)
    return tuple(out)


def _gap_coverage(slope: float, offset: float, samples: int, seed: int) -> tuple[float, float]:
    """True calibration gap 0 (two exchangeable groups of ~250 rows): new and old coverage of 0."""
    rng = np.random.default_rng(seed)
    new = old = 0
    for _ in range(samples):
        n_b, k_b, s_b = _group_bins_of(500, (0.5, 0.5), slope, offset, rng)
        value = float(np.ptp(np.sqrt(np.maximum(debiased_squared_ce(n_b, k_b, s_b), 0.0))))
        reflected = equal_error_draws((n_b,), n_b, k_b, s_b, np.array([True, True]), 200, rng)
        lo, hi = max_gap_interval([reflected], 0.95)
        new += min(lo, value) <= 0.0 <= max(hi, value)
        prob, sbar = debiased_world(n_b, k_b, s_b)  # the construction it replaced (before the parity extension)
        draws = np.sqrt(np.maximum(world_replicates(n_b, prob, sbar, 200, rng), 0.0))
        lo, hi = max_gap_interval([draws], 0.95)
        old += min(lo, value) <= 0.0 <= max(hi, value)
    return new / samples, old / samples


def test_calibration_gap_interval_covers_zero_at_about_the_level_for_a_calibrated_model():
    # Both errors 0: the lower end must leave 0 in about 5% of samples (a size-5% test);
    # the percentile interval of per-group replicates almost never did (99-100%).
    # Both errors sit at the boundary 0 here, where the new interval is still a little wide
    # (0.99 on these seeds, 98.2% in the harness; BENCHMARKS.md "Calibration gap interval").
    new, old = _gap_coverage(1.0, 0.0, 400, 11)
    assert 0.93 <= new <= 0.9925, new
    assert old >= 0.995 and old > new, old


def test_calibration_gap_interval_covers_zero_for_equally_miscalibrated_groups():
    new, _ = _gap_coverage(1.4, 0.3, 300, 12)
    assert 0.92 <= new <= 0.985, new


def test_calibration_gap_interval_covers_a_true_gap():
    # group 1 miscalibrated (slope 1.4), group 0 calibrated: a gap of about 0.07 that the
    # interval must hold at the level, not only near parity.
    rng = np.random.default_rng(13)
    big = [_group_bins_of(2_000_000, (1.0,), s, o, np.random.default_rng(14 + i)) for i, (s, o) in
           enumerate(((1.0, 0.0), (1.4, 0.3)))]
    truth = float(np.sqrt(max(debiased_squared_ce(*big[1])[0], 0.0)) - np.sqrt(max(debiased_squared_ce(*big[0])[0], 0.0)))
    hits = 0
    samples = 300
    for _ in range(samples):
        parts = [_group_bins_of(1000, (1.0,), s, o, rng) for s, o in ((1.0, 0.0), (1.4, 0.3))]
        n_b, k_b, s_b = (np.concatenate([p[i] for p in parts]) for i in range(3))
        value = float(np.ptp(np.sqrt(np.maximum(debiased_squared_ce(n_b, k_b, s_b), 0.0))))
        lo, hi = max_gap_interval([equal_error_draws((n_b,), n_b, k_b, s_b, np.array([True, True]), 200, rng)], 0.95)
        hits += min(lo, value) <= truth <= max(hi, value)
    assert 0.92 <= hits / samples <= 0.985, (hits / samples, truth)


def _without_one_row_debiasing(n_b, k_b, s_b):
    """The debiased estimator as it was before issue 23: a one-row bin kept its plug-in term."""
    ok = n_b > 0
    y = np.divide(k_b, n_b, out=np.zeros(np.shape(k_b)), where=ok)
    s = np.divide(s_b, n_b, out=np.zeros(np.shape(s_b)), where=ok)
    var = np.divide(y * (1 - y), n_b - 1.0, out=np.zeros(np.shape(y)), where=n_b > 1)
    total = n_b.sum(axis=-1)
    return np.where(ok, n_b * ((y - s) ** 2 - var), 0.0).sum(axis=-1) / np.where(total > 0, total, np.nan)


def test_tiny_group_calibration_interval_covers_a_25_row_group():
    rng = np.random.default_rng(15)
    big = _group_bins_of(2_000_000, (1.0,), 1.4, 0.3, np.random.default_rng(16))
    truth = float(np.sqrt(debiased_squared_ce(*big)[0]))
    new = old = 0
    samples = 300
    for _ in range(samples):
        n_b, k_b, s_b = (x[0] for x in _group_bins_of(25, (1.0,), 1.4, 0.3, rng))
        lo, hi = tiny_group_interval(n_b, n_b, k_b, s_b, 200, rng, 0.95)
        new += lo <= truth <= hi
        # what it replaced: one-row bins undebiased, the per-bin world's percentile interval
        value = float(np.sqrt(max(_without_one_row_debiasing(n_b, k_b, s_b), 0.0)))
        prob, sbar = debiased_world(n_b, k_b, s_b)
        n_star = rng.poisson(np.broadcast_to(n_b, (200, n_b.size)))
        k_star = rng.binomial(n_star, prob).astype(float)
        reps = _without_one_row_debiasing(n_star.astype(float), k_star, n_star * sbar)
        q = np.nanquantile(np.sqrt(np.maximum(reps, 0.0)), [0.025, 0.975])
        old += min(q[0], value) <= truth <= max(q[1], value)
    assert new / samples >= 0.93, new / samples
    assert old / samples < 0.85, old / samples


def test_scaled_world_has_the_requested_error():
    n_b = np.array([50.0, 40.0, 10.0])
    k_b = np.array([10.0, 30.0, 9.0])
    s_b = np.array([12.5, 22.0, 6.5])
    prob, sbar = scaled_world(n_b, k_b, s_b, 0.004)
    assert np.isclose(np.sum(n_b * (prob - sbar) ** 2) / n_b.sum(), 0.004)
    # default: the point value max(0, v); a world whose data show no miscalibration is calibrated
    prob, sbar = scaled_world(n_b, k_b, s_b)
    assert np.isclose(np.sum(n_b * (prob - sbar) ** 2) / n_b.sum(), max(float(debiased_squared_ce(n_b, k_b, s_b)), 0))
    prob, sbar = scaled_world(n_b, s_b, s_b)
    assert np.allclose(prob, sbar)
