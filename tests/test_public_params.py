"""One wording for every refused parameter, in the way of scikit-learn's test_public_functions.py.

Every parameter of every public function is either declared in ``params.API_PARAMS``
(checked by ``@validate_params`` before the function runs) or named below as exempt with
the reason; every field of every check's ``Params`` is declared with its constraints. For
each, a value that meets none of the constraints must raise an ``AuditEngineError``
subclass (never ``TypeError`` / ``AttributeError``) whose message has one shape::

    The '<name>' parameter of <owner> must be <what>. Got <value> (<kind>) instead.[ Fix it ...]
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

import audit_engine.params as audit_engine_params

import audit_engine as ae
from audit_engine import params
from audit_engine.params import API_PARAMS, PARAMS, Interval

from .conftest import data_path, model_path

SHAPE = r"^The '{name}' parameter of {owner} must be [^\n]+\. Got [^\n]+ instead\.( Fix it [^\n]+\.)?$"

PUBLIC = {"audit": ae.audit, "prepare": ae.prepare, "explain": ae.explain, "explain_pathwise": ae.explain_pathwise,
          "load_model": ae.load_model, "load_data": ae.load_data, "render": ae.render, "uncertainty": ae.uncertainty}
EXEMPT = {
    ("audit", "progress"), ("prepare", "progress"),  # a callable the caller owns; only called
    ("explain", "rows"), ("explain_pathwise", "rows"),  # row selectors: checked against the data (one sentence each)
    ("explain", "labels"),  # permutation's target values: checked against the rows
    ("explain", "tokenizer"),  # a tokenizer object or a path; checked by the tokenizer loader
    ("explain", "params"),  # method knobs (**params): each checked by the method with the same wording (below)
}
NOT_VALIDATED = {"compare": "compare(a, b, data, **kwargs) dispatches to compare_models / compare_results, whose "
                            "arguments are those of audit and AuditConfig (validated there)",
                 "validate": "validate(doc) checks an audit.json dict against the JSON schema"}


class _Nothing:
    """A value of no accepted type: meets no constraint of any parameter."""

    def __repr__(self) -> str:
        return "<nothing>"


def _shape(name: str, owner: str) -> str:
    return SHAPE.format(name=re.escape(name), owner=re.escape(owner))


def test_every_public_function_is_declared_or_exempt():
    assert set(PUBLIC) | set(NOT_VALIDATED) == {n for n in ae.__all__ if inspect.isfunction(getattr(ae, n))}
    for owner, func in PUBLIC.items():
        names = set(inspect.signature(func).parameters)
        declared = set(API_PARAMS[owner])
        exempt = {n for o, n in EXEMPT if o == owner}
        assert declared <= names, (owner, declared - names)
        assert names == declared | exempt, (owner, names - declared - exempt)


_API_CASES = [(owner, name) for owner in PUBLIC for name in API_PARAMS[owner]]


@pytest.mark.parametrize("owner,name", _API_CASES, ids=[f"{o}-{n}" for o, n in _API_CASES])
def test_a_bad_value_of_any_public_parameter_gets_the_one_sentence(owner, name):
    func = PUBLIC[owner]
    signature = inspect.signature(func)
    required = [p for p in signature.parameters.values()
                if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD]
    good = {"model": str(model_path("compas_logreg.onnx")), "data": str(data_path("compas.csv")),
            "rows": str(data_path("compas.csv")), "path": "out.html", "source": str(data_path("compas.csv")),
            "result": str(data_path("compas.csv"))}
    kwargs = {p.name: good[p.name] for p in required}
    kwargs[name] = _Nothing()
    args = [kwargs.pop(p.name) for p in required if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != name]
    if signature.parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        args.insert([p.name for p in required].index(name), kwargs.pop(name))
    with pytest.raises(ae.AuditEngineError) as info:
        func(*args, **kwargs)
    assert type(info.value) is ae.ConfigError
    assert re.match(_shape(name, owner), str(info.value)), str(info.value)


def _bad_values(setting):
    """A value of no accepted type, and for an interval a number just outside it (of the right type)."""
    yield _Nothing()
    for c in setting.constraints:
        if isinstance(c, Interval) and c.left is not None and not any(
                o.is_satisfied_by(c.left - 1) for o in setting.constraints):
            yield int(c.left) - 1 if c.type is int else c.left - 1.0


_PARAM_CASES = [(check, name, value) for check, cls in PARAMS.items() for name, s in cls.settings().items()
                for value in _bad_values(s)]


@pytest.mark.parametrize("check,name,value", _PARAM_CASES,
                         ids=[f"{c}-{n}-{type(v).__name__}" for c, n, v in _PARAM_CASES])
def test_a_bad_value_of_any_check_param_gets_the_one_sentence(check, name, value):
    with pytest.raises(ae.AuditEngineError) as info:
        ae.AuditConfig(**{check: {name: value}})
    assert type(info.value) is ae.ConfigError
    message = str(info.value)
    assert re.match(_shape(name, f"the {check} check"), message), message
    assert message.endswith("instead.")  # from Python: no TOML key and no flag (issue 28)
    toml_from = audit_engine_params.audience("file")
    with toml_from, pytest.raises(ae.ConfigError) as from_file:  # the same value written in audit.toml
        ae.AuditConfig(**{check: {name: value}})
    assert str(from_file.value).startswith(message)
    assert str(from_file.value).endswith(f"Fix it in audit.toml ([{check}] {name}).") or "--" in str(from_file.value)
    with pytest.raises(ae.ConfigError) as again:  # the typed Params itself refuses it, in the same words
        PARAMS[check](**{name: value})
    assert str(again.value) == message


def test_params_are_typed_frozen_and_carry_the_defaults():
    for check, cls in PARAMS.items():
        p = ae.AuditConfig().params(check)
        assert type(p) is cls and p == cls()
        field = dataclasses.fields(cls)[0]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(p, field.name, getattr(p, field.name))
    config = ae.AuditConfig(explanations={"n_rows": 7, "methods": ["lime", "occlusion"]}, ood={"knn_k": 3})
    assert config.params("explanations").n_rows == 7 and config.params("explanations").methods == ("lime", "occlusion")
    assert config.params("explanations").lime_samples == 2000  # the default where nothing was given
    assert config.params("ood").knn_k == 3
    with pytest.raises(ae.ConfigError, match="Did you mean 'lime_samples'"):
        ae.AuditConfig(explanations={"lime_sample": 3})
    with pytest.raises(ae.ConfigError, match="Unknown check 'fairnes'. Did you mean 'fairness'"):
        config.params("fairnes")


def test_the_ood_defaults_are_the_detectors_own():
    from audit_engine.ood.check import ALL_SCORES
    from audit_engine.ood.odin import DEFAULT_EPSILONS, DEFAULT_TEMPERATURES

    ood = params.OODParams()
    assert ood.scores == ALL_SCORES
    assert ood.odin_temperatures == DEFAULT_TEMPERATURES and ood.odin_epsilons == DEFAULT_EPSILONS


@pytest.mark.parametrize("knob,value", [("n_samples", 0), ("noise_level", -1.0)])
def test_method_knobs_of_explain_use_the_same_words(knob, value):
    method = "smoothgrad" if knob == "noise_level" else "lime"
    with pytest.raises(ae.ConfigError) as info:
        ae.explain(model_path("compas_logreg.onnx"), ae.load_data(data_path("compas.csv"), target="two_year_recid"),
                   method=method, rows=[0], features=["age", "juv_fel_count", "juv_misd_count", "juv_other_count",
                                                      "priors_count"], **{knob: value})
    assert re.match(_shape(knob, "explain"), str(info.value)), str(info.value)


def test_cli_only_settings_and_sizes_use_the_same_words():
    for name in params.CLI_SETTINGS:
        with pytest.raises(ae.ConfigError) as info:
            params.check_setting(name, -1)
        assert re.match(_shape(name, "audit-engine"), str(info.value)), str(info.value)
    with pytest.raises(ae.ConfigError) as info:
        params.parse_bytes("max_memory", "lots")
    assert re.match(_shape("max_memory", "audit-engine"), str(info.value)), str(info.value)
