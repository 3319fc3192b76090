"""Data detectors fitted on reference (in-distribution) rows; they never call the model.

Each detector follows the shape of alibi-detect's outlier detectors:

``fit(reference) -> self``
    learn from reference rows ``(n, *row_shape)`` (images are flattened).
``score(rows) -> (n,)``
    **higher = more out of distribution**.
``infer_threshold(rows, *, fpr=0.05) -> float``
    the score above which a fraction ``fpr`` of ``rows`` (in-distribution rows the
    detector was *not* fitted on) would be flagged; stored as ``threshold_``.
``predict(rows) -> (n,) bool``
    ``score(rows) > threshold_``.

Using any of them before ``fit`` raises :class:`~audit_engine.errors.NotFittedError`.

- :class:`Mahalanobis` — distance to the reference mean under the reference covariance
  (Mahalanobis 1936; Lee et al. 2018 use it on features). With fewer rows than
  dimensions, or a singular covariance, ``covariance="auto"`` falls back to Ledoit–Wolf
  shrinkage (said in ``fallback_``); ``covariance="empirical"`` refuses instead.
- :class:`KNNDistance` — distance to the k-th nearest reference row in standardised
  features (Sun, Ming, Zhu & Li 2022).
- :class:`IsolationForestDetector` — scikit-learn's IsolationForest (Liu, Ting & Zhou
  2008), score = ``−score_samples`` (the path-length anomaly score).

Categorical features (``categorical_mask``) are one-hot encoded with the categories seen
in ``fit``; numeric features are standardised by the reference mean and standard
deviation (constant features keep scale 1) for kNN and IsolationForest.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidValueError, NotFittedError, SchemaMismatchError
from ..params import invalid

__all__ = ["Detector", "Mahalanobis", "KNNDistance", "IsolationForestDetector", "DETECTORS", "make_detector"]

logger = logging.getLogger(__name__)


class Detector:
    """Base class: the shared encoding, threshold and fitted-state checks."""

    name = "detector"

    def __init__(self, *, categorical_mask: np.ndarray | None = None) -> None:
        self.categorical_mask = None if categorical_mask is None else np.asarray(categorical_mask, dtype=bool)
        self.threshold_: float | None = None
        self._row_shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ encoding
    def _flat(self, rows: np.ndarray, *, fitting: bool = False) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim < 2:
            raise SchemaMismatchError(
                f"{type(self).__name__} expects rows of shape (n, ...) ; got an array of shape {list(rows.shape)}."
            )
        if fitting:
            self._row_shape = tuple(rows.shape[1:])
        elif self._row_shape is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(reference) first.")
        elif tuple(rows.shape[1:]) != self._row_shape:
            raise SchemaMismatchError(
                f"{type(self).__name__} was fitted on rows of shape {list(self._row_shape)}; got rows of shape "
                f"{list(rows.shape[1:])}; score data with the same features as the reference."
            )
        if not np.all(np.isfinite(rows)):
            raise InvalidValueError(f"{type(self).__name__} got NaN/inf values; fill or drop them first.")
        flat = rows.reshape(rows.shape[0], -1)
        mask = self.categorical_mask
        if mask is None or not mask.any():
            return flat
        if mask.shape != (flat.shape[1],):
            raise SchemaMismatchError(
                f"categorical_mask has {mask.size} entries; the rows have {flat.shape[1]} features."
            )
        if fitting:
            self._n_codes = [int(flat[:, j].max()) + 1 for j in np.flatnonzero(mask)]
        onehots = [
            (flat[:, j, None] == np.arange(k)[None, :]).astype(np.float64)
            for j, k in zip(np.flatnonzero(mask), self._n_codes, strict=True)
        ]
        return np.hstack([flat[:, ~mask], *onehots])

    def _standardise(self, x: np.ndarray, *, fitting: bool = False) -> np.ndarray:
        if fitting:
            self._mean = x.mean(axis=0)
            sd = x.std(axis=0)
            self._sd = np.where(sd > 0, sd, 1.0)
        return (x - self._mean) / self._sd

    # ------------------------------------------------------------------ contract
    def fit(self, reference: np.ndarray) -> Detector:  # pragma: no cover - overridden
        raise NotImplementedError

    def score(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def infer_threshold(self, rows: np.ndarray, *, fpr: float = 0.05) -> float:
        """Set ``threshold_`` to the ``1 − fpr`` quantile of ``score(rows)`` and return it.

        ``rows`` should be in-distribution rows the detector was not fitted on (a
        distance to the fitted rows themselves is biased low).
        """
        if not 0.0 < float(fpr) < 1.0:
            raise ConfigError(invalid("fpr", "infer_threshold", "a number in the range (0, 1)", fpr))
        self.threshold_ = float(np.quantile(self.score(rows), 1.0 - float(fpr)))
        return self.threshold_

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: ``score(rows) > threshold_``."""
        if self.threshold_ is None:
            raise NotFittedError(f"{type(self).__name__} has no threshold yet; call infer_threshold(rows) first.")
        return self.score(rows) > self.threshold_

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold_}


