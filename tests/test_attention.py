"""Attention maps and rollout of a transformer export: oracles are torch's attention tensors
and a plain-loop rollout computed at fixture time (fixtures/build_pathwise.py), scipy's
Spearman correlation, and onnxruntime run directly for occlusion."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from numpy.testing import assert_allclose
from scipy.stats import spearmanr

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain.attention import attention_explain, row_spearman, unsupported_reason
from audit_engine.model.attention_taps import NoAttentionError, attention_model

from .conftest import data_path, model_path

ORACLE = np.load(data_path("attention_oracle.npz"))
MODEL = model_path("tiny_transformer.onnx")


@pytest.fixture(scope="module")
def bound():
    model = ae.load_model(MODEL)
    data = ae.load_data(data_path("tiny_text.npz"), target="y")
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    return LocalEvaluator(model, space, probe_rows=rows, y=data.y), rows


def test_attention_sites_are_found_and_tapped():
    copy, sites = attention_model(ae.load_model(MODEL))
    assert [s.name for s in sites] == ["/blocks.0/Softmax", "/blocks.1/Softmax"]
    assert all(s.rank == 4 for s in sites)
    assert copy.output == "attention_taps__"


def test_attention_and_rollout_match_the_torch_reference(bound):
    ev, rows = bound
    assert_allclose(rows, ORACLE["input_ids"])
    targets = ev.predict(rows).argmax(axis=1)
    ex = attention_explain(ev, rows, targets)
    assert_allclose(ex.attention, ORACLE["attention"], atol=1e-5)
    assert_allclose(ex.attention.sum(axis=3), 1.0, atol=1e-5)
    assert_allclose(ex.rollout_matrix, ORACLE["rollout"], atol=1e-5)
    assert_allclose(ex.rollout, ORACLE["rollout"][:, 0, :], atol=1e-5)
    assert_allclose(ex.last, ORACLE["attention"][:, -1, 0, :], atol=1e-5)
    mean = attention_explain(ev, rows, targets, query="mean")
    assert_allclose(mean.rollout, ORACLE["rollout"].mean(axis=1), atol=1e-5)


def test_occlusion_and_spearman_against_direct_references(bound):
    ev, rows = bound
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    ids = rows[:5].astype(np.int64)
    logits = sess.run(None, {"input_ids": ids})[0]
    targets = logits.argmax(axis=1)
    ex = attention_explain(ev, rows[:5], targets, mask_id=0)

    def prob(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    for j in range(ids.shape[1]):  # reference: one direct run per masked position
        masked = ids.copy()
        masked[:, j] = 0
        drop = prob(logits)[np.arange(5), targets] - prob(sess.run(None, {"input_ids": masked})[0])[np.arange(5), targets]
        assert_allclose(ex.occlusion[:, j], drop, atol=1e-6)
    probs = prob(logits)[np.arange(5), targets]
    for i in range(5):
        # drops within 4 float32 spacings of the row's probabilities are rounding: ranked as ties (0)
        tol = 4 * np.spacing(np.float32(max(probs[i], (probs[i] - ex.occlusion[i]).max())))
        occ = np.where(np.abs(ex.occlusion[i]) > tol, ex.occlusion[i], 0.0)
        want = spearmanr(ex.rollout[i], occ).statistic
        assert_allclose(ex.spearman_rollout[i], want, atol=1e-12)
    a = np.array([[1.0, 2, 2, 3], [4, 4, 4, 4]])
    b = np.array([[3.0, 1, 2, 0], [1, 2, 3, 4]])
    got = row_spearman(a, b)
    assert_allclose(got[0], spearmanr(a[0], b[0]).statistic)
    assert np.isnan(got[1])


def test_non_transformers_are_refused():
    model = ae.load_model(model_path("digits_cnn.onnx"))
    with pytest.raises(NoAttentionError, match="no attention probabilities"):
        attention_model(model)
    x = np.load(data_path("digits.npz"))["x"][:4]
    data = ae.load_data(x)
    space = FeatureSpace.bind(model, data)
    assert "token ids" in unsupported_reason(LocalEvaluator(model, space, probe_rows=space.encode(data)))


def test_explain_attention_and_audit_section(bound, tmp_path):
    ev, rows = bound
    attr = ae.explain(MODEL, ae.load_data(data_path("tiny_text.npz"), target="y"), method="attention", rows=range(6))
    assert_allclose(attr.values, ORACLE["rollout"][:6, 0, :], atol=1e-5)
    data = ae.load_data(data_path("tiny_text.npz"), target="y")
    cfg = ae.AuditConfig(seed=0, target="y", checks=("explanations",),
                         explanations={"n_rows": 8, "methods": ["attention"]},
                         policy=ae.Policy.from_dict({"explanations": {"min_attention_agreement": 0.99}}))
    result = ae.audit(ae.load_model(MODEL), data, config=cfg)
    doc = json.loads(json.dumps(result.to_dict()))
    ae.validate(doc)
    sec = doc["explanations"]["attention"]["attention"]
    assert sec["layers"] == ["/blocks.0/Softmax", "/blocks.1/Softmax"]
    rho = [e["spearman_rollout"] for e in sec["local"] if e["spearman_rollout"] is not None]
    assert_allclose(sec["agreement"]["rollout_vs_occlusion"]["value"], np.mean(rho), atol=1e-12)
    verdict = next(v for v in doc["verdicts"] if v["metric"] == "attention_agreement")
    assert verdict["status"] == "fail" and verdict["subject"] == "attention"
    html = tmp_path / "r.html"
    ae.render(result, html)
    assert "Rank agreement with occlusion" in html.read_text()


def test_tapped_calls_are_counted_on_the_main_evaluator(bound):
    ev, rows = bound
    before = ev.stats.rows_evaluated
    attention_explain(ev, rows[:4], np.zeros(4, dtype=int))
    assert ev.stats.rows_evaluated - before == 4 + 4 + 4 * 8  # taps, then base + occluded rows
