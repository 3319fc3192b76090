"""Pathwise explanation of ReLU networks (Lim, Lee, Park & Choi, "Pathwise Explanation of
ReLU Neural Networks", AISTATS 2024).

At a given input ``x`` a network of linear pieces is exactly a linear model,

    f(x) = W(x) · x + b(x),

fixed by its activation pattern (ReLU(z) = z · φ(z)). This module computes, per row and
per explained class:

- the full local linear model ``W(x)`` ``(d,)`` and ``b(x)``, read from the graph's
  initializers and the numpy forward pass of the linear pieces (:mod:`..model.relu`),
  the forward pass checked against the Evaluator's output for the same rows;
- the **bias share** ``|b(x)| / (|W(x)·x| + |b(x)|)`` in [0, 1]: how much of the logit
  comes from the bias rather than from the input (the paper's warning — weight-based
  explanations such as gradient × input mislead when it is high);
- the **top-down hierarchical decomposition** (the paper's Algorithm 1, after Cheng et
  al. 2023): at the last hidden layer the unit with the largest ``A_L[t, j] · h_j``, then
  in each lower layer the unit with the largest ``(∂h_selected / ∂h_j) · h_j``, down to
  the input. For a path through units ``k_n … k_m`` (layers n ≥ … ≥ m),
  ``W^path = ∂f/∂h_{k_n} · ∏ ∂h_{k_l}/∂h_{k_{l−1}} · ∂h_{k_m}/∂x`` and
  ``b^path = (the same scalar chain) · (h_{k_m} − ∂h_{k_m}/∂x · x)``. The *thin* path
  stops at the top hidden layer (m = n = L−1: one unit's share of the logit), the *deep*
  one goes down to the first hidden layer (m = 1), whose input-space map is the one
  path's linear model.

The explained score is the logit of the class, before the output head (softmax,
sigmoid). A single-logit binary model (sigmoid head or one logit) explains ``z`` for
the positive class and ``−z`` for the negative one (the log-odds of that class).

Everything is batched numpy over rows (no per-row loop); the model is called once,
through the Evaluator, to check the forward pass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from ..errors import ConfigError
from ..model.relu import MAX_DENSE_ENTRIES, ReluNetwork, UnsupportedGraphError, read_relu_network

__all__ = [
    "PathwiseExplanation",
    "LinearModel",
    "pathwise",
    "local_linear_model",
    "network_for",
    "unsupported_reason",
    "TOLERANCE",
]

TOLERANCE = 1e-4
"""Largest allowed gap between the numpy forward pass and the model's own output,
relative to ``1 + |output|``."""


@dataclass(frozen=True)
class LinearModel:
    """The local linear model of the logits at each row: ``f = W x + b``.

    W: ``(n, k, d)``; b: ``(n, k)`` (accumulated from the layer biases, not a residual);
    f: ``(n, k)`` the logits of the numpy forward pass; x: ``(n, d)`` the model inputs
    (float64 of the values the model sees); hidden: unit activations per hidden layer
    ``(n, n_l)``; grads: ``∂f/∂h_l`` ``(n, k, n_l)`` per hidden layer; bias_above: per
    hidden layer ``(n, k)`` the part of ``b`` from the layers above it, so that
    ``(grads[l] * hidden[l]).sum(-1) + bias_above[l] == f`` (units' contributions sum to
    the logit).
    """

    W: np.ndarray
    b: np.ndarray
    f: np.ndarray
    x: np.ndarray
    hidden: list[np.ndarray]
    grads: list[np.ndarray]
    bias_above: list[np.ndarray]
    local: list[np.ndarray]


@dataclass(frozen=True)
class PathwiseExplanation:
    """Pathwise explanations of rows for target classes.

    Attributes
    ----------
    rows: ``(n,)`` row indices; targets: ``(n, t)`` explained class indices (column 0 the
        predicted class, column 1 the runner-up when asked).
    W: ``(n, t, d)`` the local weights; b: ``(n, t)`` the local bias; logit: ``(n, t)``
        ``W·x + b``, the explained class's logit.
    bias_share: ``(n, t)`` ``|b| / (|W·x| + |b|)`` in [0, 1]; higher = the logit leans more
        on the bias and less on the input.
    contributions: ``(n, t, d)`` ``W ⊙ x``, each input's exact share of ``W·x``.
    path_units: ``(n, t, L)`` the greedy path, top-down: one unit index (flat, into that
        layer's activation) per hidden layer from the last to the first, then the input
        feature; layers: the names of those L − 1 hidden layers and ``"input"``.
    thin_W, thin_b: ``(n, t, d)``, ``(n, t)``: the path through the top hidden layer's unit.
    deep_W, deep_b: the same for the whole path down to the first hidden layer.
    input_shape: per-row shape of the model input (the maps reshape to it).
    max_error: the largest relative gap between the numpy forward pass and the model.
    head: the output head the logits feed (``softmax``, ``sigmoid_pair``, ``none`` ...).
    approximate: True for the black-box fallback (``fallback="finite_differences"``):
        ``W`` by central differences of the Evaluator's logits, ``b = f − W·x``, no paths
        (``path_units`` has no columns, thin / deep maps are NaN).
    """

    rows: np.ndarray
    targets: np.ndarray
    W: np.ndarray
    b: np.ndarray
    logit: np.ndarray
    bias_share: np.ndarray
    path_units: np.ndarray
    layers: list[str]
    layer_shapes: list[list[int]]
    thin_W: np.ndarray
    thin_b: np.ndarray
    deep_W: np.ndarray
    deep_b: np.ndarray
    x: np.ndarray
    input_shape: tuple[int, ...]
    max_error: float
    head: str
    params: dict[str, Any] = field(default_factory=dict)
    approximate: bool = False

    @property
    def contributions(self) -> np.ndarray:
        return self.W * self.x[:, None, :]

    @property
    def weight_part(self) -> np.ndarray:
        """``(n, t)`` ``W·x``."""
        return np.einsum("ntd,nd->nt", self.W, self.x)


# ------------------------------------------------------------------------------ the network
@functools.lru_cache(maxsize=8)
def _cached_network(path: str, sha256: str, output: str, max_dense: int) -> ReluNetwork:
    from ..model.loader import strip_zipmap

    proto = onnx.load(path)
    strip_zipmap(proto)
    return read_relu_network(proto, output=output, max_dense_entries=max_dense)


def network_for(evaluator: Any, *, max_dense_entries: int = MAX_DENSE_ENTRIES) -> ReluNetwork:
    """The ReLU network behind an Evaluator's model and output, read once per file.

    Raises UnsupportedGraphError when the graph is not a chain of linear pieces or the
    data is not bound as one float tensor input.
    """
    model, space = evaluator.model, evaluator.space
    if space.layout == "columns" or len(space.inputs) != 1:
        raise UnsupportedGraphError(
            "The pathwise method needs the model to take one float tensor input; this model takes "
            f"{len(space.inputs)} inputs, one per column; use a perturbation method instead.")
    if bool(np.any(space.categorical_mask)):
        raise UnsupportedGraphError("The pathwise method differentiates every input; this model has categorical "
                                    "(string) inputs; use a perturbation method instead.")
    net = _cached_network(model.path, model.sha256, model.output, int(max_dense_entries))
    if net.input_name != space.inputs[0].name:
        raise UnsupportedGraphError(f"The chain to output {model.output!r} starts at {net.input_name!r}, not at the "
                                    f"bound input {space.inputs[0].name!r}.")
    return net


def unsupported_reason(evaluator: Any) -> str | None:
    """None when the pathwise method can read the model, else the reason it cannot."""
    try:
        net = network_for(evaluator)
    except UnsupportedGraphError as exc:
        return str(exc)
    if not net.activations:
        return "the graph has no ReLU, LeakyReLU or MaxPool unit: it is a linear model, its weights are the explanation"
    return None


def _class_map(net: ReluNetwork, evaluator: Any) -> np.ndarray:
    """``(n_classes, n_logits)``: class scores from the network's logits."""
    k = net.n_logits
    if k == 1 and evaluator.task == "classification":
        return np.array([[-1.0], [1.0]])
    return np.eye(k)


# ------------------------------------------------------------------------------ linear model
def _mm(g: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``g @ A`` for ``g`` ``(n, k, m)`` as one 2-D BLAS product (numpy's stacked matmul is ~15x slower)."""
    return (g.reshape(-1, g.shape[-1]) @ A).reshape(*g.shape[:-1], A.shape[1])


def _back_through(act_local: np.ndarray, kind: str, g: np.ndarray, n_in: int) -> np.ndarray:
    """``∂/∂z`` from ``∂/∂h`` through one activation: ``g`` ``(n, k, n_out)`` -> ``(n, k, n_in)``."""
    if kind != "max_pool":
        return g * act_local[:, None, :]
    n, k, n_out = g.shape
    out = np.zeros((n, k, n_in))
    ni = np.arange(n)[:, None, None]
    ki = np.arange(k)[None, :, None]
    np.add.at(out, (ni, ki, act_local[:, None, :]), g)
    return out


def local_linear_model(net: ReluNetwork, x: np.ndarray, class_map: np.ndarray | None = None) -> LinearModel:
    """``W(x)``, ``b(x)`` for rows ``x`` ``(n, *input_shape)`` — batched, no per-row loop.

    Backward accumulation through the layers: ``∂f/∂h_{l−1} = ∂f/∂z_l · A_l`` with
    ``∂f/∂z_l = ∂f/∂h_l ⊙ φ_l`` (MaxPool: scattered to the selected inputs), and
    ``b = c_L + Σ_l ∂f/∂z_l · c_l``. Memory: ``n · k · max(n_l)`` floats per call.
    """
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    f, hs, zs, locs = net.forward(x)
    cm = np.eye(net.n_logits) if class_map is None else class_map
    f = f @ cm.T
    n = x.shape[0]
    A_L = cm @ net.layers[-1].A
    g = np.broadcast_to(A_L, (n, *A_L.shape)).copy()
    b = np.broadcast_to(cm @ net.layers[-1].c, (n, cm.shape[0])).copy()
    grads: list[np.ndarray] = [None] * len(hs)  # type: ignore[list-item]
    above: list[np.ndarray] = [None] * len(hs)  # type: ignore[list-item]
    for l in range(len(hs) - 1, -1, -1):
        grads[l] = g
        above[l] = b.copy()
        layer, act = net.layers[l], net.activations[l]
        dz = _back_through(locs[l], act.kind, g, zs[l].shape[1])
        b = b + dz @ layer.c
        g = _mm(dz, layer.A)
    return LinearModel(W=g, b=b, f=f, x=x, hidden=hs, grads=grads, bias_above=above, local=locs)


def _unit_row(net: ReluNetwork, l: int, local: np.ndarray, units: np.ndarray) -> np.ndarray:
    """``∂h_l[units] / ∂h_{l−1}`` ``(n, n_{l−1})`` for one unit per row (l counts hidden layers from 0)."""
    act, layer = net.activations[l], net.layers[l]
    if act.kind == "max_pool":
        pre = np.take_along_axis(local, units[:, None], axis=1)[:, 0]
        return layer.A[pre]
    slope = np.take_along_axis(local, units[:, None], axis=1)
    return layer.A[units] * slope


def _unit_input_map(net: ReluNetwork, lm: LinearModel, l: int, units: np.ndarray) -> np.ndarray:
    """``∂h_l[units] / ∂x`` ``(n, d)`` for one unit per row, by a backward pass."""
    g = _unit_row(net, l, lm.local[l], units)[:, None, :]
    for m in range(l - 1, -1, -1):
        act, layer = net.activations[m], net.layers[m]
        g = _mm(_back_through(lm.local[m], act.kind, g, layer.A.shape[0]), layer.A)
    return g[:, 0, :]


def _paths(net: ReluNetwork, lm: LinearModel, target: np.ndarray) -> tuple[np.ndarray, ...]:
    """Algorithm 1 for one target per row ``(n,)``: units, thin and deep W / b."""
    n = target.shape[0]
    rows = np.arange(n)
    L1 = len(lm.hidden)
    top = lm.grads[L1 - 1][rows, target]  # (n, n_{L-1}): A_L[t, :]
    contrib = top * lm.hidden[L1 - 1]
    k = contrib.argmax(axis=1)
    units = [k]
    scale = top[rows, k]
    thin_W = scale[:, None] * _unit_input_map(net, lm, L1 - 1, k)
    thin_h = lm.hidden[L1 - 1][rows, k]
    thin_b = scale * thin_h - (thin_W * lm.x).sum(axis=1)
    deep_scale = scale
    for l in range(L1 - 1, 0, -1):  # from hidden layer l to the one below it
        row = _unit_row(net, l, lm.local[l], units[-1])
        k_next = (row * lm.hidden[l - 1]).argmax(axis=1)
        deep_scale = deep_scale * row[rows, k_next]
        units.append(k_next)
    row0 = _unit_row(net, 0, lm.local[0], units[-1])  # ∂h_1[k_1]/∂x
    units.append((row0 * lm.x).argmax(axis=1))
    deep_W = deep_scale[:, None] * row0
    deep_h = lm.hidden[0][rows, units[-2]]
    deep_b = deep_scale * deep_h - (deep_W * lm.x).sum(axis=1)
    return np.stack(units, axis=1), thin_W, thin_b, deep_W, deep_b


def _chunk(net: ReluNetwork, x: np.ndarray, cm: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    """W, b, path units, thin W/b, deep W/b of some rows for their targets ``(m, t)``."""
    lm = local_linear_model(net, x, cm)
    ridx = np.arange(x.shape[0])[:, None]
    parts = [_paths(net, lm, targets[:, j]) for j in range(targets.shape[1])]  # the 1-2 targets, not rows
    return (lm.W[ridx, targets], lm.b[ridx, targets], *(np.stack([p[i] for p in parts], axis=1) for i in range(5)))


_MAX_FD_ENTRIES = 2**26


def _finite_differences(evaluator: Any, x: np.ndarray, targets: np.ndarray, *, rows: np.ndarray | None,
                        step: float, reason: str) -> PathwiseExplanation:
    """The black-box fallback: ``W`` by central differences, ``b = f − W·x`` (2·d + 1 rows per row, one call)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    if 2 * n * d * d > _MAX_FD_ENTRIES:
        raise UnsupportedGraphError(
            f"The finite-difference fallback needs {2 * n * d * d} input values for {n} rows of {d} features, over "
            f"the limit of {_MAX_FD_ENTRIES}; explain fewer rows or use a perturbation method.")
    targets = np.asarray(targets, dtype=np.intp)
    if targets.ndim == 1:
        targets = targets[:, None]
    eye = np.eye(d) * step
    pert = np.concatenate([flat[:, None, :] + eye, flat[:, None, :] - eye], axis=1)  # (n, 2d, d)
    scores = evaluator.logits(np.concatenate([x, pert.reshape(n * 2 * d, *x.shape[1:])]))
    f0, fp = scores[:n], scores[n:].reshape(n, 2, d, -1)
    J = np.moveaxis((fp[:, 0] - fp[:, 1]) / (2 * step), 1, 2)  # (n, k, d)
    ridx = np.arange(n)[:, None]
    W = J[ridx, targets]
    logit = f0[ridx, targets]
    wx = np.einsum("ntd,nd->nt", W, flat)
    b = logit - wx
    denom = np.abs(wx) + np.abs(b)
    share = np.where(denom > 0, np.abs(b) / np.where(denom > 0, denom, 1.0), 0.0)
    t = targets.shape[1]
    nan = np.full((n, t), np.nan)
    return PathwiseExplanation(
        rows=np.arange(n) if rows is None else np.asarray(rows), targets=targets, W=W, b=b, logit=logit,
        bias_share=share, path_units=np.zeros((n, t, 0), dtype=np.intp), layers=[], layer_shapes=[],
        thin_W=np.full_like(W, np.nan), thin_b=nan, deep_W=np.full_like(W, np.nan), deep_b=nan.copy(), x=flat,
        input_shape=tuple(evaluator.space.row_shape), max_error=float("nan"), head="none",
        params={"score": evaluator.logit_source, "fallback": "finite_differences", "step": step,
                "approximate": True, "reason": reason},
        approximate=True,
    )


def pathwise(
    evaluator: Any,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    tolerance: float = TOLERANCE,
    max_dense_entries: int = MAX_DENSE_ENTRIES,
    fallback: str | None = None,
    step: float = 1e-2,
) -> PathwiseExplanation:
    """Pathwise explanations of rows ``x`` ``(n, *row_shape)`` for ``targets`` ``(n, t)``.

    The model is called once, through ``evaluator``, on ``x``: its output must match the
    numpy forward pass of the linear pieces to ``tolerance · (1 + |output|)``.
    ``fallback="finite_differences"``: when the graph cannot be read, the local linear
    model by central differences (``step``) of the Evaluator's logits instead, flagged
    ``approximate`` (exact up to rounding inside a linear region of a piecewise-linear
    model; a first-order Taylor model otherwise), without paths.

    Raises
    ------
    UnsupportedGraphError when the graph is not a supported ReLU network, or when the
    numpy forward pass does not reproduce the model's output (then the method would
    explain another function).
    """
    if fallback not in (None, "finite_differences"):
        raise ConfigError(f"The 'fallback' parameter must be None or 'finite_differences'; got {fallback!r}.")
    try:
        net = network_for(evaluator, max_dense_entries=max_dense_entries)
    except UnsupportedGraphError as exc:
        if fallback is None:
            raise
        return _finite_differences(evaluator, x, targets, rows=rows, step=step, reason=str(exc))
    if not net.activations:
        raise UnsupportedGraphError("The graph has no ReLU, LeakyReLU or MaxPool unit; it is a linear model and its "
                                    "weights are the explanation.")
    feeds = evaluator.space.feeds(np.asarray(x))
    x_in = np.asarray(feeds[net.input_name], dtype=np.float64).reshape(x.shape[0], -1)
    targets = np.asarray(targets, dtype=np.intp)
    if targets.ndim == 1:
        targets = targets[:, None]
    cm = _class_map(net, evaluator)
    if targets.size and (targets.min() < 0 or targets.max() >= cm.shape[0]):
        raise ConfigError(f"Pathwise targets must be class indices in [0, {cm.shape[0]}).")
    raw = evaluator.raw(x)  # the one model call: the check that numpy reproduces the model
    f_net = net.forward(x_in)[0]
    mine = net.head_output(f_net)
    if mine.shape != raw.shape:
        raise UnsupportedGraphError(f"The numpy forward pass gives {mine.shape[1]} output columns, the model "
                                    f"{raw.shape[1]}; the pathwise method cannot read this graph.")
    err = float(np.max(np.abs(mine - raw) / (1.0 + np.abs(raw)))) if raw.size else 0.0
    if not err <= tolerance:
        raise UnsupportedGraphError(
            f"The numpy forward pass of the linear pieces differs from the model's output by {err:.2g} "
            f"(relative), over the {tolerance:g} allowed; the pathwise method would explain another function, "
            "so it is refused for this model.")
    n, t = targets.shape
    # Rows in chunks so that the n · k · width gradients stay under max_chunk_bytes
    # (a loop over chunks, not rows; every row's numbers are independent of the chunking).
    width = max([cm.shape[0] * max(l.A.shape) for l in net.layers] + [1])
    step = max(1, int(getattr(evaluator, "max_chunk_bytes", 64 * 1024**2)) // (8 * 4 * width))
    chunks = [_chunk(net, x_in[i:i + step], cm, targets[i:i + step]) for i in range(0, n, step)]
    W, b, units, thin_W, thin_b, deep_W, deep_b = (np.concatenate([c[j] for c in chunks]) for j in range(7))
    wx = np.einsum("ntd,nd->nt", W, x_in)
    denom = np.abs(wx) + np.abs(b)
    share = np.where(denom > 0, np.abs(b) / np.where(denom > 0, denom, 1.0), 0.0)
    names = [a.name for a in net.activations][::-1] + ["input"]
    shapes = [list(a.out_shape) for a in net.activations][::-1] + [list(net.input_shape)]
    return PathwiseExplanation(
        rows=np.arange(n) if rows is None else np.asarray(rows),
        targets=targets, W=W, b=b, logit=wx + b, bias_share=share,
        path_units=units, layers=names, layer_shapes=shapes,
        thin_W=thin_W, thin_b=thin_b, deep_W=deep_W, deep_b=deep_b,
        x=x_in, input_shape=tuple(evaluator.space.row_shape), max_error=err, head=net.head,
        params={"score": "logit", "head": net.head, "tolerance": tolerance,
                "hidden_layers": len(net.activations), "ops": sorted(set(net.ops))},
    )


# ------------------------------------------------------------------------------ audit.json
def pathwise_refusal(evaluator: Any, x: np.ndarray, targets: np.ndarray) -> str | None:
    """None when :func:`pathwise` runs on these rows, else the reason it refuses."""
    try:
        pathwise(evaluator, x, targets)
    except UnsupportedGraphError as exc:
        return str(exc)
    return None


def _unit_label(unit: int, shape: list[int]) -> list[int]:
    return [int(v) for v in np.unravel_index(int(unit), tuple(shape))] if len(shape) > 1 else [int(unit)]


def pathwise_section(ctx: Any, row_ids: np.ndarray, targets: np.ndarray, heatmap_rows: int) -> Any:
    """``explanations.pathwise.pathwise`` of audit.json for the explained rows.

    Per row and explained class (predicted, runner-up): the logit split into ``W·x`` and
    ``b``, the bias share, the greedy path (unit per layer, top-down, with its position in
    the layer's tensor), and the thin and deep paths' ``b^path`` and ``W^path`` (images:
    maps of the input's shape for the first ``heatmap_rows`` rows; tabular: one value per
    feature). ``bias_share``: its mean over rows for the predicted class, with a Student-t
    interval over rows. Returns a :class:`~audit_engine.results.explanations.Pathwise`.
    """
    from ..results.explanations import Grid, HiddenLayer, PathPart, PathStep, Pathwise, PathwiseClass, PathwiseLocal
    from ..stats import Estimate
    from ._common import mean_interval

    pw = pathwise(ctx.evaluator, ctx.rows[row_ids], targets, rows=row_ids)
    space = ctx.space
    image = space.is_image
    names = space.feature_names
    classes = ctx.classes if ctx.task == "classification" else None
    shape = tuple(space.row_shape)

    def label(c: int) -> Any:
        v = classes[c] if classes else c
        return v.item() if isinstance(v, np.generic) else v

    def vec(v: np.ndarray, with_map: bool) -> Any:
        if image:
            return Grid(v.reshape(shape)) if with_map else None
        return {n: float(a) for n, a in zip(names, v, strict=True)}

    def one(i: int, j: int, with_map: bool) -> dict[str, Any]:
        units = pw.path_units[i, j]
        return dict(
            class_=label(int(pw.targets[i, j])),
            logit=float(pw.logit[i, j]),
            weight_part=float(pw.weight_part[i, j]),
            bias=float(pw.b[i, j]),
            bias_share=float(pw.bias_share[i, j]),
            weights=None if image else vec(pw.W[i, j], True),
            path=tuple(PathStep(layer=name, unit=int(u), index=tuple(_unit_label(int(u), s)))
                       for name, u, s in zip(pw.layers, units, pw.layer_shapes, strict=True)),
            input_feature=names[int(units[-1])],
            thin=PathPart(bias=float(pw.thin_b[i, j]), weight_part=float(pw.thin_W[i, j] @ pw.x[i]),
                          weights=vec(pw.thin_W[i, j], with_map)),
            deep=PathPart(bias=float(pw.deep_b[i, j]), weight_part=float(pw.deep_W[i, j] @ pw.x[i]),
                          weights=vec(pw.deep_W[i, j], with_map)),
        )

    local = []
    for i, r in enumerate(pw.rows.tolist()):  # the few explained rows
        runner = PathwiseClass(**one(i, 1, i < heatmap_rows)) if pw.targets.shape[1] > 1 else None
        local.append(PathwiseLocal(row=int(r), **one(i, 0, i < heatmap_rows), runner_up=runner))
    share = pw.bias_share[:, 0]
    est = np.clip(mean_interval(share, axis=0, confidence=ctx.config.confidence), 0.0, 1.0)
    return Pathwise(
        score="logit",
        head=pw.head,
        max_error=float(pw.max_error),
        hidden_layers=tuple(HiddenLayer(name=n, shape=tuple(s))
                            for n, s in zip(pw.layers[:-1], pw.layer_shapes[:-1], strict=True)),
        bias_share=Estimate(*est.astype(float)),
        local=tuple(local),
    )
