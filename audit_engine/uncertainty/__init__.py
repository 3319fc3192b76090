"""Uncertainty: MC dropout from the ONNX graph, committee disagreement, the review queue."""

from .api import METHODS, UncertaintyResult, uncertainty
from .measures import decompose, entropy, pairwise_disagreement, vote_entropy
from .review import review_queue

__all__ = ["METHODS", "UncertaintyResult", "uncertainty", "decompose", "entropy", "pairwise_disagreement",
           "vote_entropy", "review_queue"]
