"""Measured coverage of the attribution intervals (issue 9).

Each sampled explanation method is run ``trials`` times with independent seeds on the same
rows of a float32 logistic ONNX model ``p = sigmoid(x·w + b)``; the fraction of the
(row, feature) cells whose interval holds the true expectation of the estimator is its
coverage. True values:

- SmoothGrad (central differences): the estimator's expectation is
  ``(G(z + w_j h_j) − G(z − w_j h_j)) / 2h_j`` with ``G(z) = E σ(z + sU)``, ``U ~ N(0, 1)``,
  ``s² = Σ_j w_j² σ_j²`` — Gauss–Hermite quadrature (200 nodes);
- SmoothGrad (Stein): ``w_j · G'(z)`` (the gradient of the Gaussian-smoothed score);
- occlusion with ``baseline='sample'``: the mean score drop over every background value
  (exact, evaluated once);
- LIME (2000 perturbations, the audit's default) and permutation importance: one run with
  100× the samples / 400× the repeats.

Run: ``python benchmarks/coverage_explain.py [--trials 400]`` (writes the table to stdout).
The test ``tests/test_explain_intervals.py`` runs a small version with a tolerance.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

import audit_engine as ae
from audit_engine.gradients import feature_steps

W = np.array([1.5, -2.0, 0.5, 0.0, 3.0])
SCALES = np.array([1.0, 10.0, 0.1, 5.0, 0.01])
BIAS = 0.1


def logistic_onnx(weights: np.ndarray, bias: float, path: Path) -> Path:
    """Write a float32 ``[1 − p, p]`` logistic model to ``path``."""
    w = np.asarray(weights, dtype=np.float32).reshape(-1, 1)
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["z0"]),
        helper.make_node("Add", ["z0", "B"], ["z"]),
        helper.make_node("Mul", ["z", "zero_scalar"], ["zero"]),
        helper.make_node("Concat", ["zero", "z"], ["logits2"], axis=1),
        helper.make_node("Softmax", ["logits2"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "logistic", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", w.shape[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([bias], np.float32), "B"),
                     numpy_helper.from_array(np.array([0.0], np.float32), "zero_scalar")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="coverage")
    model.ir_version = 9
    path.write_bytes(model.SerializeToString())
    return path


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    x = np.random.default_rng(seed).standard_normal((n, SCALES.size)) * SCALES
    return pd.DataFrame(x, columns=[f"f{j}" for j in range(SCALES.size)])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _smoothed(z: np.ndarray, s: float, derivative: bool = False) -> np.ndarray:
    """``E σ(z + sU)`` (or its derivative in z) by Gauss–Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    weights = weights / weights.sum()
    v = _sigmoid(z[..., None] + s * nodes)
    if derivative:
        v = v * (1.0 - v)
    return (v * weights).sum(axis=-1)


def smoothgrad_truth(x: np.ndarray, bg: np.ndarray, w: np.ndarray, b: float, *, noise_level: float, step: float,
                     estimator: str) -> np.ndarray:
    """Expectation ``(n, d)`` of the SmoothGrad estimator for class 1 of the logistic model."""
    sigma = noise_level * (bg.max(axis=0) - bg.min(axis=0))
    s = float(np.sqrt(np.sum((w * sigma) ** 2)))
    z = x @ w + b
    if estimator == "stein":
        return _smoothed(z, s, derivative=True)[:, None] * w[None, :]
    h = feature_steps(bg, relative=step)
    return (_smoothed(z[:, None] + w * h, s) - _smoothed(z[:, None] - w * h, s)) / (2.0 * h)


