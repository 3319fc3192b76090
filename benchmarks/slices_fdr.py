"""False-discovery rate and power of weak-slice discovery (audit_engine.slices.search), by simulation.

Two worlds, each a finite population of 200,000 rows (age, a number, a 5-level category, sex)
from which every sample of ``--n`` rows is drawn with replacement:

- ``null``: every row errs with probability 0.2, whatever its features: every reported slice
  is a false discovery, so the FDR equals the share of samples with any report;
- ``planted``: rows with category b and age under 30 err with probability 0.5, the rest 0.2. A
  reported slice is a false discovery when its population error rate is not above the rest's.

Prints, per world: samples, the FDR (mean of V / max(R, 1)) with its Monte Carlo s.e., the share
of samples with any discovery, and (planted) the share finding a slice inside the planted one.

    python benchmarks/slices_fdr.py --samples 400 --n 2000
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from audit_engine.slices.search import predicates, search


def population(world: str, size: int = 200_000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(18, 80, size), "x": rng.normal(size=size).round(3),
                          "cat": rng.choice(list("abcde"), size), "sex": rng.choice(["f", "m"], size)})
    p = np.full(size, 0.2)
    if world == "planted":
        p[((frame["cat"] == "b") & (frame["age"] < 30)).to_numpy()] = 0.5
    return frame, p


def truth(frame: pd.DataFrame, p: np.ndarray, names: tuple[str, ...]) -> float:
    """The population effect of the slice named by ``names`` (error rate inside minus outside)."""
    mask = np.ones(len(frame), dtype=bool)
    for name in names:
        col, _, rest = name.partition(" ")
        if rest.startswith("in ["):
            lo, hi = rest[4:-1].split(", ")
            closed = rest.endswith("]")
            v = frame[col].to_numpy(dtype=float)
            mask &= (v >= float(lo)) & ((v <= float(hi)) if closed else (v < float(hi)))
        else:
            mask &= (frame[col].astype(str) == rest.removeprefix("= ")).to_numpy()
    return float(p[mask].mean() - p[~mask].mean())


def run(world: str, samples: int, n: int, seed: int) -> dict[str, float]:
    frame, p = population(world)
    rng = np.random.default_rng(seed)
    ratios, any_found, hit = [], 0, 0
    for _ in range(samples):
        idx = rng.integers(0, len(frame), n)
        sample = frame.iloc[idx].reset_index(drop=True)
        err = (rng.random(n) < p[idx]).astype(float)
        result = search(predicates(sample), err, top_k=10_000)
        false = sum(truth(frame, p, s.predicates) <= 1e-12 for s in result.slices)
        ratios.append(false / max(len(result.slices), 1))
        any_found += bool(result.slices)
        hit += any(set(s.predicates) >= {"cat = b"} and any(q.startswith("age in [18") for q in s.predicates)
                   for s in result.slices)
    fdr = float(np.mean(ratios))
    return {"world": world, "samples": samples, "n": n, "fdr": fdr,
            "fdr_se": float(np.std(ratios, ddof=1) / np.sqrt(samples)),
            "any_discovery": any_found / samples, "found_planted": hit / samples}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for world in ("null", "planted"):
        print(json.dumps(run(world, args.samples, args.n, args.seed)))


if __name__ == "__main__":
    main()
