"""LIME for tabular data (Ribeiro, Singh & Guestrin 2016), batched over many rows.

Reproduces ``lime.lime_tabular.LimeTabularExplainer`` with ``discretize_continuous=True``
and the ``quartile`` discretizer:

1. each numeric feature is cut at the quartiles of the background data; categorical
   features (integer codes) keep their codes;
2. a perturbed sample draws, for every feature independently, a bin (or category) with
   the background frequencies; the interpretable representation ``z_j`` is 1 when the
   drawn bin equals the instance's bin; the model sees a value drawn from a normal
   truncated to the bin (mean and std of the background values in that bin) — the
   category code itself for categorical features; sample 0 is the instance;
3. weights ``sqrt(exp(−D²/width²))`` with ``D`` the Euclidean distance of ``z`` to the
   all-ones vector and ``width = 0.75·sqrt(d)``;
4. a weighted ridge (α = 1) of the target's probability on ``z``.

The returned weight of feature j means what ``explanation.as_map()[label]`` means with
``num_features >= d``: the change of the probability associated with the feature lying in
the instance's bin (category). The samples of many rows are scored in one Evaluator
call (batches of ``_BATCH_BYTES``); the surrogates are solved together (:mod:`.surrogate`).

Deliberate differences: where a bin holds a single value lime returns its z-score
(a quirk of ``BaseDiscretizer.get_undiscretize_values``); here that value itself is used.
One uniform per value draws both the bin and the value inside it (the same distribution
as lime's two draws, see ``TabularLimeStats.mixture``), and ``z_j`` says whether the value
the model sees lies in the instance's bin, so ``z`` and the perturbed row always agree.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ._common import Predict, gather_scores
from .surrogate import ridge_from_design

__all__ = ["TabularLimeStats", "fit_tabular_stats", "lime_tabular"]


_CELL_BITS = 12
_GRID = 2**_CELL_BITS  # cells of each feature's tabulated quantile function (about 1024 per quartile bin)
_LOW_MASK = np.uint32(2 ** (32 - _CELL_BITS) - 1)


@dataclass(frozen=True)
class TabularLimeStats:
    """Background statistics, per feature j (``V`` = most bins/categories of any feature).

    edges: list of quartile cut points (None for categorical features).
    values: ``(d, V)`` observed bin indices / category codes (padded with -1).
    cum: ``(d, V)`` cumulative frequencies (inf where padded or last).
    width: ``(d,)`` number of observed bins / categories.
    mixture: ``(d, _GRID + 1)`` quantile function of each numeric feature's sampling
        distribution, tabulated on a uniform grid of probabilities: lime draws a bin with
        its background frequency, then a value from the normal (bin mean and std of the
        background) truncated to the bin; one uniform ``u`` does both, since the bin is the
        one whose cumulative frequencies bracket ``u`` and ``u``'s position inside that
        bracket is again uniform. The function is continuous (neighbouring bins meet at
        their shared quartile), so linear interpolation on the grid is accurate across
        bin boundaries too. Zero for categorical features.
    categorical: ``(d,)`` mask.
    missing: ``(d,)`` share of missing (NaN) background values. "Missing" is a value of
        its own: a sample's value is missing with that probability (else drawn from the
        bins of the observed values), and ``z_j`` is 1 when the sample and the instance
        are both missing, or both observed in the same bin.
    """

    edges: list[np.ndarray | None]
    values: np.ndarray
    cum: np.ndarray
    width: np.ndarray
    mixture: np.ndarray
    categorical: np.ndarray
    missing: np.ndarray | None = None

    @functools.cached_property
    def quantile_pairs(self) -> np.ndarray:
        """``(d · (_GRID + 1), 2)`` float32: each tabulated quantile and the step to the next."""
        q = self.mixture.reshape(-1)
        step = np.r_[np.diff(q), 0.0]
        return np.ascontiguousarray(np.stack([q, step], axis=1), dtype=np.float32)

    def discretize(self, x: np.ndarray) -> np.ndarray:
        """Bin index (numeric) or code (categorical) of rows ``(n, d)``."""
        out = np.asarray(x, dtype=np.float64).copy()
        for j, e in enumerate(self.edges):
            if e is not None:
                out[:, j] = np.searchsorted(e, out[:, j])
        return out

    def bin_bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``(lo, hi)`` ``(n, d)`` such that a float32 value ``v`` lies in the
        quartile bin of ``x`` exactly when ``lo < v <= hi`` (the discretizer's
        ``searchsorted`` convention); ±inf for categorical features and open ends."""
        x = np.asarray(x, dtype=np.float64)
        lo = np.full(x.shape, -np.inf)
        hi = np.full(x.shape, np.inf)
        for j, e in enumerate(self.edges):  # a loop over features, not rows
            if e is None:
                continue
            b = np.searchsorted(e, x[:, j])
            ext = np.r_[-np.inf, e, np.inf]
            lo[:, j], hi[:, j] = ext[b], ext[b + 1]
        return _float32_below(lo), _float32_below(hi)


