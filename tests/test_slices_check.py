"""The ``slices`` check end to end: opt-in, typed, schema-valid, judged by the policy, rendered.

Oracles: the model's decisions from onnxruntime called directly; each reported slice's rows
recounted with pandas from its predicates' text, its one-sided p-value recomputed with
scipy's ``fisher_exact(alternative="greater")``, the BH adjustment with statsmodels'
``multipletests(method="fdr_bh")`` on the family's size; the per-row losses against
scikit-learn's ``log_loss`` / ``mean_absolute_error``; the pure core's ``search`` on a frame
built independently from the CSV.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import log_loss, mean_absolute_error

import audit_engine as ae
from audit_engine.config import AuditConfig
from audit_engine.policy import Policy
from audit_engine.slices.search import predicates, search

from .conftest import FIXTURES, data_path, model_path

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _config(**kw):
    return AuditConfig.from_toml(FIXTURES / "compas_logreg.toml").replace(**{"checks": ["slices"], **kw})


@pytest.fixture(scope="module")
def compas():
    return ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config())


def _p1(x):
    sess = ort.InferenceSession(str(model_path("compas_logreg.onnx")), providers=["CPUExecutionProvider"])
    return sess.run(["probabilities"], {"input": x.astype(np.float32)})[0][:, 1].astype(np.float64)


def _mask(frame: pd.DataFrame, predicate: str) -> np.ndarray:
    """Rows of ``frame`` meeting one predicate, read from its text (the oracle of the predicate names)."""
    m = re.fullmatch(r"(.+) in ([\[(])([-\d.e]+), ([-\d.e]+)([\])])", predicate)
    if m:
        col, _, lo, hi, right = m.groups()
        v = frame[col].to_numpy(np.float64)
        return (v >= float(lo)) & ((v <= float(hi)) if right == "]" else (v < float(hi)))
    col, _, cat = predicate.partition(" = ")
    return (frame[col].astype(str) == cat).to_numpy()


def test_compas_slices_validate_and_agree_with_scipy(compas):
    doc = json.loads(compas.to_json())
    ae.validate(doc)
    s = compas.slices
    assert doc["checks"]["slices"]["status"] == "ran"
    assert s.columns == (*FEATURES, "race", "sex") and s.loss == "error" and s.loss_kind == "binary"
    assert not s.sampled and s.rows == 5000 and s.tested == sum(s.tested_per_level)
    assert s.discovered >= len(s.slices) > 0
    frame = pd.read_csv(data_path("compas.csv"))
    errors = ((_p1(frame[FEATURES].to_numpy()) >= 0.5).astype(int) != frame["two_year_recid"].to_numpy()).astype(float)
    assert s.mean_loss == pytest.approx(errors.mean())
    for w in s.slices:
        mask = np.logical_and.reduce([_mask(frame, p) for p in w.predicates])
        assert w.size == int(mask.sum())
        assert w.loss == pytest.approx(errors[mask].mean()) and w.rest_loss == pytest.approx(errors[~mask].mean())
        assert w.effect.value == pytest.approx(w.loss - w.rest_loss)
        assert w.effect.ci_low < w.effect.value < w.effect.ci_high
        table = [[errors[mask].sum(), (1 - errors[mask]).sum()], [errors[~mask].sum(), (1 - errors[~mask]).sum()]]
        assert w.p_value == pytest.approx(stats.fisher_exact(table, alternative="greater")[1], rel=1e-6)
        assert w.p_adjusted <= s.fdr and w.p_adjusted >= w.p_value
    # the gap the policy reads: at least the largest reported effect (it looks at every discovered slice)
    assert s.slice_error_gap.value >= max(w.effect.value for w in s.slices)
    assert s.largest.effect == s.slice_error_gap
    mask = np.logical_and.reduce([_mask(frame, p) for p in s.largest.predicates])
    assert s.largest.size == int(mask.sum()) and s.largest.loss == pytest.approx(errors[mask].mean())
    # the schema checks the section: a negative size or a p-value above 1 is refused
    for broken in ({"size": -1}, {"p_adjusted": 1.5}):
        bad = json.loads(compas.to_json())
        bad["slices"]["largest"].update(broken)
        with pytest.raises(Exception, match="slices|largest|size|p_adjusted|-1|1.5"):
            ae.validate(bad)


def test_the_check_equals_the_core_on_an_independent_frame(compas):
    frame = pd.read_csv(data_path("compas.csv"))
    errors = ((_p1(frame[FEATURES].to_numpy()) >= 0.5).astype(int) != frame["two_year_recid"].to_numpy()).astype(float)
    cols = frame[FEATURES].copy()
    cols["race"], cols["sex"] = frame["race"].astype(str), frame["sex"].astype(str)
    preds = predicates(cols)
    want = search(preds, errors)
    assert compas.slices.tested == want.tested and compas.slices.discovered == want.discovered
    assert compas.slices.predicates == len(preds.names)
    assert [w.predicates for w in compas.slices.slices] == [x.predicates for x in want.slices]
    assert [w.p_adjusted for w in compas.slices.slices] == pytest.approx([x.p_adjusted for x in want.slices])
    assert compas.slices.interval_level == pytest.approx(want.interval_level)
    # slice_error_gap: the largest effect among EVERY discovered slice (all reported when top_k is huge)
    every = search(preds, errors, top_k=10**6)
    assert len(every.slices) == every.discovered > len(compas.slices.slices)
    big = max(every.slices, key=lambda x: x.effect)
    gap = compas.slices.slice_error_gap
    assert (gap.value, gap.ci_low, gap.ci_high) == pytest.approx((big.effect, big.ci_low, big.ci_high))


def test_bh_adjustment_agrees_with_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    frame = pd.read_csv(data_path("compas.csv"))
    errors = ((_p1(frame[FEATURES].to_numpy()) >= 0.5).astype(int) != frame["two_year_recid"].to_numpy()).astype(float)
    cols = frame[FEATURES].copy()
    cols["race"] = frame["race"].astype(str)
    found = search(predicates(cols), errors, max_level=1, top_k=1000)
    # level 1 only: the family is every predicate of at least min_size rows; recompute its p-values by scipy
    preds = predicates(cols)
    sizes = preds.masks.sum(axis=0)
    keep = (sizes >= found.min_size) & (sizes <= len(errors) - found.min_size)
    p = []
    for j in np.flatnonzero(keep):
        m = preds.masks[:, j]
        table = [[errors[m].sum(), (1 - errors[m]).sum()], [errors[~m].sum(), (1 - errors[~m]).sum()]]
        p.append(stats.fisher_exact(table, alternative="greater")[1])
    adjusted = dict(zip([preds.names[j] for j in np.flatnonzero(keep)], multipletests(p, method="fdr_bh")[1]))
    assert found.tested == len(p)
    for w in found.slices:
        assert w.p_adjusted == pytest.approx(adjusted[w.predicates[0]], rel=1e-6)


def test_policy_judges_slice_error_gap(compas):
    gap = compas.slices.slice_error_gap.value
    assert gap > 0
    (ok,) = Policy.from_dict({"slices": {"max_slice_error_gap": 0.5}}, defaults=False).judge(compas)
    (bad,) = Policy.from_dict({"slices": {"max_slice_error_gap": gap / 2}}, defaults=False).judge(compas)
    assert ok.status == "pass" and bad.status == "fail" and bad.value == pytest.approx(gap)
    assert bad.path == "slices.slice_error_gap"
    # the verdict's interval is the FCR-adjusted one, and says its own level (not the audit's 95%)
    assert bad.confidence == pytest.approx(compas.slices.interval_level) and bad.confidence > 0.95
    assert (bad.ci_low, bad.ci_high) == (compas.slices.slice_error_gap.ci_low, compas.slices.slice_error_gap.ci_high)
    (path,) = Policy.from_dict({"rules": [{"metric": "slices.slice_error_gap", "max": 0.5}]}, defaults=False).judge(compas)
    assert path.status == "pass" and path.confidence == pytest.approx(compas.slices.interval_level)
    cfg = _config(policy={"slices": {"max_slice_error_gap": gap / 2}})
    again = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    assert [v.status for v in again.verdicts if v.check == "slices"] == ["fail"]


def test_nothing_discovered_means_a_zero_gap():
    # a huge min_size leaves no slice to test: nothing discovered, the gap is 0 and the policy passes
    cfg = _config(slices={"min_size": 2400, "max_level": 1})
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    s = result.slices
    ae.validate(result.to_dict())
    assert s.discovered == 0 and s.slices == () and s.slice_error_gap.value == 0
    (v,) = Policy.from_dict({"slices": {"max_slice_error_gap": 0.01}}, defaults=False).judge(result)
    assert v.status == "pass"


def test_log_loss_and_regression_losses():
    cfg = _config(slices={"metric": "log_loss"})
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    frame = pd.read_csv(data_path("compas.csv"))
    p = _p1(frame[FEATURES].to_numpy())
    assert result.slices.loss == "log_loss" and result.slices.loss_kind == "continuous"
    assert result.slices.mean_loss == pytest.approx(log_loss(frame["two_year_recid"], p), rel=1e-5)
    ae.validate(result.to_dict())
    diabetes = pd.read_csv(data_path("diabetes.csv"))
    reg = ae.audit(model_path("diabetes_linear.onnx"), diabetes,
                   config=AuditConfig(target="target", checks=["slices"], slices={"max_level": 2}))
    sess = ort.InferenceSession(str(model_path("diabetes_linear.onnx")), providers=["CPUExecutionProvider"])
    pred = sess.run(None, {"input": diabetes.drop(columns="target").to_numpy(np.float32)})[0][:, 0]
    assert reg.slices.loss == "absolute_error"
    assert reg.slices.mean_loss == pytest.approx(mean_absolute_error(diabetes["target"], pred), rel=1e-5)
    ae.validate(reg.to_dict())


def test_render_says_how_p_values_were_adjusted(compas, tmp_path):
    html = ae.render(compas, tmp_path / "report.html").read_text()
    s = compas.slices
    assert 'id="section-slices"' in html
    assert f"Benjamini–Hochberg adjusted over the {s.tested:,} slices tested" in html
    assert "false-coverage-rate adjusted" in html and s.slices[0].predicates[0] in html


def test_same_seed_same_audit_json(compas):
    again = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config())
    a, b = again.to_dict(), compas.to_dict()
    assert a["slices"] == b["slices"] and a["verdicts"] == b["verdicts"]


def test_needs_a_target():
    cfg = AuditConfig(sensitive=["race"], features=FEATURES, checks=["slices"])
    frame = pd.read_csv(data_path("compas.csv")).drop(columns="two_year_recid")
    result = ae.audit(model_path("compas_logreg.onnx"), frame, config=cfg)
    assert result.checks["slices"].status == "skipped" and "target" in result.checks["slices"].reason


def test_streamed_data_runs_on_the_hashed_sample(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "compas.parquet"
    pd.read_csv(data_path("compas.csv")).to_parquet(path)
    cfg = _config(stream=True, sample_rows=2000, fairness={"chunk_rows": 1500}, checks=["slices", "robustness"],
                  robustness={"max_rows": 300})
    result = ae.audit(model_path("compas_logreg.onnx"), path, config=cfg)
    s = result.slices
    assert s.sampled and s.rows == 2000 and any("hashed sample" in n for n in s.notes)
    assert result.data.rows == 5000
    assert {"slices", "robustness"} <= set(result.to_dict()["data"]["stream"]["sampled_checks"])
    assert result.robustness.rows == 300 and result.robustness.sampled
    ae.validate(result.to_dict())


def test_notebook_cards_show_the_slices(compas):
    first = " AND ".join(compas.slices.slices[0].predicates)
    for html in (compas._repr_html_(), compas.slices._repr_html_()):
        assert "slices discovered" in html and first.replace("&", "&amp;") in html


def test_cli_runs_both_opt_in_checks(tmp_path):
    from audit_engine.cli import main

    out = tmp_path / "out"
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(FIXTURES / "compas_logreg.toml"), "--checks", "robustness", "slices",
                 "--out", str(out)])
    doc = json.loads((out / "audit.json").read_text())
    assert code == 0 and doc["checks"]["robustness"]["status"] == "ran" and doc["checks"]["slices"]["status"] == "ran"
    assert set(doc["checks"]) >= {"robustness", "slices"} and "performance" not in doc["checks"]
    html = (out / "report.html").read_text()
    assert 'id="section-robustness"' in html and 'id="section-slices"' in html
    assert main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--checks", "slice", "--out", str(tmp_path / "bad")]) == 2


def test_eu_ai_act_view_cites_the_slices(compas):
    from audit_engine.report.compliance.eu_ai_act import eu_ai_act_document

    doc = eu_ai_act_document(compas)
    rows = {e["source"]: e for item in doc["items"] for e in item["evidence"] if e["source"].startswith("slices.")}
    assert rows["slices.discovered"]["value"] == compas.slices.discovered
    assert rows["slices.slice_error_gap"]["value"] == pytest.approx(compas.slices.slice_error_gap.value)


def _recount(frame: pd.DataFrame, loss: np.ndarray, record) -> int:
    """Every reported slice's size and mean loss, recounted with pandas from its predicate text."""
    checked = 0
    for s in record.slices:
        m = np.logical_and.reduce([_mask(frame, p) for p in s.predicates])
        assert s.size == int(m.sum())
        assert np.isclose(s.loss, loss[m].mean()) and np.isclose(s.rest_loss, loss[~m].mean())
        checked += 1
    return checked


