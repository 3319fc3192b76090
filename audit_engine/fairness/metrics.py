"""Group rates and the gaps between groups, computed from confusion counts.

Every function here takes counts with a leading replicate axis ``r`` (1 for the point
estimate, many for bootstrap replicates) and returns arrays with that axis first, so the
point value and all replicates come from the same vectorised code.

Rates (per group g, for one class c treated as positive; Mehrabi et al. 2019):

=================  ==========================  =======================================
name               formula                     undefined when
=================  ==========================  =======================================
base_rate          (TP + FN) / n               never (groups have n > 0)
selection_rate     (TP + FP) / n               never (with a favourable class f:
                                               predicted f / n)
tpr                TP / (TP + FN)              no rows of class c in the group
fnr                FN / (TP + FN)              no rows of class c
fpr                FP / (FP + TN)              no rows of the other classes
tnr                TN / (FP + TN)              no rows of the other classes
precision          TP / (TP + FP)              no predicted c
accuracy           Σ_k M[k, k] / n             never
mean_score         Σ score / n                 no scores given
calibration_error  sqrt(max(0, CE²))           no scores or no target; CE² is the
                                               debiased squared calibration error
                                               (Kumar, Liang & Ma 2019) on p(positive)
                                               bins, see :func:`debiased_squared_ce`
calibration_error_plugin  Σ_b |pos_b − Σscore_b| / n   the plug-in L1 ECE (Guo et al. 2017),
                                               biased upward
=================  ==========================  =======================================

Gaps over the groups where a rate is defined: *difference* = max − min and *ratio* =
min / max (fairlearn's ``between_groups`` method); to a reference group r: *difference*
= max_g |x_g − x_r| and *ratio* = min_g min(x_g, x_r) / max(x_g, x_r). Higher
differences and lower ratios mean less parity.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RATE_REASONS",
    "GAP_METRICS",
    "binary_rates",
    "calibration_terms",
    "debiased_squared_ce",
    "gap_between",
    "ratio_between",
    "gap_to_reference",
    "ratio_to_reference",
    "gap_metrics",
]

RATE_REASONS = {
    "tpr": "no rows of the positive class in this group",
    "fnr": "no rows of the positive class in this group",
    "fpr": "no rows of the negative class in this group",
    "tnr": "no rows of the negative class in this group",
    "precision": "no predicted positives in this group",
}

# name -> (combine, rates): combine is "diff" | "ratio" | "max_diff" | "min_ratio".
GAP_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "demographic_parity_difference": ("diff", ("selection_rate",)),
    "demographic_parity_ratio": ("ratio", ("selection_rate",)),
    "equalized_odds_difference": ("max_diff", ("tpr", "fpr")),
    "equalized_odds_ratio": ("min_ratio", ("tpr", "fpr")),
    "equal_opportunity_difference": ("diff", ("tpr",)),
    "equal_opportunity_ratio": ("ratio", ("tpr",)),
    "predictive_parity_difference": ("diff", ("precision",)),
    "predictive_parity_ratio": ("ratio", ("precision",)),
    "false_positive_rate_difference": ("diff", ("fpr",)),
    "false_positive_rate_ratio": ("ratio", ("fpr",)),
    "false_negative_rate_difference": ("diff", ("fnr",)),
    "false_negative_rate_ratio": ("ratio", ("fnr",)),
    "accuracy_difference": ("diff", ("accuracy",)),
    "mean_score_difference": ("diff", ("mean_score",)),
    "calibration_gap": ("diff", ("calibration_error",)),
    "impact_ratio": ("ratio", ("selection_rate",)),
}


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0 (undefined, never 0)."""
    ok = den > 0
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=ok)


def binary_rates(m: np.ndarray, c: int, *, labelled: bool = True, favorable: int | None = None) -> dict[str, np.ndarray]:
    """One-vs-rest rates for class ``c`` from confusion counts.

    Parameters
    ----------
    m: ``(r, g, K_true, K_pred)`` counts.
    c: the class index treated as positive.
    labelled: False when true classes are unknown (only selection_rate is returned).
    favorable: the favourable class; selection_rate is then the rate of predicting it
        (default: of predicting ``c``).

    Returns
    -------
    dict of ``(r, g)`` arrays (NaN where undefined).
    """
    n = m.sum(axis=(-1, -2))
    predicted = m[..., :, c].sum(axis=-1)
    selected = predicted if favorable is None or favorable == c else m[..., :, favorable].sum(axis=-1)
    out = {"selection_rate": _div(selected, n)}
    if not labelled:
        return out
    tp = m[..., c, c]
    actual = m[..., c, :].sum(axis=-1)
    fn = actual - tp
    fp = predicted - tp
    negatives = n - actual
    tn = negatives - fp
    out.update(
        base_rate=_div(actual, n),
        tpr=_div(tp, actual),
        fnr=_div(fn, actual),
        fpr=_div(fp, negatives),
        tnr=_div(tn, negatives),
        precision=_div(tp, predicted),
        accuracy=_div(np.trace(m, axis1=-2, axis2=-1), n),
    )
    return out


