"""The Python API at home in a notebook: completion, Estimate as a number, frames, plots,
errors that speak Python.

Oracles: onnxruntime run directly on the fixture model (the class each LIME row explains),
scipy's entropy (uncertainty frames), the records themselves for plots (the bars must be
the record's numbers), Python's own ``rlcompleter`` for completion.
"""

from __future__ import annotations

import json
import math
import rlcompleter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402
from scipy.stats import entropy  # noqa: E402

import audit_engine as ae  # noqa: E402
from audit_engine.errors import ConfigError, UnknownArgumentError, UnknownKeyError  # noqa: E402
from audit_engine.stats import Estimate  # noqa: E402

from .conftest import ROOT, data_path, model_path  # noqa: E402

FEATURES = ["age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"]
COMPAS = ROOT / "reports" / "compas" / "audit.json"


@pytest.fixture(scope="module")
def compas():
    return ae.AuditResult.from_json(COMPAS)


@pytest.fixture(scope="module")
def lime():
    return ae.explain(model_path("compas_mlp.onnx"), data_path("compas.csv"), features=FEATURES, method="lime",
                      rows=range(40), n_samples=400, seed=0)


def _bars(ax):
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    return np.array([p.get_width() for p in bars.patches]), [t.get_text() for t in ax.get_yticklabels()]