def test_text_slices_read_the_texts_length_and_the_groups():
    """Oracle: onnxruntime on feeds built with ``tokenizers`` in the test (errors per row), word counts
    with str.split, pandas for the slices."""
    from .test_text import TEXT_MODEL, TOK, _direct_feeds, _session, _softmax

    frame = pd.read_csv(data_path("reviews.csv"))
    cfg = AuditConfig(target="label", sensitive=("group",), tokenizer=str(TOK), checks=("slices",),
                      slices={"min_size": 20, "fdr": 0.999, "top_k": 1000, "max_level": 2})
    result = ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=cfg)
    ae.validate(json.loads(result.to_json()))
    rec = result.slices
    assert rec is not None and rec.columns[0] == "text length (words)" and "group" in rec.columns
    assert "text" not in rec.columns  # each text would be its own category
    out = _session(TEXT_MODEL).run(None, _direct_feeds(frame["text"].astype(str).tolist()))[0]
    proba = _softmax(out) if (out.min() < 0 or not np.allclose(out.sum(axis=1), 1, atol=1e-4)) else out
    errors = (proba.argmax(axis=1) != frame["label"].to_numpy()).astype(float)
    oracle = pd.DataFrame({"text length (words)": frame["text"].astype(str).str.split().str.len(),
                           "group": frame["group"].astype(str)})
    assert np.isclose(rec.mean_loss, errors.mean())
    assert rec.tested > 5
    assert _recount(oracle, errors, rec) == len(rec.slices) > 0  # a loose FDR: most slices tested are reported


