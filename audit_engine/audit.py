"""Run the configured checks on one model and one dataset and apply the policy.

Each check is a module with ``DEFAULTS`` (its parameters), ``applies(ctx) -> str | None``
(None when it can run, else the reason it is skipped) and ``run(ctx) -> CheckOutcome``.
Checks only read the :class:`AuditContext`; every model call goes through
``ctx.evaluator``. Each check draws randomness from ``ctx.rng(<its name>, ...)``, a stream
that does not depend on which other checks ran.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import importlib
import logging
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import __version__
from .checks import CheckOutcome
from .config import CHECK_NAMES, AuditConfig, Verdict
from .bind import bind
from .data.loader import AuditData
from .data.space import FeatureSpace
from .errors import AuditEngineError, ConfigError
from .evaluator.local import LocalEvaluator
from .evaluator.base import Progress
from .labels import class_indices, label_string
from .model.loader import OnnxModel
from .result import AuditResult, CheckError, CheckRecord, DataInfo, EngineInfo, Evaluations, ModelInfo, to_jsonable
from .results.performance import PerformanceResult
from .results.record import Record, RecordMap
from .stats import child_rng

__all__ = ["AuditContext", "CheckOutcome", "audit", "prepare", "run_checks", "CHECK_MODULES", "class_indices"]

logger = logging.getLogger(__name__)

CHECK_MODULES = {
    "performance": "audit_engine.performance",
    "fairness": "audit_engine.fairness.check",
    "explanations": "audit_engine.explain.check",
    "ood": "audit_engine.ood.check",
    "uncertainty": "audit_engine.uncertainty.check",
}


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
    stream: Any = None  # StreamSummary when the data was streamed (stream/run.py); rows etc. are then a sample

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
        if label_string(wanted) not in names and str(wanted) not in names:
            raise ConfigError(
                f"The favourable label {wanted!r} is not one of the model's classes ({', '.join(names)}); "
                "pass one of them with --favorable-label or favorable_label in audit.toml."
            )
        return names.index(label_string(wanted) if label_string(wanted) in names else str(wanted))

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


def _module(name: str) -> Any:
    return importlib.import_module(CHECK_MODULES[name])


def prepare(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    config: AuditConfig | None = None,
    reference: AuditData | Any | None = None,
    ood_data: AuditData | Any | None = None,
    progress: Progress | None = None,
) -> AuditContext:
    """Load and bind everything, score the data once, and return the context checks read."""
    config = config or AuditConfig()
    from .stream.run import prepare_stream, should_stream

    if not isinstance(data, AuditData) and should_stream(data, config):  # Parquet beyond memory, or --stream / ray
        return prepare_stream(model, data, config=config, reference=reference, ood_data=ood_data, progress=progress)
    # Record what the audit really used, whether it came from the config or the AuditData.
    bound = bind(model, data, features=config.features, target=config.target, sensitive=config.sensitive,
                 extras={"reference data": reference, "OOD data": ood_data}, provider=config.provider,
                 output=config.output, output_kind=config.output_kind, threads=config.threads,
                 tokenizer=config.tokenizer, text_column=config.text_column, max_length=config.max_length,
                 classes=config.classes, max_chunk_bytes=config.max_chunk_bytes, progress=progress,
                 before_model_call=lambda d: config.policy.check_subjects(d.sensitive_names))  # before any model call
    model, data, space, evaluator, rows = bound.model, bound.data, bound.space, bound.evaluator, bound.rows
    config = dataclasses.replace(config, target=data.target, sensitive=tuple(data.sensitive_names))
    reference = bound.extras.get("reference data")
    ood_data = bound.extras.get("OOD data")
    proba = evaluator.predict(rows)
    ctx = AuditContext(
        model, data, space, evaluator, config, rows, proba,
        reference=reference,
        reference_rows=bound.extra_rows.get("reference data"),
        ood_data=ood_data,
        ood_rows=bound.extra_rows.get("OOD data"),
        progress=progress,
    )
    if data.y is not None and ctx.task == "classification":
        _ = ctx.y_index, ctx.positive_index  # validate labels up front, before any file is written
    _ = ctx.favorable_index  # favorable_label must be one of the model's classes
    return ctx


def audit(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    config: AuditConfig | None = None,
    reference: AuditData | Any | None = None,
    ood_data: AuditData | Any | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit ``model`` on ``data`` and return the :class:`AuditResult`.

    Parameters
    ----------
    model: an OnnxModel or a path to an .onnx file.
    data: an AuditData, a path, a DataFrame or an array (target / sensitive from config).
    config: the AuditConfig (default: every applicable check, default policy, seed 0).
    reference: reference data (in-distribution) for shift tests and data detectors.
    ood_data: known out-of-distribution data, to measure how well OOD scores separate it.
    progress: optional ``progress(rows_done, rows_total)`` for model calls.
    """
    started = time.perf_counter()
    ctx = prepare(model, data, config=config, reference=reference, ood_data=ood_data, progress=progress)
    return run_checks(ctx, started=started)


