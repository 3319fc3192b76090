"""Robustness under perturbation (issue 29): the flip rate of a known linear model under Gaussian
jitter against its closed form (and the Wilson interval's coverage of it over many draws), each
perturbation kind's effect on the data, and the group-disparity test against scipy."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from scipy import stats

from audit_engine.robustness import SEVERITIES, flip_rate_expected_linear, perturb, robustness

from .conftest import logistic_model

W = np.array([1.0, -2.0, 0.5])
B = 0.25


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(logistic_model(W, B).SerializeToString(), providers=["CPUExecutionProvider"])


def _predict(session: ort.InferenceSession):
    return lambda rows: session.run(None, {"input": rows.astype(np.float32)})[0].astype(np.float64)


def _decide(proba: np.ndarray) -> np.ndarray:
    return (proba[:, 1] >= 0.5).astype(int)


def test_jitter_flip_rate_matches_the_closed_form(session: ort.InferenceSession) -> None:
    rows = np.random.default_rng(0).normal(size=(3000, 3))
    q75, q25 = np.percentile(rows, [75, 25], axis=0)
    spread = (q75 - q25) / 1.349  # the spread the engine promises to use, computed here
    covered = 0
    seeds = 120
    for seed in range(seeds):
        result = robustness(_predict(session), _decide, rows, kinds=["jitter"],
                            rng_for=lambda kind, level, seed=seed: np.random.default_rng([seed, level]))
        for r in result.results:
            expected = flip_rate_expected_linear(rows, W, B, r.severity * spread)
            covered += r.flip_rate.ci_low <= expected <= r.flip_rate.ci_high
            if seed == 0:
                assert abs(r.flip_rate.value - expected) < 4 * np.sqrt(expected * (1 - expected) / rows.shape[0]) + 1e-3
    coverage = covered / (seeds * len(SEVERITIES["jitter"]))
    assert coverage >= 0.93, coverage  # flips are independent Bernoulli(p_i): Wilson is conservative here
    rates = [r.flip_rate.value for r in result.results]
    assert rates == sorted(rates) and rates[0] < rates[-1]  # graded severities


def test_perturbation_kinds_do_what_they_say() -> None:
    rng = np.random.default_rng(1)
    table = np.column_stack([rng.normal(size=500), rng.choice([0.0, 1.0, 2.0], 500, p=[0.6, 0.3, 0.1]),
                             rng.integers(0, 10, 500).astype(float)])
    cat = np.array([False, True, False])
    swapped = perturb("category_swap", table, 0.5, np.random.default_rng(2), categorical=cat)
    moved = swapped[:, 1] != table[:, 1]
    assert 0.4 < moved.mean() < 0.6 and np.array_equal(swapped[:, [0, 2]], table[:, [0, 2]])
    # next most frequent category: 0 → 1 → 2 → 0
    assert np.all(swapped[moved & (table[:, 1] == 0), 1] == 1) and np.all(swapped[moved & (table[:, 1] == 2), 1] == 0)
    jittered = perturb("jitter", table, 0.2, np.random.default_rng(3), categorical=cat)
    assert np.array_equal(jittered[:, 1], table[:, 1])  # categories untouched
    assert np.all(np.mod(jittered[:, 2], 1) == 0)  # whole-number features stay whole
    holes = perturb("missing", table, 0.3, np.random.default_rng(4))
    assert 0.25 < np.isnan(holes).mean() < 0.35
    images = rng.uniform(0, 1, size=(4, 1, 8, 8))
    for kind in ("noise", "blur", "brightness", "contrast", "quantise"):
        out = perturb(kind, images, SEVERITIES[kind][2], np.random.default_rng(5), spatial_axes=(2, 3))
        assert out.shape == images.shape and out.min() >= images.min() and out.max() <= images.max()
        assert not np.allclose(out, images)
    assert len(np.unique(perturb("quantise", images, 4, np.random.default_rng(0)))) <= 4
    blurred = perturb("blur", images, 2.0, np.random.default_rng(0), spatial_axes=(2, 3))
    assert blurred.std() < images.std()


def test_group_disparity_equals_scipy(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(6)
    rows = rng.normal(size=(2000, 3))
    rows[:1000] *= 0.3  # group a sits near the boundary: it flips more
    labels = np.array(["a"] * 1000 + ["b"] * 1000)
    three = np.array(["a"] * 1000 + ["b"] * 600 + ["c"] * 400)
    result = robustness(_predict(session), _decide, rows, kinds=["jitter"], groups={"g": labels, "h": three},
                        rng_for=lambda kind, level: np.random.default_rng(level))
    r = result.results[2]
    a, b = r.groups["g"]["a"], r.groups["g"]["b"]
    assert a.value > b.value
    ref = stats.fisher_exact([[a.flips, a.n - a.flips], [b.flips, b.n - b.flips]])[1]
    assert np.isclose(r.disparity["g"]["p_value"], ref) and r.disparity["g"]["p_value"] < 0.05
    counts = [[r.groups["h"][g].flips for g in "abc"], [r.groups["h"][g].n - r.groups["h"][g].flips for g in "abc"]]
    assert np.isclose(r.disparity["h"]["p_value"], stats.chi2_contingency(counts, correction=False)[1])
    assert result.max_flip_rate == result.results[2].flip_rate.value
    assert len(result.fragile_rows) == 10
    shifts = [s for _, s in result.fragile_rows]
    assert shifts == sorted(shifts, reverse=True)
    margin = np.abs(rows @ W + B)  # the most fragile rows sit near the decision boundary
    assert all(margin[i] < np.quantile(margin, 0.75) for i, _ in result.fragile_rows), \
        [(margin[i], np.quantile(margin, 0.75)) for i, _ in result.fragile_rows]


def test_same_streams_same_numbers(session: ort.InferenceSession) -> None:
    rows = np.random.default_rng(0).normal(size=(300, 3))
    run = lambda kinds: robustness(_predict(session), _decide, rows, kinds=kinds,  # noqa: E731
                                   rng_for=lambda kind, level: np.random.default_rng([hash(kind) % 2**32, level]))
    alone = run(["jitter"]).results
    both = run(["missing", "jitter"]).results
    assert [r.to_dict() for r in alone] == [r.to_dict() for r in both if r.kind == "jitter"]
