"""Cost of ODIN and MC dropout against plain scoring, per 1000 rows, in one process.

Plain scoring = one Evaluator pass (``evaluator.logits``) over the rows. ODIN = its
finite-difference gradient (central differences for tabular rows, Stein for images),
the perturbed pass and the plain pass, at fixed T and ε (tuning excluded, reported
apart). MC dropout = T passes of the rewritten graph. Model evaluations are counted by
the Evaluator (rows scored); seconds are wall clock of the whole method.

Run: .venv/bin/python benchmarks/bench_ood.py [--repeat 3] [--out benchmarks/results/ood.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from audit_engine.data.loader import load_data
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.model.loader import load_model
from audit_engine.ood.odin import ODIN
from audit_engine.uncertainty.mc_dropout import MCDropoutSampler

ROOT = Path(__file__).resolve().parent.parent
MODELS, DATA = ROOT / "fixtures" / "models", ROOT / "fixtures" / "data"
COMPAS_FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _timed(fn, evaluator, repeat):
    best, rows = np.inf, 0
    for _ in range(repeat):
        before = evaluator.stats.copy()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        rows = evaluator.stats.since(before).rows_evaluated
    return best, rows


def bench(name, model_file, data, *, features=None, passes=30, repeat=3):
    model = load_model(MODELS / model_file, provider="cpu")
    ad = load_data(data, features=features)
    space = FeatureSpace.bind(model, ad, features=features)
    rows = space.encode(ad)
    n = rows.shape[0]
    ev = LocalEvaluator(model, space, probe_rows=rows)
    out = []
    plain_s, plain_rows = _timed(lambda: ev.logits(rows), ev, repeat)
    out.append((name, "plain scoring (1 pass)", plain_s, plain_rows, n))
    t0 = time.perf_counter()
    before = ev.stats.copy()
    odin = ODIN(ev, seed=0).fit(rows)
    tune_s, tune_rows = time.perf_counter() - t0, ev.stats.since(before).rows_evaluated
    out.append((name, f"ODIN tuning ({len(odin.grid_)}-point grid, {min(200, n)} ref rows, once)", tune_s, tune_rows, n))
    fixed = ODIN(ev, temperatures=[1000.0], epsilons=[0.05], gradient=odin.method_, seed=0).fit(rows)
    s, r = _timed(lambda: fixed.score(rows), ev, repeat)
    out.append((name, f"ODIN score ({fixed.method_} gradient)", s, r, n))
    if "dropout" in model_file:
        sampler = MCDropoutSampler(model, space, binding=ev.binding)
        s, r = _timed(lambda: sampler.sample(rows, passes=passes, seed=0), sampler.evaluator, repeat)
        out.append((name, f"MC dropout ({passes} passes)", s, r, n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ood.md"))
    args = parser.parse_args()
    digits = np.concatenate([np.load(DATA / "digits_in.npz")["x"], np.load(DATA / "digits_ood.npz")["x"]])
    digits = np.tile(digits, (2, 1, 1, 1))[:1000]
    import pandas as pd

    compas = pd.read_csv(DATA / "compas.csv")[COMPAS_FEATURES].head(1000)
    results = []
    results += bench("digits04_dropout (MLP, 1x8x8 image)", "digits04_dropout.onnx", digits, repeat=args.repeat)
    results += bench("compas_logreg (5 tabular features)", "compas_logreg.onnx", compas, features=COMPAS_FEATURES,
                     repeat=args.repeat)
    lines = [
        "# OOD and uncertainty cost: ODIN and MC dropout vs plain scoring",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_ood.py --repeat {args.repeat}`  ",
        f"Machine: {os.cpu_count()} cores, CPU ({platform.processor() or platform.machine()}), onnxruntime CPU provider.  ",
        "Seconds: best of the repeats, wall clock of the whole method (numpy included), scaled to 1000 rows. "
        "Evaluations: rows the Evaluator sent to the model, per 1000 rows.",
        "",
        "| model | method | model evaluations / 1000 rows | seconds / 1000 rows | evaluations vs plain | seconds vs plain |",
        "|---|---|---:|---:|---:|---:|",
    ]
    plain = {}
    for model, method, s, rows, n in results:
        per_rows, per_s = rows * 1000 / n, s * 1000 / n
        if method.startswith("plain"):
            plain[model] = (per_rows, per_s)
        pr, ps = plain[model]
        lines.append(f"| {model} | {method} | {per_rows:,.0f} | {per_s:.4f} | {per_rows / pr:.0f}x | {per_s / ps:.0f}x |")
    lines += ["", "ODIN tuning runs once per audit on at most 200 reference rows (plus as many pseudo-outliers);",
              "its row is the cost of that one-off step scaled to 1000 audited rows."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
