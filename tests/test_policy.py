"""The policy is judged once, on the finished audit; verdicts carry codes; one module writes the words.

Oracles: scikit-learn's ``roc_auc_score`` on the model's own predictions (the value a rule
judges), the interval the audit wrote for it (the bounds the sentence must quote at the
configured level), and the rule semantics written out by hand (breach ⇒ severity; the
point passes but the interval crosses ⇒ warn; else pass).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import roc_auc_score

import audit_engine as ae
from audit_engine.policy import Verdict
from audit_engine.verdict_text import REASONS, sentence

from .conftest import data_path, model_path

FEATURES = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")


def _config(**kw):
    base = dict(target="two_year_recid", features=FEATURES, checks=("performance",), n_bootstrap=40)
    return ae.AuditConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def frame():
    return pd.read_csv(data_path("compas.csv"))


@pytest.fixture(scope="module")
def auc_oracle(frame):
    ctx = ae.prepare(model_path("compas_logreg.onnx"), frame, config=_config())
    return roc_auc_score(frame["two_year_recid"], ctx.proba[:, ctx.positive_index])


@pytest.mark.parametrize("confidence,words", [(0.9, "90% CI"), (0.95, "95% CI"), (0.99, "99% CI")])
def test_a_verdict_says_the_level_of_its_interval(frame, confidence, words):
    config = _config(confidence=confidence, policy={"performance": {"min_roc_auc": 0.5}})
    result = ae.audit(model_path("compas_logreg.onnx"), frame, config=config)
    (v,) = [v for v in result.verdicts if v.metric == "roc_auc"]
    est = result.performance.metrics["roc_auc"]
    assert v.confidence == confidence and v.reason == "met" and v.status == "pass"
    assert_allclose([v.ci_low, v.ci_high], [est.ci_low, est.ci_high], rtol=1e-12)
    expected = f"({words} {est.ci_low:.3g} to {est.ci_high:.3g})"
    assert expected in v.message
    others = {"90% CI", "95% CI", "99% CI"} - {words}
    assert not any(o in v.message for o in others)
    doc = json.loads(result.to_json())
    (written,) = [d for d in doc["verdicts"] if d["metric"] == "roc_auc"]
    assert written["message"] == sentence(v) and expected in written["message"]
    assert written["confidence"] == confidence


def test_statuses_follow_the_rule_on_the_oracle_value(frame, auc_oracle):
    """Thresholds placed around sklearn's AUC: below the interval ⇒ pass, inside ⇒ warn, above the point ⇒ fail."""
    probe = ae.audit(model_path("compas_logreg.onnx"), frame, config=_config())
    est = probe.performance.metrics["roc_auc"]
    assert_allclose(est.value, auc_oracle, rtol=1e-9)
    assert est.ci_low < auc_oracle < est.ci_high
    cases = {est.ci_low - 0.01: ("pass", "met"), (est.ci_low + auc_oracle) / 2: ("warn", "inconclusive"),
             auc_oracle + 0.01: ("fail", "breach")}
    for threshold, (status, reason) in cases.items():
        config = _config(policy={"performance": {"min_roc_auc": float(threshold)}})
        (v,) = [v for v in ae.audit(model_path("compas_logreg.onnx"), frame, config=config).verdicts
                if v.metric == "roc_auc"]
        assert (v.status, v.reason, v.op, v.rule) == (status, reason, "min", "min_roc_auc")
        assert_allclose(v.value, auc_oracle, rtol=1e-9)
        assert v.path == "performance.metrics.roc_auc"


def test_the_typed_result_and_its_audit_json_give_the_same_verdicts(frame):
    """One judge: judging the typed result again, or the audit.json read back, gives what the audit wrote."""
    config = _config(checks=("performance", "fairness"), sensitive=("race",), favorable_label=0,
                     policy={"performance": {"min_roc_auc": 0.6},
                             "rules": [{"metric": "fairness.race.groups.*.selection_rate", "max": 0.9}]})
    result = ae.audit(model_path("compas_logreg.onnx"), frame, config=config)
    assert {v.check for v in result.verdicts} == {"performance", "fairness"}
    assert config.policy.judge(result) == result.verdicts
    doc = json.loads(result.to_json())
    assert config.policy.judge(doc) == result.verdicts
    back = ae.AuditResult.from_dict(doc)
    assert back.verdicts == result.verdicts
    assert [v.message for v in back.verdicts] == [d["message"] for d in doc["verdicts"]]


def test_audit_config_takes_the_policy_as_a_plain_dict():
    table = {"performance": {"min_roc_auc": 0.7}, "fairness": {"max_demographic_parity_difference": None},
             "rules": [{"metric": "fairness.*.groups.*.tpr", "min": 0.2, "severity": "warn"}]}
    config = ae.AuditConfig(policy=table)
    assert isinstance(config.policy, ae.Policy)
    assert config.policy == ae.Policy.from_dict(table)
    assert config.policy.rule("performance", "roc_auc").threshold == 0.7
    assert config.policy.rule("fairness", "demographic_parity_difference") is None  # None switches a default off
    assert [r.path for r in config.policy.path_rules] == ["fairness.*.groups.*.tpr"]
    listed = ae.AuditConfig(policy=[{"metric": "performance.metrics.accuracy", "min": 0.5}])
    assert [r.path for r in listed.policy.path_rules] == ["performance.metrics.accuracy"]
    assert ae.AuditConfig.from_dict({"policy": table}).policy == config.policy
    assert config.replace(seed=3).policy == config.policy
    with pytest.raises(ae.PolicyError, match="Did you mean 'roc_auc'"):
        ae.AuditConfig(policy={"performance": {"min_roc_acu": 0.7}})
    with pytest.raises(ae.ConfigError, match=r"The 'policy' parameter of AuditConfig must be"):
        ae.AuditConfig(policy=5)


