"""Load an ONNX file safely and describe it: hash, opset, producer, IO schema, session.

Untrusted files are checked before onnxruntime sees them (DESIGN.md §7): a size limit,
protobuf parsing, ``onnx.checker``, external-data paths confined to the model's folder,
and operator domains limited to the standard ones (no custom-op libraries are loaded).
skl2onnx's ZipMap output is rewritten away so probabilities come back as one tensor.

``load_model(..., onnx_checker=False)`` (what ``inspect`` uses) never imports onnx, whose
import costs more than a second: the file is parsed with :mod:`.proto`'s message classes,
and onnx.checker is replaced by onnxruntime's own validation when it builds the session
plus the checker's rules that onnxruntime does not enforce (:func:`_check_structure`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import (
    ModelFormatError,
    ModelNotFoundError,
    ModelSecurityError,
    OutputError,
)
from .outputs import NORMALISATION, OUTPUT_KINDS
from .proto import messages
from .providers import create_session, describe_provider
from ..params import validate_params

if TYPE_CHECKING:
    import onnx

__all__ = ["TensorSpec", "OnnxModel", "load_model", "strip_zipmap", "MAX_MODEL_BYTES"]

logger = logging.getLogger(__name__)

MAX_MODEL_BYTES = 2 * 1024**3
_PROTOBUF_LIMIT = 2**31 - 1
_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"}
# Enum values of onnx-ml.proto (fixed by the ONNX spec), usable with either family of classes.
_FLOAT = 1  # TensorProto.FLOAT
_DEFAULT, _EXTERNAL = 0, 1  # TensorProto.DataLocation
_ATTRIBUTE_TENSOR = 4  # AttributeProto.TENSOR

_ONNX_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as onnxruntime sees it.

    ``shape`` holds ints for fixed dimensions and strings (or None) for symbolic ones;
    ``type`` is onnxruntime's type string, e.g. ``tensor(float)`` or
    ``seq(map(int64,tensor(float)))``.
    """

    name: str
    shape: tuple[Any, ...] | None
    type: str

    @property
    def dtype(self) -> str:
        """Short dtype name: float32, int64, string, ... or the full type for non-tensors."""
        np_type = _ONNX_TO_NUMPY.get(self.type)
        if np_type is None:
            return self.type
        return "string" if np_type is np.object_ else np.dtype(np_type).name

    @property
    def numpy_dtype(self) -> Any:
        return _ONNX_TO_NUMPY.get(self.type)

    @property
    def is_tensor(self) -> bool:
        return self.type.startswith("tensor(")

    def to_dict(self) -> dict[str, Any]:
        shape = None if self.shape is None else [d if isinstance(d, int) else (d or None) for d in self.shape]
        return {"name": self.name, "shape": shape, "dtype": self.dtype}


