"""Black-box explanations: LIME, SmoothGrad by finite differences, occlusion, permutation
importance, pathwise (ReLU networks), attention rollout, SP-LIME and deletion/insertion
faithfulness — all batched through the Evaluator.

``explain(model, data, method=..., rows=..., target=..., seed=0, **params) -> Attribution``.
Every method is an :class:`Explainer` (``explain(evaluator, rows, *, targets, seed, params)``)
in a registry (:func:`get_explainer`, :func:`register`); :class:`Restarts` and
:class:`RandomisationCheck` wrap any of them.
"""

from .api import METHODS, explain, explain_pathwise, explain_rows
from .attribution import Attribution
from .faithfulness import deletion_insertion
from .protocol import Explainer, Rows
from .registry import get_explainer, register
from .restarts import Restarts
from .sanity import RandomisationCheck
from .settings import (AttentionSettings, LimeSettings, OcclusionSettings, PathwiseSettings, PermutationSettings,
                       SmoothGradSettings)
from .splime import submodular_pick

__all__ = ["Attribution", "AttentionSettings", "Explainer", "LimeSettings", "METHODS", "OcclusionSettings",
           "PathwiseSettings", "PermutationSettings", "RandomisationCheck", "Restarts", "Rows", "SmoothGradSettings",
           "deletion_insertion", "explain", "explain_pathwise", "explain_rows", "get_explainer", "register",
           "submodular_pick"]
