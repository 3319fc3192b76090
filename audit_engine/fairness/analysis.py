"""From merged group counts to the ``fairness`` section: views, rates, gaps, intervals.

A *view* is one sensitive attribute (``race``) or an intersection (``race*sex``; with
three attributes every pair and the triple). Its groups are the combinations of values
that occur in the data; rows with an unknown value of any attribute in the view are
counted as ``unknown`` and left out of its groups.

Intervals: :func:`~audit_engine.fairness.bootstrap.poisson_cell_replicates` draws every
cell's replicate count as Poisson(count); every rate, gap and impact ratio is recomputed
on each replicate by the same vectorised code as the point value (NaN replicates, where a
rate is undefined, are ignored). Group rates, impact ratios and signed differences to the
reference group get percentile intervals; gaps (a max or min over groups) get basic
bootstrap intervals, see :func:`_basic_interval`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidValueError
from ..stats import Estimate, percentile_interval
from .bootstrap import CellReplicate, point, poisson_cell_replicates
from .counts import GroupCounts, GroupSums, score_bin_edges
from .impact import four_fifths, impact_ratios, ll144_view
from .metrics import GAP_METRICS, RATE_REASONS, binary_rates, calibration_terms, gap_metrics, gap_reason

__all__ = ["FairnessReport", "fairness_report", "parse_reference", "SEPARATOR"]

SEPARATOR = "*"
_DIFF_GAPS = {k for k, (how, _) in GAP_METRICS.items() if how in ("diff", "max_diff")}
# rates whose signed difference to the reference group is reported per group
_SIGNED = ("selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy")
_REGRESSION_GAPS = {
    "mean_prediction_difference": "mean_prediction",
    "mean_error_difference": "mean_error",
    "mean_absolute_error_difference": "mean_absolute_error",
}


@dataclass(frozen=True)
class _View:
    name: str
    axes: tuple[int, ...]
    labels: list[str]
    keep: np.ndarray  # indices into the product of the view's known levels
    n: np.ndarray  # (g,) unweighted rows
    unknown: int
    ref: int


@dataclass(frozen=True)
class FairnessReport:
    """The fairness section: ``views[<attribute or a*b>]`` is a JSON-ready dict.

    ``views[v]["metrics"][name]`` holds an :class:`~audit_engine.stats.Estimate`.
    """

    views: dict[str, dict[str, Any]] = field(default_factory=dict)

    def estimate(self, view: str, metric: str) -> Estimate | None:
        return self.views.get(view, {}).get("metrics", {}).get(metric)

    def to_dict(self) -> dict[str, Any]:
        from ..result import to_jsonable

        return to_jsonable(self.views)


# ---------------------------------------------------------------------------- reference
def parse_reference(spec: Any) -> tuple[str | None, dict[str, str]]:
    """Normalise ``reference_group`` to (a group for every view that has it, {view: group}).

    Accepts None, ``"Caucasian"``, ``"race=Caucasian"``, a list of such strings, or a
    mapping ``{"race": "Caucasian", "race*sex": "Caucasian*Male"}``.
    """
    if spec is None:
        return None, {}
    if isinstance(spec, Mapping):
        return None, {str(k): str(v) for k, v in spec.items()}
    items = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, (list, tuple)) else None
    if items is None:
        raise ConfigError(
            f"The 'reference_group' parameter must be a group name, 'attribute=group' or a table "
            f"{{attribute = group}}; got {spec!r}."
        )
    every: str | None = None
    per: dict[str, str] = {}
    for item in items:
        text = str(item)
        if "=" in text:
            attr, _, group = text.partition("=")
            per[attr.strip()] = group.strip()
        elif every is None:
            every = text
        else:
            raise ConfigError(
                f"The 'reference_group' parameter names two groups without attributes ({every!r}, {text!r}); "
                "write them as 'attribute=group'."
            )
    return every, per


def _resolve_references(spec: Any, views: dict[str, tuple[tuple[int, ...], list[str], np.ndarray]],
                        attributes: Sequence[str]) -> dict[str, int]:
    every, per = parse_reference(spec)
    for name in per:
        if name not in views:
            raise ConfigError(
                f"The reference group is given for {name!r}, which is not an audited attribute "
                f"({', '.join(repr(v) for v in views)}); use one of them."
            )
    if every is not None and not any(every in labels for _, labels, _ in views.values()):
        listing = "; ".join(f"{v}: {', '.join(labels)}" for v, (axes, labels, _) in views.items() if len(axes) == 1)
        raise ConfigError(f"The reference group {every!r} is not a group of any sensitive attribute ({listing}); pick one of those.")
    chosen: dict[str, str] = {}
    out: dict[str, int] = {}
    for name, (axes, labels, n) in views.items():
        want = per.get(name)
        if want is None and every is not None and every in labels:
            want = every
        if want is None and len(axes) > 1:
            parts = [chosen.get(attributes[a]) for a in axes]
            if all(p is not None for p in parts):
                combo = SEPARATOR.join(parts)  # type: ignore[arg-type]
                want = combo if combo in labels else None
        if want is not None and want not in labels:
            raise ConfigError(
                f"The reference group {want!r} is not a group of {name!r} (groups: {', '.join(labels)}); pick one of those."
            )
        if want is not None and (name in per or (every is not None and len(axes) == 1)):
            chosen[name] = want
        out[name] = labels.index(want) if want is not None else int(np.argmax(n))  # default: the largest group
    return out


# ---------------------------------------------------------------------------- views
def _subsets(s: int, max_order: int) -> list[tuple[int, ...]]:
    out = [(i,) for i in range(s)]
    for order in range(2, min(s, max_order) + 1):
        out += list(itertools.combinations(range(s), order))
    return out


def _collapse(arr: np.ndarray, s: int, axes: tuple[int, ...]) -> np.ndarray:
    """``(r, *combo, *rest)`` → ``(r, G_all, *rest)`` over the known levels of ``axes``."""
    others = tuple(1 + i for i in range(s) if i not in axes)
    out = arr.sum(axis=others) if others else arr
    index = (slice(None),) + tuple(slice(0, out.shape[1 + j] - 1) for j in range(len(axes)))
    out = out[index]
    known = out.shape[1 : 1 + len(axes)]
    return out.reshape((out.shape[0], int(np.prod(known))) + out.shape[1 + len(axes) :])


def _make_views(attributes: Sequence[str], levels: Sequence[Sequence[str]], rows_by_combo: np.ndarray,
                *, max_order: int, reference: Any) -> list[_View]:
    s = len(attributes)
    for i, name in enumerate(attributes):
        known = _collapse(rows_by_combo[None], s, (i,))[0]
        total = rows_by_combo.sum()
        if known.sum() == 0:
            raise InvalidValueError(
                f"The sensitive column {name!r} is missing in all {int(total)} rows; fill it in or drop it from --sensitive."
            )
        present = [levels[i][j] for j in np.flatnonzero(known > 0)]
        if len(present) < 2:
            raise InvalidValueError(
                f"The sensitive column {name!r} has a single group ({present[0]!r}); fairness compares at least two "
                "groups, so audit data that holds several or drop it from --sensitive."
            )
    specs: dict[str, tuple[tuple[int, ...], list[str], np.ndarray]] = {}
    extra: dict[str, tuple[np.ndarray, int]] = {}
    for axes in _subsets(s, max_order):
        n_all = _collapse(rows_by_combo[None], s, axes)[0]
        keep = np.flatnonzero(n_all > 0)
        product = [SEPARATOR.join(p) for p in itertools.product(*[levels[a] for a in axes])]
        name = SEPARATOR.join(attributes[a] for a in axes)
        specs[name] = (axes, [product[k] for k in keep], n_all[keep])
        extra[name] = (keep, int(rows_by_combo.sum() - n_all.sum()))
    refs = _resolve_references(reference, specs, attributes)
    return [_View(name, axes, labels, extra[name][0], n, extra[name][1], refs[name])
            for name, (axes, labels, n) in specs.items()]


# ---------------------------------------------------------------------------- evaluation
def _evaluate(block: CellReplicate, views: list[_View], s: int, *, classes: Sequence[int],
              labelled: bool, scores: bool) -> dict[tuple, np.ndarray]:
    """All view statistics for one block of replicates: key → ``(r, ...)`` arrays."""
    out: dict[tuple, np.ndarray] = {}
    multiclass = len(classes) > 1
    for v in views:
        cells = _collapse(block.counts, s, v.axes)[:, v.keep]  # (r, g, K, K, B)
        m = cells.sum(axis=-1)
        sums = None if block.score_sums is None else _collapse(block.score_sums, s, v.axes)[:, v.keep]
        per_class_gaps: list[dict[str, np.ndarray]] = []
        for c in classes:
            rates = binary_rates(m, c, labelled=labelled)
            if scores and sums is not None:
                rates.update(calibration_terms(cells, sums, c, labelled=labelled))
            gaps = gap_metrics(rates)
            ref_gaps = gap_metrics(rates, ref=v.ref)
            ir = impact_ratios(rates["selection_rate"])
            tag = c if multiclass else None
            for k, x in rates.items():
                out[(v.name, tag, "rate", k)] = x
            for k, x in gaps.items():
                out[(v.name, tag, "gap", k)] = x
            for k, x in ref_gaps.items():
                out[(v.name, tag, "ref", k)] = x
            out[(v.name, tag, "rate", "impact_ratio")] = ir
            for k in _SIGNED:
                if k in rates:
                    out[(v.name, tag, "signed", k)] = rates[k] - rates[k][:, v.ref : v.ref + 1]
            per_class_gaps.append(gaps)
        if multiclass:
            n = m.sum(axis=(-1, -2))
            acc = np.divide(np.trace(m, axis1=-2, axis2=-1), n, out=np.full(n.shape, np.nan), where=n > 0)
            out[(v.name, None, "rate", "accuracy")] = acc
            for k in per_class_gaps[0]:
                stack = np.stack([g[k] for g in per_class_gaps], axis=-1)
                worst = np.where(np.isfinite(stack), stack, -np.inf if k in _DIFF_GAPS else np.inf)
                worst = worst.max(axis=-1) if k in _DIFF_GAPS else worst.min(axis=-1)
                out[(v.name, None, "gap", k)] = np.where(np.isfinite(worst), worst, np.nan)
    return out


def _interval(reps: np.ndarray | None, confidence: float) -> tuple[float, float]:
    if reps is None or reps.size == 0:
        return float("nan"), float("nan")
    return percentile_interval(reps, confidence)


def _basic_interval(value: float, reps: np.ndarray | None, confidence: float,
                    lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    """Basic (reverse-percentile) interval ``[2v − q_hi, 2v − q_lo]`` clipped to [lo, hi].

    Gaps that take a max or a min over groups are biased away from parity (the max of
    noisy rates exceeds the max of the true rates), so their replicates sit above the
    point value and a percentile interval can miss it and never reach 0. The basic
    interval corrects that shift to first order (Davison & Hinkley 1997, §5.2.1).
    """
    low, high = _interval(reps, confidence)
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)):
        return float("nan"), float("nan")
    return float(np.clip(2 * value - high, lo, hi)), float(np.clip(2 * value - low, lo, hi))


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _group_block(v: _View, pt: dict, reps: dict, tag: Any, *, confidence: float, labelled: bool,
                 min_group_size: int, top: bool) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    rate_names = [k for (vn, t, kind, k) in pt if vn == v.name and t == tag and kind == "rate"]
    for gi, label in enumerate(v.labels):
        entry: dict[str, Any] = {"n": int(round(v.n[gi]))} if top else {}
        ci: dict[str, Any] = {}
        undefined: dict[str, str] = {}
        for k in rate_names:
            key = (v.name, tag, "rate", k)
            val = pt[key][0, gi]
            entry[k] = _num(val)
            if not np.isfinite(val):
                undefined[k] = RATE_REASONS.get(k, "a zero denominator in this group")
            low, high = _interval(None if key not in reps else reps[key][:, gi], confidence)
            ci[k] = {"ci_low": _num(low), "ci_high": _num(high)}
        flags = []
        if top and v.n[gi] < min_group_size:
            flags.append("small_group")
        if labelled and "tpr" in undefined:
            flags.append("no_positives")
        if labelled and "fpr" in undefined:
            flags.append("no_negatives")
        if "precision" in undefined:
            flags.append("no_predicted_positives")
        entry["flags"] = flags
        entry["undefined"] = undefined
        entry["ci"] = ci
        if gi != v.ref:
            vs = {}
            for k in _SIGNED:
                key = (v.name, tag, "signed", k)
                if key in pt:
                    low, high = _interval(None if key not in reps else reps[key][:, gi], confidence)
                    vs[k] = Estimate(float(pt[key][0, gi]), low, high)
            entry["vs_reference"] = vs
        groups[label] = entry
    return groups


def _metrics_block(v: _View, pt: dict, reps: dict, tag: Any, kind: str, confidence: float) -> tuple[dict, dict]:
    metrics: dict[str, Estimate] = {}
    undefined: dict[str, str] = {}
    rates = {k: x for (vn, t, kd, k), x in pt.items() if vn == v.name and t == tag and kd == "rate"}
    for (vn, t, kd, k), x in pt.items():
        if vn != v.name or t != tag or kd != kind:
            continue
        low, high = _basic_interval(float(x[0]), reps.get((vn, t, kd, k)), confidence)
        metrics[k] = Estimate(float(x[0]), low, high)
        if not np.isfinite(x[0]):
            undefined[k] = gap_reason(k, rates) if k in GAP_METRICS and all(r in rates for r in GAP_METRICS[k][1]) \
                else "undefined in every class"
    return metrics, undefined


def fairness_report(
    counts: GroupCounts | GroupSums,
    *,
    positive_index: int | None = 1,
    class_labels: Sequence[Any] | None = None,
    reference_group: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    min_group_size: int = 30,
    max_order: int = 3,
    ll144_min_share: float = 0.02,
    four_fifths_threshold: float = 0.8,
    sweep: bool = True,
) -> FairnessReport:
    """Every group figure, gap, impact ratio and interval from merged counts.

    Parameters
    ----------
    counts: merged :class:`GroupCounts` (classification) or :class:`GroupSums` (regression).
    positive_index: the positive class of a binary classifier; None for multiclass
        (one-vs-rest for every class, reported under ``per_class``).
    class_labels: labels of the K classes (JSON keys of ``per_class``).
    reference_group: see :func:`parse_reference`; default the largest group of each view.
    n_boot, confidence, rng: Poisson-bootstrap replicates, interval level, random stream.
    min_group_size: groups with fewer rows are flagged ``small_group`` (never dropped).
    max_order: the largest intersection order (3: all pairs and the triple).
    ll144_min_share: Local Law 144 exclusion share; four_fifths_threshold: 0.8.
    sweep: add the threshold sweep (binary with scores).

    Raises
    ------
    InvalidValueError: a sensitive attribute is missing in every row or has one group.
    ConfigError: the reference group does not exist.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if isinstance(counts, GroupSums):
        return _regression_report(counts, reference_group=reference_group, n_boot=n_boot, confidence=confidence,
                                  rng=rng, min_group_size=min_group_size, max_order=max_order)
    gc = counts
    s = len(gc.attributes)
    k = gc.n_classes
    labels_k = [str(c) for c in (class_labels if class_labels is not None else range(k))]
    rows_by_combo = gc.rows.sum(axis=(-1, -2, -3))
    views = _make_views(gc.attributes, gc.levels, rows_by_combo, max_order=max_order, reference=reference_group)
    binary = positive_index is not None
    classes = [positive_index] if binary else list(range(k))
    kwargs = dict(classes=classes, labelled=gc.labelled, scores=gc.has_scores)
    pt = _evaluate(point(gc), views, s, **kwargs)
    reps: dict[tuple, np.ndarray] = {}
    if n_boot > 0:
        parts: dict[tuple, list[np.ndarray]] = {key: [] for key in pt}
        for block in poisson_cell_replicates(gc, n_boot, rng):
            for key, x in _evaluate(block, views, s, **kwargs).items():
                parts[key].append(x)
        reps = {key: np.concatenate(x) for key, x in parts.items()}

    out: dict[str, dict[str, Any]] = {}
    edges = score_bin_edges(gc.score_bins)
    for v in views:
        top_tag = None
        section: dict[str, Any] = {
            "attributes": [gc.attributes[a] for a in v.axes],
            "task": "classification",
            "reference_group": v.labels[v.ref],
            "n": int(round(v.n.sum())),
            "unknown": v.unknown,
        }
        section["groups"] = _group_block(v, pt, reps, top_tag, confidence=confidence, labelled=gc.labelled,
                                         min_group_size=min_group_size, top=True)
        metrics, undefined = _metrics_block(v, pt, reps, top_tag, "gap", confidence)
        section["metrics"] = metrics
        section["undefined_metrics"] = undefined
        section["small_groups"] = [lab for lab, n in zip(v.labels, v.n, strict=True) if n < min_group_size]
        if binary:
            ref_metrics, _ = _metrics_block(v, pt, reps, None, "ref", confidence)
            section["reference_metrics"] = ref_metrics
            ir = pt[(v.name, None, "rate", "impact_ratio")][0]
            section["impact_ratios"] = {lab: _num(x) for lab, x in zip(v.labels, ir, strict=True)}
            section["four_fifths"] = four_fifths(v.labels, ir, threshold=four_fifths_threshold)
            sel = pt[(v.name, None, "rate", "selection_rate")][0]
            section["ll144"] = ll144_view(v.labels, v.n, sel * v.n, unknown=v.unknown, min_share=ll144_min_share)
            cells = _collapse(gc.counts[None], s, v.axes)[0, v.keep]  # (g, K, K, B)
            if gc.has_scores:
                sums = _collapse(gc.score_sums[None], s, v.axes)[0, v.keep]
                if gc.labelled:
                    section["calibration"] = _calibration(v.labels, cells, sums, positive_index, edges)
                if sweep and gc.score_bins > 1:
                    section["sweep"] = _sweep(v.labels, cells, positive_index, edges, labelled=gc.labelled)
        else:
            per_class = {}
            for c in classes:
                cm, _ = _metrics_block(v, pt, reps, c, "gap", confidence)
                ir = pt[(v.name, c, "rate", "impact_ratio")][0]
                per_class[labels_k[c]] = {
                    "groups": _group_block(v, pt, reps, c, confidence=confidence, labelled=gc.labelled,
                                           min_group_size=min_group_size, top=False),
                    "metrics": cm,
                    "reference_metrics": _metrics_block(v, pt, reps, c, "ref", confidence)[0],
                    "impact_ratios": {lab: _num(x) for lab, x in zip(v.labels, ir, strict=True)},
                }
            section["per_class"] = per_class
        out[v.name] = section
    return FairnessReport(out)


