"""The one exception tree of audit-engine.

Every error a user can cause is an :class:`AuditEngineError`; its message is one
sentence that says what was expected, what came, and how to fix it. The CLI maps
every ``AuditEngineError`` to exit code 2 without a traceback.

::

    AuditEngineError
    ├── ModelError                  the .onnx file cannot be used
    │   ├── ModelNotFoundError
    │   ├── ModelFormatError        not ONNX, truncated, fails onnx.checker
    │   ├── ModelSecurityError      too large, external data outside its folder, custom ops
    │   ├── OutputError             unknown output name, unusable output type
    │   └── ModelRuntimeError       onnxruntime fails on the data, NaN/inf outputs
    ├── ProviderError               CUDA requested but not usable (an unknown name is a ConfigError)
    ├── DataError                   the data cannot be used
    │   ├── DataNotFoundError
    │   ├── ColumnError             missing / unexpected column
    │   ├── SchemaMismatchError     data does not fit the model's inputs
    │   └── InvalidValueError       NaN, inf, strings in numeric columns, empty data
    ├── ConfigError                 bad config file, bad flag value, bad parameter
    │   ├── PolicyError             a policy rule that cannot be checked (name, path, threshold, null)
    │   ├── UnknownArgumentError    a keyword a Python function does not take (also a TypeError)
    │   └── OutputFolderError       --out unusable, or holding files the engine did not write
    ├── ResourceLimitError          a model, array or table over --max-model-bytes / --max-memory
    ├── AuditTimeoutError           the audit ran past --timeout
    ├── NotFittedError              a detector used before fit
    ├── UnknownKeyError             result["auc"]: no such metric / view (also a KeyError)
    └── SchemaVersionError          an audit.json this version cannot read
"""

from __future__ import annotations

__all__ = [
    "AuditEngineError",
    "ModelError",
    "ModelNotFoundError",
    "ModelFormatError",
    "ModelSecurityError",
    "OutputError",
    "ModelRuntimeError",
    "ProviderError",
    "DataError",
    "DataNotFoundError",
    "ColumnError",
    "SchemaMismatchError",
    "InvalidValueError",
    "ConfigError",
    "PolicyError",
    "UnknownArgumentError",
    "OutputFolderError",
    "ResourceLimitError",
    "AuditTimeoutError",
    "NotFittedError",
    "UnknownKeyError",
    "SchemaVersionError",
]


class AuditEngineError(Exception):
    """Base class of every error a user can cause; the CLI exits 2 on it."""


class ModelError(AuditEngineError):
    """The model file cannot be used."""


class ModelNotFoundError(ModelError):
    """The model path does not exist or is not a file."""


class ModelFormatError(ModelError):
    """The file is not a valid ONNX model (not protobuf, truncated, fails the checker)."""


class ModelSecurityError(ModelError):
    """The model breaks a safety rule (size limit, external data outside its folder)."""


class OutputError(ModelError):
    """The requested output does not exist or cannot be interpreted."""


class ModelRuntimeError(ModelError):
    """onnxruntime failed while running the model on the data, or the outputs are NaN/inf."""


class ProviderError(AuditEngineError):
    """The execution provider is unknown or cannot run on this machine."""


class DataError(AuditEngineError):
    """The data cannot be used."""


class DataNotFoundError(DataError):
    """The data path does not exist."""


class ColumnError(DataError):
    """A required column (target, sensitive, feature) is missing or malformed."""


class SchemaMismatchError(DataError):
    """The data does not fit the model's inputs (count, names, dtypes, shapes)."""


class InvalidValueError(DataError):
    """Values the audit cannot use: NaN/inf, strings in numeric columns, empty data."""


class ConfigError(AuditEngineError):
    """A configuration value, flag or parameter is invalid."""


class PolicyError(ConfigError):
    """A policy rule that cannot be checked: unknown metric or path, bad threshold, undefined value."""


class OutputFolderError(ConfigError):
    """``--out`` is not writable, is a file, or holds files audit-engine did not write."""


class ResourceLimitError(AuditEngineError):
    """A model, array or table is larger than the run's limits (--max-model-bytes, --max-memory)."""


class AuditTimeoutError(AuditEngineError):
    """The audit ran past ``--timeout`` and was stopped."""


class NotFittedError(AuditEngineError):
    """A detector or estimator was used before ``fit`` was called."""


class SchemaVersionError(AuditEngineError):
    """An audit.json was written by a schema version this engine cannot read."""


class UnknownArgumentError(ConfigError, TypeError):
    """A keyword argument a function or class does not take (a TypeError, as Python's own
    would be), with the argument that was probably meant."""


class UnknownKeyError(AuditEngineError, KeyError):
    """A lookup (``result.performance["auc"]``, ``result.fairness["race x sex"]``) of a key the
    result does not hold, with the keys that were probably meant (a KeyError, as a dict's is)."""

    def __str__(self) -> str:  # KeyError's str is the repr of its argument; this one is a sentence
        return str(self.args[0]) if self.args else ""
