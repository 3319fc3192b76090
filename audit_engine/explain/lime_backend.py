"""``backend="lime"``: the reference ``lime`` package, called row by row on the Evaluator.

``LimeTabularExplainer(background, discretize_continuous=True, discretizer="quartile",
categorical_features=<categorical columns>)``, ``explain_instance(row, evaluator.predict,
labels=(target,), num_features=d, num_samples=n_samples)``; the weights are
``as_map()[target]``. lime gives no interval: ``ci_low``/``ci_high`` are NaN (null in JSON).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._common import Predict

__all__ = ["lime_package_tabular"]


def lime_package_tabular(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    background: np.ndarray,
    categorical: np.ndarray,
    feature_names: list[str],
    n_samples: int,
    seed: int,
    regression: bool = False,
    kernel_width: float | None = None,
) -> np.ndarray:
    """lime's weights ``(t, n, d)`` for rows ``x`` ``(n, d)`` and targets ``(n, t)``."""
    try:
        from lime.lime_tabular import LimeTabularExplainer
    except ImportError as exc:  # pragma: no cover - lime is a declared dependency of the extra
        raise ConfigError("backend='lime' needs the lime package: pip install lime.") from exc
    n, d = x.shape
    explainer = LimeTabularExplainer(
        np.asarray(background, dtype=np.float64),
        mode="regression" if regression else "classification",
        feature_names=list(feature_names),
        categorical_features=list(np.flatnonzero(categorical)),
        discretize_continuous=True,
        discretizer="quartile",
        kernel_width=kernel_width,
        random_state=seed,
    )
    fn = (lambda r: predict(r)[:, 0]) if regression else predict
    t = targets.shape[1]
    out = np.zeros((t, n, d))
    for i in range(n):  # the reference implementation explains one row at a time
        labels = tuple(int(c) for c in targets[i]) if not regression else (1,)
        exp = explainer.explain_instance(x[i], fn, labels=labels, num_features=d, num_samples=n_samples)
        for k, label in enumerate(labels):
            for j, weight in exp.as_map()[label]:
                out[k, i, j] = weight
    return out
