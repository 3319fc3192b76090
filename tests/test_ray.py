"""The Ray Data backend: the same audit.json as the local backend, and a dead actor survived."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

import audit_engine as ae
from audit_engine.cli import main

from .conftest import data_path, model_path

COMPAS_NUMERIC = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
_VOLATILE = ("created", "evaluations", "checks")


@pytest.fixture(scope="module")
def compas_folder(tmp_path_factory):
    df = pd.read_csv(data_path("compas.csv"))
    folder = tmp_path_factory.mktemp("compas_ray")
    for i, (lo, hi) in enumerate(((0, 2100), (2100, 3900), (3900, len(df)))):
        df.iloc[lo:hi].to_parquet(folder / f"part-{i}.parquet", row_group_size=450)
    return folder


def _config(**kw):
    return ae.AuditConfig(target="two_year_recid", sensitive=("race", "sex"), features=COMPAS_NUMERIC, n_bootstrap=100,
                          checks=("performance", "fairness"), stream=True, fairness={"chunk_rows": 1500}, **kw)


def _stable(doc):
    out = {k: v for k, v in doc.items() if k not in _VOLATILE}
    out["config"] = {k: v for k, v in doc["config"].items() if k != "backend"}
    out["data"] = dict(doc["data"], stream={k: v for k, v in doc["data"]["stream"].items() if k != "backend"})
    return json.loads(json.dumps(out))


def test_ray_audit_equals_local(ray_local, compas_folder):
    local = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config()).to_dict()
    on_ray = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config(backend="ray")).to_dict()
    ae.validate(on_ray)
    assert on_ray["data"]["stream"]["backend"] == "ray"
    assert on_ray["evaluations"]["rows_evaluated"] == 5000
    assert _stable(local) == _stable(on_ray)


def test_ray_survives_a_dead_actor(ray_local, compas_folder, tmp_path, monkeypatch):
    from audit_engine.stream.ray_backend import FAULT_ENV

    marker = tmp_path / "kill-once"
    marker.write_text("x")
    monkeypatch.setenv(FAULT_ENV, str(marker))
    local = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config()).to_dict()
    on_ray = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config(backend="ray")).to_dict()
    assert not marker.exists()  # an actor found it and died on its first batch
    assert _stable(local) == _stable(on_ray)


def test_ray_backend_needs_a_table(ray_local, tmp_path, capsys):
    arrays = tmp_path / "rows.npy"
    np.save(arrays, np.zeros((10, 5), dtype=np.float32))
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(arrays),
                 "--backend", "ray", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Streaming on Ray needs --data to be a Parquet or CSV file" in err


def test_ray_reads_csv_like_local_and_survives_a_dead_actor(ray_local, tmp_path, monkeypatch):
    """Oracle: the in-memory audit of compas.csv. The driver reads the CSV in chunks and feeds the actors;
    one actor dies on its first chunk, is restarted and the chunk retried."""
    from audit_engine.stream.ray_backend import FAULT_ENV

    marker = tmp_path / "kill-once"
    marker.write_text("x")
    monkeypatch.setenv(FAULT_ENV, str(marker))
    local = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"),
                     config=_config().replace(stream=False)).to_dict()
    on_ray = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(backend="ray")).to_dict()
    assert not marker.exists()
    ae.validate(on_ray)
    assert on_ray["data"]["stream"]["backend"] == "ray" and on_ray["evaluations"]["rows_evaluated"] == 5000
    assert on_ray["data"]["sha256"] == local["data"]["sha256"]
    for key in ("data", "performance", "fairness", "verdicts", "status"):
        got = on_ray[key] if key != "data" else {k: v for k, v in on_ray[key].items() if k != "stream"}
        assert got == local[key], key


def test_without_ray_one_sentence(tmp_path, capsys, monkeypatch, compas_folder):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(compas_folder),
                 "--target", "two_year_recid", "--backend", "ray", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'audit-engine[ray]'" in err
    assert not (tmp_path / "o" / "audit.json").exists()
