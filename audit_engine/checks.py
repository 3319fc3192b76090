"""What a check returns, in a module of its own so that every check imports it at the top.

A check is a module with ``DEFAULTS``, ``applies(ctx) -> str | None``, optionally
``tally(ctx) -> Tally | None`` (an additive summary of every row, fed chunk by chunk by
:func:`audit_engine.audit.prepare` whatever the source) and ``run(ctx) -> CheckOutcome``
(see :mod:`audit_engine.audit`, which runs them). The context types come from
:mod:`audit_engine.context`, which imports no check, so no check import forms a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .context import AuditContext, Chunk, Tally

if TYPE_CHECKING:
    from .policy import Verdict

__all__ = ["AuditContext", "CheckOutcome", "Chunk", "Tally"]


@dataclass
class CheckOutcome:
    """What a check returns: its audit.json section (a typed record, or a plain dict for a
    check not yet typed), its policy verdicts, and the parts it skipped with the reason
    (``{"smoothgrad": "..."}`` becomes ``checks["<check>.smoothgrad"]``)."""

    section: Any
    verdicts: list[Verdict] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
