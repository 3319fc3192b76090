"""Compact HTML cards: what a notebook shows for a result (``_repr_html_``).

One card per result type: a title with the status, the top verdicts with their intervals,
the key figures, and what was not tested (skipped or failed checks, refused methods). A card
is bounded: at most :data:`MAX_ROWS` rows per table, :data:`MAX_WIDTH` × :data:`MAX_HEIGHT`
CSS pixels on screen (scrolling inside beyond), and :data:`MAX_CHARS` characters of HTML.
Its CSS lives in one ``<style>`` element whose every selector starts with ``.ae-card``, so
the card never restyles the page that hosts it; every text is HTML-escaped.

The full report stays ``ae.render(result, path)``; a card is a glance, not the report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..stats import Estimate

if TYPE_CHECKING:  # the result types call card() from their _repr_html_: named here for type checkers only
    from ..compare import Comparison
    from ..explain.attribution import Attribution
    from ..result import AuditResult
    from ..results.explanations import ExplanationsResult, MethodExplanation
    from ..results.fairness import AttributeFairness, FairnessResult
    from ..results.ood import OODResult
    from ..results.record import Record, RecordMap
    from ..results.performance import PerformanceResult
    from ..results.uncertainty import UncertaintyResult as UncertaintySection
    from ..uncertainty.api import UncertaintyResult

__all__ = ["card", "CSS", "MAX_ROWS", "MAX_WIDTH", "MAX_HEIGHT", "MAX_CHARS"]

MAX_ROWS = 8
MAX_WIDTH = 760
MAX_HEIGHT = 520
MAX_CHARS = 24_000

CSS = (
    f".ae-card{{all:initial;display:block;box-sizing:border-box;max-width:{MAX_WIDTH}px;max-height:{MAX_HEIGHT}px;"
    "overflow:auto;font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;background:#fff;"
    "border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}"
    # the host page's element rules (Jupyter styles tables) must not reach inside the card either
    ".ae-card *{box-sizing:border-box;font:inherit;color:inherit;letter-spacing:normal;text-transform:none;"
    "line-height:inherit;text-align:left;margin:0;padding:0;border:0;background:none}"
    ".ae-card .ae-title{display:block;font-weight:600;font-size:14px;margin:0 0 6px}"
    ".ae-card .ae-h{display:block;font-weight:600;margin:8px 0 2px;color:#57606a;font-size:12px;"
    "text-transform:uppercase;letter-spacing:.04em}"
    ".ae-card table{border-collapse:collapse;border:0;margin:0}"
    ".ae-card th,.ae-card td{padding:1px 12px 1px 0;text-align:left;vertical-align:top;border:0;background:none}"
    ".ae-card th{font-weight:600;color:#57606a}"
    ".ae-card td.ae-n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".ae-card .ae-badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600;"
    "color:#fff;background:#57606a;margin-left:6px}"
    ".ae-card .ae-pass{background:#1a7f37}.ae-card .ae-warn{background:#9a6700}"
    ".ae-card .ae-fail,.ae-card .ae-error,.ae-card .ae-regressed,.ae-card .ae-policy_fail{background:#cf222e}"
    ".ae-card .ae-ok{background:#1a7f37}"
    ".ae-card .ae-muted{color:#57606a}"
    ".ae-card ul{margin:0;padding-left:18px}.ae-card li{list-style:disc}"
)


# ------------------------------------------------------------------------------ pieces
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any) -> str:
    if x is None or isinstance(x, bool):
        return "—" if x is None else str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if not math.isfinite(v):
        return "—"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4g}" if abs(v) >= 1 else f"{v:.3f}"


def _est(e: Any) -> str:
    """``0.691 [0.676, 0.705]`` (the interval only where it is defined)."""
    if isinstance(e, Mapping):
        value, low, high = e.get("value"), e.get("ci_low"), e.get("ci_high")
    elif isinstance(e, Estimate):
        value, low, high = e.value, e.ci_low, e.ci_high
    else:
        return _num(e)
    ends = [v for v in (low, high) if v is not None and math.isfinite(float(v))]
    return _num(value) + (f" [{_num(low)}, {_num(high)}]" if len(ends) == 2 else "")


def _badge(status: str) -> str:
    return f'<span class="ae-badge ae-{_e(status)}">{_e(status)}</span>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (), total: int | None = None) -> str:
    """A table of already-escaped cells, cut at MAX_ROWS (with a line saying how many more)."""
    rows = list(rows)
    shown = rows[:MAX_ROWS]
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="ae-n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in shown)
    n = len(rows) if total is None else total
    more = f'<div class="ae-muted">… and {n - len(shown)} more</div>' if n > len(shown) else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _section(title: str, body: str) -> str:
    return f'<span class="ae-h">{_e(title)}</span>{body}' if body else ""


def _list(items: Iterable[str]) -> str:
    items = list(items)
    if not items:
        return ""
    extra = f"<li class=\"ae-muted\">… and {len(items) - MAX_ROWS} more</li>" if len(items) > MAX_ROWS else ""
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items[:MAX_ROWS]) + extra + "</ul>"


def _wrap(title: str, status: str | None, body: str, note: str = "") -> str:
    out = (f'<div class="ae-card"><style>{CSS}</style><span class="ae-title">{_e(title)}'
           f"{_badge(status) if status else ''}</span>{body}"
           f"{f'<div class=ae-muted>{_e(note)}</div>' if note else ''}</div>")
    if len(out) > MAX_CHARS:  # a pathological input (huge names): keep the card bounded
        out = (f'<div class="ae-card"><style>{CSS}</style><span class="ae-title">{_e(title[:200])}'
               f"{_badge(status) if status else ''}</span><div class=\"ae-muted\">Too large to show as a card; "
               "use to_frame() or ae.render().</div></div>")
    return out


# ------------------------------------------------------------------------------ one per type
_ORDER = {"fail": 0, "error": 0, "warn": 1, "pass": 2}
_KEY_PERFORMANCE = ("roc_auc", "accuracy", "balanced_accuracy", "f1", "log_loss", "brier_score",
                    "expected_calibration_error", "r2", "rmse", "mae")
_KEY_FAIRNESS = ("demographic_parity_difference", "impact_ratio", "equalized_odds_difference",
                 "equal_opportunity_difference")


def _verdicts(verdicts: Sequence[Any]) -> str:
    ranked = sorted(verdicts, key=lambda v: _ORDER.get(v.status, 3))
    rows = [(_badge(v.status), _e(v.message)) for v in ranked]
    counts = {s: sum(v.status == s for v in verdicts) for s in ("fail", "warn", "pass")}
    title = f"Verdicts ({counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass)"
    return _section(title, _table(["", "rule"], rows)) if rows else ""


def _performance_rows(p: PerformanceResult, keys: Sequence[str] | None) -> list[tuple[str, str]]:
    names = [k for k in (keys or p.metrics) if k in p.metrics]
    if keys is not None:
        names += [k for k in p.metrics if k not in names]
    return [(_e(k), _est(p.metrics[k])) for k in names]


def _fairness_rows(f: FairnessResult) -> list[tuple[str, ...]]:
    rows = []
    for view, a in f.items():
        cells = [_e(view), _num(len(a.groups))]
        for m in _KEY_FAIRNESS[:2]:
            cells.append(_est(a.metrics[m]) if m in a.metrics else "—")
        rows.append(tuple(cells))
    return rows


def _audit(r: AuditResult) -> str:
    untested = [f"{_e(name)}: {_e(c.status)}{' — ' + _e(c.reason or c.error or '') if (c.reason or c.error) else ''}"
                for name, c in r.checks.items() if c.status != "ran"]
    body = [f'<div class="ae-muted">{_e(r.model.path)} · {_e(r.model.task)} · {_num(r.data.rows)} rows · '
            f"seed {_e(r.seed)}</div>", _verdicts(r.verdicts), _section("Not tested", _list(untested))]
    if r.performance is not None:
        body.append(_section("Performance", _table(["metric", "value [interval]"],
                                                   _performance_rows(r.performance, _KEY_PERFORMANCE), numeric=(1,))))
    if r.fairness is not None and len(r.fairness):
        body.append(_section("Fairness", _table(["view", "groups", "parity difference", "impact ratio"],
                                                _fairness_rows(r.fairness), numeric=(1, 2, 3))))
    if r.explanations is not None and len(r.explanations):
        body.append(_section("Explanations (top features)", _table(
            ["method", "top features"], [(_e(m), _e(", ".join(_top_features(e, 3)))) for m, e in r.explanations.items()])))
    if r.ood is not None:
        body.append(_section("Out of distribution", _ood_table(r.ood)))
    if r.uncertainty is not None:
        body.append(_section("Uncertainty", _table(["method", "measure (nats)", "mean"], [
            (_e(name), _e(measure), _num(m.summary[measure].mean)) for name, m in r.uncertainty.methods.items()
            for measure in m.summary], numeric=(2,))))
    if r.robustness is not None:
        body.append(_section("Robustness", _robustness_table(r.robustness)))
    if r.slices is not None:
        body.append(_section("Weak slices", _slices_table(r.slices)))
    ev = r.evaluations
    note = f"{ev.model_calls} model calls, {ev.rows_evaluated} rows evaluated. Full report: ae.render(result, path)."
    return _wrap(f"Audit of {r.model.path.rsplit('/', 1)[-1]}", r.status, "".join(body), note)


def _top_features(e: MethodExplanation, n: int) -> list[str]:
    ranked = sorted(e.global_.items(), key=lambda kv: -abs(kv[1].value) if math.isfinite(kv[1].value) else 0.0)
    return [k for k, _ in ranked[:n]]


def _ood_table(o: OODResult) -> str:
    rows = [(_e(name), _est(s.auroc) if s.auroc is not None else "—", _num(s.flagged_fraction))
            for name, s in o.scores.items()]
    return _table(["score", "AUROC [interval]", "flagged"], rows, numeric=(1, 2))


def _performance(p: PerformanceResult) -> str:
    body = _table(["metric", "value [interval]"], _performance_rows(p, None), numeric=(1,))
    return _wrap(f"Performance ({p.task}, {p.n} rows)", None, body, f"{int(p.confidence * 100)}% intervals; to_frame() for the table.")


def _fairness(f: FairnessResult) -> str:
    body = _table(["view", "groups", "parity difference", "impact ratio"], _fairness_rows(f), numeric=(1, 2, 3))
    return _wrap(f"Fairness ({len(f)} views)", None, body, "fairness[view] for one view; to_frame() for the gaps.")


def _attribute(a: AttributeFairness) -> str:
    groups = [(_e(g), _num(r.n), _est(r.estimate("selection_rate")) if r.selection_rate is not None else "—",
               _est(r.estimate("tpr")) if r.tpr is not None else "—")
              for g, r in sorted(a.groups.items(), key=lambda kv: -kv[1].n)]
    gaps = [(_e(m), _est(e), "yes" if getattr(e, "supports_gap", None) else "no" if getattr(e, "supports_gap", None) is False else "—")
            for m, e in a.metrics.items()]
    body = (f'<div class="ae-muted">reference group {_e(a.reference_group)} · {_num(a.n)} rows</div>'
            + _section("Groups", _table(["group", "n", "selection rate", "TPR"], groups, numeric=(1, 2, 3)))
            + _section("Gaps", _table(["metric", "value [interval]", "data supports a gap"], gaps, numeric=(1,)))
            + _section("Not tested", _list([f"{_e(k)}: {_e(v)}" for k, v in {**(a.undefined_metrics or {}),
                                                                            **(a.unavailable or {})}.items()]
                                           + ([_e(a.impact_refused)] if a.impact_refused else []))))
    return _wrap(f"Fairness by {' × '.join(a.attributes)}", None, body, "by_group and to_frame() for the tables.")


def _method(e: MethodExplanation, name: str = "") -> str:
    ranked = _top_features(e, len(e.global_))
    sig = e.significant_features()
    rows = [(_e(k), _est(e.global_[k]), "yes" if k in sig else "no") for k in ranked]
    body = _table(["feature", "importance [interval]", "sign certain"], rows, numeric=(1,))
    return _wrap(f"Explanation{(' ' + name) if name else ''} ({len(e.global_)} features)", None,
                 body + (_section("Not tested", _list([_e(e.refused)])) if e.refused else ""),
                 "to_frame() for global importances; local_frame() per row.")


def _explanations(x: ExplanationsResult) -> str:
    rows = [(_e(m), _e(", ".join(_top_features(e, 3)))) for m, e in x.items()]
    return _wrap(f"Explanations ({len(x)} methods)", None, _table(["method", "top features"], rows),
                 "explanations[method] for one method; to_frame() / local_frame().")


def _ood(o: OODResult) -> str:
    drift = o.shift_summary
    line = (f'<div class="ae-muted">shift tests: {_e(drift.status)}'
            + (f", {drift.drifted} of {drift.tested} features drifted" if drift.tested is not None else "")
            + (f" — {_e(drift.reason)}" if drift.reason else "") + "</div>")
    body = _ood_table(o) + line + _section("Not tested", _list([f"{_e(k)}: {_e(v)}" for k, v in o.skipped.items()]))
    return _wrap("Out of distribution", None, body, "to_frame() for the scores, shift_frame() for the tests.")


def _uncertainty_section(u: UncertaintySection) -> str:
    rows = []
    for name, m in u.methods.items():
        for measure, s in m.summary.items():
            rows.append((_e(name), _e(measure), _num(s.mean), _num(s.p90)))
    body = _table(["method", "measure (nats)", "mean", "p90"], rows, numeric=(2, 3))
    queue = [(_num(q.row), _num(q.priority), _e(q.reason)) for q in u.review_queue]
    body += _section("Review queue", _table(["row", "priority", "reason"], queue, numeric=(0, 1)))
    return _wrap(f"Uncertainty ({u.rows} rows)", None, body, "to_frame(); review_frame() for the queue.")


def _robustness_table(r: Any) -> str:
    """Flip rate per kind at the policy's level (highest first)."""
    at = sorted((x for x in r.results if x.level == r.policy_level), key=lambda x: -x.flip_rate.value)
    return _table([f"perturbation (level {r.policy_level})", "flip rate [interval]", "score shift"],
                  [(_e(x.kind), _est(x.flip_rate.to_dict()), _est(x.score_shift)) for x in at], numeric=(1, 2))


