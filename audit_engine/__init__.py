"""audit-engine: audit any exported ONNX model as a black box.

>>> import audit_engine as ae
>>> model = ae.load_model("model.onnx", provider="auto")
>>> data = ae.load_data("compas.csv", target="two_year_recid", sensitive=["race", "sex"])
>>> result = ae.audit(model, data, config=ae.AuditConfig(seed=0))
>>> result.to_json("out/audit.json"); ae.render(result, "out/report.html")
"""

from ._version import __version__

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .errors import *  # noqa: E402,F403  (the exception tree is light: imported at once)
from .errors import __all__ as _errors_all  # noqa: E402

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# `audit-engine --help` or `import audit_engine.errors` does not pay for onnx, scipy,
# pandas, matplotlib and scikit-learn.
_LAZY = {
    "AuditContext": "audit", "CheckOutcome": "audit", "audit": "audit", "prepare": "audit",
    "Comparison": "compare", "compare": "compare",
    "AuditConfig": "config", "PathRule": "config", "Policy": "config", "Rule": "config", "Verdict": "config",
    "AuditData": "data", "Feature": "data", "FeatureSpace": "data", "load_data": "data",
    "Attribution": "explain", "explain": "explain",
    "PathwiseExplanation": "explain.pathwise", "explain_pathwise": "explain",
    "EvaluationStats": "evaluator", "Evaluator": "evaluator", "LocalEvaluator": "evaluator",
    "OnnxModel": "model", "TensorSpec": "model", "load_model": "model",
    "render": "report",
    "SCHEMA_VERSION": "result", "AuditResult": "result", "validate": "result",
    "UncertaintyResult": "uncertainty", "uncertainty": "uncertainty",
    "mlflow": "integrations",  # the optional MLflow integration (not in __all__: `import *` must not need it)
}

if TYPE_CHECKING:  # static tools see the real names
    from .audit import AuditContext, CheckOutcome, audit, prepare
    from .compare import Comparison, compare
    from .config import AuditConfig, PathRule, Policy, Rule, Verdict
    from .data import AuditData, Feature, FeatureSpace, load_data
    from .evaluator import EvaluationStats, Evaluator, LocalEvaluator
    from .explain import Attribution, explain, explain_pathwise
    from .explain.pathwise import PathwiseExplanation
    from .model import OnnxModel, TensorSpec, load_model
    from .report import render
    from .result import SCHEMA_VERSION, AuditResult, validate
    from .uncertainty import UncertaintyResult, uncertainty


def _lazy(name: str, module: str) -> property:
    def get(self: types.ModuleType) -> object:
        return getattr(importlib.import_module(f".{module}", __name__), name)

    def ignore(self: types.ModuleType, value: object) -> None:
        # The import system binds a submodule to its package (`audit_engine.audit`); the
        # public name keeps meaning the function of the same name, as it always has.
        pass

    return property(get, ignore)


class _Package(types.ModuleType):
    """The package module, with its public names resolved on first use."""


for _name, _module in _LAZY.items():
    setattr(_Package, _name, _lazy(_name, _module))
sys.modules[__name__].__class__ = _Package


__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "Attribution",
    "AuditConfig",
    "AuditContext",
    "AuditData",
    "AuditResult",
    "CheckOutcome",
    "Comparison",
    "EvaluationStats",
    "Evaluator",
    "Feature",
    "FeatureSpace",
    "LocalEvaluator",
    "OnnxModel",
    "PathRule",
    "PathwiseExplanation",
    "Policy",
    "Rule",
    "TensorSpec",
    "UncertaintyResult",
    "Verdict",
    "audit",
    "compare",
    "explain",
    "explain_pathwise",
    "load_data",
    "load_model",
    "prepare",
    "render",
    "uncertainty",
    "validate",
    *_errors_all,
]


def __dir__() -> list[str]:
    """The public API (what IPython completes after ``ae.``), not the loader's own imports."""
    return sorted({*__all__, *_LAZY, *(k for k in globals() if k.startswith("__") and k.endswith("__"))})
