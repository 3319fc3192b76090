"""Impact ratios, the four-fifths rule and the NYC Local Law 144 view.

The impact ratio of a group is its selection rate divided by the selection rate of the
most-selected group (1 for that group; lower is worse). The four-fifths rule of the US
Uniform Guidelines on Employee Selection Procedures (29 CFR 1607.4(D)) flags adverse
impact when a group's ratio is below 0.8.

NYC Local Law 144 (bias audits of automated employment decision tools; DCWP rules,
6 RCNY §5-301) reports, for sex, race/ethnicity and their intersection, each category's
selection rate and impact ratio; a category holding less than 2% of the data may be
excluded from the impact-ratio calculation (and is then shown as excluded), and the
number of rows whose category is unknown is reported. This module applies that view to
every audited attribute and intersection; it uses selection rates (the classification
variant of the rules), not the scoring-rate variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results.fairness import FourFifths, LL144Category, LL144View

__all__ = ["impact_ratios", "impact_ratios_to", "four_fifths", "ll144_view"]


def impact_ratios(selection: np.ndarray) -> np.ndarray:
    """``(r, g)`` selection rates → ``(r, g)`` ratios to the row's most-selected group.

    NaN when the largest selection rate is 0 (no one is selected, so no ratio exists).
    """
    hi = np.where(np.isfinite(selection), selection, -np.inf).max(axis=-1, keepdims=True)
    ok = hi > 0
    return np.where(ok, selection / np.where(ok, hi, 1.0), np.nan)


def impact_ratios_to(selection: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``(r, g)`` selection rates divided by the largest of ``candidates`` ``(r, g)`` (NaN entries skipped).

    ``candidates`` is the selection rate of the groups that may set the reference (e.g.
    groups large enough for a verdict); NaN when that largest rate is 0 or none exists.
    """
    hi = np.where(np.isfinite(candidates), candidates, -np.inf).max(axis=-1, keepdims=True)
    ok = hi > 0
    return np.where(ok, selection / np.where(ok, hi, 1.0), np.nan)


def four_fifths(labels: Sequence[str], ratios: np.ndarray, *, threshold: float = 0.8) -> FourFifths:
    """The four-fifths verdict from point impact ratios ``(g,)``.

    ``passes`` is None when no ratio is defined; ``below`` lists the groups under the threshold.
    """
    ratios = np.asarray(ratios, dtype=float)
    defined = np.isfinite(ratios)
    below = [labels[i] for i in np.flatnonzero(defined & (ratios < threshold))]
    top = [labels[i] for i in np.flatnonzero(defined & (ratios == 1.0))]
    return FourFifths(threshold=threshold, most_selected_group=top[0] if top else None,
                      passes=None if not defined.any() else not below, below=tuple(below))


def ll144_view(
    labels: Sequence[str], n: np.ndarray, selected: np.ndarray, *, unknown: int, min_share: float = 0.02
) -> LL144View:
    """The Local Law 144 table for one attribute or intersection.

    Parameters
    ----------
    labels: the g category labels; n: ``(g,)`` rows per category; selected: ``(g,)``
        rows selected (predicted positive) per category.
    unknown: rows whose category is unknown (missing sensitive value), reported apart.
    min_share: categories holding less than this share of the rows with a known
        category are flagged and excluded from the impact ratio.
    """
    n = np.asarray(n, dtype=float)
    selected = np.asarray(selected, dtype=float)
    total = n.sum()
    share = n / total if total > 0 else np.full_like(n, np.nan)
    rate = np.divide(selected, n, out=np.full_like(n, np.nan), where=n > 0)
    included = share >= min_share
    best = np.max(np.where(included, rate, -np.inf)) if included.any() else -np.inf
    categories = {}
    for i, label in enumerate(labels):
        ratio = rate[i] / best if included[i] and best > 0 else None
        categories[label] = LL144Category(n=int(round(n[i])), share=float(share[i]), selection_rate=float(rate[i]),
                                          impact_ratio=None if ratio is None else float(ratio),
                                          excluded=bool(not included[i]))
    most = [labels[i] for i in np.flatnonzero(included & (rate == best))] if best > 0 else []
    return LL144View(min_share=min_share, unknown=int(unknown), most_selected_group=most[0] if most else None,
                     excluded=tuple(labels[i] for i in np.flatnonzero(~included)), categories=categories)