def _float32_below(a: np.ndarray) -> np.ndarray:
    """The largest float32 <= each value: for float32 ``v``, ``v > a ⇔ v > this`` and
    ``v <= a ⇔ v <= this``, so comparisons in float32 keep the float64 bin edges exact."""
    f = a.astype(np.float32)
    up = f.astype(np.float64) > a
    f[up] = np.nextafter(f[up], np.float32(-np.inf))
    return f


def fit_tabular_stats(background: np.ndarray, categorical: np.ndarray) -> TabularLimeStats:
    """Quartile bins and frequencies of ``background`` ``(m, d)`` as lime computes them."""
    bg = np.asarray(background, dtype=np.float64)
    m, d = bg.shape
    categorical = np.asarray(categorical, dtype=bool)
    edges: list[np.ndarray | None] = []
    disc = bg.copy()
    params = []
    for j in range(d):  # a loop over features (fitting), not over rows
        if categorical[j]:
            edges.append(None)
            params.append(None)
            continue
        col = bg[:, j]
        col = col[~np.isnan(col)] if np.isnan(col).any() else col
        if col.size == 0:
            col = np.zeros(1)
        qts = np.unique(np.percentile(col, [25, 50, 75]))
        edges.append(qts)
        b = np.searchsorted(qts, col)
        disc[:, j] = np.where(np.isnan(bg[:, j]), np.nan, np.searchsorted(qts, bg[:, j]))
        nb = qts.size + 1
        cnt = np.bincount(b, minlength=nb)
        s1 = np.bincount(b, weights=col, minlength=nb)
        s2 = np.bincount(b, weights=col * col, minlength=nb)
        mu = np.where(cnt > 0, s1 / np.maximum(cnt, 1), 0.0)
        sd = np.sqrt(np.maximum(np.where(cnt > 0, s2 / np.maximum(cnt, 1) - mu**2, 0.0), 0.0)) + 1e-11
        lo = np.r_[col.min(), qts]
        hi = np.r_[qts, col.max()]
        params.append((lo, hi, mu, sd))
    missing = np.isnan(bg).mean(axis=0) if m else np.zeros(d)
    uniq = [np.unique(disc[~np.isnan(disc[:, j]), j], return_counts=True) for j in range(d)]
    uniq = [u if u[0].size else (np.zeros(1), np.ones(1, dtype=np.intp)) for u in uniq]
    big = max(len(u[0]) for u in uniq)
    values = np.full((d, big), -1.0)
    cum = np.full((d, big), np.inf)
    width = np.zeros(d, dtype=np.intp)
    mixture = np.zeros((d, _GRID + 1))
    grid = np.linspace(0.0, 1.0, _GRID + 1)
    for j, (v, c) in enumerate(uniq):
        values[j, : v.size] = v
        cum[j, : v.size - 1] = (np.cumsum(c) / c.sum())[:-1]
        width[j] = v.size
        if params[j] is not None:
            # the bin of each grid probability, and the probability's position inside it
            ends = np.r_[0.0, cum[j, : v.size - 1], 1.0]
            pos = np.searchsorted(cum[j, : v.size - 1], grid, side="right")
            within = np.clip((grid - ends[pos]) / (ends[pos + 1] - ends[pos]), 0.0, 1.0)
            k = v[pos].astype(np.intp)
            lo, hi, mu, sd = (a[k] for a in params[j])
            mixture[j] = _truncnorm_quantiles(within, lo, hi, mu, sd)
    return TabularLimeStats(edges, values, cum, width, mixture, categorical, missing if missing.any() else None)


