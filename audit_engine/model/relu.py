"""Read a ReLU network out of an ONNX graph as a chain of affine layers and activations.

A network made of linear pieces is, at a given input, exactly a linear model fixed by
its activation pattern (Lim, Lee, Park & Choi, "Pathwise Explanation of ReLU Neural
Networks"). This module reads such a graph into

    x = h_0 → z_1 = A_1 h_0 + c_1 → h_1 = N_1(z_1) → … → f = A_L h_{L−1} + c_L

where every ``A_l`` is a dense matrix (consecutive affine operators — Gemm, MatMul, Add,
Sub, Mul, Div by constants, Conv, BatchNormalization, Flatten, Reshape, Transpose,
Identity, Dropout, Cast, skl2onnx's Scaler, GlobalAveragePool — composed into one) and
every ``N_l`` is piecewise linear: ReLU, LeakyReLU (elementwise slopes) or MaxPool (a
selection of one input per output). A Softmax, LogSoftmax or Sigmoid at the very end
(and skl2onnx's ``[1 − σ(z), σ(z)]`` pair) is the output head: ``f`` are the logits
before it.

The dense matrices are built once per model by applying each affine block to a batch of
basis vectors (float64); a block's matrix has ``(inputs + 1) × outputs`` entries, which
is what bounds this approach (``max_dense_entries``, default 2**24 ≈ 128 MiB): a
1×8×8 digit CNN needs ~1 M entries, a 3×224×224 image network would need billions and
is refused with a message saying so.

This reads the graph only; it does not evaluate the model. The numpy forward pass
(:meth:`ReluNetwork.forward`) must be checked against the Evaluator by the caller
(``explain.pathwise`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from ..errors import ModelError
from .graph import graph_constants

__all__ = [
    "UnsupportedGraphError",
    "AffineLayer",
    "Activation",
    "ReluNetwork",
    "read_relu_network",
    "SUPPORTED_OPS",
    "MAX_DENSE_ENTRIES",
]

MAX_DENSE_ENTRIES = 2**24

_AFFINE_OPS = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Conv", "BatchNormalization", "Flatten", "Reshape",
    "Transpose", "Identity", "Dropout", "Cast", "Scaler", "GlobalAveragePool", "Squeeze", "Unsqueeze",
}
_ACTIVATION_OPS = {"Relu", "LeakyRelu", "MaxPool"}
_HEAD_OPS = {"Softmax", "LogSoftmax", "Sigmoid"}
SUPPORTED_OPS = tuple(sorted(_AFFINE_OPS | _ACTIVATION_OPS | _HEAD_OPS))


class UnsupportedGraphError(ModelError):
    """The graph is not a chain of linear pieces the pathwise method can read."""


@dataclass(frozen=True)
class AffineLayer:
    """``z = A @ h + c`` on flattened tensors.

    A: ``(n_out, n_in)`` float64; c: ``(n_out,)``; out_shape: the per-row shape of ``z``.
    ops: the ONNX operators composed into it.
    """

    A: np.ndarray
    c: np.ndarray
    out_shape: tuple[int, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Activation:
    """A piecewise-linear unit layer ``h = N(z)``.

    kind: ``relu`` | ``leaky_relu`` | ``max_pool``; name: the ONNX node's name.
    alpha: LeakyReLU's negative slope; windows: MaxPool's ``(n_out, K)`` flat input
    indices per output (−1 for padding); out_shape: the per-row shape of ``h``.
    """

    kind: str
    name: str
    out_shape: tuple[int, ...]
    alpha: float = 0.0
    windows: np.ndarray | None = None

    def apply(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(h, local)`` for pre-activations ``z`` ``(n, n_in)``.

        ``local`` is the activation's local Jacobian: slopes ``(n, n_in)`` for ReLU /
        LeakyReLU (``h = local * z``), selected input indices ``(n, n_out)`` for MaxPool
        (``h = z[local]``).
        """
        if self.kind == "relu":
            slope = (z > 0).astype(np.float64)
            return z * slope, slope
        if self.kind == "leaky_relu":
            slope = np.where(z > 0, 1.0, self.alpha)
            return z * slope, slope
        assert self.windows is not None
        padded = np.concatenate([z, np.full((z.shape[0], 1), -np.inf)], axis=1)
        cand = padded[:, self.windows]  # -1 indexes the -inf column
        pick = np.take_along_axis(np.broadcast_to(self.windows, cand.shape), cand.argmax(axis=2)[..., None], axis=2)[..., 0]
        return np.take_along_axis(z, pick, axis=1), pick


