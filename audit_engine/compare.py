"""Compare two model versions: on one dataset (paired), or from two audit.json files.

Two models on the same rows (:func:`compare_models`): both are scored once, and every
performance metric's change comes with a **paired** Poisson-bootstrap interval — the same
row weights drive both models in each replicate, so the interval reflects the change, not
the two models' separate noise. Prediction agreement (how many decisions flip) is reported
overall and per sensitive group.

Two audit.json files (:func:`compare_results`): the change of each metric is the
difference of the point values; its interval treats the two audits as independent
(normal approximation from the two percentile intervals) and is said to be so. When both
files audited the same data (same sha256), :func:`compare_models` gives tighter answers.

Directions: for every metric the comparison reads from the metric catalogue
(:mod:`audit_engine.catalog`) whether higher or lower is better, and calls a change
``better`` or ``worse`` only when its interval excludes zero.

The release gate on top (issue 13; statistics in :mod:`audit_engine.paired`):

- ``changes`` in compare.json: every measured change keyed by its audit.json path
  (``performance.metrics.roc_auc``, ``fairness.race.metrics.demographic_parity_difference``,
  ``fairness.race.groups.Asian.selection_rate``, ``ood.scores.knn.flagged_fraction``), each
  ``{a, b, delta: {value, ci_low, ci_high}, better_when, change, paired}``. With two models
  on one dataset, performance and fairness changes carry paired-bootstrap intervals
  (same rows, same replicate weights for both models).
- ``verdicts``: the compare-only path rules (``max_drop`` / ``max_rise``) judged on those
  intervals (a non-inferiority margin); a failing one makes the status ``policy_fail``.
- ``mcnemar`` (paired decisions), ``agreement`` (flips overall and per group),
  ``importance`` (Kendall τ of global importances, features that moved most) and, when
  both models have the same inputs and outputs (an export of one model: fp16, int8,
  another exporter), ``fidelity``: the probability differences and the changes whose
  paired interval excludes zero.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import catalog
from .config import AuditConfig
from .errors import ConfigError
from .paired import fidelity, importance_change, mcnemar, paired_fairness, view_groups
from .policy import Policy
from .result import AuditResult, atomic_write_text, to_jsonable

__all__ = ["Comparison", "Change", "compare_results", "compare_models", "compare", "better_when", "HIGHER_IS_BETTER"]

HIGHER_IS_BETTER = frozenset(s.name for s in catalog.CATALOG if s.better == "higher")
_Z95 = 1.959963984540054


def better_when(metric: str, *, favorable: bool = False) -> str | None:
    """``"higher"`` / ``"lower"``: which change of ``metric`` is an improvement; None: neither.

    The catalogue's direction (:func:`audit_engine.catalog.better`), except for a group's
    ``selection_rate``: it counts predictions of the favourable outcome when one is declared
    (``favorable``), so higher is better for the group; without a declared favourable outcome
    a selection has no direction.
    """
    if metric == "selection_rate":
        return "higher" if favorable else None
    return catalog.better(metric)


def _direction(metric: str, favorable: bool = False) -> str:
    """``better_when`` as the JSON word: ``"higher"``, ``"lower"`` or ``"neither"``."""
    return better_when(metric, favorable=favorable) or "neither"


def _judge(metric: str, low: float | None, high: float | None, *, favorable: bool = False) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "unknown"
    if low <= 0 <= high:
        return "no clear change"
    direction = better_when(metric, favorable=favorable)
    if direction is None:
        return "changed"
    up = low > 0
    return "better" if up == (direction == "higher") else "worse"


def _f(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(float(x)) else None


def _independent_delta(a: dict[str, Any], b: dict[str, Any], confidence: float) -> dict[str, Any]:
    va, vb = _f(a.get("value")), _f(b.get("value"))
    if va is None or vb is None:
        return {"value": None, "ci_low": None, "ci_high": None}
    z = _Z95 if abs(confidence - 0.95) < 1e-9 else float(__import__("scipy.stats").stats.norm.ppf(0.5 + confidence / 2))
    ses = []
    for est in (a, b):
        lo, hi = _f(est.get("ci_low")), _f(est.get("ci_high"))
        if lo is None or hi is None:
            return {"value": vb - va, "ci_low": None, "ci_high": None}
        ses.append((hi - lo) / (2 * z))
    se = math.hypot(*ses)
    return {"value": vb - va, "ci_low": vb - va - z * se, "ci_high": vb - va + z * se}


@dataclass(frozen=True)
class Change:
    """One measured change B − A, keyed by its audit.json ``path``.

    ``a`` / ``b``: the two audits' values (``{value, ci_low?, ci_high?}``); ``delta``: the
    change with its interval (paired bootstrap when ``paired``, else the independent normal
    approximation); ``better_when``: ``"higher"`` / ``"lower"`` / ``"neither"``
    (:func:`better_when`); ``change``: ``better`` / ``worse`` only when the interval
    excludes zero, else ``no clear change`` (or ``changed`` without a direction, ``unknown``
    without an interval).
    """

    path: str
    a: dict[str, Any]
    b: dict[str, Any]
    delta: dict[str, Any]
    better_when: str
    change: str
    paired: bool

    @property
    def metric(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        """The compare.json entry: ``{a, b, delta{value, ci_low, ci_high}, better_when, change, paired}``."""
        return {"a": self.a, "b": self.b, "delta": self.delta, "better_when": self.better_when,
                "change": self.change, "paired": self.paired}


@dataclass(frozen=True)
class Comparison:
    """The change from model A to model B; ``to_dict()`` is compare.json, ``to_frame()`` one row per change.

    Frozen: the steps of :func:`compare_models` return new records (``dataclasses.replace``).
    The blocks (``performance``, ``fairness``, ``ood``) hold the JSON entries; ``records``
    gives them typed, as :class:`Change`.
    """

    a: dict[str, Any]
    b: dict[str, Any]
    method: str
    same_data: bool
    performance: dict[str, Any]
    fairness: dict[str, Any]
    ood: dict[str, Any]
    verdict_changes: list[dict[str, Any]]
    agreement: dict[str, Any] | None = None
    confidence: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)  # nested like audit.json; to_dict flattens by path
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # compare-only path rules (max_drop / max_rise)

    @property
    def records(self) -> tuple[Change, ...]:
        """Every change, typed, in compare.json's ``changes`` order."""
        return tuple(Change(path=path, a=e.get("a") or {}, b=e.get("b") or {}, delta=e.get("delta") or {},
                            better_when=e.get("better_when", "neither"), change=e.get("change", "unknown"),
                            paired=bool(e.get("paired")))
                     for path, e in flatten_changes(self.changes).items())

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per change: path, section, view, group, metric, a, b, delta,
        ci_low, ci_high, better_when, change, paired (``view`` / ``group`` None where not a fairness path)."""
        import pandas as pd  # the frame is optional; compare itself does not need pandas

        rows = []
        for c in self.records:
            parts = c.path.split(".")
            section = parts[0]
            view = parts[1] if section == "fairness" else None
            group = ".".join(parts[3:-1]) if section == "fairness" and len(parts) > 4 and parts[2] == "groups" else None
            rows.append({"path": c.path, "section": section, "view": view, "group": group, "metric": c.metric,
                         "a": c.a.get("value"), "b": c.b.get("value"), "delta": c.delta.get("value"),
                         "ci_low": c.delta.get("ci_low"), "ci_high": c.delta.get("ci_high"),
                         "better_when": c.better_when, "change": c.change, "paired": c.paired})
        return pd.DataFrame(rows, columns=["path", "section", "view", "group", "metric", "a", "b", "delta", "ci_low",
                                           "ci_high", "better_when", "change", "paired"])

    @property
    def regressions(self) -> list[str]:
        """Metrics that got worse with an interval excluding no change, plus newly failed rules."""
        out = []
        for block in (self.performance, self.ood):
            out += [f"{name}" for name, entry in block.items() if entry["change"] == "worse"]
        for attr, metrics in self.fairness.items():
            out += [f"{attr}: {name}" for name, entry in metrics.items() if entry["change"] == "worse"]
        out += [f"{v['check']}: {v['metric']}{' for ' + v['subject'] if v.get('subject') else ''} now {v['b']}"
                for v in self.verdict_changes if v["b"] == "fail" and v["a"] != "fail"]
        return out

    @property
    def gate_failures(self) -> list[str]:
        """Messages of the compare-only rules (max_drop / max_rise) that fail."""
        return [v["message"] for v in self.verdicts if v["status"] == "fail"]

    @property
    def status(self) -> str:
        """``regressed`` when anything got measurably worse, else ``policy_fail`` when B fails
        its policy, else ``ok``. The CLI exits 1 unless ``ok``."""
        if self.regressions:
            return "regressed"
        return "policy_fail" if self.b.get("status") == "fail" or self.gate_failures else "ok"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            "kind": "audit-engine comparison",
            "method": self.method,
            "confidence": self.confidence,
            "status": self.status,
            "regressions": self.regressions,
            "a": self.a,
            "b": self.b,
            "same_data": self.same_data,
            "performance": self.performance,
            "fairness": self.fairness,
            "ood": self.ood,
            "verdict_changes": self.verdict_changes,
            "agreement": self.agreement,
            "changes": flatten_changes(self.changes),
            "verdicts": self.verdicts,
            **self.extra,
        })

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks (:mod:`audit_engine.report.card`)."""
        from .report.card import card  # display is the report's job; imported on first display only

        return card(self)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        import json

        text = json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_path": doc["model"]["path"], "model_sha256": doc["model"]["sha256"],
        "data_sha256": doc["data"]["sha256"], "rows": doc["data"]["rows"], "status": doc["status"],
        "created": doc.get("created"), "seed": doc.get("seed"),
    }


