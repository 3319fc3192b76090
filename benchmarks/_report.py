"""Shared pieces of the benchmarks: machine description, timing statistics, and the
rewrite of one generated section of BENCHMARKS.md.

Convention (for every script that writes into BENCHMARKS.md): a generated section lies
between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` on lines of their own.
:func:`write_section` replaces only the text between the two markers of NAME (or appends
the section at the end when the markers are absent); everything outside any marker pair —
hand-written notes, sections other scripts generate — is kept byte for byte.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"

__all__ = ["machine", "load", "spread", "write_section", "BENCHMARKS_MD"]


def load() -> str:
    """The 1-minute load average and the core count, e.g. ``load 1.42 on 2 cores``."""
    try:
        one = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return f"{os.cpu_count()} cores"
    return f"load {one:.2f} on {os.cpu_count()} cores"


def machine() -> str:
    """One line: CPU, cores, memory, Python and the versions of the libraries timed."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(s for s in Path("/proc/meminfo").read_text().splitlines() if s.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024**2:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = []
    for name in ("numpy", "onnxruntime", "onnxruntime-gpu", "scikit-learn", "lime"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return (f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, "
            + ", ".join(versions) + f"; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def spread(values: list[float], fmt: str = "{:.3f}") -> str:
    """``median (min–max, n runs)``."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))}, {len(values)} runs)"


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the generated section ``name`` of ``path`` by ``body`` (see the module note)."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"section name {name!r}: use lowercase letters, digits, '-' and '_'")
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r"\n.*?\n" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
