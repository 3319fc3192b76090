"""audit-engine: audit any exported ONNX model as a black box.

>>> import audit_engine as ae
>>> model = ae.load_model("model.onnx", provider="auto")
>>> data = ae.load_data("compas.csv", target="two_year_recid", sensitive=["race", "sex"])
>>> result = ae.audit(model, data, config=ae.AuditConfig(seed=0))
>>> result.to_json("out/audit.json"); ae.render(result, "out/report.html")
"""

__version__ = "0.1.0"

from .audit import AuditContext, CheckOutcome, audit, prepare  # noqa: E402
from .compare import Comparison, compare  # noqa: E402
from .config import AuditConfig, PathRule, Policy, Rule, Verdict  # noqa: E402
from .data import AuditData, Feature, FeatureSpace, load_data  # noqa: E402
from .explain import Attribution, explain  # noqa: E402
from .explain.pathwise import PathwiseExplanation, explain_pathwise  # noqa: E402
from .errors import *  # noqa: E402,F403
from .errors import __all__ as _errors_all  # noqa: E402
from .evaluator import EvaluationStats, Evaluator, LocalEvaluator  # noqa: E402
from .model import OnnxModel, TensorSpec, load_model  # noqa: E402
from .report import render  # noqa: E402
from .result import SCHEMA_VERSION, AuditResult, validate  # noqa: E402
from .uncertainty import UncertaintyResult, uncertainty  # noqa: E402

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
