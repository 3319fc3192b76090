"""inspect resolves the task as the Evaluator does; embeddings are not taken for logits."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from audit_engine.audit import prepare
from audit_engine.cli import main
from audit_engine.config import AuditConfig
from audit_engine.errors import OutputError
from audit_engine.model.loader import load_model
from audit_engine.probe import probe

from .conftest import _model, model_path, save


def _two_output_model(tmp_path, *, argmax=False):
    """x (N, 4) -> hidden = Relu(x W1) (N, 8) -> logits = hidden W2 (N, 3); both are outputs."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h0"]), helper.make_node("Relu", ["h0"], ["hidden"]),
             helper.make_node("MatMul", ["hidden", "W2"], ["logits"])]
    outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["N", 8]),
               helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])]
    if argmax:
        nodes.append(helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0))
        outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])], outputs,
                              initializer=[numpy_helper.from_array(rng.normal(size=(4, 8)).astype(np.float32), "W1"),
                                           numpy_helper.from_array(rng.normal(size=(8, 3)).astype(np.float32), "W2")])
    return save(_model(graph, 17), tmp_path / ("two_argmax.onnx" if argmax else "two.onnx"))


def test_an_intermediate_output_is_not_taken_for_logits(tmp_path):
    path = _two_output_model(tmp_path)
    x = np.random.default_rng(1).normal(size=(20, 4))
    with pytest.raises(OutputError, match="looks like an embedding.*feeds further nodes"):
        prepare(load_model(path, output="hidden"), x)
    ctx = prepare(load_model(path), x)  # the head's output is logits
    assert ctx.model.output == "logits" and ctx.evaluator.output_kind == "logits"
    raw = ort.InferenceSession(str(path)).run(["logits"], {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(ctx.evaluator.logits(x), raw, atol=1e-6)
    # the user can still say it is logits
    ctx = prepare(load_model(path, output="hidden", output_kind="logits"), x)
    assert ctx.evaluator.output_kind == "logits"


def test_an_activation_output_is_an_embedding(tmp_path):
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["emb"])],
                              "emb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", 64])],
                              initializer=[numpy_helper.from_array(np.ones((4, 64), np.float32), "W")])
    path = save(_model(graph, 17), tmp_path / "emb.onnx")
    with pytest.raises(OutputError, match=r"\[N, 64\].*Relu node"):
        prepare(path, np.random.default_rng(0).normal(size=(10, 4)))
    assert "embedding" in probe(load_model(path)).error


def test_argmax_consumer_means_logits(tmp_path):
    path = _two_output_model(tmp_path, argmax=True)
    ctx = prepare(load_model(path), np.random.default_rng(1).normal(size=(20, 4)))
    assert ctx.evaluator.output_kind == "logits"


def test_inspect_reports_regression_for_a_regressor(capsys):
    assert main(["inspect", str(model_path("diabetes_linear.onnx")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "regression" and info["output_kind"] == "regression"
    assert main(["inspect", str(model_path("cnn224.onnx"))]) == 0
    out = capsys.readouterr().out
    assert "task: classification; output kind: logits" in out and "guessed: column indices" in out


def test_inspect_with_data(capsys, tmp_path):
    import pandas as pd

    df = pd.read_csv(model_path("x").parent.parent / "data" / "forest_ulp.csv")
    df.drop(columns=["y"]).to_csv(tmp_path / "d.csv", index=False)
    assert main(["inspect", str(model_path("forest_ulp.onnx")), "--data", str(tmp_path / "d.csv"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "classification" and info["classes_source"] == "graph" and info["classes"] == [0, 1, 2]
