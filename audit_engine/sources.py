"""Where the scored rows come from: rows in memory, a streamed Parquet or CSV source, Ray actors.

Every source yields :class:`SourceChunk` s of exactly ``chunk_rows`` rows (the last may be
shorter) aligned to global row indices (rows ``[k·R, (k+1)·R)``), in row order, each with
the model's outputs; :func:`audit_engine.audit.prepare` labels them once and feeds every
check's tally. Sources differ only in where rows and scores come from:

- :class:`InMemorySource`: slices of the bound data and of its scores (scored in one pass);
- :class:`ParquetChunks`: a :class:`~audit_engine.data.parquet.ParquetSource` or a
  :class:`~audit_engine.data.csv_source.CsvSource` (a :data:`TableSource`) read chunk by
  chunk, each chunk encoded and scored through the driver's Evaluator;
- :class:`RayChunks`: the same files scored by Ray actors with the driver's output binding
  (:mod:`audit_engine.stream.ray_backend`: Parquet read by Ray Data, CSV read by the driver's
  pandas and sent to the actors), re-cut to the same chunks.

So the tallies, and the figures computed from them, are the same whichever source fed them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .bind import Bound
from .data.labels import label_key
from .data.loader import AuditData
from .data.csv_source import CsvSource, is_csv_source
from .data.parquet import ParquetSource, is_parquet_source
from .errors import ConfigError, InvalidValueError
from .evaluator.guards import check_float32_range
from .stream.ray_backend import require_ray, scored_chunks
from .stream.sample import describe

__all__ = ["SourceChunk", "ChunkSource", "InMemorySource", "ParquetChunks", "RayChunks", "should_stream",
           "group_columns", "needed_columns", "AUTO_STREAM_BYTES", "StreamSummary", "TableSource", "open_table"]

TableSource = ParquetSource | CsvSource
"""A streamable table: both read chunks aligned to global rows with the values the local loader gives."""


def open_table(path: Any) -> TableSource:
    """The streamed source of ``path``: Parquet when it is or holds Parquet files, else CSV."""
    return ParquetSource.open(path) if is_parquet_source(path) else CsvSource.open(path)

AUTO_STREAM_BYTES = 256 * 1024**2
"""``stream = None`` (auto) streams a Parquet source declaring more than this in memory (rows × columns × 8 bytes);
a CSV source is streamed only when asked (``stream = true`` or ``backend = "ray"``)."""


@dataclass(frozen=True)
class SourceChunk:
    """Rows ``[start, start + m)`` as a source gives them, before labelling.

    proba: ``(m, k)`` model outputs; y: ``(m,)`` raw targets or None; groups: ``(m, s)``
    sensitive group labels (strings, missing stays missing) or None; rows: ``(m, *row_shape)``
    in feature space or None (Ray sends no features back unless asked); frame: the raw
    columns (streamed sources, for the hashed sample) or None.
    """

    start: int
    proba: np.ndarray
    y: np.ndarray | None
    groups: pd.DataFrame | None
    rows: np.ndarray | None = None
    frame: pd.DataFrame | None = None


@dataclass(frozen=True)
class StreamSummary:
    """How a streamed source was read: audit.json's ``data`` block (the tallies live in the context)."""

    source: TableSource
    n_rows: int
    chunk_rows: int
    sample_rows: int
    backend: str
    sha256: str
    seconds: float
    shift: bool = False  # the shift tests tallied every streamed row
    sampled_opt_in: tuple[str, ...] = ()  # opt-in checks of this audit that also run on the sample

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
                "sampled_checks": ["explanations", "ood", "uncertainty", *self.sampled_opt_in],
                "streamed_checks": ["performance", "fairness"] + (["ood.shift"] if self.shift else []),
            },
        }


class ChunkSource(Protocol):
    """Yields the scored rows in chunks of exactly ``chunk_rows`` rows, in row order."""

    n_rows: int

    def chunks(self, chunk_rows: int) -> Iterator[SourceChunk]: ...


class InMemorySource:
    """The bound data and its scores ``proba`` ``(n, k)``, sliced into chunks."""

    def __init__(self, bound: Bound, proba: np.ndarray) -> None:
        self.bound = bound
        self.proba = proba
        self.n_rows = int(proba.shape[0])

    def chunks(self, chunk_rows: int) -> Iterator[SourceChunk]:
        data = self.bound.data
        has_groups = data.sensitive is not None and data.sensitive.shape[1] > 0
        for start in range(0, self.n_rows, chunk_rows):
            sl = slice(start, min(self.n_rows, start + chunk_rows))
            yield SourceChunk(start, self.proba[sl], None if data.y is None else np.asarray(data.y)[sl],
                              data.sensitive.iloc[sl].reset_index(drop=True) if has_groups else None,
                              rows=self.bound.rows[sl])


