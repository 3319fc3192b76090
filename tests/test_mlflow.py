"""MLflow integration against a real tracking store the tests start (SQLite, else a file store, in tmp).

Oracles: the audit.json / compare.json files the CLI wrote (every number MLflow returns must
equal the file's), and the comparison of those files without MLflow (``compare_results``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest
from numpy.testing import assert_allclose

mlflow = pytest.importorskip("mlflow")

import audit_engine as ae  # noqa: E402
from audit_engine.cli import main  # noqa: E402
from audit_engine.compare import compare_results  # noqa: E402

from .conftest import FIXTURES, data_path, model_path  # noqa: E402

ARGS = ["--data", str(data_path("compas.csv")), "--config", str(FIXTURES / "compas_logreg.toml"),
        "--checks", "performance", "fairness", "--bootstrap", "200", "-q", "--no-progress"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fresh tracking store and experiment, named the way MLflow users name them (env vars)."""
    root = tmp_path_factory.mktemp("mlflow")
    sql = importlib.util.find_spec("sqlalchemy") and importlib.util.find_spec("alembic")
    uri = f"sqlite:///{root / 'mlflow.db'}" if sql else (root / "mlruns").as_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        if not sql:
            mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(uri)  # MLflow keeps a process-wide URI; no other test module uses MLflow
        client = mlflow.MlflowClient()
        exp = client.create_experiment("audits", artifact_location=(root / "artifacts").as_uri())
        mp.setenv("MLFLOW_EXPERIMENT_NAME", "audits")
        yield client, exp, root


def _estimates(node, path=()):
    """(path, {value, ci_low, ci_high}) for every estimate in an audit.json subtree (the oracle walk)."""
    if isinstance(node, dict):
        if {"value", "ci_low", "ci_high"} <= set(node):
            yield path, node
            return
        for k, v in node.items():
            if k != "params":
                yield from _estimates(v, path + (k,))


def _run_of(client, exp, sha):
    runs = client.search_runs([exp], filter_string=f"tags.`audit.model_sha256` = '{sha}'")
    assert len(runs) == 1
    return runs[0]


