"""The Explanations section: global importances, local explanations, heatmaps, quality, sanity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..blocks import Block, Cell, Figures, Heading, MAX_BARS, MAX_HEATMAP_SIDE, MAX_LOCAL_ROWS, Paragraph, Table, TokenText
from ..format import _Ids, _cell_text, _estimate, _interval_text, _is_number, _num, _numbers, fmt_estimate, fmt_number, metric_name

if TYPE_CHECKING:
    from ...result import AuditResult


_PIXEL = re.compile(r"^x\[(\d+(?:,\d+)*)\]$")


def _image_shape(doc: Mapping[str, Any]) -> list[int] | None:
    shape = doc.get("data", {}).get("row_shape")
    if isinstance(shape, list) and len(shape) in (2, 3) and all(isinstance(s, int) and s > 0 for s in shape):
        return shape
    return None


def _grid(attributions: Mapping[str, Any], shape: list[int], layout: str | None) -> list[list[float]] | None:
    """Sum attributions named ``x[c,h,w]`` over channels into an (h, w) grid; None if names do not fit."""
    if len(shape) == 2:
        h, w, cax = shape[0], shape[1], None
    elif layout == "NHWC" or (shape[2] in (1, 3, 4) and shape[0] not in (1, 3, 4)):
        h, w, cax = shape[0], shape[1], 2
    else:
        h, w, cax = shape[1], shape[2], 0
    grid = [[0.0] * w for _ in range(h)]
    seen = 0
    for name, val in attributions.items():
        m = _PIXEL.match(str(name))
        v = _num(val)
        if not m or v is None:
            continue
        idx = [int(i) for i in m.group(1).split(",")]
        if len(idx) != len(shape):
            return None
        hw = idx if cax is None else [i for j, i in enumerate(idx) if j != cax]
        if hw[0] >= h or hw[1] >= w:
            return None
        grid[hw[0]][hw[1]] += v
        seen += 1
    return _downsample(grid) if seen else None


def _downsample(grid: list[list[float]]) -> list[list[float]]:
    h, w = len(grid), len(grid[0])
    step = max(1, math.ceil(max(h, w) / MAX_HEATMAP_SIDE))
    if step == 1:
        return grid
    out = []
    for i in range(0, h, step):
        row = []
        for j in range(0, w, step):
            cells = [grid[a][b] for a in range(i, min(i + step, h)) for b in range(j, min(j + step, w))]
            row.append(sum(cells) / len(cells))
        out.append(row)
    return out


def _nested_grid(node: Any) -> list[list[float]] | None:
    """An (h, w) grid from a nested list of shape (h, w), (1, h, w), (c, h, w) or (h, w, c) (channels summed)."""
    if not isinstance(node, list) or not node:
        return None
    while isinstance(node, list) and len(node) == 1 and isinstance(node[0], list) and node[0] and isinstance(node[0][0], list):
        node = node[0]
    if not all(isinstance(r, list) and r for r in node):
        return None
    if isinstance(node[0][0], list):  # 3-D
        if len(node) <= 4:  # (c, h, w)
            h, w = len(node[0]), len(node[0][0])
            grid = [[sum(_num(node[c][i][j]) or 0.0 for c in range(len(node))) for j in range(w)] for i in range(h)]
        else:  # (h, w, c)
            grid = [[sum(_num(v) or 0.0 for v in px) for px in row] for row in node]
    else:
        grid = [[_num(v) or 0.0 for v in row] for row in node]
    if len({len(r) for r in grid}) != 1:
        return None
    return _downsample(grid)


def _image_input(local: Mapping[str, Any], shape: list[int]) -> list[list[float]] | None:
    """The input image of a local explanation (key ``input``/``image``), as an (h, w) grid."""
    raw = local.get("input", local.get("image"))
    if not isinstance(raw, list):
        return None
    flat: list[Any] = raw
    while flat and isinstance(flat[0], list):
        flat = [v for sub in flat for v in sub]
    nums = _numbers(flat)
    size = math.prod(shape)
    if nums and len(nums) != size:  # stored block-averaged (large images): read its own nesting
        return _nested_grid(raw)
    if not nums:
        return None
    h, w = (shape[0], shape[1]) if len(shape) == 2 else (shape[1], shape[2]) if shape[0] in (1, 3, 4) else (shape[0], shape[1])
    channels = size // (h * w)
    if shape[0] == channels and len(shape) == 3:  # CHW: average channels
        grid = [[sum((nums[c * h * w + i * w + j] or 0.0) for c in range(channels)) / channels for j in range(w)] for i in range(h)]
    else:  # HWC or HW
        grid = [[sum((nums[(i * w + j) * channels + c] or 0.0) for c in range(channels)) / channels for j in range(w)] for i in range(h)]
    return _downsample(grid)


def _explanations(doc: Mapping[str, Any], ids: _Ids) -> list[Block]:
    expl = doc["explanations"]
    methods = {str(k): v for k, v in expl.items() if isinstance(v, Mapping) and ("global" in v or "local" in v)}
    if not methods:
        raise ValueError("no explanation methods")
    blocks: list[Block] = [Paragraph(
        "Attributions say how much each feature moved the model's score. Bars show the global "
        "importance with its interval; a feature is marked when the interval of its signed mean "
        "attribution excludes zero (it pushes the score the same way across rows). Deterministic "
        "methods are exact up to float32 round-off; saturated rows are never called significant.")]
    shape = _image_shape(doc)
    layout = doc.get("model", {}).get("layout") or doc.get("data", {}).get("image_layout")
    quality_rows: list[list[Cell]] = []
    curves: dict[str, Any] = {}
    quality_bars: dict[str, Any] = {}
    for method, entry in methods.items():
        blocks.append(Heading(f"Method: {method}"))
        params = entry.get("params")
        if isinstance(params, Mapping) and params:
            blocks.append(Paragraph("Parameters: " + ", ".join(f"{k} = {fmt_number(v) if not isinstance(v, (Mapping, list)) else json.dumps(v)}" for k, v in params.items()) + "."))
        glob = entry.get("global")
        if isinstance(glob, Mapping) and glob:
            image_grid = _nested_grid(entry.get("global_heatmap")) or (_grid(glob, shape, layout) if shape else None)
            if image_grid is not None:
                blocks.append(ids.chart("heatmap", f"{method}: global attribution map",
                                        f"Heatmap of the mean attribution per pixel ({method}).",
                                        {"grid": image_grid, "image": None}))
            else:
                items = [(str(k), _estimate(v)) for k, v in glob.items() if _estimate(v)[0] is not None]
                items.sort(key=lambda kv: -abs(kv[1][0] or 0.0))
                top = items[:MAX_BARS]
                blocks.append(ids.chart(
                    "interval_bars", f"{method}: global importance",
                    f"Bars: the {len(top)} most important features by {method}; whiskers: intervals.",
                    {"labels": [k for k, _ in top], "values": [e[0] for _, e in top],
                     "low": [e[1] for _, e in top], "high": [e[2] for _, e in top],
                     "reference": 0.0, "xlabel": "attribution"}))
                rows = []
                signed = entry.get("global_signed") if isinstance(entry.get("global_signed"), Mapping) else None
                for k, (v, lo, hi) in top:
                    if signed is not None:  # mean |attribution| is always positive: test the signed mean
                        _, lo_s, hi_s = _estimate(signed.get(k))
                        sig = lo_s is not None and hi_s is not None and (lo_s > 0 or hi_s < 0)
                    else:
                        sig = lo is not None and hi is not None and (lo > 0 or hi < 0)
                    rows.append([Cell(k), Cell(fmt_number(v), "num"),
                                 Cell(_interval_text({"value": v, "ci_low": lo, "ci_high": hi}), "num"),
                                 Cell("excludes 0" if sig else "", "flag" if sig else "")])
                more = len(items) - len(top)
                blocks.append(Table(["Feature", "Attribution", "Interval", "Significance"], rows,
                                    note=f"{more} more features are in audit.json." if more > 0 else ""))
        sig = entry.get("significant")
        if isinstance(sig, list) and sig:
            frac = entry.get("significant_fraction")
            blocks.append(Paragraph(f"Features whose interval excludes zero: {', '.join(str(x) for x in sig[:15])}"
                                    + ("…" if len(sig) > 15 else "")
                                    + (f" ({fmt_number(frac, percent=True)} of features)." if _is_number(frac) else ".")))
        local = entry.get("local")
        if isinstance(local, list) and local:
            blocks.extend(_local_blocks(method, local, shape, layout, ids))
        if isinstance(entry.get("pathwise"), Mapping) or entry.get("refused"):
            from .pathwise import pathwise_blocks

            blocks.extend(pathwise_blocks(entry, ids))
        if isinstance(entry.get("attention"), Mapping):
            from .pathwise import attention_blocks

            blocks.extend(attention_blocks(entry, ids))
        blocks.extend(_sanity_blocks(method, entry.get("sanity")))
        sat = entry.get("saturated_rows")
        if isinstance(sat, list) and sat:
            blocks.append(Paragraph(f"{len(sat)} explained row(s) are saturated: the model's output did not change "
                                    "beyond float32 resolution, so their attributions are not called significant."))
        stab = entry.get("rank_stability")
        if isinstance(stab, Mapping):
            items = [(metric_name(k), fmt_estimate(v)) for k, v in stab.items() if isinstance(v, Mapping) and _estimate(v)[0] is not None]
            if items:
                blocks.append(Paragraph("Rank stability across seeds: " + "; ".join(f"{k} {v}" for k, v in items)
                                        + (f" (top {stab['k']})" if _is_number(stab.get("k")) else "") + "."))
        quality = entry.get("quality")
        if isinstance(quality, Mapping):
            keys = [k for k in ("deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc")
                    if _estimate(quality.get(k))[0] is not None]
            if keys:
                quality_bars.setdefault("labels", []).extend(f"{method}: {metric_name(k).lower()}" for k in keys)
                quality_bars.setdefault("values", []).extend(_estimate(quality[k])[0] for k in keys)
                quality_bars.setdefault("low", []).extend(_estimate(quality[k])[1] for k in keys)
                quality_bars.setdefault("high", []).extend(_estimate(quality[k])[2] for k in keys)
        quality = entry.get("quality")
        if isinstance(quality, Mapping):
            for qname, q in quality.items():
                if isinstance(q, Mapping):
                    for sub, val in q.items():
                        if isinstance(val, Mapping) and "value" in val:
                            quality_rows.append([Cell(method), Cell(metric_name(f"{qname} {sub}")), Cell(fmt_estimate(val), "num")])
                        curve = _numbers(val)
                        if curve and sub in ("curve", "mean_curve", "y", "values"):
                            curves[f"{method} {qname}"] = curve
                    if _numbers(q.get("fractions")) and f"{method} {qname}" in curves:
                        pass
                elif _estimate(q)[0] is not None:
                    quality_rows.append([Cell(method), Cell(metric_name(qname)), Cell(fmt_estimate(q), "num")])
                else:
                    curve = _numbers(q)
                    if curve:
                        curves[f"{method} {qname}"] = curve
    if quality_rows or curves or quality_bars:
        blocks.append(Heading("Faithfulness"))
        blocks.append(Paragraph(
            "Deletion and insertion curves (Petsiuk et al. 2018): the model's score as the most "
            "important features are removed (deletion: a fast drop is faithful, lower area is better) "
            "or added back (insertion: a fast rise is faithful, higher area is better)."))
        if quality_rows:
            blocks.append(Table(["Method", "Measure", "Value (interval)"], quality_rows))
        if quality_bars:
            blocks.append(ids.chart("interval_bars", "Faithfulness: deletion and insertion areas",
                                    "Bars: area under the deletion curve (lower is more faithful) and insertion curve "
                                    "(higher is more faithful) per method, beside a random ranking's; whiskers: intervals.",
                                    dict(quality_bars, xlabel="area under the curve")))
        if curves:
            blocks.append(ids.chart("curves", "Deletion and insertion curves",
                                    "Lines: model score against the fraction of features removed or inserted.",
                                    {"series": curves, "xlabel": "fraction of features", "ylabel": "score"}))
    return blocks


def _sanity_blocks(method: str, sanity: Any) -> list[Block]:
    """The randomisation cascade of one method (Adebayo et al. 2018) as a small table."""
    if not isinstance(sanity, Mapping) or not isinstance(sanity.get("steps"), list) or not sanity["steps"]:
        return []
    rows = [[Cell(fmt_number(i + 1), "num"), Cell(str(st.get("layer", ""))), Cell(fmt_estimate(st.get("spearman")), "num")]
            for i, st in enumerate(sanity["steps"]) if isinstance(st, Mapping)]
    flagged = sanity.get("flagged") is True
    return [Table(["Step", "Layer randomised (cumulative, from the output)", "Spearman of |attributions| (interval)"], rows,
                  caption=f"Sanity check of {method}: model-parameter randomisation (Adebayo et al. 2018)",
                  note=(f"{method} {sanity.get('message', '')}." if sanity.get("message") else "")
                  + (" Its attributions should not be read as explanations of this model." if flagged else ""))]


def _local_blocks(method: str, local: list[Any], shape: list[int] | None, layout: str | None, ids: _Ids) -> list[Block]:
    blocks: list[Block] = []
    shown = [e for e in local if isinstance(e, Mapping)][:MAX_LOCAL_ROWS]
    if shape or any(isinstance(e.get("heatmap"), list) for e in shown):
        charts = []
        for e in shown:
            attrs = e.get("attributions")
            grid = _nested_grid(e.get("heatmap")) or (_grid(attrs, shape, layout) if isinstance(attrs, Mapping) else None)
            if grid is None:
                continue
            image = _image_input(e, shape) if shape else None
            charts.append(ids.chart(
                "heatmap", f"row {_cell_text(e.get('row', '?'))}",
                f"Row {_cell_text(e.get('row', '?'))}: predicted {_prediction_text(e)}. Heatmap of {method} attributions"
                + (" over the input image." if image else "."),
                {"grid": grid, "image": image}))
        if charts:
            blocks.append(Figures(charts, caption=f"Local {method} attributions for {len(charts)} sampled rows "
                                                  "(red raises the explained class's score, blue lowers it)."))
            return blocks
    token_block = _token_text(method, shown)
    if token_block is not None:
        return [token_block]
    rows = []
    for e in shown:
        attrs = e.get("attributions")
        if not isinstance(attrs, Mapping):
            continue
        top = sorted(((str(k), _num(v)) for k, v in attrs.items() if _num(v) is not None), key=lambda kv: -abs(kv[1] or 0.0))[:5]
        rows.append([Cell(fmt_number(e.get("row"))), Cell(_prediction_text(e)),
                     Cell("; ".join(f"{k}: {fmt_number(v)}" for k, v in top))])
    if rows:
        blocks.append(Table(["Row", "Prediction", "Top attributions"], rows,
                            caption=f"Local {method} explanations for {len(rows)} of {len(local)} sampled rows"))
    return blocks


def _token_text(method: str, shown: list[Any]) -> TokenText | None:
    """Text rows (``tokens`` in audit.json): each token shaded by its attribution, red up / blue down."""
    texts = [e for e in shown if isinstance(e.get("tokens"), list)]
    if not texts:
        return None
    lines = []
    for e in texts:
        toks = [t for t in e["tokens"] if isinstance(t, Mapping)]
        vals = [abs(_num(t.get("value")) or 0.0) for t in toks]
        top = max(vals, default=0.0) or 1.0
        spans = []
        for t in toks:
            v = _num(t.get("value")) or 0.0
            alpha = min(1.0, abs(v) / top) * 0.75
            rgb = "220,50,47" if v > 0 else "38,110,200"
            spans.append((str(t.get("token", "")), f"background: rgba({rgb},{alpha:.2f})", fmt_number(v)))
        lines.append((f"Row {_cell_text(e.get('row', '?'))}: predicted {_prediction_text(e)}", spans))
    return TokenText(lines, caption=f"Local {method} attributions per token for {len(lines)} sampled texts "
                                    "(red raises the explained class's score, blue lowers it; hover for the value).")


def _prediction_text(e: Mapping[str, Any]) -> str:
    pred = e.get("prediction")
    parts = []
    if isinstance(pred, Mapping):
        label = pred.get("label", pred.get("class"))
        score = pred.get("score", pred.get("probability"))
        parts.append(str(label) if label is not None else "")
        if _is_number(score):
            parts.append(f"(score {fmt_number(score)})")
    elif pred is not None:
        parts.append(fmt_number(pred) if _is_number(pred) else str(pred))
        if _is_number(e.get("probability")):
            parts.append(f"(p {fmt_number(e['probability'])})")
    for key in ("target", "explained", "explained_class"):
        if e.get(key) is not None and e.get(key) != pred:
            parts.append(f"explaining {e.get(key)}")
            break
    runner = e.get("runner_up")
    if isinstance(runner, Mapping):
        label = runner.get("prediction", runner.get("label", runner.get("class", "")))
        prob = f" (p {fmt_number(runner['probability'])})" if _is_number(runner.get("probability")) else ""
        parts.append(f"; runner-up {label}{prob}")
    elif runner is not None:
        parts.append(f"; runner-up {runner}")
    return " ".join(p for p in parts if p) or "—"


def section_blocks(result: AuditResult, ids: _Ids) -> list[Block]:
    """The explanations section's blocks for ``result`` (empty when the check did not run)."""
    return _explanations(result.to_dict(), ids)  # transitional: reads the JSON form until this section is typed
