"""The result type of every explanation method: :class:`Attribution`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..result import to_jsonable
from ..results.explanations import MethodParams

__all__ = ["Attribution"]


@dataclass(frozen=True)
class Attribution:
    """Attributions of the explained rows, with a confidence interval on each value.

    Attributes
    ----------
    values: float64 ``(n_rows, n_features)`` for tabular data, ``(n_rows, *row_shape)``
        for images (per-superpixel / per-patch weights are painted back onto the pixels
        they cover). Positive = the feature pushes the explained score (the probability
        of ``targets[i]``, or the regression value) up. Permutation importance is global:
        ``(1, n_features)``, the increase of the loss when the feature is permuted.
    feature_names: the ``n_features`` names (``space.feature_names``).
    ci_low, ci_high: same shape as ``values``; the confidence interval from independent
        sampling rounds (bootstrap-t over noise / background draws, Student-t over folds
        or repeats: ``params["interval"]``). Deterministic methods (``params["interval"] ==
        "exact"``) get only the float32 round-off bound ``params["roundoff_bound"]``;
        finite-difference intervals are widened by it too, so a value below the output's
        resolution never excludes zero (``params["saturated_rows"]``: rows whose every
        difference was below it).
    method: ``lime``, ``smoothgrad``, ``occlusion``, ``permutation``, ``pathwise`` or ``attention``.
    params: the parameters used (seed, n_samples, interval, ...): the method's typed record
        of ``explanations.<method>.params`` in audit.json (``LimeParams``, ...), readable as
        ``params.n_samples`` or ``params["n_samples"]``.
    rows: ``(n_rows,)`` indices of the explained rows in the data (permutation: ``[-1]``).
    targets: ``(n_rows,)`` class index each row was explained for (0 for regression;
        permutation: ``[-1]``).
    alternatives: the same rows explained for further target columns (e.g. the runner-up
        class), from the same perturbations; each an Attribution without alternatives.
    settings: the method's frozen settings it ran with (:mod:`.settings`).
    detail: the method's own richer result where it has one (pathwise:
        :class:`~.pathwise.PathwiseExplanation`; attention: ``AttentionExplanation``).
    wrapped: what wrappers added, by wrapper name (``restarts``: the values of every
        restart ``(k, n_rows, ...)``; ``sanity``: the randomisation cascade's result).
    classes: the model's class labels in output-column order (``classes[targets[i]]`` is the
        class row i was explained for), None for regression or when unknown.
    """

    values: np.ndarray
    feature_names: list[str]
    ci_low: np.ndarray
    ci_high: np.ndarray
    method: str
    params: MethodParams = field(default_factory=MethodParams)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    alternatives: tuple[Attribution, ...] = ()
    settings: Any = None
    detail: Any = None
    wrapped: Mapping[str, Any] = field(default_factory=dict)
    classes: tuple[Any, ...] | None = None

    @property
    def significant(self) -> np.ndarray:
        """Boolean mask, same shape as ``values``: the interval of the signed value excludes zero."""
        return (self.ci_low > 0) | (self.ci_high < 0)

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def flat(self) -> np.ndarray:
        """``values`` as ``(n_rows, n_features)`` (images flattened)."""
        return self.values.reshape(self.values.shape[0], -1)

    def stacked(self, name: str = "values") -> np.ndarray:
        """``values`` (or ``ci_low`` / ``ci_high``) of every target column: ``(t, n_rows, ...)``."""
        return np.stack([getattr(a, name) for a in (self, *self.alternatives)])

    def replace(self, **changes: Any) -> Attribution:
        """A copy with some fields changed (the Attribution is frozen)."""
        return dataclasses.replace(self, **changes)

    def _repr_html_(self) -> str:
        """A compact HTML card for notebooks (:mod:`audit_engine.report.card`)."""
        from ..report.card import card  # display is the report's job; imported on first display only

        return card(self)

    def to_frame(self) -> Any:
        """One row per (explained row, feature): ``row`` (index in the data; -1 for permutation
        importance, which is global), ``target`` (class index explained, -1 for regression),
        ``class`` (its label, None when unknown), ``feature``, ``value``, ``ci_low``,
        ``ci_high``, ``significant`` (the interval excludes 0). Images: one row per pixel,
        ``feature`` the flat pixel index."""
        import pandas as pd

        flat = self.flat()
        n, d = flat.shape
        names = list(self.feature_names) if len(self.feature_names) == d else [str(i) for i in range(d)]
        rows = np.asarray(self.rows).ravel()
        rows = rows if rows.size == n else np.full(n, -1)
        targets = np.asarray(self.targets).ravel()
        targets = targets if targets.size == n else np.full(n, -1)
        labels = [self.classes[t] if self.classes is not None and 0 <= t < len(self.classes) else None
                  for t in targets.tolist()]
        return pd.DataFrame({
            "row": np.repeat(rows, d), "target": np.repeat(targets, d),
            "class": pd.Series(np.repeat(np.asarray(labels, dtype=object), d), dtype=object),
            "feature": np.tile(np.asarray(names, dtype=object), n), "value": flat.ravel(),
            "ci_low": self.ci_low.reshape(n, d).ravel(), "ci_high": self.ci_high.reshape(n, d).ravel(),
            "significant": self.significant.reshape(n, d).ravel(),
        })

    def plot(self, row: int | None = None, *, top: int | None = 10, ax: Any = None) -> Any:
        """A bar chart with matplotlib (:func:`audit_engine.report.plots.plot_attribution`); returns the Axes."""
        from ..report.plots import plot_attribution  # matplotlib: imported when a chart is asked for

        return plot_attribution(self, row=row, top=top, ax=ax)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN becomes null)."""
        out = {
            "method": self.method,
            "feature_names": list(self.feature_names),
            "rows": np.asarray(self.rows).tolist(),
            "targets": np.asarray(self.targets).tolist(),
            "values": np.asarray(self.values).tolist(),
            "ci_low": np.asarray(self.ci_low).tolist(),
            "ci_high": np.asarray(self.ci_high).tolist(),
            "params": self.params.to_dict(),
        }
        if self.alternatives:
            out["alternatives"] = [a.to_dict() for a in self.alternatives]
        return to_jsonable(out)
