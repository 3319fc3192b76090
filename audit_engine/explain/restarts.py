"""Restarts: a wrapper that runs any Explainer at several seeds (captum's noise tunnel idea).

``Restarts(get_explainer("lime"), n=5).explain(evaluator, rows, targets=t, seed=s)`` runs
the method at seeds ``s + 1 … s + n`` (an int seed; a Generator is drawn from once, up
front) and returns the mean attribution over the restarts with a Student-t interval over
them: the spread that comes from the method's own randomness alone. The values of every
restart, ``(n, n_rows, *row_shape)``, are in ``attr.wrapped["restarts"]`` (the audit's
rank stability compares each with the audit seed's attributions). Deterministic methods
give zero-width intervals.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError
from ._common import mean_interval
from .attribution import Attribution
from .protocol import Explainer, Rows, Seed, seed_entropy

__all__ = ["Restarts"]


class Restarts:
    """Explainer wrapper: ``n`` restarts of ``base`` at seeds ``seed + 1 … seed + n``.

    The restarts' seeds are offsets of the caller's, so restart k of row i draws from the
    stream keyed by (seed + k, method, i): independent of the other rows and of call order.
    """

    def __init__(self, base: Explainer, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 1:
            raise ConfigError(f"The number of restarts must be an int >= 1; got {n!r}.")
        self.base = base
        self.n = int(n)
        self.name = base.name
        self.random = base.random

    def settings(self, space: FeatureSpace, params: Any = None) -> Any:
        return self.base.settings(space, params)

    def explain(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: Seed = 0, params: Any = None,
                confidence: float = 0.95, interval_targets: int | None = None) -> Attribution:
        """Mean over the restarts ``(n_rows, ...)``, Student-t interval over them; ``interval_targets``
        is passed on (the restarts' own intervals are not used)."""
        base_seed = seed_entropy(seed)
        runs = [self.base.explain(evaluator, rows, targets=targets, seed=base_seed + k, params=params,
                                  confidence=confidence, interval_targets=0)
                for k in range(1, self.n + 1)]
        stacked = np.stack([r.stacked() for r in runs])  # (n, t, m, ...)
        mean, lo, hi = mean_interval(stacked, axis=0, confidence=confidence)
        if interval_targets is not None:
            lo[interval_targets:], hi[interval_targets:] = np.nan, np.nan
        first = runs[0]
        params_record = dataclasses.replace(first.params, interval=f"student_t over {self.n} restarts",
                                            seed=None if isinstance(seed, np.random.Generator) else int(seed))
        per_target = [a.replace(values=mean[j], ci_low=lo[j], ci_high=hi[j], params=params_record, alternatives=(),
                                wrapped={**a.wrapped, "restarts": stacked[:, j]})
                      for j, a in enumerate((first, *first.alternatives))]
        return per_target[0].replace(alternatives=tuple(per_target[1:]))
