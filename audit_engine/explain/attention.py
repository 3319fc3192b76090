"""Attention maps of transformer exports, attention rollout, and how well either agrees
with token occlusion — a measured, per-model answer to "is attention an explanation?"
(Jain & Wallace 2019; Wiegreffe & Pinter 2019).

- Attention: the head-mean attention probabilities of every layer, tapped from the graph
  (:mod:`..model.attention_taps`) and read through a LocalEvaluator over the rewritten
  model, ``(n, L, T, T)``; per token, the row of the query that the classifier reads
  (``query="first"``: position 0, the CLS token; ``"mean"``: the mean over positions).
- Rollout (Abnar & Zuidema 2020): per layer ``Â = ½ A + ½ I`` (the residual stream),
  rows renormalised, ``R = Â_L ⋯ Â_1``; per token, the same query's row of ``R``.
- Token occlusion: the drop of the explained class's probability when a token is
  replaced by ``mask_id`` (every row and position in one Evaluator call).
- Rank agreement: per row, Spearman's correlation between attention (last layer, and
  rollout) and occlusion over the T positions; in [−1, 1], higher = attention ranks the
  tokens as occlusion does. Occlusion drops within float32 rounding
  (:func:`above_resolution`) rank as ties; with none above it in any row the agreement is
  reported as not measurable.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..errors import ConfigError
from ..stats import finite_or_none
from ..model.attention_taps import AttentionSite, NoAttentionError, attention_model

__all__ = ["AttentionExplanation", "attention_explain", "above_resolution", "rollout", "row_spearman",
           "unsupported_reason"]


@dataclass(frozen=True)
class AttentionExplanation:
    """Attention, rollout and occlusion of rows of token ids.

    attention: ``(n, L, T, T)`` head-mean probabilities per layer (rows: queries, sum 1);
    rollout_matrix: ``(n, T, T)``; last, rollout, occlusion: ``(n, T)`` per-token scores
    (attention / rollout: the query's row; occlusion: probability drop, higher = the token
    matters more); spearman_last, spearman_rollout: ``(n,)`` in [−1, 1]; layers: the
    Softmax nodes' names.
    """

    rows: np.ndarray
    targets: np.ndarray
    attention: np.ndarray
    rollout_matrix: np.ndarray
    last: np.ndarray
    rollout: np.ndarray
    occlusion: np.ndarray
    spearman_last: np.ndarray
    spearman_rollout: np.ndarray
    layers: list[str]
    params: dict[str, Any] = field(default_factory=dict)


def rollout(attention: np.ndarray) -> np.ndarray:
    """Attention rollout ``(n, T, T)`` from head-mean attention ``(n, L, T, T)`` (a loop over layers, not rows)."""
    n, L, T, _ = attention.shape
    eye = np.eye(T)
    r = np.broadcast_to(eye, (n, T, T)).copy()
    for layer in range(L):
        a = 0.5 * attention[:, layer] + 0.5 * eye
        a = a / a.sum(axis=2, keepdims=True)
        r = a @ r
    return r


def row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` and ``b`` ``(n, T)`` (average ranks for ties); NaN when a row is constant."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def above_resolution(drop: np.ndarray, base: np.ndarray, occluded: np.ndarray, *, ulps: float = 4.0) -> np.ndarray:
    """``(n, T)`` True where an occlusion drop exceeds what float32 rounding alone can make.

    The model computes in float32, so a probability p is known to about one unit in the
    last place, ``spacing(p)`` (≈ 6e-8 near 1); a drop ``base − occluded`` within
    ``ulps`` spacings of the row's largest probability is rounding, and its sign and rank
    are noise. On a saturated model every drop is of that size and a Spearman correlation
    of noise ranks came with an interval that excluded 0 (issue 23). Such drops are ranked
    as ties (0), so a row with no drop above resolution has no correlation (NaN).
    base: ``(n,)``; drop, occluded: ``(n, T)``.
    """
    top = np.maximum(np.abs(base), np.abs(occluded).max(axis=1))
    tol = ulps * np.spacing(top.astype(np.float32)).astype(np.float64)
    return np.abs(drop) > tol[:, None]


_TAPPED: weakref.WeakKeyDictionary[Any, tuple[Any, list[AttentionSite]]] = weakref.WeakKeyDictionary()


def _tapped(evaluator: Any) -> tuple[Any, list[AttentionSite]]:
    """The Evaluator over the attention-tapped copy of ``evaluator``'s model (made once per Evaluator)."""
    cache = _TAPPED.get(evaluator)
    if cache is None:
        from ..evaluator.local import LocalEvaluator

        model, sites = attention_model(evaluator.model)
        cache = (LocalEvaluator(model, evaluator.space, max_chunk_bytes=evaluator.max_chunk_bytes), sites)
        _TAPPED[evaluator] = cache
    return cache


def unsupported_reason(evaluator: Any) -> str | None:
    """None when the model is a transformer over integer token ids, else why attention maps do not apply."""
    space = evaluator.space
    if len(space.inputs) != 1 or space.layout == "columns" or len(space.row_shape) != 1:
        return "attention maps need one input of token ids (batch, positions)"
    if not str(space.inputs[0].dtype).startswith("int"):
        return "attention maps need integer token ids as the model input"
    try:
        _tapped(evaluator)
    except NoAttentionError as exc:
        return str(exc)
    return None


