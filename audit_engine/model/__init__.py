"""Load and describe ONNX models; normalise their outputs; pick the execution provider."""

from .loader import MAX_MODEL_BYTES, OnnxModel, TensorSpec, load_model
from .outputs import NORMALISATION, OUTPUT_KINDS, guess_kind, logit_source, normalise, to_logits
from .providers import PROVIDERS, create_session, describe_provider

__all__ = [
    "MAX_MODEL_BYTES",
    "NORMALISATION",
    "OUTPUT_KINDS",
    "PROVIDERS",
    "OnnxModel",
    "TensorSpec",
    "create_session",
    "describe_provider",
    "guess_kind",
    "load_model",
    "logit_source",
    "normalise",
    "to_logits",
]
