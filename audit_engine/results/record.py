"""Record: frozen dataclasses that are audit.json, both ways.

A result type is a ``@record`` class (a frozen, keyword-only dataclass deriving from
:class:`Record`). Its fields *are* the schema-defined keys of its part of audit.json:

- ``to_dict()`` writes them (numpy values unwrapped, NaN/inf as null);
- ``from_dict(doc)`` rebuilds the same object from the JSON, reading each field by its
  type hint (nested records, :class:`~audit_engine.stats.Estimate`, ``Mapping[str, T]``,
  ``tuple[T, ...]``, ``T | None``, plain JSON values); keys a newer minor version added
  are kept in ``extra`` (so a round trip loses nothing) and listed by
  :meth:`Record.unknown_keys`;
- ``to_frame()`` is a pandas DataFrame (long format by default: one row per number,
  with its interval where it has one; sections override it with their natural table).

Serialisation rules (one rule each, so the JSON shape is predictable):

- a field whose default is ``None`` is *omitted* when it is None (an optional key);
  a field without a default is always written (``null`` when None);
- a field named like a Python keyword takes its JSON key from ``json_key("global")``;
- a ``float`` field (not ``float | None``) reads ``null`` as NaN and writes NaN as null.

:class:`RecordMap` is a read-only mapping of records (``fairness["race"]``) with the same
three methods. Nothing here imports pandas until ``to_frame()`` is called.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, TypeVar, Union

import numpy as np

from ..suggest import unknown_key

__all__ = ["Record", "RecordMap", "record", "json_key", "encode", "decode"]

T = TypeVar("T")
R = TypeVar("R", bound="Record")


def record(cls: type[T]) -> type[T]:
    """Decorator: a frozen, keyword-only dataclass that is a :class:`Record` (equal when their JSON is)."""
    return dataclass(frozen=True, kw_only=True, eq=False)(cls)


def json_key(key: str, **kwargs: Any) -> Any:
    """A dataclass field stored under another JSON key (``global_`` -> ``"global"``)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["json"] = key
    return field(metadata=metadata, **kwargs)


