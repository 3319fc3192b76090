"""Shared pieces of the explanation methods: random streams, intervals, scoring, checks."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as _st

from ..params import Interval, Setting
from ..stats import child_rng

__all__ = ["Predict", "row_rngs", "mean_interval", "bootstrap_t_interval", "output_resolution", "ROUNDOFF_FACTOR",
           "gather_scores", "check_int", "check_float", "blas_single_thread", "DEFAULT_MAX_BYTES", "chunks"]

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


_BOOT_CELLS = 256  # cells resampled at once by the bootstrap: its (n_boot, cells) arrays stay in cache


def bootstrap_t_interval(
    rounds: np.ndarray, *, axis: int, rng: np.random.Generator, confidence: float = 0.95, n_boot: int = 999,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over independent draws along ``axis`` and its bootstrap-t interval (Efron & Tibshirani 1993, 12.5).

    The studentised mean ``(m* − m) / se*`` of ``n_boot`` resamples of the draws gives the
    interval's quantiles, so a skewed distribution of draws (a score near saturation: most
    noise draws give a small gradient, a few a large one) gets an asymmetric interval; the
    Student-t interval under-covers there (measured in BENCHMARKS.md, "Coverage of the
    attribution intervals"). The resampled indices are drawn once from ``rng`` and shared
    by every cell, so a cell's interval depends only on its own draws and the seed. The
    mean always lies inside its interval; with one draw (or zero spread) the interval
    collapses onto the mean.
    """
    r = np.moveaxis(np.asarray(rounds, dtype=np.float64), axis, 0)
    n = r.shape[0]
    shape = r.shape[1:]
    r = r.reshape(n, -1)
    mean = r.mean(axis=0)
    if n < 2:
        return mean.reshape(shape), mean.reshape(shape).copy(), mean.reshape(shape).copy()
    se = r.std(axis=0, ddof=1) / np.sqrt(n)
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.reshape(-1)), 1.0)
    counts /= n
    a = (1.0 - confidence) / 2.0
    lo = np.empty_like(mean)
    hi = np.empty_like(mean)
    # the order statistics np.quantile's default (linear) method interpolates between
    pos = np.array([a, 1.0 - a]) * (n_boot - 1)
    below = np.floor(pos).astype(int)
    above = np.minimum(below + 1, n_boot - 1)
    gap = pos - below
    counts_t = np.ascontiguousarray(counts.T)  # (n, n_boot)
    # Per block of cells, one product gives the resampled means and mean squares; the
    # scratch arrays are allocated once (the element-wise passes, not the products, were
    # most of the time).
    cells = min(_BOOT_CELLS, mean.size)
    stacked = np.empty((2 * cells, n))
    moments = np.empty((2 * cells, n_boot))
    square = np.empty((cells, n_boot))
    for c0 in range(0, mean.size, _BOOT_CELLS):  # blocks of cells, laid out (cells, n_boot): in cache
        c1 = min(mean.size, c0 + _BOOT_CELLS)
        m = c1 - c0
        stacked[:m] = r[:, c0:c1].T
        np.multiply(stacked[:m], stacked[:m], out=stacked[m: 2 * m])
        np.matmul(stacked[: 2 * m], counts_t, out=moments[: 2 * m])
        m_b, var_b, sq = moments[:m], moments[m: 2 * m], square[:m]
        np.multiply(m_b, m_b, out=sq)
        var_b -= sq
        # A resample without spread (se* = 0) gets the statistic 0: its variance becomes inf.
        var_b[var_b <= 0.0] = np.inf
        var_b *= n / (n - 1.0) / n  # se_b², in place
        se_b = np.sqrt(var_b, out=var_b)
        m_b -= mean[c0:c1, None]
        m_b /= se_b
        # Sorting each cell's contiguous resamples (numpy's vectorised sort) is ~3x faster
        # than np.quantile's partition along the strided axis; same order statistics.
        m_b.sort(axis=1)
        q_lo, q_hi = (_lerp(m_b[:, below[i]], m_b[:, above[i]], gap[i]) for i in range(2))
        lo[c0:c1] = mean[c0:c1] - q_hi * se[c0:c1]
        hi[c0:c1] = mean[c0:c1] - q_lo * se[c0:c1]
    lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
    return mean.reshape(shape), lo.reshape(shape), hi.reshape(shape)


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``a + (b − a)·t`` the way np.quantile interpolates (from ``b`` when ``t >= 0.5``)."""
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


ROUNDOFF_FACTOR = 4.0
"""Safety factor on one output unit of round-off (the model's arithmetic adds a few)."""


def output_resolution(evaluator: Any) -> tuple[float, bool]:
    """Round-off of one model output: (machine epsilon of the output dtype, probability?).

    A probability output (softmax, sigmoid, ``1 − p``) carries an absolute error of about
    ``eps``; a regression value or logit a relative one, ``eps·|f|``. Float64 models get
    float64's epsilon; unknown output types are taken as float32 (the common export).
    """
    dtype = None
    try:
        dtype = evaluator.model.output_spec().numpy_dtype
    except Exception:  # noqa: BLE001 - an unusual output: assume float32
        dtype = None
    eps = float(np.finfo(dtype).eps) if dtype is not None and np.issubdtype(dtype, np.floating) else float(np.finfo(np.float32).eps)
    return eps, getattr(evaluator, "task", "classification") == "classification"


def gather_scores(scores: np.ndarray, owner: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Scores of each perturbed row for its owner's target columns.

    scores: ``(m, k)``; owner: ``(m,)`` index of the explained row each perturbed row
    belongs to; targets: ``(n, t)`` columns. Returns ``(m, t)``.
    """
    return np.take_along_axis(scores, targets[owner], axis=1)


def check_int(name: str, value: Any, *, minimum: int = 1, owner: str = "explain") -> int:
    """``value`` as an int >= ``minimum``, else the one wording of :mod:`audit_engine.params`."""
    Setting(name, (Interval(int, minimum, None),), config=False, owner=owner).check(value)
    return int(value)


def check_float(name: str, value: Any, *, low: float = 0.0, high: float = np.inf, low_open: bool = False,
                owner: str = "explain") -> float:
    """``value`` as a finite number in [low, high] (``(low, high]`` when ``low_open``), else the one wording."""
    closed = "right" if low_open else "both"
    Setting(name, (Interval(numbers.Real, low, None if not np.isfinite(high) else high, closed),), config=False,
            owner=owner).check(value)
    return float(value)


def blas_single_thread() -> Any:
    """Context that limits BLAS to one thread.

    Every attribution runs under it (``api.attribute``): the stacked ridge solves of
    :mod:`.surrogate` are as fast on one thread, and idle OpenBLAS workers no longer spin
    against ONNX Runtime's threads (benchmarks/results/explain.md). The controller (which
    lists the loaded BLAS libraries, ~2.5 ms) is built once.
    """
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()
