"""Intervals for the debiased squared calibration error, overall and per group.

The debiased estimator (Kumar, Liang & Ma 2019, eq. 4; :func:`~.metrics.debiased_squared_ce`)

    v = Σ_b (n_b / n) [(ȳ_b − s̄_b)² − ȳ_b (1 − ȳ_b) / (n_b − 1)]

is unbiased for the binned squared calibration error θ = Σ_b w_b (π_b − s̄_b)², where π_b
is the true positive rate (or accuracy) of bin b and s̄_b its mean score. Resampling the
data does not give it an honest interval: a bootstrap sample (or a posterior draw of the
bin counts) is drawn from a world whose bins deviate by the *observed* ``ȳ_b − s̄_b``, and
``E (ȳ_b − s̄_b)² = (π_b − s̄_b)² + var_b`` — the resampling world is miscalibrated by
more than the data's own estimate says. Its replicates sit above ``v`` (percentile
interval: 87–92% coverage, missing on the low side, and at a true value of 0 it rarely
reached 0), and recentring them at the plug-in value leaves them about √3 times too
spread at θ = 0 (99–100% coverage).

Construction used here, a *debiased-world parametric bootstrap*: the resampling world
has in each bin the shrunk deviation

    d̃_b = sign(ȳ_b − s̄_b) · sqrt(max(0, (ȳ_b − s̄_b)² − ȳ_b (1 − ȳ_b) / (n_b − 1)))

(the per-bin debiased estimate of ``|π_b − s̄_b|``, clipped at 0), i.e. success
probability ``clip(s̄_b + d̃_b, 0, 1)``. Each replicate draws bin sizes ``n*_b ~
Poisson(n_b)`` (the Poisson bootstrap of the rows, aggregated per bin), successes
``k*_b ~ Binomial(n*_b, s̄_b + d̃_b)`` and keeps each bin's mean score; the interval is
the equal-tailed percentile interval of the debiased estimates of the replicates
(Davison & Hinkley 1997, §2.2 parametric bootstrap; §5.3 percentile method), extended to
hold the point value. Simulated on 10–15 score bins (``benchmarks/coverage.py``; a numpy
check of 600 samples per case at n = 250, 500, 2500): 94–98% for a miscalibrated model,
97–98.5% at a true value of 0 (it reaches 0 unless the data show miscalibration).

The root ``sqrt(max(0, ·))`` of each end gives the interval of the ℓ2 calibration error.

At a true value of 0 (a calibrated model) the equal-tailed interval can miss only low and
held 0 in 98.5% of samples (harness, 1000 samples per cell, n = 500 and 5000).
:func:`boundary_lower_end` gives the overall (top-label) interval a boundary-aware lower
end: 0 is excluded exactly when a one-sided level-α test against the calibrated world
rejects (the Feldman & Cousins 1998 acceptance region at the boundary), which brought
those cells to 95.4% and 95.1% and left every other cell's coverage unchanged. The
per-group errors of groups with at least ``min_group_size`` rows get the same lower end
(fairness analysis), from 97.2% / 98.0% to 94.8% / 94.9% in the calibrated cells.

Issue 23 changed three things (docs/FAIRNESS_INTERVALS.md; BENCHMARKS.md): the boundary
test is one-sided at level α/2 and the interval reaches 0 whenever it does not reject (a
calibrated model's interval lay above 0 in 7% of samples at n = 500; a side may miss
α/2); the per-group replicates come from the global-shrink world of :func:`scaled_world`
(:func:`group_bins`), not the per-bin world, whose clipped bins made it 2.5–16 times
more miscalibrated than the data for groups of 45–300 rows; and one-row bins are
debiased with the score's variance (:func:`~.metrics.debiased_squared_ce`).

Two more worlds, for the cases the per-bin world gets wrong (issue 9; numbers from a numpy
simulation of ``benchmarks/coverage.py``'s population, 300–400 samples per cell, and from
the harness itself, see BENCHMARKS.md "Calibration gap interval"):

- **Scaled worlds** (:func:`scaled_world`): every bin keeps the direction of its observed
  deviation ``ȳ_b − s̄_b``, all scaled by one factor so that the world's binned squared
  error is a chosen ``θ``. With ``θ = max(0, v)`` (the *global-shrink world*) the world's
  error equals the point value, and a world whose data show no miscalibration is exactly
  calibrated, where the per-bin world keeps every bin whose deviation happens to exceed
  its noise.
- **Tiny groups** (fewer rows than ``min_group_size``, e.g. 25 rows over 10 bins): most
  bins hold 0–3 rows, bins of one row add their plug-in term ``(y − s)²`` undebiased, so
  ``v`` is biased upward and the per-bin world (which copies a one-row bin's 0/1 outcome
  as its probability) doubles that bias: 70–73% coverage, always missing low.
  :func:`tiny_group_interval` takes the global-shrink world and the union of its
  percentile interval and its basic interval on the squared scale
  ``[v − q_{1−α/2}(v* − θ_w), v − q_{α/2}(v* − θ_w)]`` (Davison & Hinkley 1997, §5.2):
  the percentile interval sits too high by the bias, the basic interval corrects it but
  reverses the skew, so each misses on its own side (91.5% and 93.7%); their union
  covers 95.8% for the 25-row group (numpy simulation, 400 samples).
- **The calibration gap** between groups (:func:`equal_error_draws`): the gap is
  ``max − min`` of ℓ2 errors, and at a true gap of 0 its lower bound must exceed 0 in
  about α of samples. Percentile intervals of differences of per-group replicates cannot
  do that near the boundary: each replicate world is centred at a shrunk version of the
  observed difference and is wider than the sampling law (its bins carry deviations the
  truth lacks), so the interval held 0 in 99–100% of samples for a calibrated model.
  Instead the *equal-error world* gives every eligible group the same squared error
  ``θ0 = max(0, Σ_g n_g v_g / Σ_g n_g)`` (the pooled debiased estimate, clipped), each group in its own scaled world,
  and its replicates are the law of the pairwise difference ``D = CE_i − CE_j`` under
  "no gap". That law is used as a pivot: the interval of ``D`` is
  ``[D̂ − q_{1−α/2}(D*), D̂ − q_{α/2}(D*)]`` (basic interval, pivot from the null
  world), folded to ``|D|`` and maximised over pairs as in
  :func:`~.intervals.max_gap_interval`. Its lower end exceeds 0 exactly when the pivot
  test of "equal calibration errors" rejects at α.
"""