@dataclass(frozen=True, kw_only=True, eq=False)
class Record:
    """Base of every result type; see the module docstring for the rules.

    Two records are equal when they are of the same type and write the same JSON, so an
    undefined number (NaN, null in the JSON) equals itself after a round trip.
    """

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        import json

        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    # -------------------------------------------------------------- JSON out
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, key in _fields(type(self)):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            out[key] = encode(value)
        for key, value in self.extra.items():
            out.setdefault(key, encode(value))
        return out

    # --------------------------------------------------------------- JSON in
    @classmethod
    def from_dict(cls: type[R], doc: Mapping[str, Any]) -> R:
        if not isinstance(doc, Mapping):
            raise TypeError(f"{cls.__name__} is read from a JSON object, not {type(doc).__name__}")
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        known = set()
        for f, key in _fields(cls):
            known.add(key)
            if key in doc:
                kwargs[f.name] = decode(doc[key], hints[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = _absent(hints[f.name], f"{cls.__name__}: the required key {key!r} is missing")
        extra = {k: v for k, v in doc.items() if k not in known}
        return cls(**kwargs, extra=extra)

    # ----------------------------------------------------------------- views
    def to_frame(self) -> Any:
        """A long pandas DataFrame: one row per number (``path``, ``value``, ``ci_low``, ``ci_high``)."""
        import pandas as pd

        return pd.DataFrame(list(_leaves(self.to_dict())), columns=["path", "value", "ci_low", "ci_high"])

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks (:mod:`audit_engine.report.card`)."""
        from ..report.card import card  # display is the report's job; imported on first display only

        return card(self)

    def unknown_keys(self, prefix: str = "") -> list[str]:
        """Paths of keys held in ``extra`` (not defined by this engine's types), recursively."""
        found = [f"{prefix}{k}" for k in self.extra]
        for f, key in _fields(type(self)):
            found.extend(_unknown(getattr(self, f.name), f"{prefix}{key}."))
        return found


class RecordMap(Mapping[str, T]):
    """A read-only ``{name: record}`` mapping (e.g. fairness per attribute) that is JSON both ways.

    Subclasses set ``item`` to the record type of the values.
    """

    item: ClassVar[type]

    def __init__(self, items: Mapping[str, T] | None = None) -> None:
        self._items: dict[str, T] = dict(items or {})

    def __getitem__(self, key: str) -> T:
        try:
            return self._items[key]
        except KeyError:
            raise unknown_key(key, self._items, type(self).__name__) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordMap) and type(other) is type(self) and other._items == self._items

    def __hash__(self) -> int:  # pragma: no cover - mappings are not hashed
        raise TypeError(f"unhashable type: {type(self).__name__}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks (:mod:`audit_engine.report.card`)."""
        from ..report.card import card  # display is the report's job; imported on first display only

        return card(self)

    def to_dict(self) -> dict[str, Any]:
        return {str(k): encode(v) for k, v in self._items.items()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RecordMap[T]:
        return cls({str(k): decode(v, cls.item) for k, v in doc.items()})

    def to_frame(self) -> Any:
        """The items' frames stacked, with the item's name as the first column (``name``)."""
        import pandas as pd

        frames = []
        for name, value in self._items.items():
            frame = value.to_frame() if hasattr(value, "to_frame") else pd.DataFrame([{"value": value}])
            frame.insert(0, "name", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["name"])

    def unknown_keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        for k, v in self._items.items():
            found.extend(_unknown(v, f"{prefix}{k}."))
        return found


# ---------------------------------------------------------------- encode / decode
def encode(value: Any) -> Any:
    """Plain JSON: records and estimates as objects, numpy unwrapped, NaN/inf as None, keys as str."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (Record, RecordMap)):
        return value.to_dict()
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return encode(value.to_dict())
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.ndarray):
        return encode(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def decode(obj: Any, tp: Any) -> Any:
    """Rebuild a value of type ``tp`` from its JSON form ``obj`` (see the module rules)."""
    if tp is Any or tp is object:
        return obj
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if obj is None:
            return None
        if len(arms) == 1:
            return decode(obj, arms[0])
        for arm in arms:  # e.g. float | str: the first arm the JSON value already is
            if _is_instance(obj, arm):
                return decode(obj, arm)
        return obj
    if isinstance(tp, type) and issubclass(tp, (Record, RecordMap)):
        return tp.from_dict(obj)
    if isinstance(tp, type) and hasattr(tp, "from_dict"):
        return tp.from_dict(obj)
    if origin in (Mapping, dict, typing.Mapping) or tp in (dict, Mapping):
        args = typing.get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): decode(v, value_type) for k, v in obj.items()}
    if origin in (tuple, list) or tp in (tuple, list):
        args = typing.get_args(tp)
        item_type = args[0] if args else Any
        return tuple(decode(v, item_type) for v in obj)
    if tp is float:
        return math.nan if obj is None else float(obj)
    if tp is int:
        return obj if obj is None else int(obj)
    return obj


def _is_instance(obj: Any, tp: Any) -> bool:
    base = typing.get_origin(tp) or tp
    if base is float:
        return isinstance(obj, (int, float)) and not isinstance(obj, bool)
    if base in (Mapping, dict) or (isinstance(base, type) and issubclass(base, (Record, RecordMap))):
        return isinstance(obj, Mapping)
    if base in (tuple, list):
        return isinstance(obj, list)
    return isinstance(base, type) and isinstance(obj, base)


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def _absent(tp: Any, message: str) -> Any:
    """The value of a required key an older minor version did not write: None, empty, or an error."""
    if _optional(tp):
        return None
    origin = typing.get_origin(tp) or tp
    if origin in (Mapping, dict):
        return {}
    if origin in (tuple, list):
        return ()
    raise ValueError(message)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], str], ...]:
    """(field, JSON key) of the serialised fields: not ``extra``, not those marked ``metadata={"json": None}``."""
    pairs = ((f, f.metadata.get("json", f.name)) for f in dataclasses.fields(cls) if f.name != "extra")
    return tuple((f, key) for f, key in pairs if key is not None)


def _unknown(value: Any, prefix: str) -> list[str]:
    if isinstance(value, (Record, RecordMap)):
        return value.unknown_keys(prefix)
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _unknown(v, f"{prefix}{k}.")]
    if isinstance(value, tuple):
        return [p for i, v in enumerate(value) for p in _unknown(v, f"{prefix}{i}.")]
    return []


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any, Any]]:
    if isinstance(node, Mapping):
        if "value" in node and "ci_low" in node and "ci_high" in node:
            yield path, node["value"], node["ci_low"], node["ci_high"]
            return
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        if all(isinstance(v, (int, float)) or v is None for v in node) and len(node) > 16:
            return  # long numeric arrays (curves, histograms) are not one number each
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node, None, None
