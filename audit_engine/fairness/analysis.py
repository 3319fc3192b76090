"""From merged group counts to the ``fairness`` section: views, rates, gaps, intervals, tests.

A *view* is one sensitive attribute (``race``) or an intersection (``race*sex``; with
three attributes every pair and the triple). Its groups are the combinations of values
that occur in the data; rows with an unknown value of any attribute in the view are
counted as ``unknown`` and left out of its groups.

Intervals (coverage measured by ``benchmarks/coverage.py``; see BENCHMARKS.md):

- per-group rates that are proportions: Jeffreys (or Wilson) intervals from the
  unweighted rows (:mod:`.intervals`);
- impact ratios: the interval of a maximum of log-ratio terms
  (:func:`~.intervals.impact_ratio_intervals`), as for the gaps below;
- mean scores and signed differences to the reference group: percentile
  intervals of posterior draws of the view's cells (:func:`~.intervals.gamma_cell_draws`),
  extended to hold the point value;
- difference gaps (max − min of a rate, equalized odds, the largest gap to the
  reference): the maximum over pairs of groups of the pairs' own posterior intervals
  (:func:`~.intervals.max_gap_interval`), since the posterior of a maximum sits too high,
  with simultaneous (max-T) lower ends over the pairs, so near ties do not push it past the truth;
- ratio gaps (min / max, the equalized-odds ratio, the lowest impact ratio, to the
  reference): the same construction on log rates (:func:`~.intervals.ratio_gap_interval`),
  since the posterior of a minimum ratio sits too low;
- per-group calibration errors: replicates of a parametric bootstrap of the group's
  global-shrink world (:func:`~.calibration_interval.group_bins`) in place of the
  posterior draws; groups under
  ``min_group_size`` rows get :func:`~.calibration_interval.tiny_group_interval`, the
  others a boundary-aware lower end (:func:`~.calibration_interval.boundary_lower_end`,
  0 is excluded when the group's test against its calibrated world rejects);
- the calibration gap: the basic interval of each pairwise difference with the
  equal-error world as its pivot (:func:`~.calibration_interval.equal_error_draws`),
  folded and maximised over pairs;
- each gap also gets a permutation test of "no disparity" (:mod:`.disparity`); when it
  does not reject, the gap's interval reaches parity (0 for a difference, 1 for a
  ratio), except the calibration gap: its test's null (the same positive rate in every
  group within each score bin) does not make the gap 0 (groups spread over the bins
  differently have different errors under it), and reaching 0 on it held the truth in
  99–100% of samples. ``supports_gap`` rests on the test's p-value after the Holm
  adjustment over every test of the audit (every rate of every view;
  :mod:`.multiplicity`), each gap keeping its own ``p_value`` beside ``p_adjusted``.

Small groups: a group enters a rate's headline gap, impact ratios and verdicts only with
``min_group_size`` rows and ``min_class_rows`` rows in the rate's denominator; otherwise
it is shown with its numbers and listed under ``left_out``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .calibration_interval import (boundary_lower_end, equal_error_draws, group_bins, group_calibration_draws,
                                   tiny_group_interval, world_replicates)
from ..errors import ConfigError, InvalidValueError
from ..params import invalid
from ..results.fairness import (AttributeFairness, ClassFairness, FairnessCalibration, FairnessResult, GapEstimate,
                                GroupCalibration, GroupRates, LeftOut, Multiplicity, RateInterval, ThresholdSweep)
from ..stats import Estimate, finite_or_none, percentile_interval
from .counts import GroupCounts, GroupSums, _factorize, score_bin_edges
from .disparity import chi_square, p_value, permuted_successes, permuted_tables
from .impact import four_fifths, impact_ratios_to, ll144_view
from .intervals import (RATE_METHODS, gamma_cell_draws, impact_ratio_intervals, include_point, max_gap_interval,
                        rate_interval, ratio_gap_interval)
from .metrics import (GAP_METRICS, RATE_REASONS, binary_rates, calibration_terms, debiased_squared_ce, gap_metrics,
                      gap_reason)
from .multiplicity import METHOD as MULTIPLICITY_METHOD, adjust

__all__ = ["FairnessReport", "GapEstimate", "fairness_report", "parse_reference", "SEPARATOR"]

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


FairnessReport = FairnessResult  # the section's type (results/fairness.py); the old name stays importable


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
        raise ConfigError(invalid("reference_group", "the fairness check", "a group name, 'attribute=group' or a "
                                  "table {attribute = group}", spec))
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


# ---------------------------------------------------------------------------- estimates
def check_groups(sensitive: Any, *, reference_group: Any = None, max_order: int = 3) -> None:
    """Refuse, before any model call, what :func:`fairness_report` refuses once the counts are
    in: a sensitive attribute missing in every row or holding a single group, and a reference
    group that is no group. The same view builder runs on the group sizes alone, so the
    sentences are the report's own.

    Parameters
    ----------
    sensitive: DataFrame (n, s) of the sensitive attributes (as ``AuditData.sensitive``).
    reference_group, max_order: as for :func:`fairness_report`.

    Raises
    ------
    InvalidValueError, ConfigError
    """
    names = [str(c) for c in sensitive.columns]
    if not names:
        return
    combo = np.zeros(len(sensitive), dtype=np.int64)
    levels: list[tuple[str, ...]] = []
    for name in sensitive.columns:
        codes, lv = _factorize(sensitive[name])
        codes = np.where(codes < 0, len(lv), codes)  # unknown is the last level
        combo = combo * (len(lv) + 1) + codes
        levels.append(tuple(lv))
    shape = tuple(len(lv) + 1 for lv in levels)
    rows_by_combo = np.bincount(combo, minlength=int(np.prod(shape))).reshape(shape)
    _make_views(names, levels, rows_by_combo, max_order=max_order, reference=reference_group)


def _percentile(draws: np.ndarray | None, confidence: float) -> tuple[float, float]:
    if draws is None or draws.size == 0:
        return float("nan"), float("nan")
    return percentile_interval(draws, confidence)


def _is_ratio(name: str) -> bool:
    return name in GAP_METRICS and GAP_METRICS[name][0] in ("ratio", "min_ratio")


# gaps whose test's null does not imply parity of the gap itself (see the module docstring)
_NO_PARITY_EXTENSION = frozenset({"calibration_gap"})


def _gap_estimate(name: str, value: float, draws: np.ndarray | None, p: float, confidence: float,
                  interval: tuple[float, float] | None = None) -> GapEstimate:
    """Posterior interval of a gap, at parity when the test does not reject, holding the point.

    ``interval``: a ready interval (max − min gaps, :func:`~.intervals.max_gap_interval`)
    used instead of the percentile interval of ``draws``.
    """
    level = 1.0 - confidence
    if not np.isfinite(value):
        return GapEstimate(float("nan"), float("nan"), float("nan"), float("nan"), level)
    low, high = _percentile(draws, confidence) if interval is None else interval
    if np.isfinite(p) and p >= level and np.isfinite(low) and name not in _NO_PARITY_EXTENSION:
        if _is_ratio(name):
            high = 1.0
        else:
            low = 0.0
    low, high = include_point(value, low, high)
    return GapEstimate(float(value), low, high, float(p), level)


# ---------------------------------------------------------------------------- eligibility
_ELIGIBLE_RATES = ("selection_rate", "base_rate", "accuracy", "mean_score", "tpr", "fnr", "fpr", "tnr",
                   "precision", "calibration_error", "calibration_error_plugin")


def _eligibility(rows: np.ndarray, c: int, *, min_group_size: int, min_class_rows: int) -> dict[str, np.ndarray]:
    """Per rate, ``(g,)`` True where a group has enough rows to enter headline gaps and verdicts.

    rows: ``(g, K, K)`` unweighted confusion rows. A group needs ``min_group_size`` rows,
    and ``min_class_rows`` rows in the denominator of the rate (positives for TPR/FNR,
    negatives for FPR/TNR, predicted positives for precision, both for calibration).
    """
    n = rows.sum(axis=(1, 2))
    big = n >= min_group_size
    actual = rows[:, c, :].sum(axis=1)
    negatives = n - actual
    predicted = rows[:, :, c].sum(axis=1)
    pos_ok = big & (actual >= min_class_rows)
    neg_ok = big & (negatives >= min_class_rows)
    return {"selection_rate": big, "base_rate": big, "accuracy": big, "mean_score": big,
            "tpr": pos_ok, "fnr": pos_ok, "fpr": neg_ok, "tnr": neg_ok,
            "precision": big & (predicted >= min_class_rows),
            "calibration_error": pos_ok & neg_ok, "calibration_error_plugin": pos_ok & neg_ok}


def _masked(rates: dict[str, np.ndarray], eligible: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (np.where(eligible[k], x, np.nan) if k in eligible else x) for k, x in rates.items()}


def _left_out(labels: list[str], rows: np.ndarray, eligible: dict[str, np.ndarray], present: Sequence[str], *,
              min_group_size: int, min_class_rows: int) -> dict[str, LeftOut]:
    n = rows.sum(axis=(1, 2))
    out: dict[str, LeftOut] = {}
    for gi, label in enumerate(labels):
        rates = [k for k in _ELIGIBLE_RATES if k in present and k in eligible and not eligible[k][gi]]
        if not rates:
            continue
        if n[gi] < min_group_size:
            reason = f"{int(round(n[gi]))} rows, under the minimum of {min_group_size} for headline gaps and verdicts"
        else:
            reason = (f"fewer than {min_class_rows} rows in the denominator of {', '.join(rates)}, "
                      "so those rates stay out of headline gaps and verdicts")
        out[label] = LeftOut(reason=reason, rates=tuple(rates))
    return out


# ---------------------------------------------------------------------------- one view
def _rates(cells: np.ndarray, sums: np.ndarray | None, c: int, *, labelled: bool, favorable: int | None) -> dict:
    rates = binary_rates(cells.sum(axis=-1), c, labelled=labelled, favorable=favorable)
    if sums is not None:
        rates.update(calibration_terms(cells, sums, c, labelled=labelled))
    return rates


def _impact(selection: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``(r, g)`` selection rates → ratios to the most-selected *eligible* group."""
    return impact_ratios_to(selection, np.where(eligible, selection, np.nan))


