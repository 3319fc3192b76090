"""Static SVG charts drawn with matplotlib, inlined into the report.

Each drawing takes the ``data`` of a :class:`~audit_engine.report.blocks.Chart` (numbers and
labels only, already capped by the view) and returns SVG text with no XML prolog, no
external reference, no script and no embedded raster: text stays text (``svg.fonttype =
"none"``) so labels are searchable and print sharply, and every string from data is
escaped by matplotlib's SVG writer. Labels are also guarded against matplotlib's mathtext
(``$`` is escaped) and shortened for the chart (tables carry the full text).

Output is deterministic: a fixed hash salt and no date in the metadata.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib import rc_context  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["draw", "DRAWINGS"]

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "audit-engine",
    "svg.image_inline": True,
    "font.size": 8,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.prop_cycle": matplotlib.cycler(color=["#1f5fa8", "#c0392b", "#2e8b57", "#b8860b", "#6a3d9a", "#555555",
                                                "#e67e22", "#17becf"]),
}
_MAX_LABEL = 32
_BLUE, _RED, _GREY = "#1f5fa8", "#c0392b", "#777777"


def _label(text: Any) -> str:
    """A chart-safe label: no mathtext, at most ``_MAX_LABEL`` characters."""
    s = str(text)
    if len(s) > _MAX_LABEL:
        s = s[: _MAX_LABEL - 1] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _figure(width: float = 5.0, height: float = 3.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    return fig, ax


def _calibration(ax: Any, data: dict[str, Any]) -> None:
    mp = [_f(v) for v in data["mean_predicted"]]
    obs = [_f(v) for v in data["observed"]]
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8, label="perfect calibration")
    counts = data.get("count") or []
    sizes = [12 + 60 * (c / max(counts)) for c in counts] if counts and max(counts) > 0 and len(counts) == len(mp) else 20
    ax.plot(mp, obs, color=_BLUE, linewidth=1.2)
    ax.scatter(mp, obs, s=sizes, color=_BLUE, zorder=3, label="bins (size: rows)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend(loc="upper left", frameon=False)


def _interval_bars(ax: Any, data: dict[str, Any]) -> None:
    labels = [_label(x) for x in data["labels"]]
    values = [_f(v) for v in data["values"]]
    low = [_f(v) for v in data.get("low", [None] * len(values))]
    high = [_f(v) for v in data.get("high", [None] * len(values))]
    y = list(range(len(values)))[::-1]
    colors = [_BLUE if not (v < 0) else _RED for v in values]
    ax.barh(y, values, color=colors, alpha=0.8, height=0.6)
    err_lo = [v - lo if not math.isnan(lo) else 0.0 for v, lo in zip(values, low, strict=True)]
    err_hi = [hi - v if not math.isnan(hi) else 0.0 for v, hi in zip(values, high, strict=True)]
    if any(err_lo) or any(err_hi):
        ax.errorbar(values, y, xerr=[[max(e, 0.0) for e in err_lo], [max(e, 0.0) for e in err_hi]],
                    fmt="none", ecolor="#222222", elinewidth=1.0, capsize=3)
    ref = data.get("reference")
    if ref is not None:
        ax.axvline(float(ref), color=_GREY, linewidth=0.8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(str(data.get("xlabel", "")))


def _bars(ax: Any, data: dict[str, Any]) -> None:
    labels = [_label(x) for x in data["labels"]]
    values = [_f(v) for v in data["values"]]
    y = list(range(len(values)))[::-1]
    line = data.get("line")
    colors = [_RED if line is not None and v < float(line) else _BLUE for v in values]
    ax.barh(y, values, color=colors, alpha=0.85, height=0.6)
    if line is not None:
        ax.axvline(float(line), color=_RED, linestyle="--", linewidth=1.0)
    ax.set_yticks(y, labels)
    ax.set_xlabel(_label(data.get("xlabel", "")))


def _lines(ax: Any, x: Sequence[float], series: dict[str, Sequence[Any]], xlabel: str, ylabel: str = "") -> None:
    for name, ys in series.items():
        ax.plot(x, [_f(v) for v in ys], linewidth=1.4, label=_label(name))
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=7)


def _sweep(ax: Any, data: dict[str, Any]) -> None:
    _lines(ax, [float(v) for v in data["x"]], data["series"], str(data.get("xlabel", "")), str(data.get("ylabel", "")))
    ax.axhline(0.0, color=_GREY, linewidth=0.8)


def _group_calibration(ax: Any, data: dict[str, Any]) -> None:
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8)
    for name, s in data["series"].items():
        ax.plot([_f(v) for v in s["mean_predicted"]], [_f(v) for v in s["observed"]], marker="o", markersize=2.5,
                linewidth=1.1, label=_label(name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend(frameon=False, fontsize=6.5, loc="upper left")


def _curves(ax: Any, data: dict[str, Any]) -> None:
    for name, ys in data["series"].items():
        n = len(ys)
        x = [i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        ax.plot(x, [_f(v) for v in ys], linewidth=1.4, label=_label(name))
    ax.set_xlabel(str(data.get("xlabel", "")))
    ax.set_ylabel(str(data.get("ylabel", "")))
    ax.legend(frameon=False, fontsize=7)


def _histogram(ax: Any, data: dict[str, Any]) -> None:
    edges = [float(v) for v in data["edges"]]
    for name, counts in data["series"].items():
        c = [0.0 if v is None else float(v) for v in counts]
        total = sum(c) or 1.0
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        density = [v / total / w if w > 0 else 0.0 for v, w in zip(c, widths, strict=True)]
        ax.stairs(density, edges, linewidth=1.4, label=_label(name), fill=False)
    ax.set_xlabel(str(data.get("xlabel", "score (higher: more out of distribution)")))
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=7)


def _roc(ax: Any, data: dict[str, Any]) -> None:
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8)
    for name, c in data["curves"].items():
        ax.plot([_f(v) for v in c["fpr"]], [_f(v) for v in c["tpr"]], linewidth=1.4, label=_label(name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (in-distribution flagged)")
    ax.set_ylabel("true positive rate (OOD flagged)")
    ax.legend(frameon=False, fontsize=7, loc="lower right")


def _heatmap(ax: Any, data: dict[str, Any]) -> None:
    grid = [[_f(v) for v in row] for row in data["grid"]]
    h, w = len(grid), len(grid[0])
    xs, ys = list(range(w + 1)), list(range(h + 1))
    image = data.get("image")
    peak = max((abs(v) for row in grid for v in row if not math.isnan(v)), default=0.0) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-peak, vmax=peak)
    if image:
        ax.pcolormesh(xs, ys, [[_f(v) for v in row] for row in image], cmap="gray", shading="flat")
        ax.pcolormesh(xs, ys, grid, cmap="RdBu_r", norm=norm, alpha=0.6, shading="flat")
    else:
        ax.pcolormesh(xs, ys, grid, cmap="RdBu_r", norm=norm, shading="flat")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)


DRAWINGS: dict[str, tuple[Callable[[Any, dict[str, Any]], None], tuple[float, float]]] = {
    "calibration": (_calibration, (3.6, 3.3)),
    "interval_bars": (_interval_bars, (5.2, 2.6)),
    "bars": (_bars, (5.2, 2.6)),
    "sweep": (_sweep, (4.2, 2.8)),
    "group_calibration": (_group_calibration, (3.4, 3.0)),
    "curves": (_curves, (5.2, 2.8)),
    "histogram": (_histogram, (3.4, 2.4)),
    "roc": (_roc, (3.6, 3.3)),
    "heatmap": (_heatmap, (1.8, 1.9)),
}

_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def draw(chart: str, title: str, data: dict[str, Any]) -> str:
    """SVG text (starting at ``<svg``) for the chart kind ``chart`` with ``title`` and ``data``."""
    func, (width, height) = DRAWINGS[chart]
    if chart in ("interval_bars", "bars"):
        height = 0.9 + 0.22 * len(data.get("labels", []))
    with rc_context(_RC):
        fig, ax = _figure(width, height)
        func(ax, data)
        ax.set_title(_label(title) if chart == "heatmap" else _label_long(title), loc="left")
        fig.tight_layout(pad=0.4)
        buf = io.StringIO()
        FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _COMMENT.sub("", _PROLOG.sub("", buf.getvalue(), count=1)), count=1)
    return svg.strip()


def _label_long(text: Any) -> str:
    s = str(text)
    if len(s) > 70:
        s = s[:69] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")
