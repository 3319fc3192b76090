"""Intermediate-tensor taps: expose a tensor inside the graph as an extra model output.

Data detectors (Mahalanobis, kNN) work best in a network's feature space (Lee et al.
2018 fit Mahalanobis on penultimate features), and a covariance of raw pixels is both
meaningless and unaffordable (150528² for a 3×224×224 image). :func:`tap_model` rewrites
a copy of the graph so that one internal tensor is also a graph output, with its type and
shape from ``onnx.shape_inference``. The evaluator layer wraps the rewritten session in a
LocalEvaluator (:class:`audit_engine.evaluator.local.FeatureTap`), so tapped features are
chunked and counted like every other model call; this module knows nothing of evaluators.

Which tensor (:func:`penultimate_tensor`): by default the data input of the **last**
``Gemm`` / ``MatMul`` node whose other operand is a weight (an initializer or a Constant)
— the penultimate features of a classifier head. No tap fits when there is no such node,
or when that input is a graph input itself (a linear model: the "features" would be the
raw input).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import onnx
from onnx import helper, shape_inference

from ..errors import ModelError
from .loader import OnnxModel, strip_zipmap
from .providers import create_session

__all__ = ["TapPoint", "penultimate_tensor", "tap_model"]


@dataclass(frozen=True)
class TapPoint:
    """The tapped tensor: its name, per-row shape (None where unknown), dtype, the node
    that consumes it and how it was chosen."""

    name: str
    shape: tuple[Any, ...] | None
    dtype: str
    consumer: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.name, "shape": None if self.shape is None else list(self.shape),
                "dtype": self.dtype, "consumer": self.consumer, "reason": self.reason}


def _weights(graph: onnx.GraphProto) -> set[str]:
    names = {t.name for t in graph.initializer}
    names |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return names


# Nodes that are the identity at inference but may be random when run (Dropout exported in
# training mode for MC dropout): the tap reads their input, so features are deterministic.
_PASS_THROUGH = ("Dropout", "Identity")


def _before_pass_through(graph: onnx.GraphProto, tensor: str) -> str:
    """The tensor feeding a chain of Dropout / Identity nodes that produce ``tensor`` (else ``tensor``)."""
    producer = {o: n for n in graph.node for o in n.output}
    seen = set()
    while tensor in producer and producer[tensor].op_type in _PASS_THROUGH and tensor not in seen:
        seen.add(tensor)
        node = producer[tensor]
        if tensor != node.output[0] or not node.input:
            break  # a Dropout's mask output is not a feature
        tensor = node.input[0]
    return tensor


def penultimate_tensor(proto: onnx.ModelProto) -> tuple[str, str] | None:
    """``(tensor name, consumer description)`` of the default tap, or None when none fits.

    A Dropout (or Identity) in front of the head is looked through: its input is tapped,
    since an active Dropout (a graph exported in training mode) would make the features,
    and every kNN / Mahalanobis score on them, change from run to run.
    """
    graph = proto.graph
    weights = _weights(graph)
    inputs = {i.name for i in graph.input}
    for node in reversed(list(graph.node)):  # graph.node is topologically sorted
        if node.op_type not in ("Gemm", "MatMul") or len(node.input) < 2:
            continue
        a, b = node.input[0], node.input[1]
        data = a if b in weights and a not in weights else (b if a in weights and b not in weights else None)
        if data is None:
            continue
        source = _before_pass_through(graph, data)
        if source in inputs:
            return None  # a linear model on the raw input: no learnt features to tap
        if source != data:
            return source, (f"input of the last {node.op_type} node {node.name or '(unnamed)'!r}, "
                            "read before its Dropout so the features do not depend on a random mask")
        return data, f"input of the last {node.op_type} node {node.name or '(unnamed)'!r}"
    return None


def _value_info(proto: onnx.ModelProto, name: str) -> onnx.ValueInfoProto:
    try:
        inferred = shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - shape inference can fail on exotic graphs; type stays unknown
        inferred = proto
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.name == name:
            return vi
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)


def tap_model(model: OnnxModel, tensor: str | None = None) -> tuple[OnnxModel, TapPoint]:
    """A copy of ``model`` whose session also outputs ``tensor`` (default: the penultimate one).

    The copy's chosen ``output`` is the tapped tensor (read as values, ``output_kind =
    "regression"``); its identity (path, hash, IO schema) is the original's.

    Raises
    ------
    ModelError: no tap fits (``tensor`` None) or ``tensor`` is not in the graph.
    """
    proto = onnx.load(model.path)
    strip_zipmap(proto)
    graph = proto.graph
    if tensor is None:
        found = penultimate_tensor(proto)
        if found is None:
            raise ModelError("The model has no Gemm/MatMul head on learnt features to tap; name a tensor to tap.")
        tensor, reason = found
    else:
        produced = {o for n in graph.node for o in n.output}
        if tensor not in produced:
            raise ModelError(f"The model has no intermediate tensor named {tensor!r}; name one a node produces.")
        reason = "requested"
    vi = _value_info(proto, tensor)
    if tensor not in {o.name for o in graph.output}:
        graph.output.append(vi)
    tt = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim] if tt.HasField("shape") else None
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else "float32"
    consumer = next((n for n in graph.node if tensor in n.input), None)
    point = TapPoint(tensor, None if dims is None else tuple(dims[1:]), dtype,
                     consumer.op_type if consumer is not None else "", reason)
    session, used = create_session(proto.SerializeToString(), model.provider)
    copy = dataclasses.replace(
        model, session=session, provider=used, output=tensor, output_kind="regression", output_kind_forced=True,
        classes=None, producer_op=None, rewrites=[*model.rewrites, f"tensor {tensor!r} exposed as an output (tap)"],
    )
    return copy, point