def _entry(metric: str, a: dict[str, Any], b: dict[str, Any], delta: dict[str, Any], *,
           favorable: bool = False) -> dict[str, Any]:
    return {"a": a, "b": b, "delta": delta, "better_when": _direction(metric, favorable),
            "change": _judge(metric, delta.get("ci_low"), delta.get("ci_high"), favorable=favorable)}


def _favorable_declared(*results: AuditResult) -> bool:
    """True when the audits' fairness sections count selections of a declared favourable outcome."""
    return any(v.favorable_label is not None for r in results for v in (r.fairness or {}).values())


def _verdict_changes(da: dict[str, Any], db: dict[str, Any]) -> list[dict[str, Any]]:
    def key(v: dict[str, Any]) -> tuple[str, str, str]:
        return v["check"], v["metric"], v.get("subject") or ""

    va = {key(v): v["status"] for v in da.get("verdicts", [])}
    vb = {key(v): v["status"] for v in db.get("verdicts", [])}
    out = []
    for k in sorted(set(va) | set(vb)):
        if va.get(k) != vb.get(k):
            out.append({"check": k[0], "metric": k[1], "subject": k[2] or None, "a": va.get(k, "absent"), "b": vb.get(k, "absent")})
    return out


def compare_results(
    a: AuditResult | dict[str, Any] | str | os.PathLike[str],
    b: AuditResult | dict[str, Any] | str | os.PathLike[str],
    *,
    policy: Policy | None = None,
) -> Comparison:
    """Compare two audits from their audit.json alone (no model is loaded).

    ``policy``: its compare-only rules (max_drop / max_rise) are judged on the changes
    (here with intervals that treat the audits as independent).
    """
    ra, rb = (_typed(x) for x in (a, b))
    da, db = ra.to_dict(), rb.to_dict()
    confidence = float(db.get("config", {}).get("confidence", 0.95))
    favorable = _favorable_declared(ra, rb)
    performance = {}
    pa = {k: e.to_dict() for k, e in ra.performance.metrics.items()} if ra.performance is not None else {}
    pb = {k: e.to_dict() for k, e in rb.performance.metrics.items()} if rb.performance is not None else {}
    for name in sorted(set(pa) & set(pb)):
        performance[name] = _entry(name, pa[name], pb[name], _independent_delta(pa[name], pb[name], confidence))
    fairness: dict[str, Any] = {}
    fa, fb = ra.fairness or {}, rb.fairness or {}
    for attr in sorted(set(fa) & set(fb)):
        ma, mb = fa[attr].metrics, fb[attr].metrics
        block = {}
        for name in sorted(set(ma) & set(mb)):
            ea, eb = ma[name].to_dict(), mb[name].to_dict()
            block[name] = _entry(name, ea, eb, _independent_delta(ea, eb, confidence), favorable=favorable)
        if block:
            fairness[attr] = block
    ood = {}
    oa, ob = ((da.get("ood") or {}).get("scores") or {}), ((db.get("ood") or {}).get("scores") or {})
    for name in sorted(set(oa) & set(ob)):
        ea, eb = oa[name].get("auroc"), ob[name].get("auroc")
        if isinstance(ea, dict) and isinstance(eb, dict):
            ood[f"{name}.auroc"] = _entry("auroc", ea, eb, _independent_delta(ea, eb, confidence))
    extra: dict[str, Any] = {}
    for name in sorted(set(oa) & set(ob)):
        fa_, fb_ = _f(oa[name].get("flagged_fraction")), _f(ob[name].get("flagged_fraction"))
        if fa_ is not None and fb_ is not None:
            extra.setdefault("ood_flagged", {})[name] = _entry(
                "flagged_fraction", {"value": fa_}, {"value": fb_}, {"value": fb_ - fa_, "ci_low": None, "ci_high": None})
    comparison = Comparison(
        a=_summary(da), b=_summary(db), method="independent audits (normal approximation from the two intervals)",
        same_data=da["data"]["sha256"] == db["data"]["sha256"], performance=performance, fairness=fairness,
        ood=ood, verdict_changes=_verdict_changes(da, db), confidence=confidence, extra=extra,
    )
    comparison = rebuild_changes(comparison, paired=False)
    if policy is not None:
        comparison = judge_gate(comparison, policy)
    return comparison


