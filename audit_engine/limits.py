"""Resource limits checked before anything large is read: arrays, tables, external data.

The memory budget (``--max-memory``; default half of the machine's available memory,
``MemAvailable`` in /proc/meminfo) bounds what a data file *declares* it holds: .npy/.npz
headers are read with ``numpy.lib.format`` without loading the arrays (every member of an
.npz, whatever its name), Parquet row counts, columns and the uncompressed bytes of
variable-length (string) columns come from the footers, of one file or of every file of a
folder. So a 12 MB .npz that declares a 12 GiB array, or a 1 MB Parquet file of compressed
text that expands to gigabytes, is refused in milliseconds instead of exhausting memory.
Arrays of Python objects (pickles) are refused outright: they would run code on load.
"""

from __future__ import annotations

import os
import stat
import zipfile
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, ResourceLimitError

__all__ = ["model_byte_limit", "set_model_byte_limit", "available_memory", "memory_budget", "set_memory_budget", "memory_limit",
           "check_data_file", "declared_array_bytes", "format_bytes", "check_parquet_schemas", "parquet_files",
           "not_a_file"]

_budget: int | None = None
_model_bytes: int | None = None
DEFAULT_MODEL_BYTES = 2 * 1024**3


def model_byte_limit() -> int:
    """Largest model (file plus external data) this process loads: ``--max-model-bytes``, default 2 GiB."""
    return DEFAULT_MODEL_BYTES if _model_bytes is None else _model_bytes


def set_model_byte_limit(value: int | None) -> None:
    global _model_bytes
    _model_bytes = None if value is None else int(value)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int | None:
    """The budget in bytes: the one set (``--max-memory``), else half the available memory."""
    if _budget is not None:
        return _budget
    free = available_memory()
    return None if free is None else free // 2


def set_memory_budget(value: int | None) -> None:
    """Set the budget for this process (None: back to half the available memory)."""
    global _budget
    _budget = None if value is None else int(value)


@contextmanager
def memory_limit(value: int | None) -> Iterator[None]:
    """Temporarily set the memory budget (``None`` keeps the default)."""
    previous = _budget
    if value is not None:
        set_memory_budget(value)
    try:
        yield
    finally:
        set_memory_budget(previous)


def format_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def _header(fh: object, path: Path, member: str | None) -> tuple[tuple[int, ...], np.dtype]:
    from numpy.lib import format as npformat

    where = f"array {member!r} of {str(path)!r}" if member else repr(str(path))
    try:
        version = npformat.read_magic(fh)  # type: ignore[arg-type]
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fh)  # type: ignore[arg-type]
        else:
            shape, _, dtype = npformat.read_array_header_2_0(fh)  # type: ignore[arg-type]
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"The {where} is not a readable .npy array ({exc}); save it again with numpy.save.") from exc
    if dtype.hasobject:
        raise DataError(
            f"The {where} holds Python objects (a pickle), which audit-engine does not load because "
            "unpickling can run code; save numeric or string arrays (dtype not object)."
        )
    return tuple(int(d) for d in shape), dtype


def declared_array_bytes(path: str | os.PathLike[str]) -> dict[str, int]:
    """Bytes each array in an .npy / .npz file declares, from the headers alone.

    Every member of an .npz counts, whatever its name: numpy loads a member without the
    ``.npy`` suffix as an array too when it starts with the .npy magic, and as raw bytes
    (its uncompressed size) otherwise.
    """
    from numpy.lib import format as npformat

    file = Path(path)
    out: dict[str, int] = {}
    if file.suffix.lower() == ".npy":
        with file.open("rb") as fh:
            shape, dtype = _header(fh, file, None)
        out["x"] = int(np.prod(shape, dtype=object)) * dtype.itemsize
        return out
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{str(file)!r} is not a readable .npz archive ({exc}); save it with numpy.savez.") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            try:
                with archive.open(info) as fh:
                    magic = fh.read(len(npformat.MAGIC_PREFIX))
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                raise DataError(f"{str(file)!r} is not a readable .npz archive ({exc}); save it with numpy.savez.") \
                    from exc
            if magic != npformat.MAGIC_PREFIX:
                out[name] = int(info.file_size)  # numpy hands it over as bytes
                continue
            with archive.open(info) as fh:
                shape, dtype = _header(fh, file, name)
            out[name] = int(np.prod(shape, dtype=object)) * dtype.itemsize
    return out


