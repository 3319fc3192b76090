"""Rerun every benchmark and rewrite its section of BENCHMARKS.md (``make bench``).

    python benchmarks/run_all.py [--only NAME ...] [--list]

Each benchmark runs in a fresh interpreter, one after the other (never two at once: they
would time each other). Its markdown (what it prints, or the results file it writes) goes
into BENCHMARKS.md between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``, headed by
the command, the machine with its library versions, and the load before and after the
run; every other part of the file — hand-written notes, the sections other scripts
generate (e.g. ``benchmarks/coverage.py --write``) — stays as it is
(:func:`benchmarks._report.write_section`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, load, machine, write_section  # noqa: E402

PY = sys.executable

# name, title, arguments, where the markdown comes from ("stdout" or a path under ROOT)
BENCHMARKS: list[tuple[str, str, list[str], str]] = [
    ("evaluator", "Evaluator overhead", ["benchmarks/bench_evaluator.py", "--rows", "200000", "--repeats", "5"],
     "benchmarks/results/evaluator.md"),
    ("fairness", "Fairness benchmark", ["benchmarks/bench_fairness.py", "--rows", "10000000", "--chunk", "1000000",
                                        "--fairlearn-rows", "500000", "--n-boot", "1000"], "stdout"),
    ("explain", "Explanations benchmark (breast_cancer MLP; shap; wide MLP)", ["benchmarks/bench_explain.py"],
     "benchmarks/results/explain.md"),
    ("lime", "Tabular LIME on a 64-32 MLP", ["benchmarks/bench_lime.py", "--rounds", "3"], "stdout"),
    ("ood", "OOD and uncertainty cost", ["benchmarks/bench_ood.py", "--repeat", "3"], "benchmarks/results/ood.md"),
    ("image224", "A default audit of 50 3×224×224 images", ["benchmarks/bench_image224.py", "--rows", "50"], "stdout"),
    ("text", "A default audit of the text fixture", ["benchmarks/bench_image224.py", "--text"], "stdout"),
    ("startup", "Start-up", ["benchmarks/bench_startup.py", "--runs", "7"], "stdout"),
    # Writes its own "Streaming" section (generates Parquet data under /tmp once; minutes).
    ("stream", "Streaming and Ray", ["benchmarks/bench_stream.py", "--rows", "1000000", "10000000", "--ray", "1000000",
                                      "--write"], "self"),
]


def _image_table(out: str) -> str:
    """bench_image224.py prints one JSON object: a table of it."""
    doc = json.loads(out[out.index("{"):])
    rows = [("rows", doc["rows"]), ("audit seconds (`evaluations.total_seconds`)", doc["audit_total_seconds"]),
            ("of which in onnxruntime (`evaluations.seconds`)", doc["onnxruntime_seconds"]),
            ("**share in onnxruntime** (goal ≥ 60%)", f"**{doc['onnxruntime_share']:.0%}**"),
            ("with audit.json and report", doc["with_json_and_report_seconds"]),
            ("peak RSS MiB", doc["peak_rss_mib"]), ("model calls / rows evaluated",
                                                     f"{doc['model_calls']} / {doc['rows_evaluated']}")]
    lines = ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "| check | seconds | model calls | rows evaluated |", "|---|---:|---:|---:|"]
    for name, c in doc["checks"].items():
        if c.get("seconds") is not None:
            lines.append(f"| {name} | {c['seconds']:.1f} | {c.get('model_calls')} | {c.get('rows_evaluated')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="names of the benchmarks to run (default: all)")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, title, argv, _ in BENCHMARKS:
            print(f"{name:10s} {title}: python {' '.join(argv)}")
        return
    for name, title, argv, source in BENCHMARKS:
        if args.only is not None and name not in args.only:
            continue
        before = load()
        t = time.perf_counter()
        done = subprocess.run([PY, *argv], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if done.returncode != 0:
            print(f"{name}: failed (exit {done.returncode}); its section is left as it was\n{done.stderr[-2000:]}")
            continue
        if source == "self":  # the script rewrote its own section of BENCHMARKS.md
            print(f"{name}: {seconds:.0f} s, section written by the script")
            continue
        body = done.stdout if source == "stdout" else (ROOT / source).read_text(encoding="utf-8")
        if name in ("image224", "text"):
            body = _image_table(done.stdout)
        if body.startswith("# "):  # a script's own title becomes a section of BENCHMARKS.md
            body = "#" + body
        head = (f"_Generated by `make bench` (`benchmarks/run_all.py`): `python {' '.join(argv)}` · {machine()} · "
                f"{before} before, {load()} after · {seconds:.0f} s._")
        write_section(name, f"{head}\n\n{body.strip()}")
        print(f"{name}: {seconds:.0f} s, section written")


if __name__ == "__main__":
    main()
