"""The ``performance`` section as a typed record (mirrors ``schema/performance.schema.json``).

``result.performance.metrics["roc_auc"]`` is an :class:`~audit_engine.stats.Estimate`
(value with its interval: closed form for accuracy, balanced accuracy, log loss and Brier,
a bootstrap for the others; :mod:`audit_engine.performance`); ``to_frame()`` is the metric table
(``metric``, ``value``, ``ci_low``, ``ci_high``; per-class rows carry their ``class``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..stats import Estimate
from ..suggest import unknown_key
from .record import Record, record

__all__ = ["Calibration", "ConfusionMatrix", "PerformanceResult", "Streaming", "StreamingAUC", "MIN_BIN_ROWS"]

MIN_BIN_ROWS = 10  # a calibration bin with fewer rows is shown, marked, and not drawn as a reliable point


@record
class Calibration(Record):
    """Reliability diagram data: per equal-width bin (``bins`` holds the b + 1 edges), the mean
    predicted probability, the observed rate (NaN in an empty bin) and the rows (``count``)."""

    what: str | None = None
    bins: tuple[float, ...]
    mean_predicted: tuple[float, ...]
    observed: tuple[float, ...]
    count: tuple[int, ...]

    def reliable(self, min_rows: int = MIN_BIN_ROWS) -> tuple[bool, ...]:
        """Per bin, True when it holds at least ``min_rows`` rows."""
        return tuple(c >= min_rows for c in self.count)


@record
class ConfusionMatrix(Record):
    """Counts: ``rows_true_columns_predicted[i][j]`` rows of true class ``labels[i]`` predicted ``labels[j]``."""

    labels: tuple[str, ...]
    rows_true_columns_predicted: tuple[tuple[int, ...], ...]


@record
class StreamingAUC(Record):
    """How a streamed ROC AUC was computed: ``exact`` (the scores fit) or from a ``histogram`` of
    ``bins`` score bins, off the exact AUC by at most ``error_bound``."""

    method: str
    bins: int | None
    error_bound: float | None
    interval: str | None = None


@record
class Streaming(Record):
    """How the intervals were drawn and how the AUC was computed (every source; the name is historical)."""

    intervals: str
    auc: StreamingAUC | None = None


@record
class PerformanceResult(Record):
    """``performance``: metrics on the audited data, each with an interval (methods: :mod:`audit_engine.performance`).

    ``positive_label`` / ``threshold`` are set for binary classifiers (None otherwise);
    ``per_class`` (multiclass) maps a class label to its precision, recall, F1 and AUC.
    """

    task: str
    n: int
    positive_label: Any
    threshold: float | None
    n_bootstrap: int
    confidence: float
    metrics: Mapping[str, Estimate]
    per_class: Mapping[str, Mapping[str, Estimate]] | None = None
    calibration: Calibration | None = None
    confusion_matrix: ConfusionMatrix | None = None
    streaming: Streaming | None = None

    def to_frame(self) -> Any:
        """One row per metric (``metric``, ``value``, ``ci_low``, ``ci_high``; ``class`` is None for
        the overall metrics and the class label for per-class ones)."""
        import pandas as pd

        rows = [{"metric": k, "class": None, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
                for k, e in self.metrics.items()]
        for label, metrics in (self.per_class or {}).items():
            rows += [{"metric": k, "class": label, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
                     for k, e in metrics.items()]
        return pd.DataFrame(rows, columns=["metric", "class", "value", "ci_low", "ci_high"])

    def __getitem__(self, metric: str) -> Estimate:
        """``performance["roc_auc"]`` is ``performance.metrics["roc_auc"]``; an unknown name raises
        :class:`~audit_engine.errors.UnknownKeyError` (a KeyError) with the names it probably meant."""
        try:
            return self.metrics[metric]
        except KeyError:
            raise unknown_key(metric, self.metrics, "performance.metrics") from None

    def value(self, metric: str) -> float:
        """The point value of ``metric`` (NaN when absent)."""
        est = self.metrics.get(metric)
        return math.nan if est is None else est.value
