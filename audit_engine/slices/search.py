"""Weak-slice discovery: conjunctions of predicates where the model does worse than on the rest.

A *predicate* is one condition on one column: a quantile bin of a number (``age in [25, 31)``),
a category (``c_charge_degree = F``) or missingness (``income is missing``). A *slice* is a
conjunction of up to ``max_level`` predicates on distinct columns. The search is SliceLine's
lattice (Sagadeeva & Boehm 2021, "SliceLine: Fast, Linear-Algebra-based Slice Finding for ML
Model Debugging"): level by level, slices of level L+1 extend those of level L, and a slice
smaller than ``min_size`` rows is pruned with all its children (a child is never larger than
its parent). Sizes and loss sums of a whole level come from one matrix product.

Statistics, unlike the fixed thresholds of other slice finders:

- every slice the lattice reaches (size ≥ ``min_size``; pruning uses sizes only, never the
  losses, so the family is fixed before any test is seen) is *tested*: is its mean loss above
  the rest's? For a 0/1 loss (errors) the exact one-sided conditional test (hypergeometric:
  the slice's error count given the total, Fisher's exact test); for a continuous loss
  Welch's one-sided t test;
- the p-values of the whole family are adjusted by Benjamini & Hochberg (1995), so the
  reported slices control the false-discovery rate at ``fdr`` (``p_adjusted``);
- each reported slice's effect (slice mean loss − rest mean loss) has a confidence interval
  adjusted for the selection, the false-coverage-rate intervals of Benjamini & Yekutieli
  (2005): level ``1 − R·fdr/m`` for R reported among m tested. For errors, Newcombe's
  (1998, method 10) hybrid score interval for a difference of proportions; for continuous
  losses Welch's interval.

Reported slices are ranked by SliceLine's score ``α (ē_S / ē − 1) − (1 − α) (n / |S| − 1)``
(α = 0.95), which prefers large slices with large errors. Higher loss is worse.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _st

from ..stats import newcombe_difference

__all__ = ["Predicates", "Slice", "SliceSearch", "benjamini_hochberg", "newcombe_difference", "predicates", "search"]

ALPHA_SCORE = 0.95
_BLOCK = 256  # parents whose row masks are held at once: 256 × n bools


@dataclass(frozen=True)
class Predicates:
    """Conditions on single columns: ``masks`` (n, p) bool, ``names`` (p,), ``columns`` (p,) column index."""

    masks: np.ndarray
    names: tuple[str, ...]
    columns: np.ndarray
    column_names: tuple[str, ...]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _edge(x: float, rounding: str) -> float:
    """``x`` at 4 significant digits (``decimal`` rounding mode), as the float its text parses to, so
    that a predicate's name (:func:`_fmt`) selects exactly the rows its mask holds."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    d = Decimal(repr(float(x)))
    return float(d.quantize(Decimal(1).scaleb(d.adjusted() - 3), rounding=rounding))


def predicates(frame: pd.DataFrame, *, bins: int = 4, max_categories: int = 10) -> Predicates:
    """The predicates of every column of ``frame``.

    Numbers with more than ``max_categories`` distinct values get ``bins`` quantile bins (ties
    merged); other columns get one predicate per category, the ``max_categories`` most frequent
    (the rest pooled as ``other``); a column with missing values also gets ``is missing``.
    """
    masks: list[np.ndarray] = []
    names: list[str] = []
    cols: list[int] = []
    for j, name in enumerate(frame.columns):
        col = frame[name]
        missing = col.isna().to_numpy()
        present = col[~missing]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and present.nunique() > max_categories:
            values = col.to_numpy(dtype=np.float64)
            quantiles = np.quantile(present.to_numpy(dtype=np.float64), np.linspace(0, 1, bins + 1))
            # Edges at 4 significant digits, the outer ones rounded outwards: the names are the slices.
            edges = np.unique([_edge(quantiles[0], ROUND_FLOOR),
                               *(_edge(q, ROUND_HALF_EVEN) for q in quantiles[1:-1]),
                               _edge(quantiles[-1], ROUND_CEILING)])
            for k in range(len(edges) - 1):
                lo, hi = edges[k], edges[k + 1]
                last = k == len(edges) - 2
                m = (values >= lo) & ((values <= hi) if last else (values < hi))
                masks.append(m & ~missing)
                names.append(f"{name} in [{_fmt(lo)}, {_fmt(hi)}{']' if last else ')'}")
                cols.append(j)
        else:
            labels = present.astype(str)
            counts = labels.value_counts()
            top = list(counts.index[:max_categories])
            text = col.astype(str).to_numpy()
            for cat in top:
                masks.append((text == cat) & ~missing)
                names.append(f"{name} = {cat}")
                cols.append(j)
            if len(counts) > max_categories:
                masks.append(~np.isin(text, top) & ~missing)
                names.append(f"{name} = other ({len(counts) - max_categories} categories)")
                cols.append(j)
        if missing.any():
            masks.append(missing)
            names.append(f"{name} is missing")
            cols.append(j)
    n = len(frame)
    matrix = np.stack(masks, axis=1) if masks else np.zeros((n, 0), dtype=bool)
    return Predicates(matrix, tuple(names), np.asarray(cols, dtype=np.intp), tuple(str(c) for c in frame.columns))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (step-up; Benjamini & Hochberg 1995): ``min_{j ≥ i} m p_(j) / j``, capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass(frozen=True)
