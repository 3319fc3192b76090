"""Coverage of gap intervals in worlds with known per-group rates (no scores).
Usage: ``python benchmarks/gap_ties.py ENGINE_ROOT WORLD(ten_groups|rare_tied) SAMPLES`` — ENGINE_ROOT is the checkout whose
``audit_engine`` is measured (this one: ``.``; another worktree gives the before/after).
Numbers: BENCHMARKS.md, "Issue 23".
"""
import sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from audit_engine.fairness.counts import group_counts
from audit_engine.fairness.analysis import fairness_report
from audit_engine.fairness.metrics import gap_metrics

WORLDS = {
  # shares, base rate, tpr, fpr per group; n
  "ten_groups": (np.array([0.30,0.22,0.15,0.10,0.08,0.05,0.035,0.03,0.02,0.015]),
                 np.full(10, 0.45),
                 np.array([0.70,0.55,0.70,0.55,0.70,0.55,0.70,0.55,0.62,0.62]),
                 np.array([0.30,0.18,0.18,0.30,0.30,0.18,0.18,0.30,0.24,0.24]), 800),
  "rare_tied": (np.array([0.5,0.25,0.25]), np.full(3, 0.1),
                np.array([0.30,0.203,0.202]), np.array([0.034,0.0229,0.0228]), 2000),
}
NAMES = ["demographic_parity_ratio","impact_ratio","equalized_odds_difference","equalized_odds_ratio",
         "demographic_parity_difference","equal_opportunity_ratio"]
def run(world, S, n_boot=200, seed0=0):
    sh, b, tpr, fpr, n = WORLDS[world]
    sel = b*tpr + (1-b)*fpr
    rates = {"selection_rate": sel, "tpr": tpr, "fpr": fpr}
    acc = {}
    for s in range(S):
        rng = np.random.default_rng(seed0 + s)
        g = rng.choice(len(sh), size=n, p=sh/sh.sum()); y = rng.random(n) < b[g]
        pred = rng.random(n) < np.where(y, tpr[g], fpr[g])
        labels = np.array([f"g{i:02d}" for i in range(len(sh))])
        res = fairness_report(group_counts(y, pred, pd.Series(labels[g], name="grp")), favorable_index=1,
                              n_boot=n_boot, rng=s, sweep=False)
        v = res["grp"]; labs = list(v.groups); idx = [int(l[1:]) for l in labs]
        left = v.left_out or {}
        for block, ref in (("metrics", None), ("reference_metrics", labs.index(v.reference_group))):
            for name in NAMES:
                est = getattr(v, block).get(name)
                if est is None or not np.isfinite(est.value): continue
                needs = {"demographic_parity_ratio":["selection_rate"],"impact_ratio":["selection_rate"],"demographic_parity_difference":["selection_rate"],
                         "equalized_odds_difference":["tpr","fpr"],"equalized_odds_ratio":["tpr","fpr"],"equal_opportunity_ratio":["tpr"]}[name]
                masked = {}
                for r in needs:
                    x = rates[r][idx].astype(float)
                    x = np.where([r in (left.get(l).rates if l in left else ()) or (r=="selection_rate" and l in left and "selection_rate" in left[l].rates) for l in labs], np.nan, x)
                    masked[r] = x[None]
                if name == "impact_ratio":
                    masked = {"selection_rate": masked["selection_rate"]}
                t = float(gap_metrics(masked, ref=ref)[name][0]) if name != "impact_ratio" else float(gap_metrics(masked, ref=ref)["demographic_parity_ratio"][0])
                a = acc.setdefault(f"{block}.{name}", [0,0,0,0])
                a[0] += 1; a[1] += est.ci_low - 1e-9 <= t <= est.ci_high + 1e-9; a[2] += t < est.ci_low - 1e-9; a[3] += t > est.ci_high + 1e-9
    return acc
if __name__ == "__main__":
    world, S = sys.argv[2], int(sys.argv[3])
    t = time.time(); acc = run(world, S)
    for k, (tot, cov, below, above) in sorted(acc.items()):
        print(f"{world:11s} {k:45s} cov {100*cov/tot:5.1f} ± {100*np.sqrt(cov/tot*(1-cov/tot)/tot):.1f}  truth below {100*below/tot:4.1f}  above {100*above/tot:4.1f}  (n={tot})")
    print(f"{time.time()-t:.0f}s")
