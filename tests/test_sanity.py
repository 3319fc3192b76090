"""Model-parameter randomisation sanity check (Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import audit_engine as ae
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain import Rows, get_explainer
from audit_engine.explain.sanity import rank_correlation, sanity_check
from audit_engine.model.randomise import randomisable_layers, randomisation_cascade

from .conftest import data_path, model_path


COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _bound(name: str, data: str, target: str):
    model = ae.load_model(model_path(name))
    features = COMPAS_NUMERIC if name.startswith("compas") else None
    audit_data = ae.load_data(data_path(data), target=target, features=features)
    space = FeatureSpace.bind(model, audit_data, features=features)
    rows = space.encode(audit_data)
    ev = LocalEvaluator(model, space, probe_rows=rows, y=audit_data.y)
    return model, space, rows, ev


def test_layers_are_listed_from_the_output_down_and_randomised_with_their_scale():
    proto = onnx.load(model_path("breast_cancer_mlp.onnx"))
    layers = randomisable_layers(proto)
    assert [lay.initializers[0] for lay in layers] == ["coefficient2", "coefficient1", "coefficient"]
    assert layers[0].initializers == ("coefficient2", "intercepts2")
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    steps = list(randomisation_cascade(model, seed=3))
    assert [len(done) for _, done, _ in steps] == [1, 2, 3]
    again = list(randomisation_cascade(model, seed=3))
    x = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
    name = model.session.get_inputs()[0].name
    outs = [m.session.run(None, {name: x})[1] for _, _, m in steps]
    assert np.allclose(outs[0], [m.session.run(None, {name: x})[1] for _, _, m in again][0])  # seeded
    assert not np.allclose(outs[0], model.session.run(None, {name: x})[1])


@pytest.mark.parametrize("name,data,target", [("breast_cancer_mlp.onnx", "breast_cancer.csv", "target"),
                                              ("compas_mlp.onnx", "compas.csv", "two_year_recid")])
def test_model_explanations_pass_and_a_model_blind_explainer_is_flagged(name, data, target):
    model, space, rows, ev = _bound(name, data, target)
    ids = np.arange(0, 80, 10)
    targets = ev.predict(rows[ids]).argmax(axis=1)[:, None]

    def method(m, **params):
        return lambda e: get_explainer(m).explain(e, Rows.select(rows, ids), targets=targets, seed=0,
                                                  params=params).values

    for m, params in (("smoothgrad", {"n_samples": 20}), ("occlusion", {})):
        res = sanity_check(model, space, method(m, **params), method=m, evaluator=ev, seed=0)
        assert len(res.steps) >= 2 and not res.flagged, (m, res.to_dict())
    scale = rows.std(axis=0)
    blind = sanity_check(model, space, lambda e: np.abs(rows[ids] / scale), method="abs_input", evaluator=ev)
    assert blind.flagged
    assert all(s.spearman.value > 0.99 for s in blind.steps)


def test_rank_correlation_is_spearman_of_magnitudes():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    expected = [spearmanr(np.abs(x), np.abs(y))[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(rank_correlation(a, b), expected)


def test_the_explanations_check_reports_the_cascade(tmp_path):
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    data = ae.load_data(data_path("breast_cancer.csv"), target="target")
    cfg = ae.AuditConfig(target="target", checks=["explanations"],
                         explanations={"methods": ["occlusion"], "n_rows": 10, "stability_seeds": 0})
    result = ae.audit(model, data, config=cfg)
    path = tmp_path / "audit.json"
    result.to_json(path)  # validated against the schema
    sanity = result.to_dict()["explanations"]["occlusion"]["sanity"]
    assert [len(s["randomised"]) for s in sanity["steps"]] == [1, 2, 3]
    assert sanity["flagged"] is False and sanity["rows"] == 8
    html = tmp_path / "report.html"
    ae.render(result, html)
    assert "Sanity check" in html.read_text()


def test_bad_sanity_parameters_get_one_sentence():
    model = ae.load_model(model_path("breast_cancer_mlp.onnx"))
    data = ae.load_data(data_path("breast_cancer.csv"), target="target")
    for bad in ({"sanity_check": "yes"}, {"sanity_rows": 0}):
        with pytest.raises(ae.ConfigError, match="sanity"):  # refused by the settings table, before any model call
            cfg = ae.AuditConfig(target="target", checks=["explanations"],
                                 explanations={"methods": ["occlusion"], "n_rows": 4, "stability_seeds": 0, **bad})
            ae.audit(model, data, config=cfg)
