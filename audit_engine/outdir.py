"""Every file the CLI writes goes through here: checked before any work, written to a
staging place on the same file system, moved into place all at once, never clobbering.

The one writer of the CLI (``--out`` files, ``--junit``, ``render --out``, ``compare --out``):

- :class:`OutputFolder` (``--out``): must be absent, empty, or a previous audit-engine
  output — recognised by the manifest ``.audit-engine-manifest.json`` that every run
  writes, listing the files it wrote. Anything else is refused unless ``overwrite=True``
  (``--overwrite``), and even then only the files this run writes are replaced: a run never
  deletes a file, and never overwrites one it did not write unless told to.
- :class:`OutputFile` (``--junit FILE``, ``render --out FILE``): an existing file is
  replaced only if audit-engine wrote it (its folder's manifest lists it, or it carries the
  engine's mark: ``<testsuites name="audit-engine"`` / ``<meta name="generator"
  content="audit-engine">``), or with ``overwrite``.
- :class:`Inputs`: the run's own inputs (model, data, config, reference, OOD data, the
  audit.json being rendered, ...). No output may replace one of them or be written inside
  an input folder, ``--overwrite`` or not.

Pre-flight runs before the model is loaded: it checks every path (name lengths, dangling
symlinks, folders where a file goes), creates the folder (removed again on failure if it
was new), takes an exclusive lock on it (``flock``; a second run into the same ``--out``
is refused at once, not after its audit), removes staging folders left by a killed run
(the lock proves no live run owns them), and makes this run's staging folder, which
proves the place is writable. :meth:`commit` moves every staged file, the manifest
included, with ``os.replace`` while signals are held; :meth:`discard` removes everything
this run created. A full disk while writing (``ENOSPC``, ``EDQUOT``, ``EFBIG``) is a
:class:`~audit_engine.errors.OutputFolderError` (:func:`disk_full`).
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import OutputFolderError

__all__ = ["MANIFEST", "Inputs", "OutputFolder", "OutputFile", "read_manifest", "disk_full", "DISK_FULL_ERRNOS",
           "write_log"]

MANIFEST = ".audit-engine-manifest.json"
STAGING_PREFIX = ".audit-engine-staging-"
LOG_PREFIX = "audit-engine-error-"  # crash logs the CLI writes (exit 3); they count as the engine's own
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_MARKS = (b'<testsuites name="audit-engine"', b'<meta name="generator" content="audit-engine">')
"""What files audit-engine writes carry in their first KiB (JUnit XML, HTML reports)."""


def read_manifest(folder: Path) -> set[str] | None:
    """The file names a previous run recorded in ``folder``, or None without a readable manifest."""
    path = folder / MANIFEST
    try:
        if not path.is_file():
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc.get("files") if isinstance(doc, dict) else None
        if isinstance(files, list) and all(isinstance(f, str) for f in files):
            return set(files)
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return None


def _is_log(name: str) -> bool:
    return name.startswith(LOG_PREFIX) and name.endswith(".log")


def _describe(path: str) -> str:
    return repr(path) if path not in (".", "") else f"{path!r} (the current folder)"


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not os.path.lexists(current) and current != current.parent:
        current = current.parent
    return current


def _carries_mark(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return any(mark in head for mark in _MARKS)


def _real(path: str | os.PathLike[str]) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _entry(path: str | os.PathLike[str]) -> str:
    """The directory entry a path names: its parent resolved, its own name kept (a symlink stays itself)."""
    absolute = os.path.abspath(path)
    return os.path.join(_real(os.path.dirname(absolute)), os.path.basename(absolute))


def _name_problem(flag: str, raw: str) -> str | None:
    """A path component longer than the file system allows (ENAMETOOLONG at the first write), or None."""
    try:
        limit = int(os.pathconf(_nearest_existing(Path(raw)), "PC_NAME_MAX"))
    except (OSError, ValueError):
        limit = 255
    for part in Path(raw).parts:
        size = len(os.fsencode(part))
        if size > limit:
            return (f"{flag} holds a name of {size} bytes ({part[:24]!r}...), over the {limit}-byte limit of a "
                    "file name on this file system; pick a shorter name.")
    if len(os.fsencode(os.path.abspath(raw))) >= 4096:
        return f"{flag} is a path of over 4,096 bytes; pick a shorter one."
    return None


def disk_full(exc: OSError, where: str | os.PathLike[str] | None = None) -> OutputFolderError:
    """The one sentence for a write that ran out of space (``ENOSPC``, ``EDQUOT``, ``EFBIG``)."""
    what = {errno.EFBIG: "the file size limit (ulimit -f) was reached",
            errno.EDQUOT: "the disk quota is used up"}.get(exc.errno or 0, "the disk is full")
    place = f" in {str(where)!r}" if where else ""
    return OutputFolderError(
        f"Writing the output{place} failed: {what}; nothing was written, so free some space or pick "
        "another --out (or --junit) location and run again."
    )


class Inputs:
    """The files and folders one command reads; no output may replace one or be written inside one.

    Parameters
    ----------
    paths: role (e.g. ``"data file"``) -> path as the user wrote it; None entries are skipped.
    """

    def __init__(self, paths: Mapping[str, str | os.PathLike[str] | None] | None = None) -> None:
        self.items: list[tuple[str, str, str, str, bool]] = []  # (role, raw, entry, real, is_dir)
        for role, raw in (paths or {}).items():
            if raw is None or not os.fspath(raw).strip():
                continue
            text = os.fspath(raw)
            self.items.append((role, text, _entry(text), _real(text), os.path.isdir(text)))

    def add(self, role: str, path: str | os.PathLike[str]) -> None:
        """Protect one more input found while the command runs (a model's external-data file)."""
        text = os.fspath(path)
        self.items.append((role, text, _entry(text), _real(text), os.path.isdir(text)))

    def clash(self, target: str | os.PathLike[str]) -> str | None:
        """The role of the input that writing ``target`` would replace or sit inside, or None."""
        entry, real = _entry(target), _real(target)
        for role, raw, in_entry, in_real, is_dir in self.items:
            if entry in (in_entry, in_real) or real in (in_entry, in_real):
                return f"the {role} {raw!r}"
            if is_dir and (entry.startswith(in_real + os.sep) or real.startswith(in_real + os.sep)):
                return f"inside the {role} {raw!r}"
        return None


def _refuse_input(flag: str, raw: str, target: str | os.PathLike[str], inputs: Inputs | None) -> None:
    where = inputs.clash(target) if inputs is not None else None
    if where is not None:
        shown = "" if os.path.abspath(target) == os.path.abspath(raw) else f" (which writes {str(target)!r})"
        raise OutputFolderError(
            f"{flag} {raw!r}{shown} is {where} of this run; audit-engine never replaces or writes into its own "
            "inputs, --overwrite or not: pick another output name."
        )


class _Staged:
    """What one output creates before it commits: new folders, a staging folder, a lock."""

    def __init__(self) -> None:
        self.staging: Path | None = None
        self.created: list[Path] = []  # folders this run made, deepest last
        self._lock: int | None = None

    def _make_folder(self, folder: Path, flag: str, raw: str) -> None:
        missing: list[Path] = []
        current = folder.absolute()
        while not os.path.lexists(current) and current != current.parent:
            missing.append(current)
            current = current.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._remove_created(missing)
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, raw) from exc
            raise OutputFolderError(
                f"{flag} {_describe(raw)} is not writable: it cannot be created ({exc.strerror or exc}); pick a folder you can write to."
            ) from exc
        self.created = list(reversed(missing))

    def _stage(self, folder: Path, flag: str, raw: str) -> Path:
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
        except OSError as exc:
            self.discard()
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, raw) from exc
            raise OutputFolderError(
                f"{flag} {_describe(raw)} is not writable ({exc.strerror or exc}); pick a folder you can write to."
            ) from exc
        return self.staging

    def _take_lock(self, folder: Path, flag: str, raw: str) -> None:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return  # not lockable (e.g. no read permission): the run proceeds unlocked
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.created = []  # the folder is the other run's now, even if this run made it a moment ago
            self.discard()
            raise OutputFolderError(
                f"{flag} {_describe(raw)} is being written by another audit-engine run right now; wait for it to "
                "finish or pick another folder."
            ) from None
        except OSError:
            os.close(fd)
            return  # a file system without flock
        self._lock = fd

    def _release(self) -> None:
        if self._lock is not None:
            try:
                os.close(self._lock)
            finally:
                self._lock = None

    def _remove_created(self, folders: list[Path]) -> None:
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()  # only if empty: never removes anything but what this run made
            except OSError:
                break

    def discard(self) -> None:
        """Remove the staging folder and the folders this run created (if still empty); safe twice."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._release()
        self._remove_created(self.created)
        self.created = []


def _clean_stale_staging(folder: Path) -> None:
    """Staging folders of runs that were killed (SIGKILL, power loss); only called under the lock."""
    try:
        stale = [p for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    except OSError:
        return
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


class OutputFolder(_Staged):
    """A run's ``--out`` folder.

    Parameters
    ----------
    path: the folder (as the user wrote it).
    overwrite: replace files of the same name that audit-engine did not write.
    inputs: the run's inputs, which no output may replace.
    flag: how the folder is named in messages.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False, inputs: Inputs | None = None,
                 flag: str = "--out") -> None:
        super().__init__()
        self.raw = os.fspath(path)
        self.path = Path(self.raw)
        self.overwrite = overwrite
        self.inputs = inputs
        self.flag = flag
        self.previous: set[str] = set()
        self.names: tuple[str, ...] = ()

    # ------------------------------------------------------------------ checks
    def preflight(self, names: tuple[str, ...] = ()) -> OutputFolder:
        """Check the folder, create and lock it, make the staging folder; raise OutputFolderError if unusable.

        ``names``: the files this run will write (checked against what is there).
        """
        flag = self.flag
        if not self.raw.strip():
            raise OutputFolderError(f"{flag} is empty; name the folder to write the audit to, e.g. {flag} audit-out.")
        problem = _name_problem(flag, self.raw)
        if problem:
            raise OutputFolderError(problem)
        out = self.path
        if os.path.islink(out) and not out.exists():
            raise OutputFolderError(
                f"{flag} {_describe(self.raw)} is a symbolic link to {os.readlink(out)!r}, which does not exist; "
                "create that folder or pick another one."
            )
        if out.exists() and not out.is_dir():
            raise OutputFolderError(
                f"{flag} {_describe(self.raw)} is an existing file, not a folder; pick a folder name (it is created)."
            )
        _refuse_input(flag, self.raw, out, self.inputs)
        self.names = tuple(names)
        for name in names:
            _refuse_input(flag, self.raw, out / name, self.inputs)
        if out.is_dir():
            self._check_existing(out, names)
        anchor = _nearest_existing(out)
        if not anchor.is_dir():
            raise OutputFolderError(f"{flag} {_describe(self.raw)} is inside {str(anchor)!r}, which is a file; pick another folder.")
        self._make_folder(out, flag, self.raw)
        self._take_lock(out, flag, self.raw)
        _clean_stale_staging(out)
        self._stage(out, flag, self.raw)  # same file system, so os.replace moves files whole
        return self

    def _check_existing(self, out: Path, names: tuple[str, ...]) -> None:
        flag = self.flag
        try:
            listing = list(out.iterdir())
        except OSError as exc:
            raise OutputFolderError(
                f"{flag} {_describe(self.raw)} cannot be read ({exc.strerror or exc}); pick a folder you can write to."
            ) from exc
        entries = [p.name for p in listing if not p.name.startswith(STAGING_PREFIX) and not _is_log(p.name)]
        manifest = read_manifest(out)
        self.previous = manifest or set()
        for name in names:
            there = out / name
            if os.path.lexists(there) and not (there.is_file() or os.path.islink(there)):
                kind = "a folder" if there.is_dir() else "something other than a file"
                raise OutputFolderError(
                    f"{flag} {_describe(self.raw)} holds {kind} named {name!r} where audit-engine writes a file; "
                    "move it away or pick another folder (nothing was replaced)."
                )
        foreign = [n for n in entries if n != MANIFEST and n not in self.previous]
        clashes = [n for n in names if n in foreign]
        if manifest is None and entries and not self.overwrite:
            shown = ", ".join(repr(n) for n in sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputFolderError(
                f"{flag} {_describe(self.raw)} holds files audit-engine did not write ({shown}); "
                "pick a new or empty folder, or pass --overwrite to write there anyway "
                "(only the audit's own files are replaced, nothing is deleted)."
            )
        if clashes and not self.overwrite:
            raise OutputFolderError(
                f"{flag} {_describe(self.raw)} holds {clashes[0]!r}, which audit-engine did not write; "
                "move it away or pass --overwrite to replace it."
            )

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writing(self) -> Iterator[Path]:
        """Yield the staging folder; a full disk while writing into it becomes one OutputFolderError."""
        assert self.staging is not None, "preflight() first"
        try:
            yield self.staging
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, self.raw) from exc
            raise

    def commit(self) -> list[str]:
        """Move every staged file, then the manifest, into the folder; returns the names."""
        assert self.staging is not None, "preflight() first"
        names = sorted(p.name for p in self.staging.iterdir() if p.name != MANIFEST)
        for name in names:
            target = self.path / name
            _refuse_input(self.flag, self.raw, target, self.inputs)
            if os.path.lexists(target) and name not in self.previous and not self.overwrite:
                raise OutputFolderError(
                    f"{str(target)!r} appeared during the audit and audit-engine did not write it; "
                    "nothing was replaced. Move it away or pass --overwrite."
                )
            if os.path.isdir(target) and not os.path.islink(target):
                raise OutputFolderError(
                    f"{str(target)!r} became a folder during the audit; nothing was replaced. Move it away."
                )
        from .runtime import signals_deferred

        with signals_deferred():  # all files and the manifest, or (before this point) none
            kept = {n for n in self.previous if os.path.lexists(self.path / n)}
            try:
                _write_manifest(self.staging, sorted(kept | set(names)))
            except OSError as exc:
                if exc.errno in DISK_FULL_ERRNOS:
                    raise disk_full(exc, self.raw) from exc
                raise
            for name in [*names, MANIFEST]:
                os.replace(self.staging / name, self.path / name)
            self.created = []  # the folder now holds the audit: keep it
            self.discard()
        return names

    def log_folder(self) -> Path:
        """Where a crash log goes: the output folder if it can be written, else a new temp folder."""
        try:
            if self.raw.strip() and self.path.is_dir() and os.access(self.path, os.W_OK):
                return self.path
        except OSError:
            pass
        return Path(tempfile.mkdtemp(prefix="audit-engine-log-"))


