"""ONNX's protobuf messages (ModelProto, TensorProto, ...) without importing the onnx package.

``import onnx`` costs 1-1.5 s (most of it the ``ml_dtypes`` extension that ``onnx.helper``
loads), far more than ``inspect`` needs: it only parses the file, reads a few fields and
removes skl2onnx's ZipMap. The message classes themselves come from one serialised file
descriptor, which onnx's generated ``onnx_ml_pb2.py`` holds as a bytes literal: this module
reads that literal with ``ast`` (no onnx code runs) and builds the classes in a *private*
``DescriptorPool``. A private pool, not protobuf's default one, so that a later
``import onnx`` in the same process registers its own copy of ``onnx/onnx-ml.proto`` without
a clash; the two families of classes parse and serialise the same bytes, but are not
interchangeable objects (``CopyFrom`` across them fails), so code that mixes them must go
through bytes.

When onnx is already imported its own classes are used, so the paths that need onnx
(graph rewrites, ``onnx.checker``) see exactly the objects they always did.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["messages"]

_MESSAGES = ("ModelProto", "GraphProto", "NodeProto", "TensorProto", "AttributeProto", "ValueInfoProto")


def messages() -> Any:
    """A namespace with ``ModelProto``, ``GraphProto``, ``NodeProto``, ``TensorProto``,
    ``AttributeProto`` and ``ValueInfoProto``: onnx's own classes when ``onnx`` is imported,
    else the same messages from a private descriptor pool (no onnx import)."""
    if "onnx" in sys.modules:
        import onnx

        return SimpleNamespace(**{name: getattr(onnx, name) for name in _MESSAGES})
    return _private_messages()


@lru_cache(maxsize=1)
def _private_messages() -> Any:
    try:
        blob = _onnx_ml_descriptor()
    except (ImportError, OSError, SyntaxError, ValueError, StopIteration):
        # An onnx build whose generated module this reader does not recognise: pay for the import.
        import onnx

        return SimpleNamespace(**{name: getattr(onnx, name) for name in _MESSAGES})
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(blob)
    return SimpleNamespace(**{
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"onnx.{name}")) for name in _MESSAGES
    })


def _onnx_ml_descriptor() -> bytes:
    """The serialised ``onnx/onnx-ml.proto`` descriptor, read from onnx's ``onnx_ml_pb2.py``
    without executing it (``find_spec`` of a top-level package does not import it)."""
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("onnx is not installed")
    source = Path(next(iter(spec.submodule_search_locations)), "onnx_ml_pb2.py").read_text(encoding="utf-8")
    call = next(
        node for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "AddSerializedFile"
    )
    blob = ast.literal_eval(call.args[0])
    if not isinstance(blob, bytes):
        raise ValueError("onnx_ml_pb2.AddSerializedFile is not given a bytes literal")
    return blob
