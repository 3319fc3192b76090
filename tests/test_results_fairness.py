"""Typed performance and fairness results: typed access, fairlearn-style frames, round trips,
and the report sections / model card that read them (meaning, not bytes)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import jsonschema
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from numpy.testing import assert_allclose
from sklearn.metrics import accuracy_score

import audit_engine as ae
from audit_engine.fairness.analysis import fairness_report
from audit_engine.fairness.counts import group_counts, group_sums
from audit_engine.report.blocks import Chart, Figures, Table
from audit_engine.report.compliance.model_card_document import model_card_document, validate_model_card
from audit_engine.report.format import _Ids
from audit_engine.report.render import build_view, render
from audit_engine.report.sections import fairness as fairness_section
from audit_engine.report.sections import performance as performance_section
from audit_engine.result import AuditResult, validate
from audit_engine.results.fairness import AttributeFairness, FairnessResult, GapEstimate, GroupRates
from audit_engine.results.performance import MIN_BIN_ROWS, Calibration, PerformanceResult
from audit_engine.stats import Estimate

from .conftest import ROOT, data_path, model_path

TOL = 1e-9
COMPAS = dict(target="two_year_recid", sensitive=("race", "sex"),
              features=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"))


@pytest.fixture(scope="module")
def compas():
    cfg = ae.AuditConfig(**COMPAS, n_bootstrap=60, favorable_label=1, checks=("performance", "fairness"))
    return ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)


@pytest.fixture(scope="module")
def compas_frame():
    return pd.read_csv(data_path("compas.csv"))


def _oracle(result, frame):
    """y, pred (positive prediction at the threshold) of the audited rows, as fairlearn sees them."""
    y = (frame["two_year_recid"].to_numpy() == 1).astype(int)
    model = ae.load_model(model_path("compas_logreg.onnx"))
    ctx = ae.prepare(model, frame, config=ae.AuditConfig(**COMPAS, n_bootstrap=0))
    pred = (ctx.predicted_index == ctx.positive_index).astype(int)
    return y, pred


# ------------------------------------------------------------------ typed access and round trips
def test_fresh_audit_sections_are_typed_and_round_trip(compas):
    assert isinstance(compas.performance, PerformanceResult)
    assert isinstance(compas.fairness, FairnessResult)
    race = compas.fairness["race"]
    assert isinstance(race, AttributeFairness) and isinstance(race.groups["Caucasian"], GroupRates)
    assert isinstance(race.metrics["demographic_parity_difference"], GapEstimate)
    assert isinstance(compas.performance.metrics["roc_auc"], Estimate)
    doc = compas.to_dict()
    validate(doc)
    again = AuditResult.from_dict(json.loads(json.dumps(doc)))
    assert again.to_dict() == doc
    assert again.unknown_keys() == []
    assert again.fairness == compas.fairness and again.performance == compas.performance
    # supports_gap survives the round trip although the test level is not in the section
    for view in compas.fairness.values():
        for name, est in view.metrics.items():
            assert again.fairness[view.attributes[0] if len(view.attributes) == 1 else "*".join(view.attributes)] \
                .metrics[name].supports_gap == est.supports_gap


def test_by_group_is_a_fairlearn_style_frame(compas, compas_frame):
    y, pred = _oracle(compas, compas_frame)
    race = compas.fairness["race"]
    frame = race.by_group
    assert list(frame.index) == list(race.groups)
    assert {"n", "selection_rate", "selection_rate_ci_low", "selection_rate_ci_high", "tpr", "fpr"} <= set(frame.columns)
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                              "accuracy": accuracy_score},
                     y_true=y, y_pred=pred, sensitive_features=compas_frame["race"].astype(str))
    for group, row in mf.by_group.iterrows():
        for metric in mf.by_group.columns:
            assert_allclose(frame.loc[group, metric], row[metric], atol=TOL, err_msg=f"{group} {metric}")
        assert frame.loc[group, "n"] == int((compas_frame["race"].astype(str) == group).sum())
    assert (frame["selection_rate_ci_low"] <= frame["selection_rate"]).all()
    assert (frame["selection_rate"] <= frame["selection_rate_ci_high"]).all()


def test_to_frame_tables(compas):
    perf = compas.performance.to_frame()
    assert list(perf.columns) == ["metric", "class", "value", "ci_low", "ci_high"]
    assert set(perf["metric"]) == set(compas.performance.metrics)
    gaps = compas.fairness["sex"].to_frame()
    assert list(gaps["metric"]) == list(compas.fairness["sex"].metrics)
    assert {"p_value", "supports_gap", "reference_value"} <= set(gaps.columns)
    stacked = compas.fairness.to_frame()
    assert set(stacked["attribute"]) == set(compas.fairness) and len(stacked) == sum(len(v.metrics) for v in compas.fairness.values())


def test_pandas_is_imported_only_for_frames():
    code = ("import sys, json; from audit_engine.result import AuditResult; "
            "r = AuditResult.from_json('reports/compas/audit.json'); r.fairness['race'].groups; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", ["multiclass", "regression", "unlabeled"])
def test_other_layouts_round_trip(kind):
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "h": rng.choice(["x", "y"], n)})
    if kind == "multiclass":
        counts = group_counts(rng.integers(0, 3, n), rng.integers(0, 3, n), frame, n_classes=3)
        report = fairness_report(counts, positive_index=None, favorable_index=0, n_boot=20, rng=0)
    elif kind == "regression":
        report = fairness_report(group_sums(rng.normal(size=n), rng.normal(size=n), frame), n_boot=20, rng=0)
    else:
        counts = group_counts(None, rng.random(n) < 0.4, frame, scores=rng.random(n))
        report = fairness_report(counts, n_boot=20, rng=0)
    assert isinstance(report, FairnessResult)
    doc = json.loads(json.dumps(report.to_dict()))
    again = FairnessResult.from_dict(doc)
    assert again.to_dict() == doc and again.unknown_keys() == []
    assert again == report
    assert len(again["g"].by_group) == 3
    blocks = fairness_section.fairness_blocks(again, _Ids())  # the section reads every layout
    for table in _tables(blocks):
        _assert_every_number_has_interval_or_reason(table)


# ------------------------------------------------------------------ report meaning
def _tables(blocks):
    return [b for b in blocks if isinstance(b, Table)]


def _charts(blocks):
    out = []
    for b in blocks:
        out += b.charts if isinstance(b, Figures) else [b] if isinstance(b, Chart) else []
    return out


_COUNT_COLUMNS = {"n", "Rows", "Number of applicants", "Share of data"}


def _assert_every_number_has_interval_or_reason(table: Table):
    for row in table.rows:
        for column, cell in zip(table.columns, row, strict=True):
            if "num" in cell.cls.split() and column not in _COUNT_COLUMNS and "(point value)" not in column:
                assert cell.sub, f"{column}: {cell.text} has neither an interval nor a reason"


def test_fairness_section_shows_each_thing_once_with_counts(compas):
    blocks = fairness_section.section_blocks(compas, _Ids())
    tables = _tables(blocks)
    gap_tables = [t for t in tables if t.columns[0] == "Gap"]
    group_tables = [t for t in tables if t.columns[:2] == ["Group", "n"]]
    assert len(gap_tables) == len(compas.fairness) and len(group_tables) == 2 * len(compas.fairness)
    assert max(len(t.columns) for t in group_tables) <= 6  # fits a printed page
    for t in gap_tables:
        names = [r[0].text for r in t.rows]
        assert len(names) == len(set(names))
        assert "Impact ratio" not in names or "Demographic parity ratio" not in names
        columns = [[(c.text, c.sub) for c in col] for col in zip(*t.rows, strict=True)]
        assert len(columns) == len({tuple(c) for c in columns}), "two columns show the same numbers"
    sex = gap_tables[list(compas.fairness).index("sex")]
    assert len(compas.fairness["sex"].groups) == 2 and "Between the two groups" in sex.columns
    assert not any(c.startswith("To the reference") for c in sex.columns)
    for t in tables:
        _assert_every_number_has_interval_or_reason(t)
    for t in group_tables:
        assert all(r[1].text.replace(",", "").isdigit() for r in t.rows)
    per_group = [c for c in _charts(blocks) if "by group" in c.title or "Selection rate across" in c.title]
    assert per_group
    for chart in per_group:
        labels = chart.data.get("labels") or list(chart.data.get("series", {}))
        assert labels and all("(n = " in str(lab) for lab in labels)
    text = " ".join(getattr(b, "text", "") for b in blocks)
    assert "_" not in text  # humane text: no snake_case keys


def test_performance_section_intervals_and_sparse_bins(compas):
    blocks = performance_section.section_blocks(compas, _Ids())
    metrics = _tables(blocks)[0]
    for row in metrics.rows:
        assert row[2].text and row[2].text != "—", f"{row[0].text} has no interval and no reason"
    cal = Calibration(bins=tuple(np.linspace(0, 1, 5)), mean_predicted=(0.1, 0.3, 0.6, 0.9), observed=(0.0, 0.5, 0.6, 1.0),
                      count=(3, 40, 0, 12))
    chart, table = performance_section.calibration_blocks(cal, _Ids())
    assert chart.data["observed"] == [None, 0.5, None, 1.0]  # the 3-row bin is not drawn as a reliable point
    assert chart.data["count"] == [3, 40, 0, 12]
    notes = [r[4].text for r in table.rows]
    assert notes[0] == f"under {MIN_BIN_ROWS} rows: not drawn" and notes[2] == "empty" and notes[1] == notes[3] == ""
    assert [r[1].text for r in table.rows] == ["3", "40", "0", "12"]


def test_bias_audit_and_model_card_views(compas):
    bias = build_view(compas, template="bias-audit")
    for section in bias.sections[1:]:
        for t in _tables(section.blocks):
            _assert_every_number_has_interval_or_reason(t)
    card = build_view(compas, template="model-card")
    quant = next(s for s in card.sections if s.key == "quantitative")
    tables = _tables(quant.blocks)
    assert len(tables) == len(compas.fairness)
    assert tables[0].columns == ["Group", "n", "Accuracy", "Selection rate", "True positive rate", "False positive rate"]
    for t in tables:
        _assert_every_number_has_interval_or_reason(t)


# ------------------------------------------------------------------ model_card.json
def test_model_card_json_is_schema_valid_and_equals_fairlearn(compas, compas_frame):
    doc = json.loads(json.dumps(model_card_document(compas), allow_nan=False))
    validate_model_card(doc)
    y, pred = _oracle(compas, compas_frame)
    rows = [r for r in doc["quantitative_analyses"]["disaggregated"] if r["attribute"] == "race*sex"]
    sf = compas_frame[["race", "sex"]].astype(str)
    mf = MetricFrame(metrics={"accuracy": accuracy_score, "selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate}, y_true=y, y_pred=pred, sensitive_features=sf)
    assert len(rows) == len(mf.by_group)
    by_group = {r["group"]: r for r in rows}
    for key, oracle in mf.by_group.iterrows():
        got = by_group["*".join(key)]
        assert got["n"] == int(((sf["race"] == key[0]) & (sf["sex"] == key[1])).sum())
        for metric, value in oracle.items():
            est = got["metrics"][metric]
            assert_allclose(est["value"], value, atol=TOL, err_msg=f"{key} {metric}")
            assert est["ci_low"] <= est["value"] <= est["ci_high"]
    perf = {m["type"]: m for m in doc["metrics"]["performance_metrics"]}
    assert_allclose(perf["accuracy"]["value"], accuracy_score(y, pred), atol=TOL)
    broken = json.loads(json.dumps(doc))
    del broken["quantitative_analyses"]["disaggregated"][0]["n"]
    with pytest.raises(jsonschema.ValidationError):
        validate_model_card(broken)


def test_model_card_json_is_written_beside_the_html(compas, tmp_path):
    render(compas, tmp_path / "card.html", template="model-card")
    doc = json.loads((tmp_path / "model_card.json").read_text(encoding="utf-8"))
    validate_model_card(doc)
    assert doc["model_details"]["file"]["sha256"] == compas.model.sha256
    render(compas, tmp_path / "report.html")  # the other views write no twin
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.html", "model_card.json", "report.html"]


def test_model_card_without_fairness_says_why(tmp_path):
    cfg = ae.AuditConfig(target="two_year_recid", features=COMPAS["features"], n_bootstrap=0, checks=("performance",))
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    doc = model_card_document(result)
    validate_model_card(json.loads(json.dumps(doc)))
    assert doc["quantitative_analyses"]["status"] in ("skipped", "absent")
    assert doc["quantitative_analyses"]["reason"] and doc["quantitative_analyses"]["disaggregated"] == []
    assert math.isfinite(doc["metrics"]["performance_metrics"][0]["value"])


def test_cli_render_writes_the_twin_and_guards_a_foreign_file(tmp_path):
    cmd = [sys.executable, "-m", "audit_engine", "render", "reports/compas/audit.json", "--template", "model-card",
           "--out", str(tmp_path / "card.html")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    validate_model_card(json.loads((tmp_path / "model_card.json").read_text(encoding="utf-8")))
    other = tmp_path / "other"
    other.mkdir()
    (other / "model_card.json").write_text("{}", encoding="utf-8")  # a file audit-engine did not write
    cmd[-1] = str(other / "card.html")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "model_card.json" in done.stderr
    assert (other / "model_card.json").read_text(encoding="utf-8") == "{}" and not (other / "card.html").exists()
