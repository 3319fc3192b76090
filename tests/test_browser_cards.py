"""Every ``_repr_html_`` card rendered in headless Chromium inside a host page, as a notebook shows it.

Asserts, per card: it is visible, inside its size bound (:data:`~audit_engine.report.card.MAX_WIDTH`
× ``MAX_HEIGHT`` CSS pixels, ``MAX_CHARS`` characters of HTML); every CSS rule it brings starts
with ``.ae-card``; the computed style of each host element is the same with and without the
card (it does not restyle the page); hostile strings are shown as text and run no script; no
request leaves the page. A screenshot goes to ``test-output/`` for reviewers.

When the browser or Playwright is missing the test skips locally and FAILS when ``CI`` is set.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import audit_engine as ae
from audit_engine.compare import compare_results
from audit_engine.report.card import MAX_CHARS, MAX_HEIGHT, MAX_WIDTH

from .conftest import ROOT, data_path, model_path
from .test_browser_report import OUTPUT, browser_context  # noqa: F401  (the shared Chromium fixture)
from .test_report import IMG, SCRIPT, hostile_doc

pytestmark = pytest.mark.browser

HOST = """<!doctype html><html><head><meta charset="utf-8"><title>host</title><style>
body {{ font-family: serif; font-size: 17px; color: rgb(10, 20, 30); background: rgb(250, 250, 240); margin: 13px; }}
h1 {{ color: rgb(1, 2, 3); margin: 7px; }}
p, li {{ line-height: 1.9; color: rgb(40, 50, 60); }}
table {{ border: 3px solid rgb(200, 0, 0); border-collapse: separate; }}
td, th {{ padding: 9px; text-align: center; font-weight: 400; }}
span, div, ul {{ letter-spacing: 1px; }}
</style></head><body>
<h1 id="h">Notebook</h1><p id="p">A paragraph <span id="s">with a span</span>.</p>
<ul id="ul"><li id="li">item</li></ul>
<table id="t"><tr><th id="th">h</th><td id="td">cell</td></tr></table>
<div id="out">{card}</div><p id="after">after the output</p>
</body></html>"""

HOST_IDS = ["h", "p", "s", "ul", "li", "t", "th", "td", "after", "out"]
PROPS = ["color", "background-color", "font-family", "font-size", "font-weight", "line-height", "margin-top",
         "margin-left", "padding-top", "padding-left", "border-top-width", "border-top-color", "border-collapse",
         "text-align", "letter-spacing", "display", "list-style-type", "text-transform"]

STYLES = """ids => { const out = {}; for (const id of ids) { const el = document.getElementById(id);
  const cs = getComputedStyle(el); out[id] = {}; for (const p of %s) out[id][p] = cs.getPropertyValue(p); }
  out.body = {}; const b = getComputedStyle(document.body); for (const p of %s) out.body[p] = b.getPropertyValue(p);
  return out; }""" % (json.dumps(PROPS), json.dumps(PROPS))

SELECTORS = """() => { const out = []; for (const sheet of document.styleSheets) {
  const owner = sheet.ownerNode; if (!owner || !owner.closest('.ae-card')) continue;
  for (const rule of sheet.cssRules) out.push(rule.selectorText || rule.cssText); } return out; }"""


def _objects(tmp_path_factory):
    """name -> an object with a card: each result type, from real audits and real explain / uncertainty runs."""
    compas = ae.AuditResult.from_json(ROOT / "reports" / "compas" / "audit.json")
    digits04 = ae.AuditResult.from_json(ROOT / "reports" / "digits04" / "audit.json")
    hostile = ae.AuditResult.from_dict(hostile_doc(tmp_path_factory.mktemp("hostile")))
    objects = {
        "audit": compas, "audit_digits04": digits04, "audit_hostile": hostile,
        "performance": compas.performance, "fairness": compas.fairness, "fairness_view": compas.fairness["race*sex"],
        "explanations": compas.explanations, "explanation_lime": compas.explanations["lime"],
        "ood": compas.ood, "uncertainty_section": digits04.uncertainty, "model_info": compas.model,
        "hostile_fairness_view": next(iter(hostile.fairness.values())),
        "comparison": compare_results(compas, ROOT / "reports" / "compas" / "audit.json"),
        "attribution": ae.explain(model_path("compas_mlp.onnx"), data_path("compas.csv"),
                                  features=["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"],
                                  method="lime", rows=range(30), n_samples=300, seed=0),
        "uncertainty": ae.uncertainty(model_path("digits04_dropout.onnx"),
                                      np.load(data_path("digits_in.npz"))["x"][:40], method="mc_dropout", seed=0),
    }
    if hostile.explanations:
        objects["hostile_explanations"] = hostile.explanations
    return objects


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    return {name: obj._repr_html_() for name, obj in _objects(tmp_path_factory).items()}


def test_every_result_type_has_a_card(cards):
    assert {"audit", "performance", "fairness", "fairness_view", "explanations", "explanation_lime", "ood",
            "uncertainty_section", "comparison", "attribution", "uncertainty"} <= set(cards)
    for name, html in cards.items():
        assert html.startswith('<div class="ae-card">'), name
        assert len(html) <= MAX_CHARS, (name, len(html))


def test_cards_in_chromium_stay_bounded_and_leave_the_host_page_alone(browser_context, cards, tmp_path):  # noqa: F811
    page = browser_context.new_page()
    console, errors, requests = [], [], []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        bare = tmp_path / "bare.html"
        bare.write_text(HOST.format(card="<pre>plain output</pre>"), encoding="utf-8")
        page.goto(bare.as_uri(), wait_until="load")
        baseline = page.evaluate(STYLES, HOST_IDS)
        # the test can fail: a global rule in the output would change the host's styles
        leaky = tmp_path / "leaky.html"
        leaky.write_text(HOST.format(card="<style>p { color: rgb(255, 0, 0); }</style>x"), encoding="utf-8")
        page.goto(leaky.as_uri(), wait_until="load")
        assert page.evaluate(STYLES, HOST_IDS) != baseline
        OUTPUT.mkdir(exist_ok=True)
        for name, html in cards.items():
            file = tmp_path / f"{name}.html"
            file.write_text(HOST.format(card=html), encoding="utf-8")
            requests.clear()
            page.goto(file.as_uri(), wait_until="load")
            page.wait_for_timeout(50)
            assert page.evaluate(STYLES, HOST_IDS) == baseline, name
            selectors = page.evaluate(SELECTORS)
            assert selectors, name
            for selector in selectors:
                assert all(part.strip().startswith(".ae-card") for part in selector.split(",")), (name, selector)
            card = page.locator("#out > .ae-card")
            assert card.count() == 1 and card.is_visible(), name
            box = card.bounding_box()
            assert box is not None and 40 < box["height"] <= MAX_HEIGHT + 0.5 and box["width"] <= MAX_WIDTH + 0.5, (name, box)
            # nor does the host restyle the card (its tables keep no border, its text no spacing)
            inside = page.evaluate("() => { const c = document.querySelector('#out > .ae-card'); const t = c.querySelector('table');"
                                   " return [t ? getComputedStyle(t).borderTopWidth : '0px', getComputedStyle(c).letterSpacing,"
                                   " getComputedStyle(c.querySelector('.ae-title')).letterSpacing]; }")
            assert inside == ["0px", "normal", "normal"], (name, inside)
            assert page.evaluate("() => window.__pwned === undefined"), name
            assert page.evaluate("() => document.scripts.length") == 0, name
            if name.startswith("hostile") or name == "audit_hostile":
                text = page.inner_text("#out")
                assert IMG in text or SCRIPT in text, name  # shown as text
            assert requests == [file.as_uri()], name
            page.screenshot(path=str(OUTPUT / f"card-{name}.png"), full_page=True)
        assert [m for m in console if m[0] in ("error", "warning")] == []
        assert errors == []
    finally:
        page.close()


def test_cards_say_what_the_records_say(tmp_path_factory):
    import html as html_lib

    objects = _objects(tmp_path_factory)
    doc = json.loads((ROOT / "reports" / "compas" / "audit.json").read_text())
    card = objects["audit"]._repr_html_()
    for verdict in doc["verdicts"]:
        assert html_lib.escape(verdict["message"], quote=True) in card
    skipped = {name: c for name, c in doc["checks"].items() if c["status"] != "ran"}
    assert skipped  # the fixture audit skipped a check: the card must say so, with the reason
    for name, c in skipped.items():
        assert f"{name}: {c['status']} — {html_lib.escape(c['reason'], quote=True)}" in card
    auc = doc["performance"]["metrics"]["roc_auc"]
    assert f"{auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]" in card
    attribution = objects["attribution"]
    counts = attribution.to_frame().groupby("row")["class"].first().value_counts()
    line = ", ".join(f"{k} ({counts[k]})" for k in dict.fromkeys(attribution.to_frame()["class"]))
    assert f"explained class per row: {line}" in attribution._repr_html_()
