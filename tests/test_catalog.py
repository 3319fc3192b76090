"""The metric catalogue is the one place for each metric's range, direction and label, and the check names.

Oracles: the audit.json files under tests/reference/report (written by the engine from
the fixtures): every metric they hold must be in the catalogue and every value inside its
catalogued range; the readers (policy, compare, report) must answer from the catalogue.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest


from audit_engine import catalog, cli, params, policy, result
from audit_engine.audit import CHECK_MODULES
from audit_engine.report import format as fmt

compare = importlib.import_module("audit_engine.compare")  # the package's ``compare`` is the function
REFERENCE = Path(__file__).parent / "reference" / "report"
_STATS = ("mean", "median", "p90", "p99", "max")


def _written(doc):
    """(section, metric, value) for every metric an audit.json holds."""
    for name, est in (doc.get("performance") or {}).get("metrics", {}).items():
        yield "performance", name, est["value"]
    for view in (doc.get("fairness") or {}).values():
        for name, est in view["metrics"].items():
            yield "fairness", name, est["value"]
        for group in view["groups"].values():
            for name, value in group.items():
                # vs_reference: each rate's difference from the reference group (a table of rates, not one metric)
                if name not in ("flags", "undefined", "ci", "impact_ratio", "vs_reference"):
                    yield "fairness", name, value
        for value in (view.get("impact_ratios") or {}).values():
            yield "fairness", "impact_ratio", value
    for method in (doc.get("explanations") or {}).values():
        for name, est in (method.get("quality") or {}).items():
            if not name.endswith("_curve"):
                yield "explanations", name, est["value"]
        if method.get("rank_stability"):
            yield "explanations", "rank_stability", method["rank_stability"]["spearman"]["value"]
            yield "explanations", "top_k_overlap", method["rank_stability"]["top_k_overlap"]["value"]
        yield "explanations", "significant_fraction", method.get("significant_fraction")
    for score in ((doc.get("ood") or {}).get("scores") or {}).values():
        for name in ("auroc", "fpr_at_95_tpr", "flagged_fraction", "ood_flagged_fraction"):
            if name in score:
                value = score[name]
                yield "ood", name, value["value"] if isinstance(value, dict) else value
    for method in ((doc.get("uncertainty") or {}).get("mc_dropout"), (doc.get("uncertainty") or {}).get("committee")):
        for measure, summary in ((method or {}).get("summary") or {}).items():
            for stat in _STATS:
                yield "uncertainty", f"{measure}_{stat}", summary[stat]


@pytest.mark.parametrize("name", ["compas", "digits04"])
def test_every_written_metric_is_catalogued_and_in_its_range(name):
    doc = json.loads((REFERENCE / f"{name}.audit.json").read_text())
    seen = 0
    for section, metric, value in _written(doc):
        spec = catalog.spec(metric, section)
        assert spec is not None, (section, metric)
        if value is None:
            continue
        lo, hi = spec.range
        assert lo <= value <= hi, (section, metric, value, spec.range)
        seen += 1
    assert seen > 50


def test_readers_answer_from_the_catalogue():
    for spec in catalog.CATALOG:
        assert policy.metric_range(spec.name) == catalog.spec(spec.name).range
        assert policy.METRIC_RANGES[spec.name] == catalog.spec(spec.name).range
        assert compare._direction(spec.name) == (catalog.better(spec.name) or "neither")
        assert fmt.metric_name(spec.name) == catalog.label(spec.name)
        if spec.better == "higher":
            assert spec.name in compare.HIGHER_IS_BETTER
    for section in catalog.CHECK_NAMES:
        assert policy.SECTION_METRICS[section] == catalog.section_metrics(section)
        for metric in catalog.shorthand_metrics(section):  # the shorthand compiles to the catalogued path
            (rule,) = policy.Policy.from_dict({section: {f"max_{metric}": catalog.spec(metric, section).range[1]
                                                         if math.isfinite(catalog.spec(metric, section).range[1])
                                                         else 1.0}}, defaults=False).compiled
            assert rule.path == catalog.spec(metric, section).path and rule.metric == metric
    assert fmt.SECTION_TITLES is catalog.SECTION_TITLES


def test_directions_say_what_is_better():
    assert catalog.better("roc_auc") == "higher" and catalog.better("brier_score") == "lower"
    assert catalog.better("demographic_parity_difference") == "lower"
    assert catalog.better("demographic_parity_ratio") == "higher"
    assert catalog.better("selection_rate") is None  # describes, neither better nor worse
    assert catalog.better("tpr") == "higher" and catalog.better("fpr") == "lower"
    assert catalog.label("roc_auc") == "ROC AUC" and catalog.label("some_new_metric") == "Some new metric"


def test_one_list_of_check_names():
    names = catalog.CHECK_NAMES
    assert params._CHECKS is names and result.SECTIONS is names and policy.CHECK_NAMES is names
    assert tuple(params.PARAMS) == names and tuple(CHECK_MODULES) == names
    assert tuple(catalog.SECTION_TITLES) == names
    parser = cli.build_parser() if hasattr(cli, "build_parser") else None
    if parser is not None:
        run = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions if a.dest == "checks")
        assert tuple(run.choices) == names
