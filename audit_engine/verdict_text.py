"""The one place that writes a verdict as a sentence for people.

Verdicts (:class:`audit_engine.policy.Verdict`) carry codes and numbers only: the check,
the metric and path, the rule's ``op`` and threshold, the value with its interval and the
interval's ``confidence``, a ``reason`` code and the status. Every reader that shows one
to a person calls :func:`sentence`: the console summary and ``--json`` (through
audit.json's ``verdicts[].message``), the JUnit XML, the HTML report and the model card.

Reason codes
------------
``met``           the value meets the threshold (status ``pass``);
``breach``        the value breaches it (the rule's severity: ``fail`` or ``warn``);
``inconclusive``  the value meets it, but the interval crosses it (``warn``);
``undefined``     the value is undefined (NaN), so a per-check rule cannot be checked (``warn``);
``not_judged``    the rule does not apply to this subject; ``detail`` says why (``warn``);
``class_order``   a finding, not a rule: the class order of the output columns is a guess
                  and gives an AUC below chance (``warn``); ``detail`` names the guess.

A verdict read from an audit.json written before these codes existed (schema < 1.3) has
no ``reason``; its stored sentence is shown as it was written.

This module sits beside :mod:`audit_engine.result` rather than inside ``report/``
because audit.json and compare.json carry the sentence (``message``) too, and
:mod:`audit_engine.compare` must not import the report package. It imports nothing of
the engine, so every layer may call it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .policy import Verdict

__all__ = ["sentence", "level", "REASONS"]

REASONS = ("met", "breach", "inconclusive", "undefined", "not_judged", "class_order")


def level(confidence: float | None) -> str:
    """``0.95`` → ``"95%"``, ``0.9`` → ``"90%"``, ``0.975`` → ``"97.5%"``."""
    if confidence is None or not math.isfinite(confidence):
        return ""
    return f"{round(100.0 * confidence, 6):g}%"


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def sentence(v: Verdict) -> str:
    """The verdict as one sentence (no trailing newline); see the module docstring for the codes."""
    if v.reason is None:  # read from an older audit.json: its stored words
        return v.legacy_message or ""
    where = f" for {v.subject}" if v.subject and v.rule is not None else ""
    threshold = v.threshold if v.threshold is not None else math.nan
    if v.reason == "undefined":
        return f"{v.metric}{where} is undefined, so the rule {v.rule} = {threshold:g} cannot be checked."
    if v.reason == "not_judged":
        return f"The rule {v.rule} for {v.subject} is not judged: {v.detail}."
    value = v.value if v.value is not None else math.nan
    if v.reason == "class_order":
        return (f"the class order of the output columns is a guess ({v.detail}) and gives an AUC of {value:.3f}, "
                "below chance; the columns are probably in another order: name them with classes = [...] in the "
                "config or --classes LABEL ...")
    if v.op in ("max_drop", "max_rise"):
        label = f"the change of {v.path} (B − A)"
        word = "at least" if v.op == "max_drop" else "at most"
    else:
        label = v.metric if v.rule is not None or v.path is None else v.path
        word = "at least" if v.op == "min" else "at most"
    lo, hi = _finite(v.ci_low), _finite(v.ci_high)
    pct = level(v.confidence)
    interval = f" ({pct + ' ' if pct else ''}CI {lo:.3g} to {hi:.3g})" if lo is not None and hi is not None else ""
    head = f"{label}{where} is {value:.3g}{interval}"
    if v.reason == "breach":
        return f"{head}; the policy requires {word} {threshold:g}."
    if v.reason == "inconclusive":
        return (f"{head}: it meets {word} {threshold:g}, but the interval crosses the threshold, so the data cannot "
                "rule out a breach.")
    return f"{head}, {word} {threshold:g} as required."
