"""Issue 10 (data): unlabeled data, class order, float32 probabilities, check isolation."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto, helper

import audit_engine as ae
from audit_engine.audit import prepare, run_checks
from audit_engine.config import AuditConfig
from audit_engine.errors import ConfigError, OutputError
from audit_engine.model.outputs import repair_probabilities
from audit_engine.result import validate

from .conftest import _model, data_path, logistic_model, model_path, save


def _identity_proba(tmp_path, k=3):
    """A model that returns its input as 'probabilities' (Softmax-free, no labels)."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["probabilities"])], "ident",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])])
    return save(_model(graph, 17), tmp_path / "ident.onnx")


# ----------------------------------------------------------------------------- probabilities
def test_repair_clips_and_renormalises_float32_rounding():
    p = np.array([[1.0000001, 0.0, 0.0], [0.5, 0.5000001, -1e-8], [0.2, 0.3, 0.5]])
    q = repair_probabilities(p)
    np.testing.assert_allclose(q[:2].sum(axis=1), 1.0, atol=1e-15)  # the rows outside [0, 1] are renormalised
    assert q.min() >= 0.0 and q.max() <= 1.0
    np.testing.assert_allclose(q, p, atol=2e-7)
    assert q[2].tolist() == p[2].tolist()  # a row on the simplex (up to rounding) is kept as returned


def test_larger_deviation_is_a_clear_error_before_any_check(tmp_path):
    path = _identity_proba(tmp_path)
    x = np.array([[0.2, 0.3, 0.5]] * 20 + [[0.3, 0.3, 0.5]] * 2, dtype=np.float32)  # rows 20, 21 sum to 1.1
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["y"] = np.arange(len(df)) % 3
    with pytest.raises(OutputError, match="row 20 sums to 1.1"):
        prepare(path, df, config=AuditConfig(target="y", output_kind="probabilities"))


def test_float32_forest_probabilities_are_renormalised():
    df = pd.read_csv(data_path("forest_ulp.csv"))
    feats = [c for c in df.columns if c != "y"]
    raw = ort.InferenceSession(str(model_path("forest_ulp.onnx")), providers=["CPUExecutionProvider"]).run(
        None, {"X": df[feats].to_numpy(np.float32)})[1]
    assert (raw.astype(np.float64).sum(axis=1) > 1).any()  # the fixture's point: float32 sums above 1
    ctx = prepare(model_path("forest_ulp.onnx"), df, config=AuditConfig(target="y"))
    np.testing.assert_allclose(ctx.proba.sum(axis=1), 1.0, atol=1e-6)
    assert ctx.proba.min() >= 0 and ctx.proba.max() <= 1
    np.testing.assert_allclose(ctx.proba, raw, atol=3e-7)  # onnxruntime's numbers, rounding repaired
    result = run_checks(ctx)
    validate(result.to_dict())


# ----------------------------------------------------------------------------- unlabeled data
def test_unlabeled_audit_skips_label_checks_and_reports_label_free_fairness(tmp_path):
    df = pd.read_csv(data_path("compas.csv")).drop(columns=["two_year_recid"])
    feats = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
    cfg = AuditConfig(features=tuple(feats), sensitive=("race",), checks=("performance", "fairness"), n_bootstrap=50)
    result = ae.audit(model_path("compas_logreg.onnx"), df, config=cfg)
    doc = result.to_dict()
    validate(doc)
    assert doc["checks"]["performance"]["status"] == "skipped"
    assert "no target" in doc["checks"]["performance"]["reason"]
    view = doc["fairness"]["race"]
    assert "demographic_parity_difference" in view["metrics"]
    assert "equalized_odds_difference" in view["unavailable"] and "tpr" in view["unavailable"]
    # selection rates against onnxruntime run directly
    sess = ort.InferenceSession(str(model_path("compas_logreg.onnx")), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: df[feats].to_numpy(np.float32)})
    proba = next(o for o in outs if isinstance(o, np.ndarray) and o.ndim == 2 and o.shape[1] == 2)
    selected = proba[:, 1] >= 0.5
    for group, entry in view["groups"].items():
        np.testing.assert_allclose(entry["selection_rate"], selected[df["race"] == group].mean(), atol=1e-12)
    assert result.status in ("pass", "warn", "fail")


