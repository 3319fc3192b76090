"""Multi-attribute null: six unbalanced race groups x sex, n=1000, fair model.
Usage: ``python benchmarks/family_null.py ENGINE_ROOT AUDITS [PERMUTATIONS]`` — ENGINE_ROOT is the checkout whose
``audit_engine`` is measured (this one: ``.``; another worktree gives the before/after).
Numbers: BENCHMARKS.md, "Issue 23".
"""
import sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from audit_engine.fairness.counts import group_counts
from audit_engine.fairness.analysis import fairness_report
RACE = np.array([0.51, 0.34, 0.08, 0.045, 0.008, 0.0055]); RACE = RACE / RACE.sum()
def one(seed, n=1000, n_boot=200):
    rng = np.random.default_rng(seed)
    race = rng.choice(6, size=n, p=RACE); sex = rng.choice(2, size=n, p=[0.8, 0.2])
    x = rng.standard_normal(n); p = 1/(1+np.exp(-(1.4*x+0.3)))
    y = (rng.random(n) < p).astype(int); score = 1/(1+np.exp(-x)); pred = (score >= 0.5).astype(int)
    groups = pd.DataFrame({"race": np.array(list("ABCDEF"))[race], "sex": np.array(["M","F"])[sex]})
    gc = group_counts(y, pred, groups, scores=score, n_classes=2, score_bins=10)
    res = fairness_report(gc, positive_index=1, favorable_index=1, n_boot=n_boot, rng=seed, sweep=False)
    anyflag = False; count = 0
    for v in res.values():
        for est in list(v.metrics.values()) + list((v.reference_metrics or {}).values()):
            if getattr(est, "supports_gap", None):
                anyflag = True
    return anyflag
if __name__ == "__main__":
    S = int(sys.argv[2]); nb = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    t = time.time(); hits = sum(one(1000 + s, n_boot=nb) for s in range(S))
    p = hits / S
    print(f"any supported gap: {hits}/{S} = {100*p:.1f} ± {100*np.sqrt(p*(1-p)/S):.1f}%  ({time.time()-t:.0f}s)")
