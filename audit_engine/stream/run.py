"""Prepare an audit context by streaming a Parquet source: tallies, group counts, a sample.

:func:`prepare_stream` reads the data once in chunks of ``fairness.chunk_rows`` rows
(aligned to global row indices), scores each chunk through the Evaluator (local) or
takes the scores computed by Ray actors (:mod:`.ray_backend`), and keeps

- a :class:`~.performance.ClassificationTally` / :class:`~.performance.RegressionTally`
  (when there is a target),
- the fairness :class:`~audit_engine.fairness.counts.GroupCounts` / ``GroupSums`` of
  the same chunks, merged in order (exactly what the in-memory check computes),
- a :class:`~.sample.HashedSample` of ``sample_rows`` rows.

The returned :class:`~audit_engine.audit.AuditContext` holds the sample as its data, rows
and probabilities (row-needing checks run on it) and the :class:`StreamSummary` as
``ctx.stream`` (performance and fairness read it instead of the sample).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InvalidValueError
from .sample import HashedSample, describe
from .source import ParquetSource, is_parquet_source

__all__ = ["StreamSummary", "prepare_stream", "should_stream", "AUTO_STREAM_BYTES"]

logger = logging.getLogger(__name__)

AUTO_STREAM_BYTES = 256 * 1024**2
"""``stream = None`` (auto) streams a Parquet source declaring more than this in memory (rows × columns × 8 bytes)."""

_HEAD_ROWS = 4096


def should_stream(source: Any, config: Any) -> bool:
    """Whether ``prepare`` streams ``source``: ``config.stream`` True / False, or auto (None)."""
    wanted = getattr(config, "stream", None)
    backend = getattr(config, "backend", "local")
    if backend == "ray":
        from .ray_backend import require_ray

        require_ray()  # one sentence on how to install it, before anything is loaded
    if wanted is False and backend == "local":
        return False
    if not is_parquet_source(source):
        if wanted or backend == "ray":
            raise ConfigError(
                f"Streaming{' on Ray' if backend == 'ray' else ''} needs --data to be a Parquet file or a folder of "
                f"Parquet files; got {str(source)[:200]!r}. Convert the data to Parquet or drop --stream/--backend ray."
            )
        return False
    if wanted or backend == "ray":
        return True
    src = ParquetSource.open(source)
    return src.n_rows * max(1, len(src.columns)) * 8 > AUTO_STREAM_BYTES


@dataclass
class StreamSummary:
    """What streaming kept: tallies over every row, and how the sample was drawn."""

    source: ParquetSource
    n_rows: int
    chunk_rows: int
    sample_rows: int
    backend: str
    performance: Any  # ClassificationTally | RegressionTally | None
    fairness_counts: Any  # GroupCounts | GroupSums | None
    sha256: str
    seconds: float
    shift: Any = None  # ShiftTally (stream/shift.py) when --reference was given and ood runs

    def data_block(self) -> dict[str, Any]:
        """Overrides of audit.json's ``data`` block: the whole source, not the sample."""
        return {
            "path": self.source.path,
            "sha256": self.sha256,
            "rows": int(self.n_rows),
            "stream": {
                "files": len(self.source.files),
                "chunk_rows": int(self.chunk_rows),
                "backend": self.backend,
                "sample": describe(min(self.sample_rows, self.n_rows)),
                "sampled_checks": ["explanations", "ood", "uncertainty"],
                "streamed_checks": ["performance", "fairness"] + (["ood.shift"] if self.shift is not None else []),
            },
        }


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def group_columns(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Sensitive columns as categoricals of group-label strings (missing stays missing).

    The labels are those :func:`audit_engine.data.loader.load_data` gives (``1.0`` → ``"1"``),
    computed once per distinct value instead of once per row.
    """
    out = {}
    for name in names:
        cat = pd.Categorical(frame[name])
        labels = [_label(c) for c in cat.categories]
        if len(set(labels)) == len(labels):
            out[name] = pd.Categorical.from_codes(cat.codes, labels)
        else:  # e.g. 1 and 1.0 in one column: they are one group, as load_data makes them
            out[name] = frame[name].astype(object).where(frame[name].isna(), frame[name].map(_label))
    return pd.DataFrame(out)


class ChunkScorer:
    """Driver-side work on one scored chunk: labels, decisions, tallies, group counts, sample."""

    def __init__(self, ctx: Any, config: Any, sample_rows: int, score_bins: int, calibration_bins: int,
                 shift: Any = None) -> None:
        from .performance import ClassificationTally, RegressionTally

        self.ctx = ctx
        self.config = config
        self.data = ctx.data
        self.score_bins = score_bins
        self.shift = shift
        self.sample = HashedSample(sample_rows, _seed_word(config.seed))
        self.n = 0
        self.counts: Any = None
        self.tally: Any = None
        if ctx.y is not None:
            if ctx.task == "regression":
                self.tally = RegressionTally()
            else:
                self.tally = ClassificationTally(ctx.proba.shape[1], ctx.positive_index, calibration_bins)

    def consume(self, start: int, frame: pd.DataFrame, proba: np.ndarray, rows: np.ndarray | None = None) -> None:
        from ..labels import class_indices
        from ..fairness.counts import group_counts, group_sums

        if start != self.n:
            raise RuntimeError(f"chunk starting at row {start} arrived after {self.n} rows; chunks must come in order")
        ctx, data = self.ctx, self.data
        m = len(frame)
        y = None
        if data.target is not None:
            column = frame[data.target]
            if column.isna().any():
                raise InvalidValueError(
                    f"The target column {data.target!r} has {int(column.isna().sum())} missing values "
                    f"(first chunk row {start}); drop or fill those rows."
                )
            y = column.to_numpy()
        y_index = predicted = None
        if ctx.task == "classification":
            if y is not None:  # labels mapped once per distinct value, not per row
                codes, uniques = pd.factorize(y)
                y_index = class_indices(np.asarray(uniques), ctx.classes, data.target)[codes]
            if ctx.positive_index is not None:
                hit = proba[:, ctx.positive_index] >= self.config.threshold
                predicted = np.where(hit, ctx.positive_index, 1 - ctx.positive_index)
            else:
                predicted = proba.argmax(axis=1)
        if self.tally is not None:
            if ctx.task == "regression":
                self.tally.update(proba[:, 0], np.asarray(y, dtype=np.float64))
            else:
                self.tally.update(proba, y_index, predicted)
        names = data.sensitive_names
        if names:
            groups = group_columns(frame, names)
            if ctx.task == "regression":
                part = group_sums(None if y is None else np.asarray(y, dtype=np.float64), proba[:, 0], groups)
            else:
                scores = proba[:, ctx.positive_index] if ctx.positive_index is not None else None
                part = group_counts(y_index, predicted, groups, scores=scores, n_classes=proba.shape[1],
                                    score_bins=self.score_bins)
            self.counts = part if self.counts is None else self.counts.merge(part)
        if self.shift is not None:
            self.shift.update(rows if rows is not None else ctx.space.encode(_chunk_data(frame, data)))
        self.sample.offer(start, frame, proba)
        self.n += m


def _seed_word(seed: Any) -> int:
    from ..stats import child_rng

    return int(child_rng(seed, "stream", "sample").integers(0, 2**63 - 1))


def _chunk_data(frame: pd.DataFrame, head: Any) -> Any:
    """The AuditData of one chunk for feature encoding (no digest, groups not converted)."""
    from ..data.loader import AuditData

    return AuditData(frame, None, head.target, None, pd.DataFrame(index=frame.index), head.features, head.path, "")


def prepare_stream(
    model: Any,
    source_path: str | os.PathLike[str],
    *,
    config: Any,
    reference: Any = None,
    ood_data: Any = None,
    progress: Any = None,
) -> Any:
    """Stream ``source_path`` and return the :class:`~audit_engine.audit.AuditContext` (see module doc)."""
    from ..audit import AuditContext
    from ..bind import bind, check_target
    from ..data.loader import load_data
    from ..evaluator.guards import check_float32_range
    from ..fairness.check import DEFAULTS as FAIRNESS_DEFAULTS
    from ..performance import DEFAULTS as PERFORMANCE_DEFAULTS

    started = time.perf_counter()
    source = ParquetSource.open(source_path)
    fairness = config.params("fairness", FAIRNESS_DEFAULTS)
    chunk_rows = int(fairness["chunk_rows"])
    calibration_bins = int(config.params("performance", PERFORMANCE_DEFAULTS)["calibration_bins"])
    bound = bind(model, source.head(min(_HEAD_ROWS, source.n_rows)), features=config.features, target=config.target,
                 sensitive=config.sensitive, extras={"reference data": reference, "OOD data": ood_data},
                 provider=config.provider, output=config.output, output_kind=config.output_kind,
                 threads=config.threads, tokenizer=config.tokenizer, text_column=config.text_column,
                 max_length=config.max_length, classes=config.classes, max_chunk_bytes=config.max_chunk_bytes,
                 before_model_call=lambda d: config.policy.check_subjects(d.sensitive_names), target_check=False)
    model, head, space, evaluator, head_rows = bound.model, bound.data, bound.space, bound.evaluator, bound.rows
    head.path = source.path
    config = dataclasses.replace(config, target=head.target, sensitive=tuple(head.sensitive_names))
    reference = bound.extras.get("reference data")
    ood_data = bound.extras.get("OOD data")
    reference_rows = bound.extra_rows.get("reference data")
    ood_rows = bound.extra_rows.get("OOD data")
    head_proba = evaluator.predict(head_rows)
    evaluator.stats = type(evaluator.stats)()  # the head is set-up; every row is scored again below
    head_ctx = AuditContext(model, head, space, evaluator, config, head_rows, head_proba)
    if head.y is not None and head_ctx.task == "classification":
        _ = head_ctx.y_index, head_ctx.positive_index
    _ = head_ctx.favorable_index
    shift = None
    if reference is not None and (config.checks is None or "ood" in config.checks):
        from ..ood.check import DEFAULTS as OOD_DEFAULTS
        from .shift import ShiftTally

        shift = ShiftTally(reference_rows, space.categorical_mask,
                           int(config.params("ood", OOD_DEFAULTS)["psi_bins"]))
    scorer = ChunkScorer(head_ctx, config, int(config.sample_rows), int(fairness["score_bins"]), calibration_bins,
                         shift)
    columns = _needed_columns(source, head)
    if config.backend == "ray":
        from .ray_backend import scored_chunks

        chunks = scored_chunks(source, model, evaluator, head, columns, chunk_rows=chunk_rows, config=config,
                               with_features=shift is not None)
    else:
        chunks = _local_chunks(source, evaluator, space, head, columns, chunk_rows)
    for start, frame, proba, rows in chunks:
        scorer.consume(start, frame, proba, rows)
        del rows
        if progress is not None:
            progress(scorer.n, source.n_rows)
    if scorer.n != source.n_rows:
        raise RuntimeError(f"streamed {scorer.n} rows, the Parquet metadata declares {source.n_rows}")
    index, frame, proba = scorer.sample.result()
    absent = [c for c in columns if c not in frame.columns]
    if absent:  # the Ray actors send back outputs, target and groups only: read the sample's features here
        frame = pd.concat([frame, source.take(index, absent)], axis=1)[columns]
    sample = load_data(frame, target=config.target, sensitive=config.sensitive, features=config.features)
    sample.path = source.path
    if sample.y is not None:
        check_target(sample)
    rows = space.encode(sample)
    summary = StreamSummary(source, scorer.n, chunk_rows, int(config.sample_rows), config.backend,
                            scorer.tally, scorer.counts, source.sha256(), time.perf_counter() - started, shift)
    ctx = AuditContext(model, sample, space, evaluator, config, rows, proba, reference=reference,
                       reference_rows=reference_rows, ood_data=ood_data, ood_rows=ood_rows, progress=progress)
    ctx.stream = summary
    if sample.y is not None and ctx.task == "classification":
        _ = ctx.y_index, ctx.positive_index
    return ctx


def _needed_columns(source: ParquetSource, head: Any) -> list[str]:
    wanted = list(head.features or []) + ([head.target] if head.target else []) + head.sensitive_names
    source.check_columns(wanted)
    seen: list[str] = []
    for name in wanted:
        if name not in seen:
            seen.append(name)
    return seen


def _local_chunks(source: ParquetSource, evaluator: Any, space: Any, head: Any, columns: list[str],
                  chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame, np.ndarray, np.ndarray]]:
    from ..evaluator.guards import check_float32_range

    for start, frame in source.chunks(chunk_rows, columns=columns):
        rows = space.encode(_chunk_data(frame, head))
        check_float32_range(rows, space, "the data")
        proba = evaluator.predict(rows)
        yield start, frame, proba, rows
        del rows

