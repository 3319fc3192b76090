"""Log audits and comparisons to MLflow, and compare model versions from their runs.

Needs the ``mlflow`` extra (``pip install 'audit-engine[mlflow]'``, which brings
``mlflow-skinny``). The tracking store is MLflow's own choice: ``MLFLOW_TRACKING_URI``
(or :func:`mlflow.set_tracking_uri`), the experiment from ``MLFLOW_EXPERIMENT_NAME`` /
``MLFLOW_EXPERIMENT_ID`` (or :func:`mlflow.set_experiment`), as for ``mlflow.evaluate``.

>>> import audit_engine as ae
>>> run_id = ae.mlflow.log_audit(result)                # or a path: "audit-out/audit.json"
>>> diff = ae.mlflow.compare_runs(run_id_v1, run_id_v2)  # a Comparison, from the runs' audit.json

What a run receives
-------------------
Metrics (step 0), named by their audit.json path (segments joined by ``.``):

- every estimate (an object with ``value``, ``ci_low``, ``ci_high``): ``<path>`` is the point
  value, ``<path>.ci_low`` / ``<path>.ci_high`` the interval ends, ``<path>.p_value`` the
  test of a fairness gap where there is one — e.g. ``performance.metrics.roc_auc``,
  ``performance.metrics.roc_auc.ci_low``,
  ``fairness.race.metrics.demographic_parity_difference.ci_high``;
- a group's rates, whose interval audit.json keeps in the group's ``ci`` table, follow the
  same scheme: ``fairness.race.groups.Caucasian.selection_rate`` and
  ``fairness.race.groups.Caucasian.selection_rate.ci_low``;
- every other number of the sections (``performance``, ``fairness``, ``explanations``,
  ``ood``, ``uncertainty``) and of ``evaluations``, except those inside lists (per-row
  figures, curves, histograms: they are in the audit.json artifact) and the method settings
  under ``params``.

MLflow accepts letters, digits, ``_ - . / :`` and space in a name (``:`` not on Windows; a
``/`` must not make the name resolve to another path), at most 250 characters. So a name
keeps letters, digits, ``_ - .`` and space: an intersection's ``*`` becomes ``_x_``
(``fairness.race_x_sex...``), any other character (``/`` and ``:`` included) becomes ``_``,
and a longer name keeps its first 240 characters plus ``~`` and 8 hex digits of its SHA-256. :func:`metric_name` applies the rule. Undefined numbers (null in
audit.json) are not logged; MLflow has no null.

Tags: ``audit.status`` (pass | warn | fail | error), ``audit.verdict.<path>`` = the verdict's
status for each policy rule (``<path>`` is the verdict's audit.json path, named as above;
``audit.verdict.<check>.<metric>[.<subject>]`` when it has none), ``audit.verdicts`` =
``"<n> pass, <n> warn, <n> fail"``, and the identity of what was audited:
``audit.model_sha256``, ``audit.data_sha256``, ``audit.model_path``, ``audit.seed``,
``audit.schema_version``, ``audit.engine_version``.

Artifacts, under ``audit/`` (``artifact_path``): ``audit.json``, ``report.html``,
``model_card.html`` and ``model_card.json``.

A comparison (:func:`log_comparison`) logs ``<change path>.delta`` with its interval ends
(``.ci_low`` / ``.ci_high``) for each compared figure (``compare.json``'s ``changes``),
``compare.regressions`` (how many), the tags ``compare.status``, ``compare.a.model_sha256``,
``compare.b.model_sha256``, and ``compare.json``, ``compare.html`` (and both audits, when the
models were run) under ``compare/``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

try:  # the optional extra; this module is only imported when asked for (ae.mlflow)
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag
except ImportError as exc:  # pragma: no cover - exercised where mlflow is absent
    raise ImportError(
        "Logging to MLflow needs the mlflow extra, which is not installed; "
        "install it with: pip install 'audit-engine[mlflow]'."
    ) from exc

from ..compare import Comparison, compare_results
from ..errors import DataNotFoundError
from ..policy import Policy
from ..report import render
from ..result import AuditResult

__all__ = ["log_audit", "log_comparison", "load_audit", "compare_runs", "audit_metrics", "audit_tags",
           "comparison_metrics", "metric_name", "SECTIONS"]

log = logging.getLogger(__name__)

SECTIONS = ("performance", "fairness", "explanations", "ood", "uncertainty", "evaluations")
_SKIP = frozenset({"params"})  # method settings, not findings
_BAD = re.compile(r"[^\w\-. ]")
_MAX_KEY = 250
_BATCH = 1000  # MLflow's limit on metrics per log_batch call
_TAG_BATCH = 100  # and on params + tags


# ------------------------------------------------------------------------------ naming
def metric_name(path: str | tuple[Any, ...]) -> str:
    """The MLflow name of an audit.json path (see the module docstring for the rule).

    >>> metric_name("fairness.race*sex.metrics.impact_ratio")
    'fairness.race_x_sex.metrics.impact_ratio'
    """
    text = ".".join(str(p) for p in path) if isinstance(path, tuple) else str(path)
    text = _BAD.sub("_", text.replace("*", "_x_"))
    if len(text) > _MAX_KEY:
        text = text[:240] + "~" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _is_estimate(node: Mapping[str, Any]) -> bool:
    return "value" in node and "ci_low" in node and "ci_high" in node


def _leaves(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], float | None]]:
    """(path, number) for every number of ``node`` outside lists, estimates spelled out."""
    if not isinstance(node, Mapping):
        yield path, _number(node)
        return
    if _is_estimate(node):
        yield path, _number(node["value"])
        for end in ("ci_low", "ci_high", "p_value"):
            if end in node:
                yield path + (end,), _number(node[end])
        return
    for key, value in node.items():
        if key in _SKIP or isinstance(value, (list, tuple, str, bool)) or value is None:
            continue
        if key == "ci" and isinstance(value, Mapping):  # a group's intervals, keyed by rate
            for rate, ends in value.items():
                if isinstance(ends, Mapping):
                    for end in ("ci_low", "ci_high"):
                        yield path + (str(rate), end), _number(ends.get(end))
            continue
        yield from _leaves(value, path + (str(key),))


def audit_metrics(result: AuditResult | Mapping[str, Any]) -> dict[str, float]:
    """``{metric name: number}``: what :func:`log_audit` logs as metrics (undefined ones left out)."""
    doc = result.to_dict() if isinstance(result, AuditResult) else result
    out: dict[str, float] = {}
    for section in SECTIONS:
        if not isinstance(doc.get(section), Mapping):
            continue
        for path, value in _leaves(doc[section], (section,)):
            if value is None:
                continue
            name = metric_name(path)
            if name in out:
                log.warning("Two audit.json paths share the MLflow metric name %r; the first is kept.", name)
                continue
            out[name] = value
    return out


def audit_tags(result: AuditResult | Mapping[str, Any]) -> dict[str, str]:
    """``{tag: value}``: what :func:`log_audit` sets as tags (status, verdicts, identity)."""
    doc = result.to_dict() if isinstance(result, AuditResult) else result
    verdicts = doc.get("verdicts") or []
    counts = {s: sum(v.get("status") == s for v in verdicts) for s in ("pass", "warn", "fail")}
    tags = {
        "audit.status": str(doc.get("status", "")),
        "audit.verdicts": f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail",
        "audit.model_sha256": str(doc["model"]["sha256"]),
        "audit.model_path": str(doc["model"].get("path", "")),
        "audit.data_sha256": str(doc["data"]["sha256"]),
        "audit.seed": str(doc.get("seed")),
        "audit.schema_version": str(doc.get("schema_version")),
        "audit.engine_version": str((doc.get("engine") or {}).get("version", "")),
    }
    for v in verdicts:
        where = v.get("path") or ".".join(str(p) for p in (v.get("check"), v.get("metric"), v.get("subject")) if p)
        key = metric_name("audit.verdict." + where)
        if tags.get(key) in ("fail", "warn") and v.get("status") == "pass":
            continue  # several rules on one figure: the tag keeps the worst status
        if tags.get(key) == "fail":
            continue
        tags[key] = str(v.get("status"))
    return tags


# ------------------------------------------------------------------------------ logging
def _resolve(result: AuditResult | str | os.PathLike[str]) -> tuple[AuditResult, Path | None]:
    """The result, and the folder whose report.html can be reused (when given a path)."""
    if isinstance(result, AuditResult):
        return result, None
    path = Path(result)
    if path.is_dir():
        path = path / "audit.json"
    if not path.is_file():
        raise DataNotFoundError(f"audit.json file {str(path)!r} does not exist; pass an AuditResult, an "
                                "audit.json or the folder `audit-engine run --out` wrote.")
    return AuditResult.from_json(path), path.parent


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _log(client: MlflowClient, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
    stamp = int(time.time() * 1000)
    entries = [Metric(k, v, stamp, 0) for k, v in metrics.items()]
    for chunk in _batches(entries, _BATCH):
        client.log_batch(run_id, metrics=chunk)
    for tag_chunk in _batches([RunTag(k, v[:8000]) for k, v in tags.items()], _TAG_BATCH):
        client.log_batch(run_id, tags=tag_chunk)


class _Run:
    """The run to log to: ``run_id``, else the active run, else a new run (ended afterwards)."""

    def __init__(self, run_id: str | None, run_name: str) -> None:
        self.started = False
        if run_id is None and mlflow.active_run() is not None:
            run_id = mlflow.active_run().info.run_id
        if run_id is None:
            run_id = mlflow.start_run(run_name=run_name).info.run_id  # honours MLFLOW_RUN_ID / _EXPERIMENT_*
            self.started = True
        self.run_id = run_id

    def __enter__(self) -> str:
        return self.run_id

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if self.started:
            mlflow.end_run(status="FINISHED" if kind is None else "FAILED")


def log_audit(
    result: AuditResult | str | os.PathLike[str],
    run_id: str | None = None,
    *,
    artifact_path: str = "audit",
    report: bool = True,
    model_card: bool = True,
) -> str:
    """Log an audit to an MLflow run; returns the run's id.

    Parameters
    ----------
    result: an :class:`~audit_engine.result.AuditResult`, an audit.json path, or the folder
        ``audit-engine run --out`` wrote (its report.html is logged as it is).
    run_id: the run to log to; default the active run (``mlflow.start_run()``), else a new
        run in the current experiment, named after the model file, ended when done.
    artifact_path: the folder of the run's artifacts that receives the files.
    report, model_card: also log report.html / model_card.html (+ model_card.json).

    What is logged, and under which names: see the module docstring.
    """
    res, folder = _resolve(result)
    metrics, tags = audit_metrics(res), audit_tags(res)
    client = MlflowClient()
    with _Run(run_id, f"audit {Path(res.model.path).name}") as rid, tempfile.TemporaryDirectory() as tmp:
        _log(client, rid, metrics, tags)
        staging = Path(tmp)
        res.to_json(staging / "audit.json")
        if report:
            existing = None if folder is None else folder / "report.html"
            if existing is not None and existing.is_file():
                (staging / "report.html").write_bytes(existing.read_bytes())
            else:
                render(res, staging / "report.html")
        if model_card:
            render(res, staging / "model_card.html", template="model-card")
        client.log_artifacts(rid, str(staging), artifact_path)
    return rid


def comparison_metrics(comparison: Comparison) -> dict[str, float]:
    """``{name: number}``: each change's ``delta`` with its interval ends, and the regression count."""
    out: dict[str, float] = {"compare.regressions": float(len(comparison.regressions))}
    for path, entry in comparison.to_dict().get("changes", {}).items():
        delta = entry.get("delta") if isinstance(entry, Mapping) else None
        if not isinstance(delta, Mapping):
            continue
        for end, suffix in (("value", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
            value = _number(delta.get(end))
            if value is not None:
                out[metric_name(f"{path}.delta{suffix}")] = value
    return out


def log_comparison(
    comparison: Comparison,
    run_id: str | None = None,
    *,
    results: tuple[AuditResult, AuditResult] | None = None,
    artifact_path: str = "compare",
) -> str:
    """Log a :class:`~audit_engine.compare.Comparison` to an MLflow run; returns the run's id.

    ``results``: the two audits, when the models were run (logged as audit_a.json /
    audit_b.json). Names: see the module docstring.
    """
    from ..report.compare import write_comparison  # the same files `audit-engine compare` writes

    tags = {"compare.status": comparison.status, "compare.a.model_sha256": str(comparison.a.get("model_sha256")),
            "compare.b.model_sha256": str(comparison.b.get("model_sha256"))}
    client = MlflowClient()
    with _Run(run_id, "compare") as rid, tempfile.TemporaryDirectory() as tmp:
        _log(client, rid, comparison_metrics(comparison), tags)
        write_comparison(comparison, Path(tmp), results)
        client.log_artifacts(rid, tmp, artifact_path)
    return rid


# ------------------------------------------------------------------------------ reading back
def load_audit(run_id: str, *, artifact_path: str = "audit") -> AuditResult:
    """The audit logged to run ``run_id`` (its ``<artifact_path>/audit.json`` artifact)."""
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{artifact_path}/audit.json",
                                                    dst_path=tmp)
        return AuditResult.from_json(local)


def compare_runs(run_a: str, run_b: str, *, policy: Policy | None = None, artifact_path: str = "audit") -> Comparison:
    """Compare the audits logged to two runs (model version A, then B), as ``audit-engine
    compare a/audit.json b/audit.json`` would: intervals treat the audits as independent."""
    return compare_results(load_audit(run_a, artifact_path=artifact_path),
                           load_audit(run_b, artifact_path=artifact_path), policy=policy)
