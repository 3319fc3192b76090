"""Robustness under realistic perturbation: how often decisions flip, how far scores move, per group.

For every perturbation kind and each of five graded severities, every audited row is perturbed
once (its own random draw) and scored again through the Evaluator; the decision of the perturbed
row is compared with the decision of the row as it is.

Kinds (``feature space`` rows, as the Evaluator takes them):

- tabular ``jitter``: Gaussian noise of ``s`` × each continuous feature's spread (the robust
  σ, IQR / 1.349, or the standard deviation when the IQR is 0), s ∈ (0.02, 0.05, 0.1, 0.2, 0.5);
  features whose values are all whole numbers are rounded back to whole numbers;
- tabular ``category_swap``: a share r ∈ (0.05, 0.1, 0.2, 0.3, 0.5) of the cells of categorical
  features move to the next most frequent category of that feature;
- tabular ``missing``: the same shares of cells set missing (NaN), only for models that return
  finite outputs on missing values;
- images ``noise`` (Gaussian, σ a share of the pixel range), ``blur`` (Gaussian filter over the
  spatial axes), ``brightness`` (a shift), ``contrast`` (a scale about each image's mean) and
  ``quantise`` (fewer grey levels), five severities each as in ImageNet-C (Hendrycks &
  Dietterich 2019), clipped to the data's range;
- text ``typo``, ``casing``, ``whitespace`` and ``punctuation``: edits of the raw strings
  (:mod:`.text`), which the caller re-encodes through the model's tokenizer and passes in as
  ``perturb_rows`` (token ids are never perturbed directly).

Figures, each with an interval (rows are independent, one draw each):

- flip rate: share of rows whose decision changes — Wilson interval; higher = less robust;
- mean score shift: mean of |Δ p(positive)| (binary) or the total-variation distance
  ½ Σ|Δp| (multiclass), or |Δ prediction| (regression) — t interval;
- per group flip rates (Wilson) and the disparity test: do the groups' flip rates differ?
  (chi-square test of homogeneity, or Fisher's exact test for two groups), with the gap
  between the highest and lowest group (Newcombe interval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy import stats as _st

from ..stats import newcombe_difference, rate_interval
from .text import TEXT, TEXT_SEVERITIES

__all__ = ["SEVERITIES", "TABULAR", "IMAGE", "TEXT", "FlipEstimate", "KindResult", "RobustnessResult",
           "flip_rate_expected_linear", "perturb", "robustness", "wilson"]

SEVERITIES: dict[str, tuple[float, ...]] = {
    "jitter": (0.02, 0.05, 0.1, 0.2, 0.5),
    "category_swap": (0.05, 0.1, 0.2, 0.3, 0.5),
    "missing": (0.05, 0.1, 0.2, 0.3, 0.5),
    "noise": (0.04, 0.06, 0.08, 0.12, 0.18),       # σ as a share of the pixel range
    "blur": (0.5, 0.75, 1.0, 1.5, 2.0),            # Gaussian σ in pixels
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),       # shift as a share of the range
    "contrast": (0.75, 0.6, 0.45, 0.3, 0.2),       # scale about the image mean
    "quantise": (64, 32, 16, 8, 4),                # grey levels kept
    **TEXT_SEVERITIES,                             # text kinds: see :mod:`.text`
}
TABULAR = ("jitter", "category_swap", "missing")
IMAGE = ("noise", "blur", "brightness", "contrast", "quantise")


def wilson(k: np.ndarray | int, n: np.ndarray | int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes in n trials (:func:`audit_engine.stats.rate_interval`)."""
    return rate_interval(np.asarray(k), np.asarray(n), confidence, method="wilson")


def _spread(rows: np.ndarray) -> np.ndarray:
    q75, q25 = np.nanpercentile(rows, [75, 25], axis=0)
    robust = (q75 - q25) / 1.349
    sd = np.nanstd(rows, axis=0)
    return np.where(robust > 0, robust, sd)


