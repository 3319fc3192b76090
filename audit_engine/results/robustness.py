"""Typed ``robustness`` section of audit.json (see ``schema/robustness.schema.json``).

Flip rate: the share of audited rows whose decision changes when the row is perturbed
(higher = less robust), with its Wilson interval; score shift: the mean of |Δ p(positive)|
(binary), the total-variation distance ½ Σ|Δp| (multiclass) or |Δ prediction| (regression),
with a t interval. Per perturbation kind (:mod:`audit_engine.robustness.perturb`) at five
severity levels; per sensitive group, with a test of whether the groups' flip rates differ.

>>> result.robustness.flip_rate          # the policy's figure: highest kind at policy_level
>>> result.robustness.to_frame()             # one row per kind and level
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..stats import Estimate
from .record import Record, record

__all__ = ["FlipRate", "GroupDisparity", "PerturbationResult", "FragileRow", "MaxFlipRate", "RobustnessResult"]


@record
class FlipRate(Record):
    """A flip rate in [0, 1]: ``flips`` of ``n`` rows changed decision; Wilson interval."""

    value: float
    ci_low: float
    ci_high: float
    flips: int
    n: int


@record
class GroupDisparity(Record):
    """Do one attribute's groups flip at different rates? ``test``: ``fisher_exact`` (two groups)
    or ``chi2_homogeneity`` (more), None with a single group; ``gap``: highest − lowest group
    flip rate with Newcombe's interval."""

    test: str | None
    p_value: float | None
    most_flipped: str | None = None
    least_flipped: str | None = None
    gap: Estimate | None = None


@record
class PerturbationResult(Record):
    """One perturbation ``kind`` at one ``level`` (1–5; ``severity`` is its parameter)."""

    kind: str
    level: int
    severity: float
    flip_rate: FlipRate
    score_shift: Estimate
    groups: Mapping[str, Mapping[str, FlipRate]]
    disparity: Mapping[str, GroupDisparity]


@record
class FragileRow(Record):
    """An audited row (index into the audited data) and its mean score shift over every kind and level."""

    row: int
    mean_score_shift: float


@record
class MaxFlipRate(Record):
    """The highest flip rate over kinds at ``level`` (the policy's ``max_flip_rate`` rule), its kind and interval."""

    value: float
    ci_low: float
    ci_high: float
    kind: str | None
    level: int


@record
class RobustnessResult(Record):
    """``robustness``: flips under perturbation of ``rows`` audited rows (a seeded sample when ``sampled``);
    ``modality``: ``tabular``, ``image`` or ``text`` (raw strings edited before the tokenizer)."""

    modality: str
    rows: int
    sampled: bool
    decision: str
    confidence: float
    policy_level: int
    kinds: tuple[str, ...]
    flip_rate: MaxFlipRate
    results: tuple[PerturbationResult, ...]
    fragile_rows: tuple[FragileRow, ...]
    skipped: Mapping[str, str]

    def to_frame(self) -> Any:
        """One row per kind and level: ``kind, level, severity, flip_rate, flip_ci_low, flip_ci_high,
        score_shift, shift_ci_low, shift_ci_high``."""
        import pandas as pd

        rows = [{"kind": r.kind, "level": r.level, "severity": r.severity, "flip_rate": r.flip_rate.value,
                 "flip_ci_low": r.flip_rate.ci_low, "flip_ci_high": r.flip_rate.ci_high,
                 "score_shift": r.score_shift.value, "shift_ci_low": r.score_shift.ci_low,
                 "shift_ci_high": r.score_shift.ci_high} for r in self.results]
        return pd.DataFrame(rows, columns=["kind", "level", "severity", "flip_rate", "flip_ci_low", "flip_ci_high",
                                           "score_shift", "shift_ci_low", "shift_ci_high"])
