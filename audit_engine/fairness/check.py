"""The fairness check of an audit: group counts from the scored data, then the report.

Runs when the data has sensitive attributes (``--sensitive``). Without a target it still
runs and reports what needs no truth — selection rates, demographic parity, impact
ratios, the four-fifths and Local Law 144 views; rates that need the truth (TPR, FPR,
precision, ...) are then absent. Binary classifiers are judged at ``config.threshold``
on p(positive); multiclass models one-vs-rest per class on the argmax; regressors by the
group means of prediction and error.

The counts are taken chunk by chunk (``chunk_rows``) and merged, the same path a
streaming or distributed run takes, so the check's memory does not grow with the rows.

The favourable outcome (``favorable_label`` / ``--favorable-label``; COMPAS: 0, not
flagged high risk) sets what a *selection* is: selection rates, impact ratios, the
four-fifths rule and the Local Law 144 view count predictions of it. Without it those are
left out with the reason and the impact-ratio rule gives a warning saying how to declare
it; every other metric still runs.

Small groups: ``min_group_size`` (default 30 rows) and ``min_class_rows`` (default 5 rows
in a rate's denominator: positives for TPR, negatives for FPR, predicted positives for
precision) decide which groups enter headline gaps and verdicts; the others are shown
and listed under ``left_out``. ``rate_interval`` is ``jeffreys`` (default) or ``wilson``.

Policy: every rule of ``[policy.fairness]`` is judged on each attribute (subject = the
attribute) with its interval; intersections are judged too when ``judge_intersections``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..params import FairnessParams
from ..results.fairness import FairnessResult
from .analysis import check_groups, fairness_report
from .counts import GroupCounts, GroupSums, group_counts, group_sums
from ..checks import CheckOutcome

__all__ = ["Params", "applies", "run", "counts_from_context"]

Params = FairnessParams


def precheck(data: Any, config: Any) -> None:
    """Before any model call: the sensitive attributes have two groups or more and the
    reference group is one of them (:func:`~.analysis.check_groups`)."""
    if data.sensitive is None or data.sensitive.shape[1] == 0:
        return
    p = config.params("fairness")
    check_groups(data.sensitive, reference_group=p.reference_group, max_order=p.max_intersection_order)


def applies(ctx: Any) -> str | None:
    """None when the check can run, else why it is skipped."""
    if ctx.data.sensitive is None or ctx.data.sensitive.shape[1] == 0:
        return "no sensitive attributes were given (pass --sensitive COL ...)"
    return None


def _params(ctx: Any) -> FairnessParams:
    return ctx.config.params("fairness")  # typed, validated when the config was built


def counts_from_context(ctx: Any, *, chunk_rows: int = 1_000_000, score_bins: int = 10) -> GroupCounts | GroupSums:
    """Per-group counts of the audited predictions, taken in chunks of ``chunk_rows`` and merged."""
    if getattr(ctx, "stream", None) is not None and ctx.stream.fairness_counts is not None:
        return ctx.stream.fairness_counts  # streamed data: the same chunks, counted as they were read
    sensitive = ctx.data.sensitive
    n = len(sensitive)
    parts: list[Any] = []
    for start in range(0, n, chunk_rows):
        sl = slice(start, min(n, start + chunk_rows))
        groups = sensitive.iloc[sl]
        if ctx.task == "regression":
            y = None if ctx.y is None else np.asarray(ctx.y, dtype=np.float64)[sl]
            parts.append(group_sums(y, ctx.proba[sl, 0], groups))
            continue
        y_true = None if ctx.y_index is None else ctx.y_index[sl]
        scores = ctx.proba[sl, ctx.positive_index] if ctx.positive_index is not None else None
        parts.append(group_counts(y_true, ctx.predicted_index[sl], groups, scores=scores,
                                  n_classes=ctx.proba.shape[1], score_bins=score_bins))
    total = parts[0]
    for part in parts[1:]:
        total = total.merge(part)
    return total


def report_from_context(ctx: Any) -> FairnessResult:
    """The :class:`~audit_engine.results.fairness.FairnessResult` of the audited data (no verdicts)."""
    p = _params(ctx)
    counts = counts_from_context(ctx, chunk_rows=p.chunk_rows, score_bins=p.score_bins)
    return fairness_report(
        counts,
        positive_index=ctx.positive_index,
        favorable_index=ctx.favorable_index,
        class_labels=ctx.classes or None,
        reference_group=p.reference_group,
        n_boot=ctx.config.n_bootstrap,
        confidence=ctx.config.confidence,
        rng=ctx.rng("fairness", "bootstrap"),
        min_group_size=p.min_group_size,
        min_class_rows=p.min_class_rows,
        rate_interval_method=str(p.rate_interval),
        max_order=p.max_intersection_order,
        ll144_min_share=float(p.ll144_min_share),
        four_fifths_threshold=float(p.four_fifths_threshold),
        sweep=bool(p.sweep),
    )


_LABELLED = ("tpr", "fpr", "precision", "accuracy", "equalized_odds_difference",
             "equal_opportunity_difference", "predictive_parity_difference")


def run(ctx: Any) -> Any:
    """The fairness check: a CheckOutcome with the ``fairness`` section."""
    views = {}
    for name, view in report_from_context(ctx).items():
        extra: dict[str, Any] = {}
        if ctx.y is None:  # unlabeled data: only the label-free metrics (selection rates) exist
            extra["unavailable"] = {m: "needs a target (unlabeled data); pass --target COL" for m in _LABELLED
                                    if view.task == "classification"}
        if view.task == "classification" and ctx.positive_index is not None:
            extra.update(positive_label=str(ctx.positive_label), threshold=ctx.config.threshold)
        views[name] = dataclasses.replace(view, **extra) if extra else view
    return CheckOutcome(FairnessResult(views))