def _error_ends(ax):
    (eb,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = eb.lines[2][0].get_segments()
    return np.array([s[0][0] for s in segments]), np.array([s[1][0] for s in segments])


# ------------------------------------------------------------------------------ completion
def test_completion_offers_the_public_api_and_hides_the_loaders_imports():
    names = dir(ae)
    for name in ("audit", "load_model", "load_data", "explain", "compare", "render", "AuditConfig", "mlflow"):
        assert name in names
    for name in ("importlib", "sys", "types", "TYPE_CHECKING"):
        assert name not in names
    completer = rlcompleter.Completer({"ae": ae})
    offered = {completer.complete("ae.", i).rstrip("(") for i in range(400) if completer.complete("ae.", i)}
    assert {"ae.audit", "ae.load_model", "ae.explain", "ae.compare", "ae.mlflow"} <= offered
    assert "ae.importlib" not in offered


# ------------------------------------------------------------------------------ Estimate
def test_estimate_is_its_point_value_for_float_format_and_order():
    e = Estimate(0.7123, 0.69, 0.74)
    assert float(e) == 0.7123 and math.floor(e.value * 10) == 7
    assert f"{e:.3f}" == "0.712" and f"{e:.1%}" == "71.2%" and format(e, "") == repr(e)
    assert e > 0.7 and e >= 0.7123 and not e < 0.7 and 0.7 < e and e < 1 and e <= np.float64(0.72)
    assert Estimate(0.5, 0.4, 0.6) < e and max([Estimate(0.5, 0, 1), e]) is e
    assert e == Estimate(0.7123, 0.69, 0.74) and e != Estimate(0.7123, 0.6, 0.74)  # == keeps all three
    with pytest.raises(TypeError):
        e < "0.7"  # noqa: B015


def test_estimates_of_a_real_result_format(compas):
    auc = compas.performance["roc_auc"]
    assert f"{auc:.3f}" == f"{compas.performance.metrics['roc_auc'].value:.3f}"
    assert (auc > 0.5) is (compas.performance.metrics["roc_auc"].value > 0.5)


# ------------------------------------------------------------------------------ errors
def test_config_takes_the_spellings_people_bring():
    assert ae.AuditConfig(favourable_label=0) == ae.AuditConfig(favorable_label=0)
    assert ae.AuditConfig(random_state=7).seed == 7
    assert ae.AuditConfig(random_state=7).to_dict() == ae.AuditConfig(seed=7).to_dict()
    with pytest.raises(UnknownArgumentError, match="got both 'random_state' and 'seed'"):
        ae.AuditConfig(seed=1, random_state=2)


@pytest.mark.parametrize(("typo", "meant"), [("favorite_label", "favorable_label"), ("sensitve", "sensitive"),
                                             ("n_bootstraps", "n_bootstrap"), ("thresold", "threshold"),
                                             ("random_seed", "seed")])
def test_a_keyword_typo_names_the_argument_meant(typo, meant):
    with pytest.raises(TypeError) as info:
        ae.AuditConfig(**{typo: 1})
    assert isinstance(info.value, ConfigError) and isinstance(info.value, UnknownArgumentError)
    assert str(info.value) == f"AuditConfig() got an unexpected keyword argument {typo!r}. Did you mean {meant!r}?"


def test_lookups_suggest_the_key_meant(compas):
    with pytest.raises(KeyError) as info:
        compas.performance["auc"]
    assert isinstance(info.value, UnknownKeyError)
    assert "did you mean 'roc_auc'?" in str(info.value)
    with pytest.raises(KeyError, match=r"did you mean 'race\*sex'\?"):
        compas.fairness["race x sex"]
    with pytest.raises(KeyError, match=r"did you mean 'race\*sex'\?"):
        compas.fairness["sex*race"]
    with pytest.raises(KeyError, match="whose keys are: race, sex, race\\*sex"):
        compas.fairness["zip code"]
    assert compas.fairness.get("zip code") is None and "race" in compas.fairness  # Mapping protocol intact
    assert compas.performance["roc_auc"] is compas.performance.metrics["roc_auc"]


def test_documented_frames_exist_and_say_what_their_docs_say(compas):
    assert list(compas.fairness.to_frame().columns)[0] == "attribute"
    assert "attribute" in type(compas.fairness).to_frame.__doc__
    local = compas.explanations.local_frame()  # README: result.explanations.local_frame()
    assert list(local.columns) == ["method", "row", "prediction", "feature", "value", "significant"]
    doc = json.loads(COMPAS.read_text())
    expected = sum(len(e["attributions"]) for m in doc["explanations"].values() for e in m.get("local") or []
                   if e.get("attributions"))
    assert len(local) == expected > 0
    assert "bootstrap confidence interval" not in Estimate.__doc__


def test_verdict_frame_lists_every_verdict_failures_first(compas):
    frame = compas.verdict_frame()
    doc = json.loads(COMPAS.read_text())
    assert len(frame) == len(doc["verdicts"])
    order = {"fail": 0, "warn": 1, "pass": 2}
    assert list(frame["status"]) == sorted(frame["status"], key=order.get)
    assert sorted(frame["message"]) == sorted(v["message"] for v in doc["verdicts"])


# ------------------------------------------------------------------------------ Attribution
def test_attribution_frame_names_the_class_each_row_explains(lime):
    frame = lime.to_frame()
    session = ort.InferenceSession(str(model_path("compas_mlp.onnx")), providers=["CPUExecutionProvider"])
    x = pd.read_csv(data_path("compas.csv"))[FEATURES].to_numpy(np.float32)[:40]
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    proba = next(o for o in outputs if np.ndim(o) == 2 and np.shape(o)[1] == 2)
    predicted = np.argmax(proba, axis=1)
    assert len(set(predicted.tolist())) == 2  # the rows explain different classes
    per_row = frame.groupby("row", sort=True).first()
    assert_allclose(per_row["target"].to_numpy(), predicted)
    assert [lime.classes[t] for t in predicted] == per_row["class"].tolist()
    assert len(frame) == 40 * len(FEATURES)
    assert_allclose(frame["value"].to_numpy().reshape(40, -1), lime.values)
    assert_allclose(frame["ci_high"].to_numpy().reshape(40, -1), lime.ci_high)
    assert frame["significant"].tolist() == ((lime.ci_low > 0) | (lime.ci_high < 0)).ravel().tolist()


def test_attribution_plot_draws_the_record(lime):
    ax = lime.plot(row=3, top=None)
    widths, labels = _bars(ax)
    frame = lime.to_frame()
    row = frame[frame["row"] == 3].set_index("feature")
    assert_allclose(widths, row.loc[labels, "value"].to_numpy())
    assert list(np.argsort(np.abs(widths))) == list(range(len(widths)))  # largest magnitude on top
    low, high = _error_ends(ax)
    assert_allclose(low, row.loc[labels, "ci_low"].to_numpy(), atol=1e-12)
    assert_allclose(high, row.loc[labels, "ci_high"].to_numpy(), atol=1e-12)
    plt.close(ax.figure)
    ax = lime.plot(top=3)  # the importance over rows
    widths, labels = _bars(ax)
    importance = np.abs(lime.values).mean(axis=0)
    assert_allclose(widths, np.sort(importance)[-3:])
    plt.close(ax.figure)


def test_fairness_plot_draws_the_record(compas):
    ax = compas.fairness.plot("race", rate="tpr")
    widths, labels = _bars(ax)
    table = compas.fairness["race"].by_group
    assert labels == [str(g) for g in table.index]
    assert_allclose(widths, table["tpr"].to_numpy())
    low, high = _error_ends(ax)
    assert_allclose(low, table["tpr_ci_low"].to_numpy(), atol=1e-12)
    assert_allclose(high, table["tpr_ci_high"].to_numpy(), atol=1e-12)
    plt.close(ax.figure)
    with pytest.raises(KeyError, match="did you mean 'selection_rate'"):
        compas.fairness.plot("race", rate="selection")


# ------------------------------------------------------------------------------ uncertainty
def test_uncertainty_frame_is_one_row_per_row():
    x = np.load(data_path("digits_in.npz"))["x"][:30]
    u = ae.uncertainty(model_path("digits04_dropout.onnx"), x, method="mc_dropout", seed=0)
    frame = u.to_frame()
    assert len(frame) == 30 and list(frame["row"]) == list(range(30))
    assert_allclose(frame["predictive_entropy"], entropy(u.mean_proba, axis=1), rtol=1e-9, atol=1e-12)
    assert_allclose(frame["predictive_entropy"], frame["aleatoric"] + frame["epistemic"], rtol=1e-9, atol=1e-12)
    assert_allclose(frame["confidence"], u.mean_proba.max(axis=1))
    expected = [u.classes[i] for i in np.argmax(u.mean_proba, axis=1)] if u.classes else list(np.argmax(u.mean_proba, 1))
    assert frame["prediction"].tolist() == expected


def test_value_errors_name_the_python_argument_in_python_and_the_file_or_flag_elsewhere(tmp_path, capsys):
    with pytest.raises(ConfigError) as info:
        ae.AuditConfig(threshold="0.5")
    assert str(info.value) == ("The 'threshold' parameter of AuditConfig must be a number in the range (0, 1) "
                               "(a probability). Got '0.5' (a string) instead.")  # no TOML key, no flag
    with pytest.raises(ConfigError, match=r"^The 'min_group_size' parameter of the fairness check must be .* instead\.$"):
        ae.AuditConfig(fairness={"min_group_size": "thirty"})
    toml = tmp_path / "audit.toml"
    toml.write_text('threshold = "0.5"\n')
    with pytest.raises(ConfigError, match=r"The 'threshold' parameter of AuditConfig must be .*\. Fix it in audit\.toml\.$"):
        ae.AuditConfig.from_toml(toml)
    from audit_engine.cli import main

    assert main(["run", str(tmp_path / "m.onnx"), "--data", "d.csv", "--config", str(toml), "-q"]) == 2
    assert "Fix it in audit.toml or with --threshold." in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"of AuditConfig must be .* instead\.$"):  # the CLI's wording did not stay behind
        ae.AuditConfig(threshold=2)


def test_replace_takes_the_same_spellings():
    config = ae.AuditConfig().replace(random_state=4, favourable_label=1)
    assert (config.seed, config.favorable_label) == (4, 1)
    with pytest.raises(UnknownArgumentError, match="Did you mean 'threshold'"):
        ae.AuditConfig().replace(treshold=0.3)