def _robustness(r: Any) -> str:
    body = _robustness_table(r) + _section("Not tested", _list([f"{_e(k)}: {_e(v)}" for k, v in r.skipped.items()]))
    return _wrap(f"Robustness ({r.rows} rows, {r.modality})", None, body, "to_frame() for every kind and level.")


def _slices_table(s: Any) -> str:
    rows = [(_e(" AND ".join(w.predicates)), _num(w.size), _est(w.effect), _num(w.p_adjusted)) for w in s.slices]
    head = (f'<div class="ae-muted">{_num(s.discovered)} of {_num(s.tested)} slices discovered '
            f"(BH, FDR {_num(s.fdr)}; {_e(s.loss)})</div>")
    return head + _table(["slice", "rows", "effect [FCR interval]", "p (BH)"], rows, numeric=(1, 2, 3))


def _slices(s: Any) -> str:
    return _wrap(f"Weak slices ({s.rows} rows)", None, _slices_table(s), "to_frame() for the slices.")


def _uncertainty(u: UncertaintyResult) -> str:
    rows = [(_e(k), _num(float(np.mean(v)) if v is not None and np.size(v) else None))
            for k, v in (("predictive entropy", u.predictive_entropy), ("aleatoric", u.aleatoric),
                         ("epistemic", u.epistemic), ("vote entropy", u.vote_entropy), ("disagreement", u.disagreement))
            if v is not None]
    top = np.argsort(-np.asarray(u.epistemic, dtype=float), kind="stable")[:MAX_ROWS] if np.size(u.epistemic) else []
    labels = u.classes
    queue = [(_num(int(i)), _num(float(u.epistemic[i])),
              _e(labels[int(u.prediction[i])] if labels is not None and int(u.prediction[i]) < len(labels) else u.prediction[i]))
             for i in top]
    body = (_table(["measure (mean over rows)", "nats"], rows, numeric=(1,))
            + _section("Most uncertain rows (epistemic)", _table(["row", "epistemic", "prediction"], queue, numeric=(0, 1),
                                                                 total=len(u.epistemic))))
    if not u.outputs_vary:
        body += _section("Not tested", _list(["the passes gave identical outputs: the sampling did nothing"]))
    return _wrap(f"Uncertainty: {u.method} ({len(u.epistemic)} rows, {u.passes} passes)", None, body,
                 "to_frame() for one row per audited row.")


