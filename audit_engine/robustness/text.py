"""Text perturbations on raw strings: character typos, casing, whitespace, punctuation.

Pure functions of a string, a severity and a ``numpy.random.Generator``: the same generator
state gives the same output. They act on the text as written, before any tokenizer (token ids
are never perturbed), so what the model sees is what its own tokenizer makes of the edit.

Words are the maximal runs of non-whitespace characters (``\\S+``); a word gap is a run of
whitespace between two words (leading and trailing whitespace is left as it is).

Kinds and their five severities (:data:`TEXT_SEVERITIES`):

- ``typo``: each letter or digit is edited with probability ``p`` ∈ (0.01, 0.02, 0.05, 0.1, 0.2),
  by one of four edits drawn uniformly: swap with the next character (when that is a different
  letter or digit; else a keyboard-neighbour replacement), drop, duplicate, or replacement by a
  neighbouring key of a QWERTY keyboard (case kept; a character off the keyboard map is
  duplicated instead). A swapped pair counts as one edit, and the second character of the
  pair is not edited again, so the expected number of edits is at most ``p`` × the letters and
  digits (Pruthi et al. 2019; Belinkov & Bisk 2018).
- ``casing``: a share ``s`` ∈ (0.05, 0.1, 0.2, 0.3, 0.5) of the words that have cased letters
  get their case swapped (``str.swapcase``: "the" → "THE").
- ``whitespace``: a share ``s`` ∈ (0.05, 0.1, 0.2, 0.3, 0.5) of the word gaps is doubled
  (the gap written twice) or removed (the two words joined), each with probability ½.
- ``punctuation``: a share ``s`` ∈ (0.05, 0.1, 0.2, 0.3, 0.5) of the words is changed at its end:
  a word that ends with a punctuation mark (and has more than one character) loses that mark,
  any other word gains one of ``. , ! ? ; :`` drawn uniformly.

The shares are counts: of ``m`` eligible words or gaps, ``⌊s·m⌋`` are changed plus one more
with probability ``s·m − ⌊s·m⌋`` (stochastic rounding), chosen uniformly without replacement;
so exactly ``⌊s·m⌋`` or ``⌈s·m⌉`` change, ``s·m`` on average, and short texts are perturbed too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import numpy as np

__all__ = ["TEXT", "TEXT_SEVERITIES", "KEYBOARD_NEIGHBOURS", "typo", "casing", "whitespace", "punctuation",
           "perturb_text", "perturb_texts", "share_count"]

TEXT_SEVERITIES: dict[str, tuple[float, ...]] = {
    "typo": (0.01, 0.02, 0.05, 0.1, 0.2),          # probability of an edit per letter or digit
    "casing": (0.05, 0.1, 0.2, 0.3, 0.5),          # share of (cased) words whose case is swapped
    "whitespace": (0.05, 0.1, 0.2, 0.3, 0.5),      # share of word gaps doubled or removed
    "punctuation": (0.05, 0.1, 0.2, 0.3, 0.5),     # share of words losing or gaining an end mark
}
TEXT = ("typo", "casing", "whitespace", "punctuation")

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_ADDED_MARKS = ".,!?;:"
_WORD = re.compile(r"\S+")
_GAP = re.compile(r"(?<=\S)\s+(?=\S)")


def _neighbours() -> dict[str, str]:
    """Keys next to each key of a QWERTY keyboard (same row left/right, the rows above and below)."""
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out: dict[str, str] = {}
    for c, (r, i) in where.items():
        near = []
        for dr, di in ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)):
            rr, ii = r + dr, i + di
            if 0 <= rr < len(_ROWS) and 0 <= ii < len(_ROWS[rr]):
                near.append(_ROWS[rr][ii])
        out[c] = "".join(near)
    return out


KEYBOARD_NEIGHBOURS: dict[str, str] = _neighbours()
"""Lower-case key → the keys around it (every key has at least two)."""


def share_count(share: float, m: int, rng: np.random.Generator) -> int:
    """``⌊share·m⌋`` plus one with probability ``share·m − ⌊share·m⌋`` (one uniform draw, always made)."""
    target = share * m
    base = int(np.floor(target))
    return min(m, base + int(rng.random() < target - base))


def _chosen(share: float, m: int, rng: np.random.Generator) -> np.ndarray:
    """(m,) bool: ``share_count`` of the m items, chosen uniformly without replacement."""
    k = share_count(share, m, rng)
    hit = np.zeros(m, dtype=bool)
    hit[rng.permutation(m)[:k]] = True
    return hit


def _neighbour(c: str, u: float) -> str | None:
    near = KEYBOARD_NEIGHBOURS.get(c.lower())
    if not near:
        return None
    r = near[min(int(u * len(near)), len(near) - 1)]
    return r.upper() if c.isupper() else r


def typo(text: str, p: float, rng: np.random.Generator) -> str:
    """``text`` with each letter or digit edited with probability ``p`` (swap / drop / duplicate / neighbour key).

    Draws three uniforms per character of ``text`` (whatever ``p``), so the stream used does not
    depend on which edits happen; ``p = 0`` returns ``text`` unchanged."""
    chars = list(text)
    m = len(chars)
    u, op, pick = rng.random(m), rng.integers(0, 4, m), rng.random(m)
    out: list[str] = []
    i = 0
    while i < m:
        c = chars[i]
        if not (c.isalnum() and u[i] < p):
            out.append(c)
            i += 1
            continue
        edit = int(op[i])
        if edit == 0:  # swap with the next character
            nxt = chars[i + 1] if i + 1 < m else ""
            if nxt.isalnum() and nxt != c:
                out += [nxt, c]
                i += 2
                continue
            edit = 3
        if edit == 3:  # a neighbouring key
            r = _neighbour(c, float(pick[i]))
            if r is not None:
                out.append(r)
                i += 1
                continue
            edit = 2
        if edit == 2:  # duplicate
            out += [c, c]
        # edit == 1: drop
        i += 1
    return "".join(out)


def casing(text: str, share: float, rng: np.random.Generator) -> str:
    """``text`` with a ``share`` of its cased words (those with a letter that has a case) swapcased."""
    words = [w for w in _WORD.finditer(text) if w.group().swapcase() != w.group()]
    hit = _chosen(share, len(words), rng)
    out, last = [], 0
    for w, h in zip(words, hit, strict=True):
        if h:
            out += [text[last:w.start()], w.group().swapcase()]
            last = w.end()
    return "".join(out) + text[last:]


def whitespace(text: str, share: float, rng: np.random.Generator) -> str:
    """``text`` with a ``share`` of its word gaps doubled or removed (½ each); the characters other
    than whitespace are kept in order."""
    gaps = list(_GAP.finditer(text))
    hit = _chosen(share, len(gaps), rng)
    double = rng.random(len(gaps)) < 0.5
    out, last = [], 0
    for g, h, d in zip(gaps, hit, double, strict=True):
        if h:
            out += [text[last:g.start()], g.group() * 2 if d else ""]
            last = g.end()
    return "".join(out) + text[last:]


def punctuation(text: str, share: float, rng: np.random.Generator) -> str:
    """``text`` with a ``share`` of its words changed at their end: a final punctuation mark dropped
    (words longer than one character that end with one), else one of ``. , ! ? ; :`` added."""
    words = list(_WORD.finditer(text))
    hit = _chosen(share, len(words), rng)
    marks = rng.integers(0, len(_ADDED_MARKS), len(words))
    out, last = [], 0
    for w, h, mark in zip(words, hit, marks, strict=True):
        if h:
            word = w.group()
            changed = word[:-1] if len(word) > 1 and word[-1] in string.punctuation else word + _ADDED_MARKS[mark]
            out += [text[last:w.start()], changed]
            last = w.end()
    return "".join(out) + text[last:]


_KINDS = {"typo": typo, "casing": casing, "whitespace": whitespace, "punctuation": punctuation}


def perturb_text(kind: str, text: str, severity: float, rng: np.random.Generator) -> str:
    """One string perturbed by ``kind`` (one of :data:`TEXT`) at ``severity``."""
    if kind not in _KINDS:
        raise ValueError(f"unknown text perturbation {kind!r}; use one of {', '.join(TEXT)}")
    return _KINDS[kind](text, severity, rng)


def perturb_texts(kind: str, texts: Sequence[str], severity: float, rng: np.random.Generator) -> list[str]:
    """Every string of ``texts`` perturbed in order from the one stream ``rng`` (one draw each)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown text perturbation {kind!r}; use one of {', '.join(TEXT)}")
    return [_KINDS[kind](str(t), severity, rng) for t in texts]
