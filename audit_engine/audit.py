"""Run the configured checks on one model and one dataset and apply the policy.

Each check is a module with ``Params`` (its typed parameters), ``applies(ctx) -> str | None``
(None when it can run, else the reason it is skipped), optionally ``tally(ctx) -> Tally |
None`` (an additive summary of every row) and ``run(ctx) -> CheckOutcome``. :func:`prepare`
binds the model to the data (:func:`audit_engine.bind.bind`), reads the source
(:mod:`audit_engine.sources`: in memory, streamed Parquet or Ray) chunk by chunk into the
tallies, and returns the :class:`~audit_engine.context.AuditContext`; checks only read it,
never the source. Every model call goes through ``ctx.evaluator``. Each check draws
randomness from ``ctx.rng(<its name>, ...)``, a stream that does not depend on which other
checks ran, nor on the source.
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
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .bind import bind, check_target
from .catalog import DEFAULT_CHECKS, OPT_IN_CHECKS
from .checks import CheckOutcome
from .config import AuditConfig
from .context import AuditContext, Chunk
from .data.labels import class_indices
from .data.loader import AuditData, load_data
from .errors import AuditEngineError
from .evaluator.base import Progress
from .model.loader import OnnxModel
from .params import validate_params
from .result import AuditResult, CheckError, CheckRecord, DataInfo, EngineInfo, Evaluations, ModelInfo, to_jsonable
from .results.record import Record, RecordMap
from .sources import (ChunkSource, InMemorySource, ParquetChunks, RayChunks, SourceChunk, StreamSummary, group_columns,
                      needed_columns, open_table, should_stream)
from .stats import child_rng
from .stream.sample import HashedSample

__all__ = ["AuditContext", "CheckOutcome", "audit", "prepare", "run_checks", "CHECK_MODULES", "class_indices"]

logger = logging.getLogger(__name__)

CHECK_MODULES = {
    "performance": "audit_engine.performance",
    "fairness": "audit_engine.fairness.check",
    "explanations": "audit_engine.explain.check",
    "ood": "audit_engine.ood.check",
    "uncertainty": "audit_engine.uncertainty.check",
    "robustness": "audit_engine.robustness.check",
    "slices": "audit_engine.slices.check",
}


def _module(name: str) -> Any:
    return importlib.import_module(CHECK_MODULES[name])


def _precheck_hooks(config: AuditConfig) -> list[Any]:
    """The ``precheck(sensitive, config, *, weights=None)`` of each configured check that has one."""
    wanted = config.checks if config.checks is not None else DEFAULT_CHECKS
    return [hook for name in wanted if (hook := getattr(_module(name), "precheck", None)) is not None]


def _prechecks(sensitive: pd.DataFrame, config: AuditConfig, *, weights: np.ndarray | None = None) -> None:
    """What each configured check would refuse about the sensitive attributes (a single group,
    an unknown reference group), before any model call. ``weights``: rows each line of
    ``sensitive`` stands for (a streamed source's distinct group combinations)."""
    for hook in _precheck_hooks(config):
        hook(sensitive, config, weights=weights)


def _before_model_call(data: AuditData, config: AuditConfig, streamed: bool) -> None:
    """What is refused before any model call: policy subjects that are not sensitive attributes,
    and (data in memory) what a check would refuse about the data. A streamed source is bound
    on its first rows only, which may hold fewer groups than the whole data: its groups are
    judged by the checks once every row was counted."""
    config.policy.check_subjects(data.sensitive_names)
    if not streamed:
        _prechecks(data.sensitive, config)


def _streamed_prechecks(parquet: Any, config: AuditConfig, chunk_rows: int) -> None:
    """What a check would refuse about the groups of a streamed source, from every row, before
    any model call: one pass over the sensitive columns alone, keeping each distinct group
    combination with its count (memory: the number of combinations, not of rows)."""
    names = list(config.sensitive or ())
    if not names or not _precheck_hooks(config):
        return
    parquet.check_columns(names)
    counts = None
    for _, frame in parquet.chunks(chunk_rows, columns=names):
        part = group_columns(frame, names).astype(object).value_counts(dropna=False)
        counts = part if counts is None else counts.add(part, fill_value=0)
    assert counts is not None  # ParquetSource.open refuses a source without rows
    combos = counts.index.to_frame(index=False)
    combos.columns = names
    _prechecks(combos, config, weights=counts.to_numpy(dtype=np.float64))


@validate_params("prepare")
def prepare(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    config: AuditConfig | None = None,
    reference: AuditData | Any | None = None,
    ood_data: AuditData | Any | None = None,
    progress: Progress | None = None,
) -> AuditContext:
    """Bind the model to the data, feed every row through the checks' tallies, and return the context.

    One path whatever the source (:mod:`audit_engine.sources`): data in memory is bound whole
    and scored once; a Parquet source beyond memory, or a Parquet or CSV source with ``stream`` / ``backend = "ray"``, is
    bound on its first rows and scored chunk by chunk, locally or by Ray actors. Either way
    the scored chunks (aligned to global row indices, ``fairness.chunk_rows`` rows) are
    labelled once and added to the tally of every wanted check that declares one
    (``tally(ctx)``); a streamed source also keeps a seeded hashed sample of
    ``sample_rows`` rows for the checks that need rows.
    """
    config = config or AuditConfig()
    started = time.perf_counter()
    streamed = not isinstance(data, AuditData) and should_stream(data, config)
    chunk_rows = _chunk_rows(config)
    settings = dict(features=config.features, target=config.target, sensitive=config.sensitive,
                    extras={"reference data": reference, "OOD data": ood_data}, provider=config.provider,
                    output=config.output, output_kind=config.output_kind, threads=config.threads,
                    tokenizer=config.tokenizer, text_column=config.text_column, max_length=config.max_length,
                    classes=config.classes, max_chunk_bytes=config.max_chunk_bytes,
                    before_model_call=lambda d: _before_model_call(d, config, streamed))
    parquet = None
    if streamed:
        parquet = open_table(data)  # Parquet or CSV: chunks of the same rows and values
        _streamed_prechecks(parquet, config, chunk_rows)  # every row's groups, before any model call
        bound = bind(model, parquet.head(min(_HEAD_ROWS, parquet.n_rows)), target_check=False, **settings)
        bound.data.path = parquet.path
    else:
        bound = bind(model, data, progress=progress, **settings)
    # Record what the audit really used, whether it came from the config or the AuditData.
    config = dataclasses.replace(config, target=bound.data.target, sensitive=tuple(bound.data.sensitive_names))
    proba = bound.evaluator.predict(bound.rows)
    head = AuditContext(bound.model, bound.data, bound.space, bound.evaluator, config, bound.rows, proba,
                        reference=bound.extras.get("reference data"),
                        reference_rows=bound.extra_rows.get("reference data"),
                        ood_data=bound.extras.get("OOD data"), ood_rows=bound.extra_rows.get("OOD data"),
                        progress=progress)
    if bound.data.y is not None and head.task == "classification":
        _ = head.y_index, head.positive_index  # validate labels up front, before any file is written
    _ = head.favorable_index  # favorable_label must be one of the model's classes
    wanted = config.checks if config.checks is not None else DEFAULT_CHECKS
    tallies = {}
    for name in wanted:
        factory = getattr(_module(name), "tally", None)
        made = None if factory is None else factory(head)
        if made is not None:
            tallies[name] = made
    needs_rows = any(getattr(t, "needs_rows", False) for t in tallies.values())
    if parquet is None:
        source: ChunkSource = InMemorySource(bound, proba)
        _feed(source, head, tallies, chunk_rows)
        head.tallies = tallies
        return head
    bound.evaluator.stats = type(bound.evaluator.stats)()  # the head is set-up; every row is scored again below
    if config.backend == "ray":
        source = RayChunks(parquet, bound, config, with_features=needs_rows)
    else:
        source = ParquetChunks(parquet, bound)
    sample = HashedSample(int(config.sample_rows), _seed_word(config.seed))
    n = _feed(source, head, tallies, chunk_rows, sample=sample, progress=progress)
    if n != parquet.n_rows:
        raise RuntimeError(f"streamed {n} rows, the source declares {parquet.n_rows}")
    index, frame, sample_proba = sample.result()
    columns = needed_columns(parquet, bound.data)
    absent = [c for c in columns if c not in frame.columns]
    if absent:  # the Ray actors send back outputs, target and groups only: read the sample's features here
        frame = pd.concat([frame, parquet.take(index, absent)], axis=1)[columns]
    sample_data = load_data(frame, target=config.target, sensitive=config.sensitive, features=config.features)
    sample_data.path = parquet.path
    if sample_data.y is not None:
        check_target(sample_data)
    summary = StreamSummary(parquet, n, chunk_rows, int(config.sample_rows), config.backend, parquet.sha256(),
                            time.perf_counter() - started, shift="ood" in tallies,
                            sampled_opt_in=tuple(c for c in wanted if c in OPT_IN_CHECKS))
    ctx = AuditContext(bound.model, sample_data, bound.space, bound.evaluator, config,
                       bound.space.encode(sample_data), sample_proba, reference=head.reference,
                       reference_rows=head.reference_rows, ood_data=head.ood_data, ood_rows=head.ood_rows,
                       progress=progress, tallies=tallies, stream=summary)
    if sample_data.y is not None and ctx.task == "classification":
        _ = ctx.y_index, ctx.positive_index
    return ctx


_HEAD_ROWS = 4096
"""A streamed source is bound (features, output kind, classes) on its first rows."""


def _chunk_rows(config: AuditConfig) -> int:
    """Rows per chunk, every source alike (``fairness.chunk_rows``; validated when the config was built)."""
    return int(config.params("fairness").chunk_rows)


def _feed(source: ChunkSource, ctx: AuditContext, tallies: dict[str, Any], chunk_rows: int, *,
          sample: HashedSample | None = None, progress: Progress | None = None) -> int:
    """Label every chunk of ``source`` once and add it to each tally (and the sample); the rows fed."""
    n = 0
    for part in source.chunks(chunk_rows):
        if part.start != n:
            raise RuntimeError(f"chunk starting at row {part.start} arrived after {n} rows; chunks must come in order")
        chunk = label_chunk(ctx, part)
        for tally in tallies.values():
            tally.add(chunk)
        if sample is not None:
            sample.offer(part.start, part.frame, part.proba)
        n += len(chunk)
        if sample is not None and progress is not None:
            progress(n, source.n_rows)
    return n


def label_chunk(ctx: AuditContext, part: SourceChunk) -> Chunk:
    """The :class:`~audit_engine.context.Chunk` of a source's chunk: class indices mapped once per
    distinct label, decisions at ``config.threshold`` (binary) or the argmax."""
    y_index = predicted = None
    if ctx.task == "classification":
        if part.y is not None:
            codes, uniques = pd.factorize(np.asarray(part.y))
            y_index = class_indices(np.asarray(uniques), ctx.classes, ctx.data.target)[codes]
        if ctx.positive_index is not None:
            hit = part.proba[:, ctx.positive_index] >= ctx.config.threshold
            predicted = np.where(hit, ctx.positive_index, 1 - ctx.positive_index)
        else:
            predicted = part.proba.argmax(axis=1)
    return Chunk(part.start, part.proba, part.y, y_index, predicted, part.groups, part.rows)


def _seed_word(seed: Any) -> int:
    return int(child_rng(seed, "stream", "sample").integers(0, 2**63 - 1))


@validate_params("audit")
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
    wanted = config.checks if config.checks is not None else DEFAULT_CHECKS
    modules = {name: _module(name) for name in wanted}  # parameters: validated when the config was built
    sections: dict[str, Any] = {}
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
        checks[name] = {"status": "ran", "seconds": round(time.perf_counter() - t0, 6),
                        "model_calls": used.model_calls, "rows_evaluated": used.rows_evaluated}
        for part, why in outcome.skipped.items():
            checks[f"{name}.{part}"] = {"status": "skipped", "reason": why}
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
    result = AuditResult(
        engine=EngineInfo(name="audit-engine", version=__version__, packages=_package_versions()),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        seed=config.seed,
        config=to_jsonable(config.to_dict()),
        model=ModelInfo.from_dict(to_jsonable(model_block)),
        data=DataInfo.from_dict(to_jsonable(data_block)),
        evaluations=Evaluations.from_dict(stats),
        checks={name: CheckRecord.from_dict(entry) for name, entry in checks.items()},
        errors=tuple(errors),
        **{name: section if isinstance(section, (Record, RecordMap)) else to_jsonable(section)  # typed sections stay typed
           for name, section in sections.items()},
    )
    # The policy is judged once, on the finished typed result (rules and findings alike).
    return dataclasses.replace(result, verdicts=config.policy.judge(result))


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
