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

__all__ = ["FeatureShift", "ShiftTally", "shift_tests", "psi", "benjamini_hochberg"]

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
    feature, in feature order. The same code as the audit's: one :class:`ShiftTally` fed
    ``current`` in one chunk.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.shape[1:] != cur.shape[1:]:
        raise SchemaMismatchError(
            f"Shift tests need the same features in both datasets; the reference has rows of shape "
            f"{list(ref.shape[1:])} and the current data {list(cur.shape[1:])}."
        )
    tally = ShiftTally(ref, np.zeros(int(np.prod(ref.shape[1:])), dtype=bool) if categorical_mask is None
                       else categorical_mask, bins)
    tally.update(cur)
    return tally.results(feature_names, alpha=alpha)


class ShiftTally:
    """Counts of the current rows against an in-memory ``reference`` ``(m, d)`` (feature space),
    from which the shift tests of every feature follow exactly (the audit's tally for ``ood``).

    - numeric features: the two-sample Kolmogorov–Smirnov statistic is exact from counts
      per distinct present reference value v_i — current rows equal to v_i and current rows
      strictly between v_{i−1} and v_i — because between two reference values the
      reference ECDF is constant and the current ECDF monotone, so the largest gap is at an
      end of the interval. The p-value is scipy's public two-sample KS distribution: for at
      most 10,000 rows per side (``ks_2samp``'s exact rule), ``scipy.stats.ks_2samp`` on the
      reference and a stand-in current sample with the same counts (one value per
      interval: the same merged order, so the same statistic and exact p-value); beyond,
      ``scipy.stats.kstwo.sf(D, round(m n / (m + n)))``, ``ks_2samp``'s asymptotic rule.
      Missing values are left out of the test, as ``nan_policy='omit'`` does;
    - categorical codes: counts per code → the χ² test of homogeneity;
    - PSI (:func:`psi`): counts per reference-decile bin (numeric; missing values a bin of
      their own) or per code.

    Counts are integers, so tallies of disjoint rows :meth:`merge` exactly in any order.
    """

    needs_rows = True

    def __init__(self, reference: np.ndarray, categorical: np.ndarray, psi_bins: int = 10) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        ref = ref.reshape(len(ref), -1)
        self.reference = ref
        self.categorical = np.asarray(categorical, dtype=bool).reshape(-1)
        self.psi_bins = psi_bins
        d = ref.shape[1]
        self.total = 0
        self.n = np.zeros(d, dtype=np.int64)  # non-missing current rows per feature
        self.missing = np.zeros(d, dtype=np.int64)
        self.values: list[np.ndarray] = []
        self.equal: list[np.ndarray] = []  # (L,) current rows equal to v_i
        self.between: list[np.ndarray] = []  # (L + 1,) current rows strictly below v_0, between v_{i-1} and v_i, above v_{L-1}
        self.edges: list[np.ndarray] = []
        self.psi_counts: list[np.ndarray] = []
        self.codes: list[dict[float, int]] = [{} for _ in range(d)]
        for j in range(d):
            present = ref[:, j][~np.isnan(ref[:, j])]
            v = np.unique(present)
            self.values.append(v)
            self.equal.append(np.zeros(v.size, dtype=np.int64))
            self.between.append(np.zeros(v.size + 1, dtype=np.int64))
            edges = np.unique(np.quantile(present, np.linspace(0, 1, psi_bins + 1)[1:-1])) if present.size \
                else np.zeros(0)
            self.edges.append(edges)
            self.psi_counts.append(np.zeros(edges.size + 1, dtype=np.int64))

    def add(self, chunk: Any) -> None:
        """Add one :class:`~audit_engine.context.Chunk` (its rows in feature space)."""
        self.update(chunk.rows)

    def update(self, rows: np.ndarray) -> None:
        """Add current rows ``(m, *row_shape)``."""
        cur = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        self.total += len(cur)
        for j in range(cur.shape[1]):
            col = cur[:, j]
            if self.categorical[j]:
                values, counts = np.unique(col, return_counts=True)
                book = self.codes[j]
                for v, c in zip(values.tolist(), counts.tolist(), strict=True):
                    book[v] = book.get(v, 0) + c
                continue
            holes = np.isnan(col)
            kept = col[~holes]
            self.missing[j] += int(holes.sum())
            self.n[j] += kept.size
            self.psi_counts[j] += np.bincount(np.searchsorted(self.edges[j], kept, side="right"),
                                              minlength=self.edges[j].size + 1)
            v = self.values[j]
            below = np.searchsorted(v, kept, side="left")
            at = np.searchsorted(v, kept, side="right") > below
            self.equal[j] += np.bincount(below[at], minlength=v.size)
            self.between[j] += np.bincount(below[~at], minlength=v.size + 1)

    def merge(self, other: ShiftTally) -> ShiftTally:
        """Add the counts of other current rows (same reference); returns ``self``."""
        self.total += other.total
        self.n = self.n + other.n
        self.missing = self.missing + other.missing
        for j in range(len(self.values)):
            self.equal[j] = self.equal[j] + other.equal[j]
            self.between[j] = self.between[j] + other.between[j]
            self.psi_counts[j] = self.psi_counts[j] + other.psi_counts[j]
            for code, count in other.codes[j].items():
                self.codes[j][code] = self.codes[j].get(code, 0) + count
        return self

    def results(self, feature_names: Sequence[str], *, alpha: float = 0.05) -> list[FeatureShift]:
        """One :class:`FeatureShift` per feature, in feature order (p-values BH-adjusted)."""
        ref = self.reference
        d = ref.shape[1]
        names = list(feature_names)
        if len(names) != d:
            raise SchemaMismatchError(f"Got {len(names)} feature names for {d} features.")
        if ref.shape[0] < 2 or self.total < 2:
            raise InvalidValueError(
                f"Shift tests need at least 2 rows in each dataset; got {ref.shape[0]} reference and {self.total} "
                "current rows."
            )
        statistic = np.zeros(d)
        p = np.ones(d)
        psis = np.zeros(d)
        tests = []
        for j in range(d):
            col = ref[:, j]
            if self.categorical[j]:
                tests.append("chi2")
                ref_codes, ref_counts = np.unique(col, return_counts=True)
                ref_book = dict(zip(ref_codes.tolist(), ref_counts.tolist(), strict=True))
                codes = sorted(set(ref_book) | set(self.codes[j]))
                r = np.array([ref_book.get(c, 0) for c in codes], dtype=np.float64)
                c = np.array([self.codes[j].get(c, 0) for c in codes], dtype=np.float64)
                if len(codes) >= 2:
                    chi = stats.chi2_contingency(np.stack([r, c]), correction=False)
                    statistic[j], p[j] = float(chi.statistic), float(chi.pvalue)
                psis[j] = _psi_from_shares(r / col.size, c / self.total)
                continue
            tests.append("ks")
            present = np.sort(col[~np.isnan(col)])
            statistic[j], p[j] = self._ks(j, present)
            r = np.bincount(np.searchsorted(self.edges[j], present, side="right"), minlength=self.edges[j].size + 1)
            ref_missing, cur_missing = col.size - present.size, int(self.missing[j])
            rp, cp = r / col.size, self.psi_counts[j] / self.total
            if ref_missing or cur_missing:
                rp, cp = np.append(rp, ref_missing / col.size), np.append(cp, cur_missing / self.total)
            psis[j] = _psi_from_shares(rp, cp)
        p = np.where(np.isfinite(p), p, 1.0)
        adjusted = benjamini_hochberg(p)
        return [FeatureShift(names[j], tests[j], float(statistic[j]), float(p[j]), float(adjusted[j]), float(psis[j]),
                             bool(adjusted[j] < alpha)) for j in range(d)]

    def _ks(self, j: int, present: np.ndarray) -> tuple[float, float]:
        """KS statistic and two-sided p-value of feature ``j`` (``present``: its sorted reference values)."""
        v, equal, between = self.values[j], self.equal[j], self.between[j]
        n1, n2 = present.size, int(self.n[j])
        if n1 == 0 or n2 == 0:
            return float("nan"), float("nan")
        fr = np.searchsorted(present, v, side="right") / n1  # reference ECDF at v_i
        below = np.cumsum(between[: v.size]) + np.cumsum(equal) - equal  # current rows < v_i
        at = below + equal  # current rows <= v_i
        before = np.r_[0.0, fr[:-1]]  # reference ECDF just below v_i
        d = float(np.max(np.r_[np.abs(fr - at / n2), np.abs(before - below / n2)]))
        if max(n1, n2) <= _MAX_EXACT:
            return d, float(stats.ks_2samp(present, self._stand_in(j), method="auto").pvalue)
        m, n = sorted([float(n1), float(n2)], reverse=True)
        return d, float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))

    def _stand_in(self, j: int) -> np.ndarray:
        """A current sample with feature ``j``'s counts: v_i for rows equal to it, one value
        inside each gap between reference values for the rows there (same merged order)."""
        v = self.values[j]
        inner = (v[:-1] + v[1:]) / 2 if v.size > 1 else np.zeros(0)
        gaps = np.r_[v[0] - 1.0, inner, v[-1] + 1.0]
        return np.r_[np.repeat(v, self.equal[j]), np.repeat(gaps, self.between[j])]


_MAX_EXACT = 10_000  # ks_2samp's method="auto": exact up to this many rows per side


def _psi_from_shares(r: np.ndarray, c: np.ndarray) -> float:
    r = np.maximum(r, _PSI_FLOOR)
    c = np.maximum(c, _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))
