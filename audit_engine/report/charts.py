"""Static SVG charts drawn with matplotlib, inlined into the report.

Each drawing takes the ``data`` of a :class:`~audit_engine.report.blocks.Chart` (numbers and
labels only, already capped by the view) and returns SVG text with no XML prolog, no
external reference, no script and no embedded raster: text stays text (``svg.fonttype =
"none"``) so labels are searchable and print sharply, and every string from data is
escaped by matplotlib's SVG writer. Labels are also guarded against matplotlib's mathtext
(``$`` is escaped) and shortened for the chart (tables carry the full text).

Output is deterministic: a fixed hash salt and no date in the metadata.

Layout rules: titles wrap to the figure's width (never clipped); legends sit below the
axes, outside the data; heatmaps carry a colour bar; a histogram whose mass sits in a
small part of its range (one far outlier) is drawn on the part holding 98% of the rows,
with a note saying how many rows lie beyond and how far; positive bars spanning more
than :data:`LOG_RATIO` (max / median) go on a log axis, said in the axis label.

Chart data keys (``Chart.data``; optional ones may be absent):

- ``calibration``: ``mean_predicted``, ``observed`` (per bin); optional ``count`` (rows per
  bin: marker size and the number written beside each bin; bins under
  :data:`SMALL_BIN` rows are drawn hollow).
- ``group_calibration``: ``series{name: {mean_predicted, observed, count?}}``.
- ``interval_bars``: ``labels``, ``values``, optional ``low``, ``high``, ``reference``, ``xlabel``.
- ``bars``: ``labels``, ``values``, optional ``line`` (a threshold), ``xlabel``.
- ``sweep``: ``x``, ``series{name: ys}``, optional ``xlabel``, ``ylabel``.
- ``curves``: ``series{name: ys}`` on x = 0..1, optional ``xlabel``, ``ylabel``.
- ``histogram``: ``edges``, ``series{name: counts}``, optional ``xlabel``.
- ``roc``: ``curves{name: {fpr, tpr}}``.
- ``heatmap``: ``grid`` (rows of numbers), optional ``image`` (grey background), and the
  colour scale: ``vmin`` / ``vmax`` (or ``min`` / ``max``; default ±the grid's largest
  magnitude), ``center`` (or ``centre``; default 0 when the scale spans it) and ``unit``
  (the colour bar's label).
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
LOG_RATIO = 30.0  # positive bars: max / median above this go on a log axis
SMALL_BIN = 10  # calibration bins with fewer rows are drawn hollow
CLIP_MASS = 0.98  # histograms: the share of rows the clipped axis keeps
MIN_SHOWN_BINS = 6  # histograms: the axis is cut only where it still shows at least this many bins
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
    counts = [0 if c is None else int(c) for c in (data.get("count") or [])]
    ax.plot(mp, obs, color=_BLUE, linewidth=1.2)
    if counts and len(counts) == len(mp) and max(counts) > 0:
        drawn = [(x, y, c) for x, y, c in zip(mp, obs, counts, strict=True) if not (math.isnan(x) or math.isnan(y))]
        big = [(x, y, c) for x, y, c in drawn if c >= SMALL_BIN]
        small = [(x, y, c) for x, y, c in drawn if c < SMALL_BIN]
        for part, face, label in ((big, _BLUE, "bins (size: rows)"), (small, "white", f"bins under {SMALL_BIN} rows")):
            if part:
                ax.scatter([p[0] for p in part], [p[1] for p in part], s=[12 + 60 * (p[2] / max(counts)) for p in part],
                           facecolors=face, edgecolors=_BLUE, zorder=3, label=label)
        if len(counts) <= 20:
            for x, y, c in zip(mp, obs, counts, strict=True):
                if not (math.isnan(x) or math.isnan(y)):
                    ax.annotate(f"{c}", (x, y), textcoords="offset points", xytext=(4, -9), fontsize=7, color=_GREY)
    else:
        ax.scatter(mp, obs, s=20, color=_BLUE, zorder=3, label="bins")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    _legend_below(ax)


def _legend_below(ax: Any, *, fontsize: float = 7) -> None:
    """The legend under the axes and their x label (never over the data), in up to three columns."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ncol = 1 if max(len(x) for x in labels) > 28 else min(3, len(labels))
    lines = ax.get_xlabel().count("\n") + 1
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.13 - 0.09 * lines), ncol=ncol,
              frameon=False, fontsize=fontsize, borderaxespad=0.0)


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
    xlabel = str(data.get("xlabel", ""))
    if _needs_log(values):
        ax.set_xscale("log")
        xlabel = f"{xlabel} (log scale)".strip()
    ax.set_xlabel(_label_long(xlabel))


