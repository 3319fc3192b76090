"""Architecture counts of a checkout: modules, lines, import cycles, imports inside functions.

    python benchmarks/architecture.py .            # this checkout
    git worktree add /tmp/base 8aed529 && python benchmarks/architecture.py /tmp/base

Cycles are the strongly connected components (more than one module) of grimp's import graph of
``audit_engine`` (imports inside functions included, ``if TYPE_CHECKING:`` imports left out).
"Inside functions" counts the package's own ``from`` imports written inside a function body.
"""
import ast, sys, pathlib, json
import grimp
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve(); pkg = "audit_engine"
sys.path.insert(0, str(root))
g = grimp.build_graph(pkg, exclude_type_checking_imports=True, cache_dir=None)
mods = sorted(g.modules)
# Tarjan SCC
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def strong(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in g.find_modules_directly_imported_by(v):
        if w not in idx: strong(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for m in mods:
    if m not in idx: strong(m)
lines = 0; total_imports = 0; fn_imports = 0; nfiles = 0
for f in (root / pkg).rglob("*.py"):
    nfiles += 1
    src = f.read_text(); lines += src.count("\n")
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.level or (sub.module or "").startswith(pkg)):
                    fn_imports += 1
    for sub in ast.walk(tree):
        if isinstance(sub, ast.ImportFrom) and (sub.level or (sub.module or "").startswith(pkg)):
            total_imports += 1
print(json.dumps({"modules": nfiles, "lines": lines, "cycles": len(sccs), "modules_in_cycles": sum(map(len, sccs)),
                  "cycle_sizes": [len(s) for s in sccs], "internal_import_statements": total_imports,
                  "inside_functions": fn_imports, "share_inside_functions": round(fn_imports / total_imports, 3)}))
for s in sccs: print(" cycle:", s)
