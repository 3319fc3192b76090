"""Integrations with the tools around an audit (experiment trackers).

Each integration is an optional extra, imported on first use so that ``import audit_engine``
never imports it: ``ae.mlflow`` is :mod:`audit_engine.integrations.mlflow` (needs
``pip install 'audit-engine[mlflow]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["mlflow"]


def __getattr__(name: str) -> Any:  # PEP 562: the submodule, imported when first asked for
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
