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
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SchemaVersionError

__all__ = ["SCHEMA_VERSION", "AuditResult", "CheckError", "validate", "atomic_write_text", "to_jsonable"]

SCHEMA_VERSION = "1.1"
SECTIONS = ("performance", "fairness", "explanations", "ood", "uncertainty")


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


@dataclass
class AuditResult:
    """Everything an audit found; ``to_dict()`` is exactly audit.json.

    Sections that did not run are None and absent from the JSON. ``checks`` records, per
    check, whether it ran or why it was skipped, with its model calls and seconds, or
    ``status: "error"`` with the message of an unexpected exception inside it (the
    other checks still ran); ``errors`` keeps those exceptions' tracebacks (not in the JSON).
    """

    engine: dict[str, Any]
    created: str
    seed: int
    config: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    evaluations: dict[str, Any]
    verdicts: list[dict[str, Any]]
    checks: dict[str, Any]
    performance: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    explanations: dict[str, Any] | None = None
    ood: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None
    schema_version: str = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    errors: list[CheckError] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``error`` if a check raised an unexpected exception, else ``fail`` if any verdict
        fails, else ``warn`` if any warns, else ``pass``."""
        if any(isinstance(c, dict) and c.get("status") == "error" for c in self.checks.values()):
            return "error"
        statuses = {v["status"] for v in self.verdicts}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "engine": self.engine,
            "created": self.created,
            "seed": self.seed,
            "status": self.status,
            "config": self.config,
            "model": self.model,
            "data": self.data,
        }
        for name in SECTIONS:
            section = getattr(self, name)
            if section is not None:
                out[name] = section
        out["verdicts"] = self.verdicts
        out["checks"] = self.checks
        out["evaluations"] = self.evaluations
        out.update(self.extra)
        return to_jsonable(out)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """Serialise (validated against the schema); write atomically when ``path`` is given."""
        doc = self.to_dict()
        validate(doc)
        text = json.dumps(doc, indent=indent, sort_keys=False, allow_nan=False, ensure_ascii=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AuditResult:
        version = str(doc.get("schema_version", ""))
        major = version.split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise SchemaVersionError(
                f"This audit.json has schema version {version or '(none)'!r}; this engine reads "
                f"{SCHEMA_VERSION.split('.')[0]}.x. Re-run the audit with this version, or render it "
                "with the engine version that wrote it."
            )
        known = {
            "schema_version", "engine", "created", "seed", "status", "config", "model", "data",
            "evaluations", "verdicts", "checks", *SECTIONS,
        }
        try:
            return cls(
                engine=doc["engine"],
                created=doc["created"],
                seed=doc["seed"],
                config=doc.get("config", {}),
                model=doc["model"],
                data=doc["data"],
                evaluations=doc.get("evaluations", {}),
                verdicts=doc.get("verdicts", []),
                checks=doc.get("checks", {}),
                schema_version=version,
                extra={k: v for k, v in doc.items() if k not in known},
                **{name: doc.get(name) for name in SECTIONS},
            )
        except KeyError as exc:
            raise SchemaVersionError(
                f"This audit.json lacks the required key {exc.args[0]!r}; it was not written by audit-engine "
                "or it is damaged."
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
        result = cls.from_dict(doc)  # the version first: another MAJOR gets its own message
        _check_against_schema(doc, file)
        return result


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