def _calibration(labels: list[str], cells: np.ndarray, sums: np.ndarray, c: int, edges: np.ndarray) -> dict[str, Any]:
    count = cells.sum(axis=(1, 2))  # (g, B)
    positives = cells[:, c].sum(axis=1)
    score = sums.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.where(count > 0, score / count, np.nan)
        observed = np.where(count > 0, positives / count, np.nan)
    return {
        "bins": edges.tolist(),
        "groups": {
            lab: {"count": [int(round(x)) for x in count[i]], "mean_predicted": [_num(x) for x in mean_pred[i]],
                  "observed": [_num(x) for x in observed[i]]}
            for i, lab in enumerate(labels)
        },
    }


def _sweep(labels: list[str], cells: np.ndarray, c: int, edges: np.ndarray, *, labelled: bool) -> dict[str, Any]:
    """Rates and gaps at every inner bin edge as the threshold (exact: bins align with them)."""
    by_truth = cells.sum(axis=2)  # (g, K_true, B)
    tail = np.flip(np.cumsum(np.flip(by_truth, axis=-1), axis=-1), axis=-1)[..., 1:]  # rows with bin >= j, j=1..B-1
    n = by_truth.sum(axis=(1, 2))[:, None]
    selected = tail.sum(axis=1)
    rates = {"selection_rate": np.divide(selected, n, out=np.full(selected.shape, np.nan), where=n > 0)}
    if labelled:
        actual = by_truth[:, c].sum(axis=-1)[:, None]
        negatives = n - actual
        tp = tail[:, c]
        rates["tpr"] = np.divide(tp, actual, out=np.full(tp.shape, np.nan), where=actual > 0)
        rates["fpr"] = np.divide(selected - tp, negatives, out=np.full(tp.shape, np.nan), where=negatives > 0)
    # gap_metrics wants (r, g): use thresholds as the replicate axis.
    gaps = gap_metrics({k: x.T for k, x in rates.items()})
    wanted = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
              "equal_opportunity_difference", "false_positive_rate_difference")
    out: dict[str, Any] = {"thresholds": [float(round(t, 12)) for t in edges[1:-1]]}
    for name in wanted:
        if name in gaps:
            out[name] = [_num(x) for x in gaps[name]]
    out["groups"] = {lab: {k: [_num(x) for x in r[i]] for k, r in rates.items()} for i, lab in enumerate(labels)}
    return out