def attention_explain(
    evaluator: Any,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    query: str = "first",
    mask_id: int = 0,
) -> AttentionExplanation:
    """Attention, rollout and occlusion of token-id rows ``x`` ``(n, T)`` for ``targets`` ``(n,)``."""
    if query not in ("first", "mean"):
        raise ConfigError(f"The 'query' parameter must be 'first' (the CLS position) or 'mean'; got {query!r}.")
    reason = unsupported_reason(evaluator)
    if reason is not None:
        raise NoAttentionError(reason[0].upper() + reason[1:] + ("" if reason.endswith(".") else "."))
    tap, sites = _tapped(evaluator)
    x = np.asarray(x, dtype=np.float64)
    n, T = x.shape
    before = (tap.stats.model_calls, tap.stats.rows_evaluated, tap.stats.seconds)
    raw = tap.raw(x)
    # the tapped copy's calls are this audit's model calls too: count them on the main Evaluator
    evaluator.stats.model_calls += tap.stats.model_calls - before[0]
    evaluator.stats.rows_evaluated += tap.stats.rows_evaluated - before[1]
    evaluator.stats.seconds += tap.stats.seconds - before[2]
    if raw.shape[1] != len(sites) * T * T:
        raise NoAttentionError(
            f"The attention tensors hold {raw.shape[1]} values per row, not layers × positions² = "
            f"{len(sites) * T * T}; heads folded into the batch axis are not supported.")
    att = raw.reshape(n, len(sites), T, T)
    roll = rollout(att)
    if query == "first":
        last, per_token = att[:, -1, 0, :], roll[:, 0, :]
    else:
        last, per_token = att[:, -1].mean(axis=1), roll.mean(axis=1)
    targets = np.asarray(targets, dtype=np.intp).reshape(n)
    masked = np.repeat(x[:, None, :], T, axis=1)  # (n, T, T): copy j has token j replaced
    masked[:, np.arange(T), np.arange(T)] = mask_id
    scores = evaluator.predict(np.concatenate([x, masked.reshape(n * T, T)]))
    base = scores[np.arange(n), targets]
    occluded = scores[n:].reshape(n, T, -1)[np.arange(n), :, targets]
    occ = base[:, None] - occluded
    ranked = np.where(above_resolution(occ, base, occluded), occ, 0.0)
    return AttentionExplanation(
        rows=np.arange(n) if rows is None else np.asarray(rows), targets=targets, attention=att,
        rollout_matrix=roll, last=last, rollout=per_token, occlusion=occ,
        spearman_last=row_spearman(last, ranked), spearman_rollout=row_spearman(per_token, ranked),
        layers=[s.name for s in sites], params={"query": query, "mask_id": int(mask_id), "layers": len(sites)},
    )


def attention_section(ctx: Any, row_ids: np.ndarray, targets: np.ndarray, query: str, mask_id: int) -> Any:
    """``explanations.attention.attention`` of audit.json (an :class:`~audit_engine.results.explanations.Attention`):
    per-token maps and rank agreement."""
    from ..results.explanations import Attention, AttentionAgreement, AttentionLocal
    from ..stats import Estimate
    from ._common import mean_interval

    ae_ = attention_explain(ctx.evaluator, ctx.rows[row_ids], targets[:, 0], rows=row_ids, query=query, mask_id=mask_id)
    confidence = ctx.config.confidence

    def agree(rho: np.ndarray) -> Estimate:
        ok = rho[np.isfinite(rho)]
        if ok.size == 0:
            return Estimate(float("nan"), float("nan"), float("nan"))
        return Estimate(*np.clip(mean_interval(ok, axis=0, confidence=confidence), -1.0, 1.0).astype(float))

    local = tuple(AttentionLocal(row=int(r), tokens=tuple(int(t) for t in ctx.rows[r]),
                                 attention=tuple(ae_.last[i].tolist()), rollout=tuple(ae_.rollout[i].tolist()),
                                 occlusion=tuple(ae_.occlusion[i].tolist()),
                                 spearman_attention=finite_or_none(ae_.spearman_last[i]),
                                 spearman_rollout=finite_or_none(ae_.spearman_rollout[i]))
                  for i, r in enumerate(ae_.rows.tolist()))
    measurable = bool(np.isfinite(ae_.spearman_last).any() or np.isfinite(ae_.spearman_rollout).any())
    reason = None if measurable else (
        "not measurable: occluding a token changes the model's probability by less than float32 resolution in "
        "every explained row (a saturated model), so there is no ranking to agree with")
    return Attention(layers=tuple(ae_.layers), query=query, mask_id=int(mask_id),
                     agreement=AttentionAgreement(attention_vs_occlusion=agree(ae_.spearman_last),
                                                  rollout_vs_occlusion=agree(ae_.spearman_rollout),
                                                  not_measurable=reason),
                     local=local)


