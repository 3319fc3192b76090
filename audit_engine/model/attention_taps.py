"""Find the attention probabilities of a transformer graph and expose them as one output.

An attention block computes ``softmax(q kᵀ / √d [+ mask]) v``. Its probabilities are the
output of a Softmax over the last axis (the key positions) whose input comes, through at
most a few scale / mask operators (Div, Mul, Add, Sub, Where, Cast), from a MatMul of
two computed tensors (``q kᵀ``), and whose output is multiplied (MatMul) with another
computed tensor (``v``). :func:`find_attention` lists those Softmax nodes in graph order
(= layer order for a stack of blocks); :func:`attention_model` rewrites a copy of the
model so that one extra output, ``attention_taps__``, holds the head-mean of every
layer's probabilities, ``(batch, layers, queries, keys)``; the copy's Evaluator then
returns it as rows ``(batch, layers · T · T)``.

Limits: probabilities laid out ``(batch, heads, T, T)`` or ``(batch, T, T)``; exports
that fold heads into the batch axis (``(batch · heads, T, T)``, as torch's
``nn.MultiheadAttention`` can) are refused when their row count does not match the batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import onnx
from onnx import TensorProto, helper

from ..errors import ModelError
from .loader import OnnxModel, strip_zipmap
from .providers import create_session

__all__ = ["AttentionSite", "NoAttentionError", "find_attention", "attention_model", "TAP_OUTPUT"]

TAP_OUTPUT = "attention_taps__"
_PASS_THROUGH = {"Div", "Mul", "Add", "Sub", "Where", "Cast", "Identity"}


class NoAttentionError(ModelError):
    """The graph holds no attention probabilities the engine can find."""


@dataclass(frozen=True)
class AttentionSite:
    """One attention block: ``tensor`` the Softmax output, ``rank`` 4 (heads axis) or 3."""

    name: str
    tensor: str
    rank: int


def _constants(graph: onnx.GraphProto) -> set[str]:
    names = {t.name for t in graph.initializer}
    names |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return names


def find_attention(proto: onnx.ModelProto) -> list[AttentionSite]:
    """The attention-probability Softmax nodes of the graph, in graph order."""
    graph = proto.graph
    consts = _constants(graph)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
        ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in inferred.graph.value_info
                 if v.type.tensor_type.HasField("shape")}
    except Exception:  # noqa: BLE001 - shape inference is a help, not a requirement
        ranks = {}

    def scores_matmul(tensor: str, depth: int = 0) -> bool:
        node = producer.get(tensor)
        if node is None or depth > 4:
            return False
        if node.op_type == "MatMul":
            return all(i not in consts for i in node.input)
        if node.op_type in _PASS_THROUGH:
            return any(scores_matmul(i, depth + 1) for i in node.input if i and i not in consts)
        return False

    def feeds_values(tensor: str, depth: int = 0) -> bool:
        for c in consumers.get(tensor, []):
            if c.op_type == "MatMul" and c.input[0] == tensor and c.input[1] not in consts:
                return True
            if c.op_type in ("Dropout", "Cast", "Identity") and depth < 2 and feeds_values(c.output[0], depth + 1):
                return True
        return False

    sites = []
    for node in graph.node:
        if node.op_type != "Softmax":
            continue
        out = node.output[0]
        rank = ranks.get(out, 4)
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        if axis not in (-1, rank - 1) or rank not in (3, 4):
            continue
        if scores_matmul(node.input[0]) and feeds_values(out):
            sites.append(AttentionSite(name=node.name or out, tensor=out, rank=rank))
    return sites


def attention_model(model: OnnxModel) -> tuple[OnnxModel, list[AttentionSite]]:
    """A copy of ``model`` whose output is the head-mean attention of every layer.

    The copy's output ``attention_taps__`` is ``(batch, layers, T, T)``, output kind
    ``regression`` (values passed through as they are). Raises NoAttentionError when the
    graph has no attention block.
    """
    proto = onnx.load(model.path)
    strip_zipmap(proto)
    sites = find_attention(proto)
    if not sites:
        raise NoAttentionError(
            "The graph has no attention probabilities (a Softmax over key positions between the q·kᵀ and "
            "the ·v MatMuls); attention maps need a transformer export.")
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    graph = proto.graph
    parts = []
    for i, site in enumerate(sites):
        name = f"{TAP_OUTPUT}{i}"
        if site.rank == 4 and opset >= 18:
            axes = f"{name}_axes"
            graph.initializer.append(helper.make_tensor(axes, TensorProto.INT64, [1], [1]))
            graph.node.append(helper.make_node("ReduceMean", [site.tensor, axes], [name], keepdims=1))
        elif site.rank == 4:
            graph.node.append(helper.make_node("ReduceMean", [site.tensor], [name], axes=[1], keepdims=1))
        elif opset >= 13:
            axes = f"{name}_axes"
            graph.initializer.append(helper.make_tensor(axes, TensorProto.INT64, [1], [1]))
            graph.node.append(helper.make_node("Unsqueeze", [site.tensor, axes], [name]))
        else:
            graph.node.append(helper.make_node("Unsqueeze", [site.tensor], [name], axes=[1]))
        parts.append(name)
    graph.node.append(helper.make_node("Concat", parts, [TAP_OUTPUT], axis=1))
    graph.output.append(helper.make_tensor_value_info(TAP_OUTPUT, TensorProto.FLOAT, None))
    session, used = create_session(proto.SerializeToString(), model.provider)
    copy = dataclasses.replace(
        model, session=session, provider=used, output=TAP_OUTPUT, output_kind="regression",
        output_kind_forced=True, classes=None,
        rewrites=[*model.rewrites, f"{len(sites)} attention Softmax output(s) exposed as {TAP_OUTPUT!r}"],
    )
    return copy, sites