from __future__ import annotations

import numpy as np

from .metrics import debiased_squared_ce
from ..stats import Estimate, percentile_interval, poisson_weight_blocks

__all__ = ["plugin_squared_ce", "debiased_world", "world_replicates", "top_label_estimates", "boundary_lower_end", "group_calibration_draws",
           "scaled_world", "tiny_group_interval", "equal_error_draws"]


def _bin_means(n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin positive rate ``ȳ_b`` and mean score ``s̄_b`` (0 in empty bins); arrays ``(..., B)``."""
    ok = n_bin > 0
    ybar = np.divide(positives_bin, n_bin, out=np.zeros(np.broadcast(positives_bin, n_bin).shape), where=ok)
    sbar = np.divide(score_bin, n_bin, out=np.zeros(np.broadcast(score_bin, n_bin).shape), where=ok)
    return ybar, sbar


def plugin_squared_ce(n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray) -> np.ndarray:
    """Plug-in squared calibration error ``Σ_b (n_b / n)(ȳ_b − s̄_b)²``; arrays ``(..., B)`` → ``(...)``.

    Biased upward by about ``Σ_b (n_b / n) ȳ_b (1 − ȳ_b) / n_b``; NaN where ``n = 0``.
    """
    n = n_bin.sum(axis=-1)
    ybar, sbar = _bin_means(n_bin, positives_bin, score_bin)
    terms = np.where(n_bin > 0, n_bin * (ybar - sbar) ** 2, 0.0)
    return np.divide(terms.sum(axis=-1), n, out=np.full(np.shape(n), np.nan), where=n > 0)


def debiased_world(n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin success probability ``clip(s̄_b + d̃_b, 0, 1)`` of the resampling world, and ``s̄_b``.

    ``d̃_b`` is the shrunk deviation of the module docstring; arrays ``(..., B)``; empty
    bins get probability and score 0 (they draw no rows).
    """
    ybar, sbar = _bin_means(n_bin, positives_bin, score_bin)
    var = np.divide(ybar * (1.0 - ybar), n_bin - 1.0, out=np.zeros_like(ybar), where=n_bin > 1)
    d = ybar - sbar
    shrunk = np.sign(d) * np.sqrt(np.maximum(d**2 - var, 0.0))
    return np.clip(sbar + shrunk, 0.0, 1.0), sbar


def world_replicates(rows_bin: np.ndarray, prob: np.ndarray, sbar: np.ndarray, n_rep: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``(n_rep, ...)`` debiased squared calibration errors of replicates of the debiased world.

    rows_bin: ``(..., B)`` unweighted rows per bin; prob, sbar: :func:`debiased_world`.
    Each replicate: ``n* ~ Poisson(rows)``, ``k* ~ Binomial(n*, prob)``, score sums ``n* · s̄``.
    """
    lam = np.broadcast_to(np.asarray(rows_bin, dtype=np.float64), (n_rep,) + np.shape(rows_bin))
    n_star = rng.poisson(lam)
    k_star = rng.binomial(n_star, np.broadcast_to(prob, n_star.shape)).astype(np.float64)
    n_star = n_star.astype(np.float64)
    return debiased_squared_ce(n_star, k_star, n_star * sbar)


def top_label_estimates(proba: np.ndarray, y_index: np.ndarray, *, bins: int, n_boot: int,
                        rng: np.random.Generator, confidence: float) -> dict[str, Estimate]:
    """``squared_calibration_error`` and ``expected_calibration_error`` of the top label.

    Parameters
    ----------
    proba: ``(n, k)`` probabilities; y_index: ``(n,)`` true class indices.
    bins: equal-width bins of the top-label confidence on [0, 1].
    n_boot: replicates of the debiased-world bootstrap (0: no interval); rng: their stream.

    The squared value is the debiased estimate (may be < 0); the ℓ2 error is its root
    ``sqrt(max(0, ·))`` with the roots of the squared interval's ends. Both intervals hold
    their point value.
    """
    top = proba.max(axis=1)
    hit = (proba.argmax(axis=1) == y_index).astype(np.float64)
    b = np.minimum((top * bins).astype(int), bins - 1)
    n_bin = np.bincount(b, minlength=bins).astype(np.float64)
    pos_bin = np.bincount(b, weights=hit, minlength=bins)
    score_bin = np.bincount(b, weights=top, minlength=bins)
    return binned_top_label_estimates(n_bin, pos_bin, score_bin, n_boot=n_boot, rng=rng, confidence=confidence)


def binned_top_label_estimates(n_bin: np.ndarray, pos_bin: np.ndarray, score_bin: np.ndarray, *, n_boot: int,
                               rng: np.random.Generator, confidence: float) -> dict[str, Estimate]:
    """:func:`top_label_estimates` from its per-bin tallies (what a streamed audit keeps).

    n_bin, pos_bin, score_bin: ``(bins,)`` rows, top-label hits and summed top-label
    confidence per confidence bin; additive, so chunks and workers merge by addition.
    """
    n_bin, pos_bin, score_bin = (np.asarray(a, dtype=np.float64) for a in (n_bin, pos_bin, score_bin))
    v = float(debiased_squared_ce(n_bin, pos_bin, score_bin))
    low = high = float("nan")
    if n_boot > 0 and np.isfinite(v):
        prob, sbar = debiased_world(n_bin, pos_bin, score_bin)
        low, high = percentile_interval(world_replicates(n_bin, prob, sbar, n_boot, rng), confidence)
        if np.isfinite(low):
            low, high = min(low, v), max(high, v)
            low = boundary_lower_end(v, low, world_replicates(n_bin, sbar, sbar, n_boot, rng), confidence)
    root = float(np.sqrt(max(v, 0.0)))
    r_low, r_high = (float(np.sqrt(max(x, 0.0))) if np.isfinite(x) else float("nan") for x in (low, high))
    return {"squared_calibration_error": Estimate(v, low, high),
            "expected_calibration_error": Estimate(root, r_low, r_high)}


def boundary_lower_end(v: float, low: float, null_replicates: np.ndarray, confidence: float) -> float:
    """Lower end of the squared-error interval, made to exclude 0 when calibration is rejected.

    v: debiased estimate; low: the percentile interval's lower end (already ``≤ v``);
    null_replicates: ``(n_rep,)`` debiased estimates drawn in the calibrated world
    (success probability ``s̄_b`` in every bin). The error is ≥ 0 and a calibrated model
    sits on that boundary, where an equal-tailed interval can only miss on its lower side
    and so held 0 in 98.5% of samples (issue 9). Following the Feldman & Cousins (1998,
    Phys Rev D 57:3873) ordering, whose acceptance region at the boundary is one-sided,
    0 is left out exactly when the one-sided level-α/2 test of "calibrated"
    (``v > q_{1−α/2}(v*_0)``, α = 1 − confidence) rejects: the lower end then becomes the
    shift bound ``v − q_{1−α/2}(v*_0) > 0`` if the percentile end was ≤ 0, and when the
    test does not reject the interval reaches 0 whatever the percentile end. So a
    calibrated model's interval lies above 0 in at most α/2 of samples, the share a
    side may miss (a kept percentile end above 0 put it there in 7% of samples at
    n = 500, and the level-α test in 5%; issue 23).
    """
    level = 1.0 - (1.0 - confidence) / 2
    shift = float(np.quantile(null_replicates[np.isfinite(null_replicates)], level)) \
        if np.isfinite(null_replicates).any() else float("nan")
    if not np.isfinite(shift):
        return low
    if v <= shift:
        return min(low, 0.0)
    return low if low > 0.0 else v - shift


def group_bins(rows: np.ndarray, counts: np.ndarray, sums: np.ndarray, c: int) -> tuple[np.ndarray, ...]:
    """Per group and score bin: unweighted rows, and the global-shrink world of :func:`scaled_world`.

    The per-bin :func:`debiased_world` clips each bin's deviation at 0 separately, so its
    binned error (a sum of positive parts) was 2.5–16 times the data's debiased estimate
    for groups of 45–300 rows and its replicates sat too high (issue 23); the
    global-shrink world's error is the estimate itself, ``max(0, v)``.

    rows, counts, sums: ``(g, K_true, K_pred, B)`` unweighted rows, weighted counts and
    weighted sums of p(positive); c: the positive class. Returns ``(rows_bin, prob, sbar)``,
    each ``(g, B)``; the world is built from the weighted bins (the point estimate's).
    """
    n_bin = counts.sum(axis=(1, 2))
    prob, sbar = scaled_world(n_bin, counts[:, c].sum(axis=1), sums.sum(axis=(1, 2)))
    return rows.sum(axis=(1, 2)), prob, sbar


def group_calibration_draws(world: tuple[np.ndarray, ...], n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_rep, g)`` replicates of each group's ℓ2 calibration error ``sqrt(max(0, v*))``.

    world: :func:`group_bins`. Groups are drawn independently, like the posterior draws of
    the other rates, so gaps between groups are computed per replicate.
    """
    return np.sqrt(np.maximum(world_replicates(*world, n_rep, rng), 0.0))


def scaled_world(n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray,
                 theta: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World with the observed deviations scaled to binned squared error ``theta``: ``(prob, s̄)``.

    Arrays ``(..., B)``; theta ``(...)`` or scalar, default ``max(0, v)`` (the
    global-shrink world of the module docstring). ``prob = clip(s̄ + f · (ȳ − s̄), 0, 1)``
    with ``f² = theta / Σ_b (n_b / n)(ȳ_b − s̄_b)²`` (0 where no bin deviates).
    """
    ybar, sbar = _bin_means(n_bin, positives_bin, score_bin)
    if theta is None:
        theta = np.maximum(debiased_squared_ce(n_bin, positives_bin, score_bin), 0.0)
    plug = np.nan_to_num(plugin_squared_ce(n_bin, positives_bin, score_bin))
    theta = np.broadcast_to(np.maximum(np.nan_to_num(np.asarray(theta, dtype=np.float64)), 0.0), plug.shape)
    f = np.sqrt(np.divide(theta, plug, out=np.zeros(plug.shape), where=plug > 0))
    return np.clip(sbar + f[..., None] * (ybar - sbar), 0.0, 1.0), sbar


def tiny_group_interval(rows_bin: np.ndarray, n_bin: np.ndarray, positives_bin: np.ndarray, score_bin: np.ndarray,
                        n_rep: int, rng: np.random.Generator, confidence: float) -> tuple[float, float]:
    """Interval of one tiny group's ℓ2 calibration error (module docstring); bins ``(B,)``.

    rows_bin: unweighted rows per bin (replicates draw Poisson(rows)); the others weighted.

    The union of the percentile interval of the root replicates of the global-shrink world
    and the root of its basic interval on the squared scale; holds the point value.
    """
    v = float(debiased_squared_ce(n_bin, positives_bin, score_bin))
    if not np.isfinite(v) or n_rep <= 0:
        return float("nan"), float("nan")
    prob, sbar = scaled_world(n_bin, positives_bin, score_bin)
    reps = world_replicates(rows_bin, prob, sbar, n_rep, rng)
    reps = reps[np.isfinite(reps)]  # a replicate that drew no row has no error
    if reps.size == 0:
        return float("nan"), float("nan")
    theta_w = float(plugin_squared_ce(n_bin, prob * n_bin, sbar * n_bin))
    alpha = 1.0 - confidence
    p_low, p_high = np.quantile(np.sqrt(np.maximum(reps, 0.0)), [alpha / 2, 1 - alpha / 2])
    q_low, q_high = np.quantile(reps - theta_w, [alpha / 2, 1 - alpha / 2])
    b_low, b_high = np.sqrt(max(v - q_high, 0.0)), np.sqrt(max(v - q_low, 0.0))
    point = np.sqrt(max(v, 0.0))
    low, high = float(min(p_low, b_low, point)), float(max(p_high, b_high, point))
    if high <= low:  # a world with no sampling spread (every bin's probability 0 or 1): say nothing
        return 0.0, 1.0
    return low, high


def equal_error_draws(world_bins: tuple[np.ndarray, ...], n_bin: np.ndarray, positives_bin: np.ndarray,
                      score_bin: np.ndarray, eligible: np.ndarray, n_rep: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``(n_rep, g)`` reflected replicates ``CE_g − CE*_g`` of the equal-error world (module docstring).

    world_bins: :func:`group_bins` (its unweighted rows per bin are drawn from);
    n_bin, positives_bin, score_bin: ``(g, B)`` weighted bins; eligible: ``(g,)`` groups
    that enter the gap (others are NaN). Differences between columns of the result are
    ``D̂ − D*``, so :func:`~.intervals.max_gap_interval` of them is the basic interval of
    every pairwise difference with the null world as its pivot.
    """
    v = debiased_squared_ce(n_bin, positives_bin, score_bin)
    clipped = np.maximum(np.nan_to_num(v), 0.0)
    size = n_bin.sum(axis=-1)
    keep = eligible & np.isfinite(v)
    # the pooled debiased estimate of the common error under "no gap", clipped to θ ≥ 0 (the
    # mean of the clipped errors sits above 0 for calibrated groups and made the pivot too wide)
    theta0 = max(0.0, float(np.sum(size[keep] * v[keep]) / size[keep].sum())) if keep.any() else 0.0
    prob, sbar = scaled_world(n_bin, positives_bin, score_bin, theta0)
    reps = np.sqrt(np.maximum(world_replicates(world_bins[0], prob, sbar, n_rep, rng), 0.0))
    out = np.sqrt(clipped)[None, :] - reps
    return np.where(keep[None, :], out, np.nan)
