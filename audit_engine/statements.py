"""Written statements a provider adds to a compliance view, with their keys checked.

Measured evidence comes from the audit; what only a person can say (who the provider is,
the intended purpose, the human-oversight measures) comes from a config table. A key that
is not known is refused with the nearest known key, so a typo never silently drops a
statement from a document meant for a regulator.

``[eu_ai_act]`` (the EU AI Act evidence view, ``render --template eu-ai-act``): the keys of
:data:`EU_AI_ACT_FIELDS`, each a string or a list of strings.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["EU_AI_ACT_FIELDS", "MODEL_CARD_FIELDS", "check_keys", "check_statements"]

MODEL_CARD_FIELDS: dict[str, str] = {
    # model details (Mitchell et al. 2019, section 4.1)
    "name": "the model's name", "version": "the model's version", "owners": "who owns the model",
    "date": "the model's date", "license": "its licence", "contact": "whom to contact",
    "citation": "how to cite it", "description": "a short description",
    # written sections of the card
    "intended_use": "primary intended uses", "intended_users": "primary intended users",
    "out_of_scope_uses": "out-of-scope uses", "factors": "relevant factors", "evaluation_data": "the evaluation data",
    "training_data": "the training data", "ethical_considerations": "ethical considerations", "caveats": "caveats",
    "limitations": "known limitations",
    # the bias audit's summary items (NYC Local Law 144 style)
    "bias_audit_auditor": "the independent auditor", "bias_audit_date": "the date of the bias audit",
    "bias_audit_distribution_date": "the distribution date of the tool",
    "bias_audit_data_source": "the source of the data", "bias_audit_data_explanation": "an explanation of the data",
    "bias_audit_scoring_rate": "the scoring-rate variant for score outputs",
}
"""Every ``[model_card]`` key a view reads."""

EU_AI_ACT_FIELDS: dict[str, str] = {
    "provider": "the provider's name and contact (Art. 13(3)(a), Annex IV 1(a))",
    "system_name": "the AI system's name (Annex IV 1(a))",
    "system_version": "the system's version (Annex IV 1(a))",
    "intended_purpose": "the intended purpose (Art. 13(3)(b)(i), Annex IV 1(a))",
    "annex_iii_area": "the high-risk area of Annex III the system falls under",
    "deployment_form": "how the system is placed on the market or put into service (Annex IV 1(e))",
    "training_data": "the training data and its provenance (Art. 10(2), Annex IV 2(d))",
    "bias_measures": "the measures taken to detect, prevent and mitigate biases (Art. 10(2)(g))",
    "human_oversight": "the human-oversight measures (Art. 14, Art. 13(3)(d), Annex IV 2(e))",
    "risk_management": "the risk-management system (Art. 9, Annex IV 5)",
    "known_limitations": "known limitations and foreseeable misuse (Art. 13(3)(b)(iii))",
    "post_market_monitoring": "the post-market monitoring plan (Art. 72, Annex IV 9)",
    "cybersecurity": "cybersecurity measures (Art. 15(5))",
    "contact": "whom to contact about this documentation",
    "date": "the date of this documentation",
}


def check_keys(table: Any, *, name: str, fields: Mapping[str, str]) -> None:
    """Refuse a key of ``table`` that is not in ``fields``, naming the nearest known key (values are not checked)."""
    if table is None:
        return
    if not isinstance(table, Mapping):
        raise ConfigError(f"The '{name}' config entry must be a table; got {type(table).__name__}.")
    for key in table:
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(f"Unknown key {str(key)[:80]!r} in [{name}]; {hint}known keys: {', '.join(fields)}.")


def check_statements(table: Any, *, name: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """``table`` as a plain dict after checking its keys and values (strings or lists of strings).

    Raises :class:`~audit_engine.errors.ConfigError` naming the unknown key and the nearest known one.
    """
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"The '{name}' config entry must be a table of written statements; got {type(table).__name__}.")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(f"Unknown key {str(key)[:80]!r} in [{name}]; {hint}known keys: {', '.join(fields)}.")
        ok = isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))
        if not ok:
            raise ConfigError(f"[{name}] {key} must be text or a list of texts; got {type(value).__name__}.")
        out[str(key)] = value if isinstance(value, str) else [str(v) for v in value]
    return out
