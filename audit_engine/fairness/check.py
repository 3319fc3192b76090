"""The fairness check of an audit (being built)."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {}


def applies(ctx: Any) -> str | None:
    return "not built yet"


def run(ctx: Any) -> Any:  # pragma: no cover - never called while applies() refuses
    raise NotImplementedError
