"""A CSV file or folder of CSV files, read in chunks of exactly ``chunk_rows`` rows, with the
values and dtypes :func:`~audit_engine.data.loader.load_data` gives the whole file.

Files are ``.csv`` / ``.txt`` (comma-separated) or ``.tsv`` (tab-separated), as the local
loader reads them; a folder is searched recursively and its files are taken in sorted path
order, each with its own header line, and read as if they were one file. Rows keep their
order; chunk k holds the global rows ``[k*R, (k+1)*R)`` (:func:`~audit_engine.data.parquet.rebatch`),
so every chunk-wise sum is the same as for a Parquet source of the same rows. Memory is
bounded by the chunk size.

Why the values equal the whole-file read: each chunk is parsed by the same pandas parser
with the same options as ``pd.read_csv(path, sep=sep)`` in the loader, so every token
gives the same value. Only the *dtype* pandas infers depends on which rows it sees at once
(a column of integers with one blank cell is ``float64`` in the chunk holding the blank and
``int64`` elsewhere). :meth:`CsvSource.open` therefore reads the source once (it counts the
rows anyway: CSV has no footer) and records, per column, the kinds of values the chunks gave;
the chunks are then brought to the dtype one parse of the whole column gives:

- numbers only (integers, floats, all-missing chunks): the common numeric dtype
  (``int64`` + ``float64`` → ``float64``, the cast pandas makes itself);
- booleans with missing values: ``object`` holding ``True`` / ``False`` / ``NaN``;
- any text in the column: the column is read as text (``dtype=str``) in every chunk,
  which is what one parse gives once a token is not a number (``"3"`` stays ``"3"``).

The one case where the loader's own result depends on pandas' internals: a file larger
than pandas' ``low_memory`` buffer whose column mixes numbers and text is read by pandas
in pieces (with a ``DtypeWarning``) and keeps numbers in some rows and text in others;
the streamed source reads such a column as text throughout.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ColumnError, DataError, DataNotFoundError, InvalidValueError
from .parquet import files_sha256, rebatch

if TYPE_CHECKING:  # pandas is imported where rows are read (start-up time, as in data/parquet.py)
    import pandas as pd

__all__ = ["CsvSource", "is_csv_source", "csv_files", "csv_header", "refuse_duplicates", "CSV_SEPARATORS"]

CSV_SEPARATORS = {".csv": ",", ".txt": ",", ".tsv": "\t"}
"""Suffix → separator, as :func:`audit_engine.data.loader.load_data` reads them."""

_SCAN_ROWS = 1 << 16  # rows per chunk of the counting pass


def csv_files(path: str | os.PathLike[str]) -> list[Path]:
    """The CSV files of ``path``: the file itself, or a folder's CSV files in sorted path order."""
    root = Path(path)
    if root.is_file():
        return [root] if root.suffix.lower() in CSV_SEPARATORS else []
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in CSV_SEPARATORS)
    return []


def is_csv_source(source: object) -> bool:
    """True for a path to a CSV file (.csv, .txt, .tsv) or to a folder holding CSV files."""
    return isinstance(source, (str, os.PathLike)) and bool(csv_files(source))


def csv_header(path: Path, sep: str) -> list[str]:
    """The column names of a CSV's first line as written (pandas renames a repeated 'a' to 'a.1')."""
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            first = fh.readline(1 << 20)
    except OSError:
        return []
    return next(csv.reader([first], delimiter=sep), [])


