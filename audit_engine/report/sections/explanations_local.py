"""Local explanations in the Explanations section: per-row tables (tabular), heatmaps over the
input image (images) and shaded tokens (text), from the typed
:class:`~audit_engine.results.explanations.MethodExplanation`.

Heatmap chart specifications carry their colour scale, so the chart can draw a colour bar:
``{"grid": (h, w) numbers, "image": (h, w) numbers or None, "min": low end, "max": high end,
"centre": the value drawn white on a diverging scale (None: a one-sided scale from min to
max), "unit": what the colour measures}``. The rows of one figure share one scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...results.explanations import Grid, LocalExplanation, MethodExplanation
from ..blocks import MAX_HEATMAP_SIDE, MAX_LOCAL_ROWS, Block, Cell, Chart, Figures, Table, TokenText
from ..format import _Ids, fmt_number

__all__ = ["local_blocks", "grid_2d", "heatmap_spec", "prediction_text", "METHOD_NAMES", "method_unit"]

METHOD_NAMES = {"lime": "LIME", "smoothgrad": "SmoothGrad", "occlusion": "Occlusion",
                "permutation": "Permutation importance", "pathwise": "Pathwise (ReLU network)",
                "attention": "Attention rollout"}

_UNITS = {  # method -> (what one attribution measures, the short form for axes and colour bars)
    "lime": ("LIME surrogate weight: change in the predicted class's probability when the feature is kept "
             "rather than perturbed", "surrogate weight (probability)"),
    "occlusion": ("change in the predicted class's probability: the row's score minus its score with the feature "
                  "replaced by the baseline", "change in probability"),
    "pathwise": ("contribution to the predicted class's logit, W(x)·x per feature", "contribution to the logit"),
    "attention": ("attention rollout weight (a share of attention; no unit)", "rollout weight"),
}


def method_unit(method: str, entry: MethodExplanation, *, scaled: bool = False, short: bool = False) -> str:
    """What one attribution of ``method`` measures, in words (SmoothGrad: as the check recorded it);
    ``short``: a few words for an axis or a colour bar."""
    params: Any = entry.params
    if method == "smoothgrad":
        if short:
            return "probability change per standard deviation" if scaled else "gradient (probability per unit)"
        unit = params.scaled_unit if scaled else params.unit
        return unit or "gradient of the predicted class's probability, per unit of the feature"
    if method == "occlusion" and params.replacement is not None:  # text: a token at a time
        return "change in probability" if short else (
            f"change in the predicted class's probability: the text's score minus its score with the token "
            f"replaced by the {params.replacement} token")
    if method == "permutation":
        return f"increase in {params.metric.replace('_', ' ')}" + ("" if short else " when the feature is shuffled")
    long, brief = _UNITS[method]
    return brief if short else long


def prediction_text(e: LocalExplanation) -> str:
    """``predicted 1 (probability 83.0%); runner-up 0 (17.0%)`` — regression: ``predicted value 3.2``."""
    if e.probability is None:
        return f"predicted value {fmt_number(e.prediction)}"
    text = f"predicted {_label(e.prediction)} (probability {fmt_number(e.probability, percent=True)})"
    if e.runner_up is not None:
        text += f"; runner-up {_label(e.runner_up.prediction)} ({fmt_number(e.runner_up.probability, percent=True)})"
    return text


def _label(value: Any) -> str:
    return f"“{value}”" if isinstance(value, str) else fmt_number(value)


# --------------------------------------------------------------------------- grids
def grid_2d(grid: Grid, layout: str | None) -> np.ndarray:
    """An ``(h, w)`` map from a stored image array: channels summed (``layout`` NCHW / NHWC; None for a
    2-D map or an old file without it: channels first when the first axis has at most 4 entries),
    block-averaged to at most ``MAX_HEATMAP_SIDE`` a side."""
    a = grid.values
    while a.ndim > 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3:
        channels_last = layout == "NHWC" or (layout is None and a.shape[0] > 4)
        a = np.nansum(a, axis=2 if channels_last else 0)
    return _downsample(a)


def _downsample(a: np.ndarray) -> np.ndarray:
    step = max(1, math.ceil(max(a.shape) / MAX_HEATMAP_SIDE))
    if step == 1:
        return a
    h, w = a.shape
    return np.array([[float(np.nanmean(a[i:i + step, j:j + step])) for j in range(0, w, step)]
                     for i in range(0, h, step)])


def heatmap_spec(grid: np.ndarray, image: np.ndarray | None, *, peak: float, signed: bool, unit: str) -> dict[str, Any]:
    """The data of a ``heatmap`` chart (see the module docstring for the keys)."""
    peak = peak if math.isfinite(peak) and peak > 0 else 1.0
    return {"grid": _rows(grid), "image": None if image is None else _rows(image),
            "min": -peak if signed else 0.0, "max": peak, "centre": 0.0 if signed else None, "unit": unit}


def _rows(a: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in a.tolist()]


def _peak(grids: Sequence[np.ndarray]) -> float:
    finite = [float(np.nanmax(np.abs(g))) for g in grids if g.size and np.isfinite(g).any()]
    return max(finite, default=1.0)


# --------------------------------------------------------------------------- blocks
def local_blocks(method: str, entry: MethodExplanation, layout: str | None, ids: _Ids) -> list[Block]:
    """The local explanations of one method: heatmaps, shaded tokens, or a table of top features."""
    local = list(entry.local or ())
    if not local:
        return []
    shown = local[:MAX_LOCAL_ROWS]
    if any(e.heatmap is not None for e in shown):
        return _heatmaps(method, entry, [e for e in shown if e.heatmap is not None], layout, ids)
    if any(e.tokens is not None for e in shown):
        return [_token_text(method, entry, [e for e in shown if e.tokens is not None])]
    if any(e.attributions is not None for e in shown):
        return [_table(method, entry, shown, len(local))]
    return []


def _heatmaps(method: str, entry: MethodExplanation, rows: list[LocalExplanation], layout: str | None,
              ids: _Ids) -> list[Block]:
    grids = [grid_2d(e.heatmap, layout) for e in rows if e.heatmap is not None]
    images = [grid_2d(e.input, layout) if e.input is not None else None for e in rows]
    peak = _peak(grids)
    unit = method_unit(method, entry, short=True)
    charts: list[Chart] = []
    for e, grid, image in zip(rows, grids, images, strict=True):
        charts.append(ids.chart(
            "heatmap", f"Row {e.row}",
            f"Row {e.row}: {prediction_text(e)}. Map of the {METHOD_NAMES[method]} attributions"
            + (" over the input image." if image is not None else "."),
            heatmap_spec(grid, image, peak=peak, signed=True, unit=unit)))
    return [Figures(charts, caption=f"Local {METHOD_NAMES[method]} attributions for {len(charts)} sampled rows "
                                    f"(red raises the predicted class's score, blue lowers it; one colour scale: "
                                    f"{method_unit(method, entry)}, ±{fmt_number(peak)}). Per-pixel intervals are not stored in "
                                    "audit.json; explain() returns them.")]


def _token_text(method: str, entry: MethodExplanation, rows: list[LocalExplanation]) -> TokenText:
    """Each token shaded by its attribution, red up / blue down, on one scale for all rows."""
    peak = max((abs(t.value) for e in rows for t in e.tokens or () if math.isfinite(t.value)), default=0.0) or 1.0
    lines = []
    for e in rows:
        spans = []
        for t in e.tokens or ():
            v = t.value if math.isfinite(t.value) else 0.0
            alpha = min(1.0, abs(v) / peak) * 0.75
            rgb = "220,50,47" if v > 0 else "38,110,200"
            spans.append((t.token, f"background: rgba({rgb},{alpha:.2f})", fmt_number(t.value)))
        lines.append((f"Row {e.row}: {prediction_text(e)}", spans))
    return TokenText(lines, caption=f"Local {METHOD_NAMES[method]} attributions per token for {len(lines)} sampled "
                                    f"texts (red raises the predicted class's score, blue lowers it; hover for the "
                                    f"value: {method_unit(method, entry)}; the strongest shade is ±{fmt_number(peak)}). "
                                    "Per-token intervals are not stored in audit.json; explain() returns them.")


def _table(method: str, entry: MethodExplanation, rows: list[LocalExplanation], total: int) -> Table:
    scaled = method == "smoothgrad" and any(e.attributions_scaled is not None for e in rows)
    out = []
    for e in rows:
        values = (e.attributions_scaled if scaled else e.attributions) or {}
        top = sorted(values.items(), key=lambda kv: -abs(kv[1]) if math.isfinite(kv[1]) else 0.0)[:5]
        sig = set(e.significant)
        text = "; ".join(f"{name}{' *' if name in sig else ''}: {fmt_number(v)}" for name, v in top)
        out.append([Cell(str(e.row), "num"), Cell(prediction_text(e)),
                    Cell(text, sub="saturated: no attribution is significant" if e.saturated else "")])
    unit = method_unit(method, entry, scaled=scaled)
    return Table(["Row", "Prediction", f"Top 5 attributions ({unit})"], out,
                 caption=f"Local {METHOD_NAMES[method]} explanations of {len(out)} of the {total} explained rows",
                 note="Row: the row's position in the data, counted from 0. * marks an attribution whose interval "
                      "excludes zero; the per-value intervals are not stored in audit.json (explain() returns them).")
