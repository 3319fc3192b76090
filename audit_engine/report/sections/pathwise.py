"""Report blocks for the graph-aware explanations: ``explanations.pathwise`` (the pathwise
linear models of a ReLU network) and ``explanations.attention`` (attention maps, rollout).

A view model only: numbers from the typed records become table cells and heatmap grids;
no template computes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results.explanations import Grid, MethodExplanation, PathPart, PathStep
from ..blocks import MAX_TABLE_ROWS, Block, Cell, Figures, Paragraph, Table
from ..format import _Ids, fmt_estimate, fmt_number
from .explanations_local import grid_2d, heatmap_spec

__all__ = ["pathwise_blocks", "attention_blocks"]

_MAX_PATH_FIGURES = 3

_HEADS = {"softmax": "softmax", "log_softmax": "log-softmax", "sigmoid": "sigmoid",
          "sigmoid_pair": "sigmoid (binary: the negative class's score is −logit)", "none": "output"}


def _path_text(path: tuple[PathStep, ...], feature: str) -> str:
    parts = [feature if step.layer == "input" else f"{step.layer}[{','.join(str(i) for i in step.index)}]"
             for step in path]
    return " → ".join(parts)


def _top_weights(weights: Mapping[str, float] | Grid | None, k: int = 4) -> str:
    if not isinstance(weights, Mapping):  # images: the map is drawn, not listed
        return ""
    items = sorted(weights.items(), key=lambda kv: -abs(kv[1]))
    return "W^path: " + "; ".join(f"{n} {fmt_number(v)}" for n, v in items[:k])


def _label(value: Any) -> str:
    return f"“{value}”" if isinstance(value, str) else fmt_number(value)


def pathwise_blocks(entry: MethodExplanation, ids: _Ids) -> list[Block]:
    """Blocks for one ``explanations.pathwise`` entry: bias share per row, paths, W^path maps."""
    if entry.refused is not None:
        return [Paragraph(f"Pathwise explanation not run: {entry.refused}", cls="muted")]
    sec = entry.pathwise
    if sec is None:
        return []
    blocks: list[Block] = [Paragraph(
        "Pathwise explanation (Lim, Lee, Park & Choi): at each row this ReLU network is exactly a linear "
        "model, logit = W(x)·x + b(x). The attributions above are W(x)⊙x. The bias share "
        "|b| / (|W·x| + |b|) says how much of the logit comes from the bias rather than the input: "
        "where it is high, weight-based explanations (gradients, gradient × input) say little. The path "
        "follows, from the last hidden layer down to the input, the unit that contributes most to the unit "
        "above it (the paper's top-down decomposition); its W^path is the linear model of that one path."),
        Paragraph(
            f"Bias share of the predicted class's logit, mean over the explained rows: {fmt_estimate(sec.bias_share, percent=True)}. "
            f"The forward pass read from the graph matches the model's output to {fmt_number(sec.max_error)} "
            f"(relative; the largest gap over the explained rows, a check rather than an estimate); the explained score is the logit before the {_HEADS[sec.head]} head.")]
    rows, figures = [], []
    for e in sec.local[:MAX_TABLE_ROWS]:
        ru = e.runner_up
        high = e.bias_share >= 0.5
        rows.append([
            Cell(str(e.row), "num"), Cell(_label(e.class_)),
            Cell(fmt_number(e.logit), "num"), Cell(fmt_number(e.weight_part), "num"), Cell(fmt_number(e.bias), "num"),
            Cell(fmt_number(e.bias_share, percent=True), "flag" if high else "num"),
            Cell(_path_text(e.path, e.input_feature), sub=_top_weights(e.deep.weights)),
            Cell(f"{_label(ru.class_)}: {fmt_number(ru.bias_share, percent=True)}" if ru is not None else "—"),
        ])
        parts: tuple[tuple[str, PathPart, str], ...] = (("thin", e.thin, "thin path (top unit)"),
                                                         ("deep", e.deep, "deep path (to the input)"))
        for key, part, label in parts:
            if isinstance(part.weights, Grid) and len(figures) < 2 * _MAX_PATH_FIGURES:
                grid = grid_2d(part.weights, entry.image_layout)
                peak = float(abs(grid).max()) if grid.size else 1.0
                figures.append(ids.chart(
                    "heatmap", f"Row {e.row}: {key} path",
                    f"Row {e.row}, class {_label(e.class_)}: W^path of the {label} as a map over the input "
                    f"(b^path = {fmt_number(part.bias)}).",
                    heatmap_spec(grid, None, peak=peak, signed=True, unit="W^path: logit change per unit of the pixel")))
    if rows:
        more = len(sec.local) - len(rows)
        blocks.append(Table(
            ["Row", "Class", "Logit", "W·x", "b", "Bias share", "Path (last hidden layer → input)", "Runner-up: bias share"],
            rows, caption="Pathwise linear models of the explained rows",
            note=(f"{more} more rows are in audit.json. " if more > 0 else "")
            + "Row: the row's position in the data, counted from 0. The numbers are exact for each row (the network "
              "is linear there), so they carry no interval. A bias share of 50% or more is flagged."))
    if figures:
        blocks.append(Figures(figures, caption="W^path of the greedy path per row: the thin path keeps the top "
                                               "hidden unit only, the deep one the whole path down to the input "
                                               "(red raises the class's logit, blue lowers it)."))
    return blocks


def attention_blocks(entry: MethodExplanation, ids: _Ids) -> list[Block]:
    """Blocks for one ``explanations.attention`` entry: rank agreement and per-token scores."""
    sec = entry.attention
    if sec is None:
        return []
    agree = sec.agreement
    blocks: list[Block] = [Paragraph(
        f"Attention maps from the graph's {len(sec.layers)} attention layer(s) (head mean, the "
        f"{'CLS (first)' if sec.query == 'first' else 'mean'} query) and attention rollout (Abnar & Zuidema "
        f"2020), beside token occlusion (probability drop when a token is replaced by id {sec.mask_id}). "
        "Rank agreement with occlusion (Spearman, mean over rows; 1 = same order): last-layer attention "
        f"{fmt_estimate(agree.attention_vs_occlusion)}, rollout {fmt_estimate(agree.rollout_vs_occlusion)}. "
        "Low agreement means attention is not a faithful explanation for this model "
        "(Jain & Wallace 2019; Wiegreffe & Pinter 2019).")]
    rows = []
    for e in sec.local[:MAX_TABLE_ROWS]:
        def top(values: tuple[float, ...], tokens: tuple[int, ...] = e.tokens) -> str:
            order = sorted(range(len(values)), key=lambda j: -values[j])[:3]
            return ", ".join(f"#{j} (id {tokens[j]})" for j in order if j < len(tokens))

        rows.append([Cell(str(e.row), "num"), Cell(" ".join(str(t) for t in e.tokens)),
                     Cell(top(e.rollout)), Cell(top(e.occlusion)),
                     Cell(fmt_number(e.spearman_rollout), "num")])
    if rows:
        blocks.append(Table(["Row", "Token ids", "Top positions by rollout", "Top positions by occlusion",
                             "Spearman (rollout, occlusion)"], rows,
                            caption="Per-token attention rollout and occlusion (position (token id))",
                            note="Row: the row's position in the data, counted from 0. The per-row Spearman "
                                 "correlations are single values (one ranking each); their mean's interval is above."))
    return blocks
