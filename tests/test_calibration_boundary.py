"""The ECE interval at the boundary: a calibrated model's true error 0 is held ~95% of the time.

Closed-form truth: top-label confidence c ~ U(0.5, 1) and P(hit) = c − d, so every bin
deviates by exactly −d and the binned squared calibration error is d² (ℓ2 error d).
The old equal-tailed interval clipped at 0 held 0 in ~98.5% of samples (issue 9).
"""

import numpy as np
import pytest

from audit_engine.fairness.calibration_interval import top_label_estimates


def _coverage(d: float, n: int, samples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    held = 0
    for _ in range(samples):
        c = rng.uniform(0.5, 1.0, n)
        y = (rng.random(n) < c - d).astype(int)
        est = top_label_estimates(np.column_stack([1.0 - c, c]), y, bins=10, n_boot=200,
                                  rng=rng, confidence=0.95)["expected_calibration_error"]
        held += est.ci_low <= d <= est.ci_high
    return held / samples


def test_calibrated_model_holds_zero_at_nominal_rate():
    # 600 samples: Monte Carlo SE 0.9 points; the old construction measured 98.5%.
    assert 0.925 <= _coverage(0.0, 500, 600, seed=3) <= 0.97


@pytest.mark.parametrize("d", [0.03, 0.06])
def test_small_positive_error_still_held(d):
    assert _coverage(d, 500, 300, seed=5) >= 0.92
