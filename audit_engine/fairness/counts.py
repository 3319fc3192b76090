"""Additive per-group counts: the one sufficient statistic of every group-fairness metric.

Every group metric of a classifier (selection rate, TPR, FPR, precision, accuracy, the
gaps between groups, impact ratios, calibration by score bin, the threshold sweep) is a
function of counts in *cells*: one cell per combination of

    (value of every sensitive attribute, true class, predicted class, score bin).

Counts are additive, so they are computed per chunk of rows as the Evaluator scores the
data and merged (:meth:`GroupCounts.merge`), locally or across workers; rows are never
kept. A missing sensitive value (None / NaN) is its own "unknown" level, so the rows are
counted, reported as unknown, and left out of that attribute's groups.

Regression uses :class:`GroupSums` (per-group sums of prediction, target and error and
their squares), additive in the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, InvalidValueError

__all__ = ["GroupCounts", "GroupSums", "group_counts", "group_sums", "score_bin_edges"]


def score_bin_edges(n_bins: int) -> np.ndarray:
    """Equal-width bin edges on [0, 1]: ``(n_bins + 1,)``; edge k is exactly ``np.linspace``'s."""
    return np.linspace(0.0, 1.0, int(n_bins) + 1)


# ---------------------------------------------------------------------------- groups
def _attribute_columns(groups: Any) -> list[tuple[str, Any]]:
    """Normalise ``groups`` to [(attribute name, values)]."""
    if isinstance(groups, pd.DataFrame):
        return [(str(c), groups[c]) for c in groups.columns]
    if isinstance(groups, Mapping):
        return [(str(k), v) for k, v in groups.items()]
    if isinstance(groups, pd.Series):
        return [(str(groups.name) if groups.name is not None else "group", groups)]
    arr = np.asarray(groups, dtype=object) if not isinstance(groups, np.ndarray) else groups
    if arr.ndim == 1:
        return [("group", arr)]
    if arr.ndim == 2:
        return [(f"group_{j}", arr[:, j]) for j in range(arr.shape[1])]
    raise DataError(f"Groups must be one column (n,), a table (n, s) or a DataFrame; got an array of shape {arr.shape}.")