class ParquetChunks:
    """A Parquet or CSV source read in chunks, each encoded and scored through ``bound``'s Evaluator.

    ``bound`` is the source's head bound to the model (:func:`audit_engine.bind.bind`); its
    space and output binding serve every chunk.
    """

    def __init__(self, source: TableSource, bound: Bound) -> None:
        self.source = source
        self.bound = bound
        self.n_rows = source.n_rows
        self.columns = needed_columns(source, bound.data)

    def chunks(self, chunk_rows: int) -> Iterator[SourceChunk]:
        head, space, evaluator = self.bound.data, self.bound.space, self.bound.evaluator
        for start, frame in self.source.chunks(chunk_rows, columns=self.columns):
            rows = space.encode(chunk_data(frame, head))
            check_float32_range(rows, space, "the data")
            proba = evaluator.predict(rows)
            yield labelled_columns(start, frame, proba, rows, head)


class RayChunks:
    """The Parquet or CSV files scored by Ray actors (:func:`audit_engine.stream.ray_backend.scored_chunks`).

    ``with_features``: the actors send the feature columns back too, and the driver encodes
    them (a tally needs the rows: the shift tests).
    """

    def __init__(self, source: TableSource, bound: Bound, config: Any, *, with_features: bool) -> None:
        self.source = source
        self.bound = bound
        self.config = config
        self.with_features = with_features
        self.n_rows = source.n_rows
        self.columns = needed_columns(source, bound.data)

    def chunks(self, chunk_rows: int) -> Iterator[SourceChunk]:
        head, space = self.bound.data, self.bound.space
        for start, frame, proba in scored_chunks(self.source, self.bound.model, self.bound.evaluator, head,
                                                 self.columns, chunk_rows=chunk_rows, config=self.config,
                                                 with_features=self.with_features):
            rows = space.encode(chunk_data(frame, head)) if self.with_features else None
            yield labelled_columns(start, frame, proba, rows, head)


def labelled_columns(start: int, frame: pd.DataFrame, proba: np.ndarray, rows: np.ndarray | None,
                     head: AuditData) -> SourceChunk:
    """A streamed chunk's target (no missing values allowed) and group labels, as load_data makes them."""
    y = None
    if head.target is not None:
        column = frame[head.target]
        if column.isna().any():
            raise InvalidValueError(
                f"The target column {head.target!r} has {int(column.isna().sum())} missing values "
                f"(first chunk row {start}); drop or fill those rows."
            )
        y = column.to_numpy()
    groups = group_columns(frame, head.sensitive_names) if head.sensitive_names else None
    return SourceChunk(start, proba, y, groups, rows=rows, frame=frame)


def should_stream(source: Any, config: Any) -> bool:
    """Whether ``prepare`` streams ``source``: ``config.stream`` True / False, or auto (None)."""
    wanted = getattr(config, "stream", None)
    backend = getattr(config, "backend", "local")
    if backend == "ray":
        require_ray()  # one sentence on how to install it, before anything is loaded
    if wanted is False and backend == "local":
        return False
    parquet = is_parquet_source(source)
    if not parquet and not is_csv_source(source):
        if wanted or backend == "ray":
            raise ConfigError(
                f"Streaming{' on Ray' if backend == 'ray' else ''} needs --data to be a Parquet or CSV file or a folder "
                f"of them (tables read in chunks of rows); got {str(source)[:200]!r}. Convert the data to Parquet or "
                "CSV, or drop --stream/--backend ray to read it whole."
            )
        return False
    if wanted or backend == "ray":
        return True
    if not parquet:  # CSV declares no size; auto reads it whole, as the local loader always did
        return False
    src = ParquetSource.open(source)
    return src.n_rows * max(1, len(src.columns)) * 8 > AUTO_STREAM_BYTES


def group_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Sensitive columns as categoricals of group-label strings (missing stays missing).

    The labels are those :func:`audit_engine.data.loader.load_data` gives (``1.0`` → ``"1"``),
    computed once per distinct value instead of once per row.
    """
    out = {}
    for name in names:
        cat = pd.Categorical(frame[name])
        labels = [label_key(c) for c in cat.categories]
        if len(set(labels)) == len(labels):
            out[name] = pd.Categorical.from_codes(cat.codes, labels)
        else:  # e.g. 1 and 1.0 in one column: they are one group, as load_data makes them
            out[name] = frame[name].astype(object).where(frame[name].isna(), frame[name].map(label_key))
    return pd.DataFrame(out)


def chunk_data(frame: pd.DataFrame, head: AuditData) -> AuditData:
    """The AuditData of one chunk for feature encoding (no digest, groups not converted)."""
    return AuditData(frame, None, head.target, None, pd.DataFrame(index=frame.index), head.features, head.path, "")


def needed_columns(source: TableSource, head: AuditData) -> list[str]:
    """Features, target and sensitive columns, each once, checked against the source's schema."""
    wanted = list(head.features or []) + ([head.target] if head.target else []) + head.sensitive_names
    source.check_columns(wanted)
    seen: list[str] = []
    for name in wanted:
        if name not in seen:
            seen.append(name)
    return seen
