"""Intermediate-tensor taps and the space OOD data detectors run in."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from audit_engine.audit import prepare, run_checks
from audit_engine.config import AuditConfig
from audit_engine.errors import ModelError
from audit_engine.model.loader import load_model
from audit_engine.model.taps import penultimate_tensor, tap_model
from audit_engine.result import validate

from .conftest import FIXTURES, _model, data_path, logistic_model, model_path, save

sys.path.insert(0, str(FIXTURES))
from shapes import shape_images  # noqa: E402

CNN = model_path("cnn224.onnx")


def test_penultimate_features_equal_torch():
    x, _ = shape_images(8, seed=2)
    oracle = np.load(data_path("cnn224_oracle.npz"))
    ctx = prepare(CNN, x)
    before = ctx.evaluator.stats.copy()
    feats = ctx.evaluator.features(ctx.rows)
    used = ctx.evaluator.stats.since(before)
    np.testing.assert_allclose(feats, oracle["features"], atol=1e-5)
    assert used.rows_evaluated == 8 and used.model_calls >= 1  # counted like any model call
    point = ctx.evaluator.feature_tap.point
    assert point.consumer == "Gemm" and point.shape == (16,) and point.dtype == "float32"
    # the original output is untouched
    np.testing.assert_allclose(ctx.evaluator.raw(ctx.rows), oracle["logits"], atol=1e-5)


def test_tap_of_a_named_tensor_matches_onnxruntime_with_that_output():
    model = load_model(CNN)
    tapped, point = tap_model(model, "/features/features.8/Relu_output_0")
    x, _ = shape_images(3, seed=5)
    (direct,) = tapped.session.run([point.name], {"image": x})
    oracle = np.load(data_path("cnn224_oracle.npz"))
    assert direct.shape == (3, 16)
    x8, _ = shape_images(8, seed=2)
    np.testing.assert_allclose(tapped.session.run([point.name], {"image": x8})[0], oracle["features"], atol=1e-5)
    with pytest.raises(ModelError, match="no intermediate tensor"):
        tap_model(model, "nope")


def test_no_tap_for_a_linear_model_on_its_input(tmp_path):
    path = save(logistic_model(np.array([1.0, -2.0, 0.5])), tmp_path / "lr.onnx")
    import onnx

    assert penultimate_tensor(onnx.load(str(path))) is None
    with pytest.raises(ModelError, match="no Gemm/MatMul head"):
        tap_model(load_model(path))


def test_image_detectors_run_in_feature_space():
    x, _ = shape_images(30, seed=4)
    cfg = AuditConfig(checks=("ood",), n_bootstrap=20, ood={"scores": ["mahalanobis", "knn", "iforest"]})
    ctx = prepare(CNN, x, config=cfg)
    doc = run_checks(ctx).to_dict()
    validate(doc)
    space = doc["ood"]["detector_space"]
    assert space["space"] == "features" and space["dimensions"] == 16 and space["consumer"] == "Gemm"
    assert space["detectors"] == ["mahalanobis", "knn"]
    # Mahalanobis distances equal scipy's in the tapped space (cross-fit folds recomputed here)
    from scipy.spatial.distance import mahalanobis

    feats = ort_features(x)
    rng = ctx.rng("ood", "detectors")
    folds = rng.permutation(30) % 2
    scores = np.empty(30)
    from sklearn.covariance import LedoitWolf

    for f in (0, 1):
        fit = feats[folds == f]
        vi = LedoitWolf().fit(fit).precision_ if fit.shape[0] <= fit.shape[1] else np.linalg.inv(np.cov(fit, rowvar=False))
        scores[folds != f] = [mahalanobis(r, fit.mean(0), vi) for r in feats[folds != f]]
    np.testing.assert_allclose(doc["ood"]["scores"]["mahalanobis"]["threshold"], np.quantile(scores, 0.95), rtol=1e-4)


def ort_features(x):
    model = load_model(CNN)
    tapped, point = tap_model(model)
    return tapped.session.run([point.name], {"image": x})[0].astype(np.float64)


def test_pca_of_input_when_no_tap_fits(tmp_path):
    # 1×24×24 images, class scores from two pixel means: no Gemm/MatMul at all
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("Concat", ["m", "m2"], ["z"], axis=1),
         helper.make_node("Neg", ["m"], ["m2"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "nogemm", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 24, 24])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])])
    graph.node.insert(1, graph.node.pop(2))
    path = save(_model(graph, 13), tmp_path / "nogemm.onnx")
    x = np.random.default_rng(0).random((40, 1, 24, 24)).astype(np.float32)
    cfg = AuditConfig(checks=("ood",), n_bootstrap=10, ood={"scores": ["mahalanobis", "knn"]})
    doc = run_checks(prepare(path, x, config=cfg)).to_dict()
    validate(doc)
    space = doc["ood"]["detector_space"]
    assert space["space"] == "pca_of_input" and space["input_dimensions"] == 576
    assert 1 <= space["dimensions"] <= 50 and "no Gemm/MatMul" in space["tap"]
    assert ort.InferenceSession(str(path)).run(None, {"image": x[:2]})[0].shape == (2, 2)
