"""``uncertainty(model, rows, ...)``: predictive uncertainty split into aleatoric and epistemic.

Two methods, one return type (:class:`UncertaintyResult`):

- ``"mc_dropout"`` (Gal & Ghahramani 2016; Kendall & Gal 2017): the model's Dropout nodes
  are rewritten to sample masks at inference (:mod:`audit_engine.model.dropout`); seeded
  passes through the Evaluator, added in blocks until the Monte Carlo standard error of
  the mean epistemic figure is below ``mc_tolerance`` (:mod:`.mc_error`), or a fixed T.
  Every figure carries its MC standard error and the means a jackknife bias correction.
- ``"committee"``: ``model`` and ``models`` (other versions of it) on the same rows;
  adds vote entropy and mean pairwise disagreement.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..bind import bind
from ..data.loader import AuditData, load_data
from ..errors import ConfigError
from ..evaluator.local import DEFAULT_CHUNK_BYTES
from ..model.loader import OnnxModel, load_model
from ..result import to_jsonable
from ..results.uncertainty import MCErrorInfo, MeasureHistogram, MeasureSummary, ModelCalls, UncertaintyMethod
from .committee import committee_probabilities
from .mc_dropout import MCDropoutSampler, seed_entropy
from .mc_error import MCError, PassSums, adaptive_passes, fixed_passes
from .measures import decompose, pairwise_disagreement, vote_entropy
from ..params import invalid, validate_params

__all__ = ["UncertaintyResult", "uncertainty", "METHODS", "summarise", "run_mc_dropout"]

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
    mc_error: MC dropout: the Monte Carlo error of every figure (:class:`.mc_error.MCError`);
        None for a committee (a fixed set of members: its figures are exact).
    adaptive: MC dropout: how the number of passes was chosen (tolerance, whether it was met).
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
    mc_error: MCError | None = None
    adaptive: dict[str, Any] | None = None

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks (:mod:`audit_engine.report.card`)."""
        from ..report.card import card  # display is the report's job; imported on first display only

        return card(self)

    def to_frame(self) -> Any:
        """One row per row: ``row`` (position), ``prediction`` (the class label when ``classes`` is
        known, else the column index), ``confidence`` (max of ``mean_proba``),
        ``predictive_entropy``, ``aleatoric``, ``epistemic`` (nats; higher = more uncertain), and
        for a committee ``vote_entropy`` and ``disagreement``."""
        import pandas as pd

        pred = np.asarray(self.prediction)
        labels = ([self.classes[i] for i in pred.tolist()] if self.classes is not None and pred.size
                  and int(pred.max()) < len(self.classes) else pred)
        frame = pd.DataFrame({
            "row": np.arange(pred.size), "prediction": labels,
            "confidence": np.asarray(self.mean_proba).max(axis=1) if np.size(self.mean_proba) else np.zeros(0),
            "predictive_entropy": self.predictive_entropy, "aleatoric": self.aleatoric, "epistemic": self.epistemic,
        })
        if self.vote_entropy is not None:
            frame["vote_entropy"] = self.vote_entropy
        if self.disagreement is not None:
            frame["disagreement"] = self.disagreement
        return frame

    def to_dict(self, *, bins: int = 20) -> dict[str, Any]:
        """A JSON summary (means, quantiles, histograms; never every row)."""
        return self.to_record(bins=bins).to_dict()

    def to_record(self, *, bins: int = 20, evaluations: Any = None) -> UncertaintyMethod:
        """The typed summary of audit.json's ``uncertainty.<method>`` (means, quantiles, histograms).

        ``evaluations``: the method's model calls (an ``EvaluationStats`` or its dict); default
        ``self.evaluations``.
        """
        arrays = {"predictive_entropy": self.predictive_entropy, "aleatoric": self.aleatoric, "epistemic": self.epistemic}
        if self.vote_entropy is not None:
            arrays["vote_entropy"] = self.vote_entropy
        if self.disagreement is not None:
            arrays["disagreement"] = self.disagreement
        err = self.mc_error.to_dict() if self.mc_error is not None else None
        summary = {}
        for name, v in arrays.items():
            s = summarise(v, bins=bins)
            if err is not None and name in err["se"]:
                s.update(mc_se=err["se"][name], mean_corrected=err["mean_corrected"][name])
            summary[name] = _summary_record(s)
        info = None
        if err is not None:  # a committee is a fixed set of members: no Monte Carlo
            info = MCErrorInfo(method=err["method"], groups=int(err["groups"]), per_row_se=to_jsonable(err["per_row_se"]),
                               interval="Monte Carlo standard error (the passes are the only randomness)",
                               adaptive=None if self.adaptive is None else to_jsonable(self.adaptive))
        calls = evaluations if evaluations is not None else self.evaluations
        calls = calls.to_dict() if hasattr(calls, "to_dict") else dict(calls or {})
        return UncertaintyMethod(
            method=self.method, rows=int(self.predictive_entropy.shape[0]), passes=int(self.passes), units="nats",
            outputs_vary=bool(self.outputs_vary), summary=summary, params=to_jsonable(self.params), mc_error=info,
            evaluations=ModelCalls(model_calls=int(calls.get("model_calls", 0)),
                                   rows_evaluated=int(calls.get("rows_evaluated", 0)),
                                   seconds=float(calls.get("seconds", 0.0))),
        )


