"""Committee of model versions on the same rows (query by committee; Seung, Opper & Sompolinsky 1992).

Every member is bound to the same data by :func:`audit_engine.bind.bind` (its own
FeatureSpace, the same guards) and scored through its own LocalEvaluator (so each call is counted). Members must be classifiers with the same
number of classes, in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..bind import bind
from ..data.loader import AuditData
from ..errors import ConfigError, SchemaMismatchError
from ..evaluator.base import EvaluationStats
from ..evaluator.local import DEFAULT_CHUNK_BYTES
from ..model.loader import OnnxModel

__all__ = ["committee_probabilities"]


def committee_probabilities(
    members: Sequence[OnnxModel | str | os.PathLike[str]],
    data: AuditData,
    *,
    features: Sequence[str] | None = None,
    provider: str = "auto",
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[np.ndarray, list[str], EvaluationStats]:
    """Probabilities of every member on ``data``: ``(M, n, k)``, member names, summed call stats."""
    if len(members) < 2:
        raise ConfigError(f"A committee needs at least 2 models; got {len(members)}; list more in uncertainty.models.")
    probs, names = [], []
    stats = EvaluationStats()
    classes: list[Any] | None = None
    for member in members:
        bound = bind(member, data, features=features, provider=provider, max_chunk_bytes=max_chunk_bytes)
        model, rows, evaluator = bound.model, bound.rows, bound.evaluator
        if evaluator.task != "classification":
            raise ConfigError(f"Committee member {model.path!r} is a regression model; a committee needs classifiers.")
        p = evaluator.predict(rows)
        if classes is not None and [str(c) for c in evaluator.classes or []] != [str(c) for c in classes]:
            raise SchemaMismatchError(
                f"Committee member {model.path!r} has classes {evaluator.classes}; the first member has {classes}; "
                "every member must predict the same classes in the same order."
            )
        classes = list(evaluator.classes or [])
        probs.append(p)
        names.append(os.path.basename(model.path))
        stats.add(evaluator.stats)
    return np.stack(probs), names, stats
