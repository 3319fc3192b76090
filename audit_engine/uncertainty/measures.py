"""Uncertainty measures from several predictive distributions of the same rows.

Given ``P`` of shape ``(T, n, k)`` — T stochastic passes (MC dropout) or T committee
members — with mean ``P̄ = mean_t P_t`` (all entropies in nats):

- predictive entropy ``H[P̄]`` (total uncertainty),
- aleatoric = expected entropy ``mean_t H[P_t]`` (noise the model sees in the data),
- epistemic = mutual information ``H[P̄] − mean_t H[P_t] = mean_t KL(P_t ‖ P̄)`` (what the
  passes / members disagree about; Gal 2016, Depeweg et al. 2018, Kendall & Gal 2017).
  For a committee the same quantity is McCallum & Nigam's (1998) "KL to the consensus".

Committee label measures: vote entropy (Dagan & Engelson 1995) — the entropy of the
members' vote shares — and mean pairwise disagreement — the fraction of member pairs
whose predicted labels differ.
"""

from __future__ import annotations

import numpy as np

__all__ = ["entropy", "decompose", "vote_entropy", "pairwise_disagreement"]

_EPS = 1e-12


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along ``axis`` (0·log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(p * np.log(np.clip(p, _EPS, None)), axis=axis)


def decompose(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(T, n, k)`` probabilities → (predictive entropy, aleatoric, epistemic), each ``(n,)``."""
    probs = np.asarray(probs, dtype=np.float64)
    total = entropy(probs.mean(axis=0))
    aleatoric = entropy(probs).mean(axis=0)
    epistemic = np.maximum(total - aleatoric, 0.0)  # >= 0 by Jensen; clip rounding
    return total, aleatoric, epistemic


def vote_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy (nats) of the share of members voting for each class, ``(T, n, k) → (n,)``."""
    probs = np.asarray(probs)
    t, _, k = probs.shape
    votes = np.eye(k)[probs.argmax(axis=2)].sum(axis=0) / t  # (n, k)
    return entropy(votes)


def pairwise_disagreement(probs: np.ndarray) -> np.ndarray:
    """Fraction of member pairs with different predicted labels, ``(T, n, k) → (n,)``."""
    probs = np.asarray(probs)
    t, _, k = probs.shape
    if t < 2:
        return np.zeros(probs.shape[1])
    counts = np.eye(k)[probs.argmax(axis=2)].sum(axis=0)  # (n, k)
    return (t * t - (counts**2).sum(axis=1)) / (t * (t - 1))
