"""Import contracts of the spine (DESIGN §7), read from the source with ``ast``.

Imports inside functions count (an upward import hidden in a function is still a cycle);
imports under ``if TYPE_CHECKING:`` do not (they never run). ``from . import x`` is an
import of the submodule ``x``, not of its package.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import audit_engine as ae

ROOT = Path(ae.__file__).parent
CHECK_PACKAGES = ("audit_engine.performance", "audit_engine.performance_tally", "audit_engine.fairness",
                  "audit_engine.ood", "audit_engine.explain", "audit_engine.uncertainty", "audit_engine.robustness",
                  "audit_engine.slices")


def _modules() -> dict[str, Path]:
    return {".".join(("audit_engine", *p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__"): p
            for p in ROOT.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                  for n in ast.walk(node)}
        out: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    out.add(target)
        graph[name] = out
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_no_import_cycles():
    """No cycle anywhere, imports inside functions included (the report layer too: the result
    types call it from their display hooks, and it names them for type checkers only)."""
    assert _cycles(_graph()) == []


DISPLAY_HOOKS = {"_repr_html_", "plot"}
"""Notebook display hooks: the only functions of a computing module that may import the report layer."""


def _imports_outside_hooks(path: Path, package: str) -> set[str]:
    modules = _modules()
    tree = ast.parse(path.read_text())
    hooked = {id(n) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name in DISPLAY_HOOKS
              for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in hooked:
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return out


def test_compare_never_imports_the_report():
    """compare computes (compare.json); the report layer renders it (report/compare.py), never the other way."""
    found = _imports_outside_hooks(ROOT / "compare.py", "audit_engine")
    assert not {t for t in found if _under(t, ("audit_engine.report",))}
    assert _under("audit_engine.report.card", ("audit_engine.report",))  # the check can see a report import


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_shared_maths_imports_no_domain_module():
    graph = _graph()
    for name in ("audit_engine.stats", "audit_engine.performance_intervals"):
        assert graph[name] <= {"audit_engine.stats"}, (name, graph[name])


def test_model_imports_neither_evaluator_nor_data():
    graph = _graph()
    bad = {m: sorted(t for t in graph[m] if _under(t, ("audit_engine.evaluator", "audit_engine.data",
                                                        "audit_engine.bind")))
           for m in graph if _under(m, ("audit_engine.model",))}
    assert {m: t for m, t in bad.items() if t} == {}


def test_checks_import_neither_sources_nor_backends_nor_the_audit():
    graph = _graph()
    forbidden = ("audit_engine.sources", "audit_engine.stream", "audit_engine.audit", "audit_engine.data.parquet")
    bad = {m: sorted(t for t in graph[m] if _under(t, forbidden)) for m in graph if _under(m, CHECK_PACKAGES)}
    assert {m: t for m, t in bad.items() if t} == {}



def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    """The same contracts as import-linter checks them (.importlinter); a planted violation is caught."""
    repo = ROOT.parent
    kept = _lint_imports(repo)
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-2000:]
    assert "0 broken" in kept.stdout
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy / "audit_engine", ignore=shutil.ignore_patterns("__pycache__", "demo", "templates"))
    shutil.copy(repo / ".importlinter", copy / ".importlinter")
    loader = copy / "audit_engine" / "model" / "loader.py"
    loader.write_text(loader.read_text() + "\nfrom ..evaluator import local as _planted  # noqa: E402\n")
    broken = _lint_imports(copy)
    assert broken.returncode != 0 and "model imports neither evaluator nor data" in broken.stdout
