"""The performance check on streamed data: the tally's report."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..checks import CheckOutcome

__all__ = ["performance_outcome"]


def performance_outcome(ctx: Any) -> Any:
    """A CheckOutcome like :func:`audit_engine.performance.run`'s, from ``ctx.stream.performance``.

    The section adds ``streaming``: how its intervals were drawn and the AUC's method
    (``exact`` | ``histogram``) with its ``error_bound``.
    """
    cfg = ctx.config
    tally = ctx.stream.performance
    rng = ctx.rng("performance")
    if ctx.task == "regression":
        report, streaming = tally.report(n_boot=cfg.n_bootstrap, confidence=cfg.confidence)
    else:
        report, streaming = tally.report(
            classes=ctx.classes, positive_label=ctx.positive_label,
            threshold=cfg.threshold if ctx.positive_index is not None else None,
            n_boot=cfg.n_bootstrap, confidence=cfg.confidence, rng=rng,
            calibration_rng=ctx.rng("performance", "calibration"))  # the in-memory check's stream
    return CheckOutcome(dataclasses.replace(report, streaming=streaming))