def run_checks(ctx: AuditContext, *, started: float | None = None) -> AuditResult:
    """Run the configured checks on a prepared context and build the :class:`AuditResult`.

    ``started`` (a ``time.perf_counter()`` value) is where ``total_seconds`` counts from;
    default: now. :func:`audit` is ``run_checks(prepare(...))``.
    """
    started = time.perf_counter() if started is None else started
    config = ctx.config
    wanted = config.checks if config.checks is not None else CHECK_NAMES
    modules = {name: _module(name) for name in wanted}
    for name, module in modules.items():  # validate every check's parameters before running any
        config.params(name, getattr(module, "DEFAULTS", {}))
    sections: dict[str, Any] = {}
    verdicts: list[Verdict] = []
    checks: dict[str, Any] = {}
    errors: list[CheckError] = []
    for name, module in modules.items():
        reason = module.applies(ctx) if hasattr(module, "applies") else None
        if reason:
            checks[name] = {"status": "skipped", "reason": reason}
            if config.checks is not None:
                logger.warning("Check %s skipped: %s", name, reason)
            continue
        before = ctx.evaluator.stats.copy()
        t0 = time.perf_counter()
        if hasattr(ctx.progress, "start_check"):  # the CLI's progress shows one bar / line per check
            ctx.progress.start_check(name)
        try:
            outcome = module.run(ctx)
        except AuditEngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - one check's bug must not sink the others
            used = ctx.evaluator.stats.since(before)
            message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
            errors.append(CheckError(name, message, traceback.format_exc()))
            logger.info("Check %s failed with an unexpected error: %s", name, message)
            checks[name] = {"status": "error", "error": message, "error_type": type(exc).__name__,
                            "seconds": round(time.perf_counter() - t0, 6),
                            "model_calls": used.model_calls, "rows_evaluated": used.rows_evaluated}
            continue
        used = ctx.evaluator.stats.since(before)
        sections[name] = outcome.section
        verdicts.extend(outcome.verdicts)
        checks[name] = {"status": "ran", "seconds": round(time.perf_counter() - t0, 6),
                        "model_calls": used.model_calls, "rows_evaluated": used.rows_evaluated}
        for part, why in outcome.skipped.items():
            checks[f"{name}.{part}"] = {"status": "skipped", "reason": why}
    # Path rules ([[policy.rules]]) are judged on the finished sections, as audit.json holds them.
    verdicts.extend(config.policy.judge_document(to_jsonable(sections)))
    verdicts.extend(_class_order_verdicts(ctx, sections.get("performance")))
    total = time.perf_counter() - started
    stats = ctx.evaluator.stats.to_dict()
    stats["total_seconds"] = round(total, 6)
    stats["engine_overhead_seconds"] = round(max(0.0, total - stats["seconds"]), 6)
    model_block = ctx.evaluator.binding.model_block(ctx.model.to_dict())  # the file's facts + how its output was read
    data_block = ctx.data.to_dict()
    data_block["features"] = ctx.space.feature_names if ctx.space.features else data_block["features"]
    data_block["layout"] = ctx.space.layout
    if ctx.stream is not None:
        data_block.update(ctx.stream.data_block())
    return AuditResult(
        engine=EngineInfo(name="audit-engine", version=__version__, packages=_package_versions()),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        seed=config.seed,
        config=to_jsonable(config.to_dict()),
        model=ModelInfo.from_dict(to_jsonable(model_block)),
        data=DataInfo.from_dict(to_jsonable(data_block)),
        evaluations=Evaluations.from_dict(stats),
        verdicts=tuple(verdicts),
        checks={name: CheckRecord.from_dict(entry) for name, entry in checks.items()},
        errors=tuple(errors),
        **{name: section if isinstance(section, (Record, RecordMap)) else to_jsonable(section)  # typed sections stay typed
           for name, section in sections.items()},
    )


def _class_order_verdicts(ctx: AuditContext, performance: PerformanceResult | None) -> list[Verdict]:
    """Warn when a guessed class order gives an AUC below 0.5: the columns are likely swapped."""
    source = ctx.evaluator.classes_source or ""
    if not source.startswith("guessed") or not performance or ctx.task != "classification":
        return []
    value = performance.value("roc_auc")
    if not np.isfinite(value) or value >= 0.5:
        return []
    order = ", ".join(repr(str(c)) for c in ctx.classes)
    return [Verdict(
        check="performance", status="warn", metric="class_order", value=float(value), threshold=0.5,
        message=(f"the class order of the output columns is a guess ({source}: {order}) and gives an AUC of "
                 f"{value:.3f}, below chance; the columns are probably in another order: name them with "
                 f"classes = [...] in the config or --classes LABEL ..."),
    )]


def _package_versions() -> dict[str, str]:
    """Installed versions of the packages an audit's numbers depend on (read once per process)."""
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict[str, str]:
    # importlib.metadata parses every package's METADATA file: ~10 ms per audit, the same answer each time
    from importlib import metadata

    out = {}
    for name in ("onnxruntime-gpu", "onnxruntime", "onnx", "numpy", "scipy", "scikit-learn", "pandas", "jinja2"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
