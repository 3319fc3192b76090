"""Coverage of the performance squared-calibration-error interval at n=5000 (issue 9), performance check only.

300 samples each of the ``null`` and ``disparity`` scenarios of ``benchmarks/coverage.py``
(seeds 5000.., independent of the grid's), truth from a 2M-row audit. Run from the repository
root: ``python benchmarks/coverage_ece.py`` (about 3 minutes on a shared 2-core machine).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import audit_engine as ae  # noqa: E402
import coverage as cv  # noqa: E402  (benchmarks/coverage.py)


def main(samples: int = 300, n: int = 5000) -> int:
    model = ae.load_model(cv.logistic_onnx(Path(tempfile.mkdtemp()) / "m.onnx"), provider="cpu")
    for name in ("null", "disparity"):
        sc = cv.SCENARIOS[name]
        truth = cv.true_values(model, sc, 2_000_000, 77).performance["squared_calibration_error"]
        hit = low_miss = 0
        for i in range(samples):
            doc = ae.audit(model, cv.sample(sc, n, np.random.default_rng(5000 + i)),
                           config=cv.config(i, 200, checks=("performance",))).to_dict()
            est = doc["performance"]["metrics"]["squared_calibration_error"]
            hit += est["ci_low"] <= truth <= est["ci_high"]
            low_miss += est["ci_low"] > truth
        print(f"{name} n={n}: truth {truth:.5f}, coverage {hit / samples:.3f}, low misses {low_miss / samples:.3f} "
              f"({samples} samples)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