def _proportions(rows: np.ndarray, c: int, favorable: int | None, labelled: bool) -> dict[str, tuple]:
    """rate → (successes, trials) per group from unweighted rows ``(g, K, K)``."""
    n = rows.sum(axis=(1, 2))
    sel = rows[:, :, c if favorable is None else favorable].sum(axis=1)
    out = {"selection_rate": (sel, n)}
    if not labelled:
        return out
    tp = rows[:, c, c]
    actual = rows[:, c, :].sum(axis=1)
    predicted = rows[:, :, c].sum(axis=1)
    negatives = n - actual
    fp = predicted - tp
    out.update(base_rate=(actual, n), tpr=(tp, actual), fnr=(actual - tp, actual), fpr=(fp, negatives),
               tnr=(negatives - fp, negatives), precision=(tp, predicted),
               accuracy=(np.trace(rows, axis1=1, axis2=2), n))
    return out


_STRATUM = {"fnr": "tpr", "tnr": "fpr", "calibration_error_plugin": "calibration_error"}


def _disparity_p_values(rows: np.ndarray, row_sums: np.ndarray | None, c: int, favorable: int | None, labelled: bool,
                        eligible: dict[str, np.ndarray], n_perm: int, rng: np.random.Generator) -> dict[str, float]:
    """rate (or ``"tpr+fpr"``) → permutation p-value of "the rate is the same in every eligible group".

    The statistic is Pearson's X² of the stratum's group × outcome table (summed over the
    two strata for equalized odds, over score bins for calibration), its null law drawn by
    permutation (:func:`~.disparity.permuted_successes`); only eligible groups take part.
    """
    m = rows.sum(axis=-1)
    props = _proportions(m, c, favorable, labelled)
    stats: dict[str, tuple[float, np.ndarray]] = {}
    for name, (k, trials) in props.items():
        if name == "base_rate" or name in _STRATUM:
            continue
        keep = eligible[name] & (trials > 0)
        if keep.sum() < 2:
            continue
        stats[name] = (chi_square(k[keep], trials[keep]),
                       chi_square(permuted_successes(trials[keep], k[keep].sum(), n_perm, rng), trials[keep]))
    if labelled and rows.shape[-1] > 0:
        keep = eligible["calibration_error"]
        n_bin = rows.sum(axis=(1, 2))[keep]  # (g, B)
        pos_bin = rows[:, c].sum(axis=1)[keep]
        if keep.sum() >= 2:
            obs, perm = 0.0, np.zeros(n_perm)
            for b in range(n_bin.shape[1]):
                if n_bin[:, b].sum() > 0:
                    obs += chi_square(pos_bin[:, b], n_bin[:, b])
                    perm += chi_square(permuted_successes(n_bin[:, b], pos_bin[:, b].sum(), n_perm, rng), n_bin[:, b])
            stats["calibration_error"] = (obs, perm)
    keep = eligible["mean_score"]
    if row_sums is not None and keep.sum() >= 2:
        # mean score: permute group labels among rows; within a score bin a row's score is
        # taken as the bin's mean score (the counts keep no finer detail).
        hist = rows.sum(axis=(1, 2))[keep]  # (g, B)
        bin_mean = np.divide(row_sums.sum(axis=(0, 1, 2)), rows.sum(axis=(0, 1, 2)),
                             out=np.zeros(hist.shape[1]), where=rows.sum(axis=(0, 1, 2)) > 0)
        n_g = hist.sum(axis=1)

        def spread(h: np.ndarray) -> np.ndarray:
            means = (h * bin_mean).sum(axis=-1) / n_g
            grand = (n_g * means).sum(axis=-1, keepdims=True) / n_g.sum()
            return (n_g * (means - grand) ** 2).sum(axis=-1)

        stats["mean_score"] = (float(spread(hist)), spread(permuted_tables(hist, n_perm, rng)))
    if "tpr" in stats and "fpr" in stats:
        stats["tpr+fpr"] = (stats["tpr"][0] + stats["fpr"][0], stats["tpr"][1] + stats["fpr"][1])
    out = {name: p_value(obs, perm) for name, (obs, perm) in stats.items()}
    for name, base in _STRATUM.items():
        if base in out:
            out[name] = out[base]
    return out


