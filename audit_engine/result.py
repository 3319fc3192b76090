"""AuditResult: the typed, versioned content of audit.json.

``SCHEMA_VERSION`` is ``MAJOR.MINOR``. Adding keys bumps MINOR; renaming or removing a
key bumps MAJOR. A reader accepts any file of the same MAJOR (older or newer MINOR:
unknown keys are kept, missing optional sections are absent) and refuses another MAJOR
with :class:`~audit_engine.errors.SchemaVersionError`.

The JSON Schema ships in ``audit_engine/schema/`` (one file per section);
:func:`validate` checks a dict against it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import CHECK_NAMES
from .errors import SchemaVersionError
from .policy import Verdict
from .results.explanations import ExplanationsResult
from .results.fairness import FairnessResult
from .results.ood import OODResult
from .results.performance import PerformanceResult
from .results.record import Record, record
from .results.robustness import RobustnessResult
from .results.slices import SlicesResult
from .results.uncertainty import UncertaintyResult

__all__ = [
    "SCHEMA_VERSION", "AuditResult", "CheckError", "CheckRecord", "DataInfo", "EngineInfo", "Evaluations",
    "ModelInfo", "TensorInfo", "validate", "atomic_write_text", "to_jsonable",
]

SCHEMA_VERSION = "1.3"  # 1.3: verdict codes (op, reason, ci, confidence, ...); fairness p_adjusted + multiplicity; attention agreement not_measurable
SECTIONS = CHECK_NAMES


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays unwrapped, NaN/inf as None, keys as str."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    return value


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file in the same folder, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@dataclass(frozen=True)
class CheckError:
    """An unexpected exception inside one check: the check's name, one line, the traceback."""

    check: str
    message: str
    traceback: str


# --------------------------------------------------------------------- the top-level blocks
@record
class EngineInfo(Record):
    """``engine``: who wrote the file, and the versions of the packages that shaped the numbers."""

    name: str
    version: str
    packages: Mapping[str, str] = field(default_factory=dict)


@record
class TensorInfo(Record):
    """One model input or output: its name, shape (None for a symbolic axis) and element type."""

    name: str
    shape: tuple[int | str | None, ...] | None
    dtype: str


@record
class ModelInfo(Record):
    """``model``: the audited file's identity, its IO, and how its output was read."""

    path: str
    sha256: str
    bytes: int | None = None
    opset: int
    producer: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    output: str | None = None
    output_kind: str | None = None
    normalisation: str | None = None
    rewrites: tuple[str, ...] = ()
    task: str
    classes: tuple[Any, ...] | None
    classes_source: str | None = None
    provider: str


@record
class DataInfo(Record):
    """``data``: the audited data's identity and layout."""

    path: str | None
    sha256: str
    rows: int
    features: tuple[str, ...]
    row_shape: tuple[int, ...] | None
    inputs: Mapping[str, tuple[int, ...]] | None = None
    target: str | None
    sensitive: tuple[str, ...]
    layout: str | None = None
    ignored_arrays: tuple[str, ...] | None = None  # arrays of the file that feed no model input (data named by input)


@record
class CheckRecord(Record):
    """``checks[name]``: whether a check ran (``ran``), was ``skipped`` (with the reason) or raised
    (``error``), with its model calls, evaluated rows and seconds."""

    status: str
    reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float | None = None
    model_calls: int | None = None
    rows_evaluated: int | None = None


@record
class Evaluations(Record):
    """``evaluations``: every model call of the audit, counted by the Evaluator."""

    model_calls: int
    rows_evaluated: int
    seconds: float
    total_seconds: float | None = None
    engine_overhead_seconds: float | None = None


_TOP = ("schema_version", "engine", "created", "seed", "status", "config", "model", "data")


