""""Did you mean" for the Python API: keyword typos and lookups of keys a result does not hold.

:func:`suggestions` ranks candidate names for a wrong one: the same words in another
spelling (``"race x sex"`` → ``"race*sex"``), a name that contains every word of it
(``"auc"`` → ``"roc_auc"``), then close spellings (:func:`difflib.get_close_matches`).
:func:`unknown_key` and :func:`accept_keywords` turn them into the errors of
:mod:`audit_engine.errors`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import UnknownArgumentError, UnknownKeyError

__all__ = ["suggestions", "unknown_key", "accept_keywords"]

_FILLER = frozenset({"x", "and", "by", "vs", "times"})


def _words(name: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[^0-9a-z]+", name.lower()) if w and w not in _FILLER)


def suggestions(name: str, known: Iterable[Any], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` that ``name`` probably meant, best first."""
    pool = [str(k) for k in known]
    words = _words(str(name))
    same = [k for k in pool if words and sorted(_words(k)) == sorted(words)]
    if same:  # the same words in another order or spelling: nothing else comes close
        return same[:n]
    within = [k for k in pool if words and set(words) <= set(_words(k))]
    close = difflib.get_close_matches(str(name), pool, n=n, cutoff=0.6)
    return list(dict.fromkeys(same + within + close))[:n]


def _listing(pool: list[str], limit: int = 12) -> str:
    shown = ", ".join(pool[:limit])
    return shown + (f" and {len(pool) - limit} more" if len(pool) > limit else "")


def unknown_key(key: Any, known: Iterable[Any], where: str) -> UnknownKeyError:
    """The error for ``where[key]`` when ``key`` is not among ``known`` (raise it ``from None``)."""
    pool = [str(k) for k in known]
    close = suggestions(str(key), pool)
    keys = _listing(pool) or "(none)"
    if close:
        return UnknownKeyError(f"{key!r} is not in {where}; did you mean {' or '.join(map(repr, close))}? Keys: {keys}.")
    return UnknownKeyError(f"{key!r} is not in {where}, whose keys are: {keys}.")


def accept_keywords(cls: type, aliases: Mapping[str, str]) -> Callable[..., None]:
    """A ``__init__`` for dataclass ``cls`` that also takes ``aliases`` (alias → field name)
    and refuses an unknown keyword with the field it probably meant.

    Install it with ``cls.__init__ = accept_keywords(cls, {...})``; the signature tools show
    stays the dataclass's own.
    """
    init = cls.__init__
    fields = [f.name for f in dataclasses.fields(cls) if f.init]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        for alias, name in aliases.items():
            if alias in kwargs:
                if name in kwargs:
                    raise UnknownArgumentError(f"{cls.__name__}() got both {alias!r} and {name!r}, which name the "
                                               f"same argument; pass only {name!r}.")
                kwargs[name] = kwargs.pop(alias)
        for key in kwargs:
            if key not in fields:
                close = suggestions(key, fields + list(aliases), n=1)
                meant = aliases.get(close[0], close[0]) if close else None
                hint = f" Did you mean {meant!r}?" if meant else f" It takes: {', '.join(fields)}."
                raise UnknownArgumentError(f"{cls.__name__}() got an unexpected keyword argument {key!r}.{hint}")
        init(self, *args, **kwargs)

    return __init__
