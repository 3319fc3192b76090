"""Benchmark: the engine's batched LIME vs the lime package and shap's KernelExplainer.

Run:  .venv/bin/python benchmarks/bench_explain.py [--rows 100] [--lime-rows 10] [--out benchmarks/results/explain.md]

1. Light model (fixtures/models/breast_cancer_mlp.onnx, 5000 samples per row): explanations
   per second, share of time inside ONNX Runtime, agreement (median per-row Spearman).
   The lime package and shap run on fewer rows (--lime-rows) and are scaled per row.
2. Heavy model (a wide MLP built with onnx.helper): the engine's LIME time against the raw
   ONNX Runtime time on the same perturbation rows.
3. BLAS threading for the batched ridge solves (threadpoolctl: 1 thread vs default).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy.stats import spearmanr

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain import explain_rows

ROOT = Path(__file__).resolve().parent.parent


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def med_spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median([spearmanr(u, v)[0] for u, v in zip(a, b, strict=True)]))


def _import_shap():
    """shap, imported without benchmarks/ on the path: numba (under shap) tries ``import coverage``
    and would find benchmarks/coverage.py, the coverage harness, instead of coverage.py."""
    here = str(Path(__file__).resolve().parent)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if p not in ("", here) and Path(p or ".").resolve() != Path(here)]
    try:
        import shap
    finally:
        sys.path[:] = saved
    return shap


def lime_package(ev, x, rows, targets, seed, n_samples):
    from lime.lime_tabular import LimeTabularExplainer

    ex = LimeTabularExplainer(x, discretize_continuous=True, discretizer="quartile", random_state=seed)
    out = np.zeros((len(rows), x.shape[1]))
    for i, r in enumerate(rows):
        e = ex.explain_instance(x[r], ev.predict, labels=(int(targets[i]),), num_features=x.shape[1],
                                num_samples=n_samples)
        for j, w in e.as_map()[int(targets[i])]:
            out[i, j] = w
    return out


def wide_mlp(d: int, width: int, path: Path) -> Path:
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((d, width)) / np.sqrt(d)).astype(np.float32)
    w2 = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    w3 = (rng.standard_normal((width, 2)) / np.sqrt(width)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input", "W1"], ["h1"]), helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("MatMul", ["a1", "W2"], ["h2"]), helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("MatMul", ["a2", "W3"], ["z"]), helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "wide_mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(w, n) for w, n in ((w1, "W1"), (w2, "W2"), (w3, "W3"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def setup(model_path, data):
    model = ae.load_model(model_path)
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    return model, space, x, LocalEvaluator(model, space, probe_rows=x, y=data.y)


def light(args, lines):
    data = ae.load_data(ROOT / "fixtures/data/breast_cancer.csv", target="target")
    model, space, x, ev = setup(ROOT / "fixtures/models/breast_cancer_mlp.onnx", data)
    rows = np.arange(args.rows) * (x.shape[0] // args.rows)
    explain_rows(ev, x, method="lime", rows=rows, n_samples=args.samples)  # warm-up at full size
    # Best of 3 for the engine and best of 2 for the lime package (its two seeded runs):
    # single timings on a 2-core machine moved by ±30% between runs.
    t_eng, ort_eng = np.inf, np.inf
    for _ in range(3):
        before = ev.stats.copy()
        t = time.perf_counter()
        ours = explain_rows(ev, x, method="lime", rows=rows, n_samples=args.samples, seed=0)
        elapsed = time.perf_counter() - t
        if elapsed < t_eng:
            t_eng, ort_eng = elapsed, ev.stats.since(before).seconds
    sub = rows[: args.lime_rows]
    before = ev.stats.copy()
    t = time.perf_counter()
    a = lime_package(ev, x, sub, ours.targets[: args.lime_rows], 1, args.samples)
    t_lime = time.perf_counter() - t
    ort_lime = ev.stats.since(before).seconds
    t = time.perf_counter()
    b = lime_package(ev, x, sub, ours.targets[: args.lime_rows], 2, args.samples)
    t_lime = min(t_lime, time.perf_counter() - t)
    # shap KernelExplainer, small nsamples, k-means background
    shap = _import_shap()

    bg = shap.kmeans(x, 10)
    target_fn = lambda r: ev.predict(r)[:, 1]  # noqa: E731
    kx = shap.KernelExplainer(target_fn, bg)
    shap_rows = sub[: max(1, args.lime_rows // 2)]
    before = ev.stats.copy()
    t = time.perf_counter()
    sv = np.asarray(kx.shap_values(x[shap_rows], nsamples=args.shap_samples, silent=True))
    t_shap = time.perf_counter() - t
    ort_shap = ev.stats.since(before).seconds
    sign = np.where(ours.targets[: len(shap_rows)] == 1, 1.0, -1.0)[:, None]
    per_eng = t_eng / len(rows)
    per_lime = t_lime / len(sub)
    per_shap = t_shap / len(shap_rows)
    lines += [
        "## Light model: breast_cancer_mlp.onnx (30 features), "
        f"{args.samples} samples per row",
        "",
        "| tool | rows timed | seconds | explanations / s | share in ONNX Runtime | speed-up of engine | agreement (median Spearman) |",
        "|---|---|---|---|---|---|---|",
        f"| engine LIME (batched) | {len(rows)} | {t_eng:.2f} | {1 / per_eng:.1f} | {ort_eng / t_eng:.0%} | 1× | vs lime seed 1: {med_spearman(ours.values[: len(sub)], a):.3f} |",
        f"| lime package {_version('lime')} (row by row) | {len(sub)} (scaled per row) | {t_lime:.2f} | {1 / per_lime:.1f} | {ort_lime / t_lime:.0%} | **{per_lime / per_eng:.1f}×** | lime seed 1 vs seed 2: {med_spearman(a, b):.3f} |",
        f"| shap {_version('shap')} KernelExplainer (nsamples={args.shap_samples}, 10 k-means background) | {len(shap_rows)} (scaled per row) | {t_shap:.2f} | {1 / per_shap:.1f} | {ort_shap / t_shap:.0%} | {per_shap / per_eng:.1f}× | vs engine LIME: {med_spearman(ours.values[: len(shap_rows)] * sign, sv):.3f} |",
        "",
        f"Engine LIME: median surrogate R² {ours.params['surrogate_r2_median']:.3f}; shap's values explain p(class 1), "
        "so they are compared with the engine's weights signed towards class 1; every weight has a 95% interval "
        f"(fraction excluding zero: {float(ours.significant.mean()):.2f}).",
        "",
    ]
    print("\n".join(lines[-9:]))


def heavy(args, lines):
    tmp = Path(tempfile.mkdtemp())
    path = wide_mlp(30, args.width, tmp / "wide.onnx")
    data = ae.load_data(ROOT / "fixtures/data/breast_cancer.csv", target="target")
    model, space, x, ev = setup(path, data)
    rows = np.arange(args.heavy_rows)
    # Warm-up at full size: onnxruntime grows its memory arena on the first large call
    # (measured: ~1.5x slower once), a one-off cost that raw runs below would not pay.
    explain_rows(ev, x, method="lime", rows=rows, n_samples=args.samples)
    # alternate engine and raw runs and keep each one's best of 3: the machine is shared
    rng = np.random.default_rng(0)
    sess = model.session
    chunk = ev.rows_per_chunk
    t_eng, t_raw, ort_in = np.inf, np.inf, np.inf
    for _ in range(3):
        before = ev.stats.copy()
        t = time.perf_counter()
        explain_rows(ev, x, method="lime", rows=rows, n_samples=args.samples)
        elapsed = time.perf_counter() - t
        used = ev.stats.since(before)
        if elapsed < t_eng:
            t_eng, ort_in = elapsed, used.seconds
        # raw ONNX Runtime on the same number of rows and chunks, inputs prepared in advance
        feed = x[rng.integers(0, x.shape[0], used.rows_evaluated)].astype(np.float32)
        t = time.perf_counter()
        for s in range(0, feed.shape[0], chunk):
            sess.run([model.output], {"input": feed[s : s + chunk]})
        t_raw = min(t_raw, time.perf_counter() - t)
    lines += [
        f"## Heavy model: wide MLP 30→{args.width}→{args.width}→2 (onnx.helper), {args.heavy_rows} rows × {args.samples} samples",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| engine LIME, end to end | {t_eng:.2f} |",
        f"| of which inside ONNX Runtime (evaluator.stats) | {ort_in:.2f} |",
        f"| engine work outside ONNX Runtime | {t_eng - ort_in:.2f} ({(t_eng - ort_in) / ort_in:.0%} of its ORT time) |",
        f"| raw ONNX Runtime on the same {used.rows_evaluated} rows | {t_raw:.2f} |",
        f"| **ratio engine / raw ORT** | **{t_eng / t_raw:.2f}×** (goal ≤ 1.25×) |",
        "",
    ]
    print("\n".join(lines[-8:]))


def blas(lines):
    from threadpoolctl import threadpool_limits

    from audit_engine.explain.surrogate import weighted_ridge

    rng = np.random.default_rng(0)
    z = (rng.random((20, 5000, 30)) < 0.5).astype(np.float64)
    w = rng.random((20, 5000))
    y = rng.random((20, 5000, 1))
    res = {}
    for limit in (1, None):
        with threadpool_limits(limits=limit, user_api="blas"):
            weighted_ridge(z, w, y)
            t = time.perf_counter()
            for _ in range(3):
                weighted_ridge(z, w, y)
            res[limit] = (time.perf_counter() - t) / 3
    lines += [
        "## BLAS threads for the batched ridge solves (20 rows × 5000 samples × 30 features)",
        "",
        "| BLAS threads | seconds |",
        "|---|---|",
        f"| 1 (threadpoolctl) | {res[1]:.3f} |",
        f"| default ({os.cpu_count()}; what the engine uses) | {res[None]:.3f} |",
        "",
    ]
    print("\n".join(lines[-7:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--lime-rows", type=int, default=10)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--shap-samples", type=int, default=200)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--heavy-rows", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/explain.md"))
    args = ap.parse_args()
    lines = [
        "# Explanations benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_explain.py` · machine: {os.cpu_count()} cores, CPU "
        f"({platform.processor() or platform.machine()}), onnxruntime CPU provider · one process, same model and rows.",
        "",
    ]
    t0 = time.perf_counter()
    light(args, lines)
    heavy(args, lines)
    blas(lines)
    lines.append(f"Whole benchmark: {time.perf_counter() - t0:.0f} s.")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