# ----------------------------------------------------------------------------- class order
def _reversed_labels(tmp_path):
    path = save(logistic_model(np.array([1.0, -2.0, 0.5]), 0.25), tmp_path / "lr.onnx")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    z = x @ np.array([1.0, -2.0, 0.5]) + 0.25
    # column 1 of the model is "benign": sorted labels (benign, malignant) reverse it
    y = np.where(z + rng.normal(0, 0.5, 400) > 0, "benign", "malignant")
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["diagnosis"] = y
    return path, df


def test_guessed_class_order_is_recorded_and_auc_below_half_flagged(tmp_path):
    path, df = _reversed_labels(tmp_path)
    result = ae.audit(path, df, config=AuditConfig(target="diagnosis", checks=("performance",), n_bootstrap=20))
    doc = result.to_dict()
    validate(doc)
    assert doc["model"]["classes_source"] == "guessed from sorted target labels"
    assert doc["performance"]["metrics"]["roc_auc"]["value"] < 0.5
    flagged = [v for v in doc["verdicts"] if v["metric"] == "class_order"]
    assert flagged and flagged[0]["status"] == "warn" and "classes = [...]" in flagged[0]["message"]


def test_config_classes_fix_the_order(tmp_path):
    path, df = _reversed_labels(tmp_path)
    cfg = AuditConfig(target="diagnosis", checks=("performance",), n_bootstrap=20, classes=("malignant", "benign"))
    doc = ae.audit(path, df, config=cfg).to_dict()
    assert doc["model"]["classes_source"] == "config"
    assert doc["model"]["classes"] == ["malignant", "benign"]
    assert doc["performance"]["metrics"]["roc_auc"]["value"] > 0.8
    assert not [v for v in doc["verdicts"] if v["metric"] == "class_order"]


def test_classes_must_match_the_output_width(tmp_path):
    path, df = _reversed_labels(tmp_path)
    with pytest.raises(ConfigError, match="one label per output column"):
        prepare(path, df, config=AuditConfig(target="diagnosis", classes=("a", "b", "c")))
    with pytest.raises(ConfigError, match="at least 2 distinct"):
        AuditConfig(classes=("a", "a"))


def test_graph_classes_win_and_are_recorded():
    df = pd.read_csv(data_path("forest_ulp.csv"))
    ctx = prepare(model_path("forest_ulp.onnx"), df, config=AuditConfig(target="y"))
    assert ctx.evaluator.classes_source == "graph"


