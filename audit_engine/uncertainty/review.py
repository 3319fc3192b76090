"""The review queue: the rows that most need a human look (uncertainty sampling; Lewis & Gale 1994).

Each signal (epistemic uncertainty, committee disagreement, an OOD score, ...) is turned
into a percentile rank within the audited rows (ties averaged), the ranks are averaged
across signals, and the rows with the highest mean rank come first. Each entry names the
signal that ranks it highest (``reason``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = ["review_queue"]


def review_queue(
    signals: dict[str, np.ndarray],
    *,
    k: int = 10,
    predictions: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    labels: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Top-``k`` rows by mean percentile rank of ``signals`` (each ``(n,)``, higher = needs review).

    Returns entries ``{row, priority, reason, prediction, confidence, signals{name: value}}``
    in decreasing priority; ``priority`` is the mean percentile rank in [0, 1].
    """
    if not signals or k <= 0:
        return []
    names = list(signals)
    values = np.stack([np.asarray(signals[s], dtype=np.float64) for s in names])  # (s, n)
    n = values.shape[1]
    ranks = rankdata(values, axis=1) / n
    priority = ranks.mean(axis=0)
    order = np.lexsort((np.arange(n), -priority))[:k]
    out = []
    for i in order:
        entry: dict[str, Any] = {
            "row": int(i),
            "priority": float(priority[i]),
            "reason": names[int(ranks[:, i].argmax())],
            "signals": {s: float(values[j, i]) for j, s in enumerate(names)},
        }
        if predictions is not None:
            pred = int(predictions[i])
            label = labels[pred] if labels else pred
            entry["prediction"] = label.item() if isinstance(label, np.generic) else label
        if confidence is not None:
            entry["confidence"] = float(confidence[i])
        out.append(entry)
    return out
