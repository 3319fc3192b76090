"""Tests of what the audit report means, not how it looks.

Rules checked on the reference audits (tests/reference/report/*.audit.json) and on
variations of them:

- the headline (first finding) is the most severe verdict (fail > warn; within a status
  the largest relative breach of the threshold);
- nothing is repeated: no two tables of one view have the same header and rows;
- every number in a table has its interval or a stated reason: a numeric cell carries a
  second line (``Cell.sub``: the interval, or ± its Monte Carlo error), or its table's note
  says why no interval applies (it names "interval"), or its column is a count, an identifier
  or a policy setting (``EXEMPT_COLUMNS``);
- the "what was not tested, and why" box lists every skipped check and part;
- no snake_case token in the visible text of the audit view (data column names and the
  configuration block excepted);
- seeds are printed as typed (no thousands separators), dates for people.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audit_engine.report.blocks import Figures, Table
from audit_engine.report.format import check_part_name, humane
from audit_engine.report.render import build_view, render_html
from audit_engine.report.sections.summary import ordered_verdicts
from audit_engine.result import AuditResult

REFERENCE = Path(__file__).parent / "reference" / "report"
CASES = ["compas", "digits04"]
EXEMPT_COLUMNS = {"Row", "n", "Rows", "Threshold", "Confidence", "Version"}
# Sections whose tables follow the interval rule here; the others' owners add theirs as they are typed.
INTERVAL_SECTIONS = {"ood", "uncertainty"}


def _doc(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.audit.json").read_text(encoding="utf-8"))


def _tables(view) -> list[tuple[str, Table]]:
    out = [("verdicts", view.verdicts)]
    for s in [*view.sections, view.reproducibility]:
        for b in s.blocks:
            if isinstance(b, Table):
                out.append((s.key, b))
    return out


@pytest.mark.parametrize("name", CASES)
def test_the_headline_is_the_most_severe_verdict(name):
    doc = _doc(name)
    doc["verdicts"].append({"check": "ood", "status": "warn", "metric": "flagged_fraction", "value": 0.5,
                            "threshold": 0.1, "message": "flagged_fraction for knn is 0.5; the policy requires at most 0.1.",
                            "subject": "knn"})
    result = AuditResult.from_dict(doc)
    view = build_view(result)
    worst = ordered_verdicts(result)[0]
    assert view.findings[0].status == worst.status == ("fail" if result.status == "fail" else "warn")
    assert humane(worst.message) in view.findings[0].text
    ranks = [{"fail": 0, "warn": 1}[f.status] for f in view.findings]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("name", CASES)
def test_nothing_is_repeated(name):
    view = build_view(_doc(name))
    seen = {}
    for key, t in _tables(view):
        sig = (tuple(t.columns), tuple(tuple(c.text for c in row) for row in t.rows))
        assert sig not in seen, f"a table of {key} repeats one of {seen.get(sig)}"
        seen[sig] = key
    charts = [c for s in view.sections if s.key in INTERVAL_SECTIONS
              for b in s.blocks for c in (b.charts if isinstance(b, Figures) else [b]) if getattr(c, "kind", "") == "chart"]
    datas = [json.dumps(c.data, sort_keys=True) for c in charts]
    assert len(datas) == len(set(datas)), "two charts draw the same data"


@pytest.mark.parametrize("name", CASES)
def test_every_number_has_its_interval_or_a_stated_reason(name):
    view = build_view(_doc(name))
    checked = 0
    for key, t in _tables(view):
        if key not in INTERVAL_SECTIONS | {"verdicts"}:
            continue
        reason = "interval" in t.note.lower()
        for row in t.rows:
            for col, cell in zip(t.columns, row, strict=True):
                if cell.cls != "num" or cell.text == "—":
                    continue
                checked += 1
                assert cell.sub or reason or col in EXEMPT_COLUMNS, (
                    f"{key}: {col} = {cell.text} has no interval and its table gives no reason")
    assert checked > 0


def test_the_not_tested_box_lists_every_skipped_check_and_part():
    doc = _doc("compas")
    doc["checks"]["explanations.smoothgrad"] = {"status": "skipped", "reason": "every model input is discrete"}
    doc["checks"]["uncertainty"] = {"status": "skipped", "reason": "the model has no Dropout node"}
    doc["checks"].pop("ood", None)
    doc.pop("ood", None)
    result = AuditResult.from_dict(doc)
    view = build_view(result)
    listed = {what for what, _ in view.not_tested}
    for key, check in result.checks.items():
        if check.status == "skipped":
            assert check_part_name(key) in listed
    assert "Explanations — SmoothGrad" in listed and "Out of distribution" in listed
    html = render_html(result)
    assert "What was not tested, and why" in html


def test_a_pass_is_never_shown_without_the_box():
    doc = _doc("digits04")
    doc["verdicts"] = [v for v in doc["verdicts"] if v["status"] == "pass"]
    view = build_view(doc)
    assert view.status == "pass" and view.not_tested  # no --reference / labels etc. still say what was left out
    doc = _doc("compas")
    view = build_view(doc)
    reasons = dict(view.not_tested)
    # The reason names what is missing in words, not as a command-line flag (issue 22, defect 11).
    shift = reasons["Out of distribution — shift tests"]
    assert "reference data" in shift and "--" not in shift
    assert not any("--" in why for why in reasons.values())


class _Text(HTMLParser):
    """Visible text, without <style>, <script>, <pre> (configuration) and <code>."""

    SKIP = {"style", "script", "pre", "code", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIP

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIP

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


_SNAKE = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?![./])")


def test_no_snake_case_in_the_visible_text_of_my_sections():
    doc = _doc("digits04")
    view = build_view(doc)
    allowed = set(doc["data"]["features"]) | set(doc["data"]["sensitive"]) | {doc["data"].get("target") or ""}
    texts = [view.subtitle, *(f.text for f in view.findings), *(w + " " + y for w, y in view.not_tested)]
    texts += [c.text for row in view.verdicts.rows for c in row]
    for s in view.sections:
        if s.key not in INTERVAL_SECTIONS:
            continue
        texts.append(s.reason)
        for b in s.blocks:
            texts += [getattr(b, "text", ""), getattr(b, "caption", ""), getattr(b, "note", "")]
            if isinstance(b, Table):
                texts += list(b.columns) + [c.text for row in b.rows for c in row]
    bad = {t for text in texts for t in _SNAKE.findall(text)} - allowed
    assert not bad, f"snake_case in the visible text: {sorted(bad)}"


def test_no_snake_case_in_the_rendered_summary_and_verdicts():
    doc = _doc("compas")
    html = render_html(doc)
    head = html[: html.index('id="section-performance"')] if 'id="section-performance"' in html else html
    parser = _Text()
    parser.feed(head)
    text = " ".join(parser.parts)
    allowed = set(doc["data"]["features"]) | set(doc["data"]["sensitive"]) | {doc["data"]["target"]}
    bad = set(_SNAKE.findall(text)) - allowed
    assert not bad, f"snake_case in the summary: {sorted(bad)}"


def test_seeds_print_as_typed_and_dates_for_people():
    doc = _doc("compas")
    doc["seed"] = 1234567
    doc["created"] = "2026-12-01T14:03:09+00:00"
    view = build_view(doc)
    items = dict(view.reproducibility.blocks[0].items)
    assert items["Seed"] == "1234567"
    assert items["Created"] == "1 December 2026, 14:03 UTC"
    assert "1 December 2026, 14:03 UTC" in view.subtitle


def test_no_zero_model_calls_footer():
    doc = copy.deepcopy(_doc("compas"))
    doc["checks"]["performance"].update(model_calls=0, rows_evaluated=0)
    view = build_view(doc)
    perf = next(s for s in view.sections if s.key == "performance")
    footer = perf.blocks[-1].text
    assert "0 model calls" not in footer and "scores already made" in footer