# ---------------------------------------------------------------------------- regression
def _regression_report(gs: GroupSums, *, reference_group: Any, n_boot: int, confidence: float,
                       rng: np.random.Generator, min_group_size: int, max_order: int) -> FairnessReport:
    """Group means of prediction, target and error with normal-approximation intervals.

    Sums do not support a cell-count bootstrap (a cell is a group, not a value), so each
    replicate draws group means from their sampling distribution N(mean, var/n) — the
    large-sample limit of the bootstrap — which keeps the computation additive.
    """
    s = len(gs.attributes)
    views = _make_views(gs.attributes, gs.levels, gs.sums[..., 0], max_order=max_order, reference=reference_group)
    out: dict[str, dict[str, Any]] = {}
    for v in views:
        sums = _collapse(gs.sums[None], s, v.axes)[0, v.keep]  # (g, 7)
        n = sums[:, 0]
        means = {"mean_prediction": (sums[:, 1], sums[:, 2])}
        if gs.labelled:
            means.update(mean_target=(sums[:, 3], None), mean_error=(sums[:, 4], sums[:, 5]),
                         mean_absolute_error=(sums[:, 6], sums[:, 5]))
        pt: dict[str, np.ndarray] = {}
        reps: dict[str, np.ndarray] = {}
        for name, (total, squares) in means.items():
            mu = total / n
            pt[name] = mu[None]
            if squares is not None and n_boot > 0:
                var = np.maximum(squares / n - mu**2, 0.0) * n / np.maximum(n - 1, 1)
                reps[name] = mu + np.sqrt(var / n) * rng.standard_normal((n_boot, len(n)))
        groups: dict[str, Any] = {}
        for gi, lab in enumerate(v.labels):
            entry: dict[str, Any] = {"n": int(round(n[gi]))}
            ci = {}
            for name in pt:
                entry[name] = _num(pt[name][0, gi])
                low, high = _interval(reps[name][:, gi] if name in reps else None, confidence)
                ci[name] = {"ci_low": _num(low), "ci_high": _num(high)}
            entry["flags"] = ["small_group"] if n[gi] < min_group_size else []
            entry["undefined"] = {}
            entry["ci"] = ci
            groups[lab] = entry
        from .metrics import gap_between, gap_to_reference

        metrics, ref_metrics = {}, {}
        for gap, rate in _REGRESSION_GAPS.items():
            if rate not in pt:
                continue
            value = float(gap_between(pt[rate])[0])
            ref_value = float(gap_to_reference(pt[rate], v.ref)[0])
            low, high = _basic_interval(value, gap_between(reps[rate]) if rate in reps else None, confidence,
                                        0.0, np.inf)
            rlow, rhigh = _basic_interval(ref_value, gap_to_reference(reps[rate], v.ref) if rate in reps else None,
                                          confidence, 0.0, np.inf)
            metrics[gap] = Estimate(value, low, high)
            ref_metrics[gap] = Estimate(ref_value, rlow, rhigh)
        out[v.name] = {
            "attributes": [gs.attributes[a] for a in v.axes],
            "task": "regression",
            "reference_group": v.labels[v.ref],
            "n": int(round(n.sum())),
            "unknown": v.unknown,
            "groups": groups,
            "metrics": metrics,
            "undefined_metrics": {},
            "reference_metrics": ref_metrics,
            "small_groups": [lab for lab, x in zip(v.labels, n, strict=True) if x < min_group_size],
        }
    return FairnessReport(out)