def _needs_log(values: Sequence[float]) -> bool:
    """True when positive values span so much that one outlier would squash the rest on a linear axis."""
    finite = sorted(v for v in values if not math.isnan(v))
    if len(finite) < 3 or finite[0] <= 0:
        return False
    median = finite[len(finite) // 2]
    return finite[-1] / median > LOG_RATIO


_DASHES = ("-", "--", ":", "-.")


def _lines(ax: Any, x: Sequence[float], series: dict[str, Sequence[Any]], xlabel: str, ylabel: str = "") -> None:
    # One dash pattern and marker per series, so a line lying on another (equalized odds on equal
    # opportunity) stays visible.
    for i, (name, ys) in enumerate(series.items()):
        ax.plot(x, [_f(v) for v in ys], linewidth=1.6 - 0.2 * (i % 4), linestyle=_DASHES[i % 4],
                marker="os^D"[i % 4], markersize=2.5, label=_label(name))
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    _legend_below(ax)


def _sweep(ax: Any, data: dict[str, Any]) -> None:
    _lines(ax, [float(v) for v in data["x"]], data["series"], str(data.get("xlabel", "")), str(data.get("ylabel", "")))
    ax.axhline(0.0, color=_GREY, linewidth=0.8)


def _group_calibration(ax: Any, data: dict[str, Any]) -> None:
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8)
    for name, s in data["series"].items():
        counts = s.get("count") if isinstance(s, dict) else None
        label = _label(name) if not counts or "(n = " in str(name) else _label(
            f"{name} (n = {sum(int(c or 0) for c in counts):,})")  # never "(n = …) (n = …)"
        ax.plot([_f(v) for v in s["mean_predicted"]], [_f(v) for v in s["observed"]], marker="o", markersize=2.5,
                linewidth=1.1, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    _legend_below(ax)


def _curves(ax: Any, data: dict[str, Any]) -> None:
    for name, ys in data["series"].items():
        n = len(ys)
        x = [i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        ax.plot(x, [_f(v) for v in ys], linewidth=1.4, label=_label(name))
    ax.set_xlabel(str(data.get("xlabel", "")))
    ax.set_ylabel(str(data.get("ylabel", "")))
    _legend_below(ax)


def _histogram(ax: Any, data: dict[str, Any]) -> None:
    edges = [float(v) for v in data["edges"]]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    totals = [0.0] * len(widths)
    for name, counts in data["series"].items():
        c = [0.0 if v is None else float(v) for v in counts]
        totals = [t + v for t, v in zip(totals, c, strict=True)]
        total = sum(c) or 1.0
        density = [v / total / w if w > 0 else 0.0 for v, w in zip(c, widths, strict=True)]
        ax.stairs(density, edges, linewidth=1.4, label=_label(name), fill=False)
    xlabel = str(data.get("xlabel", "score (higher: more out of distribution)"))
    cut = _clip_at(totals)
    if cut is not None:  # one far outlier would squash the rest into the first bins
        beyond = int(sum(totals[cut:]))
        ax.set_xlim(edges[0], edges[cut])
        xlabel += f"\naxis cut at {edges[cut]:.3g}: {beyond:,} row(s) beyond, up to {edges[-1]:.3g}"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    _legend_below(ax)


def _clip_at(totals: Sequence[float]) -> int | None:
    """The bin edge index holding :data:`CLIP_MASS` of the rows, when that is under 40% of the range."""
    total = sum(totals)
    if total <= 0:
        return None
    run = 0.0
    for i, v in enumerate(totals):
        run += v
        if run >= CLIP_MASS * total:
            cut = i + 1
            # Never cut to a handful of bins: a 2-4-bar histogram says less than the whole range (issue 22, 13).
            return cut if MIN_SHOWN_BINS <= cut < 0.4 * len(totals) and cut < len(totals) else None
    return None


def _roc(ax: Any, data: dict[str, Any]) -> None:
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=0.8)
    for name, c in data["curves"].items():
        ax.plot([_f(v) for v in c["fpr"]], [_f(v) for v in c["tpr"]], linewidth=1.4, label=_label(name))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (in-distribution flagged)")
    ax.set_ylabel("true positive rate (OOD flagged)")
    _legend_below(ax)


def _heatmap(ax: Any, data: dict[str, Any]) -> None:
    grid = [[_f(v) for v in row] for row in data["grid"]]
    h, w = len(grid), len(grid[0])
    xs, ys = list(range(w + 1)), list(range(h + 1))
    image = data.get("image")
    finite = [v for row in grid for v in row if not math.isnan(v)]
    peak = max((abs(v) for v in finite), default=0.0) or 1.0
    vmin = _first(data, "vmin", "min", default=-peak)
    vmax = _first(data, "vmax", "max", default=peak)
    if not vmax > vmin:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    center = _first(data, "center", "centre", default=0.0 if vmin < 0 < vmax else None)
    if center is not None and vmin < center < vmax:
        norm: Any = TwoSlopeNorm(vcenter=center, vmin=vmin, vmax=vmax)
        cmap = "RdBu_r"
    else:
        from matplotlib.colors import Normalize

        norm, cmap = Normalize(vmin=vmin, vmax=vmax), "Reds" if vmin >= 0 else "Blues_r"
    if image:
        ax.pcolormesh(xs, ys, [[_f(v) for v in row] for row in image], cmap="gray", shading="flat")
        mesh = ax.pcolormesh(xs, ys, grid, cmap=cmap, norm=norm, alpha=0.6, shading="flat")
    else:
        mesh = ax.pcolormesh(xs, ys, grid, cmap=cmap, norm=norm, shading="flat")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    # 10 colour steps: a vector colour bar that stays small (a continuous one is 256 patches or a raster)
    steps = [vmin + (vmax - vmin) * i / 10 for i in range(11)]
    if center is not None and vmin < center < vmax:
        steps = sorted({*[vmin + (center - vmin) * i / 5 for i in range(6)], *[center + (vmax - center) * i / 5 for i in range(6)]})
    bar = ax.figure.colorbar(mesh, ax=ax, fraction=0.07, pad=0.04, shrink=0.85, boundaries=steps,
                             ticks=[steps[0], center, steps[-1]] if center is not None else [steps[0], steps[-1]])
    if bar.solids is not None:
        bar.solids.set_rasterized(False)  # vector only: no embedded raster in the report
        if image:
            bar.solids.set_alpha(0.6)  # the colours as they appear over the image
    bar.ax.set_yticklabels([f"{t:.2g}" for t in bar.get_ticks()])
    bar.ax.tick_params(labelsize=7)
    bar.outline.set_visible(False)
    if data.get("unit"):
        bar.set_label(_label(data["unit"]), fontsize=7)


def _first(data: dict[str, Any], *keys: str, default: Any) -> Any:
    for k in keys:
        if data.get(k) is not None:
            return float(data[k])
    return default


DRAWINGS: dict[str, tuple[Callable[[Any, dict[str, Any]], None], tuple[float, float]]] = {
    "calibration": (_calibration, (3.6, 3.3)),
    "interval_bars": (_interval_bars, (5.2, 2.6)),
    "bars": (_bars, (5.2, 2.6)),
    "sweep": (_sweep, (4.2, 2.8)),
    "group_calibration": (_group_calibration, (3.4, 3.0)),
    "curves": (_curves, (5.2, 2.8)),
    "histogram": (_histogram, (3.4, 2.4)),
    "roc": (_roc, (3.6, 3.3)),
    "heatmap": (_heatmap, (2.3, 1.9)),
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
        ax.set_title(_wrap(title, width), loc="left")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.06, metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _COMMENT.sub("", _PROLOG.sub("", buf.getvalue(), count=1)), count=1)
    return svg.strip()


def _wrap(text: Any, width_inches: float) -> str:
    """The title wrapped to the figure's width (about 14 characters per inch at 9 pt), at most 3 lines."""
    import textwrap

    chars = max(12, int(width_inches * 14))
    lines = textwrap.wrap(str(text), chars) or [""]
    if len(lines) > 3:
        lines = lines[:3]
        lines[-1] = lines[-1][: chars - 1] + "…"
    return "\n".join(lines).replace("\\", "\\\\").replace("$", r"\$")


def _label_long(text: Any) -> str:
    s = str(text)
    if len(s) > 70:
        s = s[:69] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")