def _gap_p_value(name: str, p_rates: dict[str, float]) -> float:
    if name == "impact_ratio":
        return p_rates.get("selection_rate", float("nan"))
    if name not in GAP_METRICS:
        return float("nan")
    needs = GAP_METRICS[name][1]
    key = needs[0] if len(needs) == 1 else "+".join(needs)
    return p_rates.get(key, float("nan"))


@dataclass
class _ClassStats:
    """Everything one view reports for one class treated as positive."""

    rates: dict[str, np.ndarray]            # rate -> (g,) point values (all groups)
    rate_ci: dict[str, tuple]               # rate -> ((g,), (g,)) interval
    gaps: dict[str, GapEstimate]
    ref_gaps: dict[str, GapEstimate]
    signed: dict[str, list[Estimate | None]]  # rate -> per group vs reference
    gap_draws: dict[str, np.ndarray]        # for the multiclass worst-class gap
    p_values: dict[str, float]
    eligible: dict[str, np.ndarray]
    masked_point: dict[str, np.ndarray]


def _class_stats(v: _View, rows: np.ndarray, counts: np.ndarray, sums: np.ndarray | None, c: int, *,
                 favorable: int | None, labelled: bool, n_draws: int, rng: np.random.Generator,
                 confidence: float, min_group_size: int, min_class_rows: int, rate_method: str,
                 bin_centres: np.ndarray, n_perm: int) -> _ClassStats:
    m_rows = rows.sum(axis=-1)
    eligible = _eligibility(m_rows, c, min_group_size=min_group_size, min_class_rows=min_class_rows)
    kw = dict(labelled=labelled, favorable=favorable)
    pt = _rates(counts[None], None if sums is None else sums[None], c, **kw)
    pt["impact_ratio"] = _impact(pt["selection_rate"], eligible["selection_rate"])
    mpt = _masked(pt, eligible)
    gaps_pt = gap_metrics(mpt)
    ref_pt = gap_metrics(mpt, ref=v.ref)
    signed_pt = {k: pt[k] - pt[k][:, v.ref: v.ref + 1] for k in _SIGNED if k in pt}

    # Posterior draws of the cells: every rate, gap and ratio per draw.
    draws: dict[tuple, list[np.ndarray]] = {}
    # debiased calibration error: replicates from the debiased-world bootstrap (calibration_interval)
    world = group_bins(rows, counts, sums, c) if labelled and sums is not None and n_draws > 0 else None
    if n_draws > 0:
        for block, bsums in gamma_cell_draws(rows, counts, sums, n_draws, rng, bin_centres=bin_centres):
            rd = _rates(block, bsums, c, **kw)
            if world is not None:
                rd["calibration_error"] = group_calibration_draws(world, block.shape[0], rng)
            rd["impact_ratio"] = _impact(rd["selection_rate"], eligible["selection_rate"])
            md = _masked(rd, eligible)
            for k, x in rd.items():
                draws.setdefault(("rate", k), []).append(x)
            for k, x in gap_metrics(md).items():
                draws.setdefault(("gap", k), []).append(x)
            for k, x in gap_metrics(md, ref=v.ref).items():
                draws.setdefault(("ref", k), []).append(x)
            for k in signed_pt:
                draws.setdefault(("signed", k), []).append(rd[k] - rd[k][:, v.ref: v.ref + 1])
    got = {key: np.concatenate(x) for key, x in draws.items()}

    # Permutation tests of "no disparity", on unweighted rows (one p-value per rate).
    row_sums = None if sums is None else np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0) * rows
    p_rates = _disparity_p_values(rows, row_sums, c, favorable, labelled, eligible, n_perm, rng) if n_draws > 0 else {}
    p_gap = {k: _gap_p_value(k, p_rates) for k in gaps_pt}
    p_ref = p_gap

    nan = float("nan")
    ui = {key: _max_gap_intervals(got, eligible, confidence, ref=ref) for key, ref in (("gap", None), ("ref", v.ref))}
    if world is not None:
        _calibration_intervals(ui, world, counts, sums, c, eligible["calibration_error"], n_draws, confidence,
                               ref=v.ref, rng=rng)
    gaps = {k: _gap_estimate(k, float(x[0]), got.get(("gap", k)), p_gap.get(k, nan), confidence, ui["gap"].get(k))
            for k, x in gaps_pt.items()}
    ref_gaps = {k: _gap_estimate(k, float(x[0]), got.get(("ref", k)), p_ref.get(k, nan), confidence, ui["ref"].get(k))
                for k, x in ref_pt.items()}
    props = _proportions(m_rows, c, favorable, labelled)
    rate_ci: dict[str, tuple] = {}
    for k, x in pt.items():
        if k.endswith("_plugin"):  # biased plug-in kept for comparison: no interval is claimed for it
            lo = hi = np.full(len(v.labels), np.nan)
        elif k in props and n_draws > 0:
            lo, hi = rate_interval(*props[k], confidence, rate_method)
        elif k == "impact_ratio" and ("rate", "selection_rate") in got:
            lo, hi = impact_ratio_intervals(got[("rate", "selection_rate")], eligible["selection_rate"], confidence)
        elif ("rate", k) in got:
            q = got[("rate", k)]
            lo, hi = np.full(len(v.labels), np.nan), np.full(len(v.labels), np.nan)
            for gi in range(len(v.labels)):
                lo[gi], hi[gi] = _percentile(q[:, gi], confidence)
        else:
            lo = hi = np.full(len(v.labels), np.nan)
        if k == "calibration_error" and world is not None:
            lo, hi = _tiny_group_calibration(lo, hi, world, counts, sums, c, v.n < min_group_size, n_draws,
                                             confidence, rng)
            lo = _boundary_calibration(lo, world, counts, sums, c, v.n >= min_group_size, n_draws, confidence, rng)
        ok = np.isfinite(x[0]) & np.isfinite(lo) & np.isfinite(hi)
        lo, hi = np.where(ok, np.fmin(lo, x[0]), np.nan), np.where(ok, np.fmax(hi, x[0]), np.nan)
        rate_ci[k] = (lo, hi)
    signed: dict[str, list[Estimate | None]] = {}
    for k, x in signed_pt.items():
        col: list[Estimate | None] = []
        for gi in range(len(v.labels)):
            lo, hi = _percentile(got[("signed", k)][:, gi] if ("signed", k) in got else None, confidence)
            lo, hi = include_point(float(x[0, gi]), lo, hi)
            col.append(Estimate(float(x[0, gi]), lo, hi))
        signed[k] = col
    return _ClassStats({k: x[0] for k, x in pt.items()}, rate_ci, gaps, ref_gaps, signed,
                       {k: got[("gap", k)] for k in gaps_pt if ("gap", k) in got}, p_gap, eligible,
                       {k: x[0] for k, x in mpt.items()})


