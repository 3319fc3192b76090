"""Typed results: audit.json is generated from frozen records and read back into the same objects."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from audit_engine.errors import SchemaVersionError
from audit_engine.policy import Verdict
from audit_engine.result import AuditResult, CheckRecord, ModelInfo, validate
from audit_engine.results.record import Record, RecordMap, record

GALLERY = Path(__file__).resolve().parents[1] / "reports"
AUDITS = sorted(GALLERY.glob("*/audit.json"))


@pytest.mark.parametrize("path", AUDITS, ids=lambda p: p.parent.name)
def test_gallery_audit_round_trips_through_the_types(path):
    doc = json.loads(path.read_text())
    result = AuditResult.from_json(path)
    assert result.to_dict() == doc  # nothing lost, nothing added, same key order at the top
    assert list(result.to_dict()) == list(doc)
    assert result.unknown_keys() == []  # every key the engine writes is a typed field
    assert AuditResult.from_dict(result.to_dict()) == result
    validate(result.to_dict())


def test_top_level_blocks_are_typed_and_frozen():
    result = AuditResult.from_json(AUDITS[0])
    assert isinstance(result.model, ModelInfo) and len(result.model.sha256) == 64
    assert all(isinstance(v, Verdict) for v in result.verdicts)
    assert all(isinstance(c, CheckRecord) for c in result.checks.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seed = 1  # type: ignore[misc]
    frame = result.evaluations.to_frame()
    assert set(frame["path"]) >= {"model_calls", "rows_evaluated", "seconds"}


def test_status_is_derived_not_stored():
    doc = json.loads(AUDITS[0].read_text())
    doc["status"] = "pass"
    doc["verdicts"] = [{"check": "performance", "status": "fail", "metric": "accuracy", "value": 0.5,
                        "threshold": 0.9, "message": "accuracy 0.5 is below 0.9", "subject": None}]
    assert AuditResult.from_dict(doc).status == "fail"


def test_a_newer_minor_key_is_kept_and_listed():
    doc = json.loads(AUDITS[0].read_text())
    doc["model"]["quantisation"] = {"bits": 8}
    result = AuditResult.from_dict(doc)
    assert result.model.extra == {"quantisation": {"bits": 8}}
    assert "model.quantisation" in result.unknown_keys()
    assert result.to_dict()["model"]["quantisation"] == {"bits": 8}


def test_a_damaged_block_is_one_sentence():
    doc = json.loads(AUDITS[0].read_text())
    del doc["model"]["sha256"]
    with pytest.raises(SchemaVersionError, match="sha256"):
        AuditResult.from_dict(doc)


@record
class _Point(Record):
    x: float
    label: str | None = None


class _Points(RecordMap[_Point]):
    item = _Point


def test_record_rules_null_nan_and_optional_keys():
    p = _Point.from_dict({"x": None})
    assert p.x != p.x and p.label is None  # null float -> NaN; absent optional -> None
    assert p.to_dict() == {"x": None}  # NaN written as null, None-default field omitted
    points = _Points.from_dict({"a": {"x": 1.0, "label": "one"}, "b": {"x": 2}})
    assert points["a"].label == "one" and points.to_dict()["b"] == {"x": 2.0}
    frame = points.to_frame()
    assert list(frame["name"]) == ["a", "b"] and list(frame["value"]) == [1.0, 2.0]
