"""Cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation that explains the *model* must change when the model's learned weights
are destroyed. :func:`randomisable_layers` lists the weighted layers of an ONNX graph —
``Gemm``, ``MatMul`` and ``Conv`` nodes whose weight is an initializer (with the bias of
a ``Gemm``/``Conv``, or of the ``Add`` that directly follows a ``MatMul``, as skl2onnx
and torch export them) — ordered from the output down to the input.
:func:`randomisation_cascade` yields, for k = 1, 2, ..., a copy of the model in which the
top k layers' initializers are replaced by seeded Gaussian values of the same shape,
dtype and scale (the standard deviation of the original tensor; its RMS when it is
constant). Each copy is an :class:`~audit_engine.model.loader.OnnxModel` with its own
session, to be evaluated through a LocalEvaluator in the same FeatureSpace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelFormatError
from ..stats import child_rng
from .loader import OnnxModel, strip_zipmap
from .providers import create_session

__all__ = ["RandomisableLayer", "randomisable_layers", "randomise_initializers", "randomisation_cascade"]

_WEIGHTED = {"Gemm": (1, 2), "MatMul": (0, 1), "Conv": (1, 2)}  # op -> input positions holding parameters


@dataclass(frozen=True)
class RandomisableLayer:
    """One weighted layer: its node's name (or op and position), op type and parameter initializers."""

    name: str
    op_type: str
    initializers: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "op_type": self.op_type, "initializers": list(self.initializers)}


def randomisable_layers(proto: onnx.ModelProto) -> list[RandomisableLayer]:
    """The weighted layers of ``proto``'s main graph, from the output down to the input.

    Nodes are in topological order in a valid ONNX graph, so the reverse of that order
    puts the layers nearest the output first.
    """
    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    layers: list[RandomisableLayer] = []
    for pos, node in enumerate(graph.node):
        slots = _WEIGHTED.get(node.op_type)
        if slots is None:
            continue
        names = [node.input[i] for i in slots if i < len(node.input) and node.input[i] in inits
                 and _is_float(inits[node.input[i]])]
        if node.op_type == "MatMul":
            names = [n for n in names if len(inits[n].dims) >= 2]  # the weight matrix, not a scalar
            after = consumers.get(node.output[0], [])
            if len(after) == 1 and after[0].op_type == "Add":
                names += [n for n in after[0].input if n in inits and _is_float(inits[n])]
        if not any(len(inits[n].dims) >= 2 for n in names):
            continue
        layers.append(RandomisableLayer(node.name or f"{node.op_type}_{pos}", node.op_type, tuple(dict.fromkeys(names))))
    return layers[::-1]


def _is_float(t: onnx.TensorProto) -> bool:
    return t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


def randomise_initializers(proto: onnx.ModelProto, names: list[str], rng: np.random.Generator) -> onnx.ModelProto:
    """A copy of ``proto`` whose initializers ``names`` hold N(0, scale²) values, same shape and dtype.

    ``scale`` is the original tensor's standard deviation (its RMS when constant, 0.1 when
    all zero), so activations keep a similar magnitude.
    """
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    wanted = set(names)
    for t in out.graph.initializer:
        if t.name not in wanted:
            continue
        value = numpy_helper.to_array(t)
        scale = float(np.std(value))
        if not scale > 0:
            scale = float(np.sqrt(np.mean(np.square(value, dtype=np.float64)))) or 0.1
        new = rng.normal(0.0, scale, size=value.shape).astype(value.dtype)
        t.CopyFrom(numpy_helper.from_array(new, t.name))
    return out


def randomisation_cascade(model: OnnxModel, *, seed: int = 0,
                          max_layers: int | None = None) -> Iterator[tuple[RandomisableLayer, list[str], OnnxModel]]:
    """Yield ``(layer, randomised layer names so far, model)`` for k = 1 .. number of layers.

    Step k randomises the top k layers (cumulative, as in Adebayo et al.'s cascade). The
    random values of layer j come from its own stream ``(seed, "randomise", j)``, so step k
    and step k+1 agree on the layers both randomise.
    """
    proto = onnx.load(model.path)
    strip_zipmap(proto)
    layers = randomisable_layers(proto)
    if max_layers is not None:
        layers = layers[:max_layers]
    current = proto
    done: list[str] = []
    for j, layer in enumerate(layers):
        current = randomise_initializers(current, list(layer.initializers), child_rng(seed, "randomise", j))
        done.append(layer.name)
        try:
            session, used = create_session(current.SerializeToString(), model.provider)
        except Exception as exc:  # noqa: BLE001 - the rewrite only changes values; report it as a format problem
            raise ModelFormatError(f"The randomised copy of layer {layer.name!r} cannot be loaded ({exc}).") from exc
        copy = dataclasses.replace(model, session=session, provider=used,
                                   rewrites=[*model.rewrites, f"initializers of {', '.join(done)} randomised (sanity check)"])
        yield layer, list(done), copy
