"""Tabular LIME on a 64-32 MLP: the engine beside the lime package, and beside raw ONNX Runtime.

    python benchmarks/bench_lime.py [--rows 100] [--lime-rows 10] [--samples 5000] [--rounds 3] [--write]

1. The model: scikit-learn ``MLPClassifier((64, 32))`` fitted on fixtures/data/breast_cancer.csv
   and exported with skl2onnx into a temporary folder (nothing is committed).
2. Side by side, interleaved rounds (engine, lime package, raw ONNX Runtime, engine variants),
   median and range over the rounds, the machine load beside them:
   - engine ``explain_rows(method="lime")`` on ``--rows`` rows (with its 95% intervals);
   - the ``lime`` package's ``LimeTabularExplainer`` (quartile discretizer, the same
     ``Evaluator.predict``) on ``--lime-rows`` rows, per row; once as installed and once with
     BLAS held to one thread (threadpoolctl): its default two-thread BLAS loses most when the
     other core is busy, so the second ratio is the one that load does not inflate;
   - raw ``InferenceSession.run`` on as many rows as the engine scored, inputs prepared;
   - the two-core variants: sampling of the next batch on a thread while ONNX Runtime
     scores the current one (``OVERLAP``), against one batch and no thread.
3. Agreement: median per-row Spearman of the engine's weights with lime's (seed 1), beside
   lime's own seed-1-vs-seed-2 agreement.
``--write`` rewrites the ``lime`` section of BENCHMARKS.md (see benchmarks/_report.py).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import audit_engine as ae  # noqa: E402
from _report import load, machine, spread, write_section  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from bench_explain import lime_package, med_spearman  # noqa: E402  (one lime reference for both benchmarks)
from audit_engine.data.space import FeatureSpace  # noqa: E402
from audit_engine.evaluator.local import LocalEvaluator  # noqa: E402
from audit_engine.explain import explain_rows  # noqa: E402

lt = importlib.import_module("audit_engine.explain.lime_tabular")
DATA = ROOT / "fixtures" / "data" / "breast_cancer.csv"


def build_mlp(path: Path) -> Path:
    """MLPClassifier((64, 32)) on breast_cancer, exported with skl2onnx (probabilities, no ZipMap)."""
    import pandas as pd
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    df = pd.read_csv(DATA)
    y = df.pop("target").to_numpy()
    x = df.to_numpy(np.float32)
    clf = MLPClassifier((64, 32), max_iter=300, random_state=0).fit(x, y)
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    path.write_bytes(onx.SerializeToString())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--lime-rows", type=int, default=10)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="rewrite the 'lime' section of BENCHMARKS.md")
    args = ap.parse_args()
    t_all = time.perf_counter()
    path = build_mlp(Path(tempfile.mkdtemp()) / "mlp_64_32.onnx")
    data = ae.load_data(DATA, target="target")
    model = ae.load_model(path)
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y)
    rows = np.arange(args.rows) * (x.shape[0] // args.rows)
    sess, feed_name = model.session, model.session.get_inputs()[0].name

    def engine(overlap: bool, batch_bytes: int):
        lt.OVERLAP, lt._BATCH_BYTES = overlap, batch_bytes
        before = ev.stats.copy()
        t = time.perf_counter()
        res = explain_rows(ev, x, method="lime", rows=rows, n_samples=args.samples, seed=0)
        return time.perf_counter() - t, ev.stats.since(before), res

    variants = {  # name: (OVERLAP, batch bytes)
        "one batch, no thread": (False, 64 * 1024**2),
        "8 MiB batches, no thread": (False, 8 * 1024**2),
        "8 MiB batches, next batch sampled on a thread (default)": (True, 8 * 1024**2),
    }
    default = "8 MiB batches, next batch sampled on a thread (default)"
    for v in variants.values():  # warm-up: onnxruntime's arena grows on the first large call
        engine(*v)
    times = {k: [] for k in variants}
    ort = {k: [] for k in variants}
    t_lime, t_lime1, t_raw, loads = [], [], [], []
    cpu, cpu_lime, cpu_lime1 = [], [], []
    sub = rows[: args.lime_rows]
    ours = None
    lime_a = lime_b = None
    for r in range(args.rounds):  # interleaved: every figure sees the same load
        loads.append(load())
        for k, v in variants.items():
            c0 = time.process_time()
            el, used, res = engine(*v)
            if k == default:
                cpu.append(time.process_time() - c0)
            times[k].append(el)
            ort[k].append(used.seconds)
            if k == default:
                ours, rows_scored = res, used.rows_evaluated
        t, c0 = time.perf_counter(), time.process_time()
        out = lime_package(ev, x, sub, ours.targets[: args.lime_rows], 1 + (r % 2), args.samples)
        t_lime.append((time.perf_counter() - t) / len(sub))
        cpu_lime.append((time.process_time() - c0) / len(sub))
        with threadpool_limits(limits=1, user_api="blas"):
            t, c0 = time.perf_counter(), time.process_time()
            lime_package(ev, x, sub, ours.targets[: args.lime_rows], 1 + (r % 2), args.samples)
            t_lime1.append((time.perf_counter() - t) / len(sub))
            cpu_lime1.append((time.process_time() - c0) / len(sub))
        if r == 0:
            lime_a = out
        elif r == 1:
            lime_b = out
        feed = x[np.random.default_rng(r).integers(0, x.shape[0], rows_scored)].astype(np.float32)
        chunk = ev.rows_per_chunk
        t = time.perf_counter()
        for s in range(0, feed.shape[0], chunk):
            sess.run([model.output], {feed_name: feed[s : s + chunk]})
        t_raw.append(time.perf_counter() - t)
    if lime_b is None:
        lime_b = lime_package(ev, x, sub, ours.targets[: args.lime_rows], 2, args.samples)
    per_eng = [t / len(rows) for t in times[default]]
    ratio = [a / b for a, b in zip(t_lime, per_eng, strict=True)]
    ratio1 = [a / b for a, b in zip(t_lime1, per_eng, strict=True)]
    cpu_eng = [c / len(rows) for c in cpu]
    cpu_ratio = [a / b for a, b in zip(cpu_lime, cpu_eng, strict=True)]
    cpu_ratio1 = [a / b for a, b in zip(cpu_lime1, cpu_eng, strict=True)]
    raw_ratio = [a / b for a, b in zip(times[default], t_raw, strict=True)]
    agree, self_agree = med_spearman(ours.values[: len(sub)], lime_a), med_spearman(lime_a, lime_b)
    lines = [
        "## Tabular LIME on a 64-32 MLP (issue 16)",
        "",
        f"Command: `python benchmarks/bench_lime.py --rows {args.rows} --lime-rows {args.lime_rows} "
        f"--samples {args.samples} --rounds {args.rounds}` · {machine()} · loads per round: {', '.join(loads)}.",
        "",
        f"Model: scikit-learn `MLPClassifier((64, 32))` on breast_cancer (30 features), skl2onnx, built at benchmark "
        f"time. {args.rows} rows × {args.samples} samples, 95% intervals included; the lime package on "
        f"{len(sub)} of the rows (its time per row). Rounds interleave every figure; median (min–max).",
        "",
        "| what | wall time per explained row | vs engine (wall) | CPU time per row (all threads) | vs engine (CPU) |",
        "|---|---|---|---|---|",
        f"| engine LIME (default) | {ms(per_eng, '{:.2f}')} | 1× | {ms(cpu_eng, '{:.2f}')} | 1× |",
        f"| lime package {_version('lime')} | {ms(t_lime)} | **{spread(ratio, '{:.1f}')}× slower** (goal ≥ 25×) | "
        f"{ms(cpu_lime)} | {spread(cpu_ratio, '{:.1f}')}× |",
        f"| lime package, BLAS held to 1 thread | {ms(t_lime1)} | **{spread(ratio1, '{:.1f}')}× slower** | "
        f"{ms(cpu_lime1)} | {spread(cpu_ratio1, '{:.1f}')}× |",
        "",
        f"Agreement (median per-row Spearman over {len(sub)} rows): engine vs lime seed 1 **{agree:.3f}**; "
        f"lime seed 1 vs seed 2 {self_agree:.3f}.",
        "",
        "| engine variant (100 rows) | seconds | of which in ONNX Runtime |",
        "|---|---|---|",
    ]
    for k in variants:
        lines.append(f"| {k} | {spread(times[k])} | {spread(ort[k])} |")
    lines += [
        f"| raw `InferenceSession.run` on the same {rows_scored} rows (inputs prepared) | {spread(t_raw)} | all |",
        "",
        f"Engine / raw ONNX Runtime: {spread(raw_ratio, '{:.2f}')}×. Whole benchmark: {time.perf_counter() - t_all:.0f} s.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("lime", text)


def ms(seconds: list[float], fmt: str = "{:.1f}") -> str:
    return f"{spread([t * 1e3 for t in seconds], fmt)} ms"


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    main()
