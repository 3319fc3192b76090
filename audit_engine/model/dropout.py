"""MC-dropout graph rewrite: every Dropout node becomes a multiplication by a mask input.

ONNX Runtime's InferenceSession does not sample dropout: its default graph optimisations
remove Dropout nodes (even with ``training_mode=True``), so two runs give identical
outputs. For MC dropout (Gal & Ghahramani 2016) :func:`rewrite_dropout` replaces each

    Y[, mask] = Dropout(X, ratio, training_mode)

by ``Y = X · M`` where ``M`` is a new graph input of shape ``X.shape[1:]`` (no batch
dimension) holding ``0`` or ``1 / (1 − ratio)``. The mask is an input, so no optimiser
can fold it away, and the caller draws it from a seeded numpy Generator: the same seed
gives the same masks, whatever the chunking. One mask per pass is shared by all rows of
that pass — one sampled network per pass, the weight-sampling view of MC dropout; each
row's T predictions are still T independent draws. A consumed Dropout ``mask`` output is
rebuilt as ``Expand(M > 0, Shape(X))``.

:func:`mc_dropout_model` returns an :class:`~audit_engine.model.loader.OnnxModel` whose
session runs the rewritten graph (made with :func:`~audit_engine.model.providers.create_session`),
to be wrapped by a LocalEvaluator so that every pass is counted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelError, ModelFormatError
from .graph import graph_constants
from .loader import OnnxModel, strip_zipmap
from .providers import create_session

__all__ = ["DropoutSite", "count_dropout", "rewrite_dropout", "mc_dropout_model"]

_MASK_PREFIX = "mc_dropout_mask"


@dataclass(frozen=True)
class DropoutSite:
    """One rewritten Dropout: the mask input's name, shape (no batch dim), dtype and ratio."""

    node: str
    mask_input: str
    shape: tuple[int, ...]
    dtype: np.dtype
    ratio: float
    training_mode: bool | None

    def to_dict(self) -> dict[str, object]:
        return {"node": self.node, "mask_input": self.mask_input, "shape": list(self.shape),
                "ratio": self.ratio, "training_mode": self.training_mode}


def count_dropout(model: onnx.ModelProto | str | Path) -> int:
    """Number of Dropout nodes in the main graph."""
    proto = onnx.load(str(model), load_external_data=False) if not isinstance(model, onnx.ModelProto) else model
    return sum(1 for n in proto.graph.node if n.op_type == "Dropout")


def rewrite_dropout(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[DropoutSite]]:
    """Rewrite every Dropout of ``proto`` into ``X · mask_input`` (see the module docstring).

    Returns the new model (checked with ``onnx.checker``) and one :class:`DropoutSite` per
    rewritten node. Raises ModelError when there is no Dropout, or a Dropout input's
    non-batch shape is not static.
    """
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    drops = [n for n in graph.node if n.op_type == "Dropout"]
    if not drops:
        raise ModelError("The model has no Dropout node, so MC dropout cannot sample it; use method='committee' "
                         "with several model versions instead.")
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]}
    consts = graph_constants(graph)
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    existing = {i.name for i in graph.input} | {n for node in graph.node for n in node.output}
    sites: list[DropoutSite] = []
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "Dropout":
            new_nodes.append(node)
            continue
        x = node.input[0]
        info = infos.get(x)
        dims = list(info.type.tensor_type.shape.dim) if info is not None else []
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims[1:])
        if info is None or not dims or any(s <= 0 for s in shape):
            raise ModelError(
                f"Dropout node {node.name or x!r} has an input whose shape beyond the batch dimension is not static "
                f"({[d.dim_param or d.dim_value for d in dims] or 'unknown'}); re-export the model with fixed feature shapes."
            )
        elem = info.type.tensor_type.elem_type
        ratio = 0.5
        for attr in node.attribute:
            if attr.name == "ratio":  # opset < 12
                ratio = float(attr.f)
        if len(node.input) > 1 and node.input[1]:
            if node.input[1] not in consts:
                raise ModelError(f"Dropout node {node.name or x!r} takes its ratio from a computed tensor; "
                                 "MC dropout needs a constant ratio.")
            ratio = float(np.asarray(consts[node.input[1]]).reshape(-1)[0])
        training = None
        if len(node.input) > 2 and node.input[2] and node.input[2] in consts:
            training = bool(np.asarray(consts[node.input[2]]).reshape(-1)[0])
        name = f"{_MASK_PREFIX}_{len(sites)}"
        while name in existing:
            name += "_"
        existing.add(name)
        graph.input.append(helper.make_tensor_value_info(name, elem, list(shape)))
        new_nodes.append(helper.make_node("Mul", [x, name], [node.output[0]], name=f"{name}_mul"))
        if len(node.output) > 1 and node.output[1] and node.output[1] in used:
            zero = f"{name}_zero"
            graph.initializer.append(numpy_helper.from_array(np.zeros((), dtype=helper.tensor_dtype_to_np_dtype(elem)), zero))
            new_nodes += [
                helper.make_node("Greater", [name, zero], [f"{name}_keep"]),
                helper.make_node("Shape", [x], [f"{name}_shape"]),
                helper.make_node("Expand", [f"{name}_keep", f"{name}_shape"], [node.output[1]]),
            ]
        sites.append(DropoutSite(node.name or x, name, shape, np.dtype(helper.tensor_dtype_to_np_dtype(elem)),
                                 ratio, training))
    del graph.node[:]
    graph.node.extend(new_nodes)
    # Constant nodes that only fed ratio / training_mode are now dead.
    live = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [n for n in graph.node if n.op_type != "Constant" or any(o in live for o in n.output)]
    del graph.node[:]
    graph.node.extend(keep)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError
        raise ModelFormatError(f"The MC-dropout rewrite of this model fails onnx.checker ({str(exc).splitlines()[0][:200]}).") from exc
    return model, sites


def draw_masks(sites: list[DropoutSite], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One pass's masks: each entry Bernoulli(1 − ratio) / (1 − ratio), shape ``site.shape``."""
    out = {}
    for site in sites:
        keep = 1.0 - site.ratio
        mask = (rng.random(site.shape) < keep) / keep if keep > 0 else np.zeros(site.shape)
        out[site.mask_input] = mask.astype(site.dtype)
    return out


def mc_dropout_model(model: OnnxModel) -> tuple[OnnxModel, list[DropoutSite]]:
    """A copy of ``model`` whose session runs the MC-dropout rewrite of its file.

    The copy keeps the original's identity (path, hash, IO schema, output and its kind);
    its ``session_inputs`` stay the data inputs, since the mask inputs are fed by the caller.
    """
    proto = onnx.load(model.path)
    strip_zipmap(proto)
    rewritten, sites = rewrite_dropout(proto)
    session, used = create_session(rewritten.SerializeToString(), model.provider)
    copy = dataclasses.replace(
        model, session=session, provider=used,
        rewrites=[*model.rewrites, f"{len(sites)} Dropout node(s) rewritten into mask inputs (MC dropout)"],
    )
    return copy, sites
