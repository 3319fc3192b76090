"""The EU AI Act evidence view (issue 29): every number it shows is read from audit.json at the
path it names (checked by resolving that path in the file, not through the engine's records),
the HTML view shows exactly the document's numbers, statements are checked keys, and the view
renders from audit.json alone."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pytest

import audit_engine as ae
from audit_engine.cli import main
from audit_engine.report import render_html
from audit_engine.report.compliance.eu_ai_act import eu_ai_act_document
from audit_engine.report.format import fmt_number

from .conftest import FIXTURES, data_path, model_path


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eu") / "audit-out"
    config = tmp_path_factory.getbasetemp() / "eu.toml"
    config.write_text((FIXTURES / "compas_logreg.toml").read_text() + "\n[eu_ai_act]\n"
                      'provider = "Example Provider <ai@example.org>"\nintended_purpose = "Triage of case files"\n'
                      'known_limitations = ["Trained on one county", "Not for sentencing"]\n')
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(config), "--checks", "performance", "fairness", "--bootstrap", "100",
                 "--out", str(out), "-q"])
    assert code in (0, 1)
    return out / "audit.json"


def _resolve(doc: dict, path: str) -> object:
    """Walk audit.json along a dotted path whose keys may themselves hold dots or '*'."""
    node: object = doc
    rest = path
    while rest:
        assert isinstance(node, dict), path
        key = max((k for k in node if rest == k or rest.startswith(k + ".")), key=len)  # longest key first
        node = node[key]
        rest = rest[len(key) + 1:]
    return node


def test_every_number_is_audit_json_at_its_path(audited: Path) -> None:
    raw = json.loads(audited.read_text())
    document = eu_ai_act_document(ae.AuditResult.from_json(audited))
    numbers = 0
    for item in document["items"]:
        for e in item["evidence"]:
            found = _resolve(raw, e["source"])
            if "ci_low" in e:  # an estimate: value and interval as audit.json has them
                if isinstance(found, dict):
                    expect = found
                else:  # a group rate: the value at the path, its interval under the group's ci
                    attr, group = e["source"].split(".groups.")
                    rates = _resolve(raw, f"{attr}.groups")[group.rsplit(".", 1)[0]]
                    expect = {"value": found, **rates["ci"]["accuracy"]}
                for key in ("value", "ci_low", "ci_high"):
                    assert (e[key] is None and expect.get(key) is None) or math.isclose(e[key], expect[key]), (e, key)
                numbers += 1
            elif isinstance(e["value"], (int, float)) and not isinstance(e["value"], bool) and e["label"] != "Random seed":
                if isinstance(found, dict):
                    assert e["value"] == len(found), e  # a count of what the path holds
                else:
                    assert e["value"] == found, e
                numbers += 1
    assert numbers >= 20
    art10 = document["items"][0]
    assert art10["id"] == "art10" and art10["status"] != "not evidenced"
    gaps = [e for e in art10["evidence"] if e["source"].endswith("demographic_parity_difference")]
    assert {e["source"].split(".")[1] for e in gaps} == set(raw["fairness"])


def test_html_shows_the_documents_numbers_and_statements(audited: Path) -> None:
    result = ae.AuditResult.from_json(audited)
    document = eu_ai_act_document(result)
    page = html.unescape(render_html(result, template="eu-ai-act"))
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    text_rows = [re.sub(r"<[^>]+>", "\x00", r) for r in rows]
    checked = 0
    for item in document["items"]:
        for e in item["evidence"]:
            if not isinstance(e["value"], float):
                continue
            row = next(r for r in text_rows if f"\x00{e['label']}\x00" in r and e["source"] in r)
            cells = [c.strip() for c in row.split("\x00") if c.strip()]
            assert fmt_number(e["value"]) in cells, (e, cells)
            if e.get("ci_low") is not None:
                assert f"{fmt_number(e['ci_low'])} to {fmt_number(e['ci_high'])}" in cells
            checked += 1
    assert checked >= 15
    assert "Example Provider &lt;ai@example.org&gt;" in render_html(result, template="eu-ai-act")  # escaped text
    assert "Trained on one county; Not for sentencing" in page
    assert "Robustness under realistic perturbation" in page  # what it does not evidence, said plainly


def test_render_from_audit_json_alone_writes_the_json_twin(audited: Path, tmp_path: Path) -> None:
    out = tmp_path / "eu.html"
    assert main(["render", str(audited), "--template", "eu-ai-act", "--out", str(out), "-q"]) == 0
    twin = json.loads((tmp_path / "eu_ai_act.json").read_text())
    assert twin == json.loads(json.dumps(eu_ai_act_document(ae.AuditResult.from_json(audited))))
    assert twin["subject"]["sha256"] == json.loads(audited.read_text())["model"]["sha256"]
    assert "<script" not in out.read_text()


def test_without_sensitive_attributes_bias_is_not_evidenced(tmp_path: Path) -> None:
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"),
                      config=ae.AuditConfig(features=("age", "juv_fel_count", "juv_misd_count", "juv_other_count",
                                                      "priors_count"), target="two_year_recid",
                                            checks=("performance",), n_bootstrap=0))
    document = eu_ai_act_document(result)
    art10 = next(it for it in document["items"] if it["id"] == "art10")
    assert art10["status"] == "not evidenced" and art10["evidence"] == []
    assert any("--sensitive" in line for line in art10["not_evidenced"])


def test_statement_keys_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ae.ConfigError, match="did you mean 'intended_purpose'"):
        ae.AuditConfig(eu_ai_act={"intended_purpose_": "x"})
    with pytest.raises(ae.ConfigError, match="must be text"):
        ae.AuditConfig(eu_ai_act={"provider": 3})
    config = tmp_path / "bad.toml"
    config.write_text('[eu_ai_act]\nprovder = "x"\n')
    out = tmp_path / "out"
    assert main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(config), "--out", str(out)]) == 2
    assert "did you mean 'provider'" in capsys.readouterr().err
    assert not out.exists()
    assert "eu_ai_act" not in ae.AuditConfig().to_dict()  # unwritten statements leave audit.json as it was
