"""Group fairness: fairlearn as the oracle, additivity, bootstrap reproducibility, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from numpy.testing import assert_allclose
from sklearn.metrics import accuracy_score, precision_score, recall_score

import audit_engine
from audit_engine.audit import prepare
from audit_engine.config import AuditConfig
from audit_engine.errors import AuditEngineError, ColumnError, ConfigError, InvalidValueError
from audit_engine.fairness import check
from audit_engine.fairness.analysis import fairness_report
from audit_engine.fairness.counts import GroupCounts, group_counts, group_sums
from audit_engine.result import validate

from .conftest import FIXTURES, data_path, model_path

TOL = 1e-9
COMPAS_FEATURES = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")


def _config(**kw) -> AuditConfig:
    base = dict(target="two_year_recid", sensitive=("race", "sex"), features=COMPAS_FEATURES, n_bootstrap=200)
    base.update(kw)
    return AuditConfig(**base)


# The fairlearn oracle takes every group as it is: no small-group exclusion, and the
# positive prediction as the selection (fairlearn's pos_label = 1).
_ALL_GROUPS = {"min_group_size": 1, "min_class_rows": 1}


@pytest.fixture(scope="module")
def logreg_ctx():
    return prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"),
                   config=_config(favorable_label=1, fairness=_ALL_GROUPS))


@pytest.fixture(scope="module")
def pipeline_ctx():
    cfg = AuditConfig(target="two_year_recid", sensitive=("race", "sex"), n_bootstrap=200, favorable_label=1,
                      fairness=_ALL_GROUPS)
    return prepare(model_path("compas_pipeline.onnx"), data_path("compas.csv"), config=cfg)


def _binary(ctx):
    y = (ctx.y_index == ctx.positive_index).astype(int)
    pred = (ctx.predicted_index == ctx.positive_index).astype(int)
    return y, pred


def _precision(y, p):
    return precision_score(y, p, zero_division=np.nan)


ORACLE_RATES = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "tnr": true_negative_rate,
    "accuracy": accuracy_score,
}


@pytest.mark.parametrize("which", ["logreg_ctx", "pipeline_ctx"])
def test_every_group_figure_and_gap_equals_fairlearn(which, request):
    ctx = request.getfixturevalue(which)
    section = check.run(ctx).section.to_dict()
    y, pred = _binary(ctx)
    sens = ctx.data.sensitive
    for view, columns in (("race", ["race"]), ("sex", ["sex"]), ("race*sex", ["race", "sex"])):
        sf = sens[columns] if len(columns) > 1 else sens[columns[0]]
        mf = MetricFrame(metrics=ORACLE_RATES, y_true=y, y_pred=pred, sensitive_features=sf)
        groups = section[view]["groups"]
        assert len(groups) == len(mf.by_group)
        for key, row in mf.by_group.iterrows():
            label = "*".join(key) if isinstance(key, tuple) else str(key)
            mask = np.all([sens[c].to_numpy() == v for c, v in zip(columns, key if isinstance(key, tuple) else (key,))], axis=0)
            assert groups[label]["n"] == int(mask.sum())
            for rate in ORACLE_RATES:
                assert_allclose(groups[label][rate], row[rate], rtol=0, atol=TOL, err_msg=f"{view} {label} {rate}")
            assert_allclose(groups[label]["precision"], _precision(y[mask], pred[mask]), rtol=0, atol=TOL)
            assert_allclose(groups[label]["base_rate"], y[mask].mean(), rtol=0, atol=TOL)
        metrics = section[view]["metrics"]
        oracle = {
            "demographic_parity_difference": demographic_parity_difference(y, pred, sensitive_features=sf),
            "demographic_parity_ratio": demographic_parity_ratio(y, pred, sensitive_features=sf),
            "equalized_odds_difference": equalized_odds_difference(y, pred, sensitive_features=sf),
            "equalized_odds_ratio": equalized_odds_ratio(y, pred, sensitive_features=sf),
            "equal_opportunity_difference": equal_opportunity_difference(y, pred, sensitive_features=sf),
            "accuracy_difference": mf.difference()["accuracy"],
            "false_positive_rate_ratio": mf.ratio()["fpr"],
            "false_negative_rate_difference": mf.difference()["fnr"],
        }
        for name, value in oracle.items():
            assert_allclose(metrics[name]["value"], value, rtol=0, atol=TOL, err_msg=f"{view} {name}")
        prec = MetricFrame(metrics=_precision, y_true=y, y_pred=pred, sensitive_features=sf)
        assert_allclose(metrics["predictive_parity_difference"]["value"], prec.difference(), rtol=0, atol=TOL)
        # impact ratio = selection rate / the most-selected group's
        sel = mf.by_group["selection_rate"]
        for key, value in sel.items():
            label = "*".join(key) if isinstance(key, tuple) else str(key)
            assert_allclose(section[view]["impact_ratios"][label], value / sel.max(), rtol=0, atol=TOL)
        # gaps to the reference group (default: the largest)
        ref = section[view]["reference_group"]
        counts = {("*".join(k) if isinstance(k, tuple) else str(k)): groups["*".join(k) if isinstance(k, tuple) else str(k)]["n"] for k in sel.index}
        assert ref == max(counts, key=counts.get)
        ref_sel = groups[ref]["selection_rate"]
        want = max(abs(g["selection_rate"] - ref_sel) for lab, g in groups.items() if lab != ref)
        assert_allclose(section[view]["reference_metrics"]["demographic_parity_difference"]["value"], want, rtol=0, atol=TOL)


def test_mean_score_and_calibration_match_direct_computation(logreg_ctx):
    section = check.run(logreg_ctx).section.to_dict()
    y, _ = _binary(logreg_ctx)
    p = logreg_ctx.proba[:, logreg_ctx.positive_index]
    race = logreg_ctx.data.sensitive["race"].to_numpy()
    edges = np.linspace(0, 1, 11)
    for g, entry in section["race"]["groups"].items():
        m = race == g
        assert_allclose(entry["mean_score"], p[m].mean(), rtol=0, atol=TOL)
        b = np.clip(np.searchsorted(edges, p[m], side="right") - 1, 0, 9)
        ece = sum(abs(y[m][b == j].sum() - p[m][b == j].sum()) for j in range(10)) / m.sum()
        assert_allclose(entry["calibration_error_plugin"], ece, rtol=0, atol=TOL)
        # Kumar, Liang & Ma (2019): sum_b n_b/n [(ybar_b - sbar_b)^2 - ybar_b (1 - ybar_b) / (n_b - 1)]
        sq = 0.0
        for j in range(10):
            yb, pb = y[m][b == j], p[m][b == j]
            if len(yb):
                # a one-row bin is debiased with the score's own variance s(1 - s) (issue 23)
                var = yb.mean() * (1 - yb.mean()) / (len(yb) - 1) if len(yb) > 1 else pb.mean() * (1 - pb.mean())
                sq += len(yb) * ((yb.mean() - pb.mean()) ** 2 - var)
        assert_allclose(entry["calibration_error"], np.sqrt(max(sq / m.sum(), 0.0)), rtol=0, atol=TOL)


def test_threshold_sweep_equals_rethresholding(logreg_ctx):
    section = check.run(logreg_ctx).section.to_dict()
    sweep = section["sex"]["sweep"]
    y, _ = _binary(logreg_ctx)
    p = logreg_ctx.proba[:, logreg_ctx.positive_index]
    sf = logreg_ctx.data.sensitive["sex"]
    for i, t in enumerate(sweep["thresholds"]):
        pred = (p >= np.linspace(0, 1, 11)[i + 1]).astype(int)
        assert_allclose(sweep["demographic_parity_difference"][i],
                        demographic_parity_difference(y, pred, sensitive_features=sf), rtol=0, atol=TOL)
        assert_allclose(sweep["equalized_odds_difference"][i],
                        equalized_odds_difference(y, pred, sensitive_features=sf), rtol=0, atol=TOL)


def test_planted_disparity_found_and_fair_fixture_clean(logreg_ctx):
    fair = prepare(model_path("compas_logreg.onnx"), data_path("compas_fair.csv"), config=_config(n_bootstrap=400))
    biased = check.run(prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(n_bootstrap=400))).section.to_dict()
    clean = check.run(fair).section.to_dict()
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        est = biased["race"]["metrics"][name]
        assert est["ci_low"] > 0, name
        est = clean["race"]["metrics"][name]
        assert est["ci_low"] <= 0 <= est["ci_high"], name
    diff = biased["race"]["groups"]["Caucasian"]["vs_reference"]["selection_rate"]
    assert diff["ci_high"] < 0  # Caucasian defendants are flagged less often than African-American
    diff = clean["race"]["groups"]["Caucasian"]["vs_reference"]["selection_rate"]
    assert diff["ci_low"] < 0 < diff["ci_high"]
    assert biased["race"]["metrics"]["demographic_parity_difference"]["supports_gap"] is True
    assert clean["race"]["metrics"]["demographic_parity_difference"]["supports_gap"] is False
    # Without a declared favourable outcome, impact ratios and the four-fifths rule are refused.
    assert "four_fifths" not in biased["race"] and "impact_ratio" not in biased["race"]["metrics"]
    assert "favorable_label" in biased["race"]["impact_refused"]


def test_favourable_outcome_names_the_most_flagged_group_disadvantaged():
    # COMPAS: the favourable outcome is *not* being flagged high risk (two_year_recid = 0).
    ctx = prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(favorable_label=0))
    race = check.run(ctx).section.to_dict()["race"]
    assert race["favorable_label"] == "0"
    pred = ctx.predicted_index == ctx.positive_index
    groups = ctx.data.sensitive["race"].to_numpy()
    big = [g for g in race["groups"] if race["groups"][g]["n"] >= 30]
    flagged = {g: pred[groups == g].mean() for g in big}
    most_flagged, least_flagged = max(flagged, key=flagged.get), min(flagged, key=flagged.get)
    for g in big:  # selection = predicted favourable = not flagged
        assert_allclose(race["groups"][g]["selection_rate"], 1 - flagged[g], rtol=0, atol=TOL)
    assert race["four_fifths"]["most_selected_group"] == least_flagged
    assert race["four_fifths"]["passes"] is False and most_flagged in race["four_fifths"]["below"]
    assert min(race["impact_ratios"], key=lambda g: race["impact_ratios"][g]) == most_flagged
    with pytest.raises(ConfigError, match="favourable label"):
        check.run(prepare(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(favorable_label="yes")))


def test_small_groups_are_shown_but_left_out_of_headline_gaps():
    rng = np.random.default_rng(4)
    g = np.array(["a"] * 600 + ["b"] * 600 + ["tiny"] * 12, dtype=object)
    y = rng.random(g.size) < 0.5
    pred = rng.random(g.size) < np.where(g == "tiny", 0.95, 0.4)
    rep = fairness_report(group_counts(y, pred, pd.Series(g, name="g")), n_boot=200, rng=0, favorable_index=1).to_dict()["g"]
    assert rep["groups"]["tiny"]["selection_rate"] is not None  # shown
    assert "tiny" in rep["left_out"] and "selection_rate" in rep["left_out"]["tiny"]["rates"]
    sel = [rep["groups"][k]["selection_rate"] for k in ("a", "b")]
    assert_allclose(rep["metrics"]["demographic_parity_difference"]["value"], max(sel) - min(sel), rtol=0, atol=TOL)
    assert "tiny" not in rep["four_fifths"]["below"] and rep["four_fifths"]["most_selected_group"] in ("a", "b")


def _report(gc: GroupCounts, seed: int = 3) -> dict:
    return fairness_report(gc, n_boot=300, rng=np.random.default_rng(seed)).to_dict()


def test_chunked_counts_give_identical_metrics_and_intervals(logreg_ctx):
    y, pred = _binary(logreg_ctx)
    p = logreg_ctx.proba[:, 1]
    sens = logreg_ctx.data.sensitive
    reports = []
    for n_chunks in (1, 7, 1000):
        parts = [group_counts(y[i], pred[i], sens.iloc[i], scores=p[i])
                 for i in np.array_split(np.arange(len(y)), n_chunks)]
        reports.append(_report(GroupCounts.merge_all(parts)))
    assert json.dumps(reports[0], sort_keys=True) == json.dumps(reports[1], sort_keys=True)
    assert json.dumps(reports[0], sort_keys=True) == json.dumps(reports[2], sort_keys=True)


def test_same_seed_same_intervals_other_seed_differs(logreg_ctx):
    y, pred = _binary(logreg_ctx)
    gc = group_counts(y, pred, logreg_ctx.data.sensitive)
    a, b, c = _report(gc, 1), _report(gc, 1), _report(gc, 2)
    assert a == b
    m = "demographic_parity_difference"
    assert a["race"]["metrics"][m]["value"] == c["race"]["metrics"][m]["value"]
    assert a["race"]["metrics"][m]["ci_high"] != c["race"]["metrics"][m]["ci_high"]


def test_poisson_cell_bootstrap_matches_row_level_poisson_bootstrap():
    # A row-level Poisson bootstrap (weights ~ Poisson(1) per row) and the cell-level one
    # have the same replicate distribution; compare the spread of a selection rate.
    rng = np.random.default_rng(0)
    n = 4000
    g = rng.choice(["a", "b"], size=n, p=[0.7, 0.3])
    y = rng.random(n) < 0.4
    pred = rng.random(n) < np.where(g == "a", 0.5, 0.3)
    gc = group_counts(y, pred, pd.Series(g, name="g"))
    rep = fairness_report(gc, n_boot=4000, rng=np.random.default_rng(1)).to_dict()["g"]["groups"]["b"]["ci"]["selection_rate"]
    w = rng.poisson(1.0, size=(4000, n))
    mb = g == "b"
    row_level = (w[:, mb] @ pred[mb]) / w[:, mb].sum(axis=1)
    assert_allclose([rep["ci_low"], rep["ci_high"]], np.quantile(row_level, [0.025, 0.975]), atol=0.006)


def test_undefined_rates_are_none_with_reason_and_small_groups_flagged():
    y = np.array([1, 0, 1, 0, 0, 0, 1, 1, 0, 1] * 5)
    pred = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 1] * 5)
    groups = np.array(["a"] * 45 + ["b"] * 5, dtype=object)
    y[45:] = 0  # group b has no positives
    section = fairness_report(group_counts(y, pred, pd.Series(groups, name="g")), n_boot=50, rng=0).to_dict()["g"]
    b = section["groups"]["b"]
    assert b["tpr"] is None and b["fnr"] is None
    assert "positive" in b["undefined"]["tpr"]
    assert set(b["flags"]) >= {"small_group", "no_positives"}
    assert section["small_groups"] == ["b"]
    assert section["metrics"]["equal_opportunity_difference"]["value"] is None
    assert "fewer than two groups" in section["undefined_metrics"]["equal_opportunity_difference"]
    assert section["groups"]["a"]["tpr"] is not None


def test_unknown_values_and_ll144_view():
    rng = np.random.default_rng(5)
    n = 2000
    sex = rng.choice(["F", "M", "X"], size=n, p=[0.49, 0.50, 0.01]).astype(object)
    sex[:37] = None
    pred = rng.random(n) < 0.3
    section = fairness_report(group_counts(None, pred, pd.DataFrame({"sex": sex})), n_boot=0,
                              favorable_index=1).to_dict()["sex"]
    ll = section["ll144"]
    assert ll["unknown"] == 37 and section["unknown"] == 37
    assert ll["excluded"] == ["X"] and ll["categories"]["X"]["impact_ratio"] is None
    known = pd.Series(sex[37:])
    rates = pd.Series(pred[37:]).groupby(known.to_numpy()).mean()
    best = max(rates["F"], rates["M"])
    assert_allclose(ll["categories"]["F"]["impact_ratio"], rates["F"] / best, rtol=0, atol=TOL)
    assert_allclose(ll["categories"]["X"]["share"], (known == "X").mean(), rtol=0, atol=TOL)
    assert "tpr" not in section["groups"]["F"]  # no target: only selection figures


def test_multiclass_one_vs_rest_matches_sklearn():
    rng = np.random.default_rng(2)
    n = 900
    g = rng.choice(["u", "v", "w"], size=n)
    y = rng.integers(0, 3, size=n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, size=n))
    rep = fairness_report(group_counts(y, pred, pd.Series(g, name="g")), positive_index=None,
                          class_labels=["c0", "c1", "c2"], n_boot=20, rng=0).to_dict()["g"]
    for c in range(3):
        block = rep["per_class"][f"c{c}"]
        for grp in ("u", "v", "w"):
            m = g == grp
            assert_allclose(block["groups"][grp]["tpr"], recall_score(y[m] == c, pred[m] == c), rtol=0, atol=TOL)
            assert_allclose(block["groups"][grp]["selection_rate"], (pred[m] == c).mean(), rtol=0, atol=TOL)
        dp = demographic_parity_difference(y == c, pred == c, sensitive_features=g)
        assert_allclose(block["metrics"]["demographic_parity_difference"]["value"], dp, rtol=0, atol=TOL)
    worst = max(rep["per_class"][f"c{c}"]["metrics"]["demographic_parity_difference"]["value"] for c in range(3))
    assert_allclose(rep["metrics"]["demographic_parity_difference"]["value"], worst, rtol=0, atol=0)
    for grp in ("u", "v", "w"):
        assert_allclose(rep["groups"][grp]["accuracy"], accuracy_score(y[g == grp], pred[g == grp]), rtol=0, atol=TOL)


def test_regression_group_means():
    rng = np.random.default_rng(4)
    n = 600
    g = rng.choice(["p", "q"], size=n)
    y = rng.normal(size=n)
    pred = y + rng.normal(0.3, 1.0, size=n) * (g == "p")
    parts = [group_sums(y[i], pred[i], pd.Series(g[i], name="g")) for i in np.array_split(np.arange(n), 5)]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    rep = fairness_report(total, n_boot=200, rng=0).to_dict()["g"]
    frame = pd.DataFrame({"g": g, "pred": pred, "err": pred - y})
    for grp in ("p", "q"):
        sub = frame[frame.g == grp]
        assert_allclose(rep["groups"][grp]["mean_prediction"], sub.pred.mean(), rtol=0, atol=TOL)
        assert_allclose(rep["groups"][grp]["mean_error"], sub.err.mean(), rtol=0, atol=TOL)
        assert_allclose(rep["groups"][grp]["mean_absolute_error"], sub.err.abs().mean(), rtol=0, atol=TOL)
    gap = abs(frame.groupby("g").err.mean().diff().iloc[-1])
    est = rep["metrics"]["mean_error_difference"]
    assert_allclose(est["value"], gap, rtol=0, atol=TOL)
    assert est["ci_low"] > 0


def test_merge_unites_levels_seen_in_different_chunks():
    a = group_counts([1, 0], [1, 1], pd.Series(["x", "y"], name="g"))
    b = group_counts([0, 1, 1], [0, 1, 0], pd.Series(["z", "x", None], name="g"))
    both = a.merge(b)
    whole = group_counts([1, 0, 0, 1, 1], [1, 1, 0, 1, 0], pd.Series(["x", "y", "z", "x", None], name="g"))
    assert both.levels == whole.levels == (("x", "y", "z"),)
    assert_allclose(both.counts, whole.counts, rtol=0, atol=0)
    assert both.n_rows == 5


def test_three_attributes_give_all_pairs_and_the_triple():
    rng = np.random.default_rng(7)
    n = 500
    frame = pd.DataFrame({k: rng.choice(["0", "1"], size=n) for k in ("a", "b", "c")})
    rep = fairness_report(group_counts(rng.random(n) < 0.5, rng.random(n) < 0.5, frame), n_boot=10, rng=0).to_dict()
    assert set(rep) == {"a", "b", "c", "a*b", "a*c", "b*c", "a*b*c"}
    assert sum(g["n"] for g in rep["a*b*c"]["groups"].values()) == n


# ---------------------------------------------------------------------------- reference group
def test_reference_group_forms(logreg_ctx):
    gc = counts = check.counts_from_context(logreg_ctx)
    for spec in ("Caucasian", "race=Caucasian", ["race=Caucasian", "sex=Female"], {"race": "Caucasian"}):
        rep = fairness_report(counts, reference_group=spec, n_boot=0).to_dict()
        assert rep["race"]["reference_group"] == "Caucasian"
    rep = fairness_report(gc, reference_group={"race": "Caucasian", "sex": "Female"}, n_boot=0).to_dict()
    assert rep["sex"]["reference_group"] == "Female"
    assert rep["race*sex"]["reference_group"] == "Caucasian*Female"
    with pytest.raises(ConfigError, match="African-American"):
        fairness_report(counts, reference_group="Martian", n_boot=0)
    with pytest.raises(ConfigError, match="Female"):
        fairness_report(counts, reference_group="sex=Other", n_boot=0)
    with pytest.raises(ConfigError, match="not an audited attribute"):
        fairness_report(counts, reference_group={"age": "30"}, n_boot=0)


# ---------------------------------------------------------------------------- bad input
def _frame(n=60):
    rng = np.random.default_rng(0)
    return pd.DataFrame({f: rng.integers(0, 5, size=n).astype(float) for f in COMPAS_FEATURES}
                        | {"two_year_recid": rng.integers(0, 2, size=n), "race": rng.choice(["A", "B"], size=n)})


def test_bad_sensitive_columns_are_clear_errors():
    model = model_path("compas_logreg.onnx")
    cfg = _config(sensitive=("race",), n_bootstrap=0, checks=("fairness",))
    frame = _frame()
    frame["race"] = np.nan
    with pytest.raises(InvalidValueError, match="missing in all 60 rows"):
        audit_engine.audit(model, frame, config=cfg)
    frame["race"] = "A"
    with pytest.raises(InvalidValueError, match="single group"):
        audit_engine.audit(model, frame, config=cfg)
    with pytest.raises(ColumnError, match="sensitive column 'ethnicity'"):
        audit_engine.audit(model, _frame(), config=cfg.replace(sensitive=("ethnicity",)))
    with pytest.raises(ConfigError, match="'A', 'B'|A, B"):
        audit_engine.audit(model, _frame(), config=cfg.replace(fairness={"reference_group": "race=C"}))
    with pytest.raises(ConfigError, match="min_group_size"):
        audit_engine.audit(model, _frame(), config=cfg.replace(fairness={"min_group_size": 0}))
    assert issubclass(InvalidValueError, AuditEngineError) and issubclass(ConfigError, AuditEngineError)


def test_skipped_without_sensitive_and_runs_without_target():
    model = model_path("compas_logreg.onnx")
    frame = _frame()
    result = audit_engine.audit(model, frame, config=AuditConfig(features=COMPAS_FEATURES, target="two_year_recid", n_bootstrap=0))
    assert result.checks["fairness"].status == "skipped"
    cfg = AuditConfig(features=COMPAS_FEATURES, sensitive=("race",), n_bootstrap=20, checks=("fairness",))
    doc = json.loads(audit_engine.audit(model, frame.drop(columns="two_year_recid"), config=cfg).to_json())
    assert set(doc["fairness"]["race"]["groups"]["A"]) >= {"n", "selection_rate"}
    assert "tpr" not in doc["fairness"]["race"]["groups"]["A"]


def test_full_audit_json_validates_with_verdicts(tmp_path):
    cfg = AuditConfig.from_toml(FIXTURES / "compas_logreg.toml").replace(n_bootstrap=100, checks=("fairness",))
    result = audit_engine.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg)
    doc = json.loads(result.to_json(tmp_path / "audit.json"))
    validate(doc)
    fair = [v for v in doc["verdicts"] if v["check"] == "fairness"]
    assert {v["subject"] for v in fair} == {"race", "sex"}
    race_ir = next(v for v in fair if v["subject"] == "race" and v["metric"] == "impact_ratio")
    assert race_ir["status"] == "fail"
    assert set(doc["fairness"]) == {"race", "sex", "race*sex"}


def _validate_section(section: dict) -> None:
    from audit_engine.result import _validator, to_jsonable

    _validator().evolve(schema={"$ref": "fairness.schema.json"}).validate(to_jsonable(section))


def test_schema_covers_multiclass_regression_and_unlabelled_sections():
    rng = np.random.default_rng(8)
    n = 300
    frame = pd.DataFrame({"a": rng.choice(["x", "y", None], size=n), "b": rng.choice(["p", "q"], size=n)})
    y = rng.integers(0, 3, size=n)
    pred = rng.integers(0, 3, size=n)
    _validate_section(fairness_report(group_counts(y, pred, frame), positive_index=None, n_boot=10, rng=0).to_dict())
    _validate_section(fairness_report(group_sums(y * 1.0, pred * 1.0, frame), n_boot=10, rng=0).to_dict())
    _validate_section(fairness_report(group_counts(None, pred > 1, frame, scores=rng.random(n)), n_boot=10, rng=0).to_dict())


def test_regression_model_full_audit_validates():
    frame = pd.read_csv(data_path("diabetes.csv"))
    features = tuple(c for c in frame.columns if c != "target")
    cfg = AuditConfig(target="target", sensitive=("sex",), features=features, n_bootstrap=50, checks=("fairness",))
    doc = json.loads(audit_engine.audit(model_path("diabetes_linear.onnx"), frame, config=cfg).to_json())
    validate(doc)
    groups = doc["fairness"]["sex"]["groups"]
    assert len(groups) == 2 and all("mean_error" in g for g in groups.values())
