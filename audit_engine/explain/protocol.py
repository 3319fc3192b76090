"""The :class:`Explainer` protocol: one call shape for every explanation method.

Captum's lesson: the model goes to the evaluator, the data to one method whose argument
names are the same for every algorithm, and one result type comes out::

    explainer = get_explainer("lime")
    attr = explainer.explain(evaluator, Rows.select(x_all, [3, 5]), targets=targets, seed=0,
                             params={"n_samples": 2000})
    attr.values, attr.ci_low, attr.ci_high, attr.params, attr.alternatives

Wrappers (:class:`~.restarts.Restarts`, :class:`~.sanity.RandomisationCheck`) take any
Explainer and are Explainers themselves, so they compose.

Randomness (:func:`seed_entropy`): a numpy Generator is drawn from once, up front, and
every random stream is then a child keyed by (method, row index), never by call order;
an int seed is used as it is. So row 5's attribution is the same whether or not row 3 is
explained in the same call, for int seeds and Generators alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError
from .attribution import Attribution

__all__ = ["Explainer", "Rows", "Seed", "seed_entropy", "recorded_seed"]

Seed = int | np.random.Generator
"""An int, or a numpy Generator drawn from once per call (:func:`seed_entropy`)."""


def seed_entropy(seed: Seed | None) -> int:
    """The int every stream of one call derives from: the seed itself, or one draw from a Generator.

    Drawing once up front (not once per row or per stream) makes the streams depend on
    (seed, method, row index) only, never on how many rows or streams came before.
    """
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if seed is None:
        return 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"'seed' must be an int or a numpy Generator; got {type(seed).__name__}.")
    return int(seed)


def recorded_seed(seed: Seed | None) -> int | None:
    """The seed as ``params.seed`` records it: the int, or None for a Generator."""
    return None if isinstance(seed, np.random.Generator) or seed is None else int(seed)


@dataclass(frozen=True)
class Rows:
    """What an explainer explains.

    Attributes
    ----------
    x: ``(m, *row_shape)`` the rows, in feature space.
    ids: ``(m,)`` their indices in the data; each row's random stream is keyed by its index.
    background: ``(b, *row_shape)`` rows whose statistics drive sampling and baselines
        (LIME's sampling distribution, SmoothGrad's noise scale, occlusion's baseline).
    labels: ``(m,)`` true labels of the rows (permutation importance: class indices, or
        regression targets); None: the model's own predictions.
    """

    x: np.ndarray
    ids: np.ndarray
    background: np.ndarray
    labels: np.ndarray | None = None

    @classmethod
    def select(cls, x_all: np.ndarray, ids: Sequence[int] | np.ndarray, *, background: np.ndarray | None = None,
               labels: np.ndarray | None = None) -> Rows:
        """Rows ``ids`` of ``x_all`` (the background defaults to all of ``x_all``; ``labels``
        are per row of ``x_all``)."""
        idx = np.asarray(ids, dtype=np.intp).reshape(-1)
        bg = x_all if background is None else np.asarray(background, dtype=np.float64)
        return cls(x=x_all[idx], ids=idx, background=bg, labels=None if labels is None else np.asarray(labels)[idx])

    def head(self, k: int) -> Rows:
        """The first ``k`` rows (same background)."""
        return Rows(self.x[:k], self.ids[:k], self.background, None if self.labels is None else self.labels[:k])

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])


@runtime_checkable
class Explainer(Protocol):
    """An explanation method (or a wrapper over one).

    ``name``: the method's name (``lime``, ``smoothgrad``, ...); ``random``: whether its
    values depend on the seed. An explainer may also set ``global_ = True`` (permutation):
    one attribution for all the rows, ``(1, ...)``, for which no target class is resolved.
    """

    name: str
    random: bool

    def settings(self, space: FeatureSpace, params: Any = None) -> Any:
        """The method's frozen settings for this data from a mapping (or settings), checked."""
        ...

    def explain(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: Seed = 0,
                params: Any = None, confidence: float = 0.95,
                interval_targets: int | None = None) -> Attribution:
        """Attributions of ``rows`` for ``targets`` ``(m,)`` or ``(m, t)`` (class indices; 0
        for regression): the first column in the Attribution, the others in its
        ``alternatives``. ``params``: the method's settings or a mapping of them.
        ``interval_targets``: intervals for the first this many target columns only, NaN
        for the others (None: all; the audit reads the predicted class's only)."""
        ...

