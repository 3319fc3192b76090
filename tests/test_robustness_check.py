"""The ``robustness`` check end to end: opt-in, typed, schema-valid, judged by the policy, rendered.

Oracles: onnxruntime called directly (not through the Evaluator) on rows perturbed by the
pure core's ``perturb`` with the check's random streams; per-group flip rates counted with
pandas and the disparity test recomputed with scipy (``chi2_contingency`` / ``fisher_exact``);
the Wilson interval of the pure core; for the image model, the pure core run directly on
the same sampled rows.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from scipy import stats

import audit_engine as ae
from audit_engine.config import AuditConfig
from audit_engine.policy import Policy
from audit_engine.robustness.perturb import IMAGE, SEVERITIES, perturb, robustness, wilson
from audit_engine.stats import child_rng

from .conftest import FIXTURES, data_path, model_path

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _compas_config(**kw):
    return AuditConfig.from_toml(FIXTURES / "compas_logreg.toml").replace(checks=["robustness"], **kw)


@pytest.fixture(scope="module")
def compas():
    return ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_compas_config())


def _strip(doc):
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k != "created" and k != "seconds" and not k.endswith("_seconds")}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def test_opt_in_only():
    cfg = AuditConfig.from_toml(FIXTURES / "compas_logreg.toml")
    assert "robustness" not in ae.catalog.DEFAULT_CHECKS and "robustness" in ae.catalog.CHECK_NAMES
    assert "robustness" not in cfg.to_dict()  # an empty opt-in table is not recorded
    with pytest.raises(ae.errors.ConfigError, match="robustness"):
        AuditConfig(robustness={"max_row": 10})


def test_compas_audit_validates_and_matches_onnxruntime(compas):
    doc = json.loads(compas.to_json())
    ae.validate(doc)
    bad = json.loads(compas.to_json())
    bad["robustness"]["results"][0]["flip_rate"]["value"] = 1.5  # a share above 1: the schema refuses it
    with pytest.raises(Exception, match="1.5"):
        ae.validate(bad)
    r = compas.robustness
    assert doc["checks"]["robustness"]["status"] == "ran"
    assert r.modality == "tabular" and r.rows == 1000 and r.sampled
    # the logistic regression reads five numeric features: no category to swap, NaN gives NaN
    assert r.kinds == ("jitter",)
    assert set(r.skipped) == {"category_swap", "missing"}
    assert doc["checks"]["robustness.missing"]["status"] == "skipped"
    # oracle: the same sample, perturbed with the check's streams, scored by onnxruntime directly
    frame = pd.read_csv(data_path("compas.csv"))
    x = frame[FEATURES].to_numpy(np.float64)
    take = np.sort(child_rng(0, "robustness", "sample").choice(len(frame), size=1000, replace=False))
    sess = ort.InferenceSession(str(model_path("compas_logreg.onnx")), providers=["CPUExecutionProvider"])

    def p1(rows):
        return sess.run(["probabilities"], {"input": rows.astype(np.float32)})[0][:, 1].astype(np.float64)

    base = p1(x[take])
    race = frame["race"].astype(str).to_numpy()[take]
    for res in r.results:
        moved_rows = perturb("jitter", x[take], res.severity, child_rng(0, "robustness", "jitter", res.level),
                             categorical=np.zeros(5, dtype=bool), reference=x)
        moved = p1(moved_rows)
        flips = (moved >= 0.5) != (base >= 0.5)
        assert res.flip_rate.flips == int(flips.sum()) and res.flip_rate.n == 1000
        low, high = wilson(int(flips.sum()), 1000, 0.95)
        assert res.flip_rate.ci_low == pytest.approx(float(low)) and res.flip_rate.ci_high == pytest.approx(float(high))
        assert res.score_shift.value == pytest.approx(np.abs(moved - base).mean(), abs=1e-6)
        # per group: counted with pandas; the homogeneity test with scipy
        counts = pd.DataFrame({"g": race, "f": flips}).groupby("g")["f"].agg(["sum", "count"])
        for g, row in counts.iterrows():
            assert res.groups["race"][g].flips == row["sum"] and res.groups["race"][g].n == row["count"]
        table = np.stack([counts["sum"].to_numpy(), (counts["count"] - counts["sum"]).to_numpy()]).astype(float)
        if table.sum(axis=1).min() > 0:
            assert res.disparity["race"].p_value == pytest.approx(stats.chi2_contingency(table, correction=False)[1])
        sex = frame["sex"].astype(str).to_numpy()[take]
        tab2 = [[int(flips[sex == g].sum()), int((~flips[sex == g]).sum())] for g in sorted(set(sex))]
        assert res.disparity["sex"].test == "fisher_exact"
        assert res.disparity["sex"].p_value == pytest.approx(stats.fisher_exact(tab2)[1])
    # flip rates grow with the jitter's severity (0.02 → 0.5 of each feature's spread)
    rates = [res.flip_rate.value for res in r.results]
    assert rates[0] < rates[-1]
    top = max((res for res in r.results if res.level == 3), key=lambda res: res.flip_rate.value)
    assert r.flip_rate.value == top.flip_rate.value and r.flip_rate.kind == "jitter"
    assert r.flip_rate.ci_low == top.flip_rate.ci_low


def test_policy_judges_flip_rate(compas):
    value = compas.robustness.flip_rate.value
    assert 0 < value < 0.5
    lenient = Policy.from_dict({"robustness": {"max_flip_rate": 0.5}}, defaults=False).judge(compas)
    strict = Policy.from_dict({"robustness": {"max_flip_rate": value / 2}}, defaults=False).judge(compas)
    (ok,), (bad,) = lenient, strict
    assert ok.status == "pass" and bad.status == "fail"
    assert bad.value == pytest.approx(value) and bad.path == "robustness.flip_rate"
    # the same rule written as a path, and in the audit itself (the config's policy)
    cfg = _compas_config(policy={"robustness": {"max_flip_rate": value / 2}})
    again = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    assert [v.status for v in again.verdicts if v.check == "robustness"] == ["fail"]
    path_rule = Policy.from_dict({"rules": [{"metric": "robustness.flip_rate", "max": 0.5}]}, defaults=False)
    assert [v.status for v in path_rule.judge(compas)] == ["pass"]


def test_render_shows_the_section(compas, tmp_path):
    html = ae.render(compas, tmp_path / "report.html").read_text()
    assert 'id="section-robustness"' in html and "Flip rate" in html and "Most fragile rows" in html
    assert "Do some groups" in html and "Missing values not tested" in html


def test_default_audit_has_no_robustness_section(tmp_path):
    cfg = AuditConfig.from_toml(FIXTURES / "compas_logreg.toml").replace(checks=["performance"])
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    ae.render(result, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert 'id="section-robustness"' not in html and "Robustness" not in html


def test_same_seed_same_audit_json(compas):
    again = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_compas_config())
    assert _strip(again.to_dict()) == _strip(compas.to_dict())
    other = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_compas_config(seed=1))
    assert other.robustness.to_dict() != compas.robustness.to_dict()


def test_missing_values_injected_when_the_model_takes_them():
    cfg = AuditConfig(target="y", checks=["robustness"], robustness={"max_rows": 200})
    result = ae.audit(model_path("imputer_pipeline.onnx"), data_path("imputer.csv"), config=cfg)
    r = result.robustness
    assert "missing" in r.kinds and "missing" not in r.skipped
    ae.validate(result.to_dict())
    # oracle: onnxruntime on the same perturbed rows
    frame = pd.read_csv(data_path("imputer.csv"))
    x = frame[["f0", "f1", "f2", "f3"]].to_numpy(np.float64)
    take = np.sort(child_rng(0, "robustness", "sample").choice(len(frame), size=200, replace=False))
    sess = ort.InferenceSession(str(model_path("imputer_pipeline.onnx")), providers=["CPUExecutionProvider"])

    def p1(rows):
        return sess.run(["probabilities"], {"X": rows.astype(np.float32)})[0][:, 1]

    base = p1(x[take]) >= 0.5
    for res in (q for q in r.results if q.kind == "missing"):
        moved = perturb("missing", x[take], res.severity, child_rng(0, "robustness", "missing", res.level),
                        categorical=np.zeros(4, dtype=bool), reference=x)
        assert np.isnan(moved).sum() > np.isnan(x[take]).sum()
        assert res.flip_rate.flips == int(((p1(moved) >= 0.5) != base).sum())


def test_regression_flips_nothing_and_shifts_scores():
    frame = pd.read_csv(data_path("diabetes.csv"))
    cfg = AuditConfig(target="target", checks=["robustness"], robustness={"max_rows": 200})
    result = ae.audit(model_path("diabetes_linear.onnx"), frame, config=cfg)
    r = result.robustness
    ae.validate(result.to_dict())
    assert "regression" in r.decision
    assert all(x.flip_rate.value == 0 for x in r.results) and r.flip_rate.value == 0
    shifts = [x.score_shift.value for x in r.results if x.kind == "jitter"]
    assert shifts[0] > 0 and shifts[-1] > shifts[0]


def test_image_robustness_equals_the_core_on_the_same_rows():
    cfg = AuditConfig(target="y", checks=["robustness"], robustness={"max_rows": 40})
    result = ae.audit(model_path("digits_cnn.onnx"), data_path("digits.npz"), config=cfg)
    doc = json.loads(result.to_json())
    r = result.robustness
    assert r.modality == "image" and r.kinds == IMAGE and r.rows == 40
    assert len(doc["robustness"]["results"]) == 5 * len(IMAGE)
    x = np.load(data_path("digits.npz"))["x"].astype(np.float64)
    take = np.sort(child_rng(0, "robustness", "sample").choice(x.shape[0], size=40, replace=False))
    sess = ort.InferenceSession(str(model_path("digits_cnn.onnx")), providers=["CPUExecutionProvider"])

    def predict(rows):
        z = sess.run(None, {"image": rows.astype(np.float32)})[0].astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    core = robustness(predict, lambda p: p.argmax(axis=1), x[take], kinds=IMAGE,
                      rng_for=lambda kind, level: child_rng(0, "robustness", kind, level), reference=x,
                      spatial_axes=(2, 3), policy_level=3, row_ids=take)
    for mine, want in zip(r.results, core.results, strict=True):
        assert (mine.kind, mine.level, mine.severity) == (want.kind, want.level, want.severity)
        assert mine.flip_rate.flips == want.flip_rate.flips
        assert mine.score_shift.value == pytest.approx(want.score_shift[0], abs=1e-5)
    assert r.flip_rate.value == pytest.approx(core.max_flip_rate)
    assert [f.row for f in r.fragile_rows][:3] == [i for i, _ in core.fragile_rows][:3]
    # the strongest noise flips more digits than the weakest
    noise = [x.flip_rate.value for x in r.results if x.kind == "noise"]
    assert noise[-1] >= noise[0] and SEVERITIES["noise"][-1] > SEVERITIES["noise"][0]


def test_unknown_kind_is_refused_in_one_sentence():
    cfg = _compas_config(robustness={"kinds": ["blur"]})
    with pytest.raises(ae.errors.ConfigError, match="Unknown robustness kind"):
        ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)


def test_notebook_cards_show_the_flip_rates(compas):
    level = compas.robustness.policy_level
    jitter = next(x for x in compas.robustness.results if x.kind == "jitter" and x.level == level)
    for html in (compas._repr_html_(), compas.robustness._repr_html_()):
        assert "Robustness" in html and f"{jitter.flip_rate.value:.3f}" in html


def test_eu_ai_act_view_cites_the_flip_rate(compas):
    from audit_engine.report.compliance.eu_ai_act import eu_ai_act_document

    doc = eu_ai_act_document(compas)
    rows = [e for item in doc["items"] for e in item["evidence"] if e["source"] == "robustness.flip_rate"]
    assert len(rows) == 1 and rows[0]["value"] == pytest.approx(compas.robustness.flip_rate.value)
    assert not any("not tested by this audit" in m and "perturbation" in m
                   for item in doc["items"] for m in item.get("not_evidenced", []))