def _covered(lo: np.ndarray, hi: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return (lo <= truth) & (truth <= hi)


def measure(trials: int = 400, n_rows: int = 10, *, methods: tuple[str, ...] | None = None,
            smoothgrad_samples: int | None = None, lime_samples: int = 2000, n_repeats: int | None = None,
            folder: Path | None = None) -> dict[str, dict[str, float]]:
    """Coverage of every sampled method's 95% intervals: ``{method: {coverage, cells, mean_width}}``.

    Parameters left None use the method's defaults (what users get).
    """
    methods = methods or ("smoothgrad", "smoothgrad_stein", "occlusion_sample", "lime", "permutation")
    with tempfile.TemporaryDirectory() as tmp:
        path = logistic_onnx(W / SCALES, BIAS, Path(folder or tmp) / "logistic.onnx")
        model = ae.load_model(path)
        df = frame(300)
        bg = df.to_numpy()
        rows = np.arange(n_rows)
        out: dict[str, dict[str, float]] = {}
        for m in methods:
            kw: dict = {}
            if m.startswith("smoothgrad"):
                method = "smoothgrad"
                kw = {"noise_level": 0.15}
                if smoothgrad_samples is not None:
                    kw["n_samples"] = smoothgrad_samples
                if m == "smoothgrad_stein":
                    kw["estimator"] = "stein"
                    kw["n_samples"] = 20 * (smoothgrad_samples or 50)
                est = "stein" if m == "smoothgrad_stein" else "central"
                truth = smoothgrad_truth(bg[rows], bg, W / SCALES, BIAS, noise_level=0.15, step=1e-2, estimator=est)
                target = 1
            elif m == "occlusion_sample":
                method, kw, target = "occlusion", {"baseline": "sample"}, 1
                truth = _occlusion_truth(model, df, rows)
            elif m == "lime":
                method, kw, target = "lime", {"n_samples": lime_samples}, 1
                truth = ae.explain(model, df, method="lime", rows=rows, target=1, n_samples=100 * lime_samples,
                                   seed=10**6).values
            else:
                method, target = "permutation", None
                if n_repeats is not None:
                    kw["n_repeats"] = n_repeats
                truth = ae.explain(model, df.iloc[:100], method="permutation", n_repeats=2000, seed=10**6).values
            hits, widths = [], []
            for seed in range(trials):
                data = df.iloc[:100] if method == "permutation" else df
                a = ae.explain(model, data, method=method, rows=None if method == "permutation" else rows,
                               target=target, seed=seed, **kw)
                keep = np.abs(truth) > 0  # the feature with weight 0 has no gradient to cover
                hits.append(_covered(a.ci_low, a.ci_high, truth)[keep])
                widths.append((a.ci_high - a.ci_low)[keep])
            h = np.concatenate(hits)
            out[m] = {"coverage": float(h.mean()), "cells": int(h.size), "mean_width": float(np.mean(np.concatenate(widths))),
                      "params": {k: v for k, v in a.params.items() if k in ("n_samples", "n_repeats", "interval")}}
        return out


def _occlusion_truth(model: ae.OnnxModel, df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Mean drop of p(class 1) over every background value of each feature (the 'sample' expectation)."""
    x = df.to_numpy()
    n_bg, d = x.shape
    out = np.zeros((rows.size, d))
    a = ae.explain(model, df, method="occlusion", rows=rows, target=1, baseline=np.zeros(d))  # for f(x) only
    del a
    from audit_engine.data.loader import load_data
    from audit_engine.data.space import FeatureSpace
    from audit_engine.evaluator.local import LocalEvaluator

    data = load_data(df)
    space = FeatureSpace.bind(model, data)
    ev = LocalEvaluator(model, space, probe_rows=space.encode(data))
    for i, r in enumerate(rows):
        base = ev.predict(x[r : r + 1])[0, 1]
        pert = np.repeat(x[r][None, None, :], d * n_bg, axis=0).reshape(d, n_bg, d)
        for j in range(d):
            pert[j, :, j] = x[:, j]
        out[i] = base - ev.predict(pert.reshape(-1, d))[:, 1].reshape(d, n_bg).mean(axis=1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--rows", type=int, default=10)
    args = ap.parse_args(argv)
    res = measure(args.trials, args.rows)
    res["smoothgrad (20 draws)"] = measure(args.trials, args.rows, methods=("smoothgrad",), smoothgrad_samples=20)["smoothgrad"]
    print(f"{args.trials} seeds x {args.rows} rows of a float32 logistic model (features 1e-2..10 apart in scale)\n")
    print("| method | coverage of 95% intervals | cells | mean width | params |\n|---|---:|---:|---:|---|")
    for m, r in res.items():
        print(f"| {m} | {r['coverage']:.3f} | {r['cells']} | {r['mean_width']:.3g} | {r['params']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