def _weighted_bins(counts: np.ndarray, sums: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(g, B)`` weighted rows, positives and score sums per group and score bin."""
    return counts.sum(axis=(1, 2)), counts[:, c].sum(axis=1), sums.sum(axis=(1, 2))


def _own_stream(rng: np.random.Generator) -> np.random.Generator:
    """A child stream, so that the calibration intervals leave every other draw of the audit as it was."""
    try:
        return rng.spawn(1)[0]
    except (AttributeError, TypeError, ValueError):  # a Generator without a seed sequence
        return rng


def _calibration_intervals(ui: dict[str, dict[str, tuple[float, float]]], world: tuple[np.ndarray, ...],
                           counts: np.ndarray, sums: np.ndarray, c: int, eligible: np.ndarray, n_draws: int,
                           confidence: float, *, ref: int, rng: np.random.Generator) -> None:
    """Put the calibration gap's intervals (between groups, to ``ref``) into ``ui``: equal-error-world pivot."""
    reflected = equal_error_draws(world, *_weighted_bins(counts, sums, c), eligible, n_draws, _own_stream(rng))
    ui["gap"]["calibration_gap"] = max_gap_interval([reflected], confidence)
    ui["ref"]["calibration_gap"] = max_gap_interval([reflected], confidence, ref=ref)


def _tiny_group_calibration(lo: np.ndarray, hi: np.ndarray, world: tuple[np.ndarray, ...], counts: np.ndarray,
                            sums: np.ndarray, c: int, tiny: np.ndarray, n_draws: int, confidence: float,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Calibration-error intervals with groups under ``min_group_size`` rows replaced by the tiny-group interval."""
    if not tiny.any():
        return lo, hi
    lo, hi = lo.copy(), hi.copy()
    n_bin, pos_bin, score_bin = _weighted_bins(counts, sums, c)
    stream = _own_stream(rng)
    for gi in np.flatnonzero(tiny):
        lo[gi], hi[gi] = tiny_group_interval(world[0][gi], n_bin[gi], pos_bin[gi], score_bin[gi], n_draws, stream,
                                             confidence)
    return lo, hi


def _boundary_calibration(lo: np.ndarray, world: tuple[np.ndarray, ...], counts: np.ndarray, sums: np.ndarray,
                          c: int, keep: np.ndarray, n_draws: int, confidence: float,
                          rng: np.random.Generator) -> np.ndarray:
    """ℓ2 lower ends of the groups in ``keep`` made boundary-aware (:func:`~.calibration_interval.boundary_lower_end`)."""
    if not keep.any():
        return lo
    lo = lo.copy()
    bins = _weighted_bins(counts, sums, c)
    v = debiased_squared_ce(*bins)
    null = world_replicates(world[0], world[2], world[2], n_draws, _own_stream(rng))
    for gi in np.flatnonzero(keep & np.isfinite(lo) & np.isfinite(v)):
        low = boundary_lower_end(float(v[gi]), float(lo[gi]) ** 2 if lo[gi] > 0 else 0.0, null[:, gi], confidence)
        lo[gi] = np.sqrt(max(low, 0.0))
    return lo


def _max_gap_intervals(got: dict[tuple, np.ndarray], eligible: dict[str, np.ndarray], confidence: float, *,
                       ref: int | None) -> dict[str, tuple[float, float]]:
    """Difference gaps (max − min, equalized odds) → :func:`~.intervals.max_gap_interval` of their rates' draws;
    ratio gaps (min / max, equalized-odds ratio, the lowest impact ratio) → :func:`~.intervals.ratio_gap_interval`."""
    out: dict[str, tuple[float, float]] = {}
    for name, (how, needs) in GAP_METRICS.items():
        if not all(("rate", r) in got for r in needs):
            continue
        draws = [np.where(eligible[r], got[("rate", r)], np.nan) if r in eligible else got[("rate", r)] for r in needs]
        if how in ("diff", "max_diff"):
            out[name] = max_gap_interval(draws, confidence, ref=ref)
        else:
            out[name] = ratio_gap_interval(draws, confidence, ref=ref)
    return out


def _group_block(v: _View, cs: _ClassStats, *, labelled: bool, min_group_size: int, top: bool) -> dict[str, GroupRates]:
    groups: dict[str, GroupRates] = {}
    for gi, label in enumerate(v.labels):
        entry: dict[str, Any] = {"n": int(round(v.n[gi]))} if top else {}
        ci: dict[str, RateInterval] = {}
        undefined: dict[str, str] = {}
        for k, x in cs.rates.items():
            val = x[gi]
            entry[k] = float(val)
            if not np.isfinite(val):
                undefined[k] = RATE_REASONS.get(k, "a zero denominator in this group")
            lo, hi = cs.rate_ci[k]
            ci[k] = RateInterval(ci_low=float(lo[gi]), ci_high=float(hi[gi]))
        flags = []
        if top and v.n[gi] < min_group_size:
            flags.append("small_group")
        if labelled and "tpr" in undefined:
            flags.append("no_positives")
        if labelled and "fpr" in undefined:
            flags.append("no_negatives")
        if "precision" in undefined:
            flags.append("no_predicted_positives")
        if gi != v.ref:
            entry["vs_reference"] = {k: col[gi] for k, col in cs.signed.items()}
        groups[label] = _group_rates(entry, flags=tuple(flags), undefined=undefined, ci=ci)
    return groups


def _group_rates(entry: dict[str, Any], **kw: Any) -> GroupRates:
    """A :class:`GroupRates` from n, rate values and vs_reference; rates the record does not name go to ``extra``."""
    known = {f.name for f in dataclasses.fields(GroupRates)}
    return GroupRates(**{k: x for k, x in entry.items() if k in known}, **kw,
                      extra={k: finite_or_none(x) for k, x in entry.items() if k not in known})


def _undefined(gaps: dict[str, GapEstimate], masked: dict[str, np.ndarray]) -> dict[str, str]:
    out = {}
    for k, est in gaps.items():
        if not np.isfinite(est.value):
            out[k] = gap_reason(k, {r: x[None] for r, x in masked.items()}) \
                if k in GAP_METRICS and all(r in masked for r in GAP_METRICS[k][1]) else "undefined in every class"
    return out


_NO_FAVORABLE = ("the favourable outcome is not declared, so selection rates have no direction; declare it with "
                 "favorable_label = 0 (the class that benefits the person) in audit.toml or --favorable-label")


def fairness_report(
    counts: GroupCounts | GroupSums,
    *,
    positive_index: int | None = 1,
    favorable_index: int | None = None,
    class_labels: Sequence[Any] | None = None,
    reference_group: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    min_group_size: int = 30,
    min_class_rows: int = 5,
    rate_interval_method: str = "jeffreys",
    max_order: int = 3,
    ll144_min_share: float = 0.02,
    four_fifths_threshold: float = 0.8,
    sweep: bool = True,
) -> FairnessResult:
    """Every group figure, gap, impact ratio and interval from merged counts.

    Parameters
    ----------
    counts: merged :class:`GroupCounts` (classification) or :class:`GroupSums` (regression).
    positive_index: the positive class of a binary classifier; None for multiclass
        (one-vs-rest for every class, reported under ``per_class``).
    favorable_index: the class that benefits the person (COMPAS: not flagged high risk).
        Selection rates count predictions of it; impact ratios, the four-fifths rule and the
        Local Law 144 view need it and are left out (with the reason) without it.
    class_labels: labels of the K classes (JSON keys of ``per_class``).
    reference_group: see :func:`parse_reference`; default the largest group of each view.
    n_boot: posterior draws for gap intervals and permutations for the disparity tests
        (raised where needed so that p-values can pass the family adjustment:
        :func:`_permutations`).
    confidence, rng: interval level, random stream.
    min_group_size, min_class_rows: a group enters headline gaps, impact ratios and
        verdicts for a rate only with at least ``min_group_size`` rows and
        ``min_class_rows`` rows in the rate's denominator; others are shown and listed
        under ``left_out``. Groups under ``min_group_size`` are also flagged ``small_group``,
        and their calibration-error interval is the tiny-group one
        (:func:`~.calibration_interval.tiny_group_interval`).
    rate_interval_method: ``"jeffreys"`` or ``"wilson"`` for per-group rates.
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
    if rate_interval_method not in RATE_METHODS:
        raise ConfigError(invalid("rate_interval", "fairness_report", "one of " + ", ".join(map(repr, RATE_METHODS)),
                                  rate_interval_method))
    gc = counts
    s = len(gc.attributes)
    k = gc.n_classes
    labels_k = [str(c) for c in (class_labels if class_labels is not None else range(k))]
    rows_by_combo = gc.rows.sum(axis=(-1, -2, -3))
    views = _make_views(gc.attributes, gc.levels, rows_by_combo, max_order=max_order, reference=reference_group)
    binary = positive_index is not None
    classes = [positive_index] if binary else list(range(k))
    edges = score_bin_edges(gc.score_bins)
    centres = (edges[:-1] + edges[1:]) / 2
    opts = dict(labelled=gc.labelled, n_draws=n_boot, confidence=confidence, min_group_size=min_group_size,
                min_class_rows=min_class_rows, rate_method=rate_interval_method, bin_centres=centres,
                n_perm=_permutations(n_boot, len(views) * (1 if binary else k + 1), confidence))

    out: dict[str, AttributeFairness] = {}
    for v in views:
        rows = _collapse(gc.rows[None].astype(np.float64), s, v.axes)[0, v.keep]  # (g, K, K, B)
        cnts = _collapse(gc.counts[None], s, v.axes)[0, v.keep]
        sums = None if gc.score_sums is None else _collapse(gc.score_sums[None], s, v.axes)[0, v.keep]
        stats = {c: _class_stats(v, rows, cnts, sums, c, favorable=favorable_index if binary else None, rng=rng, **opts)
                 for c in classes}
        section: dict[str, Any] = {  # the fields of this view's AttributeFairness
            "attributes": tuple(gc.attributes[a] for a in v.axes),
            "task": "classification",
            "reference_group": v.labels[v.ref],
            "n": int(round(v.n.sum())),
            "unknown": v.unknown,
            "favorable_label": None if favorable_index is None else labels_k[favorable_index],
        }
        if binary:
            cs = stats[positive_index]
            section["groups"] = _group_block(v, cs, labelled=gc.labelled, min_group_size=min_group_size, top=True)
            metrics = dict(cs.gaps)
            undefined = _undefined(cs.gaps, cs.masked_point)
            section["reference_metrics"] = {n_: e for n_, e in cs.ref_gaps.items() if n_ != "impact_ratio" or favorable_index is not None}
        else:
            metrics, undefined = _worst_class(stats, confidence)
            m_rows = rows.sum(axis=-1)
            n_g = m_rows.sum(axis=(1, 2))
            acc = np.trace(cnts.sum(axis=-1), axis1=1, axis2=2) / cnts.sum(axis=(1, 2, 3))
            lo, hi = rate_interval(np.trace(m_rows, axis1=1, axis2=2), n_g, confidence, rate_interval_method) \
                if n_boot > 0 else (np.full(len(n_g), np.nan),) * 2
            section["groups"] = {
                lab: GroupRates(n=int(round(v.n[gi])), accuracy=float(acc[gi]),
                                flags=("small_group",) if v.n[gi] < min_group_size else (),
                                ci={"accuracy": RateInterval(ci_low=float(lo[gi]), ci_high=float(hi[gi]))})
                for gi, lab in enumerate(v.labels)}
            per_class = {}
            for c in classes:
                cs = stats[c]
                per_class[labels_k[c]] = ClassFairness(
                    groups=_group_block(v, cs, labelled=gc.labelled, min_group_size=min_group_size, top=False),
                    metrics=cs.gaps,
                    reference_metrics=cs.ref_gaps,
                    impact_ratios={lab: float(x) for lab, x in zip(v.labels, cs.rates["impact_ratio"], strict=True)},
                )
            section["per_class"] = per_class
        fav_stats = stats.get(favorable_index if not binary else positive_index)
        if favorable_index is None:
            metrics.pop("impact_ratio", None)
            undefined["impact_ratio"] = _NO_FAVORABLE
            section["impact_refused"] = _NO_FAVORABLE
        elif fav_stats is not None:
            if not binary:
                metrics["impact_ratio"] = fav_stats.gaps["impact_ratio"]
            ir = fav_stats.rates["impact_ratio"]
            section["impact_ratios"] = {lab: float(x) for lab, x in zip(v.labels, ir, strict=True)}
            eligible_ir = np.where(fav_stats.eligible["selection_rate"], ir, np.nan)
            section["four_fifths"] = four_fifths(v.labels, eligible_ir, threshold=four_fifths_threshold)
            sel = fav_stats.rates["selection_rate"] if binary else _favorable_selection(cnts, favorable_index)
            section["ll144"] = ll144_view(v.labels, v.n, sel * v.n, unknown=v.unknown, min_share=ll144_min_share)
        section["metrics"] = metrics
        section["undefined_metrics"] = undefined
        section["small_groups"] = tuple(lab for lab, n in zip(v.labels, v.n, strict=True) if n < min_group_size)
        first = stats[classes[0]] if binary else (fav_stats or stats[classes[0]])
        section["min_group_size"] = min_group_size
        section["min_class_rows"] = min_class_rows
        section["left_out"] = _left_out(v.labels, rows.sum(axis=-1), first.eligible, list(first.rates),
                                        min_group_size=min_group_size, min_class_rows=min_class_rows)
        if binary and gc.has_scores:
            if gc.labelled:
                section["calibration"] = _calibration(v.labels, cnts, sums, positive_index, edges)
            if sweep and gc.score_bins > 1:
                section["sweep"] = _sweep(v.labels, cnts, positive_index, edges, labelled=gc.labelled,
                                          favorable=favorable_index, eligible=stats[positive_index].eligible)
        out[v.name] = AttributeFairness(**section)
    return FairnessResult(_family_adjusted(out, 1.0 - confidence))


_TESTS_PER_SCOPE = 8  # selection rate, TPR, FPR, TPR+FPR, precision, accuracy, mean score, calibration


def _permutations(n_boot: int, scopes: int, confidence: float) -> int:
    """Permutations per test: ``n_boot``, raised so that p-values resolve Holm's smallest threshold.

    A permutation p-value is at least ``1 / (n_perm + 1)``; Holm's first threshold is
    ``α / m`` for a family of m tests, so with too few permutations no gap could ever be
    flagged. ``4 m / α`` permutations (m bounded by ``scopes`` × the tests per scope) put
    the floor at a quarter of that threshold.
    """
    if n_boot <= 0:
        return 0
    return max(n_boot, int(np.ceil(4 * scopes * _TESTS_PER_SCOPE / (1.0 - confidence))))


def _null_key(name: str, *, headline_of_classes: bool) -> str:
    """The hypothesis a gap tests: the rate (or ``"tpr+fpr"``) whose permutation test it shares.

    A multiclass view's headline impact ratio takes the favourable class's test, its
    other headline gaps the worst-class (Bonferroni) one: they are different tests.
    """
    if name == "impact_ratio":
        return "impact_ratio" if headline_of_classes else "selection_rate"
    needs = GAP_METRICS[name][1] if name in GAP_METRICS else (name,)
    return "+".join(_STRATUM.get(r, r) for r in needs)  # FNR shares TPR's test, TNR FPR's


def _family_adjusted(views: dict[str, AttributeFairness], level: float) -> dict[str, AttributeFairness]:
    """Every tested gap of every view with its Holm-adjusted p-value over the audit's family of tests.

    The family is the distinct hypotheses (view, class for multiclass one-vs-rest or the
    headline, rate); gaps built on one rate share its test and count once
    (:mod:`.multiplicity`). Each view records the method, the family size and the level.
    """
    def tests(view: str, scope: str | None, gaps: Mapping[str, Any] | None, headline: bool):
        for name, est in (gaps or {}).items():
            if isinstance(est, GapEstimate) and np.isfinite(est.p_value):
                yield (view, scope, _null_key(name, headline_of_classes=headline)), name, est

    def scopes(view: str, entry: AttributeFairness):
        multi = entry.per_class is not None
        yield None, entry.metrics, multi
        yield None, entry.reference_metrics, multi
        for label, cf in (entry.per_class or {}).items():
            yield label, cf.metrics, False
            yield label, cf.reference_metrics, False

    family: dict[Any, float] = {}
    for view, entry in views.items():
        for scope, gaps, headline in scopes(view, entry):
            for key, _, est in tests(view, scope, gaps, headline):
                family.setdefault(key, est.p_value)
    if not family:
        return views
    adjusted = adjust(family)
    record = Multiplicity(method=MULTIPLICITY_METHOD, family_size=len(family), level=round(float(level), 12))

    def fixed(view: str, scope: str | None, gaps: Mapping[str, Any] | None, headline: bool) -> dict[str, Any] | None:
        if gaps is None:
            return None
        out = dict(gaps)
        for key, name, est in tests(view, scope, gaps, headline):
            out[name] = dataclasses.replace(est, p_adjusted=adjusted[key])
        return out

    result: dict[str, AttributeFairness] = {}
    for view, entry in views.items():
        multi = entry.per_class is not None
        changes: dict[str, Any] = {"metrics": fixed(view, None, entry.metrics, multi),
                                   "reference_metrics": fixed(view, None, entry.reference_metrics, multi),
                                   "multiplicity": record}
        if multi:
            changes["per_class"] = {label: dataclasses.replace(
                cf, metrics=fixed(view, label, cf.metrics, False),
                reference_metrics=fixed(view, label, cf.reference_metrics, False))
                for label, cf in entry.per_class.items()}
        result[view] = dataclasses.replace(entry, **changes)
    return result


def _favorable_selection(cells: np.ndarray, f: int) -> np.ndarray:
    m = cells.sum(axis=-1)
    n = m.sum(axis=(1, 2))
    return np.divide(m[:, :, f].sum(axis=1), n, out=np.full(n.shape, np.nan), where=n > 0)


def _worst_class(stats: dict[int, _ClassStats], confidence: float) -> tuple[dict[str, GapEstimate], dict[str, str]]:
    """Multiclass headline gaps: the worst class per draw (max difference, min ratio); Bonferroni p-value."""
    names = list(next(iter(stats.values())).gaps)
    metrics: dict[str, GapEstimate] = {}
    undefined: dict[str, str] = {}
    k = len(stats)
    for name in names:
        ratio = _is_ratio(name)
        fill = np.inf if ratio else -np.inf
        values = np.array([cs.gaps[name].value for cs in stats.values()], dtype=float)
        pick = np.where(np.isfinite(values), values, fill)
        value = float(pick.min() if ratio else pick.max())
        if not np.isfinite(value):
            metrics[name] = GapEstimate(float("nan"), float("nan"), float("nan"))
            undefined[name] = "undefined in every class"
            continue
        draws = [cs.gap_draws[name] for cs in stats.values() if name in cs.gap_draws]
        worst = None
        if len(draws) == k:
            stack = np.where(np.isfinite(np.stack(draws, axis=-1)), np.stack(draws, axis=-1), fill)
            worst = stack.min(axis=-1) if ratio else stack.max(axis=-1)
            worst = np.where(np.isfinite(worst), worst, np.nan)
        ps = [cs.p_values.get(name, float("nan")) for cs in stats.values()]
        p = float(min(1.0, k * np.nanmin(ps))) if np.isfinite(ps).any() else float("nan")
        metrics[name] = _gap_estimate(name, value, worst, p, confidence)
    return metrics, undefined


def _interval(reps: np.ndarray | None, confidence: float) -> tuple[float, float]:
    return _percentile(reps, confidence)


def _basic_interval(value: float, reps: np.ndarray | None, confidence: float,
                    lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    """Basic (reverse-percentile) interval ``[2v − q_hi, 2v − q_lo]`` clipped to [lo, hi], holding v.

    Used for the regression gaps (Davison & Hinkley 1997, §5.2.1).
    """
    low, high = _interval(reps, confidence)
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)):
        return float("nan"), float("nan")
    return include_point(value, float(np.clip(2 * value - high, lo, hi)), float(np.clip(2 * value - low, lo, hi)))


def _calibration(labels: list[str], cells: np.ndarray, sums: np.ndarray, c: int, edges: np.ndarray) -> FairnessCalibration:
    count = cells.sum(axis=(1, 2))  # (g, B)
    positives = cells[:, c].sum(axis=1)
    score = sums.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.where(count > 0, score / count, np.nan)
        observed = np.where(count > 0, positives / count, np.nan)
    return FairnessCalibration(
        bins=tuple(float(e) for e in edges),
        groups={lab: GroupCalibration(count=tuple(int(round(x)) for x in count[i]),
                                      mean_predicted=tuple(float(x) for x in mean_pred[i]),
                                      observed=tuple(float(x) for x in observed[i]))
                for i, lab in enumerate(labels)},
    )


def _sweep(labels: list[str], cells: np.ndarray, c: int, edges: np.ndarray, *, labelled: bool,
           favorable: int | None = None, eligible: dict[str, np.ndarray] | None = None) -> ThresholdSweep:
    """Rates and gaps at every inner bin edge as the threshold (exact: bins align with them).

    The threshold applies to the score of class ``c`` (a row is predicted ``c`` when its
    score is at or above it). ``selection_rate`` follows the favourable outcome, as the
    group table does: with ``favorable`` another class than ``c`` it is the share of rows
    *below* the threshold, so at the operating threshold it equals ``groups.*.selection_rate``.
    ``tpr`` / ``fpr`` stay those of class ``c``. The gaps are taken over the headline group
    set (``eligible``: per rate, the groups with enough rows), so at the operating threshold
    they equal the view's ``metrics``.
    """
    by_truth = cells.sum(axis=2)  # (g, K_true, B)
    tail = np.flip(np.cumsum(np.flip(by_truth, axis=-1), axis=-1), axis=-1)[..., 1:]  # rows with bin >= j, j=1..B-1
    n = by_truth.sum(axis=(1, 2))[:, None]
    selected = tail.sum(axis=1)
    chosen = selected if favorable is None or favorable == c else n - selected
    rates = {"selection_rate": np.divide(chosen, n, out=np.full(selected.shape, np.nan), where=n > 0)}
    if labelled:
        actual = by_truth[:, c].sum(axis=-1)[:, None]
        negatives = n - actual
        tp = tail[:, c]
        rates["tpr"] = np.divide(tp, actual, out=np.full(tp.shape, np.nan), where=actual > 0)
        rates["fpr"] = np.divide(selected - tp, negatives, out=np.full(tp.shape, np.nan), where=negatives > 0)
    headline = {k: (np.where(eligible[k][:, None], x, np.nan) if eligible is not None and k in eligible else x)
                for k, x in rates.items()}
    # gap_metrics wants (r, g): use thresholds as the replicate axis.
    gaps = gap_metrics({k: x.T for k, x in headline.items()})
    wanted = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
              "equal_opportunity_difference", "false_positive_rate_difference")
    return ThresholdSweep(
        thresholds=tuple(float(round(t, 12)) for t in edges[1:-1]),
        **{name: tuple(float(x) for x in gaps[name]) for name in wanted if name in gaps},
        groups={lab: {k: tuple(float(x) for x in r[i]) for k, r in rates.items()} for i, lab in enumerate(labels)},
    )


