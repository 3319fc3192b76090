"""What a check reads: the :class:`AuditContext`, the scored :class:`Chunk` and the :class:`Tally` protocol.

A source (:mod:`audit_engine.sources`) yields the scored rows in chunks aligned to global
row indices; :func:`audit_engine.audit.prepare` labels each chunk once (true and predicted
class indices, group labels) and hands it to every check's tally. This module imports no
check, no source and no backend, so checks import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from .config import AuditConfig
from .data.labels import class_indices, label_key
from .data.loader import AuditData
from .data.space import FeatureSpace
from .errors import ConfigError
from .evaluator.base import Progress
from .evaluator.local import LocalEvaluator
from .model.loader import OnnxModel
from .stats import child_rng

__all__ = ["AuditContext", "Chunk", "Tally"]


@dataclass(frozen=True)
class Chunk:
    """Scored rows ``[start, start + m)`` of the source, labelled once for every tally.

    Attributes
    ----------
    start: global index of the first row.
    proba: ``(m, k)`` model probabilities (``(m, 1)`` values for regression).
    y: ``(m,)`` raw target values, or None (unlabelled data).
    y_index: ``(m,)`` true class indices (classification with a target), else None.
    predicted: ``(m,)`` predicted class indices (classification), else None.
    groups: ``(m, s)`` DataFrame of the sensitive attributes' group labels, or None.
    rows: ``(m, *row_shape)`` the rows in feature space when a tally needs them (shift
        tests), else None.
    """

    start: int
    proba: np.ndarray
    y: np.ndarray | None = None
    y_index: np.ndarray | None = None
    predicted: np.ndarray | None = None
    groups: Any = None
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.proba.shape[0])


class Tally(Protocol):
    """An additive summary of the rows a check needs: ``add`` one chunk (chunks arrive in row
    order), ``merge`` the tally of the rows that follow. Randomness, if any, is drawn from the
    finished tally, never per chunk, so the result does not depend on chunking or backend."""

    def add(self, chunk: Chunk) -> None: ...

    def merge(self, other: Any) -> Any: ...


@dataclass
class AuditContext:
    """Everything a check may read. Arrays are in feature space / class-index space.

    Attributes
    ----------
    rows: the audited data in feature space, (n, *row_shape) float64.
    proba: model probabilities on ``rows``, (n, n_classes); (n, 1) values for regression.
    y: raw target values (n,) or None; y_index: (n,) class indices (classification).
    positive_index: column of the positive class (binary), else None.
    predicted_index: (n,) predicted class index (binary: p(positive) >= threshold).
    reference / reference_rows, ood_data / ood_rows: optional extra datasets.
    tallies: each check's additive tally (:class:`Tally`) over every row of the source, by
        check name; a check reads its own, never the rows, for what it tallies.
    stream: the streamed source's summary, for audit.json's ``data`` block only (no check reads it).

    ``rows``, ``proba`` and ``data`` are every row for data in memory and a seeded hashed
    sample of a streamed source (identical when the sample holds every row).
    """

    model: OnnxModel
    data: AuditData
    space: FeatureSpace
    evaluator: LocalEvaluator
    config: AuditConfig
    rows: np.ndarray
    proba: np.ndarray
    reference: AuditData | None = None
    reference_rows: np.ndarray | None = None
    ood_data: AuditData | None = None
    ood_rows: np.ndarray | None = None
    progress: Progress | None = None
    tallies: Mapping[str, Any] = field(default_factory=dict)  # check name -> its tally over EVERY row
    stream: Any = None  # StreamSummary when the data was streamed (its data block); rows etc. are then a sample

    def rng(self, *keys: str | int) -> np.random.Generator:
        """A reproducible random stream for ``keys`` (e.g. ``ctx.rng("fairness", "bootstrap")``)."""
        return child_rng(self.config.seed, *keys)

    @property
    def task(self) -> str:
        return self.evaluator.task

    @property
    def classes(self) -> list[Any]:
        return list(self.evaluator.classes or [])

    @property
    def y(self) -> np.ndarray | None:
        return self.data.y

    @cached_property
    def y_index(self) -> np.ndarray | None:
        if self.data.y is None or self.task != "classification":
            return None
        return class_indices(self.data.y, self.classes, self.data.target)

    @cached_property
    def positive_index(self) -> int | None:
        if self.task != "classification" or len(self.classes) != 2:
            return None
        wanted = self.config.positive_label
        names = [str(c) for c in self.classes]
        if wanted is None:
            try:
                return int(np.argmax(np.asarray(self.classes, dtype=float)))
            except (TypeError, ValueError):
                return names.index(max(names))
        if str(wanted) not in names:
            raise ConfigError(
                f"The positive label {wanted!r} is not one of the model's classes ({', '.join(names)}); "
                "pass one of them with --positive-label."
            )
        return names.index(str(wanted))

    @cached_property
    def favorable_index(self) -> int | None:
        """Column of the declared favourable outcome (``config.favorable_label``); None when not declared."""
        wanted = self.config.favorable_label
        if wanted is None or self.task != "classification":
            return None
        names = [str(c) for c in self.classes]
        if label_key(wanted) not in names and str(wanted) not in names:
            raise ConfigError(
                f"The favourable label {wanted!r} is not one of the model's classes ({', '.join(names)}); "
                "pass one of them with --favorable-label or favorable_label in audit.toml."
            )
        return names.index(label_key(wanted) if label_key(wanted) in names else str(wanted))

    @property
    def favorable_label(self) -> Any:
        return None if self.favorable_index is None else self.classes[self.favorable_index]

    @property
    def positive_label(self) -> Any:
        return None if self.positive_index is None else self.classes[self.positive_index]

    @cached_property
    def predicted_index(self) -> np.ndarray | None:
        if self.task != "classification":
            return None
        if self.positive_index is not None:
            hit = self.proba[:, self.positive_index] >= self.config.threshold
            return np.where(hit, self.positive_index, 1 - self.positive_index)
        return self.proba.argmax(axis=1)