def _factorize(values: Any) -> tuple[np.ndarray, list[str]]:
    """Codes (n,) int64 into sorted string levels; missing values get code -1."""
    if isinstance(values, pd.Categorical) or isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(values)
        labels = [str(c) for c in cat.categories]
        order = np.argsort(np.asarray(labels, dtype=object), kind="stable")
        remap = np.empty(len(labels) + 1, dtype=np.int64)
        remap[order] = np.arange(len(labels))
        remap[-1] = -1
        codes = remap[np.asarray(cat.codes, dtype=np.int64)]
        used = np.bincount(codes[codes >= 0], minlength=len(labels)) > 0
        levels = [labels[i] for i in order]
        if not used.all():  # drop unused categories so levels only name groups that exist
            keep = np.flatnonzero(used)
            squeeze = np.full(len(levels) + 1, -1, dtype=np.int64)
            squeeze[keep] = np.arange(len(keep))
            codes = squeeze[codes]
            levels = [levels[i] for i in keep]
        return codes, levels
    series = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
    missing = series.isna().to_numpy()
    as_str = series.astype(object).where(missing, series.map(_label))
    codes, uniques = pd.factorize(as_str, sort=True, use_na_sentinel=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _class_codes(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise DataError(f"{name} must have shape ({n},) like the groups; got {arr.shape}.")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.mod(arr, 1) == 0):
            raise InvalidValueError(
                f"{name} must hold class indices (0, 1, ...) or booleans; got dtype {arr.dtype}. "
                "Map labels to indices first (positive class = 1 for binary)."
            )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise InvalidValueError(f"{name} holds negative class index {int(arr.min())}; class indices start at 0.")
    return arr


# ---------------------------------------------------------------------------- counts
@dataclass(frozen=True)
class GroupCounts:
    """Confusion counts (and score histograms) per combination of sensitive values.

    Attributes
    ----------
    attributes: names of the s sensitive attributes.
    levels: per attribute, its group labels (sorted strings). Axis i of the arrays has
        ``len(levels[i]) + 1`` entries; the last one counts rows whose value is unknown.
    n_classes: K; classes are indices 0..K-1 (binary: 1 is the positive class by default).
    score_bins: B, the number of equal-width bins of the score on [0, 1] (1 without scores).
    has_scores: whether scores were given (binary p(positive)).
    labelled: whether true classes were given (False: only predictions; truth axis is 0).
    counts: float64 ``(L1+1, ..., Ls+1, K_true, K_pred, B)`` weighted row counts.
    rows: int64, same shape: unweighted row counts (the Poisson bootstrap draws on these).
    score_sums: float64, same shape: weighted sums of the score per cell, or None.
    """

    attributes: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    n_classes: int
    score_bins: int
    has_scores: bool
    labelled: bool
    counts: np.ndarray
    rows: np.ndarray
    score_sums: np.ndarray | None

    @property
    def n_rows(self) -> int:
        return int(self.rows.sum())

    @property
    def combo_shape(self) -> tuple[int, ...]:
        return tuple(len(lv) + 1 for lv in self.levels)

    def merge(self, other: GroupCounts) -> GroupCounts:
        """The counts of both sets of rows (levels united; neither input is changed)."""
        if self.attributes != other.attributes:
            raise DataError(
                f"Cannot merge counts over attributes {list(self.attributes)} with counts over {list(other.attributes)}."
            )
        if (self.score_bins, self.has_scores, self.labelled) != (other.score_bins, other.has_scores, other.labelled):
            raise DataError(
                "Cannot merge counts made with different options (score_bins, scores given, target given); "
                "count every chunk with the same options."
            )
        k = max(self.n_classes, other.n_classes)
        levels = tuple(tuple(sorted(set(a) | set(b))) for a, b in zip(self.levels, other.levels, strict=True))
        shape = tuple(len(lv) + 1 for lv in levels) + (k, k, self.score_bins)
        out = {"counts": np.zeros(shape), "rows": np.zeros(shape, dtype=np.int64)}
        if self.has_scores:
            out["score_sums"] = np.zeros(shape)
        for part in (self, other):
            index = []
            for mine, united in zip(part.levels, levels, strict=True):
                pos = {lv: i for i, lv in enumerate(united)}
                index.append(np.array([pos[lv] for lv in mine] + [len(united)], dtype=np.intp))
            index += [np.arange(part.n_classes), np.arange(part.n_classes), np.arange(part.score_bins)]
            where = np.ix_(*index)
            out["counts"][where] += part.counts
            out["rows"][where] += part.rows
            if self.has_scores:
                out["score_sums"][where] += part.score_sums
        return GroupCounts(self.attributes, levels, k, self.score_bins, self.has_scores, self.labelled,
                           out["counts"], out["rows"], out.get("score_sums"))

    def __add__(self, other: GroupCounts) -> GroupCounts:
        return self.merge(other)

    @classmethod
    def merge_all(cls, parts: Sequence[GroupCounts]) -> GroupCounts:
        """Merge many chunk counts (left to right)."""
        if not parts:
            raise DataError("There are no counts to merge; count at least one chunk.")
        total = parts[0]
        for part in parts[1:]:
            total = total.merge(part)
        return total


def group_counts(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    *,
    scores: Any = None,
    weights: Any = None,
    n_classes: int | None = None,
    score_bins: int = 10,
) -> GroupCounts:
    """Count rows per (sensitive values, true class, predicted class, score bin) cell.

    Parameters
    ----------
    y_true: (n,) true class indices (binary: 1 = positive) or booleans; None when the
        data has no target (only selection rates can then be derived).
    y_pred: (n,) predicted class indices or booleans (the decision at the threshold).
    groups: (n,) labels of one attribute, a DataFrame / mapping of s attribute columns,
        or an (n, s) array. Missing values (None / NaN) count as unknown.
    scores: optional (n,) p(positive) in [0, 1] (binary): binned into ``score_bins``
        equal-width bins for calibration, mean score and the threshold sweep.
    weights: optional (n,) non-negative row weights.
    n_classes: K (default: the largest class index seen + 1, at least 2).
    score_bins: number of score bins (used only with ``scores``).

    Returns
    -------
    GroupCounts, additive: counts of two chunks ``merge`` into the counts of both.
    Cost: O(n) with a few ``np.bincount`` passes; memory independent of n.
    """
    columns = _attribute_columns(groups)
    n = len(columns[0][1])
    for name, values in columns:
        if len(values) != n:
            raise DataError(f"The group column {name!r} has {len(values)} values; the first one has {n}.")
    yp = _class_codes(y_pred, "y_pred", n)
    labelled = y_true is not None
    yt = _class_codes(y_true, "y_true", n) if labelled else np.zeros(n, dtype=np.int64)
    k = int(n_classes) if n_classes is not None else max(2, int(max(yt.max(initial=0), yp.max(initial=0))) + 1)
    if max(yt.max(initial=0), yp.max(initial=0)) >= k:
        raise InvalidValueError(f"Class indices must be below n_classes={k}; got {int(max(yt.max(), yp.max()))}.")
    has_scores = scores is not None
    b = int(score_bins) if has_scores else 1
    if has_scores and b < 1:
        raise InvalidValueError(f"score_bins must be at least 1; got {score_bins}.")

    combo = np.zeros(n, dtype=np.int64)
    levels: list[tuple[str, ...]] = []
    for _, values in columns:
        codes, lv = _factorize(values)
        codes = np.where(codes < 0, len(lv), codes)  # unknown is the last level
        combo = combo * (len(lv) + 1) + codes
        levels.append(tuple(lv))
    combo_shape = tuple(len(lv) + 1 for lv in levels)
    cell = (combo * k + yt) * k + yp
    if has_scores:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (n,):
            raise DataError(f"scores must have shape ({n},); got {s.shape}.")
        if not np.all(np.isfinite(s)) or (s.size and (s.min() < 0.0 or s.max() > 1.0)):
            raise InvalidValueError("scores must be probabilities in [0, 1] without NaN; pass p(positive).")
        # searchsorted against the exact edges: bin >= j  <=>  score >= edges[j], so the
        # threshold sweep at an edge equals thresholding the scores themselves.
        bins = np.clip(np.searchsorted(score_bin_edges(b), s, side="right") - 1, 0, b - 1)
        cell = cell * b + bins
    size = int(np.prod(combo_shape)) * k * k * b
    rows = np.bincount(cell, minlength=size).astype(np.int64)
    if weights is None:
        counts = rows.astype(np.float64)
        w = None
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or (w.size and w.min() < 0):
            raise InvalidValueError(f"weights must be ({n},) finite and non-negative.")
        counts = np.bincount(cell, weights=w, minlength=size)
    sums = None
    if has_scores:
        sums = np.bincount(cell, weights=s if w is None else s * w, minlength=size)
    shape = combo_shape + (k, k, b)
    return GroupCounts(
        tuple(name for name, _ in columns), tuple(levels), k, b, has_scores, labelled,
        counts.reshape(shape), rows.reshape(shape), None if sums is None else sums.reshape(shape),
    )


# ---------------------------------------------------------------------------- regression
_SUM_FIELDS = ("n", "pred", "pred2", "target", "error", "error2", "abs_error")


@dataclass(frozen=True)
class GroupSums:
    """Per-group sums for a regressor: ``sums`` float64 ``(L1+1, ..., Ls+1, 7)``.

    The last axis holds n, Σŷ, Σŷ², Σy, Σe, Σe², Σ|e| with e = ŷ − y (Σ|e|² = Σe²).
    Without a target the y / e entries are 0 and ``labelled`` is False.
    """

    attributes: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    labelled: bool
    sums: np.ndarray

    fields = _SUM_FIELDS

    @property
    def n_rows(self) -> int:
        return int(round(self.sums[..., 0].sum()))

    @property
    def combo_shape(self) -> tuple[int, ...]:
        return tuple(len(lv) + 1 for lv in self.levels)

    def merge(self, other: GroupSums) -> GroupSums:
        """The sums of both sets of rows (levels united)."""
        if self.attributes != other.attributes or self.labelled != other.labelled:
            raise DataError("Cannot merge regression sums over different attributes or with and without a target.")
        levels = tuple(tuple(sorted(set(a) | set(b))) for a, b in zip(self.levels, other.levels, strict=True))
        out = np.zeros(tuple(len(lv) + 1 for lv in levels) + (len(_SUM_FIELDS),))
        for part in (self, other):
            index = []
            for mine, united in zip(part.levels, levels, strict=True):
                pos = {lv: i for i, lv in enumerate(united)}
                index.append(np.array([pos[lv] for lv in mine] + [len(united)], dtype=np.intp))
            index.append(np.arange(len(_SUM_FIELDS)))
            out[np.ix_(*index)] += part.sums
        return GroupSums(self.attributes, levels, self.labelled, out)

    def __add__(self, other: GroupSums) -> GroupSums:
        return self.merge(other)


def group_sums(y_true: Any, y_pred: Any, groups: Any) -> GroupSums:
    """Per-group sums of a regressor's predictions and errors (additive over chunks).

    Parameters
    ----------
    y_true: (n,) targets, or None (then only prediction means are available).
    y_pred: (n,) predictions.
    groups: as for :func:`group_counts`.
    """
    columns = _attribute_columns(groups)
    n = len(columns[0][1])
    pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if pred.shape != (n,):
        raise DataError(f"y_pred must have shape ({n},); got {pred.shape}.")
    labelled = y_true is not None
    y = np.asarray(y_true, dtype=np.float64).reshape(-1) if labelled else np.zeros(n)
    err = pred - y if labelled else np.zeros(n)
    combo = np.zeros(n, dtype=np.int64)
    levels = []
    for _, values in columns:
        codes, lv = _factorize(values)
        combo = combo * (len(lv) + 1) + np.where(codes < 0, len(lv), codes)
        levels.append(tuple(lv))
    shape = tuple(len(lv) + 1 for lv in levels)
    size = int(np.prod(shape))
    parts = [np.ones(n), pred, pred**2, y, err, err**2, np.abs(err)]
    sums = np.stack([np.bincount(combo, weights=p, minlength=size) for p in parts], axis=-1)
    return GroupSums(tuple(name for name, _ in columns), tuple(levels), labelled, sums.reshape(shape + (len(parts),)))
