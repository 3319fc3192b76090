"""Data named by the model's inputs wins over the ``x`` convention (issues 25, 28).

An .npz holding one array per model input plus an ``x`` array (and other arrays) is read by
input name; the other arrays are ignored, logged and listed in audit.json's ``data`` block.
Oracle: onnxruntime run directly on the named arrays, and scikit-learn's accuracy and AUC of
its outputs.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.metrics import accuracy_score, roc_auc_score

import audit_engine as ae

from .conftest import save


def _two_input_model(path):
    """probabilities = softmax([s, -s]), s = num · w + sum(img · v) + b; inputs num (n, 3) and img (n, 2, 2)."""
    w = numpy_helper.from_array(np.array([[1.5], [-2.0], [0.5]], dtype=np.float32), "w")
    v = numpy_helper.from_array(np.array([[[0.8, -0.4], [1.2, -1.0]]], dtype=np.float32), "v")
    b = numpy_helper.from_array(np.array([0.1], dtype=np.float32), "b")
    axes = numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes")
    sign = numpy_helper.from_array(np.array([[1.0, -1.0]], dtype=np.float32), "sign")
    nodes = [
        helper.make_node("MatMul", ["num", "w"], ["nw"]),
        helper.make_node("Mul", ["img", "v"], ["iv"]),
        helper.make_node("ReduceSum", ["iv", "axes"], ["ivs"], keepdims=0),
        helper.make_node("Unsqueeze", ["ivs", "one"], ["ivu"]),
        helper.make_node("Add", ["nw", "ivu"], ["s0"]),
        helper.make_node("Add", ["s0", "b"], ["s"]),
        helper.make_node("Mul", ["s", "sign"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    one = numpy_helper.from_array(np.array([1], dtype=np.int64), "one")
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("num", TensorProto.FLOAT, [None, 3]),
         helper.make_tensor_value_info("img", TensorProto.FLOAT, [None, 2, 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        initializer=[w, v, b, axes, sign, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save(model, path)


def test_npz_naming_every_input_is_read_by_name(tmp_path, caplog):
    model = _two_input_model(tmp_path / "two.onnx")
    rng = np.random.default_rng(3)
    n = 400
    num = rng.normal(size=(n, 3)).astype(np.float32)
    img = rng.normal(size=(n, 2, 2)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    proba = session.run(None, {"num": num, "img": img})[0]
    y = (rng.random(n) < proba[:, 1]).astype(np.int64)  # labels drawn from the model: accuracy well inside (0, 1)
    data = tmp_path / "rows.npz"
    # x (what the convention would feed) and z have shapes no input takes: read by convention, the audit would fail
    np.savez(data, num=num, img=img, x=rng.normal(size=(n, 7)).astype(np.float32), z=np.arange(n), y=y)

    with caplog.at_level(logging.WARNING, logger="audit_engine"):
        doc = ae.audit(model, data, config=ae.AuditConfig(checks=("performance",), n_bootstrap=20)).to_dict()
    ae.validate(doc)
    assert doc["data"]["inputs"] == {"num": [3], "img": [2, 2]}
    assert doc["data"]["ignored_arrays"] == ["x", "z"]
    assert any("['x', 'z']" in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)
    metrics = doc["performance"]["metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(y, (proba[:, 1] >= 0.5).astype(int)), abs=1e-12)
    assert metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, proba[:, 1]), abs=1e-9)


def test_single_input_named_wins_over_x(tmp_path):
    """A one-input model whose input's name is an array: that array is read, not ``x``."""
    from .conftest import logistic_model

    weights = np.array([1.0, -1.0, 0.5, 2.0], dtype=np.float32)
    model = save(logistic_model(weights, input_name="features"), tmp_path / "one.onnx")
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(300, 4)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    proba = session.run(None, {"features": rows})[0]
    y = (rng.random(300) < proba[:, 1]).astype(np.int64)
    data = tmp_path / "rows.npz"
    np.savez(data, features=rows, x=np.zeros((300, 9), dtype=np.float32), y=y)
    doc = ae.audit(model, data, config=ae.AuditConfig(checks=("performance",), n_bootstrap=20)).to_dict()
    assert doc["data"]["row_shape"] == [4] and doc["data"]["ignored_arrays"] == ["x"]
    assert doc["performance"]["metrics"]["accuracy"]["value"] == pytest.approx(
        accuracy_score(y, (proba[:, 1] >= 0.5).astype(int)), abs=1e-12)


def test_x_convention_kept_when_inputs_are_not_all_named(tmp_path):
    """An .npz without every input name keeps the convention and its sentence on what to save."""
    model = _two_input_model(tmp_path / "two.onnx")
    data = tmp_path / "rows.npz"
    np.savez(data, num=np.zeros((5, 3), dtype=np.float32), x=np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(ae.SchemaMismatchError, match=r"np.savez\(path, num=\.\.\., img=\.\.\."):
        ae.audit(model, data, config=ae.AuditConfig(checks=("performance",)))


def test_onnx_model_is_valid(tmp_path):
    onnx.checker.check_model(onnx.load(_two_input_model(tmp_path / "two.onnx")))
