"""Measured coverage of compare's paired-bootstrap intervals (issue 13).

A synthetic population (200 000 rows, 3 groups) with two score models A and B; the true
change of each metric is its value on the whole population. Each repetition draws n rows,
computes the paired interval exactly as compare does (performance: ``estimate_all`` over
``weighted_auc`` / accuracy deltas; fairness: :func:`audit_engine.paired.paired_fairness`),
and records whether it covers the truth. Scenarios: two different models, and an
"export" B = A + small noise (few decision flips, as int8 quantisation gives).

    python benchmarks/paired_coverage.py [--reps 300] [--n 2000] [--boot 200]
"""

from __future__ import annotations

import argparse

import numpy as np

from audit_engine.paired import paired_fairness
from audit_engine.performance import estimate_all
from audit_engine.stats import weighted_auc


def population(rng: np.random.Generator, size: int, scenario: str):
    g = rng.choice(3, size=size, p=[0.6, 0.3, 0.1])
    x = rng.normal(size=(size, 3)) + np.array([0.0, 0.3, -0.4])[g][:, None]
    logit = x @ np.array([1.0, -0.7, 0.5]) + 0.2 * g
    y = (rng.random(size) < 1 / (1 + np.exp(-logit))).astype(int)
    sa = 1 / (1 + np.exp(-(x @ np.array([0.9, -0.5, 0.3]))))
    if scenario == "different":
        sb = 1 / (1 + np.exp(-(x @ np.array([1.0, -0.7, 0.2]) + 0.15 * g)))
    else:  # an export: the same scores up to small noise
        sb = np.clip(sa + rng.normal(scale=0.004, size=size), 0, 1)
    return g, y, sa, sb


def statistics(y, sa, sb):
    def auc_delta(w):
        return weighted_auc(sb, y, w) - weighted_auc(sa, y, w)

    ca = ((sa >= 0.5) == y).astype(float)
    cb = ((sb >= 0.5) == y).astype(float)

    def acc_delta(w):
        return (w @ cb - w @ ca) / w.sum(axis=1)

    return {"roc_auc": auc_delta, "accuracy": acc_delta}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--boot", type=int, default=200)
    args = ap.parse_args()
    for scenario in ("different", "export"):
        rng = np.random.default_rng(7)
        g, y, sa, sb = population(rng, 200_000, scenario)
        ones = np.ones((1, y.size))
        truth = {name: float(f(ones)[0]) for name, f in statistics(y, sa, sb).items()}
        full = paired_fairness((sa >= 0.5).astype(int), (sb >= 0.5).astype(int), y, g.astype(object), n_classes=2,
                               positive_index=1, n_boot=0, rng=rng, confidence=0.95)
        fair_names = ("demographic_parity_difference", "equalized_odds_difference")
        truth.update({n: full["metrics"][n]["delta"]["value"] for n in fair_names})
        truth["group0.selection_rate"] = full["groups"]["0"]["selection_rate"]["delta"]["value"]
        hits = {k: 0 for k in truth}
        counted = {k: 0 for k in truth}
        for _ in range(args.reps):
            idx = rng.choice(y.size, size=args.n, replace=False)
            stats = statistics(y[idx], sa[idx], sb[idx])
            est = estimate_all(stats, args.n, n_boot=args.boot, rng=rng, confidence=0.95)
            fair = paired_fairness((sa[idx] >= 0.5).astype(int), (sb[idx] >= 0.5).astype(int), y[idx],
                                   g[idx].astype(object), n_classes=2, positive_index=1, n_boot=args.boot, rng=rng,
                                   confidence=0.95)
            intervals = {k: (e.ci_low, e.ci_high) for k, e in est.items()}
            for n in fair_names:
                d = fair["metrics"][n]["delta"]
                intervals[n] = (d["ci_low"], d["ci_high"])
            d = fair["groups"]["0"]["selection_rate"]["delta"]
            intervals["group0.selection_rate"] = (d["ci_low"], d["ci_high"])
            for k, (lo, hi) in intervals.items():
                if lo is None or hi is None or not np.isfinite(lo):
                    continue
                counted[k] += 1
                hits[k] += int(lo - 1e-12 <= truth[k] <= hi + 1e-12)
        print(f"scenario {scenario}: n={args.n}, {args.reps} repetitions, {args.boot} replicates, nominal 95%")
        for k in truth:
            cov = hits[k] / max(1, counted[k])
            se = np.sqrt(cov * (1 - cov) / max(1, counted[k]))
            print(f"  {k:32s} true change {truth[k]:+.4f}  coverage {cov:.3f} ± {se:.3f}")


if __name__ == "__main__":
    main()
