"""Resource limits checked before anything large is read: arrays, tables, external data.

The memory budget (``--max-memory``; default half of the machine's available memory,
``MemAvailable`` in /proc/meminfo) bounds what a data file *declares* it holds: .npy/.npz
headers are read with ``numpy.lib.format`` without loading the arrays, Parquet row counts
and columns come from its footer. So a 12 MB .npz that declares a 12 GiB array is refused
in milliseconds instead of exhausting memory. Arrays of Python objects (pickles) are
refused outright: they would run code on load.
"""

from __future__ import annotations

import os
import zipfile
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import DataError, ResourceLimitError

__all__ = ["model_byte_limit", "set_model_byte_limit", "available_memory", "memory_budget", "set_memory_budget", "memory_limit",
           "check_data_file", "declared_array_bytes", "format_bytes"]

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
    """Bytes each array in an .npy / .npz file declares, from the headers alone."""
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
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            with archive.open(info) as fh:
                shape, dtype = _header(fh, file, name)
            out[name] = int(np.prod(shape, dtype=object)) * dtype.itemsize
    return out


def _parquet_bytes(file: Path) -> tuple[int, int, int]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(file).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"Cannot read {str(file)!r} as parquet ({exc}); check the file's format.") from exc
    rows, columns = int(meta.num_rows), int(meta.num_columns)
    # pandas holds every value in at least 8 bytes (float64 / int64 / an object pointer).
    return rows, columns, rows * columns * 8


def check_data_file(path: str | os.PathLike[str]) -> None:
    """Refuse a data file whose declared content exceeds :func:`memory_budget`, before loading it.

    Raises
    ------
    ResourceLimitError: the declared arrays or table are over the budget.
    DataError: the headers are unreadable, or an array holds pickled objects.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    budget = memory_budget()
    if suffix in (".npy", ".npz"):
        sizes = declared_array_bytes(file)
        total = sum(sizes.values())
        what = (f"arrays of {format_bytes(total)} (largest {max(sizes, key=sizes.__getitem__)!r}: "
                f"{format_bytes(max(sizes.values()))})") if sizes else ""
    elif suffix in (".parquet", ".pq"):
        rows, columns, total = _parquet_bytes(file)
        what = f"{rows} rows × {columns} columns (about {format_bytes(total)} in memory)"
    else:
        return
    if budget is not None and total > budget:
        raise ResourceLimitError(
            f"The data file {str(file)!r} ({format_bytes(file.stat().st_size)} on disk) declares {what}, over the "
            f"memory budget of {format_bytes(budget)}; pass a sample of the data or raise --max-memory."
        )
