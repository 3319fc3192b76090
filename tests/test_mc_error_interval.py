"""MC-dropout error interval: Student t with G − 1 degrees of freedom (scipy as the oracle), and its coverage."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose
from scipy.stats import t as student_t

from audit_engine.uncertainty.mc_error import PassSums, mc_error


BASE = np.random.default_rng(123).normal(0, 1, 40)  # the rows' logits without dropout


def _passes(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Two-class probabilities per pass: the rows' logits plus dropout noise, i.i.d. over passes."""
    base = BASE
    return [np.stack([1 / (1 + np.exp(z)), 1 / (1 + np.exp(-z))], axis=1)
            for z in (base[None] + rng.normal(0, 0.8, (count, base.size)))]


def test_interval_is_mean_plus_minus_t_quantile_times_se():
    sums = PassSums(groups=10)
    sums.add(_passes(np.random.default_rng(0), 60))
    err = mc_error(sums)
    low, high = err.interval("epistemic", 0.95)
    q = student_t.ppf(0.975, 9)
    assert err.df == 9
    assert_allclose([low, high], [err.mean_corrected["epistemic"] - q * err.se["epistemic"]["mean"],
                                  err.mean_corrected["epistemic"] + q * err.se["epistemic"]["mean"]], rtol=1e-12)


def test_interval_covers_the_many_pass_value_with_few_groups():
    # 10 groups: the t quantile (2.26) is what makes 95% hold (measured 94.5% over 1000 runs); 1.96 covered 90.9%.
    rng = np.random.default_rng(1)
    ref = PassSums(groups=50)
    ref.add(_passes(np.random.default_rng(1), 20000))
    truth = mc_error(ref).mean_corrected["epistemic"]
    hits = 0
    runs = 300
    for _ in range(runs):
        sums = PassSums(groups=10)
        sums.add(_passes(np.random.default_rng(rng.integers(2**32)), 60))
        low, high = mc_error(sums).interval("epistemic")
        hits += low <= truth <= high
    assert 0.92 <= hits / runs <= 0.98, hits / runs