@dataclass
class OnnxModel:
    """A checked ONNX model with its session.

    Attributes
    ----------
    path, sha256, opset, producer: identity of the file.
    inputs, outputs: the original IO schema (before any rewrite).
    output: name of the output the audit uses (probability-like by default).
    output_kind: how that output becomes probabilities (see ``model.outputs``), or None
        while it is still to be inferred from real outputs when data is bound.
    classes: class labels when the graph names them (ZipMap / ai.onnx.ml classifiers).
    provider: ``"cuda"`` or ``"cpu"``: where the session runs.
    """

    path: str
    sha256: str
    opset: int
    producer: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    output: str
    output_kind: str | None
    output_kind_forced: bool
    classes: list[Any] | None
    provider: str
    session: Any = field(repr=False)
    producer_op: str | None = None
    rewrites: list[str] = field(default_factory=list)
    session_inputs: list[TensorSpec] = field(default_factory=list)
    file_bytes: int = 0
    classes_source: str | None = None
    output_consumers: tuple[str, ...] = ()

    @property
    def normalisation(self) -> str:
        return NORMALISATION.get(self.output_kind or "", "inferred from outputs")

    @property
    def task(self) -> str:
        """``classification`` or ``regression`` (known once the output kind is)."""
        return "regression" if self.output_kind == "regression" else "classification"

    @property
    def fixed_batch(self) -> int | None:
        """The batch size every call must use when the first input dimension is fixed."""
        dims = [i.shape[0] for i in self.session_inputs if i.shape and isinstance(i.shape[0], int)]
        return dims[0] if dims else None

    def output_spec(self) -> TensorSpec:
        for spec in self.session_outputs():
            if spec.name == self.output:
                return spec
        raise OutputError(f"Output {self.output!r} is not in the model.")

    def session_outputs(self) -> list[TensorSpec]:
        return [_spec(o) for o in self.session.get_outputs()]

    def describe_provider(self) -> str:
        return describe_provider(self.provider)

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` block of audit.json."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.file_bytes,
            "opset": self.opset,
            "producer": self.producer,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "output": self.output,
            "output_kind": self.output_kind,
            "normalisation": self.normalisation,
            "rewrites": list(self.rewrites),
            "task": self.task,
            "classes": None if self.classes is None else [_jsonable(c) for c in self.classes],
            "classes_source": self.classes_source,
            "provider": self.provider,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _spec(node_arg: Any) -> TensorSpec:
    shape = node_arg.shape
    if shape is not None:
        shape = tuple(d if isinstance(d, int) else (d if d else None) for d in shape)
    return TensorSpec(node_arg.name, shape, node_arg.type)


def _check_external_data(model: onnx.ModelProto, folder: Path) -> int:
    """Refuse external-data locations outside the model's folder (path traversal) and
    lengths past the end of their file; return the external bytes the model would read.

    Only the tensor metadata is read here, so a tiny .onnx pointing at gigabytes of
    external data is measured before any of it is loaded.
    """
    root = folder.resolve()
    total = 0
    for tensor in _external_tensors(model):
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        target = (root / location).resolve()
        if os.path.isabs(location) or not target.is_relative_to(root):
            raise ModelSecurityError(
                f"Tensor {tensor.name!r} points its external data at {location!r}, outside "
                f"the model's folder {str(root)!r}; move the data file next to the model "
                "and store a relative location."
            )
        if not target.is_file():
            raise ModelFormatError(
                f"Tensor {tensor.name!r} needs external data file {location!r}, which is "
                "missing from the model's folder; copy it next to the model."
            )
        size = target.stat().st_size
        try:
            offset = int(entries.get("offset", "0") or 0)
            length = int(entries["length"]) if entries.get("length") else size - offset
        except ValueError as exc:
            raise ModelFormatError(
                f"Tensor {tensor.name!r} has a non-numeric external-data offset or length; re-export the model."
            ) from exc
        if offset < 0 or length < 0 or offset + length > size:
            raise ModelFormatError(
                f"Tensor {tensor.name!r} declares {length} bytes of external data at offset {offset} in "
                f"{location!r}, past the end of that {size}-byte file; the data file is truncated or "
                "does not belong to this model."
            )
        total += length
    return total


def _external_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """Initializers and node-attribute tensors of the main graph that keep their data in a file."""
    tensors = list(model.graph.initializer)
    tensors += [attr.t for node in model.graph.node for attr in node.attribute if attr.type == _ATTRIBUTE_TENSOR]
    return [t for t in tensors if t.data_location == _EXTERNAL]


def _load_external_data(model: onnx.ModelProto, folder: Path) -> None:
    """Read the external data of the tensors :func:`_check_external_data` accepted into the
    model (``raw_data``), as ``onnx.load_external_data_for_model`` does."""
    for tensor in _external_tensors(model):
        entries = {e.key: e.value for e in tensor.external_data}
        with open(folder.resolve() / entries["location"], "rb") as fh:
            fh.seek(int(entries.get("offset", "0") or 0))
            length = entries.get("length")
            tensor.raw_data = fh.read(int(length)) if length else fh.read()
        del tensor.external_data[:]
        tensor.data_location = _DEFAULT


def _check_structure(model: onnx.ModelProto, file: Path) -> None:
    """The rules of onnx.checker that onnxruntime does not enforce when it loads a model
    (it accepts these, the checker refuses them): a set ir_version, a named graph, and
    nodes in topological order (every input produced before it is read)."""
    problem = None
    if model.ir_version < 1:
        problem = "the model does not set its ir_version"
    elif not model.graph.name:
        problem = "the graph has no name"
    else:
        known = {v.name for v in model.graph.input} | {t.name for t in model.graph.initializer}
        known |= {t.values.name for t in model.graph.sparse_initializer} | {""}
        for node in model.graph.node:
            late = next((name for name in node.input if name not in known), None)
            if late is not None:
                problem = (f"input {late!r} of node {node.name or node.op_type!r} is not a graph input, "
                           "an initializer or the output of an earlier node (nodes must be topologically sorted)")
                break
            known.update(node.output)
    if problem is not None:
        raise ModelFormatError(f"{str(file)!r} is not a valid ONNX model ({problem}); re-export the model.")


def _check_domains(model: onnx.ModelProto, allow_custom_ops: bool) -> None:
    if allow_custom_ops:
        return
    local = {f.domain for f in model.functions}
    for node in model.graph.node:
        if node.domain not in _STANDARD_DOMAINS and node.domain not in local:
            raise ModelSecurityError(
                f"Node {node.name or node.op_type!r} uses operator {node.op_type!r} from the "
                f"custom domain {node.domain!r}; audit-engine loads no custom-op libraries "
                "unless allow_custom_ops=True is passed."
            )


def _producer_ops(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def strip_zipmap(model: onnx.ModelProto) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """Replace every graph output produced by ZipMap with the ZipMap's probability tensor.

    Returns {old output name: new output name} and {new name: class labels}.
    The new output keeps the old name so users can still ask for it by name.
    """
    graph = model.graph
    producers = _producer_ops(graph)
    renamed: dict[str, str] = {}
    classes: dict[str, list[Any]] = {}
    for out in list(graph.output):
        node = producers.get(out.name)
        if node is None or node.op_type != "ZipMap":
            continue
        labels: list[Any] = []
        for attr in node.attribute:
            if attr.name == "classlabels_int64s":
                labels = [int(v) for v in attr.ints]
            elif attr.name == "classlabels_strings":
                labels = [v.decode() for v in attr.strings]
        source = node.input[0]
        graph.node.remove(node)
        # Rename the upstream tensor to the old output name so names stay stable.
        for other in graph.node:
            for i, name in enumerate(other.output):
                if name == source:
                    other.output[i] = out.name
            for i, name in enumerate(other.input):
                if name == source:
                    other.input[i] = out.name
        new_out = type(out)(name=out.name)  # works for onnx's classes and .proto's alike
        new_out.type.tensor_type.elem_type = _FLOAT  # shape left unknown
        index = list(graph.output).index(out)
        graph.output.remove(out)
        graph.output.insert(index, new_out)
        renamed[out.name] = out.name
        classes[out.name] = labels
    return renamed, classes


def _graph_classes(graph: onnx.GraphProto) -> list[Any] | None:
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_ints", "classlabels_int64s") and len(attr.ints):
                return [int(v) for v in attr.ints]
            if attr.name in ("classlabels_strings",) and len(attr.strings):
                return [v.decode() for v in attr.strings]
    return None


def _choose_output(outputs: list[TensorSpec], requested: str | None, zipmapped: set[str]) -> str:
    names = [o.name for o in outputs]
    if requested is not None:
        if requested not in names:
            raise OutputError(
                f"The model has no output named {requested!r}; its outputs are "
                f"{', '.join(repr(n) for n in names)}: pass one of them with --output."
            )
        return requested
    for name in names:
        if name in zipmapped:
            return name

    def score(spec: TensorSpec) -> int:
        if not spec.is_tensor or spec.dtype not in ("float32", "float64", "float16"):
            return -1
        rank = len(spec.shape) if spec.shape is not None else 2
        last = spec.shape[-1] if spec.shape else None
        lowered = spec.name.lower()
        bonus = 2 if any(w in lowered for w in ("prob", "logit", "score", "output", "pred", "variable")) else 0
        if rank == 2 and (last is None or not isinstance(last, int) or last >= 2):
            return 10 + bonus
        if rank in (1, 2):
            return 5 + bonus
        return bonus

    candidates = sorted(outputs, key=score, reverse=True)
    if not candidates or score(candidates[0]) < 0:
        raise OutputError(
            "The model has no float tensor output that could hold probabilities, logits or "
            f"values (outputs: {', '.join(f'{o.name} {o.type}' for o in outputs)})."
        )
    return candidates[0].name


def _run_onnx_checker(file: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(file))
    except Exception as exc:  # noqa: BLE001 - ValidationError and protobuf errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"{str(file)!r} fails onnx.checker ({first[:200]}); re-export the model."
        ) from exc


@validate_params("load_model")
def load_model(
    path: str | os.PathLike[str],
    *,
    provider: str = "auto",
    output: str | None = None,
    output_kind: str | None = None,
    threads: int | None = None,
    max_bytes: int | None = None,
    allow_custom_ops: bool = False,
    onnx_checker: bool = True,
) -> OnnxModel:
    """Load, check and open an ONNX model for auditing.

    Parameters
    ----------
    path: the .onnx file.
    provider: ``"auto"`` | ``"cpu"`` | ``"cuda"``.
    output: name of the output to audit; default the probability-like one.
    output_kind: override the inferred kind (see ``model.outputs.OUTPUT_KINDS``).
    threads: intra-op CPU threads (None: onnxruntime's default).
    max_bytes: refuse larger models, external data included (default: the process's limit,
        ``--max-model-bytes``, 2 GiB unless set with ``limits.set_model_byte_limit``).
    allow_custom_ops: allow nodes from non-standard domains.
    onnx_checker: check the file with ``onnx.checker`` (importing onnx, > 1 s). False
        (``inspect``): onnxruntime's validation when it builds the session plus
        :func:`_check_structure` refuse what the checker would; the description is the same.
    """
    if output_kind is not None and output_kind not in OUTPUT_KINDS:
        from ..errors import ConfigError

        raise ConfigError(
            f"Unknown output kind {output_kind!r}; use one of: {', '.join(OUTPUT_KINDS)}."
        )
    if max_bytes is None:
        from ..limits import model_byte_limit

        max_bytes = model_byte_limit()
    file = Path(path)
    if not file.is_file():
        raise ModelNotFoundError(f"Model file {str(file)!r} does not exist; check the path.")
    size = file.stat().st_size
    if size > max_bytes:
        raise ModelSecurityError(
            f"Model file {str(file)!r} is {size} bytes, over the {max_bytes}-byte limit; "
            "raise --max-model-bytes (max_bytes) if you trust it."
        )
    if size == 0:
        raise ModelFormatError(f"Model file {str(file)!r} is empty; export the model again.")
    raw = file.read_bytes()
    if onnx_checker:
        import onnx  # noqa: F401 - before messages(), so the checked objects are onnx's own
    try:
        proto = messages().ModelProto()
        consumed = proto.ParseFromString(raw)
        if consumed is not None and consumed != len(raw):
            raise ValueError(f"protobuf decoding consumed {consumed} of {len(raw)} bytes")
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise ModelFormatError(
            f"{str(file)!r} is not a readable ONNX model ({type(exc).__name__}); "
            "check that it is a complete .onnx file, not truncated or of another format."
        ) from exc
    if not proto.graph.node and not proto.graph.output:
        raise ModelFormatError(
            f"{str(file)!r} parsed as an empty ONNX graph; it is not an ONNX model or it is truncated."
        )
    external = _check_external_data(proto, file.parent)
    if size + external > max_bytes:
        raise ModelSecurityError(
            f"Model file {str(file)!r} is {size} bytes with {external} bytes of external data, over the "
            f"{max_bytes}-byte limit; raise --max-model-bytes (max_bytes) if you trust it."
        )
    if size + external >= _PROTOBUF_LIMIT:
        raise ModelSecurityError(
            f"Model {str(file)!r} with its external data is {size + external} bytes, past protobuf's 2 GiB "
            "limit on one model, which audit-engine has to serialise to open it; audit a smaller model "
            "(e.g. a quantised export)."
        )
    _check_domains(proto, allow_custom_ops)
    if onnx_checker:
        _run_onnx_checker(file)
    else:
        _check_structure(proto, file)
    _load_external_data(proto, file.parent)

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p)

    original = proto.SerializeToString()
    zipmapped, zip_classes = strip_zipmap(proto)
    rewrites = [f"ZipMap removed from output {name!r}" for name in zipmapped]
    session, used = create_session(proto.SerializeToString() if zipmapped else original, provider, threads=threads)
    if zipmapped:  # the IO schema users know is the exported one, ZipMap output type included
        original_session, _ = create_session(original, "cpu", threads=1)
        inputs = [_spec(i) for i in original_session.get_inputs()]
        outputs = [_spec(o) for o in original_session.get_outputs()]
        del original_session
    else:
        inputs = [_spec(i) for i in session.get_inputs()]
        outputs = [_spec(o) for o in session.get_outputs()]
    session_outputs = [_spec(o) for o in session.get_outputs()]
    chosen = _choose_output(session_outputs, output, set(zipmapped))

    classes = zip_classes.get(chosen) or _graph_classes(proto.graph)
    producer_node = _producer_ops(proto.graph).get(chosen)
    kind = output_kind
    if kind is None and chosen in zipmapped:
        kind = "zipmap"
    logger.info(describe_provider(used))
    return OnnxModel(
        path=str(file),
        sha256=hashlib.sha256(raw).hexdigest(),
        opset=int(opset),
        producer=producer,
        inputs=inputs,
        outputs=outputs,
        output=chosen,
        output_kind=kind,
        output_kind_forced=output_kind is not None,
        classes=classes,
        provider=used,
        session=session,
        producer_op=producer_node.op_type if producer_node is not None else None,
        output_consumers=tuple(n.op_type for n in proto.graph.node if chosen in n.input),
        rewrites=rewrites,
        session_inputs=[_spec(i) for i in session.get_inputs()],
        file_bytes=size,
    )

