"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018, RISE).

Features are ranked by their attribution, most positive first. *Deletion* replaces the
top-ranked features by a baseline step by step and records the explained score; a
faithful explanation makes it fall fast, so a **lower** deletion AUC is better.
*Insertion* starts from the baseline and puts the top-ranked features back; a **higher**
insertion AUC is better. AUCs are trapezoid areas over the fraction of features changed
(0 to 1), so they lie in the score's range. A random ranking (``random_*_auc``) is the
reference an explanation must beat. All curves of all rows are scored in one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results.explanations import Curve, Quality
from ..stats import Estimate
from ._common import DEFAULT_MAX_BYTES, Predict, chunks, gather_scores, mean_interval

__all__ = ["deletion_insertion", "quality_summary"]


def _curves(predict: Predict, x: np.ndarray, order: np.ndarray, targets: np.ndarray, baseline: np.ndarray,
            n_steps: int, max_bytes: int = DEFAULT_MAX_BYTES, dtype: Any = None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deletion and insertion AUCs (n,), the fractions (k,) and the curves (n, 2, k).

    Rows are processed in groups whose 2·k changed copies fit ``max_bytes``.
    """
    n = x.shape[0]
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    base = baseline.reshape(-1)
    counts = np.unique(np.linspace(0, d, n_steps + 1).round().astype(int))  # features changed per step
    k = counts.size
    y = np.empty((n, 2, k))
    # In the model's input type (``dtype``: the same values reach onnxruntime as through a
    # float64 batch), built in place in the batch the Evaluator sends on: no float64
    # temporaries, no concatenation, no conversion copy in the Evaluator.
    dt = np.dtype(dtype) if dtype is not None else np.result_type(x.dtype, baseline.dtype)
    flat32 = flat.astype(dt, copy=False)
    base32 = base.astype(dt)
    pieces = chunks(n, d * (8 * k + k + 16), max_bytes)
    buf = np.empty((max((b - a for a, b in pieces), default=0), 2, k, d), dtype=dt)  # reused: no page faults
    for a, b in pieces:
        m = b - a
        rank = np.empty_like(order[a:b])
        np.put_along_axis(rank, order[a:b], np.arange(d)[None, :].repeat(m, 0), axis=1)
        changed = rank[:, None, :] < counts[None, :, None]  # (m, K, d)
        batch = buf[:m]
        np.copyto(batch[:, 0], flat32[a:b, None, :])  # deletion: the row, changed features to the baseline
        np.copyto(batch[:, 0], base32, where=changed)
        np.copyto(batch[:, 1], base32)  # insertion: the baseline, changed features from the row
        np.copyto(batch[:, 1], flat32[a:b, None, :], where=changed)
        del changed, rank
        batch = batch.reshape((m * 2 * k,) + x.shape[1:])
        y[a:b] = gather_scores(predict(batch), np.repeat(np.arange(m), 2 * k), targets[a:b, :1]).reshape(m, 2, k)
    frac = counts / d
    area = lambda c: np.trapezoid(c, frac, axis=-1) if hasattr(np, "trapezoid") else np.trapz(c, frac, axis=-1)  # noqa: E731
    return area(y[:, 0]), area(y[:, 1]), frac, y


def deletion_insertion(
    predict: Predict,
    x: np.ndarray,
    attributions: np.ndarray,
    targets: np.ndarray,
    *,
    baseline: np.ndarray,
    n_steps: int,
    rng: np.random.Generator,
    n_random: int = 3,
    max_bytes: int = DEFAULT_MAX_BYTES,
    dtype: Any = None,
) -> dict[str, np.ndarray]:
    """Per-row AUCs ``(n,)``: deletion, insertion, and their random-order references.

    x, attributions: ``(n, *row_shape)``; targets ``(n, 1)``; baseline ``row_shape``.
    The curves are scored ``max_bytes`` at a time; the random rankings are drawn one
    repeat at a time (the same stream as one ``(n_random, n, d)`` draw). ``dtype``: the
    model's input type when the feature space hands rows to the model as one tensor
    (images: float32), so the perturbed copies are built in it; default the rows' own.
    """
    n = x.shape[0]
    d = int(np.prod(x.shape[1:]))
    order = np.argsort(-attributions.reshape(n, -1), axis=1, kind="stable")
    dele, ins, frac, curves = _curves(predict, x, order, targets, baseline, n_steps, max_bytes, dtype)
    rd, ri, rc = [], [], []
    for _ in range(n_random):
        rand = np.argsort(rng.random((n, d)), axis=1)
        a_, b_, _, c_ = _curves(predict, x, rand, targets, baseline, n_steps, max_bytes, dtype)
        rd.append(a_)
        ri.append(b_)
        rc.append(c_)
    rand_curves = np.concatenate(rc)
    return {
        "deletion_auc": dele,
        "insertion_auc": ins,
        "random_deletion_auc": np.mean(rd, axis=0),
        "random_insertion_auc": np.mean(ri, axis=0),
        "fractions": frac,
        "curves": curves.mean(axis=0),            # (2, k): mean deletion and insertion curve
        "random_curves": rand_curves.mean(axis=0),  # (2, k): the same for random rankings
    }


def quality_summary(aucs: dict[str, np.ndarray], confidence: float = 0.95) -> Quality:
    """Mean of each per-row AUC with its Student-t interval over the rows, plus the mean
    curves (``deletion_curve`` / ``insertion_curve``: fraction, values, random) for the report."""
    est: dict[str, Estimate] = {}
    for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
        m, lo, hi = mean_interval(aucs[key], axis=0, confidence=confidence)
        est[key] = Estimate(float(m), float(lo), float(hi))
    curves: dict[str, Curve] = {}
    if "curves" in aucs:
        frac = tuple(float(f) for f in aucs["fractions"])
        for i, name in enumerate(("deletion_curve", "insertion_curve")):
            curves[name] = Curve(fraction=frac, values=tuple(float(v) for v in aucs["curves"][i]),
                                 random=tuple(float(v) for v in aucs["random_curves"][i]))
    return Quality(**est, **curves)