def test_the_shorthand_compiles_to_path_rules_at_parse_time():
    policy = ae.Policy.from_dict({"explanations": {"min_rank_stability": 0.5}, "ood": {"max_drifted_features": 3},
                                  "uncertainty": {"max_epistemic_mean": 0.2}}, defaults=False)
    paths = {r.shorthand: (r.path, r.metric) for r in policy.compiled}
    assert paths == {
        "min_rank_stability": ("explanations.*.rank_stability.spearman", "rank_stability"),
        "max_drifted_features": ("ood.shift_summary.drifted", "drifted_features"),
        "max_epistemic_mean": ("uncertainty.*.summary.epistemic.mean", "epistemic_mean"),
    }


def _doc(**sections):
    return {"config": {"confidence": 0.9}, **sections}


def test_shorthand_is_lenient_and_path_rules_are_strict():
    doc = _doc(performance={"metrics": {"roc_auc": {"value": None, "ci_low": None, "ci_high": None}}})
    (v,) = ae.Policy.from_dict({"performance": {"min_roc_auc": 0.7, "min_accuracy": 0.5}}, defaults=False).judge(doc)
    assert (v.status, v.reason, v.value) == ("warn", "undefined", None)  # accuracy: absent, passed over
    assert v.message == "roc_auc is undefined, so the rule min_roc_auc = 0.7 cannot be checked."
    with pytest.raises(ae.PolicyError, match="undefined"):
        ae.Policy.from_dict([{"metric": "performance.metrics.roc_auc", "min": 0.7}], defaults=False).judge(doc)
    with pytest.raises(ae.PolicyError, match="does not exist"):
        ae.Policy.from_dict([{"metric": "performance.metrics.accuracy", "min": 0.7}], defaults=False).judge(doc)


def test_fairness_findings_intersections_and_refused_impact_ratios():
    view = {"attributes": ["race"], "impact_refused": "no favourable outcome was declared",
            "metrics": {"demographic_parity_difference": {"value": 0.2, "ci_low": 0.15, "ci_high": 0.25}}}
    both = {"attributes": ["race", "sex"], "metrics": {"demographic_parity_difference": {"value": 0.5}}}
    doc = _doc(fairness={"race": view, "race*sex": both})
    verdicts = ae.Policy().judge(doc)  # the default rules
    got = [(v.subject, v.metric, v.status, v.reason) for v in verdicts]
    assert got == [("race", "impact_ratio", "warn", "not_judged"),
                   ("race", "demographic_parity_difference", "warn", "breach")]  # intersections: not judged
    assert verdicts[0].message == ("The rule min_impact_ratio for race is not judged: "
                                   "no favourable outcome was declared.")
    assert verdicts[1].message == ("demographic_parity_difference for race is 0.2 (90% CI 0.15 to 0.25); "
                                   "the policy requires at most 0.1.")
    doc["config"]["fairness"] = {"judge_intersections": True}
    subjects = [v.subject for v in ae.Policy().judge(doc)]
    assert subjects == ["race", "race", "race*sex"]


def test_a_guessed_class_order_below_chance_is_a_finding():
    doc = _doc(model={"task": "classification", "classes": ["0", "1"], "classes_source": "guessed from sorted "
                      "target labels"}, performance={"metrics": {"roc_auc": {"value": 0.3}}})
    (v,) = ae.Policy(rules=()).judge(doc)
    assert (v.check, v.metric, v.status, v.reason, v.op) == ("performance", "class_order", "warn", "class_order", None)
    assert "classes = [...]" in v.message and "'0', '1'" in v.message and "0.300" in v.message
    doc["model"]["classes_source"] = "graph"
    assert ae.Policy(rules=()).judge(doc) == ()


def test_compare_rules_say_their_level_too():
    changes = {"performance": {"metrics": {"roc_auc": {"delta": {"value": -0.02, "ci_low": -0.03,
                                                                  "ci_high": -0.01}}}}}
    policy = ae.Policy.from_dict([{"metric": "performance.metrics.roc_auc", "max_drop": 0.01}], defaults=False)
    (v,) = policy.judge_changes(changes, confidence=0.8)
    assert (v.status, v.reason, v.op, v.threshold) == ("fail", "breach", "max_drop", -0.01)
    assert v.message == ("the change of performance.metrics.roc_auc (B − A) is -0.02 (80% CI -0.03 to -0.01); "
                         "the policy requires at least -0.01.")


def test_every_reason_has_words_and_old_verdicts_keep_theirs():
    base = dict(check="performance", metric="roc_auc", value=0.6, threshold=0.7, path="performance.metrics.roc_auc",
                op="min", ci_low=0.5, ci_high=0.8, confidence=0.95, severity="fail", rule="min_roc_auc",
                detail="something", subject="race")
    for reason in REASONS:
        text = sentence(Verdict(status="warn", reason=reason, **base))
        assert text and "\n" not in text and "None" not in text
    old = Verdict.from_dict({"check": "performance", "status": "fail", "metric": "accuracy", "value": 0.5,
                             "threshold": 0.9, "message": "accuracy 0.5 is below 0.9", "subject": None})
    assert old.reason is None and old.message == "accuracy 0.5 is below 0.9"
    assert old.to_dict()["message"] == "accuracy 0.5 is below 0.9" and "reason" not in old.to_dict()
    new = Verdict(status="fail", reason="breach", **base)
    assert Verdict.from_dict(new.to_dict()) == new
    assert np.isclose(new.to_dict()["ci_low"], 0.5)
