"""Out-of-distribution scores read off a classifier's outputs (black box).

Every score here has the same direction: **higher = more out of distribution**.

- ``msp``: ``−max_c softmax(z)_c`` — the maximum softmax probability baseline
  (Hendrycks & Gimpel 2017), negated.
- ``max_logit``: ``−max_c z_c`` (Hendrycks et al. 2022, "Scaling OOD detection").
- ``energy``: ``−T·logsumexp(z / T)`` (Liu, Wang, Owens & Li 2020); already "higher =
  more OOD".

``z`` are the model's logits when it outputs logits, else its log-probabilities
(``LocalEvaluator.logit_source`` says which). From log-probabilities, max-logit equals
log MSP (same ranking as MSP), and the energy is not identifiable: ``log p = z −
logsumexp(z)`` removes exactly the per-row constant the energy measures (at T = 1 it is
0 for every row). :func:`output_scores` therefore leaves ``energy`` out for
log-probabilities and says why in ``skipped``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

__all__ = ["OUTPUT_SCORES", "msp_score", "max_logit_score", "energy_score", "output_scores"]

OUTPUT_SCORES = ("msp", "max_logit", "energy")

ENERGY_FROM_LOG_PROBABILITIES = (
    "the model outputs probabilities, not logits: log-probabilities drop the per-row "
    "constant the energy measures (−logsumexp(log p) = 0 for every row), so the energy score is undefined"
)


def msp_score(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Negated maximum softmax probability, ``(n, k) -> (n,)``; higher = more OOD."""
    z = np.asarray(logits, dtype=np.float64)
    return -softmax(z / float(temperature), axis=1).max(axis=1)


def max_logit_score(logits: np.ndarray) -> np.ndarray:
    """Negated maximum logit, ``(n, k) -> (n,)``; higher = more OOD."""
    return -np.asarray(logits, dtype=np.float64).max(axis=1)


def energy_score(logits: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
    """Free energy ``−T·logsumexp(z / T)``, ``(n, k) -> (n,)``; higher = more OOD (Liu et al. 2020)."""
    t = float(temperature)
    return -t * logsumexp(np.asarray(logits, dtype=np.float64) / t, axis=1)


def output_scores(
    logits: np.ndarray, *, logit_source: str = "logits", temperature: float = 1.0
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """All output scores of one ``(n, k)`` logit matrix.

    Parameters
    ----------
    logits: (n, k) logits, or log-probabilities when ``logit_source == "log_probabilities"``.
    logit_source: ``"logits"`` or ``"log_probabilities"``.
    temperature: T of the energy score.

    Returns
    -------
    (scores, skipped): ``{name: (n,)}`` with higher = more OOD, and ``{name: reason}`` for
    the scores that cannot be computed from this kind of output.
    """
    z = np.asarray(logits, dtype=np.float64)
    scores = {"msp": msp_score(z), "max_logit": max_logit_score(z)}
    skipped: dict[str, str] = {}
    if logit_source == "logits":
        scores["energy"] = energy_score(z, temperature=temperature)
    else:
        skipped["energy"] = ENERGY_FROM_LOG_PROBABILITIES
    return scores, skipped
