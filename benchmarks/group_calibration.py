"""Per-group calibration-error coverage; groups of 5..300 rows from one population (truth known).
Usage: ``python benchmarks/group_calibration.py ENGINE_ROOT (calibrated|miscal) SAMPLES`` — ENGINE_ROOT is the checkout whose
``audit_engine`` is measured (this one: ``.``; another worktree gives the before/after).
Numbers: BENCHMARKS.md, "Issue 23".
"""
import sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from audit_engine.fairness.counts import group_counts
from audit_engine.fairness.analysis import fairness_report
W = np.array([1.0, -0.8]); SIZES = {"big": 1000, "s005": 5, "s008": 8, "s030": 30, "s045": 45, "s100": 100, "s300": 300}
def pop(n, rng, calibrated):
    x = rng.standard_normal((n, 2)) @ W
    s = 1/(1+np.exp(-x)); p = s if calibrated else 1/(1+np.exp(-(1.4*x+0.3)))
    return s, p
def truth(calibrated):
    s, p = pop(4_000_000, np.random.default_rng(99), calibrated)
    b = np.minimum((s*10).astype(int), 9); n = np.bincount(b, minlength=10)
    th = (n*(np.bincount(b, p, 10)/n - np.bincount(b, s, 10)/n)**2).sum()/n.sum()
    return float(np.sqrt(th))
if __name__ == "__main__":
    cal = sys.argv[2] == "calibrated"; S = int(sys.argv[3]); t0 = time.time()
    tv = 0.0 if cal else truth(False)
    acc = {k: [0, 0, 0, 0] for k in SIZES}
    for seed in range(S):
        rng = np.random.default_rng(seed)
        g = np.repeat(list(SIZES), list(SIZES.values())); n = g.size
        s, p = pop(n, rng, cal); y = rng.random(n) < p
        res = fairness_report(group_counts(y, s >= 0.5, pd.Series(g, name="g"), scores=s, score_bins=10), n_boot=200,
                              rng=seed, sweep=False)["g"]
        for k in SIZES:
            gr = res.groups[k]; ci = gr.ci["calibration_error"]
            if ci.ci_low is None or not np.isfinite(ci.ci_low): continue
            a = acc[k]; a[0] += 1; a[1] += ci.ci_low - 1e-12 <= tv <= ci.ci_high + 1e-12
            a[2] += tv < ci.ci_low - 1e-12; a[3] += (ci.ci_high - ci.ci_low) <= 0
    print(f"truth {tv:.4f}")
    for k, (tot, cov, below, zero) in acc.items():
        print(f"{sys.argv[2]:10s} {k:5s} cov {100*cov/max(tot,1):5.1f}  truth below interval {100*below/max(tot,1):5.1f}  zero-width {zero}  (n={tot})")
    print(f"{time.time()-t0:.0f}s")
