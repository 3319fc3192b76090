"""How fast a run stops on SIGINT / SIGTERM while onnxruntime spins in a never-ending Loop.

Run from the repository root: ``python benchmarks/stop_latency.py [SIGINT|SIGTERM]``.
Prints the seconds from the signal to the error line and to the process exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import save  # noqa: E402
from tests.test_bad_input import _slow_model  # noqa: E402


def main(sig_name: str = "SIGTERM") -> None:
    tmp = Path(tempfile.mkdtemp(prefix="stop-latency-"))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame.a > 0).astype(int)
    frame.to_csv(tmp / "t.csv", index=False)
    model = save(_slow_model(), tmp / "slow.onnx")
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit_engine", "run", str(model), "--data", str(tmp / "t.csv"), "--target", "y",
         "--no-progress", "--out", str(tmp / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    proc.stdout.readline()  # the provider line: the model is loaded and about to run
    time.sleep(0.5)
    proc.send_signal(getattr(signal, sig_name))
    sent = time.perf_counter()
    line = proc.stderr.readline()
    said = time.perf_counter() - sent
    proc.wait()
    print(f"{sig_name}: message after {said:.3f} s, exit {proc.returncode} after {time.perf_counter() - sent:.3f} s: {line.strip()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