def debiased_squared_ce(n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray) -> np.ndarray:
    """Debiased squared calibration error over score bins (Kumar, Liang & Ma 2019, eq. 4).

    ``Σ_b (n_b / n) [(ȳ_b − s̄_b)² − ȳ_b (1 − ȳ_b) / (n_b − 1)]`` with ȳ_b the observed
    positive rate and s̄_b the mean score of bin b. Unbiased for the binned squared
    calibration error, so it is ≈ 0 on average for a calibrated model and may be slightly
    negative. A bin holding a single row (``n_b ≤ 1``) has no variance estimate of its
    own; its plug-in term ``(y − s)²`` has expectation ``(π − s)² + π(1 − π)`` and alone
    added +0.23 to a 5-row group whose truth was 0.027 (issue 23), so it is debiased with
    the variance the score claims, ``s̄ (1 − s̄)``: unbiased for a calibrated bin
    (π = s). Arrays ``(..., B)`` → ``(...)``.
    """
    n = n_bin.sum(axis=-1)
    ok = n_bin > 0
    ybar = np.divide(positives_bin, n_bin, out=np.zeros(np.broadcast(positives_bin, n_bin).shape), where=ok)
    sbar = np.divide(score_bin, n_bin, out=np.zeros(np.broadcast(score_bin, n_bin).shape), where=ok)
    var = np.divide(ybar * (1.0 - ybar), n_bin - 1.0, out=sbar * (1.0 - sbar), where=n_bin > 1)
    terms = np.where(ok, n_bin * ((ybar - sbar) ** 2 - var), 0.0)
    return _div(terms.sum(axis=-1), n)


def calibration_terms(h: np.ndarray, s: np.ndarray, c: int, *, labelled: bool) -> dict[str, np.ndarray]:
    """Mean score and per-group calibration error from score histograms.

    Parameters
    ----------
    h: ``(r, g, K_true, K_pred, B)`` counts; s: the same shape, sums of p(positive).
    c: the positive class index.

    Returns ``mean_score``, and with a target ``squared_calibration_error`` (debiased),
    ``calibration_error`` (its root, clipped at 0) and ``calibration_error_plugin`` (L1).
    """
    n = h.sum(axis=(-3, -2, -1))
    score_bin = s.sum(axis=(-3, -2))  # (r, g, B)
    out = {"mean_score": _div(score_bin.sum(axis=-1), n)}
    if labelled:
        positives_bin = h[..., c, :, :].sum(axis=-2)  # (r, g, B)
        sq = debiased_squared_ce(h.sum(axis=(-3, -2)), positives_bin, score_bin)
        out["calibration_error"] = np.sqrt(np.maximum(sq, 0.0))
        out["calibration_error_plugin"] = _div(np.abs(positives_bin - score_bin).sum(axis=-1), n)
    return out


def _defined(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x).sum(axis=-1)


def _nanmax(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, -np.inf).max(axis=-1)


def _nanmin(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, np.inf).min(axis=-1)


def gap_between(x: np.ndarray) -> np.ndarray:
    """max − min over the groups (last axis) where x is defined; NaN if fewer than two."""
    return np.where(_defined(x) >= 2, _nanmax(x) - _nanmin(x), np.nan)


def ratio_between(x: np.ndarray) -> np.ndarray:
    """min / max over the defined groups; NaN if fewer than two or the max is 0."""
    hi = _nanmax(x)
    ok = (_defined(x) >= 2) & (hi > 0)
    return np.where(ok, _nanmin(x) / np.where(ok, hi, 1.0), np.nan)


def gap_to_reference(x: np.ndarray, ref: int) -> np.ndarray:
    """max over groups g != ref of |x_g − x_ref|; NaN when x_ref or every other x_g is undefined."""
    others = np.delete(x, ref, axis=-1)
    d = np.abs(others - x[..., ref : ref + 1])
    return np.where(_defined(d) >= 1, _nanmax(d), np.nan)


def ratio_to_reference(x: np.ndarray, ref: int) -> np.ndarray:
    """min over g != ref of min(x_g, x_ref) / max(x_g, x_ref); 1 when both are 0."""
    others = np.delete(x, ref, axis=-1)
    r = x[..., ref : ref + 1]
    lo, hi = np.minimum(others, r), np.maximum(others, r)
    q = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), np.where(hi == 0, 1.0, np.nan))
    q = np.where(np.isfinite(others) & np.isfinite(r), q, np.nan)
    return np.where(_defined(q) >= 1, _nanmin(q), np.nan)


def gap_metrics(rates: dict[str, np.ndarray], *, ref: int | None = None) -> dict[str, np.ndarray]:
    """Every gap of :data:`GAP_METRICS` whose rates are present: name -> ``(r,)``.

    With ``ref`` the gaps are to that group (index into the group axis), else between groups.
    """
    diff = gap_between if ref is None else (lambda x: gap_to_reference(x, ref))
    ratio = ratio_between if ref is None else (lambda x: ratio_to_reference(x, ref))
    out: dict[str, np.ndarray] = {}
    for name, (how, needs) in GAP_METRICS.items():
        if not all(k in rates for k in needs):
            continue
        if how == "diff":
            out[name] = diff(rates[needs[0]])
        elif how == "ratio":
            out[name] = ratio(rates[needs[0]])
        elif how == "max_diff":
            out[name] = np.maximum(diff(rates[needs[0]]), diff(rates[needs[1]]))
        else:
            out[name] = np.minimum(ratio(rates[needs[0]]), ratio(rates[needs[1]]))
    return out


def gap_reason(name: str, rates: dict[str, np.ndarray]) -> str:
    """Why a gap is undefined on the point estimate (rates are ``(1, g)``)."""
    how, needs = GAP_METRICS[name]
    for rate in needs:
        x = rates[rate][0]
        if np.isfinite(x).sum() < 2:
            return f"fewer than two groups have a defined {rate}"
        if how in ("ratio", "min_ratio") and np.nanmax(x) == 0:
            return f"every group's {rate} is 0, so no ratio can be formed"
    return "undefined"
