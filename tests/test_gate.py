"""The release gate: path rules, their validation, candidate-vs-baseline statistics, fidelity, JUnit.

Oracles: statsmodels' McNemar test, scikit-learn's weighted roc_auc_score on the same
Poisson weights (drawn independently here from the same seed), fairlearn's demographic
parity difference, direct counts on both models' outputs, and tests/reference/junit.xsd.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn import metrics as skm

import audit_engine as ae
from audit_engine.cli import main
from audit_engine.compare import compare_models
from audit_engine.paired import EXACT_BELOW, mcnemar
from audit_engine.policy import PolicyError, resolve
from audit_engine.stats import child_rng, percentile_interval, poisson_weight_blocks

from .conftest import ROOT, data_path, model_path

FEATURES = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
N_BOOT = 60
GATE = [
    {"metric": "performance.metrics.roc_auc", "max_drop": 0.01},
    {"metric": "performance.accuracy", "max_drop": 0.02, "severity": "warn"},
    {"metric": "fairness.*.demographic_parity_difference", "max_rise": 0.02},
    {"metric": "fairness.race.groups.*.selection_rate", "max_drop": 0.05},
    {"metric": "performance.metrics.roc_auc", "min": 0.6},
]


def config(rules=GATE, checks=("performance", "fairness"), **kw):
    return ae.AuditConfig(target="two_year_recid", sensitive=("race", "sex"), features=FEATURES, checks=checks,
                          n_bootstrap=N_BOOT, policy=ae.Policy.from_dict({"rules": rules}, defaults=False), **kw)


@pytest.fixture(scope="module")
def frame():
    return pd.read_csv(data_path("compas.csv"))


@pytest.fixture(scope="module")
def logreg_vs_mlp():
    return compare_models(model_path("compas_logreg.onnx"), model_path("compas_mlp.onnx"), data_path("compas.csv"),
                          config=config())


def _proba(name, frame):
    return ae.prepare(model_path(name), frame, config=config()).proba[:, 1]


# ---------------------------------------------------------------------------- compare statistics
def test_a_model_against_itself_changes_nothing_and_passes_every_rule():
    comparison, _, rb = compare_models(model_path("compas_mlp.onnx"), model_path("compas_mlp.onnx"),
                                       data_path("compas.csv"), config=config())
    doc = comparison.to_dict()
    assert rb.verdicts and all(v.status == "pass" for v in rb.verdicts)  # the min rule on B
    assert doc["agreement"]["flipped_rows"] == 0
    assert all(e["flipped_rows"] == 0 for block in doc["agreement"]["by_group"].values() for e in block.values())
    assert doc["mcnemar"]["discordant"] == 0 and doc["mcnemar"]["p_value"] == 1.0
    assert len(doc["changes"]) > 50
    for path, entry in doc["changes"].items():
        d = entry["delta"]
        if d["value"] is not None:
            assert d["value"] == 0.0, path
            if entry["paired"]:
                assert d["ci_low"] in (0.0, None) and d["ci_high"] in (0.0, None), path
    assert doc["verdicts"] and all(v["status"] == "pass" for v in doc["verdicts"])
    assert doc["fidelity"]["max_abs_difference"] == 0.0 and doc["fidelity"]["verdict"] == "faithful"
    assert doc["status"] == "ok" and doc["regressions"] == []


def test_flips_and_mcnemar_equal_a_direct_computation_and_statsmodels(logreg_vs_mlp, frame):
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    comparison = logreg_vs_mlp[0]
    y = frame["two_year_recid"].to_numpy()
    da, db = _proba("compas_logreg.onnx", frame) >= 0.5, _proba("compas_mlp.onnx", frame) >= 0.5
    flips = da != db
    assert comparison.agreement["flipped_rows"] == int(flips.sum()) > 0
    for g in frame["race"].unique():
        assert comparison.agreement["by_group"]["race"][g]["flipped_rows"] == int(flips[frame["race"] == g].sum())
    ra, rb = da == y, db == y
    table = [[int((ra & rb).sum()), int((ra & ~rb).sum())], [int((~ra & rb).sum()), int((~ra & ~rb).sum())]]
    got = comparison.extra["mcnemar"]
    assert got["table"] == table and got["method"] == "chi2"
    ref = sm_mcnemar(np.array(table), exact=False, correction=True)
    assert_allclose(got["statistic"], ref.statistic, rtol=1e-12)
    assert_allclose(got["p_value"], ref.pvalue, rtol=1e-10)


@pytest.mark.parametrize("b,c", [(0, 0), (3, 9), (12, 12), (1, 23), (20, 30), (40, 10)])
def test_mcnemar_both_branches_match_statsmodels(b, c):
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    first = np.array([True] * 50 + [True] * b + [False] * c + [False] * 7)
    second = np.array([True] * 50 + [False] * b + [True] * c + [False] * 7)
    got = mcnemar(first, second)
    exact = b + c < EXACT_BELOW
    ref = sm_mcnemar(np.array([[50, b], [c, 7]]), exact=exact, correction=True)
    assert got["method"] == ("exact" if exact else "chi2")
    assert_allclose(got["statistic"], ref.statistic, rtol=1e-12)
    assert_allclose(got["p_value"], ref.pvalue if b + c else 1.0, rtol=1e-10)


def test_paired_auc_interval_equals_an_independent_computation(logreg_vs_mlp, frame):
    comparison = logreg_vs_mlp[0]
    y = frame["two_year_recid"].to_numpy()
    pa, pb = _proba("compas_logreg.onnx", frame), _proba("compas_mlp.onnx", frame)
    rng = child_rng(0, "compare", "paired")  # the stream compare documents for its paired performance
    reps = []
    for block in poisson_weight_blocks(rng, len(y), N_BOOT):
        for w in block:
            reps.append(skm.roc_auc_score(y, pb, sample_weight=w) - skm.roc_auc_score(y, pa, sample_weight=w))
    low, high = percentile_interval(np.array(reps), 0.95)
    delta = comparison.changes["performance"]["metrics"]["roc_auc"]["delta"]
    assert_allclose(delta["value"], skm.roc_auc_score(y, pb) - skm.roc_auc_score(y, pa), atol=1e-12)
    assert_allclose([delta["ci_low"], delta["ci_high"]], [low, high], atol=1e-10)
    # the same path in compare.json
    assert comparison.to_dict()["changes"]["performance.metrics.roc_auc"]["delta"] == delta


def test_paired_fairness_change_equals_fairlearn_and_an_independent_bootstrap(logreg_vs_mlp, frame):
    from fairlearn.metrics import demographic_parity_difference

    comparison = logreg_vs_mlp[0]
    y = frame["two_year_recid"].to_numpy()
    race = frame["race"].to_numpy()
    da, db = _proba("compas_logreg.onnx", frame) >= 0.5, _proba("compas_mlp.onnx", frame) >= 0.5
    entry = comparison.changes["fairness"]["race"]["metrics"]["demographic_parity_difference"]
    expected = (demographic_parity_difference(y, db, sensitive_features=race)
                - demographic_parity_difference(y, da, sensitive_features=race))
    assert_allclose(entry["delta"]["value"], expected, atol=1e-12)
    groups = sorted(set(race))
    onehot = np.stack([race == g for g in groups], axis=1).astype(float)  # (n, g)
    reps = []
    for w in poisson_weight_blocks(child_rng(0, "compare", "paired", "fairness", "race"), len(y), N_BOOT):
        size = w @ onehot
        gap = [np.ptp((w @ (onehot * d[:, None])) / size, axis=1) for d in (da, db)]
        reps.append(gap[1] - gap[0])
    low, high = percentile_interval(np.concatenate(reps), 0.95)
    assert_allclose([entry["delta"]["ci_low"], entry["delta"]["ci_high"]], [low, high], atol=1e-12)
    asian = comparison.changes["fairness"]["race"]["groups"]["Asian"]["selection_rate"]
    mask = race == "Asian"
    assert_allclose(asian["delta"]["value"], db[mask].mean() - da[mask].mean(), atol=1e-12)


def test_max_drop_rules_are_judged_on_the_paired_intervals(logreg_vs_mlp):
    comparison = logreg_vs_mlp[0]
    by_path = {v["path"]: v for v in comparison.verdicts}
    auc = comparison.changes["performance"]["metrics"]["roc_auc"]["delta"]
    v = by_path["performance.metrics.roc_auc"]
    assert v["threshold"] == -0.01 and v["value"] == auc["value"]
    expected = "fail" if auc["value"] < -0.01 else ("warn" if auc["ci_low"] < -0.01 else "pass")
    assert v["status"] == expected
    assert {p for p in by_path if p.startswith("fairness.race.groups.")} == {
        f"fairness.race.groups.{g}.selection_rate" for g in comparison.agreement["by_group"]["race"]}
    dp = comparison.changes["fairness"]["race"]["metrics"]["demographic_parity_difference"]["delta"]
    if dp["value"] > 0.02:
        assert by_path["fairness.race.metrics.demographic_parity_difference"]["status"] == "fail"
        assert comparison.status in ("policy_fail", "regressed")


def test_importance_change_is_kendall_tau_of_the_global_importances():
    from scipy.stats import kendalltau

    cfg = config(rules=[], checks=("explanations",)).replace(explanations={"methods": ["permutation"]})
    comparison, ra, rb = compare_models(model_path("compas_logreg.onnx"), model_path("compas_mlp.onnx"),
                                        data_path("compas.csv"), config=cfg)
    imp = comparison.extra["importance"]["permutation"]
    ga, gb = ra.to_dict()["explanations"]["permutation"]["global"], rb.to_dict()["explanations"]["permutation"]["global"]
    names = list(ga)
    tau = kendalltau([ga[f]["value"] for f in names], [gb[f]["value"] for f in names]).statistic
    assert_allclose(imp["kendall_tau"], tau, atol=1e-12)
    top = imp["moved_most"][0]
    assert top["feature"] == max(names, key=lambda f: abs(gb[f]["value"] - ga[f]["value"]))


# ---------------------------------------------------------------------------- export fidelity
@pytest.mark.parametrize("export", ["compas_mlp.fp16.onnx", "compas_mlp.int8.onnx"])
def test_export_fidelity(export, frame):
    comparison, _, _ = compare_models(model_path("compas_mlp.onnx"), model_path(export), data_path("compas.csv"),
                                      config=config(rules=[]))
    doc = comparison.to_dict()
    assert doc["method"].startswith("fidelity check")
    fid = doc["fidelity"]
    pa = ae.prepare(model_path("compas_mlp.onnx"), frame, config=config()).proba
    pb = ae.prepare(model_path(export), frame, config=config()).proba
    diff = np.abs(pb - pa)
    assert_allclose(fid["max_abs_difference"], diff.max(), rtol=1e-12)
    assert_allclose(fid["quantiles"]["p99"], np.quantile(diff.max(axis=1), 0.99), rtol=1e-12)
    flips = (pa[:, 1] >= 0.5) != (pb[:, 1] >= 0.5)
    assert fid["flipped_rows"] == int(flips.sum())
    for g, count in fid["flips_by_group"]["sex"].items():
        assert count == int(flips[frame["sex"].to_numpy() == g].sum())
    moved = {p for p, e in doc["changes"].items() if e["paired"] and e["delta"]["ci_low"] is not None
             and (e["delta"]["ci_low"] > 0 or e["delta"]["ci_high"] < 0)}
    assert set(fid["moved_beyond_interval"]) == moved
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    for g, t in fid["selection_tests"]["race"].items():
        mask = frame["race"].to_numpy() == g
        up = int(((pa[mask, 1] < 0.5) & (pb[mask, 1] >= 0.5)).sum())
        down = int(((pa[mask, 1] >= 0.5) & (pb[mask, 1] < 0.5)).sum())
        assert (t["to_positive"], t["to_negative"]) == (up, down)
        if up + down:
            ref = sm_mcnemar(np.array([[0, down], [up, 0]]), exact=up + down < EXACT_BELOW, correction=True)
            assert_allclose(t["p_value"], ref.pvalue, rtol=1e-10)
    if export.endswith("fp16.onnx"):
        assert 0 < fid["max_abs_difference"] < 1e-3  # float16 rounding only
    else:
        assert fid["max_abs_difference"] > 1e-3 and fid["flipped_rows"] > 0


# ---------------------------------------------------------------------------- path rules on one audit
def _run(tmp_path, toml, *extra):
    cfg = tmp_path / "audit.toml"
    cfg.write_text(toml)
    return main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(cfg), "--out", str(tmp_path / "out"), "--no-progress", *extra])


_BASE = ('target = "two_year_recid"\nsensitive = ["race", "sex"]\nfeatures = ' + json.dumps(list(FEATURES))
         + '\nchecks = ["performance", "fairness"]\nn_bootstrap = 40\nfavorable_label = 0\n')


def test_a_violated_path_rule_exits_1_with_a_failing_verdict(tmp_path):
    toml = _BASE + ('[[policy.rules]]\nmetric = "performance.metrics.roc_auc"\nmin = 0.99\n'
                    '[[policy.rules]]\nmetric = "fairness.race.groups.*.selection_rate"\nmax = 0.95\n'
                    '[policy.fairness]\nmin_impact_ratio = { threshold = 0.1, severity = "warn" }\n')
    junit = tmp_path / "gate.xml"
    code = _run(tmp_path, toml, "--junit", str(junit))
    assert code == 1
    doc = json.loads((tmp_path / "out" / "audit.json").read_text())
    auc = [v for v in doc["verdicts"] if v.get("path") == "performance.metrics.roc_auc"]
    assert len(auc) == 1 and auc[0]["status"] == "fail"
    assert_allclose(auc[0]["value"], doc["performance"]["metrics"]["roc_auc"]["value"])
    groups = [v for v in doc["verdicts"] if (v.get("path") or "").startswith("fairness.race.groups.")]
    assert {v["subject"] for v in groups} == set(doc["fairness"]["race"]["groups"])
    assert all(v["status"] == "pass" for v in groups)
    # The shorthand compiles to paths too: every verdict's path holds the value it judged.
    assert any(v["check"] == "fairness" and v["metric"] == "impact_ratio" for v in doc["verdicts"])
    for v in doc["verdicts"]:
        ((_, _, value),) = resolve(doc, v["path"])
        assert_allclose(value["value"] if isinstance(value, dict) else value, v["value"], rtol=1e-12)
    _validate_junit(junit, n_failures=sum(v["status"] == "fail" for v in doc["verdicts"]),
                    n_cases=len(doc["verdicts"]))


def test_the_list_form_and_group_intervals(tmp_path):
    doc = {"fairness": {"race": {"groups": {"A.1": {"selection_rate": 0.3, "ci": {"selection_rate": {
        "ci_low": 0.2, "ci_high": 0.4}}}}, "metrics": {"demographic_parity_difference": {"value": 0.1}}}}}
    (path, stars, value), = resolve(doc, "fairness.race.groups.A.1.selection_rate")
    assert path == "fairness.race.groups.A.1.selection_rate" and value == {"value": 0.3, "ci_low": 0.2, "ci_high": 0.4}
    assert resolve(doc, "fairness.*.demographic_parity_difference")[0][:2] == (
        "fairness.race.metrics.demographic_parity_difference", ("race",))
    # defaults=False: only the path rule (the default shorthand would judge the doc's gap too)
    policy = ae.Policy.from_dict([{"metric": "fairness.*.groups.*.selection_rate", "min": 0.35}], defaults=False)
    (v,) = policy.judge(doc)
    assert v.status == "fail" and v.subject == "race / A.1"
    (v,) = ae.Policy.from_dict([{"metric": "fairness.*.groups.*.selection_rate", "min": 0.25}],
                               defaults=False).judge(doc)
    assert v.status == "warn"  # point passes, the interval crosses


@pytest.mark.parametrize("rule,needle", [
    ('[[policy.rules]]\nmetric = "fairness.race.demographic_parity_diference"\nmax = 0.1\n',
     "Did you mean 'demographic_parity_difference'"),
    ('[[policy.rules]]\nmetric = "fairness.rcae.demographic_parity_difference"\nmax = 0.1\n', "Did you mean 'race'"),
    ('[[policy.rules]]\nmetric = "fairness.race.groups.Asain.selection_rate"\nmin = 0.1\n',
     "Did you mean 'fairness.race.groups.Asian.selection_rate'"),
    ('[[policy.rules]]\nmetric = "performance.metric.roc_auc"\nmin = 0.1\n', "Did you mean 'performance.metrics.roc_auc'"),
    ('[[policy.rules]]\nmetric = "ood.scores.knn.auroc"\nmin = 0.5\n', "ood check did not run"),
    ('[[policy.rules]]\nmetric = "performance.metrics.roc_auc"\nminimum = 0.5\n', "Did you mean 'min'"),
    ('[policy.performance]\nmin_roc_acu = 0.7\n', "Did you mean 'roc_auc'"),
    ('[policy.performance]\nmin_roc_auc = nan\n', "finite number"),
    ('[policy.performance]\nmin_roc_auc = inf\n', "finite number"),
    ('[policy.performance]\nmin_roc_auc = 5\n', "outside the range of roc_auc ([0, 1])"),
    ('[policy.fairness]\nmin_impact_ratio = -1\n', "outside the range of impact_ratio ([0, inf))"),
    ('[[policy.rules]]\nmetric = "performance.roc_auc"\nmax_drop = -0.01\n', "must be in [0, 1]"),
    ('[[policy.rules]]\nmetric = "fairness.*.groups.*.tpr"\nmin = nan\n', "finite number"),
])
def test_bad_rules_exit_2_with_the_fix(tmp_path, capsys, rule, needle):
    code = _run(tmp_path, _BASE + rule)
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_undefined_value_is_not_a_pass(tmp_path, capsys):
    # tpr is undefined (null) in a group with no positives; a path rule on it cannot be judged.
    doc = {"fairness": {"race": {"groups": {"A": {"tpr": None}}}}}
    with pytest.raises(PolicyError, match="undefined"):
        ae.Policy.from_dict([{"metric": "fairness.race.groups.A.tpr", "min": 0.5}]).judge(doc)


# ---------------------------------------------------------------------------- CLI compare + JUnit
def test_compare_cli_gate_and_junit(tmp_path):
    toml = _BASE + '[[policy.rules]]\nmetric = "performance.metrics.roc_auc"\nmax_drop = 0.0\n'
    (tmp_path / "gate.toml").write_text(toml)
    junit = tmp_path / "compare.xml"
    code = main(["compare", str(model_path("compas_mlp.onnx")), str(model_path("compas_mlp.int8.onnx")),
                 "--data", str(data_path("compas.csv")), "--config", str(tmp_path / "gate.toml"),
                 "--out", str(tmp_path / "cmp"), "--junit", str(junit)])
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert code == (0 if doc["status"] == "ok" else 1)
    assert doc["fidelity"] is not None and "performance.metrics.roc_auc" in doc["changes"]
    _validate_junit(junit)
    names = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert "performance.metrics.roc_auc" in names


def _validate_junit(path, *, n_failures=None, n_cases=None):
    """Validate against tests/reference/junit.xsd (xmlschema when installed, else a structural
    check that reads the element declarations of the same XSD with ElementTree)."""
    xsd = ROOT / "tests" / "reference" / "junit.xsd"
    try:
        import xmlschema  # type: ignore[import-not-found]
    except ImportError:
        xmlschema = None
    if xmlschema is not None:
        xmlschema.XMLSchema(str(xsd)).validate(str(path))
    else:
        _structural_validate(ET.parse(xsd).getroot(), ET.parse(path).getroot())
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failures = [c for c in cases if c.find("failure") is not None]
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(cases) and int(suite.get("failures")) == len(failures)
    if n_cases is not None:
        assert len(cases) == n_cases
    if n_failures is not None:
        assert len(failures) == n_failures


_XS = "{http://www.w3.org/2001/XMLSchema}"


def _structural_validate(schema, element):
    decls = {e.get("name"): e for e in schema.findall(f"{_XS}element")}
    decl = decls.get(element.tag)
    assert decl is not None, f"element <{element.tag}> is not declared in the XSD"
    ctype = decl.find(f"{_XS}complexType")
    if ctype is None:  # simple type (xs:string): text only
        assert len(element) == 0, f"<{element.tag}> must hold text only"
        return
    attrs = {a.get("name"): a for a in ctype.findall(f"{_XS}attribute")}
    for name in element.attrib:
        assert name in attrs, f"<{element.tag}> has undeclared attribute {name!r}"
    for name, a in attrs.items():
        if a.get("use") == "required":
            assert name in element.attrib, f"<{element.tag}> lacks required attribute {name!r}"
        value = element.get(name)
        if value is None:
            continue
        kind = a.get("type")
        if kind == "xs:nonNegativeInteger":
            assert value.isdigit(), f"{element.tag}@{name} = {value!r} is not a non-negative integer"
        elif kind == "xs:decimal":
            float(value)
        elif kind == "xs:dateTime":
            import datetime

            datetime.datetime.fromisoformat(value)
    if ctype.get("mixed") != "true":
        assert not (element.text or "").strip(), f"<{element.tag}> must not hold text"
    seq = ctype.find(f"{_XS}sequence")
    order = [r.get("ref") for r in seq.findall(f"{_XS}element")] if seq is not None else []
    limits = {r.get("ref"): r.get("maxOccurs", "1") for r in seq.findall(f"{_XS}element")} if seq is not None else {}
    position = 0
    counts: dict[str, int] = {}
    for child in element:
        assert child.tag in order, f"<{child.tag}> is not allowed inside <{element.tag}>"
        index = order.index(child.tag)
        assert index >= position, f"<{child.tag}> is out of order inside <{element.tag}>"
        position = index
        counts[child.tag] = counts.get(child.tag, 0) + 1
        if limits[child.tag] != "unbounded":
            assert counts[child.tag] <= int(limits[child.tag]), f"too many <{child.tag}> in <{element.tag}>"
        _structural_validate(schema, child)


def test_the_structural_validator_rejects_broken_junit():
    schema = ET.parse(ROOT / "tests" / "reference" / "junit.xsd").getroot()
    good = ET.fromstring('<testsuites><testsuite name="s" tests="1"><testcase name="a" classname="c"/>'
                         "</testsuite></testsuites>")
    _structural_validate(schema, good)
    for bad in ('<testsuites><testsuite tests="1"/></testsuites>',  # name missing
                '<testsuites><testsuite name="s" tests="x"/></testsuites>',
                '<testsuites><testsuite name="s" tests="1"><testcase name="a" classname="c"><bogus/>'
                "</testcase></testsuite></testsuites>",
                '<testsuites><testsuite name="s" tests="1"><testcase name="a" classname="c"><system-out>x'
                '</system-out><failure/></testcase></testsuite></testsuites>'):
        with pytest.raises((AssertionError, ValueError)):
            _structural_validate(schema, ET.fromstring(bad))


def test_ood_changes_and_the_gate_on_two_audit_files(tmp_path):
    toml = (_BASE.replace('["performance", "fairness"]', '["performance", "ood"]')
            + '[ood]\nscores = ["msp", "mahalanobis"]\n'
            + '[[policy.rules]]\nmetric = "performance.metrics.roc_auc"\nmax_drop = 0.5\n'
            + '[[policy.rules]]\nmetric = "ood.scores.*.flagged_fraction"\nmax_rise = 0.5\n')
    (tmp_path / "gate.toml").write_text(toml)
    for name, model in (("a", "compas_logreg.onnx"), ("b", "compas_mlp.onnx")):
        assert main(["run", str(model_path(model)), "--data", str(data_path("compas.csv")), "--config",
                     str(tmp_path / "gate.toml"), "--out", str(tmp_path / name)]) in (0, 1)
    code = main(["compare", str(tmp_path / "a" / "audit.json"), str(tmp_path / "b" / "audit.json"),
                 "--config", str(tmp_path / "gate.toml"), "--out", str(tmp_path / "cmp")])
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    da, db = (json.loads((tmp_path / n / "audit.json").read_text()) for n in ("a", "b"))
    for score in da["ood"]["scores"]:
        entry = doc["changes"][f"ood.scores.{score}.flagged_fraction"]
        assert_allclose(entry["delta"]["value"], db["ood"]["scores"][score]["flagged_fraction"]
                        - da["ood"]["scores"][score]["flagged_fraction"], atol=1e-12)
        assert entry["paired"] is False
    paths = {v["path"] for v in doc["verdicts"]}
    assert "performance.metrics.roc_auc" in paths
    assert {f"ood.scores.{s}.flagged_fraction" for s in da["ood"]["scores"]} <= paths
    assert all(v["status"] == "pass" for v in doc["verdicts"])
    assert code == (0 if doc["status"] == "ok" else 1)


def test_policy_validation_accepts_only_finite_in_range_thresholds():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from audit_engine.policy import METRIC_RANGES, SECTION_METRICS

    metrics = [(sec, m) for sec, names in SECTION_METRICS.items() for m in names]
    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.text(max_size=3),
                       st.booleans(), st.none())

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(metrics), st.sampled_from(["min", "max", "max_drop", "max_rise"]), values)
    def check(pair, op, value):
        section, metric = pair
        path = {"performance": "performance.metrics.", "ood": "ood.scores.*.", "uncertainty": "uncertainty.*.x."
                }.get(section, f"{section}.*.") + metric
        if section == "uncertainty":
            measure, _, stat = metric.rpartition("_")
            path = f"uncertainty.*.summary.{measure}.{stat}"
        try:
            (rule,) = ae.Policy.from_dict([{"metric": path, op: value}]).path_rules
        except PolicyError:
            return
        lo, hi = METRIC_RANGES[metric]
        assert rule.metric == metric and math.isfinite(rule.threshold)
        if op in ("min", "max"):
            assert lo <= rule.threshold <= hi
        else:
            assert 0 <= rule.threshold <= hi - lo

    check()
