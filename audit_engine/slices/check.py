"""The ``slices`` check (opt-in): where, beyond the declared groups, does the model do worse?

What it does (the search and its statistics: :mod:`.search`):

- columns (:func:`slice_frame`): the feature columns and the sensitive attributes, with their
  raw values (from ``ctx.data.frame`` and ``ctx.data.sensitive``), so predicates read as the
  data writes them (``c_charge_degree = F``, ``age in [25, 31)``); a text model's slices are
  described by the text's length in words and the frame's other columns, an image model's by
  each image's brightness and contrast, both with the sensitive attributes;
- loss per row (higher = worse): the audit's decision errors (``predicted_index !=
  y_index``, 0/1) for a classifier, or its log loss when ``metric = "log_loss"``; the
  absolute error for a regression (whatever ``metric`` says);
- the lattice search of conjunctions of up to ``max_level`` predicates, pruned by size
  (``min_size``, default max(30, 1% of the rows)); every slice reached is tested, the
  p-values BH-adjusted over that family at ``fdr``, the reported slices' effects with
  Benjamini–Yekutieli false-coverage-rate intervals;
- the policy's ``max_slice_error_gap`` rule: the largest effect (slice loss − rest loss) among every
  discovered slice (reported in the top ``top_k`` or not) with its FCR interval, 0 when nothing
  was discovered.

Needs a target. On streamed data it runs on the hashed
sample (``ctx.rows`` / ``ctx.data`` are the sample) and the section says so (``sampled``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..checks import AuditContext, CheckOutcome
from ..params import SlicesParams
from ..performance import row_terms
from ..results.slices import SlicesResult, WeakSlice
from ..stats import Estimate
from .search import Slice, SliceSearch, predicates, search

__all__ = ["Params", "applies", "run", "slice_frame", "row_loss", "TEXT_LENGTH", "BRIGHTNESS", "CONTRAST"]

Params = SlicesParams


def applies(ctx: Any) -> str | None:
    if ctx.data.y is None:
        return "weak-slice discovery compares errors, which need a target column (--target)"
    if ctx.space.text is None and not ctx.space.is_image and (ctx.data.frame is None or not ctx.data.features) \
            and ctx.data.sensitive.shape[1] == 0:
        return ("weak-slice discovery needs columns to describe slices: tabular features, a text column, images "
                "or sensitive attributes")
    return None


TEXT_LENGTH = "text length (words)"
BRIGHTNESS = "image brightness (mean pixel)"
CONTRAST = "image contrast (pixel standard deviation)"


def slice_frame(ctx: Any) -> pd.DataFrame:
    """The columns searched, raw, so that predicates read as the data writes them:

    - tabular data: the feature columns;
    - text (a tokenised text column): the text's length in words (:data:`TEXT_LENGTH`) and the
      frame's other columns, never the text itself (each text is its own category);
    - images and other arrays: each row's mean and standard deviation over its values
      (:data:`BRIGHTNESS`, :data:`CONTRAST`), computed from the rows the model reads;

    then the sensitive attributes not among them.
    """
    space = ctx.space
    if space.text is not None and ctx.data.frame is not None:
        column = space.text.column
        texts = ctx.data.frame[column].astype(str).reset_index(drop=True)
        others = [c for c in ctx.data.frame.columns if c != column and c != ctx.data.target
                  and c not in set(ctx.data.sensitive.columns)]
        frame = pd.concat([pd.DataFrame({TEXT_LENGTH: texts.str.split().str.len().astype(np.int64)}),
                           ctx.data.frame[others].reset_index(drop=True)], axis=1)
    elif ctx.data.frame is not None and ctx.data.features and not space.is_image:
        frame = ctx.data.frame[[str(c) for c in ctx.data.features]].reset_index(drop=True)
    else:
        flat = np.asarray(ctx.rows, dtype=np.float64).reshape(len(ctx.rows), -1)
        frame = pd.DataFrame({BRIGHTNESS: flat.mean(axis=1), CONTRAST: flat.std(axis=1)})
    extra = [c for c in ctx.data.sensitive.columns if str(c) not in {str(x) for x in frame.columns}]
    if extra:
        frame = pd.concat([frame, ctx.data.sensitive[extra].reset_index(drop=True)], axis=1)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def row_loss(ctx: Any, metric: str) -> tuple[np.ndarray, str]:
    """Per-row loss (n,), higher = worse, and its name: ``error`` (0/1), ``log_loss`` (nats) or
    ``absolute_error`` (target units, regression)."""
    if ctx.task != "classification":
        y = np.asarray(ctx.data.y, dtype=np.float64)
        return np.abs(ctx.proba[:, 0] - y), "absolute_error"
    if metric == "log_loss":
        terms = row_terms(ctx.proba, ctx.y_index, positive_index=ctx.positive_index,
                          threshold=float(ctx.config.threshold))
        return np.asarray(terms["log_loss"], dtype=np.float64), "log_loss"
    return (ctx.predicted_index != ctx.y_index).astype(np.float64), "error"


def run(ctx: AuditContext) -> CheckOutcome:
    params = ctx.config.params("slices")
    frame = slice_frame(ctx)
    loss, loss_name = row_loss(ctx, params.metric)
    preds = predicates(frame, bins=int(params.bins), max_categories=int(params.max_categories))
    found = search(preds, loss, max_level=int(params.max_level), min_size=params.min_size, fdr=float(params.fdr),
                   top_k=int(params.top_k))
    notes = list(found.notes)
    sampled = ctx.stream is not None
    if sampled:
        notes.append(f"streamed data: the search ran on the seeded hashed sample of {len(frame):,} rows, "
                     "not on every row")
    return CheckOutcome(to_record(found, loss_name, columns=tuple(frame.columns), n_predicates=len(preds.names),
                                  sampled=sampled, notes=tuple(notes)))


def to_record(found: SliceSearch, loss_name: str, *, columns: tuple[str, ...], n_predicates: int, sampled: bool,
              notes: tuple[str, ...]) -> SlicesResult:
    """The typed section of one search."""
    slices = tuple(_weak(s) for s in found.slices)
    big = None if found.largest is None else _weak(found.largest)  # among every discovered slice, not only the top_k
    gap = Estimate(0.0, float("nan"), float("nan")) if big is None else big.effect
    return SlicesResult(
        loss=loss_name, loss_kind=found.loss_kind, rows=found.n, sampled=sampled, columns=columns,
        predicates=n_predicates, mean_loss=found.mean_loss, min_size=found.min_size, max_level=found.max_level,
        fdr=found.fdr, tested=found.tested, tested_per_level=found.tested_per_level, discovered=found.discovered,
        interval_level=found.interval_level,
        correction="benjamini-hochberg p-values over every slice tested; benjamini-yekutieli FCR intervals",
        slice_error_gap=gap, slices=slices, largest=big, truncated_at_level=found.truncated, notes=notes,
    )


def _weak(s: Slice) -> WeakSlice:
    return WeakSlice(predicates=s.predicates, size=s.size, loss=s.loss, rest_loss=s.rest_loss,
                     effect=Estimate(s.effect, s.ci_low, s.ci_high), p_value=s.p_value, p_adjusted=s.p_adjusted,
                     score=s.score)