def rebuild_changes(comparison: Comparison, *, paired: bool, groups: dict[str, Any] | None = None) -> Comparison:
    """``comparison`` with ``changes`` (nested like audit.json) rebuilt from its blocks."""
    tree: dict[str, Any] = {}
    for name, entry in comparison.performance.items():
        tree.setdefault("performance", {}).setdefault("metrics", {})[name] = {"paired": paired, **entry}
    for attr, block in comparison.fairness.items():
        view = tree.setdefault("fairness", {}).setdefault(attr, {})
        for name, entry in block.items():
            view.setdefault("metrics", {})[name] = {"paired": paired, **entry}
        for group, rates in (groups or {}).get(attr, {}).items():
            view.setdefault("groups", {})[group] = {name: {"paired": paired, **e} for name, e in rates.items()}
    for key, entry in comparison.ood.items():
        score, _, metric = key.partition(".")
        tree.setdefault("ood", {}).setdefault("scores", {}).setdefault(score, {})[metric] = {**entry, "paired": False}
    for score, entry in comparison.extra.get("ood_flagged", {}).items():
        tree.setdefault("ood", {}).setdefault("scores", {}).setdefault(score, {})["flagged_fraction"] = {
            **entry, "paired": False}
    return dataclasses.replace(comparison, changes=tree)


