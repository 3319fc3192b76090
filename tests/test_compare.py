"""Comparing model versions: paired deltas against scikit-learn, and audit.json comparisons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose
from sklearn import metrics as skm

import audit_engine as ae
from audit_engine.cli import main
from audit_engine.compare import compare_models, compare_results

from .conftest import FIXTURES, data_path, model_path

FEATURES = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
CONFIG = ae.AuditConfig(target="two_year_recid", sensitive=("race",), features=FEATURES,
                        checks=("performance",), n_bootstrap=200)


def test_paired_deltas_equal_sklearn_differences():
    comparison, ra, rb = compare_models(model_path("compas_logreg.onnx"), model_path("compas_mlp.onnx"),
                                        data_path("compas.csv"), config=CONFIG)
    frame = pd.read_csv(data_path("compas.csv"))
    y = frame["two_year_recid"].to_numpy()
    pa = ae.prepare(model_path("compas_logreg.onnx"), frame, config=CONFIG).proba[:, 1]
    pb = ae.prepare(model_path("compas_mlp.onnx"), frame, config=CONFIG).proba[:, 1]
    perf = comparison.performance
    assert_allclose(perf["roc_auc"]["delta"]["value"], skm.roc_auc_score(y, pb) - skm.roc_auc_score(y, pa), atol=1e-12)
    assert_allclose(perf["accuracy"]["delta"]["value"],
                    skm.accuracy_score(y, pb >= 0.5) - skm.accuracy_score(y, pa >= 0.5), atol=1e-12)
    # Pairing removes the shared row noise: the delta's interval is narrower than either model's own.
    for name in ("roc_auc", "accuracy", "brier_score"):
        entry = perf[name]
        width = entry["delta"]["ci_high"] - entry["delta"]["ci_low"]
        assert width < entry["a"]["ci_high"] - entry["a"]["ci_low"]
    agree = comparison.agreement
    assert_allclose(agree["rate"], np.mean((pa >= 0.5) == (pb >= 0.5)), atol=1e-12)
    assert set(agree["by_group"]["race"]) == set(frame["race"].unique())


def test_a_model_against_itself_has_no_change():
    comparison, _, _ = compare_models(model_path("compas_logreg.onnx"), model_path("compas_logreg.onnx"),
                                      data_path("compas.csv"), config=CONFIG)
    for entry in comparison.performance.values():
        assert entry["delta"]["value"] == 0 and entry["change"] == "no clear change"
    assert comparison.agreement["rate"] == 1.0 and comparison.regressions == []


def test_compare_two_audit_files(tmp_path, capsys):
    args = ["--data", str(data_path("compas.csv")), "--config", str(FIXTURES / "compas_logreg.toml"),
            "--checks", "performance", "--bootstrap", "100"]
    main(["run", str(model_path("compas_logreg.onnx")), *args, "--out", str(tmp_path / "a")])
    main(["run", str(model_path("compas_mlp.onnx")), *args, "--out", str(tmp_path / "b")])
    code = main(["compare", str(tmp_path / "a" / "audit.json"), str(tmp_path / "b" / "audit.json"),
                 "--out", str(tmp_path / "cmp")])
    assert code in (0, 1)
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["same_data"] is True and doc["method"].startswith("independent")
    a = json.loads((tmp_path / "a" / "audit.json").read_text())["performance"]["metrics"]["roc_auc"]["value"]
    b = json.loads((tmp_path / "b" / "audit.json").read_text())["performance"]["metrics"]["roc_auc"]["value"]
    assert_allclose(doc["performance"]["roc_auc"]["delta"]["value"], b - a, atol=1e-12)
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "Model comparison" in html and "<script" not in html
    again = compare_results(tmp_path / "a" / "audit.json", tmp_path / "a" / "audit.json")
    assert again.status == "ok" and again.regressions == []


def test_compare_bad_usage(tmp_path, capsys):
    code = main(["compare", str(model_path("compas_logreg.onnx")), str(model_path("compas_mlp.onnx")),
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "pass --data" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_comparison_records_are_typed_and_frozen():
    """compare.json's ``changes`` as typed Change records and a frame (oracle: the JSON itself and B − A)."""
    import dataclasses

    import pytest

    from audit_engine.compare import Change, Comparison

    comparison, ra, rb = compare_models(model_path("compas_logreg.onnx"), model_path("compas_mlp.onnx"),
                                        data_path("compas.csv"), config=CONFIG)
    assert isinstance(comparison, Comparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        comparison.method = "x"  # type: ignore[misc]
    doc = comparison.to_dict()
    records = comparison.records
    assert all(isinstance(c, Change) for c in records)
    assert [c.path for c in records] == list(doc["changes"])
    for c in records:
        assert c.to_dict() == doc["changes"][c.path]
        assert set(c.to_dict()) == {"a", "b", "delta", "better_when", "change", "paired"}
    frame = comparison.to_frame()
    assert len(frame) == len(records)
    roc = frame.set_index("path").loc["performance.metrics.roc_auc"]
    want = rb.performance.metrics["roc_auc"].value - ra.performance.metrics["roc_auc"].value
    assert_allclose(roc["delta"], want, atol=1e-12)
    assert roc["section"] == "performance" and roc["better_when"] == "higher" and bool(roc["paired"])
