"""Report blocks for the graph-aware explanations: ``explanations.pathwise`` (the pathwise
linear models of a ReLU network) and ``explanations.attention`` (attention maps, rollout).

A view model only: numbers from audit.json become table cells and heatmap grids; no
template computes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["pathwise_blocks", "attention_blocks"]

_MAX_PATH_FIGURES = 3


_HEADS = {"softmax": "softmax", "log_softmax": "log-softmax", "sigmoid": "sigmoid",
          "sigmoid_pair": "sigmoid (binary: the negative class's score is −logit)", "none": "output"}


def _path_text(path: Any, feature: Any) -> str:
    if not isinstance(path, list):
        return ""
    parts = []
    for step in path:
        if isinstance(step, Mapping) and step.get("layer") == "input" and isinstance(feature, str):
            parts.append(feature)
        elif isinstance(step, Mapping):
            index = step.get("index")
            where = ",".join(str(i) for i in index) if isinstance(index, list) else str(step.get("unit", "?"))
            parts.append(f"{step.get('layer', '?')}[{where}]")
    return " → ".join(parts)


def _top_weights(weights: Any, k: int = 4) -> str:
    from ..format import fmt_number

    if not isinstance(weights, Mapping):
        return ""
    items = sorted(((str(n), v) for n, v in weights.items() if isinstance(v, (int, float))), key=lambda kv: -abs(kv[1]))
    return "; ".join(f"{n}: {fmt_number(v)}" for n, v in items[:k])


def pathwise_blocks(entry: Mapping[str, Any], ids: Any) -> list[Any]:
    """Blocks for one ``explanations.pathwise`` entry: bias share per row, paths, W^path maps."""
    from ..blocks import MAX_TABLE_ROWS, Cell, Figures, Paragraph, Table
    from ..format import fmt_estimate, fmt_number
    from .explanations import _nested_grid

    refused = entry.get("refused")
    if isinstance(refused, str) and refused:
        return [Paragraph(f"Pathwise explanation not run: {refused}", cls="muted")]
    sec = entry.get("pathwise")
    if not isinstance(sec, Mapping):
        return []
    blocks: list[Any] = [Paragraph(
        "Pathwise explanation (Lim, Lee, Park & Choi): at each row this ReLU network is exactly a linear "
        "model, logit = W(x)·x + b(x). The attributions above are W(x)⊙x. The bias share "
        "|b| / (|W·x| + |b|) says how much of the logit comes from the bias rather than the input: "
        "where it is high, weight-based explanations (gradients, gradient × input) say little. The path "
        "follows, from the last hidden layer down to the input, the unit that contributes most to the unit "
        "above it (the paper's top-down decomposition); its W^path is the linear model of that one path.")]
    share = sec.get("bias_share")
    text = f"Bias share of the predicted class's logit, mean over the explained rows: {fmt_estimate(share)}."
    if isinstance(sec.get("max_error"), (int, float)):
        text += (f" The forward pass read from the graph matches the model's output to {fmt_number(sec['max_error'])} "
                 f"(relative); the explained score is the logit before the {_HEADS.get(str(sec.get('head')), 'output')} head.")
    blocks.append(Paragraph(text))
    rows, figures = [], []
    local = [e for e in sec.get("local", []) if isinstance(e, Mapping)]
    for e in local[:MAX_TABLE_ROWS]:
        ru = e.get("runner_up") if isinstance(e.get("runner_up"), Mapping) else {}
        high = isinstance(e.get("bias_share"), (int, float)) and e["bias_share"] >= 0.5
        rows.append([
            Cell(fmt_number(e.get("row"))), Cell(str(e.get("class", ""))),
            Cell(fmt_number(e.get("logit")), "num"), Cell(fmt_number(e.get("weight_part")), "num"),
            Cell(fmt_number(e.get("bias")), "num"),
            Cell(fmt_number(e.get("bias_share"), percent=True), "flag" if high else "num"),
            Cell(_path_text(e.get("path"), e.get("input_feature")), sub=_top_weights((e.get("deep") or {}).get("weights"))),
            Cell(f"{ru.get('class', '')}: {fmt_number(ru.get('bias_share'), percent=True)}" if ru else ""),
        ])
        for key, label in (("thin", "thin path (top unit)"), ("deep", "deep path (to the input)")):
            grid = _nested_grid((e.get(key) or {}).get("weights"))
            if grid is not None and len(figures) < 2 * _MAX_PATH_FIGURES:
                figures.append(ids.chart(
                    "heatmap", f"row {e.get('row')}: {key}",
                    f"Row {e.get('row')}, class {e.get('class')}: W^path of the {label} as a map over the input "
                    f"(b^path = {fmt_number((e.get(key) or {}).get('bias'))}).",
                    {"grid": grid, "image": None}))
    if rows:
        more = len(local) - len(rows)
        blocks.append(Table(
            ["Row", "Class", "Logit", "W·x", "b", "Bias share", "Path (last hidden layer → input)", "Runner-up: bias share"],
            rows, caption="Pathwise linear models of the explained rows",
            note=(f"{more} more rows are in audit.json. " if more > 0 else "") + "A bias share of 50% or more is flagged."))
    if figures:
        blocks.append(Figures(figures, caption="W^path of the greedy path per row: the thin path keeps the top "
                                               "hidden unit only, the deep one the whole path down to the input "
                                               "(red raises the class's logit, blue lowers it)."))
    return blocks


def attention_blocks(entry: Mapping[str, Any], ids: Any) -> list[Any]:
    """Blocks for one ``explanations.attention`` entry: rank agreement and per-token scores."""
    from ..blocks import MAX_TABLE_ROWS, Cell, Paragraph, Table
    from ..format import fmt_estimate, fmt_number

    sec = entry.get("attention")
    if not isinstance(sec, Mapping):
        return []
    agree = sec.get("agreement") if isinstance(sec.get("agreement"), Mapping) else {}
    blocks: list[Any] = [Paragraph(
        f"Attention maps from the graph's {len(sec.get('layers') or [])} attention layer(s) (head mean, the "
        f"{'CLS (first)' if sec.get('query') == 'first' else 'mean'} query) and attention rollout (Abnar & Zuidema "
        "2020), beside token occlusion (probability drop when a token is replaced by id "
        f"{sec.get('mask_id')}). Rank agreement with occlusion (Spearman, mean over rows; 1 = same order): "
        f"last-layer attention {fmt_estimate(agree.get('attention_vs_occlusion'))}, rollout "
        f"{fmt_estimate(agree.get('rollout_vs_occlusion'))}. Low agreement means attention is not a faithful "
        "explanation for this model (Jain & Wallace 2019; Wiegreffe & Pinter 2019).")]
    rows = []
    for e in [e for e in sec.get("local", []) if isinstance(e, Mapping)][:MAX_TABLE_ROWS]:
        tokens = e.get("tokens") or []

        def top(key: str, e: Mapping[str, Any] = e, tokens: list[Any] = tokens) -> str:
            vals = e.get(key) or []
            order = sorted(range(len(vals)), key=lambda j: -(vals[j] or 0.0))[:3]
            return ", ".join(f"#{j} ({tokens[j] if j < len(tokens) else '?'})" for j in order)

        rows.append([Cell(fmt_number(e.get("row"))), Cell(" ".join(str(t) for t in tokens)),
                     Cell(top("rollout")), Cell(top("occlusion")),
                     Cell(fmt_number(e.get("spearman_rollout")), "num")])
    if rows:
        blocks.append(Table(["Row", "Token ids", "Top positions by rollout", "Top positions by occlusion",
                             "Spearman (rollout, occlusion)"], rows,
                            caption="Per-token attention rollout and occlusion (position (token id))"))
    return blocks
