"""The output folder: checked before an audit runs, written all at once, never clobbering.

``OutputFolder(path).preflight()`` runs before the model is loaded. The folder must be
absent, empty, or a previous audit-engine output — recognised by the manifest
``.audit-engine-manifest.json`` that every run writes, listing the files it wrote. Anything
else is refused unless ``overwrite=True`` (``--overwrite``), and even then only the files
this run writes are replaced: a run never deletes a file, and never overwrites one it did
not write unless told to. ``--out .`` and ``--out ""`` follow the same rule (``""`` is refused).

Pre-flight also makes the hidden staging folder (inside the folder, or inside its nearest
existing parent when it does not exist yet), which proves the place is writable; files are
written there and moved into place with ``os.replace`` only when all of them are done.
:meth:`OutputFolder.discard` removes the staging folder; the CLI calls it on every
failure, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import OutputFolderError

__all__ = ["MANIFEST", "OutputFolder", "OutputFile", "read_manifest"]

MANIFEST = ".audit-engine-manifest.json"
STAGING_PREFIX = ".audit-engine-staging-"
LOG_PREFIX = "audit-engine-error-"  # crash logs the CLI writes (exit 3); they count as the engine's own


def read_manifest(folder: Path) -> set[str] | None:
    """The file names a previous run recorded in ``folder``, or None without a readable manifest."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
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
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


class OutputFolder:
    """A run's ``--out`` folder.

    Parameters
    ----------
    path: the folder (as the user wrote it).
    overwrite: replace files of the same name that audit-engine did not write.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.raw = os.fspath(path)
        self.path = Path(self.raw)
        self.overwrite = overwrite
        self.staging: Path | None = None
        self.previous: set[str] = set()

    # ------------------------------------------------------------------ checks
    def preflight(self, names: tuple[str, ...] = ()) -> OutputFolder:
        """Check the folder and make the staging folder; raise OutputFolderError if unusable.

        ``names``: the files this run will write (checked against what is there).
        """
        if not self.raw.strip():
            raise OutputFolderError("--out is empty; name the folder to write the audit to, e.g. --out audit-out.")
        out = self.path
        if out.exists() and not out.is_dir():
            raise OutputFolderError(
                f"--out {_describe(self.raw)} is an existing file, not a folder; pick a folder name (it is created)."
            )
        if out.is_dir():
            entries = [p.name for p in out.iterdir()
                       if not p.name.startswith(STAGING_PREFIX) and not _is_log(p.name)]
            manifest = read_manifest(out)
            self.previous = manifest or set()
            foreign = [n for n in entries if n != MANIFEST and n not in self.previous]
            clashes = [n for n in names if n in foreign]
            if manifest is None and entries and not self.overwrite:
                shown = ", ".join(repr(n) for n in sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
                raise OutputFolderError(
                    f"--out {_describe(self.raw)} holds files audit-engine did not write ({shown}); "
                    "pick a new or empty folder, or pass --overwrite to write there anyway "
                    "(only the audit's own files are replaced, nothing is deleted)."
                )
            if clashes and not self.overwrite:
                raise OutputFolderError(
                    f"--out {_describe(self.raw)} holds {clashes[0]!r}, which audit-engine did not write; "
                    "move it away or pass --overwrite to replace it."
                )
        anchor = _nearest_existing(out)
        if not anchor.is_dir():
            raise OutputFolderError(f"--out {_describe(self.raw)} is inside {str(anchor)!r}, which is a file; pick another folder.")
        base = out if out.is_dir() else anchor  # same file system, so os.replace moves files whole
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))
        except OSError as exc:
            raise OutputFolderError(
                f"--out {_describe(self.raw)} is not writable ({exc.strerror or exc}); pick a folder you can write to."
            ) from exc
        return self

    # ------------------------------------------------------------------ writing
    def commit(self) -> list[str]:
        """Move every staged file into the folder, then write the manifest; returns the names."""
        assert self.staging is not None, "preflight() first"
        names = sorted(p.name for p in self.staging.iterdir())
        self.path.mkdir(parents=True, exist_ok=True)
        for name in names:
            target = self.path / name
            if target.exists() and name not in self.previous and not self.overwrite:
                raise OutputFolderError(
                    f"{str(target)!r} appeared during the audit and audit-engine did not write it; "
                    "nothing was replaced. Move it away or pass --overwrite."
                )
        from .runtime import signals_deferred

        with signals_deferred():  # all files and the manifest, or (before this point) none
            for name in names:
                os.replace(self.staging / name, self.path / name)
            kept = {n for n in self.previous if (self.path / n).exists()}
            _write_manifest(self.path, sorted(kept | set(names)))
            self.discard()
        return names

    def discard(self) -> None:
        """Remove the staging folder (safe to call twice)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def log_folder(self) -> Path:
        """Where a crash log goes: the output folder if it can be written, else a new temp folder."""
        try:
            if self.raw.strip() and (self.path.is_dir() or not self.path.exists()):
                self.path.mkdir(parents=True, exist_ok=True)
                if os.access(self.path, os.W_OK):
                    return self.path
        except OSError:
            pass
        return Path(tempfile.mkdtemp(prefix="audit-engine-log-"))


class OutputFile:
    """A single output file (``render --out FILE``): replaced only if audit-engine wrote it.

    An existing file is replaced when a manifest beside it lists it, or with ``overwrite``;
    the manifest is updated only where one already exists (no litter in user folders).
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.raw = os.fspath(path)
        self.path = Path(self.raw)
        self.overwrite = overwrite

    def preflight(self) -> OutputFile:
        if not self.raw.strip():
            raise OutputFolderError("--out is empty; name the HTML file to write, e.g. --out report.html.")
        if self.path.is_dir():
            raise OutputFolderError(f"--out {self.raw!r} is a folder; name the HTML file to write, e.g. {self.raw}/report.html.")
        folder = self.path.absolute().parent
        if self.path.exists() and not self.overwrite and self.path.name not in (read_manifest(folder) or set()):
            raise OutputFolderError(
                f"--out {self.raw!r} exists and audit-engine did not write it; pick another name or pass --overwrite."
            )
        anchor = _nearest_existing(folder)
        if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
            raise OutputFolderError(f"--out {self.raw!r} is not writable; pick a folder you can write to.")
        return self

    def written(self) -> None:
        """Record the file in its folder's manifest, if that folder has one."""
        folder = self.path.absolute().parent
        listed = read_manifest(folder)
        if listed is not None:
            _write_manifest(folder, sorted(listed | {self.path.name}))


def _write_manifest(folder: Path, files: list[str]) -> None:
    from .result import atomic_write_text

    doc: dict[str, Any] = {
        "written_by": f"audit-engine {__version__}",
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "note": "audit-engine replaces only the files listed here when it writes to this folder again.",
    }
    atomic_write_text(folder / MANIFEST, json.dumps(doc, indent=2) + "\n")