def flatten_changes(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"performance": {"metrics": {"roc_auc": e}}}`` -> ``{"performance.metrics.roc_auc": e}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and "delta" in value:
            out[path] = value
        elif isinstance(value, dict):
            out.update(flatten_changes(value, path))
    return out


def judge_gate(comparison: Comparison, policy: Policy) -> Comparison:
    """``comparison`` with the compare-only rules judged on its ``changes`` (into ``verdicts``)."""
    return dataclasses.replace(comparison, verdicts=[v.to_dict() for v in policy.judge_changes(
        comparison.changes, confidence=comparison.confidence)])


def _typed(x: AuditResult | dict[str, Any] | str | os.PathLike[str]) -> AuditResult:
    if isinstance(x, AuditResult):
        return x
    if isinstance(x, dict):
        return AuditResult.from_dict(x)
    return AuditResult.from_json(x)


def compare_models(
    model_a: Any, model_b: Any, data: Any, *, config: AuditConfig | None = None, **audit_kwargs: Any,
) -> tuple[Comparison, AuditResult, AuditResult]:
    """Audit two models on the same data and compare them with paired intervals.

    Returns (comparison, result_a, result_b). Performance deltas use the same Poisson
    bootstrap weights for both models (paired); fairness and OOD deltas come from the two
    audits as in :func:`compare_results`. ``agreement`` gives the share of rows whose
    decision is the same under both models, overall and per sensitive group.
    """
    import time

    from .audit import prepare, run_checks
    from .performance import classification_metrics, estimate_all, regression_metrics

    config = config or AuditConfig()
    started_a = time.perf_counter()
    ctx_a = prepare(model_a, data, config=config, **audit_kwargs)
    prepared_a = time.perf_counter()
    ctx_b = prepare(model_b, ctx_a.data, config=config, **audit_kwargs)
    prepare_b_seconds = time.perf_counter() - prepared_a
    if ctx_a.task != ctx_b.task:
        raise ConfigError(f"Model A is a {ctx_a.task} model and model B a {ctx_b.task} model; compare models of one task.")
    if ctx_a.task == "classification" and [str(c) for c in ctx_a.classes] != [str(c) for c in ctx_b.classes]:
        raise ConfigError(
            f"The models predict different classes ({ctx_a.classes} vs {ctx_b.classes}); compare versions of one model."
        )
    # Each model is loaded and scored once: the audits run on the prepared contexts.
    # Each total counts its own preparation only, not the other model's work in between.
    result_a = run_checks(ctx_a, started=started_a + prepare_b_seconds)
    result_b = run_checks(ctx_b, started=time.perf_counter() - prepare_b_seconds)
    comparison = dataclasses.replace(
        compare_results(result_a, result_b),
        method="paired bootstrap on the same rows (performance, fairness); independent audits (OOD)")
    n = ctx_a.data.n_rows
    agreement = None
    if ctx_a.data.y is not None:
        if ctx_a.task == "classification":
            sa = classification_metrics(ctx_a.proba, ctx_a.y_index, positive_index=ctx_a.positive_index,
                                        threshold=config.threshold)
            sb = classification_metrics(ctx_b.proba, ctx_b.y_index, positive_index=ctx_b.positive_index,
                                        threshold=config.threshold)
        else:
            y = ctx_a.data.y.astype(np.float64)
            sa, sb = regression_metrics(ctx_a.proba[:, 0], y), regression_metrics(ctx_b.proba[:, 0], y)
        deltas = {name: (lambda w, fa=sa[name], fb=sb[name]: fb(w) - fa(w)) for name in sa if name in sb}
        paired = estimate_all(deltas, n, n_boot=config.n_bootstrap, rng=ctx_a.rng("compare", "paired"),
                              confidence=config.confidence)
        for name, est in paired.items():
            if name in comparison.performance:
                entry = comparison.performance[name]
                entry["delta"] = est.to_dict()
                entry["change"] = _judge(name, entry["delta"]["ci_low"], entry["delta"]["ci_high"])
    group_changes: dict[str, Any] = {}
    if ctx_a.task == "classification":
        same = ctx_a.predicted_index == ctx_b.predicted_index
        agreement = {"rate": float(same.mean()), "flipped_rows": int((~same).sum()), "by_group": {}}
        for attr in ctx_a.data.sensitive_names:
            groups = ctx_a.data.sensitive[attr]
            block = {}
            for g in sorted(groups.dropna().unique(), key=str):
                mask = (groups == g).to_numpy()
                block[str(g)] = {"n": int(mask.sum()), "rate": float(same[mask].mean()),
                                 "flipped_rows": int((~same[mask]).sum())}
            agreement["by_group"][attr] = block
        comparison.extra["mcnemar"] = _mcnemar(ctx_a, ctx_b)
        group_changes = _paired_fairness(ctx_a, ctx_b, comparison, config, (result_a, result_b))
    comparison.extra["importance"] = importance_change(result_a.to_dict().get("explanations"),
                                                       result_b.to_dict().get("explanations"))
    comparison = rebuild_changes(dataclasses.replace(comparison, agreement=agreement), paired=True, groups=group_changes)
    if shares_io(ctx_a.model, ctx_b.model):
        comparison.extra["fidelity"] = _fidelity(ctx_a, ctx_b, comparison)
        comparison = dataclasses.replace(
            comparison, method="fidelity check (the models share inputs and outputs); " + comparison.method)
    comparison = judge_gate(comparison, config.policy)
    return comparison, result_a, result_b


