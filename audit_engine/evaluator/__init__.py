"""The Evaluator: the one door to the model (batched, chunked by bytes, counted)."""

from .base import EvaluationStats, Evaluator, Progress
from .local import DEFAULT_CHUNK_BYTES, LocalEvaluator

__all__ = ["DEFAULT_CHUNK_BYTES", "EvaluationStats", "Evaluator", "LocalEvaluator", "Progress"]
