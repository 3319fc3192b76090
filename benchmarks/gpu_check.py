"""GPU check (issue 14): the CUDA path really runs, agrees with the CPU, and how fast it is.

    python benchmarks/gpu_check.py [--rows-mlp 1000000] [--rows-cnn 512]

On a machine with an NVIDIA GPU and ``pip install 'audit-engine[cuda]'``: for the fixture
MLP (compas_mlp.onnx, 5 inputs) and CNN (cnn224.onnx, 3x224x224 images) it makes one
Evaluator on CUDA and one on CPU, asserts the CUDA session's first provider is
``CUDAExecutionProvider``, asserts the probabilities agree within 1e-4, and prints
rows/s on each. Runs in well under 3 minutes. Without a usable GPU it says so and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOLERANCE = 1e-4


def _evaluator(model: str, probe: np.ndarray, provider: str):
    from audit_engine.audit import prepare
    from audit_engine.config import AuditConfig

    ctx = prepare(str(ROOT / "fixtures" / "models" / model), probe,
                  config=AuditConfig(provider=provider, max_chunk_bytes=64 * 1024**2))
    return ctx


def _rate(evaluator, rows: np.ndarray) -> tuple[np.ndarray, float]:
    evaluator.predict(rows[: min(len(rows), 256)])  # warm-up (CUDA kernels, arenas)
    start = time.perf_counter()
    out = evaluator.predict(rows)
    return out, len(rows) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-mlp", type=int, default=1_000_000)
    parser.add_argument("--rows-cnn", type=int, default=512)
    args = parser.parse_args()
    import onnxruntime as ort

    from audit_engine.errors import ProviderError
    from audit_engine.model.providers import preload_cuda_libraries

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("gpu_check: this onnxruntime has no CUDA provider; install 'audit-engine[cuda]' on a GPU machine.",
              file=sys.stderr)
        return 2
    missing = preload_cuda_libraries()
    rng = np.random.default_rng(0)
    cases = [("MLP compas_mlp.onnx", "compas_mlp.onnx", rng.normal(size=(args.rows_mlp, 5)) * 3 + 30),
             ("CNN cnn224.onnx", "cnn224.onnx", rng.random(size=(args.rows_cnn, 3, 224, 224)))]
    print(f"onnxruntime {ort.__version__}; {ort.get_device()}")
    for label, model, rows in cases:
        try:
            gpu = _evaluator(model, rows[:64], "cuda")
        except ProviderError as exc:
            print(f"gpu_check: no CUDA session could be made ({exc}){'; ' + missing if missing else ''}", file=sys.stderr)
            return 2
        first = gpu.model.session.get_providers()[0]
        assert first == "CUDAExecutionProvider", f"{label}: the session runs on {first}, not CUDA"
        assert gpu.evaluator._use_binding, f"{label}: IO binding is not used on CUDA"
        cpu = _evaluator(model, rows[:64], "cpu")
        assert cpu.model.session.get_providers()[0] == "CPUExecutionProvider"
        p_gpu, r_gpu = _rate(gpu.evaluator, rows)
        p_cpu, r_cpu = _rate(cpu.evaluator, rows)
        diff = float(np.max(np.abs(p_gpu - p_cpu)))
        assert diff <= TOLERANCE, f"{label}: CUDA and CPU probabilities differ by {diff:.2e} > {TOLERANCE}"
        print(f"{label}: {len(rows)} rows; CPU {r_cpu:,.0f} rows/s; CUDA {r_gpu:,.0f} rows/s "
              f"(x{r_gpu / r_cpu:.1f}); max |CUDA - CPU| = {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
