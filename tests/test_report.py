"""The HTML report: escaping of hostile strings, no external resources, old and new schema
versions, sections that did not run, unknown layouts, and output that does not grow with rows.

The hostile documents come from a real audit of a tiny logistic ONNX model on a DataFrame
whose column names and group values are hostile, then have hostile strings put into the
places a model or a user controls (class labels, file names, config text) and synthetic
explanation / OOD / uncertainty sections with hostile feature names, so these tests do not
depend on the checks being built.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import pytest

import audit_engine as ae
from audit_engine.errors import ConfigError, SchemaVersionError
from audit_engine.report import TEMPLATES, render, render_html
from audit_engine.report.render import _environment, build_view
from audit_engine.report.charts import DRAWINGS, draw
from audit_engine.report.format import fmt_estimate, fmt_number
from audit_engine.result import SCHEMA_VERSION

from .conftest import logistic_model, save

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "</script><script>window.__pwned=2</script>"
DOLLAR = "$\\frac{1}{0}$ &amp; {{ 7*7 }}"
HOSTILE = (IMG, SCRIPT, DOLLAR)

REFERENCE = Path(__file__).parent / "reference" / "report"


@lru_cache(maxsize=1)
def _audited_hostile(tmp: str) -> dict:
    rng = np.random.default_rng(0)
    n = 400
    features = [f"age {IMG}", f"priors {SCRIPT}", f"score {DOLLAR}"]
    x = rng.normal(size=(n, 3))
    p = 1 / (1 + np.exp(-(x @ np.array([1.0, -0.5, 0.25]))))
    frame = pd.DataFrame(x, columns=features)
    frame["label"] = (rng.random(n) < p).astype(int)
    frame[f"group {IMG}"] = np.where(rng.random(n) < 0.5, IMG, SCRIPT)
    frame["sex"] = np.where(x[:, 0] + rng.normal(size=n) > 0, f"F{DOLLAR}", "M")
    model = save(logistic_model(np.array([1.0, -0.5, 0.25])), Path(tmp) / "hostile.onnx")
    config = ae.AuditConfig(target="label", sensitive=(f"group {IMG}", "sex"), features=tuple(features),
                            n_bootstrap=50, checks=("performance", "fairness"), favorable_label=1)
    return ae.audit(model, frame, config=config).to_dict()


def hostile_doc(tmp_path: Path) -> dict:
    """An audit.json dict with hostile strings wherever data, a model or a user can put text."""
    doc = copy.deepcopy(_audited_hostile(str(tmp_path)))
    doc["model"]["path"] = f"models/{IMG}.onnx"
    doc["model"]["classes"] = [IMG, SCRIPT]
    doc["model"]["producer"] = SCRIPT
    doc["data"]["path"] = f"data/{SCRIPT}.csv"
    doc["config"]["model_card"] = {"name": IMG, "owners": [SCRIPT], "intended_use": IMG,
                                   "caveats": SCRIPT, "training_data": DOLLAR}
    doc["verdicts"].append({"check": "fairness", "status": "warn", "metric": IMG, "value": 0.5,
                            "threshold": 0.1, "message": SCRIPT, "subject": IMG})
    names = [f"feat {IMG}", f"feat {SCRIPT}", f"feat {DOLLAR}"]
    auc = {"value": 0.2, "ci_low": 0.1, "ci_high": 0.3}
    doc["explanations"] = {"occlusion": {  # the keys audit.json defines (schema/explanations.schema.json)
        "params": {"baseline": "mean", "interval": "exact", "seed": 0, "confidence": 0.95},
        "global": {k: {"value": 0.3 - 0.1 * i, "ci_low": 0.1 - 0.1 * i, "ci_high": 0.5 - 0.1 * i} for i, k in enumerate(names)},
        "global_signed": {k: {"value": 0.1, "ci_low": 0.05, "ci_high": 0.2} for k in names},
        "significant": names[:1],
        "local": [{"row": 3, "prediction": IMG, "probability": 0.7, "attributions": {k: 0.1 * i for i, k in enumerate(names)},
                   "significant": names[:1], "runner_up": {"prediction": SCRIPT, "probability": 0.3}}],
        "quality": {"deletion_auc": auc, "insertion_auc": auc, "random_deletion_auc": auc, "random_insertion_auc": auc,
                    "deletion_curve": {"fraction": [0.0, 0.5, 1.0], "values": [0.9, 0.5, 0.2], "random": [0.9, 0.7, 0.2]}},
    }}
    doc["checks"]["explanations"] = {"status": "ran", "seconds": 0.1, "model_calls": 1, "rows_evaluated": 10}
    edges = [0.0, 0.5, 1.0]
    doc["ood"] = {
        "reference": {"source": "reference", "rows": 100, "note": SCRIPT},
        "ood_rows": None, "logit_source": "logits", "detector_space": None,
        "direction": "higher score = more out of distribution", "threshold_quantile": 0.95,
        "scores": {"msp": {"score_source": "model_outputs", "threshold": 0.5, "flagged_fraction": 0.1,
                           "auroc": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}, "fpr_at_95_tpr": None,
                           "histogram": {"edges": edges, "reference": [90, 10], "ood": [20, 80]}, "params": {}}},
        "skipped": {"odin": IMG},
        "most_ood": [{"row": 1, "percentile": 0.99, "scores": {}, "flagged_by": ["msp"], "prediction": SCRIPT}],
        "shift": {k: {"test": "ks", "statistic": 0.2, "p_value": 0.01, "p_adjusted": 0.03, "psi": 0.1, "drifted": True}
                  for k in names},
        "shift_summary": {"status": "ran", "tested": 3, "drifted": 3},
    }
    doc["checks"]["ood"] = {"status": "ran"}
    doc["uncertainty"] = {"rows": 10, "sampled": False, "review_signals": ["epistemic"],
                          "mc_dropout": {"method": "mc_dropout", "rows": 10, "passes": 5, "units": "nats", "outputs_vary": True,
                                         "params": {}, "mc_error": None,
                                         "evaluations": {"model_calls": 5, "rows_evaluated": 50, "seconds": 0.1},
                                         "summary": {
                              m: {"mean": 0.1, "median": 0.1, "p90": 0.2, "p99": 0.3, "max": 0.4,
                                  "histogram": {"edges": edges, "counts": [6, 4]}}
                              for m in ("predictive_entropy", "aleatoric", "epistemic")}},
                          "review_queue": [{"row": 2, "priority": 1.0, "reason": IMG, "signals": {"epistemic": 0.3},
                                            "prediction": SCRIPT, "confidence": 0.5}]}
    doc["checks"]["uncertainty"] = {"status": "ran"}
    return doc


@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return hostile_doc(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each view of the hostile document, rendered once for the module (charts take time to draw)."""
    doc = hostile_doc(tmp_path_factory.getbasetemp())
    return {template: render_html(doc, template=template) for template in TEMPLATES}


