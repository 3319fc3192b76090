"""Evaluator overhead: LocalEvaluator.predict vs a bare InferenceSession.run, same model, same rows.

Run:  .venv/bin/python benchmarks/bench_evaluator.py [--rows 200000] [--repeats 5]

Both paths score the same float32 rows with the same session options; the Evaluator adds
feature-space conversion (float64 -> float32), chunking by bytes, output normalisation to
float64 probabilities and counting. Reports rows/s and the Evaluator/bare time ratio
(best of N repeats) for a light and a heavier model.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import audit_engine as ae  # noqa: E402
from audit_engine.data import FeatureSpace  # noqa: E402
from audit_engine.evaluator import LocalEvaluator  # noqa: E402
from audit_engine.model.providers import _session_options  # noqa: E402


def wide_mlp(d: int, hidden: int, layers: int, k: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    nodes, inits, prev, width = [], [], "input", d
    for i in range(layers):
        w = (rng.normal(size=(width, hidden)) / np.sqrt(width)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(np.zeros(hidden, np.float32), f"B{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"B{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"h{i}"])]
        prev, width = f"h{i}", hidden
    w = (rng.normal(size=(width, k)) / np.sqrt(width)).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "Wout"))
    nodes += [helper.make_node("MatMul", [prev, "Wout"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    graph = helper.make_graph(nodes, "wide", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", d])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def measure(name: str, path: Path, x: np.ndarray, repeats: int) -> dict:
    model = ae.load_model(path, provider="cpu")
    data = ae.load_data(x)
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=rows[:256])
    # the engine's session options (graph optimisation, non-spinning threads): the ratio is the Evaluator's own overhead
    bare = ort.InferenceSession(str(path), sess_options=_session_options(None), providers=["CPUExecutionProvider"])
    x32 = x.astype(np.float32)
    input_name = bare.get_inputs()[0].name
    bare.run([model.output], {input_name: x32[:1000]})
    ev.predict(rows[:1000])
    t_bare, t_eval = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare.run([model.output], {input_name: x32})
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ev.predict(rows)
        t_eval.append(time.perf_counter() - t0)
    b, e = min(t_bare), min(t_eval)
    return {"name": name, "rows": len(x), "bare_rows_s": len(x) / b, "eval_rows_s": len(x) / e, "ratio": e / b,
            "chunks": -(-len(x) // ev.rows_per_chunk)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tmp = ROOT / "benchmarks" / ".tmp"
    tmp.mkdir(exist_ok=True)
    results = []
    light = ROOT / "fixtures" / "models" / "breast_cancer_mlp.onnx"
    results.append(measure("breast_cancer_mlp (30 → 32 → 16 → 2)", light, rng.normal(size=(args.rows, 30)) * 10 + 50, args.repeats))
    heavy = tmp / "wide_mlp.onnx"
    heavy.write_bytes(wide_mlp(64, 512, 3, 10))
    results.append(measure("wide MLP (64 → 3×512 → 10)", heavy, rng.normal(size=(args.rows // 4, 64)), args.repeats))
    lines = [
        "| model | rows | bare InferenceSession.run rows/s | Evaluator.predict rows/s | Evaluator / bare time | chunks |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['rows']:,} | {r['bare_rows_s']:,.0f} | {r['eval_rows_s']:,.0f} | {r['ratio']:.3f} | {r['chunks']} |")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "evaluator.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        "## Evaluator overhead\n\n"
        f"Command: `.venv/bin/python benchmarks/bench_evaluator.py --rows {args.rows} --repeats {args.repeats}` "
        f"(best of {args.repeats}; CPU, {platform.machine()}, 2 cores; onnxruntime {ort.__version__}).\n\n" + text + "\n"
    )


if __name__ == "__main__":
    main()
