"""Tabular LIME's fast paths (issue 16): the one-uniform sampler draws what lime draws,
``z`` is the bin of the value the model sees, and batching / the sampling thread change
no number."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as st

from audit_engine.explain._common import row_rngs

lt = importlib.import_module("audit_engine.explain.lime_tabular")


@pytest.fixture(scope="module")
def background():
    rng = np.random.default_rng(0)
    bg = np.column_stack([rng.normal(size=3000), rng.exponential(size=3000), rng.integers(0, 3, 3000),
                          np.where(rng.random(3000) < 0.6, 0.0, rng.normal(size=3000))])  # many ties at 0
    return bg, np.array([False, False, True, False])


def test_bins_are_drawn_with_the_background_frequencies_and_z_is_the_values_bin(background):
    bg, cat = background
    stats = lt.fit_tabular_stats(bg, cat)
    x = bg[:3]
    z, inv = lt.sample_tabular(stats, x, 20000, row_rngs(0, "t", np.arange(3)))
    assert z[:, 0].all() and np.array_equal(inv[:, 0], x.astype(np.float32))
    for j in np.flatnonzero(~cat):
        disc_bg = np.searchsorted(stats.edges[j], bg[:, j])
        # z is exactly "the float32 value lies in the instance's quartile bin"
        same = np.searchsorted(stats.edges[j], inv[:, 1:, j].astype(np.float64)) == np.searchsorted(stats.edges[j], x[:, j])[:, None]
        assert np.array_equal(z[:, 1:, j].astype(bool), same)
        # bin frequencies of the samples match the background's (lime draws bins with them)
        counts = np.bincount(np.searchsorted(stats.edges[j], inv[:, 1:, j].ravel().astype(np.float64)),
                             minlength=stats.edges[j].size + 1)
        expected = np.bincount(disc_bg, minlength=stats.edges[j].size + 1) / bg.shape[0] * counts.sum()
        keep = expected > 0
        assert counts[~keep].sum() == 0
        assert st.chisquare(counts[keep], expected[keep]).pvalue > 1e-3
        # inside a bin the values follow the truncated normal of that bin: mean check
        for b in np.flatnonzero(keep):
            vals = inv[:, 1:, j].ravel()[np.searchsorted(stats.edges[j], inv[:, 1:, j].ravel().astype(np.float64)) == b]
            ref = bg[disc_bg == b, j]
            lo, hi = ref.min(), ref.max()
            mu, sd = ref.mean(), ref.std() + 1e-11
            if hi - lo < 1e-12:
                assert np.allclose(vals, lo, atol=1e-6)
                continue
            lo_e = np.r_[bg[:, j].min(), stats.edges[j]][b]
            hi_e = np.r_[stats.edges[j], bg[:, j].max()][b]
            tn = st.truncnorm((lo_e - mu) / sd, (hi_e - mu) / sd, loc=mu, scale=sd)
            assert abs(vals.mean() - tn.mean()) < 5 * tn.std() / np.sqrt(vals.size) + 1e-5
    # categorical codes with their frequencies
    codes = inv[:, 1:, 2].ravel()
    freq = np.bincount(codes.astype(int), minlength=3) / codes.size
    assert_allclose(freq, np.bincount(bg[:, 2].astype(int)) / bg.shape[0], atol=0.01)


@pytest.mark.parametrize("overlap,batch_bytes", [(False, 1), (True, 1), (True, 10**9)])
def test_batches_and_the_sampling_thread_change_no_number(background, monkeypatch, overlap, batch_bytes):
    bg, cat = background
    stats = lt.fit_tabular_stats(bg, cat)
    w = np.array([0.7, -0.3, 0.2, 0.5])

    def predict(rows):
        p = 1 / (1 + np.exp(-(np.nan_to_num(rows) @ w)))
        return np.column_stack([1 - p, p])

    x = bg[:5]
    targets = np.ones((5, 1), dtype=np.intp)
    kw = dict(stats=stats, n_samples=300, kernel_width=None)
    monkeypatch.setattr(lt, "OVERLAP", False)
    monkeypatch.setattr(lt, "_BATCH_BYTES", 10**9)
    ref = lt.lime_tabular(predict, x, targets, rngs=row_rngs(1, "lime", np.arange(5)), **kw)
    monkeypatch.setattr(lt, "OVERLAP", overlap)
    monkeypatch.setattr(lt, "_BATCH_BYTES", batch_bytes)
    got = lt.lime_tabular(predict, x, targets, rngs=row_rngs(1, "lime", np.arange(5)), **kw)
    for a, b in zip(ref, got, strict=True):
        assert_allclose(a, b, rtol=0, atol=1e-12)
