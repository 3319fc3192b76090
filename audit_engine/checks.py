"""What a check returns, in a module of its own so that every check imports it at the top.

A check is a module with ``Params``, ``applies(ctx) -> str | None``, optionally
``tally(ctx) -> Tally | None`` (an additive summary of every row, fed chunk by chunk by
:func:`audit_engine.audit.prepare` whatever the source) and ``run(ctx) -> CheckOutcome``
(see :mod:`audit_engine.audit`, which runs them). The context types come from
:mod:`audit_engine.context`, which imports no check, so no check import forms a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .context import AuditContext, Chunk, Tally

__all__ = ["AuditContext", "CheckOutcome", "Chunk", "Tally"]


@dataclass
class CheckOutcome:
    """What a check returns: its audit.json section (a typed record, or a plain dict for a
    check not yet typed) and the parts it skipped with the reason (``{"smoothgrad": "..."}``
    becomes ``checks["<check>.smoothgrad"]``). No verdicts: the policy is judged once, on the
    finished audit (:meth:`audit_engine.policy.Policy.judge`)."""

    section: Any
    skipped: dict[str, str] = field(default_factory=dict)
