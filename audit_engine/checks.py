"""What a check returns, in a module of its own so that every check imports it at the top.

A check is a module with ``Params``, ``applies(ctx) -> str | None`` and
``run(ctx) -> CheckOutcome`` (see :mod:`audit_engine.audit`, which runs them). This module
imports nothing of the engine at run time, so no check import can form a cycle through
:mod:`audit_engine.audit`; :class:`~audit_engine.audit.AuditContext` is named for type
checkers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audit import AuditContext

__all__ = ["AuditContext", "CheckOutcome"]


@dataclass
class CheckOutcome:
    """What a check returns: its audit.json section (a typed record, or a plain dict for a
    check not yet typed) and the parts it skipped with the reason (``{"smoothgrad": "..."}``
    becomes ``checks["<check>.smoothgrad"]``). No verdicts: the policy is judged once, on the
    finished audit (:meth:`audit_engine.policy.Policy.judge`)."""

    section: Any
    skipped: dict[str, str] = field(default_factory=dict)


def __getattr__(name: str) -> Any:  # ``from audit_engine.checks import AuditContext`` at run time
    if name == "AuditContext":
        from .audit import AuditContext

        return AuditContext
    raise AttributeError(name)
