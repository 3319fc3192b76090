"""Pathwise explanation of ReLU networks: oracles are torch autograd at fixture time
(fixtures/build_pathwise.py) and closed forms / brute force on toy networks built here."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from numpy.testing import assert_allclose
from onnx import TensorProto, helper, numpy_helper

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain import pathwise as pw_mod
from audit_engine.explain import explain_pathwise
from audit_engine.explain.pathwise import local_linear_model, network_for, pathwise, unsupported_reason
from audit_engine.model.relu import UnsupportedGraphError, read_relu_network

from .conftest import data_path, model_path, save

ORACLE = np.load(data_path("pathwise_oracle.npz"))
MODELS = ["digits04_mlp", "digits_cnn", "pathwise_cnn"]


def _evaluator(path, x):
    model = ae.load_model(path)
    data = ae.load_data(x)
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    return LocalEvaluator(model, space, probe_rows=rows), rows


@pytest.mark.parametrize("name", MODELS)
def test_local_linear_model_matches_torch_autograd(name):
    x = ORACLE["x"]
    ev, rows = _evaluator(model_path(f"{name}.onnx"), x)
    k = ORACLE[f"{name}_logits"].shape[1]
    targets = np.tile(np.arange(k), (rows.shape[0], 1))
    pw = pathwise(ev, rows, targets)
    # W(x) equals the Jacobian of every logit (torch autograd on the same weights)
    assert_allclose(pw.W, ORACLE[f"{name}_jacobian"].astype(np.float64), atol=1e-5, rtol=1e-5)
    # W(x)·x + b(x) (b accumulated from the layer biases, not a residual) equals the logit on every row
    assert_allclose(pw.weight_part + pw.b, ORACLE[f"{name}_logits"], atol=1e-5, rtol=0)
    assert pw.max_error < 1e-5
    assert ((pw.bias_share >= 0) & (pw.bias_share <= 1)).all()
    # ... and the model's own output through the Evaluator
    if ev.output_kind == "logits":
        assert_allclose(pw.logit, ev.logits(rows), atol=1e-4 * (1 + np.abs(pw.logit).max()))
    else:
        e = np.exp(pw.logit - pw.logit.max(axis=1, keepdims=True))
        assert_allclose(e / e.sum(axis=1, keepdims=True), ev.predict(rows), atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_unit_contributions_of_every_layer_sum_to_the_logit(name):
    x = ORACLE["x"]
    ev, rows = _evaluator(model_path(f"{name}.onnx"), x)
    net = network_for(ev)
    lm = local_linear_model(net, rows)
    assert len(lm.hidden) == len(net.activations) >= 1
    for g, h, above in zip(lm.grads, lm.hidden, lm.bias_above, strict=True):
        total = np.einsum("nkj,nj->nk", g, h) + above
        assert_allclose(total, ORACLE[f"{name}_logits"], atol=1e-5)


def test_pathwise_cnn_reads_every_activation_kind():
    ev, _ = _evaluator(model_path("pathwise_cnn.onnx"), ORACLE["x"])
    net = network_for(ev)
    assert [a.kind for a in net.activations] == ["leaky_relu", "max_pool", "relu", "relu"]
    assert net.hidden_sizes == [4 * 8 * 8, 4 * 4 * 4, 6 * 4 * 4, 16]
    assert net.head == "softmax"
    assert {"BatchNormalization", "Reshape", "Conv", "Gemm"} <= set(net.ops)


# ------------------------------------------------------------------------------ toy networks
def _toy(rng, d=3, h1=4, h2=3, k=2, leaky=None):
    w1, b1 = rng.normal(size=(d, h1)), rng.normal(size=h1)
    w2, b2 = rng.normal(size=(h1, h2)), rng.normal(size=h2)
    w3, b3 = rng.normal(size=(h2, k)), rng.normal(size=k)
    act = "Relu" if leaky is None else "LeakyRelu"
    kw = {} if leaky is None else {"alpha": leaky}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["a1"]), helper.make_node("Add", ["a1", "b1"], ["z1"]),
        helper.make_node(act, ["z1"], ["h1"], name="layer1", **kw),
        helper.make_node("MatMul", ["h1", "w2"], ["a2"]), helper.make_node("Add", ["a2", "b2"], ["z2"]),
        helper.make_node(act, ["z2"], ["h2"], name="layer2", **kw),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["logits"]),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), n)
             for n, a in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("w3", w3), ("b3", b3))]
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    f32 = [a.astype(np.float32).astype(np.float64) for a in (w1, b1, w2, b2, w3, b3)]
    return model, f32


def _toy_setup(tmp_path, seed, leaky=None):
    rng = np.random.default_rng(seed)
    model, weights = _toy(rng, leaky=leaky)
    path = save(model, tmp_path / f"toy{seed}.onnx")
    x = rng.normal(size=(25, 3)).astype(np.float32)
    ev, rows = _evaluator(path, x)
    return ev, rows, weights


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_greedy_path_matches_brute_force_ablation(tmp_path, seed):
    """Each path unit is the one whose removal (activation pattern held) costs the most."""
    leaky = 0.2 if seed % 2 else None
    ev, rows, (w1, b1, w2, b2, w3, b3) = _toy_setup(tmp_path, seed, leaky)
    alpha = 0.0 if leaky is None else leaky
    pw = pathwise(ev, rows, np.stack([np.zeros(len(rows)), np.ones(len(rows))], 1).astype(int))
    for i, x in enumerate(rows):  # a per-row reference loop: the oracle, not the method
        z1 = x @ w1 + b1
        s1 = np.where(z1 > 0, 1.0, alpha)
        h1 = s1 * z1
        z2 = h1 @ w2 + b2
        s2 = np.where(z2 > 0, 1.0, alpha)
        h2 = s2 * z2
        f = h2 @ w3 + b3
        for t in (0, 1):
            drop2 = [f[t] - ((h2 * (np.arange(3) != j)) @ w3 + b3)[t] for j in range(3)]
            k2 = int(np.argmax(drop2))

            def h2k(h1v, k2=k2):
                return s2[k2] * (h1v @ w2[:, k2] + b2[k2])

            drop1 = [h2k(h1) - h2k(h1 * (np.arange(4) != j)) for j in range(4)]
            k1 = int(np.argmax(drop1))

            def h1k(xv, k1=k1):
                return s1[k1] * (xv @ w1[:, k1] + b1[k1])

            drop0 = [h1k(x) - h1k(x * (np.arange(3) != j)) for j in range(3)]
            k0 = int(np.argmax(drop0))
            assert pw.path_units[i, t].tolist() == [k2, k1, k0]
            # deep path: W = A3[t,k2] · ∂h2_k2/∂h1_k1 · ∂h1_k1/∂x; b = the chain · φ1·b1
            chain = w3[k2, t] * s2[k2] * w2[k1, k2]
            assert_allclose(pw.deep_W[i, t], chain * s1[k1] * w1[:, k1], atol=1e-10)
            assert_allclose(pw.deep_b[i, t], chain * s1[k1] * b1[k1], atol=1e-10)
            # thin path: the top unit's share: W = A3[t,k2] · ∂h2_k2/∂x, b = A3[t,k2]·(h2_k2 − that·x)
            grad = s2[k2] * (w1 * s1) @ w2[:, k2]
            assert_allclose(pw.thin_W[i, t], w3[k2, t] * grad, atol=1e-10)
            assert_allclose(pw.thin_b[i, t], w3[k2, t] * (h2[k2] - grad @ x), atol=1e-9)
            assert_allclose(pw.thin_W[i, t] @ x + pw.thin_b[i, t], w3[k2, t] * h2[k2], atol=1e-9)


def test_bias_share_closed_form(tmp_path):
    ev, rows, (w1, b1, w2, b2, w3, b3) = _toy_setup(tmp_path, 7)
    pw = pathwise(ev, rows, np.zeros((len(rows), 1), dtype=int))
    s1 = (rows @ w1 + b1 > 0).astype(float)
    h1 = s1 * (rows @ w1 + b1)
    s2 = (h1 @ w2 + b2 > 0).astype(float)
    # b(x) = b3 + Σ_j w3_j s2_j (b2_j + Σ_i w2_ij s1_i b1_i)
    b = b3[0] + ((s2 * (b2 + (s1 * b1) @ w2)) @ w3[:, :1])[:, 0]
    wx = pw.weight_part[:, 0]
    assert_allclose(pw.b[:, 0], b, atol=1e-10)
    assert_allclose(pw.bias_share[:, 0], np.abs(b) / (np.abs(wx) + np.abs(b)), atol=1e-12)


# ------------------------------------------------------------------------------ refusals
def _graph(nodes, inits, d=3, k=2):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", k])],
                              initializer=[numpy_helper.from_array(v.astype(np.float32), n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_unsupported_ops_are_listed():
    w = np.ones((3, 2))
    model = _graph([helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Tanh", ["a"], ["t"]),
                    helper.make_node("Erf", ["t"], ["y"])], {"w": w})
    with pytest.raises(UnsupportedGraphError, match="Erf, Tanh"):
        read_relu_network(model)


def test_residual_branch_is_refused():
    w = np.ones((3, 3))
    model = _graph([helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
                    helper.make_node("Add", ["r", "x"], ["y"])], {"w": w}, k=3)
    with pytest.raises(UnsupportedGraphError, match="branch"):
        read_relu_network(model)


def test_dense_limit_is_refused_with_the_size():
    onnx_model = onnx.load(str(model_path("digits_cnn.onnx")))
    with pytest.raises(UnsupportedGraphError, match="over the limit of 1000"):
        read_relu_network(onnx_model, max_dense_entries=1000)


def test_linear_model_and_tabular_columns_are_not_pathwise():
    ev, _ = _evaluator(model_path("digits_cnn.onnx"), ORACLE["x"])
    assert unsupported_reason(ev) is None
    from audit_engine.audit import prepare

    flat = prepare(ae.load_model(model_path("diabetes_flat.onnx")), ae.load_data(data_path("diabetes.csv"), target="target"),
                   config=ae.AuditConfig(seed=0, target="target", checks=("performance",)))
    assert "linear model" in unsupported_reason(flat.evaluator)
    pipe = prepare(ae.load_model(model_path("compas_pipeline.onnx")),
                   ae.load_data(data_path("compas.csv"), target="two_year_recid"),
                   config=ae.AuditConfig(seed=0, target="two_year_recid", checks=("performance",)))
    assert "one float tensor input" in unsupported_reason(pipe.evaluator)


def test_forward_mismatch_refuses(monkeypatch):
    ev, rows = _evaluator(model_path("digits04_mlp.onnx"), ORACLE["x"])
    net = network_for(ev)
    import dataclasses

    last = net.layers[-1]
    broken = dataclasses.replace(net, layers=(*net.layers[:-1], dataclasses.replace(last, c=last.c + 1e-2)))
    monkeypatch.setattr(pw_mod, "network_for", lambda *a, **k: broken)
    with pytest.raises(UnsupportedGraphError, match="differs from the model's output"):
        pathwise(ev, rows, np.zeros((len(rows), 1), dtype=int))


# ------------------------------------------------------------------------------ API and audit
def test_explain_method_pathwise_is_w_times_x():
    x = ORACLE["x"][:6]
    attr = ae.explain(model_path("digits_cnn.onnx"), x, method="pathwise")
    jac = ORACLE["digits_cnn_jacobian"][:6].astype(np.float64)
    want = jac[np.arange(6), attr.targets].reshape(6, 1, 8, 8) * x.astype(np.float64)
    assert_allclose(attr.values, want, atol=1e-5)
    assert_allclose(attr.ci_low, attr.values)
    assert_allclose(attr.ci_high, attr.values)
    assert attr.method == "pathwise" and attr.params["score"] == "logit"


def test_explain_pathwise_runner_up_and_tabular_sigmoid_head():
    pw = explain_pathwise(model_path("digits04_mlp.onnx"), ORACLE["x"], rows=range(5))
    logits = ORACLE["digits04_mlp_logits"][:5]
    order = np.argsort(-logits, axis=1)
    assert_allclose(pw.targets, order[:, :2])
    assert_allclose(pw.logit, np.take_along_axis(logits, order[:, :2], axis=1), atol=1e-5)
    # skl2onnx MLP: Scaler, MatMul/Add, Relu, ..., Sigmoid → [1 − p, p]: class scores ±z
    data = ae.load_data(data_path("breast_cancer.csv"), target="target")
    pb = explain_pathwise(model_path("breast_cancer_mlp.onnx"), data, rows=range(8))
    assert_allclose(pb.logit[:, 0], -pb.logit[:, 1], atol=1e-12)
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    space = FeatureSpace.bind(model, data)
    ev = LocalEvaluator(model, space, probe_rows=space.encode(data), y=data.y)
    p1 = ev.predict(space.encode(data)[:8])[np.arange(8), pb.targets[:, 0]]
    assert_allclose(1 / (1 + np.exp(-pb.logit[:, 0])), p1, atol=1e-6)


def test_audit_writes_pathwise_section(tmp_path):
    data = ae.load_data(data_path("digits.npz"), target="y")
    cfg = ae.AuditConfig(seed=0, target="y", checks=("explanations",),
                         explanations={"n_rows": 6, "stability_seeds": 0, "lime_samples": 200, "smoothgrad_samples": 4},
                         policy=ae.Policy.from_dict({"explanations": {"max_bias_share": 0.5}}))
    result = ae.audit(ae.load_model(model_path("pathwise_cnn.onnx")), data, config=cfg)
    doc = json.loads(json.dumps(result.to_dict()))
    ae.validate(doc)
    entry = doc["explanations"]["pathwise"]
    sec = entry["pathwise"]
    assert sec["head"] == "softmax" and sec["max_error"] < 1e-4
    assert len(sec["hidden_layers"]) == 4
    first = sec["local"][0]
    assert len(first["path"]) == 5 and first["path"][-1]["layer"] == "input"
    assert np.asarray(first["deep"]["weights"]).shape == (1, 8, 8)
    assert abs(first["weight_part"] + first["bias"] - first["logit"]) < 1e-9
    assert "runner_up" in first
    verdict = next(v for v in doc["verdicts"] if v["metric"] == "bias_share")
    assert verdict["value"] == sec["bias_share"]["value"] > 0.5 and verdict["status"] == "fail"
    html = tmp_path / "r.html"
    ae.render(result, html)
    assert "Bias share" in html.read_text()


def test_results_do_not_depend_on_the_chunk_size():
    x = ORACLE["x"]
    model = ae.load_model(model_path("pathwise_cnn.onnx"))
    data = ae.load_data(x)
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    targets = np.tile([3, 7], (rows.shape[0], 1))
    big = pathwise(LocalEvaluator(model, space, probe_rows=rows), rows, targets)
    small = pathwise(LocalEvaluator(model, space, probe_rows=rows, max_chunk_bytes=50_000), rows, targets)
    for name in ("W", "b", "bias_share", "path_units", "thin_W", "thin_b", "deep_W", "deep_b"):
        assert_allclose(getattr(small, name), getattr(big, name), rtol=0, atol=1e-12)


def test_finite_difference_fallback_on_a_residual_relu_network(tmp_path):
    rng = np.random.default_rng(5)
    w1, b1, w2 = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(3, 2))
    model = _graph([helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("Add", ["a", "b1"], ["z"]),
                    helper.make_node("Relu", ["z"], ["r"]), helper.make_node("Add", ["r", "x"], ["s"]),
                    helper.make_node("MatMul", ["s", "w2"], ["y"])], {"w1": w1, "b1": b1, "w2": w2})
    path = save(model, tmp_path / "residual.onnx")
    x = rng.normal(size=(10, 3)).astype(np.float32)
    with pytest.raises(UnsupportedGraphError, match="branch"):
        explain_pathwise(path, x, rows=range(10))
    pw = explain_pathwise(path, x, rows=range(10), fallback="finite_differences", step=1e-3)
    assert pw.approximate and pw.path_units.shape[2] == 0
    w1, b1, w2 = (a.astype(np.float32).astype(np.float64) for a in (w1, b1, w2))
    xs = x.astype(np.float64)
    s = ((xs @ w1 + b1) > 0).astype(float)
    for j in range(2):  # closed form: f = ((xW1 + b1)·φ + x) W2, so W = (W1 diag(φ) + I) W2[:, c]
        c = pw.targets[:, j]
        want = np.einsum("dk,nk,kn->nd", w1, s, w2[:, c]) + w2[:, c].T
        assert_allclose(pw.W[:, j], want, atol=2e-3)
        assert_allclose(pw.b[:, j], ((s * b1) @ w2)[np.arange(10), c], atol=2e-3)
    attr = ae.explain(path, x, method="pathwise", fallback="finite_differences")
    assert attr.params["approximate"] is True and attr.params["fallback"] == "finite_differences"
    with pytest.raises(ae.ConfigError, match="fallback"):
        ae.explain(path, x, method="pathwise", fallback="guess")


def test_auto_mode_records_a_refusal_and_runs_the_rest(monkeypatch, tmp_path):
    from audit_engine.explain import check as check_mod

    monkeypatch.setattr(check_mod, "pathwise_refusal", lambda *a, **k: "the numpy forward pass differs (test)")
    data = ae.load_data(data_path("digits04_train.npz"), target="y")
    cfg = ae.AuditConfig(seed=0, target="y", checks=("explanations",),
                         explanations={"n_rows": 4, "stability_seeds": 0, "lime_samples": 100, "smoothgrad_samples": 2})
    result = ae.audit(ae.load_model(model_path("digits04_mlp.onnx")), data, config=cfg)
    doc = json.loads(json.dumps(result.to_dict()))
    ae.validate(doc)
    assert doc["explanations"]["pathwise"]["refused"].startswith("the numpy forward pass differs")
    assert {"lime", "occlusion", "smoothgrad"} <= set(doc["explanations"])
    html = tmp_path / "r.html"
    ae.render(result, html)
    assert "Pathwise explanation not run" in html.read_text()
