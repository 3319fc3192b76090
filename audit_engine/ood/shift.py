"""Per-feature distribution shift between reference and current rows.

For each feature:

- numeric: the two-sample Kolmogorov–Smirnov test (``scipy.stats.ks_2samp``; statistic =
  the largest gap between the two empirical CDFs);
- categorical (integer codes): Pearson's chi-squared test of homogeneity on the
  2 × categories table (``scipy.stats.chi2_contingency``; statistic = χ²);
- both: the population stability index ``PSI = Σ (c − r)·ln(c / r)`` over bins (numeric:
  the reference's deciles; categorical: the categories; missing values: a bin of their
  own), proportions floored at 1e-4.
  Rules of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 large shift.

p-values are adjusted for the number of features with the Benjamini–Hochberg procedure
(false discovery rate, Benjamini & Hochberg 1995); a feature is ``drifted`` when its
adjusted p-value is below ``alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..errors import InvalidValueError, SchemaMismatchError

__all__ = ["FeatureShift", "shift_tests", "psi", "benjamini_hochberg"]

_PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureShift:
    """The shift test of one feature; ``p_adjusted`` is Benjamini–Hochberg adjusted."""

    feature: str
    test: str
    statistic: float
    p_value: float
    p_adjusted: float
    psi: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "psi": self.psi,
            "drifted": self.drifted,
        }


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1), same order as given."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def psi(reference: np.ndarray, current: np.ndarray, *, categorical: bool = False, bins: int = 10) -> float:
    """Population stability index of one feature (≥ 0; larger = more shift).

    Missing values (NaN) form a bin of their own, so a change in the share of missing
    values counts as shift (and never lands in the top decile); the deciles are those of
    the reference's present values. A feature missing in every reference row has only
    that bin besides an empty one.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref_nan, cur_nan = np.isnan(ref), np.isnan(cur)
    if categorical:
        codes = np.union1d(np.unique(ref[~ref_nan]), np.unique(cur[~cur_nan]))
        r = (ref[:, None] == codes[None]).mean(axis=0)
        c = (cur[:, None] == codes[None]).mean(axis=0)
    else:
        present = ref[~ref_nan]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if present.size else np.zeros(0)
        r = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1) / ref.size
        c = np.bincount(np.searchsorted(edges, cur[~cur_nan], side="right"), minlength=edges.size + 1) / cur.size
    if ref_nan.any() or cur_nan.any():
        r, c = np.append(r, ref_nan.mean()), np.append(c, cur_nan.mean())
    r = np.maximum(r, _PSI_FLOOR)
    c = np.maximum(c, _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def shift_tests(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    feature_names: Sequence[str],
    categorical_mask: np.ndarray | None = None,
    alpha: float = 0.05,
    bins: int = 10,
) -> list[FeatureShift]:
    """Test every feature of ``current`` (n, d) against ``reference`` (m, d).

    Images are flattened (one test per pixel). Returns one :class:`FeatureShift` per
    feature, in feature order.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.shape[1:] != cur.shape[1:]:
        raise SchemaMismatchError(
            f"Shift tests need the same features in both datasets; the reference has rows of shape "
            f"{list(ref.shape[1:])} and the current data {list(cur.shape[1:])}."
        )
    if ref.shape[0] < 2 or cur.shape[0] < 2:
        raise InvalidValueError(
            f"Shift tests need at least 2 rows in each dataset; got {ref.shape[0]} reference and {cur.shape[0]} current rows."
        )
    ref = ref.reshape(ref.shape[0], -1)
    cur = cur.reshape(cur.shape[0], -1)
    d = ref.shape[1]
    names = list(feature_names)
    if len(names) != d:
        raise SchemaMismatchError(f"Got {len(names)} feature names for {d} features.")
    mask = np.zeros(d, dtype=bool) if categorical_mask is None else np.asarray(categorical_mask, dtype=bool).reshape(-1)
    statistic = np.zeros(d)
    p = np.ones(d)
    tests = []
    numeric = np.flatnonzero(~mask)
    if numeric.size:
        holes = np.isnan(ref[:, numeric]).any() or np.isnan(cur[:, numeric]).any()
        ks = stats.ks_2samp(ref[:, numeric], cur[:, numeric], axis=0, **({"nan_policy": "omit"} if holes else {}))
        statistic[numeric] = ks.statistic
        p[numeric] = ks.pvalue
    for j in range(d):
        if mask[j]:
            codes = np.union1d(np.unique(ref[:, j]), np.unique(cur[:, j]))
            table = np.stack([(ref[:, j, None] == codes).sum(axis=0), (cur[:, j, None] == codes).sum(axis=0)])
            if codes.size < 2:
                statistic[j], p[j] = 0.0, 1.0
            else:
                chi = stats.chi2_contingency(table, correction=False)
                statistic[j], p[j] = float(chi.statistic), float(chi.pvalue)
            tests.append("chi2")
        else:
            tests.append("ks")
    p = np.where(np.isfinite(p), p, 1.0)
    adjusted = benjamini_hochberg(p)
    return [
        FeatureShift(names[j], tests[j], float(statistic[j]), float(p[j]), float(adjusted[j]),
                     psi(ref[:, j], cur[:, j], categorical=bool(mask[j]), bins=bins), bool(adjusted[j] < alpha))
        for j in range(d)
    ]