def _sensitive_group_values(doc: dict) -> list[str]:
    return list(doc["fairness"][f"group {IMG}"]["groups"])


# ----------------------------------------------------------------------------------- safety
def test_every_template_autoescapes_with_strict_undefined():
    env = _environment()
    assert env.undefined is jinja2.StrictUndefined
    for name in TEMPLATES.values():
        template = env.get_template(name)
        assert template.render.__self__.environment.autoescape is True
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing.key }}").render()


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_hostile_strings_are_escaped_in_every_view(hostile, hostile_html, template):
    assert set(_sensitive_group_values(hostile)) == {IMG, SCRIPT}
    html = hostile_html[template]
    lowered = html.lower()
    assert "<img" not in lowered
    assert "<script" not in lowered
    assert "&lt;img src=x onerror=" in html  # shown as text
    if template != "model-card":
        assert "&lt;/script&gt;&lt;script&gt;window.__pwned=2" in html
    assert "{{ 7*7 }}" in html  # data is shown verbatim, never evaluated as a template


def test_hostile_strings_in_chart_text_are_escaped(hostile_html):
    html = hostile_html["audit"]
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert svgs, "the audit view must draw charts"
    text = " ".join(svgs)
    assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x" in text  # the group / feature names reach the charts as escaped text
    assert "\\frac" in text or "frac" in text  # a '$' label is shown literally, not parsed as mathtext


_NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink", "http://purl.org/dc/elements/1.1/",
               "http://creativecommons.org/ns#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#")


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_no_external_resource_and_no_script(hostile_html, template):
    html = hostile_html[template]
    for ns in _NAMESPACES:
        html = html.replace(ns, "")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, flags=re.I)
    assert not re.search(r"<(link|script|iframe|object|embed|img|image)\b", html, flags=re.I)
    assert not re.search(r"\b(src|href)\s*=\s*\"(?!#)", html, flags=re.I)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)  # only in-document references
    assert "Content-Security-Policy" in html


