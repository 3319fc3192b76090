"""Monte Carlo error of MC-dropout uncertainty and the adaptive number of passes (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest

from audit_engine.uncertainty import uncertainty
from audit_engine.uncertainty.mc_error import PassSums, mc_error
from audit_engine.uncertainty.measures import decompose
from tests.conftest import data_path, model_path

DROPOUT = model_path("digits04_dropout.onnx")


@pytest.fixture(scope="module")
def ood_rows():
    return np.load(data_path("digits_ood.npz"))["x"][:200]


@pytest.fixture(scope="module")
def reference(ood_rows):
    return uncertainty(DROPOUT, ood_rows, passes=2000, seed=12345)


def test_adaptive_epistemic_is_within_its_mc_error_of_a_2000_pass_reference(ood_rows, reference):
    ref = reference.epistemic.mean()
    res = uncertainty(DROPOUT, ood_rows, seed=0, mc_tolerance=0.005)
    d = res.to_dict()
    assert d["mc_error"]["adaptive"]["tolerance_met"] is True
    assert d["passes"] == res.passes == d["mc_error"]["adaptive"]["passes_used"] and 150 <= res.passes < 1000
    epi = d["summary"]["epistemic"]
    se = epi["mc_se"]["mean"]
    assert 0 < se <= 0.005
    assert abs(epi["mean_corrected"] - ref) <= 3 * se, (epi["mean_corrected"], ref, se)
    # the reference's own MC error is smaller (the errors fall like 1/sqrt(passes))
    assert reference.mc_error.se["epistemic"]["mean"] < se / 2


def test_plug_in_mutual_information_is_biased_low_and_the_jackknife_corrects_it(ood_rows, reference):
    ref = reference.epistemic.mean()
    plug, fixed = [], []
    for seed in range(20):  # the bias is O(1/T): average 20 independent runs of T = 20 passes
        few = uncertainty(DROPOUT, ood_rows, passes=20, seed=seed)
        plug.append(few.epistemic.mean())
        fixed.append(few.mc_error.mean_corrected["epistemic"])
    se = np.std(plug, ddof=1) / np.sqrt(20)
    assert np.mean(plug) < ref - 2 * se
    assert abs(np.mean(fixed) - ref) < 2 * se


def test_same_seed_same_numbers_and_passes_are_seeded_by_their_index(ood_rows):
    a = uncertainty(DROPOUT, ood_rows[:50], seed=3, mc_tolerance=0.01).to_dict()
    b = uncertainty(DROPOUT, ood_rows[:50], seed=3, mc_tolerance=0.01).to_dict()
    a.pop("evaluations"), b.pop("evaluations")  # timings differ
    assert a == b
    assert a["mc_error"]["adaptive"]["pilot_passes"] == 150
    import audit_engine as ae
    from audit_engine.data.loader import load_data
    from audit_engine.data.space import FeatureSpace
    from audit_engine.evaluator.local import LocalEvaluator
    from audit_engine.uncertainty.mc_dropout import MCDropoutSampler

    model = ae.load_model(DROPOUT)
    data = load_data(ood_rows[:20])
    space = FeatureSpace.bind(model, data)
    rows = space.encode(data)
    sampler = MCDropoutSampler(model, space, binding=LocalEvaluator(model, space, probe_rows=rows).binding)
    all_at_once = sampler.sample(rows, passes=12, seed=5)
    later = np.stack(list(sampler.block(rows, 7, 5, entropy=5)))
    np.testing.assert_array_equal(later, all_at_once[7:])


def test_jackknife_of_the_sums_matches_the_plug_in_on_all_passes():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((40, 30, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    sums = PassSums(groups=8)
    sums.add(probs)  # pass t in group t mod 8
    total, ale, epi = decompose(probs)
    m = sums.measures()
    np.testing.assert_allclose(m["epistemic"], epi, atol=1e-12)
    err = mc_error(sums)
    # leave-one-group-out by hand for the mean epistemic figure
    loo = np.array([decompose(np.delete(probs, np.arange(g, 40, 8), axis=0))[2].mean() for g in range(8)])
    np.testing.assert_allclose(err.se["epistemic"]["mean"], np.sqrt(7 / 8 * ((loo - loo.mean()) ** 2).sum()))
    np.testing.assert_allclose(err.mean_corrected["epistemic"], 8 * epi.mean() - 7 * loo.mean())
