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


# Coverage and false-positive-rate simulations: many simulated audits each, so they run apart
# from the unit suite (`make test-simulations`; .ci/run runs both). Each still asserts what it
# measures; BENCHMARKS.md holds the full-size runs.
SIMULATIONS = frozenset({
    "tests/test_fairness_multiplicity.py::test_a_fair_model_with_two_attributes_is_rarely_flagged",
    "tests/test_coverage_harness.py::test_parallel_workers_count_the_same_samples",
    "tests/test_coverage_harness.py::test_fairness_intervals_cover_in_a_small_simulation",
    "tests/test_fairness_intervals.py::test_disparity_test_false_positive_rate_under_the_null",
    "tests/test_fairness_intervals.py::test_calibration_gap_interval_is_not_stretched_to_parity_by_the_curve_test",
    "tests/test_fairness_gap_coverage.py::test_many_tied_pairs_miss_at_most_a_little_on_the_side_the_ties_push",
    "tests/test_fairness_gap_coverage.py::test_plain_pairwise_ends_are_what_fails_with_ties",
    "tests/test_performance_tally.py::test_macro_auc_interval_width_matches_the_spread_of_the_macro_auc",
    "tests/test_performance_tally.py::test_regression_intervals_cover_the_truth",
    "tests/test_group_calibration_coverage.py::test_group_intervals_hold_the_truth_from_5_to_100_rows",
    "tests/test_performance.py::test_debiased_ece_interval_covers_zero_for_a_calibrated_model",
    "tests/test_calibration_boundary.py::test_calibrated_model_holds_zero_at_nominal_rate",
    "tests/test_calibration_boundary.py::test_small_positive_error_still_held",
    "tests/test_gap_calibration_intervals.py::test_calibration_gap_interval_covers_zero_at_about_the_level_for_a_calibrated_model",
    "tests/test_gap_calibration_intervals.py::test_calibration_gap_interval_covers_zero_for_equally_miscalibrated_groups",
    "tests/test_gap_calibration_intervals.py::test_calibration_gap_interval_covers_a_true_gap",
    "tests/test_gap_calibration_intervals.py::test_tiny_group_calibration_interval_covers_a_25_row_group",
    "tests/test_mc_error_interval.py::test_interval_covers_the_many_pass_value_with_few_groups",
    "tests/test_robustness.py::test_jitter_flip_rate_matches_the_closed_form",
    "tests/test_slices.py::test_null_world_false_discovery_rate",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("[")[0] in SIMULATIONS:
            item.add_marker(pytest.mark.simulation)
