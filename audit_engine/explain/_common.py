"""Shared pieces of the explanation methods: random streams, intervals, scoring, checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as _st

from ..errors import ConfigError
from ..stats import child_rng

__all__ = ["Predict", "row_rngs", "mean_interval", "gather_scores", "check_int", "check_float", "blas_single_thread",
           "DEFAULT_MAX_BYTES", "chunks"]

DEFAULT_MAX_BYTES = 64 * 1024**2
"""Default memory budget of the perturbations a method builds at once (the Evaluator's)."""


def chunks(n: int, item_bytes: int, max_bytes: int = DEFAULT_MAX_BYTES) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` so that each piece holds at most
    ``max_bytes`` of items of ``item_bytes`` each (at least one item per piece).

    Methods build and score their perturbations piece by piece, so memory is bounded by
    ``max_bytes`` whatever the number of rows and samples; every row draws from its own
    stream, so the pieces give the same numbers as one large batch.
    """
    step = max(1, int(max_bytes) // max(1, int(item_bytes)))
    return [(a, min(n, a + step)) for a in range(0, n, step)]

Predict = Callable[[np.ndarray], np.ndarray]
"""rows ``(m, *row_shape)`` -> scores ``(m, k)``: probabilities, or ``(m, 1)`` values."""


def row_rngs(seed: int | np.random.Generator, method: str, row_ids: np.ndarray) -> list[np.random.Generator]:
    """One independent stream per explained row, keyed by the row's index in the data.

    The draws for row ``i`` therefore do not depend on which other rows are explained
    in the same call, nor on how the Evaluator chunks the batch. (Creating the streams
    is a loop over rows; every computation on the draws is vectorised.)
    """
    return [child_rng(seed, "explain", method, int(r)) for r in np.asarray(row_ids).tolist()]


def mean_interval(rounds: np.ndarray, *, axis: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over independent rounds along ``axis`` and its Student-t interval.

    With one round (or zero spread) the interval collapses onto the mean.
    """
    rounds = np.asarray(rounds, dtype=np.float64)
    n = rounds.shape[axis]
    mean = rounds.mean(axis=axis)
    if n < 2:
        return mean, mean.copy(), mean.copy()
    half = _st.t.ppf(0.5 + confidence / 2.0, n - 1) * rounds.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def gather_scores(scores: np.ndarray, owner: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Scores of each perturbed row for its owner's target columns.

    scores: ``(m, k)``; owner: ``(m,)`` index of the explained row each perturbed row
    belongs to; targets: ``(n, t)`` columns. Returns ``(m, t)``.
    """
    return np.take_along_axis(scores, targets[owner], axis=1)


def check_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(f"The {name!r} parameter must be an int >= {minimum}; got {value!r}.")
    return int(value)


def check_float(name: str, value: Any, *, low: float = 0.0, high: float = np.inf, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = np.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if np.isfinite(high) else "")
        raise ConfigError(f"The {name!r} parameter must be a number {bound}; got {value!r}.")
    return float(value)


def blas_single_thread() -> Any:
    """Context that limits BLAS to one thread.

    Every attribution runs under it (``api.attribute``): the stacked ridge solves of
    :mod:`.surrogate` are as fast on one thread, and idle OpenBLAS workers no longer spin
    against ONNX Runtime's threads (benchmarks/results/explain.md).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