# ----------------------------------------------------------------------------------- versions
def _minimal_doc(version: str) -> dict:
    """The smallest audit.json a 1.0 engine wrote: required keys only, no optional section."""
    return json.loads((REFERENCE / "minimal_v1_0.audit.json").read_text()) | {"schema_version": version}


def test_older_minor_version_renders_every_view():
    doc = _minimal_doc("1.0")
    assert "checks" not in doc and "performance" not in doc
    for template in TEMPLATES:
        html = render_html(doc, template=template)
        assert "Not recorded" in html or template == "bias-audit"
        assert "minimal.onnx" in html


def test_newer_minor_version_renders_and_ignores_unknown_keys():
    doc = _minimal_doc(f"{SCHEMA_VERSION.split('.')[0]}.99")
    doc["some_future_section"] = {"value": 1}
    view = build_view(doc, template="audit")
    assert any("newer" in n for n in view.notices)
    assert "some_future_section" not in json.dumps(view.to_dict())


@pytest.mark.parametrize("version", ["0.9", "2.0", ""])
def test_other_major_version_is_refused_clearly(version, tmp_path):
    doc = _minimal_doc(version)
    with pytest.raises(SchemaVersionError, match="schema version"):
        render_html(doc)
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaVersionError):
        render(path, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_unknown_template_is_refused():
    with pytest.raises(ConfigError, match="audit, model-card, bias-audit"):
        render_html(_minimal_doc("1.0"), template="pdf")


# ----------------------------------------------------------------------------------- sections
def test_skipped_check_shows_its_reason():
    doc = _minimal_doc("1.0")
    doc["checks"] = {"uncertainty": {"status": "skipped", "reason": SCRIPT}}
    view = build_view(doc, template="audit")
    unc = next(s for s in view.sections if s.key == "uncertainty")
    assert unc.state == "skipped" and unc.reason == SCRIPT
    ood = next(s for s in view.sections if s.key == "ood")
    assert ood.state == "absent"
    html = render_html(doc)
    assert "Not run: &lt;/script&gt;&lt;script&gt;window.__pwned=2&lt;/script&gt;." in html


def test_a_section_in_an_unknown_layout_is_refused_in_one_sentence(hostile):
    hostile["ood"] = {"a_new_layout": {"x": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}, "n": 3}}
    with pytest.raises(SchemaVersionError, match="layout audit-engine writes"):
        build_view(hostile, template="audit")


def test_summary_lists_failures_first_in_plain_words(hostile):
    view = build_view(hostile, template="audit")
    assert len(view.findings) == 3
    order = {"fail": 0, "warn": 1, "info": 2}
    ranks = [order[f.status] for f in view.findings]
    assert ranks == sorted(ranks)
    assert all("_" not in f.text.split(":")[0] for f in view.findings)


def test_bias_audit_marks_small_categories_and_counts_unknown(hostile):
    doc = hostile
    entry = doc["fairness"]["sex"]
    entry["ll144"] = {"min_share": 0.02, "unknown": 7, "most_selected_group": "M", "categories": {
        "M": {"n": 390, "share": 0.975, "selection_rate": 0.5, "impact_ratio": 1.0, "excluded": False},
        "X": {"n": 3, "share": 0.0075, "selection_rate": 0.1, "impact_ratio": None, "excluded": True},
        "F": {"n": 7, "share": 0.0175, "selection_rate": 0.2, "impact_ratio": 0.4, "excluded": True}}}
    view = build_view(doc, template="bias-audit")
    sex = next(s for s in view.sections if s.title == "Sex")
    table = next(b for b in sex.blocks if b.kind == "table")
    ratio = {row[0].text: (row[4].text, row[4].sub) for row in table.rows}  # excluded categories say why, in place
    assert ratio == {"M": ("1", ""), "X": ("excluded", "under 2.0% of the data"),
                     "F": ("excluded", "under 2.0% of the data")}
    assert any(b.kind == "paragraph" and b.text.endswith(": 7.") for b in sex.blocks)
    assert not any("sex = F" in f for f in [view.outcome.text])  # excluded categories never fail the rule