class Slice:
    """One reported slice: its predicates, size, mean loss inside and outside, effect with its interval."""

    predicates: tuple[str, ...]
    size: int
    loss: float
    rest_loss: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"predicates": list(self.predicates), "size": self.size, "loss": self.loss,
                "rest_loss": self.rest_loss, "effect": {"value": self.effect, "ci_low": self.ci_low,
                                                        "ci_high": self.ci_high},
                "p_value": self.p_value, "p_adjusted": self.p_adjusted, "score": self.score}


@dataclass(frozen=True)
class SliceSearch:
    """What the search did and found.

    ``tested``: slices tested (the family BH adjusts over), per level in ``tested_per_level``;
    ``discovered``: how many had ``p_adjusted ≤ fdr``; ``slices``: the top ``top_k`` of them by
    score; ``largest``: the discovered slice of largest effect, ranked or not (None when none); ``interval_level``: the FCR-adjusted confidence of their intervals; ``truncated``:
    the level at which the candidate cap stopped the search (None when it did not).
    """

    loss_kind: str
    n: int
    mean_loss: float
    min_size: int
    max_level: int
    fdr: float
    tested: int
    tested_per_level: tuple[int, ...]
    discovered: int
    interval_level: float
    slices: tuple[Slice, ...]
    truncated: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    largest: Slice | None = None

    @property
    def max_effect(self) -> float:
        """The largest effect among discovered slices (0 when none): the policy's ``max_slice_error_gap``."""
        return max((s.effect for s in self.slices), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss_kind, "n": self.n, "mean_loss": self.mean_loss, "min_size": self.min_size,
                "max_level": self.max_level, "fdr": self.fdr, "tested": self.tested,
                "tested_per_level": list(self.tested_per_level), "discovered": self.discovered,
                "interval_level": self.interval_level, "max_slice_error_gap": self.max_effect,
                "truncated_at_level": self.truncated, "notes": list(self.notes),
                "slices": [s.to_dict() for s in self.slices]}


def _p_values(kind: str, n_s: np.ndarray, s1: np.ndarray, s2: np.ndarray, n: int, t1: float, t2: float) -> np.ndarray:
    if kind == "binary":  # P(X >= k), X ~ Hypergeom(N = n, K = errors, draws = n_s): Fisher's one-sided exact test
        return _st.hypergeom.sf(np.round(s1) - 1, n, round(t1), n_s)
    n_r = n - n_s
    m_s, m_r = s1 / n_s, (t1 - s1) / n_r
    v_s = np.maximum(s2 - n_s * m_s**2, 0.0) / np.maximum(n_s - 1, 1)
    v_r = np.maximum((t2 - s2) - n_r * m_r**2, 0.0) / np.maximum(n_r - 1, 1)
    se2 = v_s / n_s + v_r / n_r
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (m_s - m_r) / np.sqrt(se2)
        df = se2**2 / ((v_s / n_s) ** 2 / np.maximum(n_s - 1, 1) + (v_r / n_r) ** 2 / np.maximum(n_r - 1, 1))
    p = _st.t.sf(t, np.where(np.isfinite(df), df, 1.0))
    return np.where(np.isfinite(p), p, np.where(m_s > m_r, 0.0, 1.0))


