"""ODIN through a black box: temperature scaling plus a small input step (Liang, Li & Srikant 2018).

ODIN moves each input a little in the direction that raises its temperature-scaled
maximum softmax score, then reads that score:

    x̃ = x − ε · sign(−∇ₓ log S_ŷ(x; T)),      S(x; T) = softmax(z(x) / T),
    score(x) = −max_c S_c(x̃; T)               (higher = more out of distribution).

In-distribution inputs gain more from the step than out-of-distribution ones, which
widens the gap. The model is a black box here, so ``∇ₓ log S_ŷ`` is taken by finite
differences through the Evaluator (:mod:`audit_engine.gradients`): central differences
for tabular rows (2·d evaluations per row; categorical codes are never moved), and the
antithetic Stein estimator for images (2·``n_samples`` evaluations per row). ``ε`` is in
units of each feature's standard deviation on the reference data (constant features
never move).

T and ε are tuned on the reference data only, never on the OOD set: the grid point that
best separates held reference rows from *pseudo-outliers* built from the same rows by
permuting every feature independently across rows (marginals kept, joint structure
broken). Ties go to the earlier grid point (smaller T, smaller ε).
"""

from __future__ import annotations

import hashlib

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

from ..errors import ConfigError, InvalidValueError, NotFittedError
from ..params import invalid
from ..explain._common import chunks
from ..gradients import central_difference, feature_steps, stein_gradient
from ..stats import weighted_auc

__all__ = ["ODIN", "odin_gradient", "odin_perturb", "DEFAULT_TEMPERATURES", "DEFAULT_EPSILONS"]

DEFAULT_TEMPERATURES = (1.0, 10.0, 100.0, 1000.0)
DEFAULT_EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1)
_GRADIENTS = ("auto", "central", "stein")


class _LogitCache:
    """Logits of the last batch, so several temperatures share one model pass.

    The finite-difference estimators build the same batch for the same rows (and the
    same noise seed); only the function of the logits changes with T.
    """

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator
        self._batch: np.ndarray | None = None
        self._logits: np.ndarray | None = None

    def __call__(self, batch: np.ndarray, key: Any = None) -> np.ndarray:
        if key is not None:  # a piece of a deterministic batch, named by its caller
            if not hasattr(self, "_pieces"):
                self._pieces: dict[Any, np.ndarray] = {}
            if key not in self._pieces:
                self._pieces[key] = np.asarray(self.evaluator.logits(batch), dtype=np.float64)
            return self._pieces[key]
        if self._batch is not None and self._batch.shape == batch.shape and np.array_equal(self._batch, batch):
            return self._logits  # type: ignore[return-value]
        self._logits = np.asarray(self.evaluator.logits(batch), dtype=np.float64)
        self._batch = batch
        return self._logits


def _resolve_gradient(evaluator: Any, gradient: str) -> str:
    if gradient not in _GRADIENTS:
        raise ConfigError(invalid("gradient", "ODIN", "one of " + ", ".join(map(repr, _GRADIENTS)), gradient))
    if gradient != "auto":
        return gradient
    space = getattr(evaluator, "space", None)
    return "stein" if space is not None and space.is_image else "central"


def _active_mask(evaluator: Any, row_shape: tuple[int, ...]) -> np.ndarray:
    space = getattr(evaluator, "space", None)
    if space is None or not space.features:
        return np.ones(row_shape, dtype=bool)
    return ~np.asarray(space.categorical_mask, dtype=bool).reshape(row_shape)