def shares_io(a: Any, b: Any) -> bool:
    """True when two models have the same input and output names and shapes (dtypes may differ)."""
    da, db = a.to_dict(), b.to_dict()

    def shape(t: dict[str, Any]) -> tuple[Any, ...]:  # symbolic dims ("N", "unk__1") are all "dynamic"
        return tuple(x if isinstance(x, int) else None for x in (t.get("shape") or []))

    def io(d: dict[str, Any]) -> tuple[Any, ...]:
        return (tuple((t["name"], shape(t)) for t in d["inputs"]), tuple((t["name"], shape(t)) for t in d["outputs"]))

    return io(da) == io(db)


def _mcnemar(ctx_a: Any, ctx_b: Any) -> dict[str, Any]:
    if ctx_a.y_index is not None:
        out = mcnemar(ctx_a.predicted_index == ctx_a.y_index, ctx_b.predicted_index == ctx_b.y_index)
        out["on"] = "correct decisions (table rows: A right / wrong; columns: B right / wrong)"
    elif ctx_a.positive_index is not None:
        out = mcnemar(ctx_a.predicted_index == ctx_a.positive_index, ctx_b.predicted_index == ctx_b.positive_index)
        out["on"] = "positive decisions (no labels; table rows: A positive / negative; columns: B)"
    else:
        return {"status": "skipped", "reason": "needs labels or a binary model"}
    out["status"] = "ran"
    return out


