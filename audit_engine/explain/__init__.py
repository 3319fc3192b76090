"""Black-box explanations: LIME, SmoothGrad by finite differences, occlusion, permutation
importance, SP-LIME and deletion/insertion faithfulness — all batched through the Evaluator.

``explain(model, data, method=..., rows=..., target=..., seed=0, **params) -> Attribution``.
"""

from .api import METHODS, attribute, explain, explain_rows
from .attribution import Attribution
from .faithfulness import deletion_insertion
from .splime import submodular_pick

__all__ = ["Attribution", "METHODS", "attribute", "deletion_insertion", "explain", "explain_rows", "submodular_pick"]
