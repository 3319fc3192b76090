"""Weak-slice discovery (issue 29): each statistic against an independent oracle (statsmodels'
BH and Newcombe interval, scipy's Fisher and Welch tests, pandas for slice sizes and error
sums), a planted weak slice found, and a null world whose false-discovery rate stays at 5%."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from audit_engine.slices.search import benjamini_hochberg, newcombe_difference, predicates, search


def _world(n: int, seed: int, planted: bool) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(18, 80, n), "x": rng.normal(size=n),
                          "cat": rng.choice(list("abcde"), n), "sex": rng.choice(["f", "m"], n)})
    p = np.full(n, 0.2)
    if planted:
        p[((frame["cat"] == "b") & (frame["age"] < 30)).to_numpy()] = 0.55
    return frame, (rng.random(n) < p).astype(float)


def _mask(frame: pd.DataFrame, preds, names) -> np.ndarray:
    idx = [preds.names.index(name) for name in names]
    return preds.masks[:, idx].all(axis=1)


def test_bh_equals_statsmodels() -> None:
    p = np.random.default_rng(3).uniform(size=500) ** 3
    assert np.allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])


def test_newcombe_equals_statsmodels() -> None:
    for k1, n1, k2, n2 in ((30, 80, 200, 1000), (0, 40, 5, 900), (40, 40, 300, 1000)):
        low, high = newcombe_difference(np.array([k1]), np.array([n1]), np.array([k2]), np.array([n2]), 0.9)
        ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff", alpha=0.1)
        assert np.allclose([low[0], high[0]], ref, atol=1e-10)


def test_sizes_sums_and_p_values_equal_brute_force() -> None:
    frame, err = _world(3000, 1, planted=True)
    preds = predicates(frame)
    result = search(preds, err, top_k=10_000, fdr=1.0)  # fdr = 1 reports every tested slice
    assert result.tested == sum(result.tested_per_level) and len(result.tested_per_level) == 3
    assert len(result.slices) == result.tested > 100
    for s in result.slices:
        m = _mask(frame, preds, s.predicates)
        assert s.size == int(m.sum())
        assert np.isclose(s.loss, err[m].mean()) and np.isclose(s.rest_loss, err[~m].mean())
        table = [[err[m].sum(), (1 - err[m]).sum()], [err[~m].sum(), (1 - err[~m]).sum()]]
        assert np.isclose(s.p_value, stats.fisher_exact(table, alternative="greater")[1], rtol=1e-8)
    # a continuous loss: Welch's one-sided test
    loss = err * 2.0 + np.random.default_rng(2).gamma(2.0, size=err.size)
    welch = search(preds, loss, fdr=1.0, top_k=60)
    assert welch.loss_kind == "continuous" and welch.slices
    for s in welch.slices:
        m = _mask(frame, preds, s.predicates)
        ref = stats.ttest_ind(loss[m], loss[~m], equal_var=False, alternative="greater").pvalue
        assert np.isclose(s.p_value, ref, rtol=1e-6)


def test_every_slice_of_the_family_is_counted() -> None:
    """The family BH adjusts over: every conjunction (≤ 3 columns) with min_size ≤ size ≤ n − min_size."""
    frame, err = _world(1500, 4, planted=False)
    preds = predicates(frame, bins=3)
    result = search(preds, err, min_size=40)
    p = len(preds.names)
    count = 0
    import itertools

    for depth in (1, 2, 3):
        for combo in itertools.combinations(range(p), depth):
            if len({int(preds.columns[i]) for i in combo}) < depth:
                continue
            size = int(preds.masks[:, list(combo)].all(axis=1).sum())
            # the lattice reaches a slice only through parents that are themselves in range
            parents_ok = all(40 <= int(preds.masks[:, list(sub)].all(axis=1).sum()) <= 1500 - 40
                             for k in range(1, depth) for sub in itertools.combinations(combo, k))
            count += (40 <= size <= 1500 - 40) and parents_ok
    assert result.tested == count


def test_planted_slice_is_found_with_an_interval_covering_it() -> None:
    frame, err = _world(4000, 7, planted=True)
    result = search(predicates(frame), err)
    top = result.slices[0]
    assert "cat = b" in top.predicates and any(p.startswith("age in [18") for p in top.predicates)
    assert top.p_adjusted <= 0.05 and top.ci_low > 0
    assert 0.5 * 1 - 1 < top.effect  # sanity
    truth = 0.55 - 0.2  # inside the planted slice vs (almost all of) the rest
    assert top.ci_low <= truth + 0.05 and top.ci_high >= truth - 0.12  # the slice is a bin, not the exact cell
    assert result.max_effect == max(s.effect for s in result.slices)


def test_null_world_false_discovery_rate() -> None:
    """Global null: any report is false, so the FDR is the share of samples with a report (≤ 5%)."""
    reports = 0
    samples = 150
    for seed in range(samples):
        frame, err = _world(1200, 100 + seed, planted=False)
        reports += bool(search(predicates(frame), err).slices)
    share = reports / samples
    assert share <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / samples), share


def test_tiny_data_says_why() -> None:
    frame, err = _world(40, 0, planted=False)
    result = search(predicates(frame), err)
    assert result.tested == 0 and result.slices == () and "too few rows" in result.notes[0]
