"""Start-up time of the CLI (issue 16): `--help` and `inspect`, beside the imports they cannot avoid.

    python benchmarks/bench_startup.py [--runs 7]

Each command runs in a fresh interpreter, the commands taking turns (run 1 of every command,
then run 2, ...) so that a change in the machine's load touches all of them alike; the table
gives the median and the range of wall seconds over the runs, and each median as a multiple
of `import onnx`'s. `inspect` no longer imports onnx (it was its floor: onnx loads ml_dtypes)
nor pandas; "through onnx + onnx.checker" is the same inspect with the loader `run` uses,
measured beside it. `python -c pass` is the interpreter's own.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures" / "models" / "compas_logreg.onnx"

# inspect with the loader `run` uses: onnx's classes and onnx.checker (load_model's default).
_ONNX_PATH_INSPECT = f"""
import sys
import audit_engine.model as m
from audit_engine.cli import main
real = m.load_model
m.load_model = lambda *a, **k: real(*a, **{{**k, "onnx_checker": True}})
sys.exit(main(['inspect', {str(MODEL)!r}]))
"""

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import onnx'": [sys.executable, "-c", "import onnx"],
    "python -c 'import onnxruntime'": [sys.executable, "-c", "import onnxruntime"],
    "audit-engine --help": [sys.executable, "-m", "audit_engine", "--help"],
    "audit-engine inspect compas_logreg.onnx": [sys.executable, "-m", "audit_engine", "inspect", str(MODEL)],
    "the same inspect through onnx + onnx.checker (run's loader)": [sys.executable, "-c", _ONNX_PATH_INSPECT],
    "python -c 'import audit_engine; audit_engine.audit'": [sys.executable, "-c", "import audit_engine; audit_engine.audit"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - t0)
    floor = statistics.median(times["python -c 'import onnx'"])
    print(f"| command | median s | min–max s ({args.runs} runs) | × `import onnx` |\n|---|---:|---:|---:|")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| `{name}` | {median:.2f} | {min(seconds):.2f}–{max(seconds):.2f} | {median / floor:.2f} |")


if __name__ == "__main__":
    main()