class Mahalanobis(Detector):
    """Mahalanobis distance ``sqrt((x − μ)ᵀ Σ⁻¹ (x − μ))`` to the reference; higher = more OOD.

    Parameters
    ----------
    covariance: ``"auto"`` (empirical when the reference has more rows than dimensions
        and a well-conditioned covariance, else Ledoit–Wolf shrinkage), ``"empirical"``
        (refuse otherwise) or ``"ledoit_wolf"``.
    categorical_mask: (d,) bool, categorical codes one-hot encoded.

    Attributes
    ----------
    mean_ (p,), precision_ (p, p): the fitted location and inverse covariance.
    covariance_used_: ``"empirical"`` or ``"ledoit_wolf"``; fallback_: why it fell back, or None.
    """

    name = "mahalanobis"
    _MAX_CONDITION = 1e10

    def __init__(self, *, covariance: str = "auto", categorical_mask: np.ndarray | None = None) -> None:
        super().__init__(categorical_mask=categorical_mask)
        if covariance not in ("auto", "empirical", "ledoit_wolf"):
            raise ConfigError(invalid("covariance", "Mahalanobis", "one of 'auto', 'empirical', 'ledoit_wolf'", covariance))
        self.covariance = covariance
        self.mean_: np.ndarray | None = None
        self.precision_: np.ndarray | None = None
        self.covariance_used_: str | None = None
        self.fallback_: str | None = None

    def fit(self, reference: np.ndarray) -> Mahalanobis:
        x = self._flat(reference, fitting=True)
        n, p = x.shape
        if n < 2:
            raise InvalidValueError(f"Mahalanobis needs at least 2 reference rows; got {n}.")
        reason = None
        if n <= p:
            reason = f"the reference has {n} rows for {p} dimensions, so its covariance is singular"
        else:
            cov = np.cov(x, rowvar=False)
            cond = np.linalg.cond(cov) if p else 1.0
            if not np.isfinite(cond) or cond > self._MAX_CONDITION:
                reason = f"the reference covariance is singular or ill-conditioned (condition number {cond:.3g})"
        if self.covariance == "empirical" and reason:
            raise InvalidValueError(
                f"Mahalanobis with covariance='empirical' cannot be fitted: {reason}; pass more reference rows "
                "than features, or use covariance='ledoit_wolf'."
            )
        use_lw = self.covariance == "ledoit_wolf" or (self.covariance == "auto" and reason is not None)
        self.mean_ = x.mean(axis=0)
        if use_lw:
            from sklearn.covariance import LedoitWolf

            lw = LedoitWolf(assume_centered=False).fit(x)
            self.precision_ = lw.precision_
            self.covariance_used_ = "ledoit_wolf"
            self.fallback_ = None if self.covariance == "ledoit_wolf" else f"{reason}; used Ledoit-Wolf shrinkage"
            if self.fallback_:
                logger.info("Mahalanobis: %s", self.fallback_)
        else:
            self.precision_ = np.linalg.inv(cov)
            self.covariance_used_ = "empirical"
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self.precision_ is None:
            raise NotFittedError("This Mahalanobis detector is not fitted yet; call fit(reference) first.")
        diff = self._flat(rows) - self.mean_
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, self.precision_, diff), 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold_, "covariance": self.covariance_used_, "fallback": self.fallback_}


class KNNDistance(Detector):
    """Euclidean distance to the k-th nearest reference row (standardised); higher = more OOD."""

    name = "knn"

    def __init__(self, *, k: int = 5, categorical_mask: np.ndarray | None = None) -> None:
        super().__init__(categorical_mask=categorical_mask)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(invalid("k", "KNNDistance", "an int in the range [1, inf)", k))
        self.k = int(k)
        self._nn: Any = None

    def fit(self, reference: np.ndarray) -> KNNDistance:
        from sklearn.neighbors import NearestNeighbors

        x = self._standardise(self._flat(reference, fitting=True), fitting=True)
        if x.shape[0] < self.k:
            raise InvalidValueError(
                f"KNNDistance with k={self.k} needs at least {self.k} reference rows; got {x.shape[0]}; lower k."
            )
        self._nn = NearestNeighbors(n_neighbors=self.k).fit(x)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self._nn is None:
            raise NotFittedError("This KNNDistance detector is not fitted yet; call fit(reference) first.")
        dist, _ = self._nn.kneighbors(self._standardise(self._flat(rows)), n_neighbors=self.k)
        return dist[:, -1]

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold_, "k": self.k}


class IsolationForestDetector(Detector):
    """scikit-learn IsolationForest; score = ``−score_samples`` (higher = more OOD)."""

    name = "iforest"

    def __init__(self, *, n_estimators: int = 100, seed: int | np.random.Generator | None = 0,
                 categorical_mask: np.ndarray | None = None) -> None:
        super().__init__(categorical_mask=categorical_mask)
        self.n_estimators = int(n_estimators)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._random_state = int(rng.integers(0, 2**31 - 1))
        self._forest: Any = None

    def fit(self, reference: np.ndarray) -> IsolationForestDetector:
        from sklearn.ensemble import IsolationForest

        x = self._standardise(self._flat(reference, fitting=True), fitting=True)
        self._forest = IsolationForest(n_estimators=self.n_estimators, random_state=self._random_state).fit(x)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self._forest is None:
            raise NotFittedError("This IsolationForestDetector is not fitted yet; call fit(reference) first.")
        return -self._forest.score_samples(self._standardise(self._flat(rows)))

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold_, "n_estimators": self.n_estimators}


DETECTORS = {"mahalanobis": Mahalanobis, "knn": KNNDistance, "iforest": IsolationForestDetector}


def make_detector(name: str, *, categorical_mask: np.ndarray | None = None, knn_k: int = 5,
                  iforest_trees: int = 100, covariance: str = "auto",
                  seed: int | np.random.Generator | None = 0) -> Detector:
    """Build one detector by its audit.json name (``mahalanobis``, ``knn``, ``iforest``)."""
    if name == "mahalanobis":
        return Mahalanobis(covariance=covariance, categorical_mask=categorical_mask)
    if name == "knn":
        return KNNDistance(k=knn_k, categorical_mask=categorical_mask)
    if name == "iforest":
        return IsolationForestDetector(n_estimators=iforest_trees, seed=seed, categorical_mask=categorical_mask)
    raise ConfigError(f"Unknown detector {name!r}; use one of: {', '.join(DETECTORS)}.")
