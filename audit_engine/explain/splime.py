"""SP-LIME: submodular pick of representative explanations (Ribeiro et al. 2016, §4).

Each explanation keeps its ``num_features`` largest weights (lime's default explanation
length, 10); the global importance of feature j is ``I_j = sqrt(Σ_i |W_ij|)``; rows are
picked greedily to maximise the coverage ``Σ_j I_j·[some picked row uses feature j]``, as
``lime.submodular_pick.SubmodularPick`` does on the candidate explanations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["submodular_pick"]


def submodular_pick(weights: np.ndarray, *, n_picks: int, num_features: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Greedy SP-LIME on explanations ``weights`` ``(n, d)``.

    Returns the picked row positions ``(min(n_picks, n),)`` in pick order and the global
    importance ``I`` ``(d,)`` (higher = the feature matters in more, stronger explanations).
    """
    w = np.abs(np.asarray(weights, dtype=np.float64))
    n, d = w.shape
    keep = np.argsort(-w, axis=1)[:, : min(num_features, d)]
    sparse = np.zeros_like(w)
    np.put_along_axis(sparse, keep, np.take_along_axis(w, keep, axis=1), axis=1)
    importance = np.sqrt(sparse.sum(axis=0))
    used = sparse > 0
    covered = np.zeros(d, dtype=bool)
    picks: list[int] = []
    available = np.ones(n, dtype=bool)
    for _ in range(min(n_picks, n)):  # greedy picks (few), each vectorised over all rows
        gain = ((used | covered) * importance).sum(axis=1)
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        picks.append(best)
        available[best] = False
        covered |= used[best]
    return np.array(picks, dtype=np.intp), importance