def _attribution(a: Attribution) -> str:
    flat = a.flat()
    sig = a.significant.reshape(flat.shape)
    names = list(a.feature_names) if len(a.feature_names) == flat.shape[1] else [str(i) for i in range(flat.shape[1])]
    mean_abs = np.nanmean(np.abs(flat), axis=0) if flat.size else np.zeros(flat.shape[1])
    order = np.argsort(-np.nan_to_num(mean_abs), kind="stable")
    rows = [(_e(names[j]), _num(float(np.nanmean(flat[:, j]))), _num(float(mean_abs[j])),
             f"{int(sig[:, j].sum())} of {flat.shape[0]}") for j in order]
    body = _table(["feature", "mean", "mean |value|", "rows with interval excluding 0"], rows, numeric=(1, 2, 3))
    classes = _explained_classes(a)
    if classes:
        counts: dict[str, int] = {}
        for c in classes:
            counts[c] = counts.get(c, 0) + 1
        body += f'<div class="ae-muted">explained class per row: {_e(", ".join(f"{k} ({v})" for k, v in counts.items()))}</div>'
    return _wrap(f"Attribution: {a.method} ({a.n_rows} rows × {flat.shape[1]} features)", None, body,
                 "to_frame() for one row per (row, feature); plot() for a chart.")


