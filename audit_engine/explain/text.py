"""Explanations of text models over tokens: token occlusion and LIME over tokens.

Rows are in the ``segments`` layout of a text model (:mod:`audit_engine.data.segments`):
token ids, the attention mask (and token type ids) side by side. Token ids are discrete,
so no method adds noise to them: tokens are *removed* or *replaced*, and the attention
mask follows its tokens.

- :func:`token_occlusion` (Zeiler & Fergus 2014, over tokens): each token in turn is
  replaced by the pad id (``replacement="pad"``) or the mask id (``"mask"``) and its
  attention-mask entry set to 0; the attribution is the drop of the explained score,
  ``f(x)[t] − f(x with token j occluded)[t]`` (positive = the token supports the class).
- :func:`lime_tokens` (Ribeiro et al. 2016; ``lime.lime_text.LimeTextExplainer`` with its
  defaults ``bow=True``, ``kernel_width=25``): the interpretable features are the row's
  distinct tokens; sample 0 is the text itself, every other sample removes a number of
  distinct tokens drawn uniformly from 1..K (all their occurrences), the remaining tokens
  close up to the left as in the re-tokenised shorter text, the tail is padding with
  attention mask 0. Weights ``sqrt(exp(−D²/25²))`` with ``D`` 100 × the cosine distance of
  the on/off vector to all-ones; a weighted ridge (α = 1) of the explained probability on
  the on/off vector gives one weight per distinct token, painted onto each occurrence.

Special tokens (``[CLS]``, ``[SEP]``; the tokenizer's added special tokens) and padding
are never features: they are kept as they are and get attribution 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.space import FeatureSpace
from ._common import Predict, gather_scores
from .surrogate import weighted_ridge

__all__ = ["TEXT_METHODS", "not_applicable", "token_positions", "token_occlusion", "lime_tokens",
           "token_view"]

TEXT_METHODS = ("lime", "occlusion")


def not_applicable(method: str, space: FeatureSpace) -> str | None:
    """Why ``method`` cannot run on this feature space (None when it can)."""
    if method == "smoothgrad" and not space.has_continuous:
        if space.text is not None:
            return "token ids are discrete; gradients do not apply (token occlusion and LIME over tokens explain text)"
        return "every model input is discrete (integer ids or codes); gradients do not apply"
    return None


def token_positions(space: FeatureSpace, x: np.ndarray) -> np.ndarray:
    """Boolean ``(n, L)``: positions holding a real token (attended, not padding, not special)."""
    ids = _ids(space, x)
    tb = space.text
    if tb is not None and tb.mask is not None:
        valid = np.rint(x[:, space.segment(tb.mask).slice]) != 0
    elif tb is not None:
        valid = ids != tb.tokenizer.pad_id
    else:
        valid = ids != 0
    if tb is not None and tb.tokenizer.special_ids:
        valid &= ~np.isin(ids, np.fromiter(tb.tokenizer.special_ids, dtype=np.int64))
    return valid


def _ids(space: FeatureSpace, x: np.ndarray) -> np.ndarray:
    seg = space.segment(space.text.ids if space.text is not None else space.segments[0].name)
    return np.rint(x[:, seg.slice]).astype(np.int64)


def token_occlusion(predict: Predict, x: np.ndarray, targets: np.ndarray, *, space: FeatureSpace,
                    replacement: str = "pad") -> np.ndarray:
    """Score drop when each token is occluded: ``(t, n, d)`` (0 outside the token-id segment)."""
    tb = space.text
    assert tb is not None
    fill = tb.tokenizer.mask_id if replacement == "mask" else tb.tokenizer.pad_id
    ids_off = space.segment(tb.ids).offset
    n, d = x.shape
    t = targets.shape[1]
    ii, jj = np.nonzero(token_positions(space, x))
    pert = x[ii].copy()
    k = np.arange(ii.size)
    pert[k, ids_off + jj] = fill
    if tb.mask is not None:
        pert[k, space.segment(tb.mask).offset + jj] = 0.0
    base = gather_scores(predict(x), np.arange(n), targets)  # (n, t)
    scores = gather_scores(predict(pert), ii, targets)  # (m, t)
    out = np.zeros((t, n, d))
    out[:, ii, ids_off + jj] = (base[ii] - scores).T
    return out


def lime_tokens(predict: Predict, x: np.ndarray, targets: np.ndarray, *, space: FeatureSpace, n_samples: int,
                rngs: list[np.random.Generator], kernel_width: float = 25.0, alpha: float = 1.0, n_folds: int = 10,
                confidence: float = 0.95, max_bytes: int = 64 * 1024**2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LIME weights over distinct tokens, painted onto their positions: ``(t, n, d)`` ×3, and R² ``(n, t)``.

    Rows are processed in groups whose perturbations take about ``max_bytes``; each row's
    draws come from its own stream, so the grouping does not change the result.
    """
    n, d = x.shape
    per_row = max(1, n_samples * d * 8 * 3)
    step = max(1, int(max_bytes) // per_row)
    parts = [_lime_block(predict, x[a:a + step], targets[a:a + step], space=space, n_samples=n_samples,
                         rngs=rngs[a:a + step], kernel_width=kernel_width, alpha=alpha, n_folds=n_folds,
                         confidence=confidence) for a in range(0, n, step)]
    return (np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1),
            np.concatenate([p[2] for p in parts], axis=1), np.concatenate([p[3] for p in parts], axis=0))