@record
class AuditResult(Record):
    """Everything an audit found; ``to_dict()`` is exactly audit.json, ``from_dict`` reads it back.

    Sections that did not run are None and absent from the JSON. ``checks`` records, per
    check, whether it ran or why it was skipped, with its model calls and seconds, or
    ``status: "error"`` with the message of an unexpected exception inside it (the
    other checks still ran); ``errors`` keeps those exceptions' tracebacks (not in the JSON).
    """

    schema_version: str = SCHEMA_VERSION
    engine: EngineInfo
    created: str
    seed: int
    config: Mapping[str, Any] = field(default_factory=dict)
    model: ModelInfo
    data: DataInfo
    performance: PerformanceResult | None = None
    fairness: FairnessResult | None = None
    explanations: ExplanationsResult | None = None
    ood: OODResult | None = None
    uncertainty: UncertaintyResult | None = None
    robustness: RobustnessResult | None = None
    slices: SlicesResult | None = None
    verdicts: tuple[Verdict, ...] = ()
    checks: Mapping[str, CheckRecord] = field(default_factory=dict)
    evaluations: Evaluations
    errors: tuple[CheckError, ...] = field(default=(), metadata={"json": None})

    @property
    def status(self) -> str:
        """``error`` if a check raised an unexpected exception, else ``fail`` if any verdict
        fails, else ``warn`` if any warns, else ``pass``."""
        if any(c.status == "error" for c in self.checks.values()):
            return "error"
        statuses = {v.status for v in self.verdicts}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def verdict_frame(self) -> Any:
        """One row per verdict, failures first: ``check``, ``status``, ``metric``, ``subject``,
        ``value``, ``threshold``, ``path``, ``message`` (a pandas DataFrame)."""
        import pandas as pd

        order = {"fail": 0, "warn": 1, "pass": 2}
        rows = [{"check": v.check, "status": v.status, "metric": v.metric, "subject": v.subject,
                 "value": math.nan if v.value is None else v.value,
                 "threshold": math.nan if v.threshold is None else v.threshold, "path": v.path, "message": v.message}
                for v in sorted(self.verdicts, key=lambda v: order.get(v.status, 3))]
        return pd.DataFrame(rows, columns=["check", "status", "metric", "subject", "value", "threshold", "path", "message"])

    def to_dict(self) -> dict[str, Any]:
        doc = super().to_dict()
        doc["status"] = self.status
        return {**{k: doc[k] for k in _TOP if k in doc}, **{k: v for k, v in doc.items() if k not in _TOP}}

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """Serialise (validated against the schema); write atomically when ``path`` is given."""
        doc = self.to_dict()
        validate(doc)
        text = json.dumps(doc, indent=indent, sort_keys=False, allow_nan=False, ensure_ascii=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AuditResult:  # type: ignore[override]
        """Rebuild the typed result; another MAJOR schema version is refused in one sentence."""
        version = str(doc.get("schema_version", ""))
        major = version.split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise SchemaVersionError(
                f"This audit.json has schema version {version or '(none)'!r}; this engine reads "
                f"{SCHEMA_VERSION.split('.')[0]}.x. Re-run the audit with this version, or render it "
                "with the engine version that wrote it."
            )
        for key in ("engine", "created", "seed", "model", "data"):
            if key not in doc:
                raise SchemaVersionError(
                    f"This audit.json lacks the required key {key!r}; it was not written by audit-engine "
                    "or it is damaged."
                )
        body = {k: v for k, v in doc.items() if k != "status"}  # status is derived from verdicts and checks
        body.setdefault("evaluations", {"model_calls": 0, "rows_evaluated": 0, "seconds": 0.0})
        try:
            return super().from_dict(body)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise SchemaVersionError(
                f"This audit.json does not have the layout audit-engine writes ({exc}); re-run the audit or "
                "restore the file audit-engine wrote."
            ) from exc

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> AuditResult:
        from .errors import DataNotFoundError

        file = Path(path)
        if not file.is_file():
            raise DataNotFoundError(f"audit.json file {str(file)!r} does not exist; check the path.")
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SchemaVersionError(f"{str(file)!r} is not valid JSON ({exc}); pass an audit.json written by audit-engine.") from exc
        if not isinstance(doc, dict):
            raise SchemaVersionError(f"{str(file)!r} does not hold a JSON object; pass an audit.json written by audit-engine.")
        _check_version(doc)  # another MAJOR gets its own message, before the layout is checked
        _check_against_schema(doc, file)
        return cls.from_dict(doc)


def _check_version(doc: Mapping[str, Any]) -> None:
    version = str(doc.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        AuditResult.from_dict(doc)  # raises the version sentence


def _check_against_schema(doc: dict[str, Any], file: Path) -> None:
    """A damaged audit.json (wrong types, broken entries) fails here, in one sentence.

    Top-level keys an older minor version did not write may be missing (the reader copes).
    """
    errors = [e for e in _validator().iter_errors(doc) if e.absolute_path or e.validator != "required"]
    if errors:
        exc = min(errors, key=lambda e: len(e.absolute_path))
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        message = " ".join(exc.message.split())
        if len(message) > 160:
            message = message[:157] + "..."
        raise SchemaVersionError(
            f"{str(file)!r} is damaged: at {where}, {message}; re-run the audit or restore the file audit-engine wrote."
        ) from exc


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema
    from referencing import Registry, Resource

    folder = resources.files("audit_engine") / "schema"
    registry = Registry()
    root = None
    for item in folder.iterdir():
        if item.name.endswith(".json"):
            schema = json.loads(item.read_text(encoding="utf-8"))
            registry = registry.with_resource(item.name, Resource.from_contents(schema))
            if item.name == "audit.schema.json":
                root = schema
    assert root is not None, "audit.schema.json is missing from the package"
    cls = jsonschema.validators.validator_for(root)
    return cls(root, registry=registry)


def validate(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` does not follow the audit.json schema."""
    _validator().validate(doc)