def perturb(kind: str, rows: np.ndarray, severity: float, rng: np.random.Generator, *,
            categorical: np.ndarray | None = None, reference: np.ndarray | None = None,
            spatial_axes: tuple[int, ...] = (), missable: np.ndarray | None = None) -> np.ndarray:
    """A perturbed copy of ``rows`` (n, *row_shape); ``reference`` gives spreads, categories and ranges.

    ``missable``: (d,) bool, the features ``missing`` may set missing (default: every feature;
    a model input that takes strings, for one, cannot hold NaN)."""
    ref = rows if reference is None else reference
    out = np.array(rows, dtype=np.float64, copy=True)
    n = out.shape[0]
    if kind == "jitter":
        flat = out.reshape(n, -1)
        cont = np.ones(flat.shape[1], dtype=bool) if categorical is None else ~categorical.reshape(-1)
        spread = _spread(ref.reshape(ref.shape[0], -1))
        noise = rng.standard_normal(flat.shape) * (severity * spread)[None, :]
        whole = np.all(np.isnan(ref.reshape(ref.shape[0], -1)) | (np.mod(ref.reshape(ref.shape[0], -1), 1) == 0), axis=0)
        jittered = flat + noise
        jittered[:, whole] = np.round(jittered[:, whole])
        flat[:, cont] = jittered[:, cont]
        return flat.reshape(out.shape)
    if kind in ("category_swap", "missing"):
        flat = out.reshape(n, -1)
        cats = np.zeros(flat.shape[1], dtype=bool) if categorical is None else categorical.reshape(-1)
        if kind == "category_swap":
            columns = np.flatnonzero(cats)
        else:
            columns = np.arange(flat.shape[1]) if missable is None else np.flatnonzero(missable.reshape(-1))
        hit = rng.random((n, columns.size)) < severity
        if kind == "missing":
            sub = flat[:, columns]
            sub[hit] = np.nan
            flat[:, columns] = sub
            return flat.reshape(out.shape)
        refflat = ref.reshape(ref.shape[0], -1)
        for k, j in enumerate(columns):
            values, counts = np.unique(refflat[~np.isnan(refflat[:, j]), j], return_counts=True)
            if values.size < 2:
                continue
            order = values[np.argsort(-counts, kind="mergesort")]  # most frequent first
            rank = {v: i for i, v in enumerate(order.tolist())}
            col = flat[:, j]
            idx = np.flatnonzero(hit[:, k] & ~np.isnan(col))
            nxt = [order[(rank.get(v, -1) + 1) % order.size] for v in col[idx].tolist()]
            col[idx] = nxt
        return flat.reshape(out.shape)
    lo, hi = float(np.nanmin(ref)), float(np.nanmax(ref))
    span = hi - lo if hi > lo else 1.0
    if kind == "noise":
        out += rng.standard_normal(out.shape) * severity * span
    elif kind == "blur":
        sigma = [0.0] * out.ndim
        for ax in spatial_axes:
            sigma[ax] = severity
        out = ndimage.gaussian_filter(out, sigma=sigma, mode="nearest")
    elif kind == "brightness":
        out += severity * span
    elif kind == "contrast":
        axes = tuple(range(1, out.ndim))
        mean = out.mean(axis=axes, keepdims=True)
        out = mean + severity * (out - mean)
    elif kind == "quantise":
        levels = int(severity)
        out = lo + np.round((out - lo) / span * (levels - 1)) / (levels - 1) * span
    else:
        raise ValueError(f"unknown perturbation {kind!r}")
    return np.clip(out, lo, hi)


@dataclass(frozen=True)
class FlipEstimate:
    """A flip rate (share of rows whose decision changed) with its Wilson interval and counts."""

    value: float
    ci_low: float
    ci_high: float
    flips: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "flips": self.flips, "n": self.n}


@dataclass(frozen=True)
class KindResult:
    """One perturbation kind at one severity (``level`` 1–5, ``severity`` its parameter)."""

    kind: str
    level: int
    severity: float
    flip_rate: FlipEstimate
    score_shift: tuple[float, float, float]
    groups: Mapping[str, Mapping[str, FlipEstimate]] = field(default_factory=dict)
    disparity: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        value, low, high = self.score_shift
        return {"kind": self.kind, "level": self.level, "severity": self.severity,
                "flip_rate": self.flip_rate.to_dict(),
                "score_shift": {"value": value, "ci_low": low, "ci_high": high},
                "groups": {a: {g: e.to_dict() for g, e in gs.items()} for a, gs in self.groups.items()},
                "disparity": {a: dict(d) for a, d in self.disparity.items()}}


@dataclass(frozen=True)
class RobustnessResult:
    """Every (kind, level) result, the policy level, and the most fragile rows."""

    n: int
    confidence: float
    policy_level: int
    results: tuple[KindResult, ...]
    fragile_rows: tuple[tuple[int, float], ...]
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def max_flip_rate(self) -> float:
        """The highest flip rate over kinds at ``policy_level`` (the policy's ``max_flip_rate``)."""
        return max((r.flip_rate.value for r in self.results if r.level == self.policy_level), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "confidence": self.confidence, "policy_level": self.policy_level,
                "max_flip_rate": self.max_flip_rate, "results": [r.to_dict() for r in self.results],
                "fragile_rows": [{"row": i, "mean_score_shift": s} for i, s in self.fragile_rows],
                "skipped": dict(self.skipped)}


def _shift(base: np.ndarray, moved: np.ndarray, positive: int | None) -> np.ndarray:
    if base.shape[1] == 1:  # regression
        return np.abs(moved[:, 0] - base[:, 0])
    if positive is not None:
        return np.abs(moved[:, positive] - base[:, positive])
    return 0.5 * np.abs(moved - base).sum(axis=1)


