"""Is the MC-dropout Monte Carlo error honest? (issue 9)

On ``fixtures/models/digits04_dropout.onnx`` with the out-of-distribution digits
(``fixtures/data/digits_ood.npz``), the mean epistemic figure (mutual information, nats)
of ``seeds`` independent adaptive runs (``passes="auto"``, ``mc_tolerance``) is compared
with a 2000-pass reference: how many passes each run used, and how often the reference
lies within ±1.96 of the reported MC standard error (combined with the reference's own) (the coverage of the implied 95%
interval), for the jackknife bias-corrected mean and the plug-in mean; and the plug-in
at 30 passes (the old default) for comparison.

Run: ``python benchmarks/mc_dropout_error.py [--seeds 100]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t

from audit_engine.uncertainty import uncertainty

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "models" / "digits04_dropout.onnx"
DATA = ROOT / "fixtures" / "data" / "digits_ood.npz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--tolerance", type=float, default=0.005)
    args = ap.parse_args(argv)
    x = np.load(DATA)["x"]
    ref = uncertainty(MODEL, x, passes=2000, seed=10**6)
    r_mean = ref.mc_error.mean_corrected["epistemic"]
    passes, hit_c, hit_p, hit_z, err30 = [], [], [], [], []
    for s in range(args.seeds):
        u = uncertainty(MODEL, x, seed=s, mc_tolerance=args.tolerance)
        se = u.mc_error.se["epistemic"]["mean"]
        passes.append(u.passes)
        both = float(np.hypot(se, ref.mc_error.se["epistemic"]["mean"]))  # the reference has its own MC error
        # the engine's interval (MCError.interval): Student t with G − 1 degrees of freedom
        q = float(student_t.ppf(0.975, u.mc_error.df)) if u.mc_error.df >= 1 else float("nan")
        hit_c.append(abs(u.mc_error.mean_corrected["epistemic"] - r_mean) <= q * both)
        hit_p.append(abs(u.epistemic.mean() - r_mean) <= q * both)
        hit_z.append(abs(u.mc_error.mean_corrected["epistemic"] - r_mean) <= 1.96 * both)
        err30.append(uncertainty(MODEL, x, passes=30, seed=s).epistemic.mean() / r_mean - 1.0)
    print(f"reference (2000 passes): mean epistemic {r_mean:.4f} nats, MC s.e. {ref.mc_error.se['epistemic']['mean']:.4f}; "
          f"{x.shape[0]} rows, {args.seeds} seeds, mc_tolerance {args.tolerance}\n")
    print("| figure | value |\n|---|---:|")
    print(f"| passes used (median, min–max) | {int(np.median(passes))} ({min(passes)}–{max(passes)}) |")
    se_c = np.sqrt(np.mean(hit_c) * (1 - np.mean(hit_c)) / len(hit_c))
    print(f"| coverage of ±t(G−1) s.e. (the engine's interval), bias-corrected mean | {np.mean(hit_c):.3f} ± {se_c:.3f} |")
    print(f"| coverage of ±t(G−1) s.e., plug-in mean | {np.mean(hit_p):.3f} |")
    print(f"| coverage of ±1.96 s.e. (before issue 23), bias-corrected mean | {np.mean(hit_z):.3f} |")
    print(f"| plug-in at 30 passes vs reference, mean relative error (5th–95th pct) | {np.mean(err30):+.3f} "
          f"({np.quantile(err30, 0.05):+.3f} to {np.quantile(err30, 0.95):+.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
