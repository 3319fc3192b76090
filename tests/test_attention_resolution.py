"""Attention/occlusion agreement on a saturated model: float32 spacing as the oracle for 'below resolution'."""

from __future__ import annotations

import numpy as np

from audit_engine.explain.attention import above_resolution, row_spearman


def test_drops_within_float32_rounding_are_not_ranked():
    rng = np.random.default_rng(0)
    n, t = 50, 12
    # a saturated classifier: p ≈ 1 in float32; occluding any token moves it by 0–2 ulps only
    base = np.ones(n, dtype=np.float32).astype(np.float64)
    ulp = float(np.spacing(np.float32(1.0)))
    occluded = (np.float32(1.0) - rng.integers(0, 3, size=(n, t)) * np.float32(ulp / 2)).astype(np.float64)
    drop = base[:, None] - occluded
    assert (np.abs(drop) > 0).any()  # rounding noise that the old code ranked
    keep = above_resolution(drop, base, occluded)
    assert not keep.any()
    attention = rng.random((n, t))
    noise_rho = row_spearman(attention, drop)
    assert np.isfinite(noise_rho).any()  # the old agreement: correlations of noise ranks
    assert np.isnan(row_spearman(attention, np.where(keep, drop, 0.0))).all()  # now: not measurable


def test_real_drops_are_kept():
    base = np.array([0.9, 0.6])
    occluded = np.array([[0.9, 0.5, 0.89], [0.6, 0.6, 0.2]])
    keep = above_resolution(base[:, None] - occluded, base, occluded)
    assert keep.tolist() == [[False, True, True], [False, False, True]]
