"""Matplotlib charts of results, for notebooks: ``Attribution.plot()`` and ``FairnessResult.plot()``.

Each function draws on ``ax`` (a new figure when None) and returns the Axes, so a caller can
restyle or save it. The bars are the record's numbers, nothing recomputed: the tests read
them back from the Axes and compare them with ``to_frame()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # the result types call these from their plot(): named here for type checkers only
    from ..explain.attribution import Attribution
    from ..results.fairness import FairnessResult
from ..suggest import unknown_key

__all__ = ["plot_attribution", "plot_fairness"]


def plot_attribution(attr: Attribution, *, row: int | None = None, top: int | None = 10, ax: Any = None) -> Any:
    """Horizontal bars of attributions, largest magnitude on top.

    ``row``: position of an explained row (``0 <= row < attr.n_rows``): its values, with the
    confidence interval as error bars; None (default): the mean |attribution| per feature over
    the explained rows (an importance, no error bars) — or the only row, with its interval,
    when one row (or permutation importance) was explained. ``top``: how many features (None:
    all). Positive = pushes the explained score up.
    """
    flat = attr.flat()
    names = attr.feature_names if len(attr.feature_names) == flat.shape[1] else [str(i) for i in range(flat.shape[1])]
    if row is None and flat.shape[0] == 1:
        row = 0
    if row is None:
        bars, low, high = np.nanmean(np.abs(flat), axis=0), None, None
        title = f"{attr.method}: mean |attribution| over {flat.shape[0]} rows"
    else:
        if not 0 <= row < flat.shape[0]:
            raise ConfigError(f"The 'row' argument of plot must be a position in 0..{flat.shape[0] - 1}; got {row}.")
        bars = flat[row]
        low, high = attr.ci_low.reshape(flat.shape)[row], attr.ci_high.reshape(flat.shape)[row]
        label = int(np.asarray(attr.rows).ravel()[row]) if np.asarray(attr.rows).size > row else row
        title = f"{attr.method}: row {label}" if label >= 0 else f"{attr.method}"
        cls = _explained_class(attr, row)
        if cls is not None:
            title += f" (class {cls})"
    order = np.argsort(-np.abs(np.nan_to_num(bars)), kind="stable")[: (top or len(bars))][::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(order) + 1.2))
    y = np.arange(len(order))
    err = None
    if low is not None and high is not None:
        err = np.vstack([bars[order] - low[order], high[order] - bars[order]])
        err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
    ax.barh(y, bars[order], xerr=err, color=["#cf222e" if v < 0 else "#0969da" for v in bars[order]],
            error_kw={"ecolor": "#57606a", "capsize": 2})
    ax.set_yticks(y, [names[j] for j in order])
    ax.axvline(0, color="#57606a", linewidth=0.8)
    ax.set_title(title)
    ax.set_xlabel("attribution" if row is not None else "mean |attribution|")
    return ax


def _explained_class(attr: Attribution, row: int) -> Any:
    targets = np.asarray(attr.targets).ravel()
    if targets.size <= row or targets[row] < 0:
        return None
    classes = getattr(attr, "classes", None)
    t = int(targets[row])
    return classes[t] if classes is not None and t < len(classes) else t


def plot_fairness(fairness: FairnessResult, view: str | None = None, *, rate: str = "selection_rate",
                  ax: Any = None) -> Any:
    """One bar per group of ``view`` (default: the first view) for ``rate`` (``selection_rate``,
    ``tpr``, ``fpr``, ...), with the rate's confidence interval as error bars and the reference
    group's rate as a dashed line. Groups in the order of ``fairness[view].by_group``."""
    if not len(fairness):
        raise ConfigError("This fairness result has no views to plot; the audit ran no fairness view.")
    view = next(iter(fairness)) if view is None else view
    entry = fairness[view]
    frame = entry.by_group
    if rate not in frame.columns:
        raise unknown_key(rate, [c for c in frame.columns if c != "n" and not c.endswith(("_ci_low", "_ci_high"))],
                          f"the rates of fairness[{view!r}]")
    values = frame[rate].to_numpy(dtype=float)
    low = frame[f"{rate}_ci_low"].to_numpy(dtype=float)
    high = frame[f"{rate}_ci_high"].to_numpy(dtype=float)
    err = np.vstack([values - low, high - values])
    err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(values) + 1.2))
    y = np.arange(len(values))
    ax.barh(y, values, xerr=err, color="#0969da", error_kw={"ecolor": "#57606a", "capsize": 2})
    ax.set_yticks(y, [str(g) for g in frame.index])
    ref = entry.reference_group
    if ref in frame.index and math.isfinite(float(frame.loc[ref, rate])):
        ax.axvline(float(frame.loc[ref, rate]), color="#24292f", linestyle="--", linewidth=0.9, zorder=3,
                   label=f"reference: {ref}")
        ax.legend(loc="lower right", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(rate.replace("_", " "))
    ax.set_title(f"{rate.replace('_', ' ')} by {view}")
    return ax
