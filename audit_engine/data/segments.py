"""Segments: several model inputs packed into one flat row in feature space.

A model with several inputs (an image plus tabular side features; ``input_ids`` +
``attention_mask`` of a text model) or with one integer input (token ids) is bound with
the ``segments`` layout: each row in feature space is one float64 vector ``(d,)`` made of
one *segment* per model input, in the model's input order::

    row = [ image (1·8·8 = 64 values) | side (3 values) ]          offsets 0 and 64

so the Evaluator and every method keep working on ``(n, d)`` rows, and
:meth:`FeatureSpace.feeds` cuts each row back into the model's tensors, casting each to
its input's dtype (int64 for token ids, rounded first).

Each segment has a ``kind``:

``continuous``  a float input: noise, finite differences and LIME's Gaussian sampling apply.
``discrete``    an integer input (token ids, categorical codes, token type ids): never
                perturbed with noise; methods draw values of its own domain or replace
                it by a baseline id (pad / mask).
``mask``        an attention mask: it follows its tokens (a removed or occluded token gets
                mask 0), it is never perturbed on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import InvalidValueError, SchemaMismatchError
from ..model.loader import TensorSpec

__all__ = ["Segment", "segments_for", "pack", "unpack", "segment_kind", "check_row_shape"]

SegmentKind = Literal["continuous", "discrete", "mask"]


@dataclass(frozen=True)
class Segment:
    """One model input inside a flat feature-space row: ``row[offset : offset + size]``."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    kind: SegmentKind

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stop(self) -> int:
        return self.offset + self.size

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.stop)

    @property
    def is_continuous(self) -> bool:
        return self.kind == "continuous"

    def feature_names(self) -> list[str]:
        if len(self.shape) == 1:
            return [f"{self.name}[{i}]" for i in range(self.shape[0])]
        return [f"{self.name}[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*self.shape)]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "offset": self.offset,
                "kind": self.kind}


def segment_kind(spec: TensorSpec) -> SegmentKind:
    """``continuous`` for float inputs, ``mask`` for an integer ``*mask*`` input, else ``discrete``."""
    dtype = spec.dtype
    if dtype.startswith("float"):
        return "continuous"
    if "mask" in spec.name.lower():
        return "mask"
    return "discrete"


def check_row_shape(spec: TensorSpec, row: tuple[int, ...], what: str) -> None:
    """Refuse rows of shape ``row`` that input ``spec`` (``[batch, *dims]``) cannot take;
    symbolic dims take any size. ``what`` names the data in the message."""
    want = tuple(spec.shape[1:]) if spec.shape else None
    if want is None or len(want) != len(row) or any(
        isinstance(w, int) and w != r for w, r in zip(want, row, strict=False)
    ):
        raise SchemaMismatchError(
            f"Model input {spec.name!r} expects rows of shape {list(want or [])}; {what} has "
            f"rows of shape {list(row)}; reshape or transpose that array to match."
        )


def segments_for(inputs: Sequence[TensorSpec], shapes: Mapping[str, tuple[int, ...]]) -> tuple[Segment, ...]:
    """Segments in the model's input order, with per-row ``shapes`` taken from the data."""
    out, offset = [], 0
    for spec in inputs:
        if spec.numpy_dtype is None or spec.dtype == "string":
            raise SchemaMismatchError(
                f"Model input {spec.name!r} has type {spec.type}; array data can feed numeric tensors only."
            )
        row = tuple(int(s) for s in shapes[spec.name])
        check_row_shape(spec, row, "the data for it")
        seg = Segment(spec.name, spec.dtype, row, offset, segment_kind(spec))
        out.append(seg)
        offset = seg.stop
    return tuple(out)


def pack(segments: Sequence[Segment], arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """Flat float64 rows ``(n, d)`` from one array ``(n, *segment.shape)`` per segment."""
    n = len(next(iter(arrays.values())))
    out = np.empty((n, segments[-1].stop if segments else 0), dtype=np.float64)
    for seg in segments:
        a = np.asarray(arrays[seg.name])
        if tuple(a.shape[1:]) != seg.shape or a.shape[0] != n:
            raise SchemaMismatchError(
                f"The data for input {seg.name!r} has shape {list(a.shape)}; expected ({n}, "
                f"{', '.join(map(str, seg.shape))})."
            )
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InvalidValueError(f"The array for input {seg.name!r} must be numeric; got dtype {a.dtype}.")
        if seg.kind != "continuous" and np.issubdtype(a.dtype, np.floating) and np.any(np.mod(a, 1) != 0):
            raise InvalidValueError(
                f"Model input {seg.name!r} is {seg.dtype} but its data holds non-integer values; "
                "pass integer ids or codes for it."
            )
        out[:, seg.slice] = a.reshape(n, -1)
    return out


def unpack(segments: Sequence[Segment], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The model's feeds from flat rows ``(m, d)``: one tensor per segment, in its dtype.

    Discrete and mask segments are rounded before the cast, so a value that a method
    computed in float (never noise) lands on the integer it stands for.
    """
    m = rows.shape[0]
    feeds = {}
    for seg in segments:
        part = rows[:, seg.slice]
        if seg.kind != "continuous":
            part = np.rint(part)
        feeds[seg.name] = np.ascontiguousarray(part.reshape((m, *seg.shape)), dtype=np.dtype(seg.dtype))
    return feeds