def _paired_fairness(ctx_a: Any, ctx_b: Any, comparison: Comparison, config: AuditConfig,
                     results: tuple[AuditResult, AuditResult]) -> dict[str, Any]:
    """Replace the fairness deltas by paired ones; return the per-group rate changes by view.

    Each model's gaps are taken over the groups its audit headlines (``left_out`` groups
    stay out, as in the audit), so A, B and the change B − A describe the same groups.
    """
    if ctx_a.positive_index is None:
        return {}
    favorable = _favorable_declared(*results)
    views = list((comparison.fairness or {}).keys()) or list(ctx_a.data.sensitive_names)
    out: dict[str, Any] = {}
    for view in views:
        labels = view_groups(ctx_a.data.sensitive, view)
        if labels is None:
            continue
        paired = paired_fairness(ctx_a.predicted_index, ctx_b.predicted_index, ctx_a.y_index, labels,
                                 n_classes=len(ctx_a.classes), positive_index=ctx_a.positive_index,
                                 favorable_index=ctx_a.favorable_index, n_boot=config.n_bootstrap,
                                 rng=ctx_a.rng("compare", "paired", "fairness", view), confidence=config.confidence,
                                 left_out=tuple(_left_out(r, view) for r in results))
        block = comparison.fairness.setdefault(view, {})
        for entry in block.values():  # gaps that need scores (calibration_gap, ...) stay unpaired
            entry["paired"] = False
        for name, entry in paired["metrics"].items():
            old = block.get(name)
            a = old["a"] if old else {"value": entry["a"]}
            b = old["b"] if old else {"value": entry["b"]}
            block[name] = {**_entry(name, a, b, entry["delta"], favorable=favorable), "paired": True}
        out[view] = {g: {name: _entry(name, {"value": e["a"]}, {"value": e["b"]}, e["delta"], favorable=favorable)
                         for name, e in rates.items()}
                     for g, rates in paired["groups"].items()}
    return out


def _left_out(result: AuditResult, view: str) -> dict[str, tuple[str, ...]]:
    """group -> the rates the audit left it out of headline gaps for (``fairness.<view>.left_out``)."""
    fair = (result.fairness or {}).get(view)
    return {str(g): tuple(lo.rates) for g, lo in ((fair.left_out or {}) if fair is not None else {}).items()}


def _fidelity(ctx_a: Any, ctx_b: Any, comparison: Comparison) -> dict[str, Any]:
    out = fidelity(ctx_a.proba, ctx_b.proba)
    if comparison.agreement is not None:
        out["flipped_rows"] = comparison.agreement["flipped_rows"]
        out["flip_rate"] = 1.0 - comparison.agreement["rate"]
        out["flips_by_group"] = {attr: {g: e["flipped_rows"] for g, e in block.items()}
                                 for attr, block in comparison.agreement["by_group"].items()}
    if ctx_a.positive_index is not None:
        # The change of a group's selection rate is (flips up − flips down) / n: McNemar's exact
        # test on the group's positive decisions is calibrated however few rows flip.
        pos_a = ctx_a.predicted_index == ctx_a.positive_index
        pos_b = ctx_b.predicted_index == ctx_b.positive_index
        tests: dict[str, Any] = {}
        for attr in ctx_a.data.sensitive_names:
            groups = ctx_a.data.sensitive[attr]
            block = {}
            for g in sorted(groups.dropna().unique(), key=str):
                mask = (groups == g).to_numpy()
                t = mcnemar(pos_a[mask], pos_b[mask])
                block[str(g)] = {"to_positive": t["c"], "to_negative": t["b"], "method": t["method"],
                                 "p_value": t["p_value"]}
            tests[attr] = block
        out["selection_tests"] = tests
    moved = [path for path, e in flatten_changes(comparison.changes).items()
             if e.get("paired") and e["delta"].get("ci_low") is not None
             and (e["delta"]["ci_low"] > 0 or e["delta"]["ci_high"] < 0)]
    out["moved_beyond_interval"] = moved
    out["verdict"] = "faithful" if not moved and out.get("flipped_rows", 0) == 0 else (
        "decisions flipped, no metric moved beyond its interval" if not moved else "metrics moved")
    return out


def compare(a: Any, b: Any, data: Any = None, **kwargs: Any) -> Comparison:
    """Compare two audit.json files / AuditResults, or two models on ``data``."""
    if data is None:
        return compare_results(a, b)
    return compare_models(a, b, data, **kwargs)[0]