def search(preds: Predicates, loss: np.ndarray, *, max_level: int = 3, min_size: int | None = None,
           fdr: float = 0.05, top_k: int = 10, max_candidates: int = 200_000) -> SliceSearch:
    """Find the slices of ``preds`` whose mean ``loss`` (n,) is above the rest's (see the module docstring).

    ``loss`` is per row, higher = worse: 0/1 errors (exact tests) or any continuous loss (Welch).
    ``min_size`` defaults to max(30, 1% of the rows).
    """
    loss = np.asarray(loss, dtype=np.float64)
    n = loss.size
    if preds.masks.shape[0] != n:
        raise ValueError(f"predicates cover {preds.masks.shape[0]} rows, the loss {n}")
    kind = "binary" if np.isin(loss, (0.0, 1.0)).all() else "continuous"
    min_size = int(min_size if min_size is not None else max(30, math.ceil(0.01 * n)))
    t1, t2 = float(loss.sum()), float((loss**2).sum())
    mean = t1 / n if n else float("nan")
    P = preds.masks.astype(np.float32)
    L = loss
    # every tested slice: a tuple of predicate indices (increasing), its size and loss sums
    members: list[tuple[int, ...]] = []
    sizes: list[np.ndarray] = []
    sums1: list[np.ndarray] = []
    sums2: list[np.ndarray] = []
    per_level: list[int] = []
    truncated = None
    notes: list[str] = []
    if n < 2 * min_size or preds.masks.shape[1] == 0:
        notes.append(f"too few rows ({n}) for slices of at least {min_size} rows and a rest to compare with")
        return SliceSearch(kind, n, mean, min_size, max_level, fdr, 0, (), 0, 1 - fdr, (), None, tuple(notes))
    size1 = preds.masks.sum(axis=0)
    keep = np.flatnonzero((size1 >= min_size) & (size1 <= n - min_size))
    level = [(int(i),) for i in keep]
    parents = keep[:, None]  # (s, depth) predicate indices of the current level
    members += level
    sizes.append(size1[keep].astype(np.float64))
    sums1.append(L @ preds.masks[:, keep])
    sums2.append((L**2) @ preds.masks[:, keep])
    per_level.append(len(level))
    for depth in range(2, max_level + 1):
        if not level:
            break
        # Predicates of one column are disjoint, so a conjunction of two of them is empty and is
        # pruned by size like any small slice; children extend by a later predicate only.
        found_rows, found_cand, found_n, found_1, found_2 = [], [], [], [], []
        for start in range(0, len(parents), _BLOCK):  # bounded memory: a block of parents at a time
            block = parents[start:start + _BLOCK]
            masks = np.logical_and.reduce([preds.masks[:, block[:, k]] for k in range(block.shape[1])]).T
            mf = masks.astype(np.float32)
            counts = np.rint(mf @ P).astype(np.int64)  # (b, p) sizes of every extension
            later = np.arange(P.shape[1])[None, :] > block[:, -1:]
            r, c = np.nonzero((counts >= min_size) & (counts <= n - min_size) & later)
            if r.size:
                found_rows.append(r + start)
                found_cand.append(c)
                found_n.append(counts[r, c])
                found_1.append(((masks * L) @ preds.masks.astype(np.float64))[r, c])
                found_2.append(((masks * L**2) @ preds.masks.astype(np.float64))[r, c])
        if not found_rows:
            break
        rows, cand = np.concatenate(found_rows), np.concatenate(found_cand)
        if len(members) + rows.size > max_candidates:
            truncated = depth
            notes.append(f"the search stopped before level {depth}: it would test more than {max_candidates:,} slices; "
                         "raise min_size or lower max_level")
            break
        parents = np.concatenate([parents[rows], cand[:, None]], axis=1)
        level = [tuple(int(i) for i in row) for row in parents]
        members += level
        sizes.append(np.concatenate(found_n).astype(np.float64))
        sums1.append(np.concatenate(found_1))
        sums2.append(np.concatenate(found_2))
        per_level.append(len(level))
    n_s = np.concatenate(sizes)
    s1 = np.concatenate(sums1)
    s2 = np.concatenate(sums2)
    m = n_s.size
    p = _p_values(kind, n_s, s1, s2, n, t1, t2) if m else np.zeros(0)
    p_adj = benjamini_hochberg(p)
    found = np.flatnonzero(p_adj <= fdr)
    level_fcr = 1 - (found.size * fdr / m) if m else 1 - fdr  # Benjamini & Yekutieli (2005)
    level_fcr = float(min(max(level_fcr, 1 - fdr), 1 - 1e-12))
    loss_s = s1 / n_s
    rest = (t1 - s1) / (n - n_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = ALPHA_SCORE * (loss_s / mean - 1) - (1 - ALPHA_SCORE) * (n / n_s - 1) if mean > 0 else loss_s * 0
    order = found[np.argsort(-score[found], kind="mergesort")][:top_k]
    n_shown = order.size
    if found.size:  # the discovered slice of largest effect joins the reported ones for its interval
        effect_found = loss_s[found] - rest[found]
        order = np.r_[order, found[int(np.argmax(effect_found))]]
    if kind == "binary":
        low, high = newcombe_difference(s1[order], n_s[order], t1 - s1[order], n - n_s[order], level_fcr)
    else:
        n_r = n - n_s[order]
        v_s = np.maximum(s2[order] - n_s[order] * loss_s[order] ** 2, 0) / np.maximum(n_s[order] - 1, 1)
        v_r = np.maximum((t2 - s2[order]) - n_r * rest[order] ** 2, 0) / np.maximum(n_r - 1, 1)
        se = np.sqrt(v_s / n_s[order] + v_r / n_r)
        half = _st.norm.ppf(0.5 + level_fcr / 2) * se
        low, high = loss_s[order] - rest[order] - half, loss_s[order] - rest[order] + half
    every = tuple(
        Slice(tuple(preds.names[i] for i in members[j]), int(n_s[j]), float(loss_s[j]), float(rest[j]),
              float(loss_s[j] - rest[j]), float(lo), float(hi), float(p[j]), float(p_adj[j]), float(score[j]))
        for j, lo, hi in zip(order, low, high))
    slices, largest = every[:n_shown], (every[-1] if found.size else None)
    return SliceSearch(kind, n, mean, min_size, max_level, fdr, m, tuple(per_level), int(found.size), level_fcr,
                       slices, truncated, tuple(notes), largest)