def _lime_block(predict: Predict, x: np.ndarray, targets: np.ndarray, *, space: FeatureSpace, n_samples: int,
                rngs: list[np.random.Generator], kernel_width: float, alpha: float, n_folds: int,
                confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tb = space.text
    assert tb is not None
    n, d = x.shape
    ids = _ids(space, x)
    L = ids.shape[1]
    valid = token_positions(space, x)
    # distinct tokens of each row, in order of first occurrence (lime's IndexedString vocabulary)
    word = np.full((n, L), -1, dtype=np.intp)
    counts = np.zeros(n, dtype=np.intp)
    for i in range(n):  # a loop over the few explained rows; samples are vectorised
        seen: dict[int, int] = {}
        for j in np.flatnonzero(valid[i]).tolist():
            word[i, j] = seen.setdefault(int(ids[i, j]), len(seen))
        counts[i] = len(seen)
    kmax = max(1, int(counts.max()))
    on = np.zeros((n, n_samples, kmax), dtype=bool)
    for i, g in enumerate(rngs):
        k = int(counts[i])
        on[i, :, :k] = True
        if k == 0 or n_samples < 2:
            continue
        size = g.integers(1, k + 1, size=n_samples - 1)  # how many distinct tokens to remove
        order = np.argsort(g.random((n_samples - 1, k)), axis=1)  # a uniform random subset of that size
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(k)[None, :].repeat(n_samples - 1, 0), axis=1)
        on[i, 1:, :k] = ranks >= size[:, None]
    # keep a position when it is not a feature (special tokens) or its token is on
    kept_word = np.take_along_axis(on, np.where(word >= 0, word, 0)[:, None, :].repeat(n_samples, 1), axis=2)
    real = _attended(space, x)  # (n, L) positions that are part of the text at all
    keep = np.where(word[:, None, :] >= 0, kept_word, real[:, None, :])  # (n, S, L)
    pert = _compact(space, x, keep)
    scores = predict(pert.reshape(n * n_samples, d))
    y = gather_scores(scores, np.repeat(np.arange(n), n_samples), targets).reshape(n, n_samples, -1)
    z = on.astype(np.float64)
    nz = z.sum(axis=2)
    cos = np.sqrt(nz / np.maximum(counts, 1)[:, None])
    dist = (1.0 - cos) * 100.0
    w = np.sqrt(np.exp(-(dist**2) / kernel_width**2))
    fit = weighted_ridge(z, w, y, alpha=alpha, n_folds=n_folds, confidence=confidence)
    ids_off = space.segment(tb.ids).offset
    t = targets.shape[1]

    def paint(a: np.ndarray) -> np.ndarray:  # (n, K, t) -> (t, n, d)
        out = np.zeros((t, n, d))
        ii, jj = np.nonzero(word >= 0)
        out[:, ii, ids_off + jj] = a[ii, word[ii, jj]].T
        return out

    return paint(fit.coef), paint(fit.ci_low), paint(fit.ci_high), fit.r2


def _attended(space: FeatureSpace, x: np.ndarray) -> np.ndarray:
    tb = space.text
    assert tb is not None
    if tb.mask is not None:
        return np.rint(x[:, space.segment(tb.mask).slice]) != 0
    return _ids(space, x) != tb.tokenizer.pad_id


def _compact(space: FeatureSpace, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows ``(n, S, d)`` holding only the kept positions, closed up to the left, padded."""
    tb = space.text
    assert tb is not None
    n, s, L = keep.shape
    order = np.argsort(~keep, axis=2, kind="stable")  # kept positions first, in their order
    kept = np.take_along_axis(keep, order, axis=2)
    out = np.repeat(x[:, None, :], s, axis=1)
    for name, fill in ((tb.ids, tb.tokenizer.pad_id), (tb.types, 0)):
        if name is None:
            continue
        seg = space.segment(name)
        vals = np.take_along_axis(np.repeat(x[:, None, seg.slice], s, axis=1), order, axis=2)
        out[:, :, seg.slice] = np.where(kept, vals, fill)
    if tb.mask is not None:
        out[:, :, space.segment(tb.mask).slice] = kept
    return out


def token_view(space: FeatureSpace, row: np.ndarray, values: np.ndarray) -> tuple[Any, ...]:
    """The attended tokens of one row with their attributions, for audit.json and the report.

    row, values: ``(d,)`` in feature space; returns :class:`~audit_engine.results.explanations.TokenAttribution` records in text order
    (special tokens included with value 0, padding left out).
    """
    from ..results.explanations import TokenAttribution

    tb = space.text
    assert tb is not None
    ids = _ids(space, row[None])[0]
    attended = _attended(space, row[None])[0]
    seg = space.segment(tb.ids)
    vals = values[seg.slice]
    tokens = tb.tokenizer.tokens(ids)
    return tuple(TokenAttribution(token=tokens[j], value=float(vals[j])) for j in np.flatnonzero(attended).tolist())
