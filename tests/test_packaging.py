"""Packaging: onnxruntime by platform, version in one place, LICENSE, the demo inside the wheel."""

from __future__ import annotations

import email
import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import audit_engine
from audit_engine import demo

from .conftest import FIXTURES, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DEMO_SOURCES = {demo.MODEL: FIXTURES / "models" / demo.MODEL, demo.DATA: FIXTURES / "data" / demo.DATA}

# (platform_system, platform_machine) -> the onnxruntime distribution pip must pick there.
# NVIDIA wheels of onnxruntime-gpu exist for Linux x86_64 and Windows x86_64 only
# (checked with `pip download onnxruntime-gpu --platform ... --only-binary=:all:`).
PLATFORMS = {
    ("Linux", "x86_64"): "onnxruntime-gpu",
    ("Windows", "AMD64"): "onnxruntime-gpu",
    ("Linux", "aarch64"): "onnxruntime",
    ("Darwin", "arm64"): "onnxruntime",
    ("Darwin", "x86_64"): "onnxruntime",
    ("Windows", "ARM64"): "onnxruntime",
}


def _requirements():
    from packaging.requirements import Requirement

    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


@pytest.mark.parametrize(("system", "machine"), sorted(PLATFORMS))
def test_one_onnxruntime_per_platform(system, machine):
    env = {"platform_system": system, "platform_machine": machine, "sys_platform": system.lower(),
           "python_version": "3.11", "python_full_version": "3.11.7", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "nt" if system == "Windows" else "posix"}
    picked = [r.name for r in _requirements()
              if r.name.startswith("onnxruntime") and (r.marker is None or r.marker.evaluate(env))]
    assert picked == [PLATFORMS[(system, machine)]]
    # every other dependency is installed everywhere
    assert all(r.marker is None for r in _requirements() if not r.name.startswith("onnxruntime"))


def test_version_in_one_place():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "audit_engine._version.__version__"}
    from audit_engine._version import __version__

    assert audit_engine.__version__ == __version__
    literal = [line for path in (ROOT / "audit_engine").rglob("*.py")
               for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("__version__ =")]
    assert literal == [f'__version__ = "{__version__}"']


def test_license_file():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a stub
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_demo_files_are_the_fixtures():
    """One source of truth: the packaged demo files are (links to) the fixtures the tests use."""
    model, data = demo.files()
    assert model.read_bytes() == DEMO_SOURCES[demo.MODEL].read_bytes()
    assert data.read_bytes() == DEMO_SOURCES[demo.DATA].read_bytes()
    assert sorted(PYPROJECT["tool"]["setuptools"]["package-data"]["audit_engine.demo"]) == sorted(DEMO_SOURCES)


def test_package_versions_name_either_onnxruntime(monkeypatch):
    import importlib

    audit_module = importlib.import_module("audit_engine.audit")

    for installed in ("onnxruntime", "onnxruntime-gpu"):
        def version(name: str, installed: str = installed) -> str:
            if name.startswith("onnxruntime") and name != installed:
                raise metadata.PackageNotFoundError(name)
            return "1.0"

        monkeypatch.setattr(metadata, "version", version)
        audit_module._installed_versions.cache_clear()  # read once per process: forget the real answer
        packages = audit_module._package_versions()
        assert [n for n in packages if n.startswith("onnxruntime")] == [installed]
    audit_module._installed_versions.cache_clear()


def _pip_available() -> bool:
    return importlib.util.find_spec("pip") is not None and importlib.util.find_spec("setuptools") is not None


@pytest.mark.skipif(not _pip_available(), reason="pip and setuptools are needed to build the wheel")
def test_wheel_holds_the_demo_and_the_license(tmp_path):
    # Build from a copy of what the wheel is made of, so the checkout gets no build/ folder;
    # the demo links are copied as links, with the fixture files they point to.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "audit_engine", src / "audit_engine", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for source in DEMO_SOURCES.values():
        target = src / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("audit_engine-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name, source in DEMO_SOURCES.items():
            assert zf.read(f"audit_engine/demo/{name}") == source.read_bytes()  # a copy, not a link
        dist_info = f"audit_engine-{audit_engine.__version__}.dist-info"
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        meta = email.message_from_bytes(zf.read(f"{dist_info}/METADATA"))
    assert {"audit_engine/py.typed", "audit_engine/demo/__init__.py", "audit_engine/_version.py"} <= names
    assert any(n.startswith("audit_engine/schema/") and n.endswith(".json") for n in names)
    assert any(n.startswith("audit_engine/templates/") for n in names)
    assert not any(n.startswith(("fixtures/", "tests/")) for n in names)
    assert meta["Version"] == audit_engine.__version__ and meta["License-Expression"] == "Apache-2.0"
    runtimes = [r for r in meta.get_all("Requires-Dist") if r.startswith("onnxruntime") and "extra ==" not in r]
    assert len(runtimes) == 2 and all(";" in r for r in runtimes)  # both behind platform markers


def test_gpu_platforms_agree_with_the_markers():
    from audit_engine.model.providers import GPU_WHEEL_PLATFORMS

    assert set(GPU_WHEEL_PLATFORMS) == {p for p, dist in PLATFORMS.items() if dist == "onnxruntime-gpu"}


@pytest.mark.parametrize(("where", "installed", "phrase"), [
    (("Darwin", "arm64"), {"onnxruntime"}, "onnxruntime-gpu has no wheels for Darwin arm64"),
    (("Linux", "aarch64"), {"onnxruntime"}, "onnxruntime-gpu has no wheels for Linux aarch64"),
    (("Linux", "x86_64"), {"onnxruntime", "onnxruntime-gpu"}, "pip uninstall -y onnxruntime onnxruntime-gpu"),
    (("Linux", "x86_64"), {"onnxruntime"}, "install onnxruntime-gpu (pip install onnxruntime-gpu)"),
])
def test_cuda_install_hint(monkeypatch, where, installed, phrase):
    import platform

    from audit_engine.model.providers import cuda_install_hint

    def version(name: str) -> str:
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return "1.0"

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.setattr(platform, "system", lambda: where[0])
    monkeypatch.setattr(platform, "machine", lambda: where[1])
    hint = cuda_install_hint()
    assert phrase in hint and hint.endswith(".")
