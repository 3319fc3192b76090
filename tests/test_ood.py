"""OOD scores, ODIN, detectors, shift tests and the ood check, against oracles."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from numpy.testing import assert_allclose
from onnx import TensorProto, helper, numpy_helper
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from scipy.special import softmax
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from audit_engine.audit import audit, prepare
from audit_engine.config import AuditConfig
from audit_engine.data.loader import load_data
from audit_engine.data.space import FeatureSpace
from audit_engine.errors import DataError, InvalidValueError, NotFittedError, SchemaMismatchError
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.model.loader import load_model
from audit_engine.ood import (
    ODIN, KNNDistance, Mahalanobis, IsolationForestDetector, benjamini_hochberg, odin_gradient,
    odin_perturb, output_scores, separation, shift_tests,
)
from audit_engine.ood.evaluation import fpr_at_tpr
from audit_engine.result import validate
from tests.conftest import data_path, model_path, save

DIGITS_IN = data_path("digits_in.npz")
DIGITS_OOD = data_path("digits_ood.npz")
MLP = model_path("digits04_mlp.onnx")


@pytest.fixture(scope="module")
def digits_audit():
    result = audit(MLP, DIGITS_IN, config=AuditConfig(checks=("ood",), n_bootstrap=200), ood_data=DIGITS_OOD)
    doc = result.to_dict()
    validate(doc)
    return doc


@pytest.fixture(scope="module")
def digits_logits():
    ctx = prepare(MLP, DIGITS_IN, config=AuditConfig(checks=("ood",)), ood_data=DIGITS_OOD)
    return ctx.evaluator.logits(ctx.rows), ctx.evaluator.logits(ctx.ood_rows), ctx


def softmax_model(w: np.ndarray, b: np.ndarray) -> onnx.ModelProto:
    """Multinomial logistic model: logits = x W + b (an analytic-gradient oracle)."""
    d, k = w.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["logits"])],
        "softmax_regression",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE, [None, d])],
        [helper.make_tensor_value_info("logits", TensorProto.DOUBLE, [None, k])],
        [numpy_helper.from_array(w.astype(np.float64), "W"), numpy_helper.from_array(b.astype(np.float64), "B")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    path = save(softmax_model(w, b), tmp_path_factory.mktemp("m") / "softmax.onnx")
    x = rng.normal(size=(60, 4))
    model = load_model(path, provider="cpu", output_kind="logits")
    data = load_data(x)
    space = FeatureSpace.bind(model, data)
    return LocalEvaluator(model, space, probe_rows=x), x, w, b


# ---------------------------------------------------------------- output scores vs scikit-learn
def test_output_score_auroc_equals_sklearn(digits_audit, digits_logits):
    z_in, z_ood, _ = digits_logits
    truth = np.r_[np.zeros(len(z_in)), np.ones(len(z_ood))]
    oracle = {
        "msp": -np.r_[softmax(z_in, axis=1).max(1), softmax(z_ood, axis=1).max(1)],
        "max_logit": -np.r_[z_in.max(1), z_ood.max(1)],
        "energy": -np.r_[np.log(np.exp(z_in).sum(1)), np.log(np.exp(z_ood).sum(1))],
    }
    for name, s in oracle.items():
        assert_allclose(digits_audit["ood"]["scores"][name]["auroc"]["value"], roc_auc_score(truth, s), atol=1e-12)


def test_every_score_separates_digits_with_interval(digits_audit):
    ood = digits_audit["ood"]
    assert ood["logit_source"] == "logits" and ood["reference"]["source"] == "audited data"
    assert set(ood["scores"]) == {"msp", "max_logit", "energy", "odin", "mahalanobis", "knn", "iforest"}
    for name, entry in ood["scores"].items():
        auc = entry["auroc"]
        assert auc["value"] > 0.5, name
        assert auc["ci_low"] <= auc["value"] <= auc["ci_high"] and auc["ci_high"] - auc["ci_low"] > 0, name
        assert 0 <= entry["fpr_at_95_tpr"]["value"] <= 1
        assert entry["ood_flagged_fraction"] > entry["flagged_fraction"], name
    assert len(ood["most_ood"]) == 10 and len(json.dumps(ood)) < 50_000


def test_fpr_at_95_tpr_definition():
    rng = np.random.default_rng(0)
    s_in, s_ood = rng.normal(size=400), rng.normal(1.5, size=300)
    threshold = np.quantile(s_in, 0.95, method="inverted_cdf")
    assert_allclose(fpr_at_tpr(s_in, s_ood)[0], np.mean(s_ood <= threshold), atol=1e-12)
    est = separation(s_in, s_ood, n_boot=200, rng=np.random.default_rng(1))
    assert_allclose(est["auroc"].value, roc_auc_score(np.r_[np.zeros(400), np.ones(300)], np.r_[s_in, s_ood]), atol=1e-12)
    assert est["auroc"].ci_low < est["auroc"].value < est["auroc"].ci_high


def test_energy_skipped_for_probability_outputs():
    logp = np.log(softmax(np.random.default_rng(0).normal(size=(5, 3)), axis=1))
    scores, skipped = output_scores(logp, logit_source="log_probabilities")
    assert "energy" not in scores and "energy" in skipped
    assert_allclose(scores["max_logit"], -np.log(-scores["msp"]), atol=1e-12)


# ---------------------------------------------------------------- ODIN vs the analytic gradient
def test_odin_gradient_matches_analytic_and_step_raises_max_softmax(logistic):
    evaluator, x, w, b = logistic
    t = 2.0
    z = x @ w + b
    yhat = z.argmax(1)
    s = softmax(z / t, axis=1)
    analytic = (w[:, yhat].T - s @ w.T) / t  # ∇ log softmax(z/T)[ŷ]
    grad = odin_gradient(evaluator, x, temperature=t, gradient="central", steps=np.full(4, 1e-4))
    assert_allclose(grad, analytic, rtol=1e-5, atol=1e-7)
    stein = odin_gradient(evaluator, x, temperature=t, gradient="stein", sigma=1e-3, n_samples=400,
                          rng=np.random.default_rng(0))
    cos = (stein * analytic).sum(1) / np.linalg.norm(stein, axis=1) / np.linalg.norm(analytic, axis=1)
    assert np.median(cos) > 0.9
    moved = odin_perturb(x, grad, epsilon=0.05, scale=np.ones(4))
    before = softmax(z / t, axis=1)[np.arange(len(x)), yhat]
    after = softmax((moved @ w + b) / t, axis=1)[np.arange(len(x)), yhat]
    assert np.all(after > before)
    assert np.all(np.sign(grad) == np.sign(analytic))


def test_odin_tunes_on_reference_only_and_refuses_unfitted(logistic):
    evaluator, x, _, _ = logistic
    odin = ODIN(evaluator, temperatures=(1.0, 10.0), epsilons=(0.0, 0.05), seed=0)
    with pytest.raises(NotFittedError):
        odin.score(x)
    odin.fit(x)
    assert len(odin.grid_) == 4 and odin.temperature_ in (1.0, 10.0)
    again = ODIN(evaluator, temperatures=(1.0, 10.0), epsilons=(0.0, 0.05), seed=0).fit(x)
    assert_allclose(odin.score(x), again.score(x), atol=0)


# ---------------------------------------------------------------- detectors
def test_mahalanobis_equals_scipy():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    rows = rng.normal(size=(7, 4)) * 3
    det = Mahalanobis().fit(ref)
    vi = np.linalg.inv(np.cov(ref, rowvar=False))
    oracle = [scipy_mahalanobis(r, ref.mean(0), vi) for r in rows]
    assert det.covariance_used_ == "empirical"
    assert_allclose(det.score(rows), oracle, rtol=1e-10)


def test_mahalanobis_few_rows_falls_back_or_refuses():
    ref = np.random.default_rng(0).normal(size=(5, 10))
    det = Mahalanobis().fit(ref)
    assert det.covariance_used_ == "ledoit_wolf" and "5 rows for 10 dimensions" in det.fallback_
    assert np.all(np.isfinite(det.score(ref)))
    with pytest.raises(InvalidValueError, match="more reference rows than features"):
        Mahalanobis(covariance="empirical").fit(ref)


@pytest.mark.parametrize("cls", [Mahalanobis, KNNDistance, IsolationForestDetector])
def test_detectors_contract(cls):
    rng = np.random.default_rng(1)
    ref, cal = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    det = cls()
    with pytest.raises(NotFittedError):
        det.score(ref)
    assert det.fit(ref) is det
    far = rng.normal(size=(50, 3)) + 6
    assert det.score(far).shape == (50,) and det.score(far).mean() > det.score(cal).mean()
    threshold = det.infer_threshold(cal, fpr=0.1)
    assert_allclose(np.mean(det.score(cal) > threshold), 0.1, atol=0.01)
    assert det.predict(far).mean() > 0.9
    with pytest.raises(SchemaMismatchError):
        det.score(rng.normal(size=(4, 5)))


def test_knn_is_kth_neighbour_distance():
    rng = np.random.default_rng(2)
    ref, rows = rng.normal(size=(50, 2)), rng.normal(size=(5, 2))
    det = KNNDistance(k=3).fit(ref)
    z_ref = (ref - ref.mean(0)) / ref.std(0)
    z_rows = (rows - ref.mean(0)) / ref.std(0)
    dist = np.sort(np.linalg.norm(z_rows[:, None] - z_ref[None], axis=2), axis=1)[:, 2]
    assert_allclose(det.score(rows), dist, rtol=1e-10)


# ---------------------------------------------------------------- shift tests
def test_shift_tests_match_scipy_and_bh():
    rng = np.random.default_rng(0)
    ref = np.c_[rng.normal(size=500), rng.integers(0, 3, 500)]
    cur = np.c_[rng.normal(0.5, size=400), rng.choice(3, 400, p=[0.6, 0.3, 0.1])]
    out = shift_tests(ref, cur, feature_names=["x", "c"], categorical_mask=np.array([False, True]))
    ks = ks_2samp(ref[:, 0], cur[:, 0])
    assert out[0].test == "ks" and out[1].test == "chi2"
    assert_allclose([out[0].statistic, out[0].p_value], [ks.statistic, ks.pvalue], rtol=1e-10)
    assert out[0].drifted and out[1].drifted and out[0].psi > 0.1
    from scipy.stats import false_discovery_control

    p = np.array([0.01, 0.04, 0.03, 0.5, 0.2])
    assert_allclose(benjamini_hochberg(p), false_discovery_control(p), rtol=1e-12)


def test_compas_shift_flags_priors_only(tmp_path):
    cfg = AuditConfig(checks=("ood",), target="two_year_recid", n_bootstrap=50,
                      features=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"),
                      ood={"scores": ["msp", "energy", "mahalanobis"]})
    result = audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=cfg,
                   reference=data_path("compas_fair.csv"))
    result.to_json(tmp_path / "audit.json")
    ood = result.to_dict()["ood"]
    assert [f for f, r in ood["shift"].items() if r["drifted"]] == ["priors_count"]
    assert ood["logit_source"] == "log_probabilities" and "energy" in ood["skipped"]
    assert ood["scores"]["msp"]["auroc"] is None and ood["reference"]["source"] == "reference"


# ---------------------------------------------------------------- bad input
def test_ood_data_with_other_shape_is_refused():
    bad = np.zeros((10, 1, 4, 4), dtype=np.float32)
    with pytest.raises(SchemaMismatchError, match="shape"):
        audit(MLP, DIGITS_IN, config=AuditConfig(checks=("ood",)), ood_data=bad)


def test_ood_data_with_other_columns_is_refused():
    import pandas as pd

    cols = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
    frame = pd.read_csv(data_path("compas.csv"))[cols].head(50)
    with pytest.raises(DataError, match="priors_count"):  # ColumnError, a DataError
        audit(model_path("compas_logreg.onnx"), frame, config=AuditConfig(checks=("ood",), features=tuple(cols)),
              ood_data=frame.drop(columns=["priors_count"]))


def test_roc_points_lie_on_sklearns_roc_curve():
    """The thinned ROC curve is a subset of scikit-learn's full curve and ends at (0,0), (1,1)."""
    from sklearn.metrics import roc_curve

    from audit_engine.ood.evaluation import roc_points

    rng = np.random.default_rng(5)
    id_scores, ood_scores = rng.normal(size=700), rng.normal(1.0, size=300)
    points = roc_points(id_scores, ood_scores, n_points=50)
    assert len(points["fpr"]) <= 50 and points["fpr"][0] == 0.0 and points["tpr"][-1] == 1.0
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(700), np.ones(300)], np.r_[id_scores, ood_scores], drop_intermediate=False)
    full = set(zip(np.round(fpr, 12), np.round(tpr, 12)))
    assert all((round(f, 12), round(t, 12)) in full for f, t in zip(points["fpr"], points["tpr"]))
    assert np.all(np.diff(points["fpr"]) >= 0) and np.all(np.diff(points["tpr"]) >= 0)


def test_psi_counts_missing_values_in_a_bin_of_their_own():
    from audit_engine.ood.shift import psi

    rng = np.random.default_rng(0)
    ref = rng.standard_normal(5000)
    cur = rng.standard_normal(5000)
    base = psi(ref, cur)
    # the same present values, 20% of the current rows missing: the shift is the missing share
    holed = cur.copy()
    holed[:1000] = np.nan
    assert psi(ref, holed) > 0.5  # ≈ 0.2·ln(0.2/1e-4) = 1.5, far above any sampling PSI
    assert base < 0.02
    # NaN never lands in the top decile: equal missing shares and the same values -> no shift
    ref2, cur2 = ref.copy(), cur.copy()
    ref2[:500], cur2[:500] = np.nan, np.nan
    assert abs(psi(ref2, cur2) - psi(ref[500:], cur[500:])) < 0.01
    # categorical codes with NaN
    rc = rng.integers(0, 3, 3000).astype(float)
    cc = rc.copy()
    cc[:300] = np.nan
    assert psi(rc, rc) == 0.0 and psi(rc, cc) > 0.3
    assert np.isfinite(psi(np.full(10, np.nan), rng.standard_normal(10)))
