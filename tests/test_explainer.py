"""The Explainer protocol: one call shape, a registry, wrappers that compose, streams keyed by row."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.errors import ConfigError
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain import (METHODS, Attribution, Explainer, LimeSettings, RandomisationCheck, Restarts, Rows,
                                  explain, explain_pathwise, explain_rows, get_explainer, register)
from audit_engine.explain import registry
from audit_engine.explain.methods import BUILT_IN
from audit_engine.explain.sanity import sanity_check
from audit_engine.model.loader import load_model

from .conftest import data_path, logistic_model, model_path, save

W = np.array([1.5, -2.0, 0.5, 0.0, 3.0])
SCALES = np.array([1.0, 10.0, 0.1, 5.0, 0.01])

# every method whose values depend on the seed, with parameters that keep it fast
RANDOM = [("lime", {"n_samples": 200}), ("smoothgrad", {"n_samples": 6}),
          ("occlusion", {"baseline": "sample", "n_samples": 6})]


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    x = np.random.default_rng(seed).standard_normal((n, W.size)) * SCALES
    return pd.DataFrame(x, columns=[f"f{j}" for j in range(W.size)])


@pytest.fixture
def logistic(tmp_path):
    return save(logistic_model(W / SCALES, 0.1), tmp_path / "logit.onnx")


def _bound(path, df):
    model = load_model(path)
    data = ae.load_data(df)
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    return model, space, x


# ------------------------------------------------------------------ one call shape
def test_every_method_has_the_same_signature_and_is_registered():
    shapes = {tuple(inspect.signature(type(e).explain).parameters) for e in BUILT_IN}
    assert shapes == {("self", "evaluator", "rows", "targets", "seed", "params", "confidence", "interval_targets")}
    assert METHODS == ("lime", "smoothgrad", "occlusion", "permutation", "pathwise", "attention")
    for name in METHODS:
        e = get_explainer(name)
        assert isinstance(e, Explainer) and e.name == name
    for wrapper in (Restarts(get_explainer("lime"), 2), RandomisationCheck(get_explainer("lime"))):
        assert isinstance(wrapper, Explainer)
        assert list(inspect.signature(wrapper.explain).parameters) == [
            "evaluator", "rows", "targets", "seed", "params", "confidence", "interval_targets"]


def test_unknown_methods_backends_and_parameters_are_refused_with_the_fix(logistic):
    with pytest.raises(ConfigError, match="Unknown explanation method 'shap'; use one of: lime, smoothgrad"):
        get_explainer("shap")
    with pytest.raises(ConfigError, match="Unknown backend 'x'"):
        get_explainer("lime", "x")
    with pytest.raises(ConfigError, match="backend='lime' runs the lime package's tabular LIME only"):
        get_explainer("occlusion", "lime")
    with pytest.raises(ConfigError, match=r"does not take parameter\(s\) 'lime_samples'; it takes: alpha, kernel_"):
        explain(logistic, _frame(20), method="lime", rows=[0], lime_samples=100)
    with pytest.raises(ConfigError, match=r"The 'n_samples' parameter of explain must be an int in the range \[1, inf\)\. Got 0"):
        explain(logistic, _frame(20), method="smoothgrad", rows=[0], n_samples=0)
    with pytest.raises(ConfigError, match=r"The 'seed' parameter of explain must be an int in the range \[0, 4_294_967_295\] or a numpy Generator"):
        explain(logistic, _frame(20), method="lime", rows=[0], seed="zero")


def test_settings_are_frozen_typed_and_their_defaults_are_the_documented_ones(logistic):
    _, space, _ = _bound(logistic, _frame(20))
    s = get_explainer("lime").settings(space, {"n_samples": 300})
    assert s == LimeSettings(n_samples=300)
    assert (s.kernel_width, s.alpha, s.n_folds) == (None, 1.0, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_samples = 5  # type: ignore[misc]
    assert get_explainer("smoothgrad").settings(space).n_samples == 50
    assert get_explainer("occlusion").settings(space).baseline == "mean"
    assert get_explainer("lime").settings(space, s) is not None  # settings objects are accepted as they are


def test_one_typed_attribution_with_the_runner_up_as_an_alternative(logistic):
    df = _frame(40)
    attr = explain(logistic, df, method="lime", rows=[0, 1, 2], runner_up=True, n_samples=300, seed=2)
    assert isinstance(attr, Attribution) and attr.params.n_samples == 300 and attr.params["interval"].startswith("student")
    (alt,) = attr.alternatives
    assert_array_equal(alt.targets, 1 - attr.targets)  # binary: the runner-up is the other class
    # the runner-up's attributions are those of explaining that class directly (same perturbations)
    for i, r in enumerate([0, 1, 2]):
        direct = explain(logistic, df, method="lime", rows=[r], target=int(alt.targets[i]), n_samples=300, seed=2)
        assert_allclose(alt.values[i], direct.values[0], rtol=0, atol=1e-10)
    # a binary model: the two classes' probabilities move in opposite directions
    assert_allclose(alt.values, -attr.values, atol=1e-6)  # up to the float32 rounding of p and 1 − p
    assert attr.to_dict()["alternatives"][0]["targets"] == alt.targets.tolist()


# ------------------------------------------------------------------ streams keyed by row
@pytest.mark.parametrize("method,params", RANDOM)
def test_a_generator_seed_gives_row_5_the_same_attribution_whoever_else_is_explained(logistic, method, params):
    df = _frame(30)
    one = explain(logistic, df, method=method, rows=[5], seed=np.random.default_rng(0), **params)
    both = explain(logistic, df, method=method, rows=[3, 5], seed=np.random.default_rng(0), **params)
    assert_allclose(one.values[0], both.values[1], rtol=0, atol=1e-12)
    assert_allclose(one.ci_low[0], both.ci_low[1], rtol=0, atol=1e-12)
    assert_allclose(one.ci_high[0], both.ci_high[1], rtol=0, atol=1e-12)
    # a Generator is a seed: the same state gives the same numbers, another state others
    again = explain(logistic, df, method=method, rows=[3, 5], seed=np.random.default_rng(0), **params)
    other = explain(logistic, df, method=method, rows=[3, 5], seed=np.random.default_rng(1), **params)
    assert_array_equal(again.values, both.values)
    assert not np.allclose(other.values, both.values)


@pytest.mark.parametrize("method,params", [("lime", {"n_samples": 60, "n_folds": 5}),
                                           ("smoothgrad", {"n_samples": 4, "estimator": "stein"})])
def test_a_generator_seed_keys_image_rows_too(method, params):
    x = np.load(data_path("digits.npz"))["x"][:12]
    one = explain(model_path("digits_cnn.onnx"), x, method=method, rows=[5], seed=np.random.default_rng(7), **params)
    both = explain(model_path("digits_cnn.onnx"), x, method=method, rows=[3, 5], seed=np.random.default_rng(7),
                   **params)
    assert_allclose(one.values[0], both.values[1], rtol=0, atol=1e-12)
    assert_allclose(one.ci_high[0], both.ci_high[1], rtol=0, atol=1e-12)


def test_a_generator_seed_keys_token_lime_rows_too():
    model = ae.load_model(model_path("reviews_transformer.onnx"))
    data = ae.load_data(data_path("reviews.csv"), target="label", sensitive=["group"])
    space = FeatureSpace.bind(model, data, tokenizer=model_path("reviews_tokenizer.json"))
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x[:64], y=data.y)
    one = explain_rows(ev, x, method="lime", rows=[5], seed=np.random.default_rng(3), n_samples=150)
    both = explain_rows(ev, x, method="lime", rows=[3, 5], seed=np.random.default_rng(3), n_samples=150)
    assert one.params.features == "tokens"
    assert_allclose(one.values[0], both.values[1], rtol=0, atol=1e-12)
    assert_allclose(one.ci_low[0], both.ci_low[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("method,params", [*RANDOM, ("permutation", {"n_repeats": 3})])
def test_batch_size_does_not_change_generator_seeded_results(logistic, method, params):
    """captum's perturbations_per_eval test: the Evaluator's chunking is invisible."""
    model, space, x = _bound(logistic, _frame(30))
    results = []
    for k in (1, 3, 1000):
        ev = LocalEvaluator(model, space, probe_rows=x, max_chunk_bytes=k * space.bytes_per_row())
        results.append(explain_rows(ev, x[:20], method=method, rows=[2, 7, 11], seed=np.random.default_rng(5),
                                    **params))
    for r in results[1:]:
        assert_allclose(r.values, results[0].values, rtol=0, atol=1e-12)
        assert_allclose(r.ci_low, results[0].ci_low, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ registry
class _Gradient:
    """A toy method: the analytic gradient of the logistic model's class-1 probability times
    the input (the closed form of a gradient × input explanation)."""

    name = "grad_x_input"
    random = False

    def settings(self, space, params=None):
        if params:
            raise ConfigError(f"Method 'grad_x_input' does not take parameter(s) {', '.join(map(repr, params))}.")
        return None

    def explain(self, evaluator, rows, *, targets, seed=0, params=None, confidence=0.95, interval_targets=None):
        p = evaluator.predict(rows.x)[:, 1]
        v = (p * (1 - p))[:, None] * (W / SCALES) * rows.x
        return Attribution(v, evaluator.space.feature_names, v, v, self.name, rows=rows.ids,
                           targets=np.asarray(targets).reshape(rows.n, -1)[:, 0])


def test_a_registered_method_is_reachable_from_explain(logistic):
    df = _frame(20)
    register(_Gradient())
    try:
        attr = explain(logistic, df, method="grad_x_input", rows=[1, 2])
        x = df.to_numpy()[[1, 2]]
        p = 1 / (1 + np.exp(-(x @ (W / SCALES) + 0.1)))
        assert_allclose(attr.values, (p * (1 - p))[:, None] * (W / SCALES) * x, rtol=1e-5)
        with pytest.raises(ConfigError, match="already registered"):
            register(_Gradient())
        with pytest.raises(ConfigError, match="is not an Explainer"):
            register(object())  # type: ignore[arg-type]
    finally:
        registry._REGISTRY.pop("grad_x_input", None)


# ------------------------------------------------------------------ wrappers
def test_restarts_are_the_mean_of_the_seeds_with_a_student_t_interval(logistic):
    model, space, x = _bound(logistic, _frame(30))
    ev = LocalEvaluator(model, space, probe_rows=x)
    rows = Rows.select(x, [1, 4])
    targets = np.array([[1], [1]])
    lime = get_explainer("lime")
    wrapped = Restarts(lime, 4).explain(ev, rows, targets=targets, seed=10, params={"n_samples": 150})
    runs = np.stack([lime.explain(ev, rows, targets=targets, seed=10 + k, params={"n_samples": 150}).values
                     for k in range(1, 5)])
    assert_array_equal(wrapped.wrapped["restarts"], runs)
    assert_allclose(wrapped.values, runs.mean(axis=0))
    half = stats.t.ppf(0.975, 3) * runs.std(axis=0, ddof=1) / 2.0
    assert_allclose(wrapped.ci_high - wrapped.values, half, rtol=1e-10)
    assert wrapped.params.interval == "student_t over 4 restarts"
    exact = Restarts(get_explainer("occlusion"), 3).explain(ev, rows, targets=targets, seed=0)
    assert_array_equal(exact.ci_low, exact.ci_high)  # a deterministic method does not move between restarts


def test_the_randomisation_check_wraps_any_explainer_and_composes():
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    data = ae.load_data(data_path("breast_cancer.csv"), target="target")
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y)
    rows = Rows.select(x, [0, 10, 20, 30])
    targets = ev.predict(rows.x).argmax(axis=1)[:, None]
    occ = get_explainer("occlusion")
    attr = RandomisationCheck(occ, seed=3, max_layers=2).explain(ev, rows, targets=targets, seed=0)
    plain = occ.explain(ev, rows, targets=targets, seed=0)
    assert_array_equal(attr.values, plain.values)
    direct = sanity_check(model, space, lambda e: occ.explain(e, rows, targets=targets, seed=0).values,
                          method="occlusion", evaluator=ev, seed=3, max_layers=2)
    res = attr.wrapped["sanity"]
    assert [s.spearman.value for s in res.steps] == pytest.approx([s.spearman.value for s in direct.steps])
    assert len(res.steps) == 2 and not res.flagged
    # wrappers compose: the cascade over restarts of SmoothGrad
    both = RandomisationCheck(Restarts(get_explainer("smoothgrad"), 2), seed=3, max_layers=1).explain(
        ev, rows, targets=targets, seed=0, params={"n_samples": 4})
    assert both.wrapped["restarts"].shape == (2, 4, 30) and len(both.wrapped["sanity"].steps) == 1


# ------------------------------------------------------------------ one front door
def test_explain_method_pathwise_is_the_pathwise_front_door():
    x = np.load(data_path("pathwise_oracle.npz"))["x"]
    attr = explain(model_path("digits04_mlp.onnx"), x, method="pathwise", rows=range(4), runner_up=True)
    pw = explain_pathwise(model_path("digits04_mlp.onnx"), x, rows=range(4))
    assert_allclose(attr.values.reshape(4, -1), (pw.W[:, 0] * pw.x), rtol=0, atol=1e-12)
    assert_allclose(attr.alternatives[0].values.reshape(4, -1), pw.W[:, 1] * pw.x, rtol=0, atol=1e-12)
    assert_array_equal(attr.detail.path_units, pw.path_units)
    assert ae.explain_pathwise is explain_pathwise


# ------------------------------------------------------------------ import graph
def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (names for type checkers only)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _import_graph() -> dict[str, set[str]]:
    """Module -> the audit_engine modules it imports (top-level and inside functions), from the source."""
    root = Path(ae.__file__).parent
    modules = {".".join(("audit_engine", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__"): p
               for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                # ``from pkg import module`` imports the module; ``from pkg import name`` the package
                targets = submodules + ([base] if len(submodules) < len(node.names) else [])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            out |= {t for t in targets if t in modules and t != name}
        graph[name] = out
    return graph


def test_the_explain_package_and_the_taps_sit_in_no_import_cycle():
    graph = _import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for n in graph.get(m, ()):
                if n == goal:
                    return True
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return False

    mine = [m for m in graph if m.startswith("audit_engine.explain.")] + ["audit_engine.model.taps",
                                                                          "audit_engine.evaluator.local"]
    assert [m for m in mine if reaches(m, m)] == []
    assert not any(m.startswith("audit_engine.evaluator") for m in graph["audit_engine.model.taps"])
    assert [m for m in graph if m.startswith("audit_engine.explain") and "audit_engine.audit" in graph[m]] == []