_PARQUET_SUFFIXES = (".parquet", ".pq")
_OBJECT_BYTES = 57  # a Python str in a pandas object column: ~49 bytes of object plus the 8-byte pointer


def _parquet_meta(file: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"Cannot read {str(file)!r} as parquet ({exc}); check the file's format.") from exc


def _parquet_bytes(file: Path) -> tuple[int, int, int]:
    """Rows, columns and the bytes pandas would hold, from the footer alone.

    Every value takes at least 8 bytes (float64 / int64 / an object pointer); a
    variable-length column (strings, binary) adds its uncompressed size plus a Python
    object per value, so a file of long strings is measured by what it holds, not by
    rows × columns.
    """
    meta = _parquet_meta(file)
    rows, columns = int(meta.num_rows), int(meta.num_columns)
    total = rows * columns * 8
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"):
                total += int(chunk.total_uncompressed_size) + _OBJECT_BYTES * int(chunk.num_values)
    return rows, columns, total


def parquet_files(folder: Path) -> list[Path]:
    """The Parquet files of a dataset folder, sorted (as the streamed source reads them)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in _PARQUET_SUFFIXES)


def check_parquet_schemas(files: list[Path]) -> None:
    """Refuse a Parquet dataset whose files disagree on a column's type (reading it would fail midway)."""
    first: dict[str, tuple[str, Path]] = {}
    for file in files:
        schema = _parquet_meta(file).schema.to_arrow_schema()
        for field in schema:
            seen = first.setdefault(field.name, (str(field.type), file))
            if seen[0] != str(field.type):
                raise DataError(
                    f"The Parquet files of the dataset disagree on column {field.name!r}: {seen[0]} in "
                    f"{str(seen[1])!r}, {field.type} in {str(file)!r}; write every file with the same schema."
                )


def not_a_file(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a folder", "a named pipe (FIFO)", ...)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_data_file(path: str | os.PathLike[str]) -> None:
    """Refuse a data file (or Parquet folder) whose declared content exceeds :func:`memory_budget`, before loading it.

    Raises
    ------
    ResourceLimitError: the declared arrays or table are over the budget.
    DataError: the headers are unreadable, an array holds pickled objects, or the files of
        a Parquet folder disagree on a column's type.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    budget = memory_budget()
    if file.is_dir():
        files = parquet_files(file)
        if not files:
            return
        check_parquet_schemas(files)
        sizes = [_parquet_bytes(f) for f in files]
        rows, total = sum(s[0] for s in sizes), sum(s[2] for s in sizes)
        on_disk = sum(f.stat().st_size for f in files)
        what = f"{rows} rows in {len(files)} Parquet files (about {format_bytes(total)} in memory)"
        kind = "data folder"
    elif suffix in (".npy", ".npz"):
        sizes_ = declared_array_bytes(file)
        total = sum(sizes_.values())
        what = (f"arrays of {format_bytes(total)} (largest {max(sizes_, key=sizes_.__getitem__)!r}: "
                f"{format_bytes(max(sizes_.values()))})") if sizes_ else ""
        on_disk, kind = file.stat().st_size, "data file"
    elif suffix in _PARQUET_SUFFIXES:
        rows, columns, total = _parquet_bytes(file)
        what = f"{rows} rows × {columns} columns (about {format_bytes(total)} in memory)"
        on_disk, kind = file.stat().st_size, "data file"
    else:
        return
    if budget is not None and total > budget:
        raise ResourceLimitError(
            f"The {kind} {str(file)!r} ({format_bytes(on_disk)} on disk) declares {what}, over the "
            f"memory budget of {format_bytes(budget)}; pass a sample of the data or raise --max-memory."
        )