def test_two_model_versions_logged_read_back_and_compared_from_their_runs(store, tmp_path):
    client, exp, _ = store
    for name, out in (("compas_logreg.onnx", "v1"), ("compas_mlp.onnx", "v2")):
        code = main(["run", str(model_path(name)), *ARGS, "--out", str(tmp_path / out), "--mlflow"])
        assert code in (0, 1)
    docs = {v: json.loads((tmp_path / v / "audit.json").read_text()) for v in ("v1", "v2")}
    runs = {v: _run_of(client, exp, docs[v]["model"]["sha256"]) for v in docs}

    for v, doc in docs.items():
        run = runs[v]
        metrics, tags = run.data.metrics, run.data.tags
        checked = 0
        for path, est in _estimates({k: doc[k] for k in ("performance", "fairness")}):
            name = ae.mlflow.metric_name(path)
            for end, suffix in (("value", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
                if est[end] is None:
                    assert name + suffix not in metrics
                else:
                    assert_allclose(metrics[name + suffix], est[end], rtol=1e-12, atol=0)
                    checked += 1
        assert checked > 300
        # a group's rate and its interval (kept apart in audit.json's `ci` table)
        group = doc["fairness"]["race"]["groups"]["Caucasian"]
        assert_allclose(metrics["fairness.race.groups.Caucasian.selection_rate"], group["selection_rate"], rtol=1e-12)
        assert_allclose(metrics["fairness.race.groups.Caucasian.selection_rate.ci_low"],
                        group["ci"]["selection_rate"]["ci_low"], rtol=1e-12)
        assert metrics["fairness.race.groups.Caucasian.n"] == group["n"]
        # an intersection's name
        assert_allclose(metrics["fairness.race_x_sex.metrics.demographic_parity_difference"],
                        doc["fairness"]["race*sex"]["metrics"]["demographic_parity_difference"]["value"], rtol=1e-12)
        # verdicts as tags
        assert tags["audit.status"] == doc["status"]
        assert tags["audit.data_sha256"] == doc["data"]["sha256"]
        assert doc["verdicts"]
        for verdict in doc["verdicts"]:
            assert tags["audit.verdict." + ae.mlflow.metric_name(verdict["path"])] in ("pass", "warn", "fail")
        worst = {}
        for verdict in doc["verdicts"]:
            key = verdict["path"]
            order = ["pass", "warn", "fail"]
            worst[key] = max(worst.get(key, "pass"), verdict["status"], key=order.index)
        for key, status in worst.items():
            assert tags["audit.verdict." + ae.mlflow.metric_name(key)] == status
        # the files
        names = {a.path for a in client.list_artifacts(run.info.run_id, "audit")}
        assert {"audit/audit.json", "audit/report.html", "audit/model_card.html", "audit/model_card.json"} <= names
        assert ae.mlflow.load_audit(run.info.run_id).to_dict() == doc

    # version 2 against version 1, from the runs alone, equals the comparison of the files
    diff = ae.mlflow.compare_runs(runs["v1"].info.run_id, runs["v2"].info.run_id)
    oracle = compare_results(tmp_path / "v1" / "audit.json", tmp_path / "v2" / "audit.json")
    assert diff.to_dict() == oracle.to_dict()
    m1, m2 = runs["v1"].data.metrics, runs["v2"].data.metrics
    assert_allclose(diff.performance["roc_auc"]["delta"]["value"],
                    m2["performance.metrics.roc_auc"] - m1["performance.metrics.roc_auc"], rtol=1e-9)

    # `compare --mlflow` on the two files logs the changes to a run of its own
    code = main(["compare", str(tmp_path / "v1" / "audit.json"), str(tmp_path / "v2" / "audit.json"),
                 "--out", str(tmp_path / "cmp"), "--mlflow", "-q"])
    assert code in (0, 1)
    cmp_doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    (run,) = client.search_runs([exp], filter_string="tags.`compare.status` != ''")
    assert run.data.tags["compare.status"] == cmp_doc["status"]
    assert run.data.metrics["compare.regressions"] == len(cmp_doc["regressions"])
    for path, entry in cmp_doc["changes"].items():
        for end, suffix in (("value", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
            value = entry["delta"].get(end)
            if value is not None:
                assert_allclose(run.data.metrics[ae.mlflow.metric_name(f"{path}.delta{suffix}")], value, rtol=1e-12)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "compare")} >= {"compare/compare.json",
                                                                                   "compare/compare.html"}


def test_log_audit_goes_to_the_active_run_and_leaves_it_open(store, tmp_path):
    client, exp, _ = store
    config = ae.AuditConfig(target="two_year_recid", sensitive=("race",), n_bootstrap=50, checks=("performance",),
                            features=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"))
    result = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=config)
    with mlflow.start_run(experiment_id=exp) as active:
        run_id = ae.mlflow.log_audit(result, report=False, model_card=False)
        assert run_id == active.info.run_id
        assert mlflow.active_run() is not None
    metrics = client.get_run(run_id).data.metrics
    expected = ae.mlflow.audit_metrics(result)
    assert set(metrics) == set(expected)
    for name, e in result.performance.metrics.items():
        for value, suffix in ((e.value, ""), (e.ci_low, ".ci_low"), (e.ci_high, ".ci_high")):
            if math.isfinite(value):
                assert_allclose(metrics[f"performance.metrics.{name}{suffix}"], value, rtol=1e-12)
            else:
                assert f"performance.metrics.{name}{suffix}" not in metrics
    assert {a.path for a in client.list_artifacts(run_id, "audit")} == {"audit/audit.json"}


def test_metric_names_follow_the_documented_rule():
    assert ae.mlflow.metric_name("fairness.race*sex.groups.Native American*Female.tpr") == \
        "fairness.race_x_sex.groups.Native American_x_Female.tpr"
    assert ae.mlflow.metric_name(("fairness", "a=b", "metrics", "x")) == "fairness.a_b.metrics.x"
    assert ae.mlflow.metric_name("fairness.sex.groups./..:N/A.n") == "fairness.sex.groups._.._N_A.n"
    from mlflow.utils.validation import _validate_metric_name

    _validate_metric_name(ae.mlflow.metric_name("fairness.sex.groups./..:N/A.n"))  # MLflow's own check
    long = ae.mlflow.metric_name("x" * 400)
    assert len(long) == 249 and long.startswith("x" * 240 + "~")
    assert long != ae.mlflow.metric_name("x" * 401)


def test_run_mlflow_without_mlflow_installed_is_bad_input(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "audit_engine.integrations.mlflow", None)  # import fails as if absent
    code = main(["run", str(model_path("compas_logreg.onnx")), *ARGS, "--out", str(tmp_path / "x"), "--mlflow"])
    assert code == 2
    assert "pip install 'audit-engine[mlflow]'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before anything ran
