"""The ``uncertainty`` check: MC dropout and/or a committee, and the review queue.

- MC dropout runs when the model's graph contains Dropout nodes (rewritten into mask
  inputs; :mod:`audit_engine.model.dropout`), seeded passes over the audited rows (at most
  ``max_rows``, a seeded sample beyond that): with ``passes = "auto"`` a pilot of
  ``min_passes`` passes sets how many fresh passes bring the Monte Carlo standard error of
  the mean epistemic figure to ``mc_tolerance`` nats (at most ``max_passes``); every figure
  carries its MC standard error (``summary.<measure>.mc_se``) and the means a jackknife
  bias correction (``mean_corrected``; :mod:`.mc_error`).
- The committee runs when the config lists other model versions in
  ``[uncertainty] models = ["a.onnx", "b.onnx"]`` (the audited model is a member too).
- With ``--ood-data`` (MC dropout), the mean epistemic uncertainty of the audited rows and
  of the OOD rows is compared.
- The review queue ranks the audited rows by the mean percentile of the available
  signals (epistemic, committee disagreement, ``1 − max p`` of the audited model).

The rewritten model's calls are counted by their own Evaluator and added to the audit's
Evaluator stats, so ``checks.uncertainty.model_calls`` includes them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..checks import AuditContext, CheckOutcome
from ..model.dropout import count_dropout
from ..params import UncertaintyParams
from ..results.uncertainty import OODComparison, ReviewEntry, UncertaintyMethod, UncertaintyResult
from .api import from_probabilities, run_mc_dropout
from .committee import committee_probabilities
from .mc_dropout import MCDropoutSampler
from .review import review_queue

__all__ = ["Params", "applies", "run"]

Params = UncertaintyParams


def _dropout_nodes(ctx: Any) -> int:
    try:
        return count_dropout(ctx.model.path)
    except Exception:  # noqa: BLE001 - an unreadable file was already refused by load_model
        return 0


def applies(ctx: Any) -> str | None:
    if ctx.task != "classification":
        return "uncertainty needs a classifier; this model is a regression"
    models = ctx.config.params("uncertainty").models
    if not models and _dropout_nodes(ctx) == 0:
        return ("the model has no Dropout node (MC dropout impossible) and no committee was configured "
                "([uncertainty] models = [...])")
    return None


def run(ctx: AuditContext) -> CheckOutcome:
    params = ctx.config.params("uncertainty")
    cfg = ctx.config
    bins = int(params.histogram_bins)
    n = ctx.rows.shape[0]
    take = np.arange(n)
    if n > int(params.max_rows):
        take = np.sort(ctx.rng("uncertainty", "sample").choice(n, size=int(params.max_rows), replace=False))
    rows = ctx.rows[take]
    methods: dict[str, UncertaintyMethod] = {}
    signals: dict[str, np.ndarray] = {}
    if _dropout_nodes(ctx):
        sampler = MCDropoutSampler(ctx.model, ctx.space, max_chunk_bytes=ctx.evaluator.max_chunk_bytes,
                                   binding=ctx.evaluator.binding)
        passes = params.passes
        budget = {"mc_tolerance": params.mc_tolerance, "max_passes": params.max_passes,
                  "min_passes": params.min_passes, "groups": params.mc_groups}
        result = run_mc_dropout(sampler, rows, seed=ctx.rng("uncertainty", "mc_dropout"), passes=passes, **budget,
                                params={"dropout": sampler.sites_info,
                                        "masks": "one Bernoulli mask per Dropout per pass, fed as a graph input"})
        comparison = None
        if ctx.ood_rows is not None:
            ood = run_mc_dropout(sampler, ctx.ood_rows, seed=ctx.rng("uncertainty", "mc_ood"), passes=passes, **budget)
            mine, theirs = result.mc_error, ood.mc_error
            comparison = OODComparison(
                audited_mean_epistemic=mine.mean_corrected["epistemic"],
                ood_mean_epistemic=theirs.mean_corrected["epistemic"],
                audited_mean_aleatoric=mine.mean_corrected["aleatoric"],
                ood_mean_aleatoric=theirs.mean_corrected["aleatoric"],
                audited_mean_epistemic_mc_se=_finite(mine.se["epistemic"]["mean"]),
                ood_mean_epistemic_mc_se=_finite(theirs.se["epistemic"]["mean"]),
                ood_passes=int(ood.passes),
                ood_rows=int(ctx.ood_rows.shape[0]),
                note="bias-corrected means (jackknife over groups of passes)",
            )
        mc = result.to_record(bins=bins, evaluations=sampler.evaluator.stats)
        methods["mc_dropout"] = dataclasses.replace(mc, ood_comparison=comparison)
        ctx.evaluator.stats.add(sampler.evaluator.stats)
        signals["epistemic"] = result.epistemic
    if params.models:
        data = ctx.data.take(take) if take.size < n else ctx.data
        probs, names, stats = committee_probabilities([ctx.model, *params.models], data, features=cfg.features,
                                                      provider=cfg.provider, max_chunk_bytes=cfg.max_chunk_bytes)
        result = from_probabilities("committee", probs, params={"members": names})
        methods["committee"] = result.to_record(bins=bins, evaluations=stats)
        ctx.evaluator.stats.add(stats)
        signals["disagreement"] = result.disagreement
        signals["committee_kl"] = result.epistemic
    proba = ctx.proba[take]
    signals["low_confidence"] = 1.0 - proba.max(axis=1)
    queue = review_queue(signals, k=int(params.top_k), predictions=ctx.predicted_index[take],
                         confidence=proba.max(axis=1), labels=ctx.classes)
    section = UncertaintyResult(
        rows=int(take.size), sampled=bool(take.size < n), **methods,
        review_queue=tuple(ReviewEntry(row=int(take[e["row"]]), priority=e["priority"], reason=e["reason"],
                                       signals=e["signals"], prediction=e["prediction"], confidence=e["confidence"])
                           for e in queue),
        review_signals=tuple(signals),
    )
    return CheckOutcome(section)


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None

