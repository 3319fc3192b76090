"""The model adapter: every export style loads and scores like a bare onnxruntime session."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import softmax

import audit_engine as ae
from audit_engine.data import FeatureSpace
from audit_engine.evaluator import LocalEvaluator

from .conftest import data_path, linear_model, logistic_model, model_path, save

COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _bare(path, feeds, output):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output], feeds)[0]


def _bind(path, data, **kw):
    model = ae.load_model(path, provider="cpu", **{k: v for k, v in kw.items() if k in ("output", "output_kind")})
    space = FeatureSpace.bind(model, data, features=kw.get("features"))
    rows = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=rows, y=data.y, max_chunk_bytes=kw.get("max_chunk_bytes", 64 << 20))
    return model, space, rows, ev


@pytest.fixture(scope="module")
def compas():
    return pd.read_csv(data_path("compas.csv"))


def test_single_float_input_probabilities(compas):
    data = ae.load_data(compas, target="two_year_recid", sensitive=["race", "sex"], features=COMPAS_NUMERIC)
    model, space, rows, ev = _bind(model_path("compas_logreg.onnx"), data)
    assert space.layout == "matrix" and ev.output_kind == "probabilities" and ev.classes == [0, 1]
    expected = _bare(model_path("compas_logreg.onnx"), {"input": compas[COMPAS_NUMERIC].to_numpy(np.float32)}, "probabilities")
    assert_allclose(ev.predict(rows), expected, rtol=0, atol=1e-7)


def test_string_inputs_and_zipmap(compas):
    data = ae.load_data(compas, target="two_year_recid", sensitive=["race"])
    model, space, rows, ev = _bind(model_path("compas_pipeline.onnx"), data)
    assert space.layout == "columns"
    assert model.output_kind == "zipmap" and model.classes == [0, 1]
    assert [f.kind for f in space.features].count("categorical") == 3
    feeds = {}
    for spec in ort.InferenceSession(str(model_path("compas_pipeline.onnx")), providers=["CPUExecutionProvider"]).get_inputs():
        column = compas[spec.name]
        feeds[spec.name] = (column.astype(str).to_numpy(object) if spec.type == "tensor(string)" else column.to_numpy(np.float32)).reshape(-1, 1)
    zipmap = _bare(model_path("compas_pipeline.onnx"), feeds, "output_probability")
    expected = np.array([[row[0], row[1]] for row in zipmap])
    assert_allclose(ev.predict(rows), expected, rtol=0, atol=1e-7)


def test_mlp(compas):
    data = ae.load_data(compas, target="two_year_recid", features=COMPAS_NUMERIC)
    _, _, rows, ev = _bind(model_path("compas_mlp.onnx"), data)
    proba = ev.predict(rows)
    assert proba.shape == (len(compas), 2)
    assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", ["digits_cnn.onnx", "digits_nhwc.onnx"])
def test_image_logits(name):
    npz = np.load(data_path("digits.npz"))
    x = npz["x"]
    model = ae.load_model(model_path(name), provider="cpu")
    spec = model.inputs[0]
    if spec.shape[-1] == 1:  # NHWC
        x = np.transpose(x, (0, 2, 3, 1))
    data = ae.load_data(x, y=npz["y"])
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=rows, y=data.y)
    assert ev.output_kind == "logits" and ev.logit_source == "logits"
    assert space.image_layout == ("NHWC" if spec.shape[-1] == 1 else "NCHW")
    logits = _bare(model_path(name), {spec.name: x.astype(np.float32)}, model.output)
    assert_allclose(ev.predict(rows), softmax(logits.astype(np.float64), axis=1), atol=1e-6)
    assert_allclose(ev.logits(rows), logits, atol=1e-6)
    assert (ev.predict(rows).argmax(1) == npz["y"]).mean() > 0.85


@pytest.mark.parametrize("name", ["diabetes_linear.onnx", "diabetes_flat.onnx"])
def test_regression_outputs(name):
    frame = pd.read_csv(data_path("diabetes.csv"))
    data = ae.load_data(frame, target="target")
    model, _, rows, ev = _bind(model_path(name), data)
    assert ev.task == "regression" and ev.classes is None
    raw = _bare(model_path(name), {"input": frame.drop(columns="target").to_numpy(np.float32)}, model.output)
    assert_allclose(ev.predict(rows)[:, 0], raw.reshape(-1), atol=1e-5)


def test_fixed_batch_of_one_is_fed_row_by_row():
    frame = pd.read_csv(data_path("breast_cancer.csv")).head(23)
    data = ae.load_data(frame, target="target")
    model, _, rows, ev = _bind(model_path("breast_cancer_batch1.onnx"), data)
    assert model.fixed_batch == 1
    proba = ev.predict(rows)
    assert ev.stats.model_calls == 23 and ev.stats.rows_evaluated == 23
    x = frame.drop(columns="target").to_numpy(np.float32)
    expected = np.vstack([_bare(model_path("breast_cancer_batch1.onnx"), {"input": x[i : i + 1]}, model.output) for i in range(23)])
    assert_allclose(proba, expected, atol=1e-7)


def test_output_chosen_by_name(compas):
    data = ae.load_data(compas, target="two_year_recid", features=COMPAS_NUMERIC)
    model = ae.load_model(model_path("compas_two_outputs_logits.onnx"), provider="cpu")
    assert model.output == "logits"
    with pytest.raises(ae.OutputError, match="no output named 'nope'"):
        ae.load_model(model_path("compas_two_outputs_logits.onnx"), output="nope")
    _, _, rows, ev = _bind(model_path("compas_two_outputs_logits.onnx"), data)
    assert ev.output_kind == "logits"


def test_single_logit_and_probability_outputs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    w = np.array([1.0, -1.0, 0.5])
    y = (x @ w + rng.normal(size=200) > 0).astype(int)
    path = save(linear_model(w), tmp_path / "single_logit.onnx")
    data = ae.load_data(x, y=y)
    _, _, rows, ev = _bind(path, data)
    assert ev.output_kind == "logit" and ev.classes == [0, 1]
    assert_allclose(ev.predict(rows)[:, 1], 1 / (1 + np.exp(-(x @ w).astype(np.float32))), atol=1e-6)
    # Without a binary target the same output is a regression.
    _, _, rows, ev = _bind(path, ae.load_data(x, y=x @ w))
    assert ev.task == "regression"
    # The user can override the inferred kind.
    _, _, rows, ev = _bind(path, ae.load_data(x), output_kind="logit")
    assert ev.output_kind == "logit"


def test_chunk_size_does_not_change_results(compas):
    data = ae.load_data(compas, target="two_year_recid")
    model, space, rows, ev = _bind(model_path("compas_pipeline.onnx"), data)
    reference = ev.predict(rows)
    for per_chunk in (1, 7, 1000):
        other = LocalEvaluator(model, space, probe_rows=rows, y=data.y,
                               max_chunk_bytes=per_chunk * space.bytes_per_row())
        assert other.rows_per_chunk == per_chunk
        out = other.predict(rows[:1500])
        # onnxruntime's one-row kernels may round the last float32 bit differently
        # (measured: 1.2e-7 at 1 row per call, 0 at 2 or more); nothing else may differ.
        assert_allclose(out, reference[:1500], rtol=0, atol=0 if per_chunk > 1 else 2.5e-7)
        assert other.stats.model_calls == -(-1500 // per_chunk)


def test_progress_callback_and_counts(logistic_path):
    x = np.random.default_rng(1).normal(size=(100, 3))
    model = ae.load_model(logistic_path, provider="cpu")
    data = ae.load_data(x)
    space = FeatureSpace.bind(model, data)
    seen = []
    ev = LocalEvaluator(model, space, probe_rows=x, max_chunk_bytes=30 * space.bytes_per_row(),
                        progress=lambda done, total: seen.append((done, total)))
    ev.predict(x)
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]
    assert ev.stats.model_calls == 4 and ev.stats.rows_evaluated == 100


def test_model_metadata(logistic_path):
    model = ae.load_model(logistic_path, provider="cpu")
    info = model.to_dict()
    assert info["opset"] == 17 and info["producer"] == "tests" and len(info["sha256"]) == 64
    assert info["inputs"] == [{"name": "input", "shape": ["N", 3], "dtype": "float32"}]
    assert info["provider"] == "cpu"


def test_auto_provider_falls_back_to_cpu_quietly(logistic_path, capfd):
    if "CUDAExecutionProvider" in ort.get_available_providers() and _has_gpu():
        pytest.skip("a GPU is present: the fallback is not exercised here")
    model = ae.load_model(logistic_path, provider="auto")
    assert model.provider == "cpu"
    captured = capfd.readouterr()
    assert "onnxruntime" not in captured.err.lower() and "cuda" not in captured.err.lower()
    assert model.describe_provider().startswith("Running the model on CPU")


def test_cuda_requested_without_gpu_is_a_clear_error(logistic_path):
    if _has_gpu():
        pytest.skip("a GPU is present")
    with pytest.raises(ae.ProviderError, match="CUDA was requested"):
        ae.load_model(logistic_path, provider="cuda")


def test_unknown_provider(logistic_path):
    # a value no provider has is a bad parameter (the one wording); ProviderError is for a real provider that fails
    with pytest.raises(ae.ConfigError, match="The 'provider' parameter of load_model must be one of 'auto', 'cpu', "
                                             "'cuda'. Got 'tpu'"):
        ae.load_model(logistic_path, provider="tpu")


def _has_gpu() -> bool:
    import os

    return os.path.exists("/dev/nvidia0")


def test_logits_output_model_from_helper(tmp_path):
    path = save(logistic_model(np.array([2.0, 0.0]), output="logits"), tmp_path / "l.onnx")
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    _, _, rows, ev = _bind(path, ae.load_data(x, y=np.array([0, 1])))
    assert ev.output_kind == "logits"
    assert_allclose(ev.predict(rows)[:, 1], [0.5, 1 / (1 + np.exp(-2.0))], atol=1e-6)