# ---------------------------------------------------------------------------- regression
def _regression_report(gs: GroupSums, *, reference_group: Any, n_boot: int, confidence: float,
                       rng: np.random.Generator, min_group_size: int, max_order: int) -> FairnessResult:
    """Group means of prediction, target and error with normal-approximation intervals.

    Sums do not support a cell-count bootstrap (a cell is a group, not a value), so each
    replicate draws group means from their sampling distribution N(mean, var/n) — the
    large-sample limit of the bootstrap — which keeps the computation additive.
    """
    s = len(gs.attributes)
    views = _make_views(gs.attributes, gs.levels, gs.sums[..., 0], max_order=max_order, reference=reference_group)
    out: dict[str, AttributeFairness] = {}
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
        groups: dict[str, GroupRates] = {}
        for gi, lab in enumerate(v.labels):
            entry: dict[str, Any] = {"n": int(round(n[gi]))}
            ci = {}
            for name in pt:
                entry[name] = float(pt[name][0, gi])
                low, high = _interval(reps[name][:, gi] if name in reps else None, confidence)
                ci[name] = RateInterval(ci_low=float(low), ci_high=float(high))
            groups[lab] = _group_rates(entry, flags=("small_group",) if n[gi] < min_group_size else (), ci=ci)
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
        out[v.name] = AttributeFairness(
            attributes=tuple(gs.attributes[a] for a in v.axes),
            task="regression",
            reference_group=v.labels[v.ref],
            n=int(round(n.sum())),
            unknown=v.unknown,
            groups=groups,
            metrics=metrics,
            undefined_metrics={},
            reference_metrics=ref_metrics,
            small_groups=tuple(lab for lab, x in zip(v.labels, n, strict=True) if x < min_group_size),
        )
    return FairnessResult(out)
