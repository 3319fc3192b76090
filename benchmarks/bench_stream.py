"""Streaming benchmark (issue 14): peak memory and time of a streamed audit, 1M rows and up.

    python benchmarks/bench_stream.py --rows 1000000 10000000 [--ray] [--in-memory 1000000] [--write]

Generates Parquet data once under --dir (default /tmp/audit_stream_bench, never in the
repository): 10 float32 features, a binary target and two sensitive columns, in files of
1M rows (row groups of 250k); a small scikit-learn MLP (10-16-2) trained on 50k rows and
exported with skl2onnx scores it. Each audit (performance + fairness, 1000 bootstrap
replicates) runs in a fresh ``python -m audit_engine run ... --stream`` process; its peak
RSS comes from ``os.wait4`` (the kernel's ru_maxrss of that process; for Ray the driver
only: the actors are other processes). --write replaces the "Streaming" section of
BENCHMARKS.md with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FEATURES = [f"x{i}" for i in range(10)]
FILE_ROWS = 1_000_000


def _coefficients() -> np.ndarray:
    return np.linspace(-1.0, 1.0, len(FEATURES))


def _block(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    group = rng.integers(0, 4, n)
    x[:, 0] += 0.3 * group
    z = x @ _coefficients() + 0.5 * np.sin(x[:, 1] * x[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    return {"x": x, "y": y, "group": group, "sex": rng.integers(0, 2, n)}


def make_model(path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier

    b = _block(10**6, 50_000)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0).fit(b["x"], b["y"])
    onx = convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
                          options={id(clf): {"zipmap": False}}, target_opset=17)
    path.write_bytes(onx.SerializeToString())


def make_data(folder: Path, rows: int) -> float:
    """Write ``rows`` rows as files of 1M rows; returns seconds (0 when already there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / "_complete"
    if done.exists():
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    groups = np.array(["A", "B", "C", "D"])
    sexes = np.array(["F", "M"])
    for k, lo in enumerate(range(0, rows, FILE_ROWS)):
        b = _block(k, min(FILE_ROWS, rows - lo))
        table = pa.table({**{f: b["x"][:, j] for j, f in enumerate(FEATURES)}, "y": b["y"],
                          "group": pa.array(groups[b["group"]]).dictionary_encode(),
                          "sex": pa.array(sexes[b["sex"]]).dictionary_encode()})
        pq.write_table(table, folder / f"part-{k:05d}.parquet", row_group_size=250_000)
    done.write_text(str(rows))
    return time.perf_counter() - start


def audit(model: Path, data: Path, out: Path, *, backend: str = "local", stream: bool = True) -> dict:
    """One audit in a fresh process: wall seconds, peak RSS (MiB) and a few figures."""
    cmd = [sys.executable, "-m", "audit_engine", "run", str(model), "--data", str(data), "--target", "y",
           "--sensitive", "group", "sex", "--checks", "performance", "fairness", "--out", str(out),
           "--overwrite", "--no-progress", "--backend", backend]
    if stream:
        cmd.append("--stream")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"audit failed ({code}): {err[-2000:]}")
    doc = json.loads((out / "audit.json").read_text())
    perf = doc["performance"]
    return {"seconds": seconds, "rss_mib": usage.ru_maxrss / 1024, "rows": doc["data"]["rows"],
            "accuracy": perf["metrics"]["accuracy"]["value"], "roc_auc": perf["metrics"]["roc_auc"]["value"],
            "auc": perf.get("streaming", {}).get("auc"), "dpd": _dpd(doc)}


def _dpd(doc: dict) -> float | None:
    metric = doc.get("fairness", {}).get("group", {}).get("metrics", {}).get("demographic_parity_difference")
    return None if metric is None else metric.get("value")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--ray", type=int, nargs="*", default=[], help="also audit these sizes on --backend ray")
    parser.add_argument("--in-memory", type=int, nargs="*", default=[], help="also audit these sizes without streaming")
    parser.add_argument("--dir", default="/tmp/audit_stream_bench")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    model = base / "mlp.onnx"
    if not model.exists():
        make_model(model)
    lines = []
    for rows in sorted(set(args.rows) | set(args.ray) | set(args.in_memory)):
        data = base / f"rows_{rows}"
        made = make_data(data, rows)
        size = sum(f.stat().st_size for f in data.glob("*.parquet")) / 1024**3
        runs = []
        if rows in args.rows:
            runs.append(("local, streamed", audit(model, data, base / "out", stream=True)))
        if rows in args.in_memory:
            runs.append(("local, in memory", audit(model, data, base / "out", stream=False)))
        if rows in args.ray:
            runs.append(("ray (2 CPUs), streamed", audit(model, data, base / "out", backend="ray")))
        for how, r in runs:
            auc = r["auc"] or {}
            line = (f"| {rows:,} | {size:.2f} | {how} | {r['seconds']:.1f} | {rows / r['seconds']:,.0f} | "
                    f"{r['rss_mib']:,.0f} | {r['accuracy']:.4f} | {r['roc_auc']:.4f} "
                    f"({auc.get('method', 'rows')}{', ±%.1e' % auc['error_bound'] if auc.get('error_bound') else ''}) |")
            print(line + (f"  [data written in {made:.0f} s]" if made else ""), flush=True)
            lines.append(line)
    if args.write:
        _write(lines)
    return 0


def _write(lines: list[str]) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head = "## Streaming"
    table = "\n".join([
        head, "",
        "`python benchmarks/bench_stream.py` (2-core machine, shared): performance + fairness (1000 bootstrap "
        "replicates) of a 10-16-2 MLP on Parquet data with 10 float32 features, a binary target and two "
        "sensitive columns; each audit a fresh `audit-engine run --stream` process, peak RSS by `wait4` "
        "(for Ray: the driver process only).", "",
        "| rows | Parquet GiB | how | seconds | rows/s | peak RSS MiB | accuracy | ROC AUC (method, bound) |",
        "|---:|---:|---|---:|---:|---:|---:|---|",
        *lines, "",
    ])
    begin, end = "<!-- stream:table (written by benchmarks/bench_stream.py --write) -->", "<!-- /stream:table -->"
    if begin in text and end in text:  # only the table: the hand-written notes below it stay
        body = table.split("\n", 2)[2]  # without the heading
        text = text[:text.index(begin) + len(begin)] + "\n" + body + text[text.index(end):]
    elif head in text:
        start = text.index(head)
        stop = text.find("\n## ", start + len(head))
        text = text[:start] + table + (text[stop + 1:] if stop != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + table
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
