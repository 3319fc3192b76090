"""``uncertainty(model, rows, ...)``: predictive uncertainty split into aleatoric and epistemic.

Two methods, one return type (:class:`UncertaintyResult`):

- ``"mc_dropout"`` (Gal & Ghahramani 2016; Kendall & Gal 2017): the model's Dropout nodes
  are rewritten to sample masks at inference (:mod:`audit_engine.model.dropout`); T seeded
  passes through the Evaluator.
- ``"committee"``: ``model`` and ``models`` (other versions of it) on the same rows;
  adds vote entropy and mean pairwise disagreement.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.loader import AuditData, load_data
from ..data.space import FeatureSpace
from ..errors import ConfigError
from ..evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from ..model.loader import OnnxModel, load_model
from .committee import committee_probabilities
from .mc_dropout import MCDropoutSampler
from .measures import decompose, pairwise_disagreement, vote_entropy

__all__ = ["UncertaintyResult", "uncertainty", "METHODS", "summarise"]

METHODS = ("mc_dropout", "committee")


@dataclass(frozen=True)
class UncertaintyResult:
    """Per-row uncertainty (entropies in nats); higher = more uncertain.

    Attributes
    ----------
    method: ``"mc_dropout"`` or ``"committee"``.
    predictive_entropy, aleatoric, epistemic: (n,); predictive = aleatoric + epistemic.
    mean_proba: (n, k) mean of the T predictive distributions.
    prediction: (n,) argmax of ``mean_proba``.
    vote_entropy, disagreement: (n,) committee only (else None).
    passes: T (MC passes or committee members).
    outputs_vary: whether the T distributions differ at all (False means the sampling did nothing).
    params: method details (seed, Dropout sites, members); evaluations: model calls used.
    """

    method: str
    predictive_entropy: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    mean_proba: np.ndarray
    prediction: np.ndarray
    passes: int
    outputs_vary: bool
    vote_entropy: np.ndarray | None = None
    disagreement: np.ndarray | None = None
    classes: list[Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    evaluations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, bins: int = 20) -> dict[str, Any]:
        """A JSON summary (means, quantiles, histograms; never every row)."""
        arrays = {"predictive_entropy": self.predictive_entropy, "aleatoric": self.aleatoric, "epistemic": self.epistemic}
        if self.vote_entropy is not None:
            arrays["vote_entropy"] = self.vote_entropy
        if self.disagreement is not None:
            arrays["disagreement"] = self.disagreement
        return {
            "method": self.method,
            "rows": int(self.predictive_entropy.shape[0]),
            "passes": self.passes,
            "units": "nats",
            "outputs_vary": self.outputs_vary,
            "summary": {name: summarise(v, bins=bins) for name, v in arrays.items()},
            "params": self.params,
            "evaluations": self.evaluations,
        }


def summarise(values: np.ndarray, *, bins: int = 20) -> dict[str, Any]:
    """Mean, quantiles and a histogram of one per-row measure."""
    v = np.asarray(values, dtype=np.float64)
    q = np.quantile(v, [0.5, 0.9, 0.99]) if v.size else [np.nan] * 3
    hi = float(v.max()) if v.size and v.max() > 0 else 1.0
    counts, edges = np.histogram(v, bins=bins, range=(0.0, hi))
    return {"mean": float(v.mean()) if v.size else None, "median": float(q[0]), "p90": float(q[1]),
            "p99": float(q[2]), "max": float(v.max()) if v.size else None,
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}


def from_probabilities(method: str, probs: np.ndarray, **extra: Any) -> UncertaintyResult:
    """Build an :class:`UncertaintyResult` from ``(T, n, k)`` probabilities."""
    total, aleatoric, epistemic = decompose(probs)
    mean = probs.mean(axis=0)
    committee = method == "committee"
    return UncertaintyResult(
        method=method, predictive_entropy=total, aleatoric=aleatoric, epistemic=epistemic, mean_proba=mean,
        prediction=mean.argmax(axis=1), passes=int(probs.shape[0]),
        outputs_vary=bool(np.any(np.ptp(probs, axis=0) > 0)),
        vote_entropy=vote_entropy(probs) if committee else None,
        disagreement=pairwise_disagreement(probs) if committee else None,
        **extra,
    )


def uncertainty(
    model: OnnxModel | str | os.PathLike[str],
    rows: AuditData | Any,
    *,
    method: str = "mc_dropout",
    passes: int = 30,
    models: Sequence[OnnxModel | str | os.PathLike[str]] | None = None,
    seed: int | np.random.Generator | None = 0,
    features: Sequence[str] | None = None,
    provider: str = "auto",
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> UncertaintyResult:
    """Predictive uncertainty of ``model`` on ``rows``.

    Parameters
    ----------
    model: an OnnxModel or a path to an .onnx file (a classifier).
    rows: AuditData, DataFrame (feature columns), or an array in the model's input layout.
    method: ``"mc_dropout"`` (the model must contain Dropout) or ``"committee"``.
    passes: MC-dropout passes T (>= 2).
    models: committee: the other model versions (the committee is ``[model, *models]``).
    seed: int or Generator for the dropout masks.
    features: feature columns of tabular ``rows`` (default all columns).

    Returns
    -------
    UncertaintyResult with ``predictive_entropy``, ``aleatoric``, ``epistemic`` of shape (n,).
    """
    if method not in METHODS:
        raise ConfigError(f"The 'method' parameter of uncertainty must be one of {', '.join(METHODS)}; got {method!r}.")
    if not isinstance(model, OnnxModel):
        model = load_model(model, provider=provider)
    data = load_data(rows, features=features)
    if method == "committee":
        if not models:
            raise ConfigError("method='committee' needs models=[...] (other versions of the model) to compare with.")
        probs, names, stats = committee_probabilities([model, *models], data, features=features, provider=provider,
                                                      max_chunk_bytes=max_chunk_bytes)
        return from_probabilities("committee", probs, params={"members": names}, evaluations=stats.to_dict())
    space = FeatureSpace.bind(model, data, features=features)
    x = space.encode(data)
    plain = LocalEvaluator(model, space, max_chunk_bytes=max_chunk_bytes, probe_rows=x, y=data.y)
    if plain.task != "classification":
        raise ConfigError("MC-dropout uncertainty needs a classifier; this model's output is a regression.")
    sampler = MCDropoutSampler(model, space, max_chunk_bytes=max_chunk_bytes)
    probs = sampler.sample(x, passes=passes, seed=seed)
    return from_probabilities(
        "mc_dropout", probs, classes=plain.classes,
        params={"seed": seed if isinstance(seed, int) else None, "dropout": sampler.sites_info,
                "masks": "one Bernoulli mask per Dropout per pass, fed as a graph input"},
        evaluations=sampler.evaluator.stats.to_dict(),
    )