def test_cli_classes_flag(tmp_path):
    from audit_engine.cli import main

    path, df = _reversed_labels(tmp_path)
    df.to_csv(tmp_path / "d.csv", index=False)
    rc = main(["run", str(path), "--data", str(tmp_path / "d.csv"), "--target", "diagnosis", "--checks", "performance",
               "--classes", "malignant", "benign", "--bootstrap", "20", "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc in (0, 1)
    doc = ae.AuditResult.from_json(tmp_path / "out" / "audit.json").to_dict()
    assert doc["model"]["classes_source"] == "config"


# ----------------------------------------------------------------------------- isolation
def test_an_unexpected_error_in_one_check_is_recorded_and_others_run(monkeypatch, tmp_path):
    import audit_engine.ood.check as ood_check

    def boom(ctx):
        raise RuntimeError("simulated bug in the ood check")

    monkeypatch.setattr(ood_check, "run", boom)
    cfg = AuditConfig(
        target="two_year_recid", features=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"),
        checks=("performance", "ood"), n_bootstrap=20)
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    doc = result.to_dict()
    validate(doc)
    assert doc["checks"]["ood"]["status"] == "error"
    assert "simulated bug" in doc["checks"]["ood"]["error"]
    assert doc["checks"]["performance"]["status"] == "ran" and "performance" in doc
    assert result.status == doc["status"] == "error"
    (err,) = result.errors
    assert err.check == "ood" and "RuntimeError" in err.traceback and "boom" in err.traceback
    # the report still renders, with the failed check said
    ae.render(result, str(tmp_path / "r.html"))
    assert "simulated bug" in (tmp_path / "r.html").read_text()


# ----------------------------------------------------------------------------- missing values
def test_missing_values_pass_through_to_a_model_that_handles_them():
    df = pd.read_csv(data_path("imputer.csv"))
    feats = [c for c in df.columns if c != "y"]
    assert df[feats].isna().any(axis=1).sum() > 50
    cfg = AuditConfig(target="y", n_bootstrap=30, explanations={"n_rows": 6, "lime_samples": 300, "stability_seeds": 0},
                      ood={"scores": ["msp", "mahalanobis", "knn", "iforest"]})
    ctx = prepare(model_path("imputer_pipeline.onnx"), df, config=cfg)
    sess = ort.InferenceSession(str(model_path("imputer_pipeline.onnx")), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"X": df[feats].to_numpy(np.float32)})[1]
    np.testing.assert_allclose(ctx.proba, want, atol=1e-6)  # NaN rows scored by the graph's imputer
    result = run_checks(ctx)
    doc = result.to_dict()
    validate(doc)
    assert not result.errors and all(c["status"] != "error" for c in doc["checks"].values())
    for method, entry in doc["explanations"].items():
        for item in entry.get("local", []):
            assert all(np.isfinite(v) for v in item["attributions"].values()), method
    assert doc["ood"]["detector_space"]["missing_indicators"] == feats
    assert all(np.isfinite(doc["ood"]["scores"][s]["threshold"]) for s in ("mahalanobis", "knn", "iforest"))


def test_lime_treats_missing_as_a_value_of_its_own():
    from audit_engine.explain._common import row_rngs
    from audit_engine.explain.lime_tabular import fit_tabular_stats, sample_tabular

    rng = np.random.default_rng(0)
    bg = rng.normal(size=(2000, 3))
    bg[rng.random(2000) < 0.3, 1] = np.nan
    stats = fit_tabular_stats(bg, np.zeros(3, dtype=bool))
    np.testing.assert_allclose(stats.missing, [0, np.isnan(bg[:, 1]).mean(), 0])
    x = np.array([[0.1, np.nan, 0.2], [0.1, 0.5, 0.2]])
    z, inv = sample_tabular(stats, x, 4000, row_rngs(0, "t", np.arange(2)))
    miss = np.isnan(inv[:, 1:, 1])
    np.testing.assert_allclose(miss.mean(axis=1), 0.3, atol=0.03)  # drawn with the background share
    assert not np.isnan(inv[:, :, [0, 2]]).any()  # never NaN from arithmetic
    assert np.array_equal(z[0, :, 1], np.isnan(inv[0, :, 1]))  # missing instance: z = sample missing
    assert not z[1, 1:, 1][miss[1]].any()  # observed instance: a missing sample is "different"
    # without missing values the draws are the ones of before (no extra stream used)
    stats0 = fit_tabular_stats(np.nan_to_num(bg), np.zeros(3, dtype=bool))
    assert stats0.missing is None


def test_missing_values_refused_for_a_model_that_returns_nan(tmp_path):
    from audit_engine.errors import InvalidValueError

    path = save(logistic_model(np.array([1.0, -2.0, 0.5])), tmp_path / "lr.onnx")
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=["a", "b", "c"])
    df.loc[4, "b"] = np.nan
    df["y"] = np.arange(50) % 2
    with pytest.raises(InvalidValueError, match=r"Column 'b' of the data holds 1 missing \(NaN\) values \(first at row 4\)"):
        prepare(path, df, config=AuditConfig(target="y"))
