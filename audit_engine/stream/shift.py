"""Per-feature shift tests against an in-memory reference, from counts taken while streaming.

The streamed counterpart of :func:`audit_engine.ood.shift.shift_tests`, with every row of
the audited data instead of a sample:

- numeric features: the two-sample Kolmogorov–Smirnov statistic is exact from two
  counts per distinct reference value v_i — current rows ``<= v_i`` and ``< v_i`` —
  because between two reference values the reference CDF is constant and the current CDF
  monotone, so the largest gap is at an end of the interval. The p-value is scipy's
  (``ks_2samp`` ``method='auto'``: exact for at most 10000 rows per side, else Smirnov's
  asymptotic ``kstwo``); missing values are left out, as ``nan_policy='omit'`` does;
- categorical codes: counts per code → the same χ² test of homogeneity;
- PSI: counts per reference-decile bin (numeric) or per code.
Counts are integers, so they merge exactly in any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..ood.shift import _PSI_FLOOR, FeatureShift, benjamini_hochberg

__all__ = ["ShiftTally"]

_MAX_EXACT = 10_000  # scipy's MAX_AUTO_N


def _ks_p_value(d: float, n1: int, n2: int) -> float:
    if max(n1, n2) <= _MAX_EXACT:
        try:
            from scipy.stats._stats_py import _attempt_exact_2kssamp

            import math

            ok, _, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if ok:
                return float(np.clip(prob, 0, 1))
        except ImportError:  # pragma: no cover - a scipy without it: the asymptotic formula below
            pass
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.distributions.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


@dataclass
class ShiftTally:
    """Counts of the streamed rows against ``reference`` (m, d) in feature space."""

    reference: np.ndarray
    categorical: np.ndarray
    psi_bins: int = 10
    n: np.ndarray = field(init=False)  # (d,) non-missing current rows per feature
    total: int = 0

    def __post_init__(self) -> None:
        ref = np.asarray(self.reference, dtype=np.float64).reshape(len(self.reference), -1)
        self.reference = ref
        d = ref.shape[1]
        self.categorical = np.asarray(self.categorical, dtype=bool).reshape(-1)
        self.n = np.zeros(d, dtype=np.int64)
        self.values: list[np.ndarray] = []
        self.le: list[np.ndarray] = []
        self.lt: list[np.ndarray] = []
        self.edges: list[np.ndarray] = []
        self.psi_counts: list[np.ndarray] = []
        self.codes: list[dict[float, int]] = [{} for _ in range(d)]
        for j in range(d):
            col = ref[:, j]
            kept = col[~np.isnan(col)]
            self.values.append(np.unique(kept))
            self.le.append(np.zeros(self.values[j].size + 1, dtype=np.int64))
            self.lt.append(np.zeros(self.values[j].size + 1, dtype=np.int64))
            edges = np.unique(np.quantile(col, np.linspace(0, 1, self.psi_bins + 1)[1:-1]))
            self.edges.append(edges)
            self.psi_counts.append(np.zeros(edges.size + 1, dtype=np.int64))

    def update(self, rows: np.ndarray) -> None:
        """Add a chunk of current rows (m, *row_shape)."""
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
            self.psi_counts[j] += np.bincount(np.searchsorted(self.edges[j], col, side="right"),
                                              minlength=self.edges[j].size + 1)
            kept = col[~np.isnan(col)]
            self.n[j] += kept.size
            v = self.values[j]
            self.le[j] += np.bincount(np.searchsorted(v, kept, side="left"), minlength=v.size + 1)
            self.lt[j] += np.bincount(np.searchsorted(v, kept, side="right"), minlength=v.size + 1)

    def results(self, feature_names: Sequence[str], *, alpha: float = 0.05) -> list[FeatureShift]:
        ref = self.reference
        d = ref.shape[1]
        statistic = np.zeros(d)
        p = np.ones(d)
        psis = np.zeros(d)
        tests = []
        for j in range(d):
            col = ref[:, j]
            if self.categorical[j]:
                tests.append("chi2")
                ref_codes, ref_counts = np.unique(col, return_counts=True)
                codes = np.union1d(ref_codes, np.array(sorted(self.codes[j]), dtype=np.float64))
                r = np.array([dict(zip(ref_codes.tolist(), ref_counts.tolist(), strict=True)).get(c, 0) for c in codes.tolist()])
                c = np.array([self.codes[j].get(c, 0) for c in codes.tolist()])
                if codes.size >= 2:
                    chi = stats.chi2_contingency(np.stack([r, c]), correction=False)
                    statistic[j], p[j] = float(chi.statistic), float(chi.pvalue)
                rp, cp = r / col.size, c / self.total
            else:
                tests.append("ks")
                kept = col[~np.isnan(col)]
                v = self.values[j]
                n1, n2 = kept.size, int(self.n[j])
                if n1 and n2:
                    fr = np.searchsorted(np.sort(kept), v, side="right") / n1  # reference CDF at v_i
                    le = np.cumsum(self.le[j])[: v.size] / n2  # current CDF at v_i
                    lt = np.cumsum(self.lt[j])[: v.size] / n2  # current CDF just below v_i
                    before = np.r_[0.0, fr[:-1]]
                    gaps = np.r_[np.abs(fr - le), np.abs(before - lt), 1.0 - le[-1:]]
                    statistic[j] = float(gaps.max())
                    p[j] = _ks_p_value(statistic[j], n1, n2)
                rp = np.bincount(np.searchsorted(self.edges[j], col, side="right"), minlength=self.edges[j].size + 1) / col.size
                cp = self.psi_counts[j] / self.total
            rp, cp = np.maximum(rp, _PSI_FLOOR), np.maximum(cp, _PSI_FLOOR)
            psis[j] = float(np.sum((cp - rp) * np.log(cp / rp)))
        p = np.where(np.isfinite(p), p, 1.0)
        adjusted = benjamini_hochberg(p)
        names = list(feature_names)
        return [FeatureShift(names[j], tests[j], float(statistic[j]), float(p[j]), float(adjusted[j]), float(psis[j]),
                             bool(adjusted[j] < alpha)) for j in range(d)]