def _truncnorm_quantiles(p: np.ndarray, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of N(mean, std) truncated to [lo, hi], elementwise (broadcast)."""
    p, lo, hi, mean, std = (np.asarray(a, dtype=np.float64) for a in (p, lo, hi, mean, std))
    a = (lo - mean) / std
    b = (hi - mean) / std
    flip = a > 0  # work in the tail nearer zero, where the normal CDF keeps its precision
    a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
    pa, pb = ndtr(a2), ndtr(b2)
    q = np.where(flip, 1.0 - p, p)
    zs = ndtri(np.clip(pa + q * (pb - pa), 1e-300, 1 - 1e-16))
    x = mean + std * np.where(flip, -zs, zs)
    x = np.where(np.isfinite(x), x, mean)
    return np.where(hi > lo, np.clip(x, lo, hi), lo)


def sample_tabular(
    stats: TabularLimeStats, x: np.ndarray, n_samples: int, rngs: list[np.random.Generator],
    *, out: np.ndarray | None = None, z_out: np.ndarray | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Perturbations of rows ``x`` ``(n, d)``.

    Parameters
    ----------
    out: optional float32 ``(n, S, d)`` buffer for ``inverse`` (saves a copy of the largest array).
    z_out: optional ``(n, S, d)`` buffer for ``z`` (any dtype numpy can cast a bool to; the
        surrogate's design, so ``z`` is written once).
    bounds: ``stats.bin_bounds(x)``, when the caller has it already.

    Returns
    -------
    z: ``(n, S, d)`` interpretable representation, 1 where the sample lies in the
        instance's bin (category); sample 0 all 1.
    inverse: ``(n, S, d)`` float32, the perturbed rows in feature space (sample 0 = the row).
    """
    n, d = x.shape
    s = n_samples
    inverse = out if out is not None else np.empty((n, s, d), dtype=np.float32)
    z = z_out if z_out is not None else np.empty((n, s, d), dtype=np.bool_)
    lo, hi = bounds if bounds is not None else stats.bin_bounds(x)
    pairs = stats.quantile_pairs.view(np.float64)
    offset = np.arange(d, dtype=np.intp) * (_GRID + 1)
    cat = np.flatnonzero(stats.categorical)
    bits_cat = np.empty((n, s, cat.size), dtype=np.uint32) if cat.size else None
    step = max(2, _PIECE // d // 2 * 2)  # samples per piece: an even count, so a row's
    # pieces draw, in order, exactly the 32-bit halves of one random_raw call for the row
    for i, g in enumerate(rngs):  # one stream per row (see row_rngs); pieces keep numpy in cache
        for a in range(0, s, step):
            b = min(s, a + step)
            count = (b - a) * d
            bits = g.bit_generator.random_raw((count + 1) // 2).view(np.uint32)[:count].reshape(b - a, d)
            _fill(bits, lo[i], hi[i], pairs, offset, inverse[i, a:b], z[i, a:b])
            if bits_cat is not None:
                bits_cat[i, a:b] = bits[:, cat]
    if bits_cat is not None:  # categories: the code whose cumulative frequencies bracket u
        pick = np.multiply(bits_cat, np.float32(2.0**-32), dtype=np.float32)  # uniform in [0, 1]
        cum = stats.cum[cat].astype(np.float32)
        idx = np.zeros(pick.shape, dtype=np.int32)
        for k in range(stats.values.shape[1] - 1):
            idx += pick >= cum[:, k]
        inst_code = np.asarray(x, dtype=np.float64)[:, cat]
        inst_pos = (stats.values[cat][None] == inst_code[:, :, None]).argmax(axis=2).astype(np.int32)
        inverse[..., cat] = stats.values[cat, idx]
        z[..., cat] = idx == inst_pos[:, None, :]
    if stats.missing is not None:  # "missing" drawn with its background share, after the other draws
        cols = np.flatnonzero(stats.missing > 0)
        rate = stats.missing[cols].astype(np.float32)
        drawn = np.stack([g.random((s, cols.size), dtype=np.float32) < rate for g in rngs])  # (n, S, m)
        inst = np.isnan(x[:, cols])
        drawn[:, 0] = inst
        inverse[..., cols] = np.where(drawn, np.float32(np.nan), inverse[..., cols])
        zc = z[..., cols].astype(bool)
        z[..., cols] = np.where(inst[:, None, :], drawn, zc & ~drawn)
    inverse[:, 0] = x
    z[:, 0] = 1
    return z, inverse


def _fill(bits: np.ndarray, lo: np.ndarray, hi: np.ndarray, pairs: np.ndarray, offset: np.ndarray,
          inverse: np.ndarray, z: np.ndarray) -> None:
    """Values and ``z`` of one piece of samples ``(m, d)`` of one row from its random bits.

    The top ``_CELL_BITS`` of a value's 32 bits pick the cell of the tabulated quantile
    function, the rest the position inside it (one uniform does the bin and the value,
    see TabularLimeStats.mixture); raw bits skip numpy's float conversion, and the cell
    index comes out of a shift, with no float multiply, floor and clamp. One 8-byte
    gather per value from a table of (quantile, step to the next) float32 pairs.
    """
    cell = np.add(bits >> (32 - _CELL_BITS), offset, dtype=np.intp)
    frac = np.multiply(bits & _LOW_MASK, np.float32(2.0 ** -(32 - _CELL_BITS)), dtype=np.float32)
    both = np.take(pairs, cell).view(np.float32).reshape(*bits.shape, 2)
    np.multiply(frac, both[..., 1], out=inverse)
    inverse += both[..., 0]
    # z: the value lies in the instance's bin (float32 bounds, exact; see bin_bounds)
    np.logical_and(inverse > lo, inverse <= hi, out=z, casting="unsafe")


_CACHE_ELEMENTS = 600_000  # perturbation values sampled or fitted at once
_PIECE = 16_384  # values per piece of sample_tabular's arithmetic (its temporaries stay in L1/L2)
_BATCH_BYTES = 8 * 1024**2  # perturbed rows sent to the Evaluator in one call (a batch is scored while the next is drawn)
OVERLAP = True
"""Sample the next batch on a second thread while ONNX Runtime scores the current one.
Measured (BENCHMARKS.md, "Tabular LIME on a 64-32 MLP", interleaved rounds): with
onnxruntime's threads spinning it was a wash (0.69 s against 0.68 s at load 0.7); once they
block (model/providers.py) 0.25 s against 0.35 s without the thread at load 2, and equal
within the ranges at load 3. Kept: it also bounds the batches to 8 MiB instead of the
whole request."""


def lime_tabular(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    stats: TabularLimeStats,
    n_samples: int,
    rngs: list[np.random.Generator],
    kernel_width: float | None = None,
    alpha: float = 1.0,
    n_folds: int = 10,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LIME weights of rows ``x`` ``(n, d)`` for target columns ``targets`` ``(n, t)``.

    Rows go to ``predict`` in batches of about ``_BATCH_BYTES`` of perturbations; sampling
    and fitting run on small row blocks so that numpy works in cache. With ``OVERLAP``
    the next batch is sampled on a second thread while ONNX Runtime scores the current
    one (numpy's draws, gathers and arithmetic release the GIL); every row draws from its
    own stream, so the batching and the thread change no number.

    Returns values, ci_low, ci_high ``(t, n, d)`` and the surrogate's weighted R² ``(t, n)``.
    """
    n, d = x.shape
    t = targets.shape[1]
    s = n_samples
    m = d + 1 + t
    width = float(kernel_width) if kernel_width is not None else 0.75 * np.sqrt(d)
    # kernel weight of a sample by its number of features in the instance's bin
    kernel = np.sqrt(np.exp(-(d - np.arange(d + 1)) / width**2))
    out = np.empty((3, t, n, d))
    r2 = np.empty((t, n))
    small = max(1, _CACHE_ELEMENTS // (s * d))
    batch = max(small, _BATCH_BYTES // (4 * s * d) // small * small)
    spans = [(a0, min(n, a0 + batch)) for a0 in range(0, n, batch)]
    ones = np.ones(d)
    lo, hi = stats.bin_bounds(x)

    def draw(a0: int, a1: int) -> tuple[np.ndarray, np.ndarray]:
        inverse = np.empty((a1 - a0, s, d), dtype=np.float32)
        design = np.empty((a1 - a0, s, m))  # [z, 1, y - y0] of the surrogate
        for b0 in range(a0, a1, small):  # cache-sized blocks of rows
            b1 = min(a1, b0 + small)
            sample_tabular(stats, x[b0:b1], s, rngs[b0:b1], out=inverse[b0 - a0 : b1 - a0],
                           z_out=design[b0 - a0 : b1 - a0, :, :d], bounds=(lo[b0:b1], hi[b0:b1]))
        design[..., d] = 1.0
        return inverse, design

    def fit(a0: int, a1: int, design: np.ndarray, scores: np.ndarray) -> None:
        owner = np.repeat(np.arange(a0, a1), s)
        y = gather_scores(scores, owner, targets).reshape(a1 - a0, s, t)
        for b0 in range(a0, a1, small):
            b1 = min(a1, b0 + small)
            xb, yb = design[b0 - a0 : b1 - a0], y[b0 - a0 : b1 - a0]
            y0 = yb[:, 0, :]
            xb[..., d + 1 :] = yb - y0[:, None, :]
            hits = np.rint(xb[..., :d] @ ones).astype(np.intp)  # features in the instance's bin
            res = ridge_from_design(xb, kernel[hits], y0, alpha=alpha, n_folds=n_folds, confidence=confidence)
            for k, arr in enumerate((res.coef, res.ci_low, res.ci_high)):
                out[k, :, b0:b1] = np.moveaxis(arr, -1, 0)
            r2[:, b0:b1] = res.r2.T

    if OVERLAP and len(spans) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="lime-sampling") as pool:
            pending = pool.submit(draw, *spans[0])
            for i, (a0, a1) in enumerate(spans):
                inverse, design = pending.result()
                if i + 1 < len(spans):
                    pending = pool.submit(draw, *spans[i + 1])
                scores = predict(inverse.reshape(-1, d))
                del inverse
                fit(a0, a1, design, scores)
    else:
        for a0, a1 in spans:  # batches of rows: one Evaluator call each
            inverse, design = draw(a0, a1)
            scores = predict(inverse.reshape(-1, d))
            del inverse
            fit(a0, a1, design, scores)
    return out[0], out[1], out[2], r2
