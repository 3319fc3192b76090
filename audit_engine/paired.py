"""Candidate-vs-baseline statistics on the same rows: McNemar, paired fairness, fidelity.

Everything here compares two models A (baseline) and B (candidate) scored on the same
rows, so each difference is judged against the noise of the *difference*, not of the two
models separately:

- :func:`mcnemar` — McNemar's test (McNemar 1947) on the paired 2×2 table of correct /
  wrong (or, without labels, positive / negative decisions): only the discordant rows
  count. Exact two-sided binomial test when the discordant count is below 25, else the
  chi-squared statistic with Edwards' continuity correction, (|b − c| − 1)² / (b + c), on
  1 degree of freedom (the two variants of ``statsmodels.stats.contingency_tables.mcnemar``).
- :func:`paired_fairness` — every group rate and every gap of
  :mod:`audit_engine.fairness.metrics` for both models from Poisson-bootstrap weighted
  confusion counts; the *same* row weights drive A and B in each replicate, so the
  percentile interval of B − A is the paired one.
- :func:`importance_change` — Kendall's τ between the two models' global feature
  importances (per explanation method), and the features whose importance moved most.
- :func:`fidelity` — for an exported copy of one model (fp16, int8, another exporter):
  the distribution of |p_B − p_A| over rows and classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .fairness.metrics import binary_rates, gap_metrics
from .stats import Estimate, finite_or_none, percentile_interval, poisson_weight_blocks

__all__ = ["mcnemar", "paired_fairness", "importance_change", "fidelity", "view_groups", "EXACT_BELOW"]

EXACT_BELOW = 25  # discordant pairs below which the exact binomial test is used


def mcnemar(first: np.ndarray, second: np.ndarray) -> dict[str, Any]:
    """McNemar's test of "A and B are right (or positive) equally often" on paired booleans.

    Parameters
    ----------
    first, second: ``(n,)`` bool — per row, is model A (resp. B) correct (or positive).

    Returns
    -------
    dict with the table ``[[both, only A], [only B, neither]]``, ``b`` (A only), ``c``
    (B only), ``method`` ("exact" | "chi2"), ``statistic`` (exact: min(b, c); chi2: the
    corrected statistic) and ``p_value`` (two-sided). With no discordant rows the p-value is 1.
    """
    from scipy import stats

    a = np.asarray(first, dtype=bool)
    b_ = np.asarray(second, dtype=bool)
    both, only_a = int((a & b_).sum()), int((a & ~b_).sum())
    only_b, neither = int((~a & b_).sum()), int((~a & ~b_).sum())
    n = only_a + only_b
    if n < EXACT_BELOW:
        statistic = float(min(only_a, only_b))
        p = 1.0 if n == 0 else min(1.0, 2.0 * float(stats.binom.cdf(min(only_a, only_b), n, 0.5)))
        method = "exact"
    else:
        statistic = (abs(only_a - only_b) - 1.0) ** 2 / n
        p = float(stats.chi2.sf(statistic, 1))
        method = "chi2"
    return {"table": [[both, only_a], [only_b, neither]], "b": only_a, "c": only_b, "discordant": n,
            "method": method, "statistic": statistic, "p_value": p}


def view_groups(sensitive: Any, view: str, separator: str = "*") -> np.ndarray | None:
    """Group labels (object array, None where any attribute is unknown) of a view ``a`` or ``a*b``."""
    names = view.split(separator)
    if any(name not in sensitive for name in names):
        return None
    cols = [sensitive[name] for name in names]
    known = np.ones(len(cols[0]), dtype=bool)
    for col in cols:
        known &= col.notna().to_numpy()
    labels = np.array([separator.join(str(v) for v in vals) for vals in zip(*(c.to_numpy() for c in cols),
                                                                               strict=True)], dtype=object)
    labels[~known] = None
    return labels


def paired_fairness(
    pred_a: np.ndarray, pred_b: np.ndarray, y_index: np.ndarray | None, groups: np.ndarray, *,
    n_classes: int, positive_index: int, n_boot: int, rng: np.random.Generator, confidence: float,
    favorable_index: int | None = None,
    left_out: Sequence[Mapping[str, Sequence[str]] | None] = (None, None),
) -> dict[str, dict[str, Any]]:
    """Group rates and gaps of both models, and the paired interval of each change.

    Parameters
    ----------
    pred_a, pred_b: ``(n,)`` predicted class indices of A and B.
    y_index: ``(n,)`` true class indices, or None (then only selection rates).
    groups: ``(n,)`` group labels, None for rows left out (unknown attribute).
    positive_index: the class whose true-positive / false-positive rates are measured.
    favorable_index: the favourable outcome; selection rates count predictions of it, as
        the audit's fairness section does (default: of ``positive_index``).
    left_out: for A and for B, the audit's ``left_out`` (group -> the rates it stays out
        of headline gaps for, under ``min_group_size`` / ``min_class_rows``). The gaps are
        taken over the remaining groups, so each model's gap equals its audit's and the
        change is B − A over the same groups (issue 22, defect 1). Group rates are kept
        for every group.

    Returns
    -------
    ``{"groups": {<group>: {<rate>: entry}}, "metrics": {<gap>: entry}}``, each entry
    ``{"a": value, "b": value, "delta": Estimate dict}`` (percentile interval of B − A over
    ``n_boot`` replicates whose Poisson row weights are shared by A and B).
    """
    keep = np.array([g is not None for g in groups], dtype=bool)
    labels = sorted({str(g) for g in groups[keep]})
    gi = np.full(len(groups), -1)
    index = {g: i for i, g in enumerate(labels)}
    gi[keep] = [index[str(g)] for g in groups[keep]]
    k = n_classes
    labelled = y_index is not None
    truth = np.asarray(y_index) if labelled else np.zeros(len(groups), dtype=np.intp)
    cells = len(labels) * k * k
    rows = np.flatnonzero(keep)

    def onehot(pred: np.ndarray) -> np.ndarray:
        code = (gi[rows] * k + truth[rows]) * k + pred[rows]
        out = np.zeros((rows.size, cells))
        out[np.arange(rows.size), code] = 1.0
        return out

    ha, hb = onehot(np.asarray(pred_a)), onehot(np.asarray(pred_b))
    # (g,) bool per rate: False where the audit left the group out of that rate's headline gaps.
    out_of = [{rate: np.array([rate in (lo or {}).get(g, ()) for g in labels], dtype=bool)
               for rate in {r for rates in (lo or {}).values() for r in rates}} for lo in left_out]

    def headline(rates: dict[str, np.ndarray], drop: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: (np.where(drop[name], np.nan, x) if name in drop else x) for name, x in rates.items()}

    def stats_of(w: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        out = []
        for h, drop in zip((ha, hb), out_of, strict=True):
            m = (w @ h).reshape(w.shape[0], len(labels), k, k)
            rates = binary_rates(m, positive_index, labelled=labelled, favorable=favorable_index)
            out.append((rates, gap_metrics(headline(rates, drop))))
        (ra, ga), (rb, gb) = out
        return ({f"{name}": np.stack([ra[name], rb[name]]) for name in ra},
                {name: np.stack([ga[name], gb[name]]) for name in ga})

    point_rates, point_gaps = stats_of(np.ones((1, rows.size)))
    rep_rates: dict[str, list[np.ndarray]] = {name: [] for name in point_rates}
    rep_gaps: dict[str, list[np.ndarray]] = {name: [] for name in point_gaps}
    for w in poisson_weight_blocks(rng, rows.size, n_boot) if n_boot > 0 else ():
        r, g = stats_of(w)
        for name in rep_rates:
            rep_rates[name].append(r[name][1] - r[name][0])
        for name in rep_gaps:
            rep_gaps[name].append(g[name][1] - g[name][0])

    def entry(a: float, b: float, reps: list[np.ndarray] | np.ndarray) -> dict[str, Any]:
        lo, hi = (percentile_interval(np.concatenate(reps) if isinstance(reps, list) else reps, confidence)
                  if len(reps) else (math.nan, math.nan))
        return {"a": finite_or_none(a), "b": finite_or_none(b), "delta": Estimate(b - a, lo, hi).to_dict()}

    out: dict[str, dict[str, Any]] = {"groups": {}, "metrics": {}}
    for gidx, label in enumerate(labels):
        block = {}
        for name, pt in point_rates.items():
            reps = [r[:, gidx] for r in rep_rates[name]]
            block[name] = entry(float(pt[0][0, gidx]), float(pt[1][0, gidx]), reps)
        out["groups"][label] = block
    for name, pt in point_gaps.items():
        out["metrics"][name] = entry(float(pt[0][0]), float(pt[1][0]), rep_gaps[name])
    return out




def importance_change(explain_a: Mapping[str, Any] | None, explain_b: Mapping[str, Any] | None, *,
                      top: int = 5) -> dict[str, Any]:
    """Kendall's τ (τ-b, ties allowed) between A's and B's global importances, per method.

    ``explain_a`` / ``explain_b`` are the audits' ``explanations`` sections; a method
    counts when both ran it and share at least two features. ``moved_most`` lists the
    ``top`` features with the largest |importance_B − importance_A|, with their ranks
    (1 = most important) under each model.
    """
    from scipy import stats

    out: dict[str, Any] = {}
    if not explain_a or not explain_b:
        return out
    for method in sorted(set(explain_a) & set(explain_b)):
        ga, gb = (explain_a[method] or {}).get("global"), (explain_b[method] or {}).get("global")
        if not isinstance(ga, Mapping) or not isinstance(gb, Mapping):
            continue
        names = [f for f in ga if f in gb and _num_or_none(ga[f]) is not None and _num_or_none(gb[f]) is not None]
        if len(names) < 2:
            continue
        va = np.array([_num_or_none(ga[f]) for f in names])
        vb = np.array([_num_or_none(gb[f]) for f in names])
        tau, p = stats.kendalltau(va, vb)
        rank_a = _ranks(va)
        rank_b = _ranks(vb)
        order = np.argsort(-np.abs(vb - va), kind="stable")[:top]
        out[method] = {
            "features": len(names),
            "kendall_tau": finite_or_none(float(tau)) if tau is not None else None,
            "p_value": finite_or_none(float(p)) if p is not None else None,
            "moved_most": [{"feature": names[j], "a": float(va[j]), "b": float(vb[j]), "change": float(vb[j] - va[j]),
                            "rank_a": int(rank_a[j]), "rank_b": int(rank_b[j])} for j in order],
        }
    return out


def _num_or_none(x: Any) -> float | None:
    v = x.get("value") if isinstance(x, Mapping) else x
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
        return float(v)
    return None


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 = largest |value| (ties broken by order)."""
    order = np.argsort(-np.abs(values), kind="stable")
    ranks = np.empty(values.size, dtype=int)
    ranks[order] = np.arange(1, values.size + 1)
    return ranks


def fidelity(proba_a: np.ndarray, proba_b: np.ndarray, *, quantiles: Sequence[float] = (0.5, 0.9, 0.99, 0.999)
             ) -> dict[str, Any]:
    """The distribution of the absolute probability difference |p_B − p_A| over rows and classes.

    Parameters
    ----------
    proba_a, proba_b: ``(n, k)`` model outputs on the same rows.
    """
    diff = np.abs(np.asarray(proba_b, dtype=np.float64) - np.asarray(proba_a, dtype=np.float64))
    per_row = diff.max(axis=1)
    return {
        "max_abs_difference": float(diff.max()) if diff.size else 0.0,
        "mean_abs_difference": float(diff.mean()) if diff.size else 0.0,
        "quantiles": {f"p{100 * q:g}": float(np.quantile(per_row, q)) for q in quantiles} if diff.size else {},
        "quantiles_of": "per row, the largest |p_B − p_A| over classes",
        "worst_rows": np.argsort(-per_row, kind="stable")[:10].tolist(),
    }
