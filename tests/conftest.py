"""Shared test helpers: fixture paths and tiny ONNX models with closed-form answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MODELS = FIXTURES / "models"
DATA = FIXTURES / "data"


@pytest.fixture(scope="session")
def ray_local():
    """Ray in local mode on 2 CPUs (tests/test_ray.py, tests/test_sources.py)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def model_path(name: str) -> Path:
    return MODELS / name


def data_path(name: str) -> Path:
    return DATA / name


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def logistic_model(weights: np.ndarray, bias: float = 0.0, *, output: str = "probabilities",
                   input_name: str = "input", opset: int = 17) -> onnx.ModelProto:
    """p(class 1) = sigmoid(x·w + b) as a two-column probability output [N, 2].

    ``output='logits'`` returns the two-class logits [0, z] instead (softmax of which is
    [1 − p, p]).
    """
    w = np.asarray(weights, dtype=np.float32).reshape(-1, 1)
    d = w.shape[0]
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["z"]),
        helper.make_node("Concat", ["zero", "z"], ["logits2"], axis=1),
        helper.make_node("Mul", ["z", "zero_scalar"], ["zero"]),
    ]
    if output == "probabilities":
        nodes.append(helper.make_node("Softmax", ["logits2"], [output], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["logits2"], [output]))
    graph = helper.make_graph(
        [nodes[0], nodes[1], nodes[3], nodes[2], nodes[4]],
        "logistic",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 2])],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.array([bias], dtype=np.float32), "B"),
            numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero_scalar"),
        ],
    )
    return _model(graph, opset)


def linear_model(weights: np.ndarray, bias: float = 0.0, *, rank1: bool = False, opset: int = 17) -> onnx.ModelProto:
    """y = x·w + b as a regression output ([N, 1], or [N] when rank1)."""
    w = np.asarray(weights, dtype=np.float32)
    d = w.shape[0]
    if rank1:
        nodes = [helper.make_node("MatMul", ["input", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])]
        w_init = numpy_helper.from_array(w, "W")
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])
    else:
        nodes = [helper.make_node("MatMul", ["input", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])]
        w_init = numpy_helper.from_array(w.reshape(-1, 1), "W")
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])
    graph = helper.make_graph(
        nodes, "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", d])], [out],
        initializer=[w_init, numpy_helper.from_array(np.array([bias], dtype=np.float32), "B")],
    )
    return _model(graph, opset)


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests")
    model.ir_version = 9  # readable by every onnxruntime this project supports
    return model


@pytest.fixture
def logistic_path(tmp_path: Path) -> Path:
    """A 3-feature logistic model with known weights [1, -2, 0.5] and bias 0.25."""
    return save(logistic_model(np.array([1.0, -2.0, 0.5]), 0.25), tmp_path / "logistic.onnx")


# Property tests explore new examples on a developer's machine; in CI (CI=true) they replay
# a fixed, derandomised set, so a run's verdict does not depend on luck.
try:
    import os as _os

    from hypothesis import settings as _hsettings

    _hsettings.register_profile("ci", derandomize=True, print_blob=True)
    _hsettings.register_profile("sweep", max_examples=3000, deadline=None)
    _hsettings.load_profile(_os.environ.get("HYPOTHESIS_PROFILE", "ci" if _os.environ.get("CI") else "default"))
except ImportError:  # hypothesis is a test extra
    pass
