"""Explanations: closed-form oracles, the lime package as reference, invariants, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import spearmanr

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.errors import ConfigError
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain import explain, explain_rows, submodular_pick
from audit_engine.model.loader import load_model
from audit_engine.result import validate

from .conftest import data_path, linear_model, logistic_model, model_path, save

W = np.array([1.5, -2.0, 0.5, 0.0, 3.0])
SCALES = np.array([1.0, 10.0, 0.1, 5.0, 0.01])  # features on very different scales


def _frame(n: int, seed: int = 0, scales: np.ndarray = SCALES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, scales.size)) * scales
    return pd.DataFrame(x, columns=[f"f{j}" for j in range(scales.size)])


@pytest.fixture
def logistic(tmp_path):
    # weights divided by the scale so that every feature matters on its own scale
    return save(logistic_model(W / SCALES, 0.1), tmp_path / "logit.onnx")


@pytest.fixture
def linear(tmp_path):
    return save(linear_model(W, 0.5), tmp_path / "linear.onnx")


def test_smoothgrad_noise_zero_is_the_analytic_gradient(logistic):
    df = _frame(200)
    attr = explain(logistic, df, method="smoothgrad", rows=range(20), target=1, noise_level=0.0)
    x = df.to_numpy()[:20]
    p = 1.0 / (1.0 + np.exp(-(x @ (W / SCALES) + 0.1)))
    expected = (p * (1 - p))[:, None] * (W / SCALES)[None, :]
    assert attr.values.shape == (20, 5)
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert_allclose(attr.values / scale, expected / scale, atol=1e-2)
    nz = np.abs(expected) > 1e-3 * scale
    assert np.all(np.abs(attr.values[nz] - expected[nz]) / np.abs(expected[nz]) < 1e-2)


def test_smoothgrad_interval_covers_and_stein_agrees(logistic):
    df = _frame(300)
    central = explain(logistic, df, method="smoothgrad", rows=range(5), target=1, noise_level=0.05, n_samples=200)
    stein = explain(logistic, df, method="smoothgrad", rows=range(5), target=1, noise_level=0.05, n_samples=4000,
                    estimator="stein")
    assert np.all(central.ci_low <= central.values) and np.all(central.values <= central.ci_high)
    scale = np.abs(central.values).max()
    assert_allclose(stein.values / scale, central.values / scale, atol=0.1)


def test_occlusion_of_a_linear_model_is_coef_times_deviation(linear):
    df = _frame(100)
    model = load_model(linear, output_kind="regression")
    attr = explain(model, df, method="occlusion", rows=slice(0, 10))
    x = df.to_numpy()
    assert_allclose(attr.values, W * (x[:10] - x.mean(axis=0)), rtol=1e-4, atol=1e-4)
    base = np.arange(5.0)
    attr = explain(model, df, method="occlusion", rows=slice(0, 10), baseline=base)
    assert_allclose(attr.values, W * (x[:10] - base), rtol=1e-4, atol=1e-4)


def test_permutation_importance_of_a_linear_model_is_two_coef_squared(linear):
    df = _frame(4000, scales=np.ones(5))
    x = df.to_numpy()
    df = pd.DataFrame((x - x.mean(0)) / x.std(0), columns=df.columns)
    model = load_model(linear, output_kind="regression")
    attr = explain(model, df, method="permutation", n_repeats=3)
    assert attr.values.shape == (1, 5)
    assert_allclose(attr.values[0], 2 * W**2, rtol=0.1, atol=0.02)
    assert np.all(attr.ci_low[0] <= attr.values[0] + 1e-12)


def _lime_package(evaluator, x, rows, targets, seed, n_samples):
    from lime.lime_tabular import LimeTabularExplainer

    ex = LimeTabularExplainer(x, discretize_continuous=True, discretizer="quartile", random_state=seed)
    out = np.zeros((len(rows), x.shape[1]))
    for i, r in enumerate(rows):
        e = ex.explain_instance(x[r], evaluator.predict, labels=(int(targets[i]),),
                                num_features=x.shape[1], num_samples=n_samples)
        for j, w in e.as_map()[int(targets[i])]:
            out[i, j] = w
    return out


def test_lime_agrees_with_the_lime_package():
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    data = ae.load_data(data_path("breast_cancer.csv"), target="target")
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y)
    rows = np.arange(0, 120, 10)
    ours = explain_rows(ev, x, method="lime", rows=rows, n_samples=2000)
    a = _lime_package(ev, x, rows, ours.targets, 1, 2000)
    b = _lime_package(ev, x, rows, ours.targets, 2, 2000)

    def med(p, q):
        return float(np.median([spearmanr(u, v)[0] for u, v in zip(p, q, strict=True)]))

    self_agreement = med(a, b)
    assert med(ours.values, a) >= self_agreement - 0.05
    assert med(ours.values, b) >= self_agreement - 0.05
    # same meaning, same magnitude
    assert_allclose(np.abs(ours.values).mean(), np.abs(a).mean(), rtol=0.15)


def test_lime_backend_runs_the_package(logistic):
    df = _frame(200)
    attr = explain(logistic, df, method="lime", rows=[0, 1], n_samples=300, backend="lime")
    assert attr.values.shape == (2, 5) and np.isnan(attr.ci_low).all()
    assert attr.params["backend"] == "lime"


def test_lime_samples_categoricals_from_training_frequencies():
    df = pd.read_csv(data_path("compas.csv"))
    attr = explain(model_path("compas_pipeline.onnx"), ae.load_data(df, target="two_year_recid",
                   sensitive=["race"]), method="lime", rows=range(4), n_samples=500)
    assert attr.values.shape[0] == 4 and np.isfinite(attr.values).all()
    sg = explain(model_path("compas_pipeline.onnx"), ae.load_data(df.head(300), target="two_year_recid",
                 sensitive=["race"]), method="smoothgrad", rows=range(3), n_samples=5)
    assert sg.params["skipped"]  # categorical features are listed, not differentiated
    skipped = [sg.feature_names.index(n) for n in sg.params["skipped"]]
    assert np.all(sg.values[:, skipped] == 0)


@pytest.mark.parametrize("method,params", [("lime", {"n_samples": 150}), ("smoothgrad", {"n_samples": 4}),
                                           ("occlusion", {"baseline": "sample", "n_samples": 6}),
                                           ("permutation", {"n_repeats": 2})])
def test_batching_does_not_change_results_and_seeds_do(logistic, method, params):
    df = _frame(60)
    model = load_model(logistic)
    data = ae.load_data(df)
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)
    results = []
    for k in (1, 7, 1000):
        ev = LocalEvaluator(model, space, probe_rows=x, max_chunk_bytes=k * space.bytes_per_row())
        rows = range(3) if method != "permutation" or k != 1 else range(3)
        results.append(explain_rows(ev, x[:20] if method == "permutation" else x, method=method, rows=rows,
                                    seed=3, **params))
    for r in results[1:]:
        assert_allclose(r.values, results[0].values, rtol=0, atol=1e-12)
        assert_allclose(r.ci_high, results[0].ci_high, rtol=0, atol=1e-12)
    ev = LocalEvaluator(model, space, probe_rows=x)
    other = explain_rows(ev, x[:20] if method == "permutation" else x, method=method, rows=range(3), seed=4, **params)
    assert not np.allclose(other.values, results[0].values)


def test_a_rows_explanation_does_not_depend_on_the_other_rows(logistic):
    df = _frame(50)
    both = explain(logistic, df, method="lime", rows=[2, 5], n_samples=200, seed=1)
    one = explain(logistic, df, method="lime", rows=[5], n_samples=200, seed=1)
    assert_allclose(one.values[0], both.values[1], atol=1e-12)


@pytest.mark.parametrize("method", ["occlusion", "lime", "smoothgrad"])
def test_image_heatmaps_have_the_image_shape(method):
    x = np.load(data_path("digits.npz"))["x"][:40]
    params = {"n_samples": 300} if method == "lime" else {"n_samples": 5, "estimator": "stein"} if method == "smoothgrad" else {}
    attr = explain(model_path("digits_cnn.onnx"), x, method=method, rows=range(3), **params)
    assert attr.values.shape == (3, 1, 8, 8)
    assert attr.ci_low.shape == attr.ci_high.shape == (3, 1, 8, 8)
    assert len(attr.feature_names) == 64
    assert np.abs(attr.values).sum() > 0


def test_faithfulness_prefers_the_true_ranking(linear):
    from audit_engine.explain.faithfulness import deletion_insertion

    df = _frame(100)
    model = load_model(linear, output_kind="regression")
    data = ae.load_data(df)
    space = FeatureSpace.bind(model, data)
    x = space.encode(data)[:30]
    ev = LocalEvaluator(model, space, probe_rows=x)
    base = x.mean(axis=0)
    truth = W * (x - base)
    aucs = deletion_insertion(ev.predict, x, truth, np.zeros((30, 1), dtype=np.intp), baseline=base, n_steps=5,
                              rng=np.random.default_rng(0))
    assert aucs["deletion_auc"].mean() < aucs["random_deletion_auc"].mean()
    assert aucs["insertion_auc"].mean() > aucs["random_insertion_auc"].mean()


def test_submodular_pick_covers_features():
    w = np.array([[1.0, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 1.0, 0.5], [0, 0, 0.2, 0]])
    picks, importance = submodular_pick(w, n_picks=2, num_features=2)
    assert set(picks.tolist()) == {0, 2} or set(picks.tolist()) == {1, 2}
    assert_allclose(importance, np.sqrt(np.abs(w).sum(axis=0) - np.array([0, 0, 0, 0])), rtol=1e-12)


def test_bad_input_gets_a_clear_error(logistic):
    df = _frame(20)
    with pytest.raises(ConfigError, match="class index"):
        explain(logistic, df, method="lime", rows=[0], target=2)
    with pytest.raises(ConfigError, match=r"\[0, 20\)"):
        explain(logistic, df, method="occlusion", rows=[25])
    with pytest.raises(ConfigError, match="n_samples"):
        explain(logistic, df, method="lime", rows=[0], n_samples=0)
    with pytest.raises(ConfigError, match="Unknown explanation method"):
        explain(logistic, df, method="shap", rows=[0])
    with pytest.raises(ConfigError, match="does not take"):
        explain(logistic, df, method="occlusion", rows=[0], noise_level=0.1)


def test_check_section_validates_and_has_contrastive_view(tmp_path):
    cfg = ae.AuditConfig(target="two_year_recid", sensitive=["race"], checks=("explanations",),
                         explanations={"n_rows": 6, "lime_samples": 300, "smoothgrad_samples": 4})
    result = ae.audit(model_path("compas_pipeline.onnx"), data_path("compas.csv"), config=cfg)
    doc = result.to_dict()
    validate(doc)
    sec = doc["explanations"]
    assert set(sec) == {"lime", "occlusion", "smoothgrad", "permutation"}
    local = sec["lime"]["local"][0]
    assert local["runner_up"]["prediction"] != local["prediction"]
    assert set(sec["lime"]["quality"]) >= {"deletion_auc", "insertion_auc"}
    assert -1 <= sec["lime"]["rank_stability"]["spearman"]["value"] <= 1


def test_check_on_images_stores_heatmaps():
    cfg = ae.AuditConfig(checks=("explanations",), explanations={"n_rows": 4, "lime_samples": 200,
                                                                 "smoothgrad_samples": 4, "heatmap_rows": 2})
    result = ae.audit(model_path("digits_cnn.onnx"), data_path("digits.npz"), config=cfg)
    doc = result.to_dict()
    validate(doc)
    local = doc["explanations"]["occlusion"]["local"]
    assert np.asarray(local[0]["heatmap"]).shape == (1, 8, 8)
    assert "heatmap" not in local[3]


def test_faithfulness_curves_end_where_the_areas_say():
    """Deletion starts at the model's score on the row and ends at the baseline's; the AUC is the curve's area."""
    from audit_engine.explain.faithfulness import deletion_insertion, quality_summary

    w = np.array([2.0, -1.0, 0.5, 0.0])
    predict = lambda rows: np.stack([1 - 1 / (1 + np.exp(-rows @ w)), 1 / (1 + np.exp(-rows @ w))], axis=1)  # noqa: E731
    x = np.array([[1.0, -1.0, 1.0, 3.0], [0.5, 0.2, -1.0, 1.0]])
    attributions = x * w
    out = deletion_insertion(predict, x, attributions, np.ones((2, 1), dtype=np.intp), baseline=np.zeros(4),
                             n_steps=4, rng=np.random.default_rng(0))
    summary = quality_summary(out)
    dele = summary.deletion_curve  # a typed Quality record (audit_engine.results.explanations)
    p = predict(x)[:, 1]
    np.testing.assert_allclose(dele.values[0], p.mean(), atol=1e-12)
    np.testing.assert_allclose(dele.values[-1], 0.5, atol=1e-12)
    np.testing.assert_allclose(np.trapezoid(dele.values, dele.fraction), summary.deletion_auc.value, atol=1e-12)
    assert summary.deletion_auc.value < summary.random_deletion_auc.value