def test_image_slices_read_brightness_and_contrast():
    """Oracle: onnxruntime on the images (log loss per row: the CNN errs too rarely for error slices),
    numpy for each image's mean and spread, pandas for the slices."""
    from .test_text import _softmax

    arrays = np.load(data_path("digits.npz"))
    x, y = arrays["x"], arrays["y"]
    cfg = AuditConfig(checks=("slices",), slices={"metric": "log_loss", "min_size": 30, "fdr": 0.999, "top_k": 1000,
                                                  "max_level": 2})
    result = ae.audit(model_path("digits_cnn.onnx"), data_path("digits.npz"), config=cfg)
    ae.validate(json.loads(result.to_json()))
    rec = result.slices
    assert rec.columns == ("image brightness (mean pixel)", "image contrast (pixel standard deviation)")
    sess = ort.InferenceSession(str(model_path("digits_cnn.onnx")), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0].astype(np.float64)
    proba = out if (out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-4)) else _softmax(out)
    loss = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))
    flat = x.reshape(len(x), -1).astype(np.float64)
    oracle = pd.DataFrame({"image brightness (mean pixel)": flat.mean(axis=1),
                           "image contrast (pixel standard deviation)": flat.std(axis=1)})
    assert rec.loss == "log_loss" and np.isclose(rec.mean_loss, loss.mean(), rtol=1e-4)
    assert rec.tested > 5
    assert _recount(oracle, loss, rec) == len(rec.slices) > 0