class OutputFile(_Staged):
    """A single output file (``--junit FILE``, ``render --out FILE``): replaced only if audit-engine wrote it.

    An existing file is replaced when a manifest beside it lists it, when it carries the
    engine's mark (:data:`_MARKS`), or with ``overwrite``; never when it is one of the
    run's inputs. The manifest is updated only where one already exists (no litter in user
    folders). ``companions``: further names written beside it (``model_card.json``).
    When the file lies in ``folder`` (the run's ``--out``), it is staged and committed
    with that folder.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False, inputs: Inputs | None = None,
                 flag: str = "--out", companions: tuple[str, ...] = (), folder: OutputFolder | None = None,
                 what: str = "HTML file") -> None:
        super().__init__()
        self.raw = os.fspath(path)
        self.path = Path(self.raw)
        self.overwrite = overwrite
        self.inputs = inputs
        self.flag = flag
        self.companions = companions
        self.folder = folder
        self.what = what

    @property
    def names(self) -> tuple[str, ...]:
        return (self.path.name, *self.companions)

    def preflight(self) -> OutputFile:
        flag = self.flag
        if not self.raw.strip():
            raise OutputFolderError(f"{flag} is empty; name the {self.what} to write.")
        problem = _name_problem(flag, self.raw)
        if problem:
            raise OutputFolderError(problem)
        if self.path.is_dir():
            raise OutputFolderError(
                f"{flag} {self.raw!r} is a folder; name the {self.what} to write, e.g. {self.raw}/{self._example()}."
            )
        parent = self.path.absolute().parent
        targets = [parent / name for name in self.names]
        for target in targets:
            _refuse_input(flag, self.raw, target, self.inputs)
        if self.folder is not None and _real(parent) == _real(self.folder.path):
            clash = next((n for n in self.names if n in self.folder.names), None)
            if clash is not None:
                raise OutputFolderError(
                    f"{flag} {self.raw!r} names {clash!r}, which {self.folder.flag} writes too; pick another file name."
                )
            self.folder.names = (*self.folder.names, *self.names)
            self.folder._check_existing(self.folder.path, self.names)
            return self  # staged in (and committed with) the folder
        self.folder = None
        listed = read_manifest(parent) or set()
        for target in targets:
            if os.path.lexists(target) and not (target.is_file() or os.path.islink(target)):
                raise OutputFolderError(f"{flag} {str(target)!r} exists and is not a file; pick another name.")
            if (os.path.lexists(target) and not self.overwrite and target.name not in listed
                    and not (target.suffix in (".xml", ".html", ".htm") and _carries_mark(target))):
                raise OutputFolderError(
                    f"{flag} {str(target)!r} exists and audit-engine did not write it; pick another name or pass "
                    "--overwrite."
                )
        anchor = _nearest_existing(parent)
        if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
            raise OutputFolderError(f"{flag} {self.raw!r} is not writable; pick a folder you can write to.")
        self._make_folder(parent, flag, self.raw)
        self._stage(parent, flag, self.raw)
        return self

    def _example(self) -> str:
        return "verdicts.xml" if self.what == "JUnit XML file" else "report.html"

    @property
    def staged(self) -> Path:
        """Where to write the file before :meth:`commit` (companions go beside it)."""
        if self.folder is not None:
            assert self.folder.staging is not None
            return self.folder.staging / self.path.name
        assert self.staging is not None, "preflight() first"
        return self.staging / self.path.name

    @contextmanager
    def writing(self) -> Iterator[Path]:
        """Yield :attr:`staged`; a full disk while writing becomes one OutputFolderError."""
        try:
            yield self.staged
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc, self.raw) from exc
            raise

    def commit(self) -> None:
        """Move the staged file (and companions) into place; record them where a manifest exists."""
        if self.folder is not None:
            return  # the folder's commit moves it
        assert self.staging is not None, "preflight() first"
        from .runtime import signals_deferred

        parent = self.path.absolute().parent
        for name in self.names:  # inputs found during the run (external data) are protected too
            _refuse_input(self.flag, self.raw, parent / name, self.inputs)
        with signals_deferred():
            for name in self.names:
                if (self.staging / name).exists():
                    os.replace(self.staging / name, parent / name)
            self.created = []
            self.discard()
            listed = read_manifest(parent)
            if listed is not None:
                try:
                    _write_manifest(parent, sorted(listed | set(self.names)))
                except OSError:
                    pass  # the files are in place; an out-of-date manifest only means a later --overwrite

    def written(self) -> None:  # kept for callers of the former API
        self.commit()


def write_log(folder: OutputFolder | None, name: str, text: str) -> Path:
    """Write a crash log into ``folder`` (or a new temp folder when it cannot take it); return its path.

    Written through a temporary file and renamed, so a full disk leaves no partial log behind.
    """
    from .result import atomic_write_text

    places = [folder.log_folder()] if folder is not None else []
    for where in places:
        try:
            atomic_write_text(where / name, text)
            return where / name
        except OSError:
            pass
    where = Path(tempfile.mkdtemp(prefix="audit-engine-log-"))  # /tmp full too: the caller says so
    try:
        atomic_write_text(where / name, text)
    except OSError:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return where / name


def _write_manifest(folder: Path, files: list[str]) -> None:
    from .result import atomic_write_text

    doc: dict[str, Any] = {
        "written_by": f"audit-engine {__version__}",
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "note": "audit-engine replaces only the files listed here when it writes to this folder again.",
    }
    atomic_write_text(folder / MANIFEST, json.dumps(doc, indent=2) + "\n")