def odin_gradient(
    evaluator: Any,
    rows: np.ndarray,
    *,
    temperature: float,
    target: np.ndarray | None = None,
    gradient: str = "auto",
    steps: np.ndarray | None = None,
    sigma: float | np.ndarray | None = None,
    n_samples: int = 16,
    rng: np.random.Generator | None = None,
    cache: _LogitCache | None = None,
) -> np.ndarray:
    """Finite-difference gradient of ``log softmax(z(x) / T)[ŷ]`` at each row.

    Parameters
    ----------
    evaluator: the Evaluator (``logits(rows) -> (m, k)``).
    rows: (n, *row_shape) float64 rows in feature space.
    temperature: T.
    target: (n,) class index ŷ per row; default the predicted class at ``rows``.
    gradient: ``"central"`` (2·d evaluations per row), ``"stein"`` (2·n_samples per row)
        or ``"auto"`` (Stein for images, central otherwise).
    steps: central-difference step per feature, shape row_shape (default
        ``feature_steps(rows)``).
    sigma: Stein noise scale (default ``feature_steps(rows, relative=0.05)``).
    n_samples: Stein antithetic pairs per row.
    rng: numpy Generator for the Stein noise.

    Returns
    -------
    (n, *row_shape) gradient estimates; categorical codes get 0.
    """
    rows = np.asarray(rows, dtype=np.float64)
    n = rows.shape[0]
    cache = cache or _LogitCache(evaluator)
    if target is None:
        target = cache(rows).argmax(axis=1)
    target = np.asarray(target, dtype=np.intp)
    t = float(temperature)

    method = _resolve_gradient(evaluator, gradient)
    mask = _active_mask(evaluator, rows.shape[1:])
    d = int(np.prod(rows.shape[1:]))
    # rows go in groups whose finite-difference points fit the Evaluator's memory budget;
    # Stein noise is drawn group after group from one stream: the same draws as one batch
    per_row = 8 * d * 3 * (2 * int(mask.sum()) if method == "central" else 2 * int(n_samples))
    budget = int(getattr(evaluator, "max_chunk_bytes", 64 * 1024**2))
    h = (feature_steps(rows) if steps is None else steps) if method == "central" else None
    s = (feature_steps(rows, relative=0.05) if sigma is None else sigma) if method == "stein" else None
    noise = rng if rng is not None else np.random.default_rng(0)
    grad = np.empty_like(rows)
    for a, b in chunks(n, per_row, budget):
        tg = target[a:b]
        # the points of this group are a function of its rows and the noise stream's state
        key = (method, b - a, hashlib.blake2b(rows[a:b].tobytes(), digest_size=16).hexdigest(),
               str(noise.bit_generator.state.get("state")) if method == "stein" else None)

        def log_score(batch: np.ndarray, b: int = b, a: int = a, tg: np.ndarray = tg, key: Any = key) -> np.ndarray:
            z = cache(batch, key=key)
            per = batch.shape[0] // max(b - a, 1)  # both estimators lay the batch out row by row
            return log_softmax(z / t, axis=1)[np.arange(batch.shape[0]), np.repeat(tg, per)]

        if method == "central":
            grad[a:b] = central_difference(log_score, rows[a:b], steps=h, mask=mask)
        else:
            grad[a:b] = stein_gradient(log_score, rows[a:b], sigma=s, n_samples=int(n_samples), rng=noise)
    return grad * mask if method == "stein" else grad


def odin_perturb(rows: np.ndarray, grad: np.ndarray, *, epsilon: float, scale: np.ndarray) -> np.ndarray:
    """ODIN's input step ``x + ε·scale·sign(∇ log S_ŷ)`` (raises the max softmax score)."""
    return rows + float(epsilon) * np.asarray(scale) * np.sign(grad)


