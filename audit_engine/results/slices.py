"""Typed ``slices`` section of audit.json (see ``schema/slices.schema.json``).

Weak-slice discovery (:mod:`audit_engine.slices.search`): conjunctions of up to
``max_level`` predicates on features and sensitive attributes whose mean loss is above the
rest's (higher loss = worse). Every slice of at least ``min_size`` rows the lattice reached
was tested (``tested``, the family); p-values are Benjamini–Hochberg adjusted over that
family (``p_adjusted``), a slice is discovered when ``p_adjusted ≤ fdr``, and each reported
slice's effect (slice loss − rest loss) has a Benjamini–Yekutieli false-coverage-rate
interval at ``interval_level``.

>>> result.slices.slice_error_gap       # the policy's figure (0 when nothing was discovered)
>>> result.slices.to_frame()                # one row per reported slice
"""

from __future__ import annotations

from typing import Any

from ..stats import Estimate
from .record import Record, record

__all__ = ["WeakSlice", "SlicesResult"]


@record
class WeakSlice(Record):
    """One reported slice: its predicates (conjunction), size, mean loss inside and outside,
    ``effect`` = loss − rest_loss with its FCR-adjusted interval, raw and BH-adjusted p-values,
    and SliceLine's ranking score."""

    predicates: tuple[str, ...]
    size: int
    loss: float
    rest_loss: float
    effect: Estimate
    p_value: float
    p_adjusted: float
    score: float


@record
class SlicesResult(Record):
    """``slices``: the search's family and findings on ``rows`` rows (the hashed sample when ``sampled``).

    ``slices``: the top ``top_k`` discovered slices by SliceLine's score; ``largest``: the discovered
    slice of largest effect (ranked or not), whose effect is ``slice_error_gap``."""

    loss: str
    loss_kind: str
    rows: int
    sampled: bool
    columns: tuple[str, ...]
    predicates: int
    mean_loss: float
    min_size: int
    max_level: int
    fdr: float
    tested: int
    tested_per_level: tuple[int, ...]
    discovered: int
    interval_level: float
    correction: str
    slice_error_gap: Estimate
    slices: tuple[WeakSlice, ...]
    largest: WeakSlice | None = None
    truncated_at_level: int | None = None
    notes: tuple[str, ...] = ()

    def to_frame(self) -> Any:
        """One row per reported slice: ``slice, size, loss, rest_loss, effect, ci_low, ci_high, p_value, p_adjusted``."""
        import pandas as pd

        rows = [{"slice": " AND ".join(s.predicates), "size": s.size, "loss": s.loss, "rest_loss": s.rest_loss,
                 "effect": s.effect.value, "ci_low": s.effect.ci_low, "ci_high": s.effect.ci_high,
                 "p_value": s.p_value, "p_adjusted": s.p_adjusted} for s in self.slices]
        return pd.DataFrame(rows, columns=["slice", "size", "loss", "rest_loss", "effect", "ci_low", "ci_high",
                                           "p_value", "p_adjusted"])
