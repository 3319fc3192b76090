"""The space the data detectors work in: raw features, tapped network features, or a PCA.

Tabular data: the detectors see the feature columns as they are. Array data (images,
and any other per-row tensor) is high-dimensional and its coordinates are not features:
a Mahalanobis covariance of 3×224×224 pixels would be 150528² (169 GiB) and say little.
There the detectors run on

1. ``features``: the model's penultimate features (the input of its last Gemm/MatMul,
   exposed by a graph tap, :mod:`audit_engine.model.taps`; Lee et al. 2018), projected
   by PCA when wider than :data:`MAX_DIMENSIONS`; else
2. ``input``: the input itself when it has at most :data:`MAX_DIMENSIONS` values; else
3. ``pca_of_input``: a randomized truncated PCA (Halko et al. 2011) of the input with at
   most :data:`PCA_COMPONENTS` components, fitted on the reference rows.

``info`` (audit.json ``ood.detector_space``) says which, with the dimensions used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_DIMENSIONS", "PCA_COMPONENTS", "detector_space"]

MAX_DIMENSIONS = 256
PCA_COMPONENTS = 50


def _pca(reference: np.ndarray, others: list[np.ndarray], seed: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    from sklearn.decomposition import PCA

    flat = reference.reshape(reference.shape[0], -1)
    k = max(1, min(PCA_COMPONENTS, flat.shape[0] - 1, flat.shape[1]))
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(flat)
    return pca.transform(flat), [pca.transform(o.reshape(o.shape[0], -1)) for o in others], k


def detector_space(ctx: Any, reference: np.ndarray, others: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """Rows for the detectors: ``(reference', others', info)``.

    reference: ``(n_ref, *row_shape)`` reference rows; others: further row arrays to
    score in the same space (audited, OOD). Returned arrays are ``(n, p)`` float64.
    """
    space = ctx.space
    if space.features:  # tabular: the columns are the features
        holes = np.isnan(reference).any(axis=0)
        for o in others:
            holes |= np.isnan(o).any(axis=0)
        if not holes.any():
            return reference, others, {"space": "input", "dimensions": int(space.n_features)}
        # missing is a value of its own: the reference mean in its place, plus a 0/1 column saying so
        fill = np.nan_to_num(np.nanmean(np.where(np.isnan(reference), np.nan, reference), axis=0), nan=0.0) \
            if (~np.isnan(reference)).any() else np.zeros(reference.shape[1])

        def encode(a: np.ndarray) -> np.ndarray:
            gaps = np.isnan(a)
            return np.hstack([np.where(gaps, fill, a), gaps[:, holes].astype(np.float64)])

        names = [n for n, h in zip(space.feature_names, holes, strict=True) if h]
        return encode(reference), [encode(o) for o in others], {
            "space": "input", "dimensions": int(space.n_features + holes.sum()), "missing_indicators": names}
    seed = int(ctx.rng("ood", "detector_space").integers(0, 2**31 - 1))
    tap = ctx.evaluator.feature_tap
    if tap is not None:
        n_ref = reference.shape[0]
        feats = ctx.evaluator.features(np.concatenate([reference, *others]) if others else reference)
        ref_f = feats[:n_ref]
        parts, at = [], n_ref
        for o in others:
            parts.append(feats[at: at + o.shape[0]])
            at += o.shape[0]
        info: dict[str, Any] = {"space": "features", **tap.point.to_dict(), "dimensions": int(feats.shape[1])}
        if feats.shape[1] > MAX_DIMENSIONS:
            ref_f, parts, k = _pca(ref_f, parts, seed)
            info.update(space="pca_of_features", features_dimensions=int(feats.shape[1]), dimensions=int(k))
        return ref_f, parts, info
    reason = ctx.evaluator.feature_tap_reason
    d = int(space.n_features)
    if d <= MAX_DIMENSIONS:
        flat = lambda a: a.reshape(a.shape[0], -1)  # noqa: E731
        return flat(reference), [flat(o) for o in others], {"space": "input", "dimensions": d, "tap": reason}
    ref_p, parts, k = _pca(reference, others, seed)
    return ref_p, parts, {"space": "pca_of_input", "input_dimensions": d, "dimensions": int(k),
                          "solver": "randomized", "tap": reason}
