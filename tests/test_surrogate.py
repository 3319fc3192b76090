"""The batched weighted ridge of LIME (:mod:`audit_engine.explain.surrogate`) against
scikit-learn's ``Ridge(sample_weight=...)``, fold by fold, and independent of row grouping."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as st
from sklearn.linear_model import Ridge

sur = importlib.import_module("audit_engine.explain.surrogate")


def _problem(n=5, s=600, d=6, t=2, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.random((n, s, d)) < 0.4
    z[:, 0] = True
    w = np.exp(-(d - z.sum(axis=2)) / 3.0)
    beta = rng.normal(size=(n, d, t))
    y = np.einsum("nsd,ndt->nst", z.astype(float), beta) + 0.3 * rng.normal(size=(n, s, t)) + 0.7
    return z, w, y


@pytest.mark.parametrize("s", [600, 613])  # equal folds (one batched product) and unequal ones (a loop)
def test_full_and_fold_fits_match_sklearn_ridge(s):
    z, w, y = _problem(s=s)
    zf = z.astype(float)
    fit = sur.weighted_ridge(z, w, y, alpha=1.0, n_folds=4)
    edges = np.linspace(0, s, 5).astype(int)
    for i in range(z.shape[0]):
        ref = Ridge(alpha=1.0).fit(zf[i], y[i], sample_weight=w[i])
        assert_allclose(fit.coef[i], ref.coef_.T, rtol=1e-9, atol=1e-11)
        assert_allclose(fit.intercept[i], ref.intercept_, rtol=1e-9, atol=1e-11)
        r2 = [Ridge(alpha=1.0).fit(zf[i], y[i, :, j], sample_weight=w[i]).score(zf[i], y[i, :, j], sample_weight=w[i])
              for j in range(y.shape[2])]
        assert_allclose(fit.r2[i], r2, rtol=1e-9)
        # the interval comes from one fit per fold of the fold's own samples (batch means)
        folds = np.stack([Ridge(alpha=1.0).fit(zf[i, a:b], y[i, a:b], sample_weight=w[i, a:b]).coef_.T
                          for a, b in zip(edges[:-1], edges[1:], strict=True)])
        half = (fit.ci_high[i] - fit.ci_low[i]) / 2
        assert_allclose(half, st.t.ppf(0.975, 3) * folds.std(axis=0, ddof=1) / 2, rtol=1e-7)


def test_rows_fitted_alone_or_together_give_the_same_bits():
    z, w, y = _problem(n=7)
    together = sur.weighted_ridge(z, w, y)
    for i in range(7):
        alone = sur.weighted_ridge(z[i:i + 1], w[i:i + 1], y[i:i + 1])
        for a, b in zip((together.coef, together.ci_low, together.ci_high, together.r2),
                        (alone.coef, alone.ci_low, alone.ci_high, alone.r2), strict=True):
            np.testing.assert_array_equal(a[i], b[0])
