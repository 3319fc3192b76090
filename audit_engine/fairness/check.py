"""The fairness check of an audit: group counts from the scored data, then the report.

Runs when the data has sensitive attributes (``--sensitive``). Without a target it still
runs and reports what needs no truth — selection rates, demographic parity, impact
ratios, the four-fifths and Local Law 144 views; rates that need the truth (TPR, FPR,
precision, ...) are then absent. Binary classifiers are judged at ``config.threshold``
on p(positive); multiclass models one-vs-rest per class on the argmax; regressors by the
group means of prediction and error.

The counts are a tally (:class:`GroupTally`): :func:`audit_engine.audit.prepare` feeds it
every chunk of ``chunk_rows`` rows whatever the source (in memory, streamed, Ray), so the
check's memory does not grow with the rows and the figures do not depend on the source.

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

__all__ = ["Params", "applies", "tally", "run", "counts_from_context", "GroupTally"]

Params = FairnessParams


def precheck(sensitive: Any, config: Any, *, weights: Any = None) -> None:
    """Before any model call: the sensitive attributes (a DataFrame, as ``AuditData.sensitive``)
    have two groups or more and the reference group is one of them
    (:func:`~.analysis.check_groups`). ``weights``: rows each line stands for (a streamed
    source's distinct group combinations)."""
    if sensitive is None or sensitive.shape[1] == 0:
        return
    p = config.params("fairness")
    check_groups(sensitive, reference_group=p.reference_group, max_order=p.max_intersection_order, weights=weights)


def applies(ctx: Any) -> str | None:
    """None when the check can run, else why it is skipped."""
    if ctx.data.sensitive is None or ctx.data.sensitive.shape[1] == 0:
        return "no sensitive attributes were given (pass --sensitive COL ...)"
    return None


def _params(ctx: Any) -> FairnessParams:
    return ctx.config.params("fairness")  # typed, validated when the config was built


class GroupTally:
    """The fairness tally: per-group counts (classification) or sums (regression) of every row,
    merged chunk by chunk in row order (:func:`~.counts.group_counts` / :func:`~.counts.group_sums`)."""

    def __init__(self, task: str, positive_index: int | None, n_classes: int, score_bins: int) -> None:
        self.task = task
        self.positive_index = positive_index
        self.n_classes = n_classes
        self.score_bins = score_bins
        self.counts: GroupCounts | GroupSums | None = None

    def add(self, chunk: Any) -> None:
        """Add one :class:`~audit_engine.context.Chunk` (its groups, decisions, scores and truth)."""
        if chunk.groups is None:
            return
        if self.task == "regression":
            y = None if chunk.y is None else np.asarray(chunk.y, dtype=np.float64)
            part = group_sums(y, chunk.proba[:, 0], chunk.groups)
        else:
            scores = chunk.proba[:, self.positive_index] if self.positive_index is not None else None
            part = group_counts(chunk.y_index, chunk.predicted, chunk.groups, scores=scores,
                                n_classes=self.n_classes, score_bins=self.score_bins)
        self.counts = part if self.counts is None else self.counts.merge(part)

    def merge(self, other: GroupTally) -> GroupTally:
        """Add the tally of the rows that follow; returns ``self``."""
        if other.counts is not None:
            self.counts = other.counts if self.counts is None else self.counts.merge(other.counts)
        return self


def tally(ctx: Any) -> GroupTally | None:
    """The group tally of the audited rows (None without sensitive attributes): fed every chunk by ``prepare``."""
    if applies(ctx) is not None:
        return None
    p = _params(ctx)
    return GroupTally(ctx.task, ctx.positive_index, ctx.evaluator.n_outputs, p.score_bins)


def counts_from_context(ctx: Any) -> GroupCounts | GroupSums:
    """Per-group counts of the audited predictions: the fairness tally over every row."""
    return ctx.tallies["fairness"].counts


def report_from_context(ctx: Any) -> FairnessResult:
    """The :class:`~audit_engine.results.fairness.FairnessResult` of the audited data (no verdicts)."""
    p = _params(ctx)
    counts = counts_from_context(ctx)
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
