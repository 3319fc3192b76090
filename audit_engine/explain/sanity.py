"""Sanity check of an explanation method: does it explain *this model*? (Adebayo et al. 2018)

Cascading model-parameter randomisation: the model's weighted layers are randomised one
after the other from the output down (:func:`audit_engine.model.randomise.randomisation_cascade`);
after each step the method explains the same rows, for the same targets, with the same
seed, on the randomised model, and the Spearman rank correlation between each row's
|attributions| and the original model's is recorded. A method whose explanations barely
change once the model's weights are random (mean correlation above ``threshold`` on the
fully randomised cascade) reflects the input (edges, magnitudes) rather than the model,
and is flagged "does not explain this model".

:class:`RandomisationCheck` wraps any :class:`~.protocol.Explainer`: its ``explain()``
returns the wrapped method's Attribution with the cascade's :class:`SanityResult` in
``attr.wrapped["sanity"]``; :func:`sanity_check` runs the cascade for any function from an
evaluator to attributions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..data.space import FeatureSpace
from ..evaluator.base import EvaluationStats
from ..evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from ..model.loader import OnnxModel
from ..model.randomise import randomisation_cascade
from ..results.explanations import Sanity, SanityStepRecord
from ..stats import Estimate
from ._common import mean_interval
from .attribution import Attribution
from .protocol import Explainer, Rows, Seed, seed_entropy

__all__ = ["SanityStep", "SanityResult", "RandomisationCheck", "rank_correlation", "sanity_check",
           "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.9

AttributionFn = Callable[[LocalEvaluator], np.ndarray]
"""evaluator -> attributions ``(n, ...)`` of the fixed rows (any method, any parameters)."""


@dataclass(frozen=True)
class SanityStep:
    """One cascade step: the layer randomised last, all layers randomised so far, and
    ``spearman`` (mean over rows of the per-row rank correlation of |attributions| with
    the original's, with its Student-t interval over rows); ``per_row`` ``(n,)``."""

    layer: str
    randomised: list[str]
    spearman: Estimate
    per_row: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "randomised": list(self.randomised), "spearman": self.spearman.to_dict()}


