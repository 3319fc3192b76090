"""The registry of explanation methods: name -> :class:`~.protocol.Explainer`.

``get_explainer("lime")`` replaces the if/elif over method names; :func:`register` adds a
method (or replaces one) for every entry point at once (``explain()``, ``explain_rows()``
and the audit's ``[explanations] methods``).
"""

from __future__ import annotations

from ..errors import ConfigError
from .methods import BUILT_IN, LimePackage
from .protocol import Explainer

__all__ = ["register", "get_explainer", "methods", "METHODS", "BACKENDS"]

_REGISTRY: dict[str, Explainer] = {e.name: e for e in BUILT_IN}

METHODS: tuple[str, ...] = tuple(_REGISTRY)
"""The built-in methods: lime, smoothgrad, occlusion, permutation, pathwise, attention."""

BACKENDS = {"lime": LimePackage()}
"""``backend=`` alternatives to the engine's own implementation, by method name."""


def register(explainer: Explainer, *, replace: bool = False) -> Explainer:
    """Add ``explainer`` under ``explainer.name``; ``replace=True`` to override a registered one."""
    if not isinstance(explainer, Explainer):
        raise ConfigError(f"{explainer!r} is not an Explainer: it needs 'name', 'random', 'settings()' and 'explain()'.")
    if explainer.name in _REGISTRY and not replace:
        raise ConfigError(f"An explanation method named {explainer.name!r} is already registered; "
                          "pass replace=True to override it.")
    _REGISTRY[explainer.name] = explainer
    return explainer


def methods() -> tuple[str, ...]:
    """Names of every registered method (the built-in ones first)."""
    return tuple(_REGISTRY)


def get_explainer(method: str, backend: str = "engine") -> Explainer:
    """The registered Explainer of ``method`` (``backend="lime"``: the lime package's tabular LIME)."""
    if method not in _REGISTRY:
        raise ConfigError(f"Unknown explanation method {method!r}; use one of: {', '.join(methods())}.")
    if backend not in ("engine", "lime"):
        raise ConfigError(f"Unknown backend {backend!r}; use 'engine' or 'lime'.")
    if backend == "engine":
        return _REGISTRY[method]
    if method not in BACKENDS:
        raise ConfigError("backend='lime' runs the lime package's tabular LIME only; use method='lime' on tabular data.")
    return BACKENDS[method]