@dataclass
class ODIN:
    """ODIN detector over an Evaluator: ``fit(reference) -> self``, ``score(rows) -> (n,)``.

    Parameters
    ----------
    evaluator: the Evaluator of the audited model.
    temperatures, epsilons: the grid tuned on the reference data (one value each: no tuning).
        ε is in units of each feature's reference standard deviation.
    gradient: ``"auto"`` | ``"central"`` | ``"stein"`` (see :func:`odin_gradient`).
    n_samples: Stein antithetic pairs per row.
    tune_rows: reference rows (and as many pseudo-outliers) used to tune T and ε.
    seed: int or Generator (Stein noise, tuning sample, pseudo-outliers).

    Attributes (after fit)
    ----------------------
    temperature_, epsilon_: the chosen T and ε.
    grid_: ``[{temperature, epsilon, auroc}]`` of the tuning (AUROC against pseudo-outliers).
    """

    evaluator: Any
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES
    epsilons: Sequence[float] = DEFAULT_EPSILONS
    gradient: str = "auto"
    n_samples: int = 16
    tune_rows: int = 200
    seed: int | np.random.Generator | None = 0
    temperature_: float | None = field(default=None, init=False)
    epsilon_: float | None = field(default=None, init=False)
    grid_: list[dict[str, float]] = field(default_factory=list, init=False)
    scale_: np.ndarray | None = field(default=None, init=False, repr=False)
    steps_: np.ndarray | None = field(default=None, init=False, repr=False)
    sigma_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.temperatures = tuple(float(t) for t in self.temperatures)
        self.epsilons = tuple(float(e) for e in self.epsilons)
        if not self.temperatures or any(not np.isfinite(t) or t <= 0 for t in self.temperatures):
            raise ConfigError(f"ODIN temperatures must be positive numbers; got {list(self.temperatures)}.")
        if not self.epsilons or any(not np.isfinite(e) or e < 0 for e in self.epsilons):
            raise ConfigError(f"ODIN epsilons must be numbers >= 0; got {list(self.epsilons)}.")
        self.method_ = _resolve_gradient(self.evaluator, self.gradient)
        self._rng = np.random.default_rng(self.seed) if not isinstance(self.seed, np.random.Generator) else self.seed
        self._noise_seed = int(self._rng.integers(0, 2**63 - 1))

    # ------------------------------------------------------------------ fitting
    def fit(self, reference: np.ndarray) -> ODIN:
        """Learn feature scales from ``reference`` (n, *row_shape) and tune T, ε on it alone."""
        ref = np.asarray(reference, dtype=np.float64)
        if ref.shape[0] < 2:
            raise InvalidValueError(f"ODIN needs at least 2 reference rows to tune on; got {ref.shape[0]}.")
        std = np.nan_to_num(np.nanstd(ref, axis=0), nan=0.0) if np.isnan(ref).any() else ref.std(axis=0)
        self.scale_ = np.where(_active_mask(self.evaluator, ref.shape[1:]), std, 0.0)
        self.steps_ = feature_steps(ref)
        self.sigma_ = feature_steps(ref, relative=0.05)
        if len(self.temperatures) == 1 and len(self.epsilons) == 1:
            self.temperature_, self.epsilon_ = self.temperatures[0], self.epsilons[0]
            return self
        m = min(int(self.tune_rows), ref.shape[0])
        pick = self._rng.choice(ref.shape[0], size=m, replace=False)
        held = ref[pick]
        flat = held.reshape(m, -1)
        shuffle = np.argsort(self._rng.random(flat.shape), axis=0)  # an independent permutation per feature
        pseudo = np.take_along_axis(flat, shuffle, axis=0).reshape(held.shape)
        both = np.concatenate([held, pseudo])
        is_out = np.r_[np.zeros(m), np.ones(m)]
        cache = _LogitCache(self.evaluator)
        target = cache(both).argmax(axis=1)
        best = (-np.inf, 0)
        self.grid_ = []
        for t in self.temperatures:
            grad = self._gradient(both, t, target, cache)
            for e in self.epsilons:
                z = cache(both) if e == 0 else np.asarray(self.evaluator.logits(odin_perturb(both, grad, epsilon=e, scale=self.scale_)))
                s = -softmax(z / t, axis=1).max(axis=1)
                auc = float(weighted_auc(s, is_out, np.ones((1, 2 * m)))[0])
                self.grid_.append({"temperature": t, "epsilon": e, "auroc": auc})
                if auc > best[0] + 1e-9:
                    best = (auc, len(self.grid_) - 1)
        chosen = self.grid_[best[1]]
        self.temperature_, self.epsilon_ = chosen["temperature"], chosen["epsilon"]
        return self

    def _gradient(self, rows: np.ndarray, t: float, target: np.ndarray, cache: _LogitCache) -> np.ndarray:
        return odin_gradient(self.evaluator, rows, temperature=t, target=target, gradient=self.method_,
                             steps=self.steps_, sigma=self.sigma_, n_samples=self.n_samples,
                             rng=np.random.default_rng(self._noise_seed), cache=cache)

    # ------------------------------------------------------------------ scoring
    def score(self, rows: np.ndarray, *, logits: np.ndarray | None = None) -> np.ndarray:
        """ODIN score ``−max softmax(z(x̃) / T)``, (n,); higher = more out of distribution.

        ``logits`` (n, k) at ``rows``, when already computed, saves one model pass.
        """
        if self.temperature_ is None or self.scale_ is None:
            raise NotFittedError("This ODIN detector is not fitted yet; call fit(reference) first.")
        rows = np.asarray(rows, dtype=np.float64)
        t, e = self.temperature_, self.epsilon_ or 0.0
        z0 = np.asarray(self.evaluator.logits(rows) if logits is None else logits, dtype=np.float64)
        if e == 0:
            return -softmax(z0 / t, axis=1).max(axis=1)
        cache = _LogitCache(self.evaluator)
        grad = self._gradient(rows, t, z0.argmax(axis=1), cache)
        z = np.asarray(self.evaluator.logits(odin_perturb(rows, grad, epsilon=e, scale=self.scale_)))
        return -softmax(z / t, axis=1).max(axis=1)

    @property
    def evaluations_per_row(self) -> int:
        """Model evaluations per scored row: the gradient's, plus the perturbed row and the row itself."""
        if self.scale_ is None:
            return 0
        grad = 2 * self.n_samples if self.method_ == "stein" else 2 * int(_active_mask(self.evaluator, self.scale_.shape).sum())
        return grad + 2 if self.epsilon_ else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature_,
            "epsilon": self.epsilon_,
            "epsilon_unit": "reference standard deviation of each feature",
            "gradient": self.method_,
            "evaluations_per_row": self.evaluations_per_row,
            "tuned_on": "reference rows vs feature-permuted reference rows (never the OOD set)",
            "grid": self.grid_,
        }