def refuse_duplicates(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ColumnError(
                f"{where} names the column {name!r} twice; a feature must have one name, so rename or drop one of them."
            )
        seen.add(name)


def _kind(column: pd.Series) -> str:
    """What one chunk's column holds: ``"nan"`` (nothing), ``"number"``, ``"bool"`` or ``"text"``."""
    dtype = column.dtype
    if dtype.kind in "iuf":
        return "nan" if dtype.kind == "f" and column.isna().all() else "number"
    if dtype.kind == "b":
        return "bool"
    if dtype == object and all(isinstance(v, (bool, np.bool_)) for v in column.dropna()):
        return "bool"  # booleans with missing values (an all-missing column is float64)
    return "text"


def _settle(kinds: set[str], dtypes: set[Any]) -> Any:
    """The dtype one parse of a whole column gives, from what its chunks held; None: read as text."""
    if "text" in kinds or ("bool" in kinds and "number" in kinds):
        return None
    if "bool" in kinds:
        return np.dtype(bool) if dtypes == {np.dtype(bool)} else np.dtype(object)
    return np.result_type(*dtypes, *([np.float64] if "nan" in kinds or not dtypes else []))


@dataclass(frozen=True)
class CsvSource:
    """The files of a CSV dataset, their row count and the dtype each column reads as.

    Attributes
    ----------
    path: the file or folder given.
    files: the CSV files, sorted by path.
    n_rows: total data rows (counted by the opening pass).
    columns: the header's column names (every file must have the same ones).
    dtypes: column → the dtype every chunk is cast to (numbers: their common dtype;
        booleans: ``bool``, or ``object`` when some are missing).
    text: columns read as text (``dtype=str``) in every chunk.
    """

    path: str
    files: tuple[str, ...]
    n_rows: int
    columns: tuple[str, ...]
    dtypes: Mapping[str, Any] = field(default_factory=dict)
    text: tuple[str, ...] = ()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, scan_rows: int = _SCAN_ROWS) -> CsvSource:
        """Find the files, check their headers, count the rows and settle each column's dtype
        (one pass, ``scan_rows`` rows at a time)."""
        import pandas as pd

        root = Path(path)
        if not root.exists():
            raise DataNotFoundError(f"Data path {str(root)!r} does not exist; check the path.")
        files = csv_files(root)
        if not files:
            raise DataError(f"{str(root)!r} holds no .csv, .tsv or .txt files; point --data at CSV or Parquet files.")
        columns: tuple[str, ...] | None = None
        kinds: dict[str, set[str]] = {}
        dtypes: dict[str, set[Any]] = {}
        rows = 0
        for file in files:
            sep = CSV_SEPARATORS[file.suffix.lower()]
            refuse_duplicates(csv_header(file, sep), f"The header of {str(file)!r}")
            try:
                for frame in pd.read_csv(file, sep=sep, chunksize=scan_rows):
                    names = tuple(str(c) for c in frame.columns)
                    if columns is None:
                        columns = names
                        kinds = {c: set() for c in columns}
                        dtypes = {c: set() for c in columns}
                    elif set(names) != set(columns):
                        raise DataError(
                            f"The CSV file {str(file)!r} has the columns {list(names)[:12]}, not those of "
                            f"{str(files[0])!r} ({list(columns)[:12]}); every file of the dataset needs the same columns.")
                    rows += len(frame)
                    for name in columns:
                        kind = _kind(frame[name])
                        kinds[name].add(kind)
                        if kind != "nan":
                            dtypes[name].add(frame[name].dtype)
            except pd.errors.EmptyDataError as exc:
                raise InvalidValueError(f"The data file {str(file)!r} is empty; it needs a header and rows.") from exc
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                raise DataError(f"Cannot read {str(file)!r} as CSV ({exc}); check the file's format.") from exc
        if not rows or columns is None:
            raise InvalidValueError(f"The data in {str(root)!r} has no rows; an audit needs at least one.")
        settled = {name: _settle(kinds[name], dtypes[name]) for name in columns}
        text = tuple(name for name, dtype in settled.items() if dtype is None)
        return cls(str(root), tuple(str(f) for f in files), rows, columns,
                   {name: dtype for name, dtype in settled.items() if dtype is not None}, text)

    def check_columns(self, names: Sequence[str]) -> None:
        for name in names:
            if name not in self.columns:
                shown = ", ".join(repr(c) for c in self.columns[:12])
                raise ColumnError(f"The column {name!r} is not in the CSV data (columns: {shown}).")

    def sha256(self) -> str:
        """Digest of the files (:func:`~audit_engine.data.parquet.files_sha256`), as for Parquet."""
        return files_sha256(self.path, self.files)

    def head(self, n: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The first ``n`` rows (or fewer) as a DataFrame."""
        return next(iter(self.chunks(n, columns=columns)))[1]

    def take(self, index: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        """The rows at global row indices ``index`` (increasing), only ``columns`` (one pass over the files)."""
        import pandas as pd

        index = np.asarray(index, dtype=np.int64)
        parts = []
        for start, frame in self.chunks(_SCAN_ROWS, columns=columns):
            lo, hi = np.searchsorted(index, [start, start + len(frame)])
            if hi > lo:
                parts.append(frame.iloc[index[lo:hi] - start])
            if hi == len(index):
                break
        if not parts:
            return self.head(1, columns).iloc[:0]
        return pd.concat(parts, ignore_index=True)

    def chunks(self, chunk_rows: int, *, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(start_row, frame)`` chunks of exactly ``chunk_rows`` rows (the last may be shorter)."""
        cols = list(columns) if columns is not None else list(self.columns)
        yield from rebatch(self._frames(chunk_rows, cols), chunk_rows)

    def _frames(self, chunk_rows: int, cols: list[str]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        text = {c: str for c in cols if c in self.text}
        for file in self.files:
            sep = CSV_SEPARATORS[Path(file).suffix.lower()]
            try:
                reader = pd.read_csv(file, sep=sep, chunksize=chunk_rows, usecols=cols, dtype=text or None)
                for frame in reader:
                    frame.columns = [str(c) for c in frame.columns]
                    frame = frame[cols]
                    for name in cols:
                        dtype = self.dtypes.get(name)
                        if dtype is not None and frame[name].dtype != dtype:
                            frame[name] = frame[name].astype(dtype)
                    yield frame
            except (ValueError, OSError, pd.errors.ParserError) as exc:
                raise DataError(f"Cannot read {file!r} as CSV ({exc}); check the file's format.") from exc
