"""Shared statistics: point estimates with intervals, the Poisson bootstrap, the weighted ROC AUC.

This module imports only numpy and scipy (and the standard library): no domain module of the engine.

The Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012) weights each row
by an independent Poisson(1) draw per replicate instead of resampling indices. Weighted
sums stay additive over chunks and workers, which is what streaming needs.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = ["Estimate", "finite_or_none", "newcombe_difference", "poisson_weight_blocks", "percentile_interval", "bootstrap_estimates", "child_rng",
           "weighted_auc", "rate_interval", "RATE_METHODS"]

RATE_METHODS = ("jeffreys", "wilson")
"""Binomial interval methods of :func:`rate_interval`."""

_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (NaN bounds when undefined).

    The interval's method depends on the figure (closed form, Wilson, bootstrap, ...; see
    the check that made it). In arithmetic-free uses an Estimate stands for its point
    value: ``float(e)`` is ``e.value``; ``f"{e:.3f}"`` formats ``e.value`` (an empty format
    spec gives the repr, interval included); ``e > 0.7``, ``e <= other`` compare point
    values (an interval does not decide them: use ``ci_low`` / ``ci_high`` for that).
    ``==`` compares all three numbers, as it always has.
    """

    value: float
    ci_low: float
    ci_high: float

    def __float__(self) -> float:
        return float(self.value)

    def __format__(self, spec: str) -> str:
        return format(float(self.value), spec) if spec else str(self)

    def _point(self, other: object) -> float | None:
        if isinstance(other, Estimate):
            return float(other.value)
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
            return float(other)
        return None

    def __lt__(self, other: object) -> bool:
        x = self._point(other)
        return NotImplemented if x is None else float(self.value) < x

    def __le__(self, other: object) -> bool:
        x = self._point(other)
        return NotImplemented if x is None else float(self.value) <= x

    def __gt__(self, other: object) -> bool:
        x = self._point(other)
        return NotImplemented if x is None else float(self.value) > x

    def __ge__(self, other: object) -> bool:
        x = self._point(other)
        return NotImplemented if x is None else float(self.value) >= x

    def to_dict(self) -> dict[str, Any]:
        return {"value": finite_or_none(self.value), "ci_low": finite_or_none(self.ci_low), "ci_high": finite_or_none(self.ci_high)}

    @classmethod
    def from_dict(cls, doc: Any) -> Estimate:
        """Read ``{"value", "ci_low", "ci_high"}`` back (null as NaN)."""
        return cls(*(math.nan if doc.get(k) is None else float(doc[k]) for k in ("value", "ci_low", "ci_high")))

    @property
    def excludes_zero(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)


def finite_or_none(x: float) -> float | None:
    """JSON-safe float: NaN/inf become None (JSON has no NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


def child_rng(seed: int | np.random.Generator | None, *keys: str | int) -> np.random.Generator:
    """An independent, reproducible stream for a named purpose.

    ``child_rng(0, "performance")`` is the same whatever ran before it, so results do not
    depend on which checks ran or in which order.
    """
    if isinstance(seed, np.random.Generator):
        base = int(seed.integers(0, 2**63 - 1))
    else:
        base = 0 if seed is None else int(seed)
    words = [base] + [k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def poisson_weight_blocks(rng: np.random.Generator, n_rows: int, n_boot: int) -> Iterator[np.ndarray]:
    """Yield Poisson(1) weight matrices ``(b, n_rows)`` whose b's add up to ``n_boot``.

    Blocks bound memory to about 8M weights whatever ``n_rows`` is; the draws depend only
    on the seed, ``n_rows`` and ``n_boot``.
    """
    per_block = max(1, _BLOCK_ELEMENTS // max(1, n_rows))
    done = 0
    while done < n_boot:
        b = min(per_block, n_boot - done)
        yield rng.poisson(1.0, size=(b, n_rows)).astype(np.float64)
        done += b


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates, ignoring undefined (NaN) replicates."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_estimates(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_rows: int,
    *,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Point value and percentile interval of a weighted statistic.

    ``statistic(weights)`` takes weights ``(b, n_rows)`` and returns ``(b,)`` values; it is
    called once with unit weights for the point value, then on Poisson blocks.
    """
    value = float(statistic(np.ones((1, n_rows)))[0])
    if n_boot <= 0:
        return value, float("nan"), float("nan")
    reps = np.concatenate([np.asarray(statistic(w), dtype=np.float64) for w in poisson_weight_blocks(rng, n_rows, n_boot)])
    low, high = percentile_interval(reps, confidence)
    return value, low, high


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each weight row: ``(b, n)`` weights → ``(b,)`` AUCs (NaN if one class).

    Ties count one half (Mann–Whitney), so unit weights equal scikit-learn's roc_auc_score.
    """
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    pos = positive[order].astype(np.float64)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * pos, starts, axis=1)
    wn = np.add.reduceat(w * (1.0 - pos), starts, axis=1)
    neg_before = np.cumsum(wn, axis=1) - wn
    total_p = wp.sum(axis=1)
    total_n = wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wp * (neg_before + 0.5 * wn)).sum(axis=1) / (total_p * total_n)


def rate_interval(successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95,
                  method: str = "jeffreys") -> tuple[np.ndarray, np.ndarray]:
    """Binomial interval for ``successes / trials`` (elementwise; NaN where trials == 0).

    Parameters
    ----------
    successes, trials: arrays of the same shape; unweighted row counts, ``0 <= k <= m``.
    method: ``"jeffreys"`` (Beta(k + ½, m − k + ½) quantiles; 0 / 1 at k = 0 / k = m) or
        ``"wilson"`` (score interval). Both equal ``statsmodels.stats.proportion.proportion_confint``
        away from the boundaries; both contain k / m and have positive width when m > 0.
    """
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(trials, dtype=np.float64)
    ok = m > 0
    alpha = 1.0 - confidence
    ms = np.where(ok, m, 1.0)
    ks = np.clip(np.where(ok, k, 0.0), 0.0, ms)
    if method == "jeffreys":
        low = sps.beta.ppf(alpha / 2, ks + 0.5, ms - ks + 0.5)
        high = sps.beta.ppf(1 - alpha / 2, ks + 0.5, ms - ks + 0.5)
        low = np.where(ks <= 0, 0.0, low)
        high = np.where(ks >= ms, 1.0, high)
    elif method == "wilson":
        z = sps.norm.ppf(1 - alpha / 2)
        p = ks / ms
        den = 1 + z**2 / ms
        centre = (p + z**2 / (2 * ms)) / den
        half = z * np.sqrt(p * (1 - p) / ms + z**2 / (4 * ms**2)) / den
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    else:
        raise ValueError(f"unknown rate interval method {method!r}; use one of {RATE_METHODS}")
    point = ks / ms
    low, high = np.minimum(low, point), np.maximum(high, point)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def newcombe_difference(k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray,
                        confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (1998, method 10) for ``k1/n1 − k2/n2`` at ``confidence``,
    from each proportion's Wilson interval (:func:`rate_interval`)."""
    k1, n1, k2, n2 = (np.asarray(a, dtype=np.float64) for a in (k1, n1, k2, n2))
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = rate_interval(k1, n1, confidence, method="wilson")
    l2, u2 = rate_interval(k2, n2, confidence, method="wilson")
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
