"""A Parquet file or folder of Parquet files, read in chunks of exactly ``chunk_rows`` rows.

Files are taken in sorted path order (a folder is searched recursively for ``*.parquet``
/ ``*.pq``); rows keep their order within a file. ``chunks`` re-batches pyarrow's record
batches so chunk k holds the global rows ``[k*R, (k+1)*R)``, whatever the row groups:
memory is bounded by the chunk size, and every chunk-wise sum is the same whichever
reader (pyarrow here, Ray Data in :mod:`audit_engine.stream.ray_backend`) produced the rows.

It lives in ``data/`` because :func:`~audit_engine.data.loader.load_data` reads a folder of
Parquet files whole through it, and the streamed sources read it in chunks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ColumnError, DataError, DataNotFoundError, InvalidValueError
from ..limits import check_parquet_schemas

if TYPE_CHECKING:  # pandas is imported where rows are read (0.4 s): `import audit_engine` and inspect skip it
    import pandas as pd

__all__ = ["ParquetSource", "is_parquet_source", "rebatch"]

_SUFFIXES = (".parquet", ".pq")


def is_parquet_source(source: object) -> bool:
    """True for a path to a Parquet file or to a folder holding Parquet files."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source)
    if path.is_file():
        return path.suffix.lower() in _SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in _SUFFIXES for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class ParquetSource:
    """The files of a Parquet dataset and what their metadata declares.

    Attributes
    ----------
    path: the file or folder given.
    files: the Parquet files, sorted by path.
    n_rows: total rows (from the footers; no data read).
    columns: column names of the first file's schema (every file must hold them).
    """

    path: str
    files: tuple[str, ...]
    n_rows: int
    columns: tuple[str, ...]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ParquetSource:
        import pyarrow.parquet as pq

        root = Path(path)
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
        else:
            raise DataNotFoundError(f"Data path {str(root)!r} does not exist; check the path.")
        if not files:
            raise DataError(f"The folder {str(root)!r} holds no .parquet files; point --data at Parquet files.")
        rows = 0
        columns: tuple[str, ...] | None = None
        for file in files:
            try:
                meta = pq.ParquetFile(file).metadata
            except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
                raise DataError(f"Cannot read {str(file)!r} as parquet ({exc}); check the file's format.") from exc
            rows += int(meta.num_rows)
            names = tuple(str(n) for n in meta.schema.to_arrow_schema().names)
            if columns is None:
                columns = names
            elif not set(columns) <= set(names):
                missing = sorted(set(columns) - set(names))
                raise DataError(f"The Parquet file {str(file)!r} lacks the column(s) {missing} that {str(files[0])!r} has; "
                                "every file of the dataset needs the same columns.")
        if rows == 0:
            raise InvalidValueError(f"The data in {str(root)!r} has no rows; an audit needs at least one.")
        check_parquet_schemas(files)  # streamed too: files that disagree on a type would fail midway
        return cls(str(root), tuple(str(f) for f in files), rows, columns or ())

    def check_columns(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.columns:
                shown = ", ".join(repr(c) for c in self.columns[:12])
                raise ColumnError(f"The column {name!r} is not in the Parquet data (columns: {shown}).")

    def sha256(self) -> str:
        """Digest of the files (:func:`files_sha256`): a single file's is that of its bytes, as
        :func:`~audit_engine.data.loader.load_data` gives it; a folder's covers names and bytes."""
        return files_sha256(self.path, self.files)

    def head(self, n: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The first ``n`` rows (or fewer) as a DataFrame."""
        return next(iter(self.chunks(n, columns=columns)))[1]

    def take(self, index: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        """The rows at global row indices ``index`` (increasing), only ``columns``."""
        import pyarrow.dataset as ds

        dataset = ds.dataset(list(self.files), format="parquet")
        return dataset.take(np.asarray(index, dtype=np.int64), columns=list(columns)).to_pandas()

    def chunks(self, chunk_rows: int, *, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(start_row, frame)`` chunks of exactly ``chunk_rows`` rows (the last may be shorter)."""
        import pyarrow.dataset as ds

        dataset = ds.dataset(list(self.files), format="parquet")
        cols = list(columns) if columns is not None else None
        # little read-ahead: pyarrow's default (16 batches, 4 files) would hold many chunks at once
        batches = dataset.to_batches(columns=cols, batch_size=min(chunk_rows, 1 << 16), batch_readahead=2,
                                     fragment_readahead=1, use_threads=False)
        yield from rebatch((b.to_pandas() for b in batches if b.num_rows), chunk_rows)


def files_sha256(path: str | os.PathLike[str], files: Sequence[str]) -> str:
    """The digest of a table's files, in order: a single file's bytes; for a folder, each file's
    name relative to it (then a NUL) and its bytes, so renaming or moving a file changes it too."""
    digest = hashlib.sha256()
    root = Path(path)
    folder = root.is_dir()
    for file in files:
        if folder:
            digest.update(Path(file).relative_to(root).as_posix().encode() + b"\x00")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def rebatch(frames: Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Re-cut a stream of frames into ``(start_row, frame)`` chunks of exactly ``chunk_rows`` rows."""
    import pandas as pd  # start-up time: see the module's imports
    pending: list[pd.DataFrame] = []
    held = 0
    start = 0
    for frame in frames:
        pending.append(frame)
        held += len(frame)
        while held >= chunk_rows:
            joined = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            chunk = joined.iloc[:chunk_rows].reset_index(drop=True)
            rest = joined.iloc[chunk_rows:].reset_index(drop=True)
            yield start, chunk
            start += chunk_rows
            pending = [rest] if len(rest) else []
            held = len(rest)
    if held:
        joined = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        yield start, joined.reset_index(drop=True)