def test_bias_audit_is_refused_without_a_favourable_outcome(hostile):
    doc = copy.deepcopy(hostile)
    for entry in doc["fairness"].values():
        entry["favorable_label"] = None
        entry["impact_refused"] = "the favourable outcome is not declared; declare it with favorable_label"
        for key in ("ll144", "four_fifths", "impact_ratios"):
            entry.pop(key, None)
    view = build_view(doc, template="bias-audit")
    assert view.outcome.status == "unknown" and "favorable_label" in view.outcome.text
    assert [s.key for s in view.sections] == ["method"]
    audit = build_view(doc, template="audit")
    fair = next(s for s in audit.sections if s.key == "fairness")
    assert any(b.kind == "paragraph" and "No impact ratios" in b.text for b in fair.blocks)


def test_output_does_not_grow_with_rows(tmp_path_factory, hostile_html):
    doc = hostile_doc(tmp_path_factory.getbasetemp())
    entry = doc["fairness"]["sex"]
    entry["groups"] = {f"g{i}": {"n": 10, "selection_rate": 0.5} for i in range(3000)}
    doc["ood"]["shift"] = {f"x{i}": {"test": "ks", "statistic": 0.1, "p_value": 0.5, "p_adjusted": 1.0, "psi": 0.0,
                                     "drifted": False} for i in range(5000)}
    doc["uncertainty"] = {**doc["uncertainty"], "review_queue": doc["uncertainty"]["review_queue"] * 1000}
    small = len(hostile_html["audit"])
    big = len(render_html(doc))
    assert big < small + 200_000


# ----------------------------------------------------------------------------------- formatting and files
@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (float("nan"), "—"), (0, "0"), (1234567, "1,234,567"), (0.64812, "0.648"),
    (0.0000123, "1.23e-05"), (12345.6, "12,346"), (True, "yes"),
])
def test_fmt_number(value, text):
    assert fmt_number(value) == text


def test_fmt_estimate():
    assert fmt_estimate({"value": 0.5, "ci_low": 0.25, "ci_high": None}) == "0.5"
    assert fmt_estimate({"value": 0.5, "ci_low": 0.25, "ci_high": 0.75}) == "0.5 (0.25 to 0.75)"
    assert fmt_estimate(0.1, percent=True) == "10.0%"


def test_render_writes_every_view_from_audit_json(tmp_path):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(_minimal_doc("1.0")))
    for template in TEMPLATES:
        if template == "bias-audit":  # no fairness section: refused, nothing written (issue 22, defect 14)
            with pytest.raises(ConfigError, match="no fairness section"):
                render(path, tmp_path / f"{template}.html", template=template)
            assert not (tmp_path / f"{template}.html").exists()
            continue
        out = render(path, tmp_path / f"{template}.html", template=template)
        assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize("chart", sorted(DRAWINGS))
def test_charts_are_deterministic_svg_text(chart):
    data = _CHART_DATA[chart]
    svg = draw(chart, f"title {IMG}", data)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg == draw(chart, f"title {IMG}", copy.deepcopy(data))
    assert "<image" not in svg and "<metadata" not in svg  # vector only, no embedded raster


_CHART_DATA = {
    "calibration": {"mean_predicted": [0.1, 0.5, 0.9], "observed": [0.2, None, 0.8], "count": [3, 0, 4], "bins": []},
    "interval_bars": {"labels": [IMG, "b"], "values": [0.2, -0.1], "low": [0.1, None], "high": [0.3, None], "reference": 0.0},
    "bars": {"labels": [SCRIPT], "values": [0.5], "line": 0.8},
    "sweep": {"x": [0.1, 0.5, 0.9], "series": {IMG: [0.0, 0.2, None]}, "xlabel": "t"},
    "group_calibration": {"series": {IMG: {"mean_predicted": [0.1, 0.9], "observed": [0.2, 0.7]}}},
    "curves": {"series": {"deletion": [1.0, 0.5, 0.1]}, "xlabel": "f", "ylabel": "s"},
    "histogram": {"edges": [0.0, 1.0, 2.0], "series": {"reference": [3, 1], IMG: [0, 4]}},
    "roc": {"curves": {IMG: {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.9, 1.0]}}},
    "heatmap": {"grid": [[0.1, -0.2], [0.0, 0.3]], "image": [[0.0, 1.0], [1.0, 0.0]]},
}