def _summary_record(s: dict[str, Any]) -> MeasureSummary:
    hist = s["histogram"]
    return MeasureSummary(mean=s["mean"], median=s["median"], p90=s["p90"], p99=s["p99"], max=s["max"],
                          mc_se=s.get("mc_se"), mean_corrected=s.get("mean_corrected"),
                          histogram=MeasureHistogram(edges=tuple(hist["edges"]), counts=tuple(hist["counts"])))


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


def from_sums(sums: PassSums, err: MCError, **extra: Any) -> UncertaintyResult:
    """Build an MC-dropout :class:`UncertaintyResult` from additive pass sums and their errors."""
    m = sums.measures()
    mean = sum(sums.s1) / sums.passes
    vary = bool(np.any(sums.high - sums.low > 0)) if sums.low is not None else False
    return UncertaintyResult(method="mc_dropout", predictive_entropy=m["predictive_entropy"], aleatoric=m["aleatoric"],
                             epistemic=m["epistemic"], mean_proba=mean, prediction=mean.argmax(axis=1),
                             passes=sums.passes, outputs_vary=vary, mc_error=err, **extra)


def run_mc_dropout(
    sampler: MCDropoutSampler,
    rows: np.ndarray,
    *,
    seed: int | np.random.Generator | None,
    passes: int | str = "auto",
    mc_tolerance: float = 0.005,
    max_passes: int = 1000,
    min_passes: int = 150,
    groups: int = 50,
    **extra: Any,
) -> UncertaintyResult:
    """MC dropout on ``rows``: ``passes="auto"`` runs a pilot of ``min_passes`` passes, then as
    many fresh passes as bring the MC standard error of the mean epistemic figure to
    ``mc_tolerance`` nats (at least ``min_passes``, at most ``max_passes``); an int runs exactly
    that many. The errors come from a jackknife over ``groups`` groups of passes (:mod:`.mc_error`)."""
    from ..explain._common import check_float, check_int

    entropy = seed_entropy(seed)
    draw = lambda first, count: sampler.block(rows, first, count, entropy=entropy)  # noqa: E731
    if passes == "auto":
        max_passes = check_int("max_passes", max_passes, minimum=2)
        min_passes = min(check_int("min_passes", min_passes, minimum=2), max_passes)
        groups = check_int("mc_groups", groups, minimum=2)
        tol = check_float("mc_tolerance", mc_tolerance, low_open=True)
        sums, err, met, pilot = adaptive_passes(draw, groups=groups, min_passes=min_passes, max_passes=max_passes,
                                                tolerance=tol)
        adaptive = {"mode": "auto", "tolerance": tol, "tolerance_met": met, "max_passes": max_passes,
                    "min_passes": min_passes, "pilot_passes": pilot, "groups": min(groups, sums.passes),
                    "passes_used": sums.passes,
                    "target": "MC standard error of the mean epistemic figure (nats)",
                    "rule": "two-stage: a pilot of min_passes passes sets the number of passes, drawn afresh"}
    else:
        if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 2:
            raise ConfigError(invalid("passes", "MC dropout", "'auto' or an int in the range [2, inf)", passes))
        sums, err = fixed_passes(draw, int(passes), groups=check_int("mc_groups", groups, minimum=2))
        adaptive = {"mode": "fixed", "passes_used": sums.passes}
    return from_sums(sums, err, adaptive=adaptive, **extra)


@validate_params("uncertainty")
def uncertainty(
    model: OnnxModel | str | os.PathLike[str],
    rows: AuditData | Any,
    *,
    method: str = "mc_dropout",
    passes: int | str = "auto",
    mc_tolerance: float = 0.005,
    max_passes: int = 1000,
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
    passes: MC-dropout passes T (>= 2), or ``"auto"``: a pilot of 150 passes sets the number
        of (fresh) passes that brings the Monte Carlo standard error of the mean epistemic
        figure to ``mc_tolerance`` nats (at most ``max_passes``); ``result.passes`` says how many.
    models: committee: the other model versions (the committee is ``[model, *models]``).
    seed: int or Generator for the dropout masks.
    features: feature columns of tabular ``rows`` (default all columns).

    Returns
    -------
    UncertaintyResult with ``predictive_entropy``, ``aleatoric``, ``epistemic`` of shape (n,).
    """
    if method not in METHODS:
        raise ConfigError(invalid("method", "uncertainty", "one of " + ", ".join(map(repr, METHODS)), method))
    if not isinstance(model, OnnxModel):
        model = load_model(model, provider=provider)
    data = load_data(rows, features=features)
    if method == "committee":
        if not models:
            raise ConfigError("method='committee' needs models=[...] (other versions of the model) to compare with.")
        probs, names, stats = committee_probabilities([model, *models], data, features=features, provider=provider,
                                                      max_chunk_bytes=max_chunk_bytes)
        return from_probabilities("committee", probs, params={"members": names}, evaluations=stats.to_dict())
    bound = bind(model, data, features=features, max_chunk_bytes=max_chunk_bytes)
    space, x, plain = bound.space, bound.rows, bound.evaluator
    if plain.task != "classification":
        raise ConfigError("MC-dropout uncertainty needs a classifier; this model's output is a regression.")
    sampler = MCDropoutSampler(model, space, binding=plain.binding, max_chunk_bytes=max_chunk_bytes)
    result = run_mc_dropout(
        sampler, x, seed=seed, passes=passes, mc_tolerance=mc_tolerance, max_passes=max_passes, classes=plain.classes,
        params={"seed": seed if isinstance(seed, int) else None, "dropout": sampler.sites_info,
                "masks": "one Bernoulli mask per Dropout per pass, fed as a graph input"},
    )
    return dataclasses.replace(result, evaluations=sampler.evaluator.stats.to_dict())
