"""Typed ood and uncertainty sections: built by the checks as records, read back equal, framed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit_engine import audit
from audit_engine.config import AuditConfig
from audit_engine.result import AuditResult, validate
from audit_engine.results.ood import OODScore, OODResult, UnusualRow
from audit_engine.results.uncertainty import UncertaintyMethod, UncertaintyResult
from audit_engine.stats import Estimate

from .conftest import data_path, model_path

DROPOUT = model_path("digits04_dropout.onnx")
MLP = model_path("digits04_mlp.onnx")


@pytest.fixture(scope="module")
def result() -> AuditResult:
    cfg = AuditConfig(checks=("ood", "uncertainty"), n_bootstrap=50,
                      ood={"scores": ["msp", "energy", "knn"], "top_k": 5},
                      uncertainty={"passes": 10, "models": [str(MLP)]})
    return audit(DROPOUT, data_path("digits_in.npz"), config=cfg, reference=data_path("digits_in.npz"),
                 ood_data=data_path("digits_ood.npz"))


def test_the_checks_build_records_and_the_json_reads_back_equal(result, tmp_path):
    assert isinstance(result.ood, OODResult) and isinstance(result.uncertainty, UncertaintyResult)
    path = tmp_path / "audit.json"
    result.to_json(path)
    back = AuditResult.from_json(path)
    assert back.unknown_keys() == []
    assert back.ood == OODResult.from_dict(result.ood.to_dict())
    assert back.uncertainty == UncertaintyResult.from_dict(result.uncertainty.to_dict())
    assert back.to_dict() == json.loads(path.read_text())
    validate(back.to_dict())


def test_typed_access_to_ood(result):
    ood = result.ood
    assert not ood.self_referenced and ood.reference.rows > 0
    knn = ood.scores["knn"]
    assert isinstance(knn, OODScore) and isinstance(knn.auroc, Estimate)
    assert knn.auroc.ci_low <= knn.auroc.value <= knn.auroc.ci_high
    assert len(knn.histogram.edges) == len(knn.histogram.reference) + 1
    assert all(isinstance(r, UnusualRow) for r in ood.most_ood) and len(ood.most_ood) == 5
    assert ood.shift_summary.status == "ran" and ood.shift_summary.shown == len(ood.shift)


def test_ood_frame_is_one_row_per_score(result):
    frame = result.ood.to_frame()
    assert list(frame["score"]) == list(result.ood.scores)
    for name, s in result.ood.scores.items():
        row = frame.set_index("score").loc[name]
        np.testing.assert_allclose(row["auroc"], s.auroc.value)
        np.testing.assert_allclose(row["flagged_fraction"], s.flagged_fraction)
        np.testing.assert_allclose(row["threshold"], s.threshold)
    assert set(result.ood.shift_frame().columns) >= {"feature", "p_adjusted", "drifted"}


def test_uncertainty_frames(result):
    unc = result.uncertainty
    assert isinstance(unc.mc_dropout, UncertaintyMethod) and unc.committee.mc_error is None
    frame = unc.to_frame()
    mc = frame[(frame["method"] == "mc_dropout") & (frame["measure"] == "epistemic")].iloc[0]
    np.testing.assert_allclose(mc["mean"], unc.mc_dropout.summary["epistemic"].mean)
    assert np.isfinite(mc["mean_mc_se"]) and frame[frame["method"] == "committee"]["mean_mc_se"].isna().all()
    queue = unc.review_frame()
    assert list(queue["row"]) == [e.row for e in unc.review_queue]
    assert set(unc.review_signals) <= set(queue.columns)
    comparison = unc.mc_dropout.ood_comparison
    assert comparison.ood_mean_epistemic > comparison.audited_mean_epistemic > 0


def test_the_evaluator_does_not_write_into_the_model(result):
    from audit_engine.audit import prepare
    from audit_engine.model import load_model

    model = load_model(MLP)
    before = (model.output_kind, model.classes, model.classes_source)
    ctx = prepare(model, data_path("digits_in.npz"))
    assert (model.output_kind, model.classes, model.classes_source) == before
    assert ctx.evaluator.binding.task == "classification" and ctx.evaluator.binding.classes
    assert result.model.output_kind is not None and result.model.normalisation != "inferred from outputs"
    assert result.model.classes is not None and result.model.task == "classification"


def test_checks_import_checkoutcome_at_module_top():
    import importlib
    import inspect

    from audit_engine import checks

    for name in ("audit_engine.ood.check", "audit_engine.uncertainty.check"):
        source = inspect.getsource(importlib.import_module(name))
        assert "from ..audit import" not in source
    from audit_engine.audit import CheckOutcome

    assert CheckOutcome is checks.CheckOutcome
