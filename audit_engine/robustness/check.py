"""The ``robustness`` check (opt-in): do the audit's decisions hold up under realistic perturbation?

What it does (the figures and their intervals: :mod:`.perturb`):

- rows: a seeded sample of at most ``max_rows`` audited rows (default 1000 tabular rows,
  100 images, 200 texts; ``ctx.rng("robustness", "sample")``), ``rows`` in feature space;
- kinds (``kinds = "auto"``): tabular ``jitter``, ``category_swap`` (when a feature is
  categorical, from ``ctx.space.categorical_mask``) and ``missing`` (only when the model
  returns finite outputs on missing values: probed on a few rows through the Evaluator
  first; only features that can hold NaN, so not the string-fed categorical inputs); images ``noise``, ``blur``, ``brightness``, ``contrast``, ``quantise``. Spreads,
  categories and pixel ranges come from every audited row (``ctx.rows``);
- every perturbed row is scored through ``ctx.evaluator.predict`` (the one door) and decided
  as the audit decides (``p(positive) ≥ config.threshold`` for a binary classifier, the
  argmax otherwise); a regression has no decision, so its flip rates are 0 by construction
  and its score shift (|Δ prediction|) is the figure to read;
- per group: the sensitive attributes of the sampled rows (``ctx.data.sensitive``);
- randomness: ``ctx.rng("robustness", kind, level)`` per kind and severity level, so one
  kind's figures do not depend on which other kinds ran;
- text models (a tokenizer binding, ``ctx.space.text``): kinds ``typo``, ``casing``,
  ``whitespace``, ``punctuation`` (:mod:`.text`) edit the raw strings of the text column of the
  sampled rows (``ctx.data.frame[text_column]``); the edited frame is encoded by
  ``ctx.space.encode`` exactly as the audit encoded the original (the model's tokenizer,
  truncation and padding), then scored through the Evaluator like any other rows. Default
  200 rows;
- the policy's ``max_flip_rate`` rule: the highest flip rate over the kinds at ``policy_level``
  (default 3 of 5), with its Wilson interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..checks import AuditContext, CheckOutcome
from ..errors import ConfigError, ModelRuntimeError
from ..params import RobustnessParams
from ..results.robustness import FlipRate, FragileRow, GroupDisparity, MaxFlipRate, PerturbationResult, RobustnessResult
from ..stats import Estimate
from .perturb import IMAGE, TABULAR, TEXT, robustness
from .text import perturb_texts

__all__ = ["Params", "applies", "run", "modality", "sample_index", "decider", "missable_mask", "missing_supported",
           "DEFAULT_ROWS"]

Params = RobustnessParams

DEFAULT_ROWS = {"tabular": 1000, "image": 100, "text": 200}
"""Rows perturbed when ``max_rows`` is not set, by modality."""

_PROBE_ROWS = 64  # at most this many rows probe the model's answer to missing values


def modality(ctx: Any) -> str | None:
    """``"text"`` (a tokenizer binding), ``"image"``, ``"tabular"`` or None (rows that are none of these)."""
    if ctx.space.text is not None:
        return "text"
    if ctx.space.is_image:
        return "image"
    if ctx.space.features or len(ctx.space.row_shape) == 1:
        return "tabular"
    return None


def applies(ctx: Any) -> str | None:
    if modality(ctx) is None:
        return ("robustness perturbs tabular rows, images or text read through a tokenizer; these rows have shape "
                f"{list(ctx.space.row_shape)} "
                "and no image layout")
    if ctx.rows.shape[0] < 2:
        return f"the audited data has {ctx.rows.shape[0]} row; flip rates need at least 2"
    return None


def sample_index(ctx: Any, max_rows: int) -> np.ndarray:
    """Sorted indices of the audited rows perturbed: all of them, or a seeded sample of ``max_rows``."""
    n = ctx.rows.shape[0]
    if n <= max_rows:
        return np.arange(n)
    return np.sort(ctx.rng("robustness", "sample").choice(n, size=max_rows, replace=False))


def decider(ctx: Any) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """``decide(scores) -> (n,)`` decisions as the audit makes them, and a sentence saying how."""
    if ctx.task != "classification":
        return (lambda p: np.zeros(p.shape[0], dtype=np.int64),
                "regression: no decision, so no row can flip; the score shift is |Δ prediction|")
    pos = ctx.positive_index
    if pos is not None:
        threshold = float(ctx.config.threshold)

        def binary(p: np.ndarray) -> np.ndarray:
            return np.where(p[:, pos] >= threshold, pos, 1 - pos)

        return binary, f"p({ctx.positive_label}) ≥ {threshold:g}; the score shift is |Δ p({ctx.positive_label})|"
    return (lambda p: p.argmax(axis=1),
            "the most probable class; the score shift is the total-variation distance ½ Σ|Δp|")


def missable_mask(ctx: Any) -> np.ndarray:
    """(d,) bool: the features that can hold a missing value (NaN). A column fed as strings
    (a categorical input of the ``columns`` layout) cannot; every float input can."""
    if ctx.space.layout == "columns":
        return ~ctx.space.categorical_mask
    return np.ones(int(np.prod(ctx.space.row_shape)), dtype=bool)


def missing_supported(ctx: Any, rows: np.ndarray, missable: np.ndarray) -> bool:
    """Whether the model returns finite outputs when cells of ``missable`` features are missing (NaN).

    Probed through the Evaluator on a few rows: the first row with each single missable
    feature missing, the first row with all of them missing, and rows with every other one missing.
    """
    flat = rows.reshape(rows.shape[0], -1)
    cols = np.flatnonzero(missable.reshape(-1))
    single = np.repeat(flat[:1], min(cols.size, _PROBE_ROWS - 4), axis=0)
    single[np.arange(single.shape[0]), cols[: single.shape[0]]] = np.nan
    every = flat[:1].copy()
    every[:, cols] = np.nan
    alternate = flat[: min(3, flat.shape[0])].copy()
    for i in range(alternate.shape[0]):
        alternate[i, cols[(np.arange(cols.size) + i) % 2 == 0]] = np.nan
    probe = np.concatenate([single, every, alternate]).reshape(-1, *rows.shape[1:])
    try:
        out = ctx.evaluator.predict(probe)
    except ModelRuntimeError:  # the Evaluator refuses NaN/inf outputs in one sentence
        return False
    return bool(np.isfinite(out).all())


def _kinds(ctx: AuditContext, params: RobustnessParams, kind_of_rows: str, rows: np.ndarray,
           categorical: np.ndarray, missable: np.ndarray) -> tuple[list[str], dict[str, str]]:
    allowed = {"tabular": TABULAR, "image": IMAGE, "text": TEXT}[kind_of_rows]
    asked = allowed if params.kinds == "auto" else tuple(params.kinds)
    unknown = [k for k in asked if k not in allowed]
    if unknown:
        raise ConfigError(f"Unknown robustness kind(s) {unknown} for {kind_of_rows} data; use some of: "
                          f"{', '.join(allowed)} (or kinds = \"auto\").")
    kinds: list[str] = []
    skipped: dict[str, str] = {}
    for kind in asked:
        if kind == "category_swap" and not categorical.any():
            skipped[kind] = "no feature is categorical, so there is no category to swap"
        elif kind == "missing" and not missable.any():
            skipped[kind] = "every model input is fed as strings, which cannot hold a missing value"
        elif kind == "missing" and not missing_supported(ctx, rows, missable):
            skipped[kind] = ("the model does not return finite outputs when values are missing (NaN), "
                             "so missing values cannot be injected")
        else:
            kinds.append(kind)
    return kinds, skipped


def text_perturber(ctx: Any, take: np.ndarray) -> Callable[[str, float, np.random.Generator], np.ndarray]:
    """``f(kind, severity, rng) -> (len(take), *row_shape)``: the sampled rows' texts perturbed
    (:func:`.text.perturb_texts`, row order, one stream) and encoded as the audit encodes text.

    The perturbed rows are an :class:`~audit_engine.data.AuditData` like the audited one (the
    sampled rows of its frame, target and sensitive attributes) whose text column holds the
    edited strings; ``ctx.space.encode`` tokenises it with the bound tokenizer."""
    column = ctx.space.text.column
    frame = ctx.data.frame.iloc[take].copy()
    texts = frame[column].astype(str).tolist()  # the strings the encoder tokenises
    sub = dataclasses.replace(
        ctx.data, frame=frame, y=None if ctx.data.y is None else np.asarray(ctx.data.y)[take],
        sensitive=ctx.data.sensitive.iloc[take] if ctx.data.sensitive is not None else ctx.data.sensitive)

    def encoded(kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
        moved = frame.copy()
        moved[column] = perturb_texts(kind, texts, severity, rng)
        return ctx.space.encode(dataclasses.replace(sub, frame=moved))

    return encoded


def _spatial_axes(ctx: AuditContext) -> tuple[int, ...]:
    """Axes of the batch (n, *row_shape) that are image height and width."""
    dims = len(ctx.space.row_shape)
    if ctx.space.image_layout == "NHWC":
        return (dims - 2, dims - 1)
    return (dims - 1, dims)


def run(ctx: AuditContext) -> CheckOutcome:
    params = ctx.config.params("robustness")
    kind_of_rows = modality(ctx)
    assert kind_of_rows is not None  # applies() said so
    max_rows = int(params.max_rows) if params.max_rows is not None else DEFAULT_ROWS[kind_of_rows]
    take = sample_index(ctx, max_rows)
    rows = ctx.rows[take]
    categorical = (ctx.space.categorical_mask if kind_of_rows == "tabular"
                   else np.zeros(int(np.prod(ctx.space.row_shape)), dtype=bool))
    missable = missable_mask(ctx)
    kinds, skipped = _kinds(ctx, params, kind_of_rows, rows, categorical, missable)
    decide, decision = decider(ctx)
    groups = {str(name): ctx.data.sensitive[name].iloc[take].to_numpy()
              for name in ctx.data.sensitive.columns} if ctx.data.sensitive is not None else {}
    core = robustness(ctx.evaluator.predict, decide, rows, kinds=kinds,
                      rng_for=lambda kind, level: ctx.rng("robustness", kind, level),
                      categorical=categorical, reference=ctx.rows,
                      spatial_axes=_spatial_axes(ctx) if kind_of_rows == "image" else (),
                      groups=groups, positive_index=ctx.positive_index, confidence=float(ctx.config.confidence),
                      policy_level=int(params.policy_level), top_rows=int(params.top_k), row_ids=take,
                      missable=missable,
                      perturb_rows=text_perturber(ctx, take) if kind_of_rows == "text" else None)
    at_level = [r for r in core.results if r.level == core.policy_level]
    worst = max(at_level, key=lambda r: r.flip_rate.value, default=None)
    top = (MaxFlipRate(value=0.0, ci_low=float("nan"), ci_high=float("nan"), kind=None, level=core.policy_level)
           if worst is None else
           MaxFlipRate(value=worst.flip_rate.value, ci_low=worst.flip_rate.ci_low, ci_high=worst.flip_rate.ci_high,
                       kind=worst.kind, level=worst.level))
    section = RobustnessResult(
        modality=kind_of_rows, rows=int(take.size), sampled=bool(take.size < ctx.rows.shape[0]), decision=decision,
        confidence=core.confidence, policy_level=core.policy_level, kinds=tuple(kinds), flip_rate=top,
        results=tuple(_result(r) for r in core.results),
        fragile_rows=tuple(FragileRow(row=i, mean_score_shift=s) for i, s in core.fragile_rows),
        skipped=skipped,
    )
    return CheckOutcome(section, skipped=dict(skipped))


def _flip(e: Any) -> FlipRate:
    return FlipRate(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, flips=e.flips, n=e.n)


def _result(r: Any) -> PerturbationResult:
    value, low, high = r.score_shift
    disparity = {}
    for attr, d in r.disparity.items():
        gap = d.get("gap")
        disparity[attr] = GroupDisparity(
            test=d.get("test"), p_value=d.get("p_value"), most_flipped=d.get("most_flipped"),
            least_flipped=d.get("least_flipped"),
            gap=None if gap is None else Estimate(gap["value"], gap["ci_low"], gap["ci_high"]))
    return PerturbationResult(kind=r.kind, level=r.level, severity=r.severity, flip_rate=_flip(r.flip_rate),
                              score_shift=Estimate(value, low, high),
                              groups={a: {g: _flip(e) for g, e in gs.items()} for a, gs in r.groups.items()},
                              disparity=disparity)