@dataclass(frozen=True)
class SanityResult:
    """The cascade of one method. ``flagged``: the mean correlation after the last step is
    above ``threshold`` (the explanations do not depend on the model's weights)."""

    method: str
    steps: list[SanityStep]
    flagged: bool
    threshold: float
    rows: int
    evaluations: EvaluationStats = field(default_factory=EvaluationStats)

    @property
    def message(self) -> str:
        if not self.steps:
            return "the model has no weighted layer to randomise"
        last = self.steps[-1].spearman.value
        if self.flagged:
            return (f"does not explain this model: with all {len(self.steps)} weighted layer(s) randomised its "
                    f"attributions still rank-correlate {last:.2f} with the original's (threshold {self.threshold:g})")
        return (f"passes: with all {len(self.steps)} weighted layer(s) randomised the rank correlation with the "
                f"original attributions falls to {last:.2f}")

    def to_dict(self) -> dict[str, Any]:
        return self.to_record().to_dict()

    def to_record(self) -> Sanity:
        """``explanations.<method>.sanity`` of audit.json."""
        steps = tuple(SanityStepRecord(layer=s.layer, randomised=tuple(s.randomised), spearman=s.spearman)
                      for s in self.steps)
        return Sanity(steps=steps, flagged=bool(self.flagged), threshold=float(self.threshold), rows=int(self.rows),
                      message=self.message)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row Spearman correlation of ``|a|`` and ``|b|`` (both ``(n, d)``); NaN where one is constant."""
    ra = rankdata(np.abs(a), axis=1)
    rb = rankdata(np.abs(b), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def sanity_check(
    model: OnnxModel,
    space: FeatureSpace,
    explainer: AttributionFn,
    *,
    method: str,
    original: np.ndarray | None = None,
    evaluator: LocalEvaluator | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    max_layers: int | None = None,
    confidence: float = 0.95,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> SanityResult:
    """Run the randomisation cascade for one explanation method.

    Parameters
    ----------
    model, space: the audited model (output kind resolved) and its FeatureSpace.
    explainer: evaluator -> attributions ``(n, ...)`` of the fixed rows.
    original: the attributions on the original model (default: ``explainer(evaluator)``).
    seed: seeds the random weights.
    threshold: flag when the mean correlation after the last step is above it.
    max_layers: randomise at most this many layers from the top (default: all).
    """
    if original is None:
        if evaluator is None:
            evaluator = LocalEvaluator(model, space, max_chunk_bytes=max_chunk_bytes)
        original = explainer(evaluator)
    binding = evaluator.binding if evaluator is not None else None  # the randomised copies read the output alike
    base = np.asarray(original, dtype=np.float64).reshape(original.shape[0], -1)
    stats = EvaluationStats()
    steps: list[SanityStep] = []
    for layer, done, randomised in randomisation_cascade(model, seed=seed, max_layers=max_layers):
        ev = LocalEvaluator(randomised, space, max_chunk_bytes=max_chunk_bytes, binding=binding)
        attr = np.asarray(explainer(ev), dtype=np.float64).reshape(base.shape[0], -1)
        stats.add(ev.stats)
        rho = rank_correlation(base, attr)
        ok = rho[np.isfinite(rho)]
        if ok.size:
            m, lo, hi = np.clip(mean_interval(ok, axis=0, confidence=confidence), -1.0, 1.0)
            est = Estimate(float(m), float(lo), float(hi))
        else:  # constant attributions on the random model: no rank to compare
            est = Estimate(float("nan"), float("nan"), float("nan"))
        steps.append(SanityStep(layer.name, done, est, rho))
    last = steps[-1].spearman.value if steps else float("nan")
    flagged = bool(np.isfinite(last) and last > threshold)
    return SanityResult(method, steps, flagged, float(threshold), int(base.shape[0]), stats)


class RandomisationCheck:
    """Explainer wrapper: ``base``'s attributions plus the model-parameter randomisation cascade.

    ``explain()`` explains ``rows`` with ``base`` on the evaluator's model, then re-explains
    them (first target column, same seed and settings) on each randomised copy of the model;
    the :class:`SanityResult` is ``attr.wrapped["sanity"]``. ``seed`` seeds the random
    weights (independent of the explanation's seed); ``threshold`` / ``max_layers`` as in
    :func:`sanity_check`.
    """

    def __init__(self, base: Explainer, *, seed: int = 0, threshold: float = DEFAULT_THRESHOLD,
                 max_layers: int | None = None) -> None:
        self.base = base
        self.name = base.name
        self.random = base.random
        self.seed = int(seed)
        self.threshold = float(threshold)
        self.max_layers = max_layers

    def settings(self, space: FeatureSpace, params: Any = None) -> Any:
        return self.base.settings(space, params)

    def explain(self, evaluator: LocalEvaluator, rows: Rows, *, targets: np.ndarray, seed: Seed = 0,
                params: Any = None, confidence: float = 0.95, interval_targets: int | None = None) -> Attribution:
        seed = seed_entropy(seed)  # the original and every randomised model see the same streams
        attr = self.base.explain(evaluator, rows, targets=targets, seed=seed, params=params, confidence=confidence,
                                 interval_targets=interval_targets)
        res = self.cascade(evaluator, rows, targets=targets, seed=seed, params=attr.settings, original=attr.values,
                           confidence=confidence)
        evaluator.stats.add(res.evaluations)
        return attr.replace(wrapped={**attr.wrapped, "sanity": res})

    def cascade(self, evaluator: LocalEvaluator, rows: Rows, *, targets: np.ndarray, seed: Seed, params: Any,
                original: np.ndarray | None = None, confidence: float = 0.95) -> SanityResult:
        """The cascade alone, given the original model's attributions ``(n_rows, ...)`` (None: computed)."""
        targets = np.asarray(targets)
        first = targets[:, :1] if targets.ndim == 2 else targets[:, None]

        def explain_on(ev: LocalEvaluator) -> np.ndarray:  # the same rows, targets and seed: only the model changes
            return self.base.explain(ev, rows, targets=first, seed=seed, params=params, confidence=confidence,
                                     interval_targets=0).values

        return sanity_check(evaluator.model, evaluator.space, explain_on, method=self.name, original=original,
                            evaluator=evaluator, seed=self.seed, threshold=self.threshold,
                            max_layers=self.max_layers, confidence=confidence,
                            max_chunk_bytes=evaluator.max_chunk_bytes)
