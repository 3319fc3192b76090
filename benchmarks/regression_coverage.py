"""Coverage of the regression intervals of :class:`audit_engine.performance_tally.RegressionTally`.

A fixed predictor ŷ = 0.8·x on y = x + ε, x ~ N(0, 1), ε of variance 1 either normal or a
centred exponential (skewed errors): the true MAE, RMSE and R² are known (R² = 1 − 1.04 / 2
= 0.48; E e² = 1.04; E|e| analytic for the normal case, by a 10⁷-draw Monte Carlo for the
skewed one). Each setting draws ``SIMS`` data sets and counts how often each 95% interval
holds the truth. Run: ``python benchmarks/regression_coverage.py [SIMS]`` (default 1000).
"""

from __future__ import annotations

import sys

import numpy as np

from audit_engine.performance_tally import RegressionTally


def draw(rng: np.random.Generator, n: int, skewed: bool) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    eps = rng.exponential(size=n) - 1.0 if skewed else rng.normal(size=n)
    return 0.8 * x, x + eps


def main(sims: int = 1000) -> None:
    rng = np.random.default_rng(2026)
    for skewed in (False, True):
        if skewed:
            p, y = draw(np.random.default_rng(1), 10_000_000, True)
            true_mae = float(np.abs(p - y).mean())
        else:
            true_mae = float(np.sqrt(2 / np.pi * 1.04))
        truth = {"mae": true_mae, "rmse": float(np.sqrt(1.04)), "r2": 0.48}
        for n in (100, 300, 1000):
            hits = dict.fromkeys(truth, 0)
            for _ in range(sims):
                p, y = draw(rng, n, skewed)
                tally = RegressionTally(shift=float(y[0]))
                tally.update(p, y)
                report = tally.report(n_boot=0, confidence=0.95)
                for name, value in truth.items():
                    est = report.metrics[name]
                    hits[name] += est.ci_low <= value <= est.ci_high
            shown = ", ".join(f"{k} {100 * v / sims:.1f}%" for k, v in hits.items())
            print(f"{'skewed' if skewed else 'normal'} errors, n = {n:5d}, {sims} data sets: {shown}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
