"""Start-up time of the CLI (issue 16): `--help` and `inspect`, beside the imports they cannot avoid.

    python benchmarks/bench_startup.py [--runs 7]

Each command runs in a fresh interpreter; the table gives the median and the range of wall
seconds over the runs. `import onnx` is the floor of `inspect` (the loader checks the file
with onnx, and importing onnx loads ml_dtypes); `python -c pass` is the interpreter's own.
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

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import onnx' (floor of inspect)": [sys.executable, "-c", "import onnx"],
    "python -c 'import onnxruntime'": [sys.executable, "-c", "import onnxruntime"],
    "audit-engine --help": [sys.executable, "-m", "audit_engine", "--help"],
    "audit-engine inspect compas_logreg.onnx": [sys.executable, "-m", "audit_engine", "inspect", str(MODEL)],
    "python -c 'import audit_engine; audit_engine.audit'": [sys.executable, "-c", "import audit_engine; audit_engine.audit"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"| command | median s | min–max s ({args.runs} runs) |\n|---|---:|---:|")
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        print(f"| `{name}` | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |")


if __name__ == "__main__":
    main()