@dataclass(frozen=True)
class ReluNetwork:
    """A ReLU network read from an ONNX graph (see the module docstring).

    Attributes
    ----------
    layers: the L affine layers; activations: the L − 1 unit layers between them.
    input_name, input_shape: the model input and its per-row shape.
    output_name: the graph output the chain ends in; head: ``none`` | ``softmax`` |
        ``log_softmax`` | ``sigmoid`` | ``sigmoid_pair`` (skl2onnx binary) — what turns
        the logits ``f`` into that output.
    """

    layers: tuple[AffineLayer, ...]
    activations: tuple[Activation, ...]
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str
    head: str
    ops: tuple[str, ...] = field(default=())

    @property
    def n_logits(self) -> int:
        return int(self.layers[-1].A.shape[0])

    @property
    def hidden_sizes(self) -> list[int]:
        """Units per hidden layer, first to last."""
        return [int(np.prod(a.out_shape)) for a in self.activations]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """The numpy forward pass on rows ``x`` ``(n, *input_shape)``.

        Returns the logits ``f`` ``(n, k)``, the unit activations ``h_1 … h_{L−1}`` (each
        ``(n, n_l)``), the pre-activations ``z_1 … z_{L−1}`` and the activations' local
        Jacobians (see :meth:`Activation.apply`).
        """
        h = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        hs, zs, locs = [], [], []
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            z = h @ layer.A.T + layer.c
            h, loc = act.apply(z)
            zs.append(z)
            hs.append(h)
            locs.append(loc)
        last = self.layers[-1]
        return h @ last.A.T + last.c, hs, zs, locs

    def head_output(self, f: np.ndarray) -> np.ndarray:
        """The graph output from logits ``f`` ``(n, k)``, as probabilities when the head gives them."""
        if self.head == "softmax":
            e = np.exp(f - f.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.head == "log_softmax":
            m = f.max(axis=1, keepdims=True)
            return f - m - np.log(np.exp(f - m).sum(axis=1, keepdims=True))
        if self.head == "sigmoid":
            return 1.0 / (1.0 + np.exp(-f))
        if self.head == "sigmoid_pair":
            p = 1.0 / (1.0 + np.exp(-f[:, :1]))
            return np.hstack([1.0 - p, p])
        return f


# ------------------------------------------------------------------------------ graph reading
def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """The graph's constants, float ones in float64 (the Jacobians are computed in float64)."""
    return {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in graph_constants(graph).items()}


def _chain(model: onnx.ModelProto, output: str) -> tuple[list[onnx.NodeProto], str, str, dict[str, np.ndarray]]:
    """The nodes from the graph input to ``output``, the input name, the head kind."""
    graph = model.graph
    consts = _constants(graph)
    producer = {o: n for n in graph.node for o in n.output}
    inputs = {i.name for i in graph.input} - set(consts)
    unsupported: list[str] = []

    def dynamic(node: onnx.NodeProto) -> list[str]:
        return [i for i in node.input if i and i not in consts]

    head = "none"
    cur = output
    node = producer.get(cur)
    if node is not None and node.op_type == "Concat":  # skl2onnx binary: [1 - sigmoid(z), sigmoid(z)]
        dyn = dynamic(node)
        sig = producer.get(dyn[-1]) if len(dyn) == 2 else None
        sub = producer.get(dyn[0]) if len(dyn) == 2 else None
        if (sig is not None and sig.op_type == "Sigmoid" and sub is not None and sub.op_type == "Sub"
                and dynamic(sub) == [dyn[-1]] and sub.input[0] in consts
                and np.allclose(consts[sub.input[0]], 1.0)):
            head, cur = "sigmoid_pair", sig.input[0]
    elif node is not None and node.op_type in _HEAD_OPS:
        if node.op_type in ("Softmax", "LogSoftmax") and int(_attrs(node).get("axis", -1)) not in (-1, 1):
            unsupported.append(f"{node.op_type}(axis={_attrs(node)['axis']})")
        head = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid"}[node.op_type]
        cur = node.input[0]
    nodes: list[onnx.NodeProto] = []
    seen_inputs: set[str] = set()
    while cur not in inputs:
        node = producer.get(cur)
        if node is None:
            raise UnsupportedGraphError(f"Tensor {cur!r} has no producer in the graph; the pathwise method needs a "
                                        "chain of nodes from the model input to its output.")
        dyn = dynamic(node)
        if node.op_type not in _AFFINE_OPS | _ACTIVATION_OPS:
            unsupported.append(node.op_type)
        elif len(dyn) != 1:
            unsupported.append(f"{node.op_type} of {len(dyn)} computed tensors (a branch, e.g. a residual)")
        nodes.append(node)
        if not dyn:
            break
        cur = dyn[0]
        seen_inputs.add(cur)
    if unsupported:
        uniq = list(dict.fromkeys(unsupported))
        raise UnsupportedGraphError(
            "The pathwise method reads networks of linear pieces only; this graph also holds "
            f"{', '.join(uniq)} (supported: {', '.join(SUPPORTED_OPS)}); use a perturbation method instead."
        )
    return nodes[::-1], cur, head, consts


# ------------------------------------------------------------------------------ numpy operators
def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: dict[str, Any]) -> np.ndarray:
    """ONNX Conv (NOTSET/VALID/SAME padding) on a batch ``(n, C, *spatial)`` via im2col."""
    n, c = x.shape[:2]
    nd = x.ndim - 2
    k = w.shape[2:]
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    group = int(a.get("group", 1))
    pads = list(a.get("pads", [0] * (2 * nd)))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nd)
        for i in range(nd):
            out = -(-x.shape[2 + i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 - x.shape[2 + i])
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads[i], pads[nd + i] = lo, total - lo
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    out_sp = [(xp.shape[2 + i] - (k[i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(nd)]
    # patches: (n, C, *k, *out_sp)
    patches = np.empty((n, c, *k, *out_sp), dtype=x.dtype)
    for kidx in np.ndindex(*k):  # a loop over kernel offsets (9 for 3x3), not over rows
        sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + (out_sp[i] - 1) * strides[i] + 1, strides[i])
                   for i in range(nd))
        patches[(slice(None), slice(None), *kidx)] = xp[(slice(None), slice(None), *sl)]
    m = w.shape[0]
    cg, mg = c // group, m // group
    outs = []
    for g in range(group):
        pg = patches[:, g * cg:(g + 1) * cg].reshape(n, cg * int(np.prod(k)), -1)
        wg = w[g * mg:(g + 1) * mg].reshape(mg, -1)
        outs.append(np.einsum("ok,nkp->nop", wg, pg))
    y = np.concatenate(outs, axis=1).reshape(n, m, *out_sp)
    if b is not None:
        y = y + b.reshape(1, m, *([1] * nd))
    return y


def _pool_windows(shape: tuple[int, ...], a: dict[str, Any], name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """MaxPool windows ``(n_out, K)`` of flat indices into a ``(C, *spatial)`` tensor (−1: padding)."""
    c, *sp = shape
    nd = len(sp)
    k = list(a["kernel_shape"])
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    pads = list(a.get("pads", [0] * (2 * nd)))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto != "NOTSET" and auto != "VALID":
        raise UnsupportedGraphError(f"MaxPool {name!r} uses auto_pad={auto}; the pathwise method reads explicit pads only.")
    if int(a.get("storage_order", 0)) != 0:
        raise UnsupportedGraphError(f"MaxPool {name!r} uses storage_order=1; re-export with the default.")
    ceil = int(a.get("ceil_mode", 0))
    out_sp = []
    for i in range(nd):
        span = sp[i] + pads[i] + pads[nd + i] - ((k[i] - 1) * dil[i] + 1)
        out_sp.append((-(-span // strides[i]) if ceil else span // strides[i]) + 1)
    index = np.arange(c * int(np.prod(sp))).reshape(c, *sp)
    wins = np.full((c, *out_sp, int(np.prod(k))), -1, dtype=np.intp)
    for j, kidx in enumerate(np.ndindex(*k)):
        coords = [np.arange(out_sp[i]) * strides[i] + kidx[i] * dil[i] - pads[i] for i in range(nd)]
        grids = np.meshgrid(*coords, indexing="ij")
        valid = np.ones(grids[0].shape, dtype=bool)
        for i in range(nd):
            valid &= (grids[i] >= 0) & (grids[i] < sp[i])
        clipped = [np.clip(g, 0, sp[i] - 1) for i, g in enumerate(grids)]
        vals = index[(slice(None), *clipped)]
        wins[..., j] = np.where(valid[None], vals, -1)
    return wins.reshape(-1, wins.shape[-1]), (c, *out_sp)


def _affine(node: onnx.NodeProto, x: np.ndarray, consts: dict[str, np.ndarray]) -> np.ndarray:
    """Apply one affine ONNX operator to a batch ``x`` ``(n, *shape)`` (the running tensor)."""
    op, a = node.op_type, _attrs(node)
    label = node.name or (node.output[0] if node.output else op)
    inp = [i for i in node.input]

    def const(i: int) -> np.ndarray | None:
        return consts.get(inp[i]) if len(inp) > i and inp[i] else None

    if op in ("Identity", "Dropout", "Cast"):
        if op == "Cast" and int(a.get("to", 1)) not in (1, 10, 11):
            raise UnsupportedGraphError(f"Cast {label!r} casts to a non-float type; the pathwise method needs float tensors.")
        return x
    if op == "Gemm":
        if int(a.get("transA", 0)) or inp[0] in consts:
            raise UnsupportedGraphError(f"Gemm {label!r} multiplies from the left or transposes its input; not a layer the pathwise method reads.")
        w = const(1)
        w = w.T if int(a.get("transB", 0)) else w
        y = float(a.get("alpha", 1.0)) * (x.reshape(x.shape[0], -1) @ w)
        bias = const(2)
        return y + float(a.get("beta", 1.0)) * bias if bias is not None else y
    if op == "MatMul":
        w = const(1)
        if w is None or w.ndim not in (1, 2) or x.ndim < 2:
            raise UnsupportedGraphError(f"MatMul {label!r} is not (running tensor) @ (constant matrix).")
        return (x @ w)[..., None] if w.ndim == 1 else x @ w  # a vector: one output column, kept 2-D
    if op in ("Add", "Sub", "Mul", "Div"):
        ci = 1 if inp[0] not in consts else 0
        c = consts[inp[ci]]
        if c.ndim > x.ndim:
            raise UnsupportedGraphError(f"{op} {label!r} broadcasts the batch dimension.")
        if c.ndim == x.ndim and c.shape[0] != 1:
            raise UnsupportedGraphError(f"{op} {label!r} adds a per-batch constant.")
        if op == "Add":
            return x + c
        if op == "Mul":
            return x * c
        if op == "Sub":
            return x - c if ci == 1 else c - x
        if ci == 0:
            raise UnsupportedGraphError(f"Div {label!r} divides by the running tensor; not linear.")
        return x / c
    if op == "Scaler":
        off = np.asarray(a.get("offset", [0.0]), dtype=np.float64)
        scale = np.asarray(a.get("scale", [1.0]), dtype=np.float64)
        return (x - off) * scale
    if op == "Conv":
        return _conv(x, const(1), const(2), a)
    if op == "BatchNormalization":
        scale, bias, mean, var = const(1), const(2), const(3), const(4)
        eps = float(a.get("epsilon", 1e-5))
        sh = (1, -1) + (1,) * (x.ndim - 2)
        return (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * scale.reshape(sh) + bias.reshape(sh)
    if op == "Flatten":
        axis = int(a.get("axis", 1))
        if axis != 1:
            raise UnsupportedGraphError(f"Flatten {label!r} uses axis={axis}; the pathwise method needs axis=1.")
        return x.reshape(x.shape[0], -1)
    if op == "Reshape":
        shape = [int(s) for s in consts[inp[1]].reshape(-1)]
        rest = [x.shape[1 + i] if s == 0 else s for i, s in enumerate(shape[1:])]
        return x.reshape(x.shape[0], *rest)
    if op == "Transpose":
        perm = list(a.get("perm", range(x.ndim)[::-1]))
        if perm[0] != 0:
            raise UnsupportedGraphError(f"Transpose {label!r} moves the batch dimension.")
        return np.transpose(x, perm)
    if op == "GlobalAveragePool":
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    if op in ("Squeeze", "Unsqueeze"):
        axes = a.get("axes")
        if axes is None and len(inp) > 1:
            axes = [int(v) for v in consts[inp[1]].reshape(-1)]
        axes = [int(v) % (x.ndim if op == "Squeeze" else x.ndim + len(axes)) for v in (axes or [])]
        if 0 in axes or (op == "Squeeze" and not axes):
            raise UnsupportedGraphError(f"{op} {label!r} touches the batch dimension.")
        return np.squeeze(x, axis=tuple(axes)) if op == "Squeeze" else np.expand_dims(x, axis=tuple(axes))
    raise UnsupportedGraphError(f"Operator {op} is not one the pathwise method reads.")  # pragma: no cover


def read_relu_network(
    model: onnx.ModelProto,
    *,
    output: str | None = None,
    max_dense_entries: int = MAX_DENSE_ENTRIES,
) -> ReluNetwork:
    """Read the chain of linear pieces from the model input to ``output``.

    Parameters
    ----------
    model: the ONNX model (ZipMap already stripped).
    output: the graph output the audit uses (default: the first).
    max_dense_entries: the most entries one dense layer matrix may hold.

    Raises
    ------
    UnsupportedGraphError naming every unsupported operator, a branch (two computed
    inputs to one node), several model inputs, or a layer too large to hold densely.
    """
    graph = model.graph
    output = output or graph.output[0].name
    nodes, input_name, head, consts = _chain(model, output)
    spec = next((i for i in graph.input if i.name == input_name), None)
    if spec is None:
        raise UnsupportedGraphError(f"The chain to {output!r} does not start at a model input.")
    dims = spec.type.tensor_type.shape.dim
    shape = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in dims[1:])
    if any(s < 1 for s in shape):
        raise UnsupportedGraphError(f"Input {input_name!r} has a symbolic per-row shape {list(shape)}; "
                                    "the pathwise method needs fixed sizes after the batch dimension.")
    layers: list[AffineLayer] = []
    acts: list[Activation] = []
    block: list[onnx.NodeProto] = []

    def close(block_nodes: list[onnx.NodeProto], in_shape: tuple[int, ...]) -> AffineLayer:
        d = int(np.prod(in_shape))
        probe = np.zeros((1, *in_shape))  # shapes first, so no dense block is built past the limit
        out_size = d
        for nd in block_nodes:
            probe = _affine(nd, probe, consts)
            out_size = max(out_size, int(np.prod(probe.shape[1:])))
        if (d + 1) * out_size > max_dense_entries:
            raise UnsupportedGraphError(
                f"The pathwise method holds each linear layer as a dense matrix; the layer ending at "
                f"{(block_nodes[-1].name or block_nodes[-1].op_type) if block_nodes else 'the input'!r} needs "
                f"{(d + 1) * out_size} entries, over the limit of {max_dense_entries}; raise max_dense_entries "
                "or audit this model with a perturbation method.")
        batch = np.concatenate([np.zeros((1, d)), np.eye(d)]).reshape(d + 1, *in_shape)
        for nd in block_nodes:
            batch = _affine(nd, batch, consts)
        out_shape = tuple(batch.shape[1:])
        flat = batch.reshape(d + 1, -1)
        c = flat[0].copy()
        return AffineLayer(A=np.ascontiguousarray((flat[1:] - c).T), c=c, out_shape=out_shape,
                           ops=tuple(n.op_type for n in block_nodes))

    in_shape = shape
    for node in nodes:
        if node.op_type in _ACTIVATION_OPS:
            layer = close(block, in_shape)
            layers.append(layer)
            a = _attrs(node)
            name = node.name or f"{node.op_type}_{len(acts)}"
            if node.op_type == "Relu":
                act = Activation("relu", name, layer.out_shape)
            elif node.op_type == "LeakyRelu":
                act = Activation("leaky_relu", name, layer.out_shape, alpha=float(a.get("alpha", 0.01)))
            else:
                if len(node.output) > 1 and node.output[1]:
                    raise UnsupportedGraphError(f"MaxPool {name!r} also outputs indices; not a layer the pathwise method reads.")
                wins, out_shape = _pool_windows(layer.out_shape, a, name)
                act = Activation("max_pool", name, out_shape, windows=wins)
            acts.append(act)
            block = []
            in_shape = act.out_shape
        else:
            block.append(node)
    layers.append(close(block, in_shape))
    return ReluNetwork(layers=tuple(layers), activations=tuple(acts), input_name=input_name, input_shape=shape,
                       output_name=output, head=head, ops=tuple(n.op_type for n in nodes))