def _explained_classes(a: Attribution) -> list[str]:
    targets = np.asarray(a.targets).ravel()
    if targets.size == 0 or (targets < 0).all():
        return []
    labels = getattr(a, "classes", None)
    return [str(labels[t]) if labels is not None and 0 <= t < len(labels) else str(t) for t in targets.tolist()]


def _comparison(c: Comparison) -> str:
    def cells(name: str, e: Mapping[str, Any]) -> tuple[str, ...]:
        return _e(name), _num(e["a"].get("value")), _num(e["b"].get("value")), _est(e["delta"]), _e(e["change"])

    rows = [cells(name, e) for name, e in c.performance.items()]
    for attr, metrics in c.fairness.items():
        rows += [cells(f"{attr}: {name}", e) for name, e in metrics.items()]
    rows.sort(key=lambda r: r[-1] != "worse")
    body = (f'<div class="ae-muted">A {_e(c.a.get("status"))} → B {_e(c.b.get("status"))} · {_e(c.method)}'
            f'{"" if c.same_data else " · different data"}</div>'
            + _section("Regressions", _list([_e(x) for x in c.regressions]))
            + _section("Changes (A → B)", _table(["figure", "A", "B", "B − A [interval]", "change"], rows, numeric=(1, 2, 3)))
            + _section("Verdict changes", _list([f"{_e(v['check'])}: {_e(v['metric'])}"
                                                 f"{(' for ' + _e(v['subject'])) if v.get('subject') else ''}: "
                                                 f"{_e(v['a'])} → {_e(v['b'])}" for v in c.verdict_changes])))
    return _wrap("Comparison of two audits", c.status, body, "to_dict() / to_json() for everything.")


