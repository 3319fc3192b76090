"""MC dropout (graph rewrite), committee disagreement, the review queue and the uncertainty check."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from numpy.testing import assert_allclose
from scipy.stats import entropy as scipy_entropy

from audit_engine.audit import audit
from audit_engine.config import AuditConfig
from audit_engine.data.loader import load_data
from audit_engine.data.space import FeatureSpace
from audit_engine.errors import ConfigError, ModelError
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.model.dropout import count_dropout, rewrite_dropout
from audit_engine.model.loader import load_model
from audit_engine.result import validate
from audit_engine.uncertainty import decompose, pairwise_disagreement, review_queue, uncertainty, vote_entropy
from tests.conftest import data_path, model_path

DROPOUT = model_path("digits04_dropout.onnx")
MLP = model_path("digits04_mlp.onnx")


@pytest.fixture(scope="module")
def digits():
    return np.load(data_path("digits_in.npz"))["x"], np.load(data_path("digits_ood.npz"))["x"]


def test_unrewritten_model_gives_identical_outputs(digits):
    """The reason for the rewrite: ONNX Runtime removes Dropout, so passes never vary."""
    x = digits[0][:50]
    model = load_model(DROPOUT, provider="cpu")
    ev = LocalEvaluator(model, FeatureSpace.bind(model, load_data(x)), probe_rows=x)
    first = ev.logits(x)
    for _ in range(3):
        assert_allclose(ev.logits(x), first, rtol=0, atol=0)


def test_rewritten_graph_passes_checker_and_has_mask_inputs():
    proto = onnx.load(str(DROPOUT))
    rewritten, sites = rewrite_dropout(proto)
    onnx.checker.check_model(rewritten, full_check=True)
    assert count_dropout(rewritten) == 0 and len(sites) == count_dropout(proto) == 1
    assert sites[0].mask_input in {i.name for i in rewritten.graph.input}
    assert_allclose(sites[0].ratio, 0.3, atol=1e-6) and sites[0].shape == (64,)
    with pytest.raises(ModelError, match="no Dropout"):
        rewrite_dropout(onnx.load(str(MLP)))


def test_mc_dropout_epistemic_nonzero_larger_on_ood_and_seeded(digits):
    x_in, x_ood = digits
    a = uncertainty(DROPOUT, x_in, passes=30, seed=0)
    b = uncertainty(DROPOUT, x_in, passes=30, seed=0)
    c = uncertainty(DROPOUT, x_in, passes=30, seed=1)
    ood = uncertainty(DROPOUT, x_ood, passes=30, seed=0)
    assert a.outputs_vary and a.epistemic.shape == (len(x_in),)
    assert a.epistemic.mean() > 1e-3
    assert ood.epistemic.mean() > 2 * a.epistemic.mean()
    assert_allclose(b.epistemic, a.epistemic, rtol=0, atol=0)
    assert not np.allclose(c.epistemic, a.epistemic)
    assert_allclose(a.predictive_entropy, a.aleatoric + a.epistemic, atol=1e-12)
    assert a.evaluations["model_calls"] == 30
    # the mean prediction stays accurate (dropout at 0.3 does not wreck the model)
    y = np.load(data_path("digits_in.npz"))["y"]
    assert np.mean(a.prediction == y) > 0.9


def test_mc_dropout_needs_dropout_and_known_method(digits):
    with pytest.raises(ModelError, match="no Dropout"):
        uncertainty(MLP, digits[0][:5])
    with pytest.raises(ConfigError, match="method"):
        uncertainty(MLP, digits[0][:5], method="ensemble")
    with pytest.raises(ConfigError, match="models"):
        uncertainty(MLP, digits[0][:5], method="committee")


def test_decomposition_and_committee_measures_against_scipy():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=(4, 6))  # (T=4, n=6, k=3)
    total, alea, epi = decompose(probs)
    mean = probs.mean(0)
    assert_allclose(total, scipy_entropy(mean, axis=1), rtol=1e-10)
    assert_allclose(alea, scipy_entropy(probs, axis=2).mean(0), rtol=1e-10)
    kl = np.mean([scipy_entropy(probs[t], mean, axis=1) for t in range(4)], axis=0)
    assert_allclose(epi, kl, rtol=1e-8, atol=1e-12)
    votes = probs.argmax(2)
    shares = np.stack([(votes == c).mean(0) for c in range(3)], axis=1)
    assert_allclose(vote_entropy(probs), scipy_entropy(shares, axis=1), rtol=1e-10)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    assert_allclose(pairwise_disagreement(probs), np.mean([votes[i] != votes[j] for i, j in pairs], axis=0), rtol=1e-12)


def test_committee_of_two_versions(digits):
    r = uncertainty(DROPOUT, digits[0], method="committee", models=[MLP])
    assert r.method == "committee" and r.passes == 2 and r.disagreement is not None
    assert 0 < r.disagreement.mean() < 0.1 and r.evaluations["model_calls"] >= 2


def test_review_queue_orders_by_mean_rank():
    signals = {"a": np.array([0.1, 0.9, 0.5, 0.2]), "b": np.array([0.0, 0.8, 0.9, 0.1])}
    queue = review_queue(signals, k=2, predictions=np.array([0, 1, 1, 0]), labels=["x", "y"])
    assert [e["row"] for e in queue] == [1, 2] and queue[0]["prediction"] == "y"
    assert queue[1]["reason"] == "b"


def test_uncertainty_check_in_audit(tmp_path):
    cfg = AuditConfig(checks=("uncertainty",), uncertainty={"passes": 10, "models": [str(MLP)]})
    result = audit(DROPOUT, data_path("digits_in.npz"), config=cfg, ood_data=data_path("digits_ood.npz"))
    doc = result.to_dict()
    validate(doc)
    u = doc["uncertainty"]
    cmp = u["mc_dropout"]["ood_comparison"]
    assert cmp["ood_mean_epistemic"] > cmp["audited_mean_epistemic"] > 0
    assert len(u["review_queue"]) == 10 and u["committee"]["passes"] == 2
    assert doc["checks"]["uncertainty"]["model_calls"] >= 20  # MC passes are counted
    skipped = audit(MLP, data_path("digits_in.npz"), config=AuditConfig(checks=("uncertainty",))).to_dict()
    assert skipped["checks"]["uncertainty"]["status"] == "skipped" and "Dropout" in skipped["checks"]["uncertainty"]["reason"]
