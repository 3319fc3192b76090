"""The CUDA path without a GPU: IO binding code run on the CPU device, preload, clean fallback."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import audit_engine as ae
from audit_engine.evaluator.io_binding import bound_call
from audit_engine.model import providers

from .conftest import model_path


def test_bound_call_equals_run_on_cpu():
    session = ort.InferenceSession(str(model_path("compas_logreg.onnx")), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).normal(size=(37, session.get_inputs()[0].shape[1])).astype(np.float32)
    out = session.get_outputs()[-1].name
    expected = session.run([out], {name: x})[0]
    got = bound_call(session, {name: x}, out, device="cpu")(ort.RunOptions())
    np.testing.assert_array_equal(got, expected)


def test_auto_falls_back_to_cpu_without_a_gpu():
    model = ae.load_model(model_path("compas_logreg.onnx"), provider="auto")
    if model.provider == "cuda":
        pytest.skip("this machine has a working GPU")
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    text = providers.preload_cuda_libraries()  # safe (and quiet) without NVIDIA's libraries
    assert isinstance(text, str)
    with pytest.raises(ae.errors.ProviderError, match="--provider cpu"):
        ae.load_model(model_path("compas_logreg.onnx"), provider="cuda")