def _mean_interval(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(_st.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, max(0.0, m - half), m + half


def _disparity(flips: np.ndarray, labels: np.ndarray, confidence: float) -> dict[str, Any]:
    names = [g for g in np.unique(labels.astype(str))]
    k = np.array([flips[labels == g].sum() for g in names], dtype=np.float64)
    n = np.array([(labels == g).sum() for g in names], dtype=np.float64)
    if len(names) < 2:
        return {"test": None, "p_value": None}
    table = np.stack([k, n - k])
    if len(names) == 2:
        p = float(_st.fisher_exact(table.T)[1])
        test = "fisher_exact"
    elif table.sum(axis=1).min() == 0:
        p, test = 1.0, "chi2_homogeneity"
    else:
        p = float(_st.chi2_contingency(table, correction=False)[1])
        test = "chi2_homogeneity"
    rates = k / n
    hi, lo = int(np.argmax(rates)), int(np.argmin(rates))
    gl, gh = newcombe_difference(k[hi:hi + 1], n[hi:hi + 1], k[lo:lo + 1], n[lo:lo + 1], confidence)
    return {"test": test, "p_value": p, "most_flipped": names[hi], "least_flipped": names[lo],
            "gap": {"value": float(rates[hi] - rates[lo]), "ci_low": float(gl[0]), "ci_high": float(gh[0])}}


def robustness(predict: Callable[[np.ndarray], np.ndarray], decide: Callable[[np.ndarray], np.ndarray],
               rows: np.ndarray, *, kinds: Sequence[str], rng_for: Callable[[str, int], np.random.Generator],
               categorical: np.ndarray | None = None, reference: np.ndarray | None = None,
               spatial_axes: tuple[int, ...] = (), groups: Mapping[str, np.ndarray] | None = None,
               positive_index: int | None = None, confidence: float = 0.95, policy_level: int = 3,
               top_rows: int = 10, row_ids: np.ndarray | None = None,
               missable: np.ndarray | None = None,
               perturb_rows: Callable[[str, float, np.random.Generator], np.ndarray] | None = None) -> RobustnessResult:
    """Perturb ``rows`` by every kind at the five severities and measure flips (see the module docstring).

    ``predict(rows) -> (n, k)`` scores (the Evaluator), ``decide(scores) -> (n,)`` decisions;
    ``rng_for(kind, level)`` the random stream of one (kind, level), so results do not depend
    on which other kinds ran. ``groups``: {attribute: (n,) labels} for per-group flip rates;
    ``missable``: the features ``missing`` may set missing (see :func:`perturb`).
    ``perturb_rows(kind, severity, rng) -> (n, *row_shape)``: the perturbed ``rows`` when they
    are not perturbed in feature space (text: the raw strings edited and re-encoded); by
    default :func:`perturb`.
    """
    base = predict(rows)
    base_decision = decide(base)
    n = rows.shape[0]
    shifts_sum = np.zeros(n)
    count = 0
    out: list[KindResult] = []
    for kind in kinds:
        for level, severity in enumerate(SEVERITIES[kind], start=1):
            if perturb_rows is not None:
                moved_rows = perturb_rows(kind, float(severity), rng_for(kind, level))
            else:
                moved_rows = perturb(kind, rows, severity, rng_for(kind, level), categorical=categorical,
                                     reference=reference, spatial_axes=spatial_axes, missable=missable)
            moved = predict(moved_rows)
            flips = decide(moved) != base_decision
            k = int(flips.sum())
            low, high = wilson(k, n, confidence)
            shift = _shift(base, moved, positive_index)
            shifts_sum += shift
            count += 1
            per_group: dict[str, dict[str, FlipEstimate]] = {}
            disparity: dict[str, dict[str, Any]] = {}
            for attr, labels in (groups or {}).items():
                labels = np.asarray(labels).astype(str)
                per_group[attr] = {}
                for g in np.unique(labels):
                    m = labels == g
                    gk, gn = int(flips[m].sum()), int(m.sum())
                    gl, gh = wilson(gk, gn, confidence)
                    per_group[attr][str(g)] = FlipEstimate(gk / gn, float(gl), float(gh), gk, gn)
                disparity[attr] = _disparity(flips, labels, confidence)
            out.append(KindResult(kind, level, float(severity), FlipEstimate(k / n, float(low), float(high), k, n),
                                  _mean_interval(shift, confidence), per_group, disparity))
    mean_shift = shifts_sum / max(count, 1)
    ids = np.arange(n) if row_ids is None else np.asarray(row_ids)
    order = np.argsort(-mean_shift, kind="mergesort")[:top_rows]
    return RobustnessResult(n, confidence, policy_level, tuple(out),
                            tuple((int(ids[i]), float(mean_shift[i])) for i in order))


def flip_rate_expected_linear(rows: np.ndarray, w: np.ndarray, b: float, sigma: np.ndarray) -> float:
    """Closed form for a linear decision ``x·w + b ≥ 0`` under independent Gaussian jitter N(0, σ_j²):
    row i flips with probability Φ(−|x_i·w + b| / sqrt(Σ w_j² σ_j²)); the expected flip rate is their mean."""
    margin = rows @ w + b
    tau = float(np.sqrt(np.sum((w * sigma) ** 2)))
    return float(np.mean(_st.norm.cdf(-np.abs(margin) / tau)))
