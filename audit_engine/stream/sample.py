"""A seeded sample of fixed size drawn while streaming: the rows with the smallest hash keys.

Row ``i`` gets the key ``splitmix64(seed_word + i)``; the sample is the ``m`` rows with the
smallest keys (bottom-m sampling, a uniform sample without replacement). The key depends
only on the seed and the global row index, so the sample is the same whatever the chunk
size, the file layout or the backend; keeping the best ``m`` of each chunk and merging is
exact. Rows are returned in file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["row_keys", "HashedSample"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def row_keys(seed_word: int, start: int, n: int) -> np.ndarray:
    """``(n,)`` uint64 keys of rows ``start .. start + n - 1`` (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        z = (np.arange(start, start + n, dtype=np.uint64) + np.uint64(seed_word % 2**64)) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


@dataclass
class HashedSample:
    """The ``size`` rows with the smallest keys seen so far.

    ``offer(start, frame, proba)`` takes one chunk: the raw columns (DataFrame) and its
    model outputs ``(m, k)``; the sample's rows are encoded once, at the end.
    """

    size: int
    seed_word: int
    index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    frame: pd.DataFrame | None = None
    proba: np.ndarray | None = None

    def offer(self, start: int, frame: pd.DataFrame, proba: np.ndarray) -> None:
        if self.size <= 0:
            return
        keys = row_keys(self.seed_word, start, len(frame))
        if len(keys) > self.size:
            best = np.argpartition(keys, self.size - 1)[: self.size]
        else:
            best = np.arange(len(keys))
        if self.keys.size == self.size:
            best = best[keys[best] < self.keys.max()]
        if best.size == 0:
            return
        index = np.r_[self.index, start + best]
        allkeys = np.r_[self.keys, keys[best]]
        frame_part = frame.iloc[best].reset_index(drop=True)
        frame_all = frame_part if self.frame is None else pd.concat([self.frame, frame_part], ignore_index=True)
        proba_all = proba[best] if self.proba is None else np.concatenate([self.proba, proba[best]])
        if allkeys.size > self.size:
            keep = np.argpartition(allkeys, self.size - 1)[: self.size]
        else:
            keep = np.arange(allkeys.size)
        keep = keep[np.argsort(index[keep], kind="stable")]
        self.index, self.keys = index[keep], allkeys[keep]
        self.frame = frame_all.iloc[keep].reset_index(drop=True)
        self.proba = proba_all[keep]

    def result(self) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
        """(global row indices, frame, proba), in file order."""
        assert self.frame is not None and self.proba is not None
        return self.index, self.frame, self.proba


def describe(size: int) -> dict[str, Any]:
    return {"size": int(size), "method": "bottom-m by splitmix64(seed, row index): uniform, without replacement, "
            "independent of chunking and backend"}
