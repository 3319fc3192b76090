"""End to end: audit.json follows its schema, is deterministic, and the CLI keeps its contract."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jsonschema
import pytest

import audit_engine as ae
from audit_engine.cli import main

from .conftest import FIXTURES, data_path, model_path

COMPAS_NUMERIC = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]


def _strip_volatile(doc):
    """Remove what may differ between two identical audits: the timestamp and timings."""
    if isinstance(doc, dict):
        return {k: _strip_volatile(v) for k, v in doc.items()
                if k != "created" and k != "seconds" and not k.endswith("_seconds")}
    if isinstance(doc, list):
        return [_strip_volatile(v) for v in doc]
    return doc


@pytest.fixture(scope="module")
def compas_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(FIXTURES / "compas_logreg.toml"), "--out", str(out), "--bootstrap", "200"])
    return code, out


def test_cli_run_writes_valid_audit_json_and_report(compas_run):
    code, out = compas_run
    assert code in (0, 1)
    doc = json.loads((out / "audit.json").read_text())
    ae.validate(doc)
    assert doc["schema_version"] == ae.SCHEMA_VERSION
    assert doc["model"]["provider"] == "cpu" and doc["model"]["task"] == "classification"
    assert doc["data"]["rows"] == 5000 and doc["data"]["target"] == "two_year_recid"
    assert doc["data"]["sensitive"] == ["race", "sex"]
    assert doc["data"]["features"] == COMPAS_NUMERIC
    assert doc["evaluations"]["model_calls"] >= 1 and doc["evaluations"]["rows_evaluated"] >= 5000
    assert doc["checks"]["performance"]["status"] == "ran"
    html = (out / "report.html").read_text()
    assert "<html" in html and "compas_logreg.onnx" in html
    assert sorted(p.name for p in out.iterdir()) == [".audit-engine-manifest.json", "audit.json", "report.html"]


def test_exit_code_follows_the_policy(tmp_path):
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'features = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]\n'
        'checks = ["performance"]\nn_bootstrap = 50\n[policy.performance]\nmin_roc_auc = 0.99\n'
    )
    args = ["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
            "--target", "two_year_recid", "--config", str(strict)]
    assert main([*args, "--out", str(tmp_path / "a")]) == 1
    doc = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert doc["status"] == "fail"
    assert any(v["metric"] == "roc_auc" and v["status"] == "fail" for v in doc["verdicts"])
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(strict.read_text().replace("0.99", "0.5"))
    args[-1] = str(lenient)
    assert main([*args, "--out", str(tmp_path / "b")]) == 0


def test_same_seed_same_audit_json(tmp_path):
    config = ae.AuditConfig(target="two_year_recid", sensitive=("race", "sex"), features=COMPAS_NUMERIC,
                            n_bootstrap=100, seed=3)
    docs = [ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=config).to_dict()
            for _ in range(2)]
    assert _strip_volatile(docs[0]) == _strip_volatile(docs[1])
    other = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"),
                     config=config.replace(seed=4)).to_dict()
    assert other["performance"]["metrics"]["accuracy"]["value"] == docs[0]["performance"]["metrics"]["accuracy"]["value"]
    # the calibration error's interval is a bootstrap (depends on the seed); accuracy's is Wilson's (does not)
    sq = "squared_calibration_error"
    assert other["performance"]["metrics"][sq]["ci_low"] != docs[0]["performance"]["metrics"][sq]["ci_low"]
    assert other["performance"]["metrics"]["accuracy"] == docs[0]["performance"]["metrics"]["accuracy"]


def test_schema_rejects_broken_documents(compas_run):
    _, out = compas_run
    doc = json.loads((out / "audit.json").read_text())
    broken = dict(doc, status="maybe")
    with pytest.raises(jsonschema.ValidationError):
        ae.validate(broken)
    broken = dict(doc)
    broken.pop("model")
    with pytest.raises(jsonschema.ValidationError):
        ae.validate(broken)


def test_render_from_audit_json_alone(compas_run, tmp_path, capsys):
    _, out = compas_run
    target = tmp_path / "again.html"
    assert main(["render", str(out / "audit.json"), "--out", str(target)]) == 0
    assert target.read_text().startswith("<!doctype html>")


def test_render_refuses_another_major_version(compas_run, tmp_path, capsys):
    _, out = compas_run
    doc = json.loads((out / "audit.json").read_text())
    doc["schema_version"] = "2.0"
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    assert main(["render", str(path), "--out", str(tmp_path / "x.html")]) == 2
    assert "schema version '2.0'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_inspect(capsys):
    assert main(["inspect", str(model_path("compas_pipeline.onnx")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["output"] == "output_probability" and info["output_kind"] == "zipmap"
    assert {i["dtype"] for i in info["inputs"]} == {"string", "float32"}
    assert main(["inspect", str(model_path("breast_cancer_batch1.onnx"))]) == 0
    text = capsys.readouterr().out
    assert "fixed batch size: 1" in text and "Running the model on CPU" in text


def test_demo(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    doc = json.loads((tmp_path / "demo" / "audit.json").read_text())
    ae.validate(doc)
    assert (tmp_path / "demo" / "report.html").is_file()


def test_python_api_round_trip(tmp_path):
    model = ae.load_model(model_path("compas_pipeline.onnx"), provider="cpu")
    data = ae.load_data(data_path("compas.csv"), target="two_year_recid", sensitive=["race", "sex"])
    result = ae.audit(model, data, config=ae.AuditConfig(checks=["performance"], n_bootstrap=50))
    result.to_json(tmp_path / "audit.json")
    again = ae.AuditResult.from_json(tmp_path / "audit.json")
    assert again.to_dict() == result.to_dict()
    ae.render(again, tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_size > 500


def test_wheel_ships_schema_and_templates(tmp_path):
    """`pip install .` must carry the JSON Schema and the templates (package data)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path), str(root)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("audit_engine-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "audit_engine/schema/audit.schema.json" in names
    assert any(n.startswith("audit_engine/templates/") and n.endswith(".j2") for n in names)
    assert "audit_engine/py.typed" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert entry and "audit-engine = audit_engine.cli:entry" in zipfile.ZipFile(wheel).read(entry[0]).decode()
