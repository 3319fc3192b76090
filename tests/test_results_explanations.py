"""Typed explanations (audit_engine/results/explanations.py): fresh audits of a tabular, an image and a
text model are typed records that round-trip through audit.json; SmoothGrad's scaled importance
(gradient × the feature's standard deviation) has the analytic value on a linear model and ranks
features as occlusion does; every number in the report's explanations carries an interval or a reason."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit_engine as ae
from audit_engine.report.render import build_view
from audit_engine.result import AuditResult, validate
from audit_engine.results.explanations import (ExplanationsResult, Grid, LimeParams, LocalExplanation,
                                               MethodExplanation, Quality, SmoothGradParams, TokenAttribution)
from audit_engine.stats import Estimate

from .conftest import data_path, linear_model, model_path, save

COMPAS = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")


@lru_cache(maxsize=None)
def _audit(kind: str) -> AuditResult:
    if kind == "tabular":
        config = ae.AuditConfig(target="two_year_recid", features=COMPAS, checks=("explanations",),
                                explanations={"n_rows": 6, "lime_samples": 300, "smoothgrad_samples": 10,
                                              "sanity_check": False})
        return ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=config)
    if kind == "image":
        config = ae.AuditConfig(target="y", checks=("explanations",),
                                explanations={"methods": ["occlusion", "smoothgrad"], "n_rows": 4,
                                              "smoothgrad_samples": 4, "heatmap_rows": 2, "stability_seeds": 0,
                                              "sanity_rows": 2, "sanity_max_layers": 1})
        return ae.audit(model_path("digits_cnn.onnx"), data_path("digits.npz"), config=config)
    config = ae.AuditConfig(target="label", tokenizer=str(model_path("reviews_tokenizer.json")), checks=("explanations",),
                            explanations={"methods": ["lime", "occlusion"], "n_rows": 3, "lime_samples": 150,
                                          "stability_seeds": 0, "sanity_check": False})
    return ae.audit(model_path("reviews_transformer.onnx"), data_path("reviews.csv"), config=config)


@pytest.mark.parametrize("kind", ["tabular", "image", "text"])
def test_a_fresh_audit_is_typed_and_round_trips(kind, tmp_path):
    result = _audit(kind)
    expl = result.explanations
    assert isinstance(expl, ExplanationsResult) and len(expl) >= 2
    for method, entry in expl.items():
        assert isinstance(entry, MethodExplanation)
        assert all(isinstance(e, Estimate) for e in entry.global_.values())
        assert all(isinstance(e, LocalExplanation) for e in entry.local or ())
        assert entry.quality is None or isinstance(entry.quality, Quality)
    # audit.json is generated from the records and read back into equal records, nothing unknown
    path = tmp_path / "audit.json"
    result.to_json(path)
    again = AuditResult.from_json(path)
    assert again.explanations == expl
    assert again.unknown_keys() == []
    assert AuditResult.from_dict(result.to_dict()) == result
    validate(result.to_dict())
    # the JSON keys are the schema's: "global" (a keyword in Python) and no Python-only names
    doc = json.loads(path.read_text())["explanations"]
    first = next(iter(doc.values()))
    assert "global" in first and "global_" not in first


def test_tabular_typed_access_and_frames():
    expl = _audit("tabular").explanations
    lime = expl["lime"]
    assert isinstance(lime.params, LimeParams) and lime.params.kernel_width is None  # written as null, kept
    age = lime.global_["age"]
    assert age.ci_low <= age.value <= age.ci_high
    frame = expl.to_frame()
    assert list(frame.columns) == ["method", "feature", "value", "ci_low", "ci_high", "significant"]
    assert set(frame["method"]) == set(expl) and len(frame) == sum(len(e.global_) for e in expl.values())
    row = frame[(frame.method == "lime") & (frame.feature == "age")].iloc[0]
    assert row.value == pytest.approx(age.value) and bool(row.significant) == ("age" in lime.significant)
    local = lime.local_frame()
    assert list(local.columns) == ["row", "prediction", "feature", "value", "significant"]
    assert len(local) == len(lime.local) * len(COMPAS)
    first = lime.local[0]
    assert local[local.row == first.row].set_index("feature")["value"].to_dict() == pytest.approx(dict(first.attributions))
    sg = expl["smoothgrad"]
    assert isinstance(sg.params, SmoothGradParams) and "standard deviation" in sg.params.scaled_unit
    assert set(sg.to_frame().columns) >= {"scaled", "scaled_low", "scaled_high"}


def test_image_and_text_locals_are_typed():
    img = _audit("image").explanations["occlusion"]
    assert isinstance(img.global_heatmap, Grid) and img.global_heatmap.shape == (1, 8, 8)
    assert img.image_layout == "NCHW"
    assert img.local[0].heatmap.shape == (1, 8, 8) and img.local[0].input.shape == (1, 8, 8)
    assert img.local[-1].heatmap is None and img.local[-1].top_features  # heatmaps for heatmap_rows rows only
    assert "pixel intensity" in _audit("image").explanations["smoothgrad"].params.unit
    text = _audit("text").explanations["lime"]
    tokens = text.local[0].tokens
    assert tokens and all(isinstance(t, TokenAttribution) for t in tokens)
    assert text.params.features == "tokens"
    assert len(text.local_frame()) > 0


# ------------------------------------------------------------------------------------ meaning
def test_smoothgrad_scaled_importance_is_w_times_std_and_ranks_like_occlusion(tmp_path):
    """On y = w·x the gradient is w exactly, so gradient × std is |w_j|·std_j; occlusion with the mean
    baseline gives w_j·(x_j − mean_j), whose mean absolute value orders the features the same way.
    The raw gradient orders them by |w_j| alone — the scale-dependent ranking the report must not show."""
    rng = np.random.default_rng(3)
    std = np.array([10.0, 1.0, 0.05, 3.0])
    w = np.array([0.05, -0.4, 2.0, -0.3])  # |w|·std = 0.5, 0.4, 0.1, 0.9
    x = rng.normal(size=(400, 4)) * std
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = x @ w
    model = save(linear_model(w), Path(tmp_path) / "linear.onnx")
    config = ae.AuditConfig(target="y", checks=("explanations",),
                            explanations={"methods": ["smoothgrad", "occlusion"], "n_rows": 30,
                                          "smoothgrad_samples": 8, "stability_seeds": 0, "sanity_check": False})
    expl = ae.audit(model, frame, config=config).explanations
    sg, occ = expl["smoothgrad"], expl["occlusion"]
    sd = x.std(axis=0, ddof=1)
    names = ["a", "b", "c", "d"]
    scaled = np.array([sg.global_scaled[n].value for n in names])
    np.testing.assert_allclose(scaled, np.abs(w) * sd, rtol=1e-4)  # measured 3e-6 (float32 model)
    np.testing.assert_allclose([sg.params.scale[n] for n in names], sd, rtol=1e-12)
    for n in names:  # scaling by a constant scales the interval exactly
        e, g = sg.global_scaled[n], sg.global_[n]
        np.testing.assert_allclose([e.ci_low, e.ci_high], np.array([g.ci_low, g.ci_high]) * sg.params.scale[n], rtol=1e-12)
    occ_global = np.array([occ.global_[n].value for n in names])
    assert list(np.argsort(-scaled)) == list(np.argsort(-occ_global)) == list(np.argsort(-np.abs(w) * sd))
    raw = np.array([sg.global_[n].value for n in names])
    assert list(np.argsort(-raw)) != list(np.argsort(-scaled))  # the per-unit ranking differs on this data
    # per row: the signs agree — occlusion_j = gradient_j·(x_j − mean_j)
    mean = x.mean(axis=0)
    by_row = {e.row: e for e in occ.local}
    for e in sg.local:
        o = by_row[e.row]
        for j, n in enumerate(names):
            np.testing.assert_allclose(e.attributions_scaled[n], w[j] * sd[j], rtol=1e-4)
            np.testing.assert_allclose(o.attributions[n], w[j] * (x[e.row, j] - mean[j]), rtol=1e-3, atol=1e-4)


_NUMBER = re.compile(r"^[−-]?\d[\d,]*(\.\d+)?(e[+-]?\d+)?%?$")


@pytest.mark.parametrize("kind", ["tabular", "image", "text"])
def test_every_number_in_the_explanations_has_an_interval_or_a_reason(kind):
    view = build_view(_audit(kind), template="audit").to_dict()
    section = next(s for s in view["sections"] if s["key"] == "explanations")
    assert section["state"] == "ran"
    checked = 0
    blocks = list(section["blocks"])
    blocks += [b for d in section["blocks"] if d["kind"] == "details" for b in d["blocks"]]  # collapsed methods too
    for block in blocks:
        if block["kind"] != "table":
            continue
        for row in block["rows"]:
            for cell in row[1:]:
                if _NUMBER.match(cell["text"]):
                    checked += 1
                    has_interval = " to " in cell["sub"] or " to " in cell["text"]
                    # a degenerate (zero-width) interval is stated in words instead (issue 22, defect 7)
                    reason = "no interval" in cell["sub"]
                    assert has_interval or reason or "interval" in block["note"], (block["caption"], cell)
    assert checked > 0 or kind == "image"


@pytest.mark.parametrize("kind", ["tabular", "image", "text"])
def test_explanation_text_is_for_people(kind):
    """No snake_case outside the data's own feature names; rows named by index and prediction in words."""
    result = _audit(kind)
    view = build_view(result, template="audit").to_dict()
    section = next(s for s in view["sections"] if s["key"] == "explanations")
    own = set(result.data.features)
    texts = []
    for block in section["blocks"]:
        charts = block["charts"] if block["kind"] == "figures" else [block] if block["kind"] == "chart" else []
        texts += [block.get("text", ""), block.get("caption", ""), block.get("note", ""), *block.get("columns", [])]
        texts += [t for c in charts for t in (c["title"], c["alt"], str(c["data"].get("unit", "")))]
        texts += [line[0] for line in block.get("lines", [])]
    words = {w for t in texts for w in re.findall(r"\b[A-Za-z]+_[A-Za-z_]+\b", t)} - own
    assert not words, words
    local = [t for t in texts if t.startswith("Row ")]
    assert local and all(re.match(r"Row \d+(: predicted |$)", t) for t in local) or kind == "tabular"


def test_heatmap_specs_carry_their_colour_scale():
    view = build_view(_audit("image"), template="audit").to_dict()
    section = next(s for s in view["sections"] if s["key"] == "explanations")
    charts = [b for b in section["blocks"] if b["kind"] == "chart" and b["chart"] == "heatmap"]
    charts += [c for b in section["blocks"] if b["kind"] == "figures" for c in b["charts"]]
    assert charts
    for c in charts:
        d = c["data"]
        assert {"grid", "image", "min", "max", "centre", "unit"} <= set(d) and d["unit"]
        values = [v for row in d["grid"] for v in row if v is not None]
        assert d["min"] <= min(values) and max(values) <= d["max"] + 1e-12
        if d["centre"] is not None:  # diverging: symmetric about the centre
            assert d["min"] == -d["max"] and d["centre"] == 0.0
