"""Snapshot tests of the report view models (not of HTML bytes).

Inputs: audit.json files under ``tests/reference/report/`` (written by
``python -m audit_engine.report.gallery`` from the fixtures, with the shift table cut to
ten features and package versions emptied so they stay small and stable). Expected: the
view model of each template as JSON beside them (``<name>.<template>.view.json``).

After an intended change to the views, rewrite the snapshots with
``UPDATE_REPORT_SNAPSHOTS=1 pytest tests/test_report_snapshot.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audit_engine.report import TEMPLATES
from audit_engine.report.render import build_view

REFERENCE = Path(__file__).parent / "reference" / "report"
CASES = ["compas", "digits04"]


def _view_json(name: str, template: str) -> dict:
    doc = json.loads((REFERENCE / f"{name}.audit.json").read_text(encoding="utf-8"))
    # A round trip through JSON makes tuples lists, as in the stored snapshot.
    return json.loads(json.dumps(build_view(doc, template=template).to_dict(), ensure_ascii=False))


@pytest.mark.parametrize("template", list(TEMPLATES))
@pytest.mark.parametrize("name", CASES)
def test_view_model_matches_snapshot(name, template):
    got = _view_json(name, template)
    path = REFERENCE / f"{name}.{template}.view.json"
    if os.environ.get("UPDATE_REPORT_SNAPSHOTS"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert got == expected


def test_snapshots_cover_every_section():
    view = _view_json("compas", "audit")
    states = {s["key"]: s["state"] for s in view["sections"]}
    assert states["performance"] == states["fairness"] == states["ood"] == states["explanations"] == "ran"
    view = _view_json("digits04", "audit")
    states = {s["key"]: s["state"] for s in view["sections"]}
    assert states["uncertainty"] == states["ood"] == "ran"
    charts = [b["chart"] for s in view["sections"] for b in s["blocks"] if b["kind"] == "chart"]
    assert {"calibration", "roc"} <= set(charts)
