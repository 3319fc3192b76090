"""Attribution intervals: measured coverage, exact methods, float32 saturation (issue 9)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit_engine as ae
from audit_engine.explain import explain

from .conftest import logistic_model, save

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "coverage_explain.py"


def _coverage_module():
    spec = importlib.util.spec_from_file_location("coverage_explain", _BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_smoothgrad_bootstrap_intervals_cover_the_quadrature_truth(tmp_path):
    # small version of benchmarks/coverage_explain.py: 40 seeds x 8 rows x 4 features; the
    # Student-t interval the engine used before covered 0.92 here at 20 draws
    cov = _coverage_module().measure(40, 8, methods=("smoothgrad",), smoothgrad_samples=20, folder=tmp_path)
    assert 0.93 <= cov["smoothgrad"]["coverage"] <= 0.985, cov


def test_the_truth_of_the_harness_is_right():
    # the quadrature reference against a brute-force Monte Carlo of the same expectation
    mod = _coverage_module()
    rng = np.random.default_rng(1)
    bg = rng.standard_normal((300, 3))
    w, b = np.array([2.0, -1.0, 0.5]), 0.3
    x = bg[:4]
    truth = mod.smoothgrad_truth(x, bg, w, b, noise_level=0.2, step=1e-2, estimator="central")
    sigma = 0.2 * (bg.max(0) - bg.min(0))
    from audit_engine.gradients import feature_steps

    h = feature_steps(bg, relative=1e-2)
    eps = rng.standard_normal((400_000, 3)) * sigma
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    mc = np.stack([[(sig((xi + eps + h[j] * np.eye(3)[j]) @ w + b) - sig((xi + eps - h[j] * np.eye(3)[j]) @ w + b)).mean()
                    / (2 * h[j]) for j in range(3)] for xi in x])
    np.testing.assert_allclose(truth, mc, atol=3e-3)


@pytest.fixture
def steep(tmp_path):
    # a float32 logistic model that saturates on most rows (|z| up to ~60)
    return save(logistic_model(np.array([20.0, -15.0, 10.0]), 0.0), tmp_path / "steep.onnx")


def test_saturated_rows_are_flagged_and_never_significant(steep):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((200, 3)), columns=["a", "b", "c"])
    attr = explain(steep, df, method="smoothgrad", rows=range(60), target=1, noise_level=0.0)
    assert attr.params["interval"] == "exact"
    x = df.to_numpy()[:60]
    z = x @ np.array([20.0, -15.0, 10.0])
    p = 1 / (1 + np.exp(-z))
    h = 1e-2 * df.to_numpy().std(axis=0)
    # cells whose true change over the step is below float32's resolution near p (pure noise)
    noise = (p * (1 - p))[:, None] * np.abs(np.array([20.0, -15.0, 10.0])) * 2 * h < np.finfo(np.float32).eps
    assert noise.sum() > 30
    assert not np.any(attr.significant[noise])
    saturated = set(attr.params["saturated_rows"])
    change = (p * (1 - p))[:, None] * np.abs(np.array([20.0, -15.0, 10.0])) * 2 * h
    # flagged: every change below the documented resolution (2 x 4 eps); all pure-noise rows flagged
    limit = 2 * 4 * np.finfo(np.float32).eps
    assert set(np.flatnonzero(noise.all(axis=1)).tolist()) <= saturated
    assert saturated <= set(np.flatnonzero((change < 2 * limit).all(axis=1)).tolist())
    clear = (p * (1 - p)) > 1e-3  # rows well inside the model's range: the gradient is resolved
    assert np.all(attr.significant[clear])


def test_deterministic_methods_say_they_are_exact(tmp_path):
    path = save(logistic_model(np.array([1.0, -2.0, 0.5]), 0.25), tmp_path / "l.onnx")
    df = pd.DataFrame(np.random.default_rng(0).standard_normal((100, 3)), columns=["a", "b", "c"])
    occ = explain(path, df, method="occlusion", rows=range(5), target=1)
    assert occ.params["interval"] == "exact"
    bound = occ.params["roundoff_bound"]
    assert 0 < bound < 1e-5
    np.testing.assert_allclose(occ.ci_high - occ.values, bound)
    sampled = explain(path, df, method="occlusion", rows=range(5), target=1, baseline="sample")
    assert sampled.params["interval"].startswith("bootstrap_t")
    sg = explain(path, df, method="smoothgrad", rows=range(5), target=1)
    assert sg.params["interval"].startswith("bootstrap_t")
    assert np.all(sg.ci_low <= sg.values) and np.all(sg.values <= sg.ci_high)


def test_global_significance_is_tested_on_signed_values(tmp_path):
    path = save(logistic_model(np.array([1.0, -2.0, 0.5]), 0.25), tmp_path / "l.onnx")
    df = pd.DataFrame(np.random.default_rng(0).standard_normal((300, 3)), columns=["a", "b", "c"])
    df["y"] = (df["a"] - 2 * df["b"] > 0).astype(int)
    cfg = ae.AuditConfig(target="y", checks=["explanations"],
                         explanations={"methods": ["occlusion"], "n_rows": 30, "stability_seeds": 0},)
    result = ae.audit(ae.load_model(path), ae.load_data(df, target="y"), config=cfg)
    entry = result.to_dict()["explanations"]["occlusion"]
    signed = entry["global_signed"]
    for name, est in signed.items():
        excludes = est["ci_low"] > 0 or est["ci_high"] < 0
        assert (name in entry["significant"]) == excludes
    # mean |attribution| excludes 0 for every feature; the signed test need not
    assert all(e["ci_low"] > 0 for e in entry["global"].values())