def _record(r: Any) -> str:
    """Any other record: its numbers, one row each (the long frame's first rows)."""
    doc = r.to_dict()
    rows = []
    for key, value in doc.items():
        if isinstance(value, Mapping) and {"value", "ci_low", "ci_high"} <= set(value):
            rows.append((_e(key), _est(value)))
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            rows.append((_e(key), _num(value) if not isinstance(value, str) else _e(value[:120])))
    return _wrap(type(r).__name__, None, _table(["key", "value"], rows, numeric=(1,)), "to_dict() / to_frame() for everything.")


_CARDS: dict[str, Any] = {  # by the defining module and class name, most specific first along the MRO
    "audit_engine.result.AuditResult": _audit,
    "audit_engine.results.performance.PerformanceResult": _performance,
    "audit_engine.results.fairness.FairnessResult": _fairness,
    "audit_engine.results.fairness.AttributeFairness": _attribute,
    "audit_engine.results.explanations.ExplanationsResult": _explanations,
    "audit_engine.results.explanations.MethodExplanation": _method,
    "audit_engine.results.ood.OODResult": _ood,
    "audit_engine.results.uncertainty.UncertaintyResult": _uncertainty_section,
    "audit_engine.uncertainty.api.UncertaintyResult": _uncertainty,
    "audit_engine.results.robustness.RobustnessResult": _robustness,
    "audit_engine.results.slices.SlicesResult": _slices,
    "audit_engine.explain.attribution.Attribution": _attribution,
    "audit_engine.compare.Comparison": _comparison,
    "audit_engine.results.record.Record": _record,
    "audit_engine.results.record.RecordMap": _record,
}


def card(obj: Any) -> str:
    """The HTML card of a result (``_repr_html_`` of every result type calls this).

    Dispatch is by class name along the MRO, so this module imports none of the result
    types (they import it when displayed): no import cycle between results and the report.
    """
    for kind in type(obj).__mro__:
        build = _CARDS.get(f"{kind.__module__}.{kind.__qualname__}")
        if build is not None:
            return build(obj)
    raise TypeError(f"No card for {type(obj).__name__}.")
