"""Execution providers: choose CUDA or CPU, and make a session that really runs there.

``auto`` tries CUDA when onnxruntime offers it and a session can actually be made on
it (onnxruntime-gpu lists ``CUDAExecutionProvider`` even on machines without a GPU, and
then falls back to CPU after printing native error lines); otherwise it uses the CPU.
``cuda`` refuses to fall back. The native lines onnxruntime writes to stderr while it
probes CUDA are swallowed at the file-descriptor level, so the user sees one clean line
from :func:`describe_provider` instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

import onnxruntime as ort

from ..errors import ProviderError
from ..runtime import run_stoppable

__all__ = [
    "GPU_WHEEL_PLATFORMS", "PROVIDERS", "create_session", "cuda_install_hint", "describe_provider",
    "preload_cuda_libraries",
]

logger = logging.getLogger(__name__)

PROVIDERS = ("auto", "cpu", "cuda")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Redirect the process's fd 2 (where onnxruntime's C++ logger writes) to a temp file.

    Yields a list that receives the captured text when the block ends.
    """
    captured: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to hide
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


def _session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    # Idle intra-op threads block instead of spinning. The engine makes few, large calls
    # (a sleeping thread's wake-up is microseconds against a chunk's milliseconds), and a
    # spinning thread takes the core that numpy work beside onnxruntime needs: LIME's
    # sampling thread, other processes on a shared machine. Measured in BENCHMARKS.md
    # ("Tabular LIME on a 64-32 MLP"): the engine's CPU time per LIME call 0.57–0.65 s
    # spinning, 0.34–0.43 s blocking, at load 4–5 on 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def create_session(
    model_bytes: bytes, provider: str = "auto", *, threads: int | None = None
) -> tuple[ort.InferenceSession, str]:
    """Create an InferenceSession on the requested provider.

    Parameters
    ----------
    model_bytes:
        The serialised (possibly rewritten) model.
    provider:
        ``"auto"`` (CUDA when it really runs, else CPU), ``"cuda"`` or ``"cpu"``.
    threads:
        Intra-op threads for the CPU provider (None: onnxruntime's default, all cores).

    Returns
    -------
    (session, provider_used) where provider_used is ``"cuda"`` or ``"cpu"``.

    The build runs through :func:`~audit_engine.runtime.run_stoppable`: onnxruntime's graph
    optimisations (constant folding) can take minutes, and ``--timeout`` and signals must
    act during them.
    """
    return run_stoppable(lambda: _create_session(model_bytes, provider, threads=threads))  # type: ignore[no-any-return]


def _create_session(
    model_bytes: bytes, provider: str = "auto", *, threads: int | None = None
) -> tuple[ort.InferenceSession, str]:
    if provider not in PROVIDERS:
        raise ProviderError(
            f"Unknown provider {provider!r}; use one of: {', '.join(PROVIDERS)}."
        )
    available = ort.get_available_providers()
    options = _session_options(threads)
    if provider in ("auto", "cuda"):
        if _CUDA not in available:
            if provider == "cuda":
                raise ProviderError(
                    "CUDA was requested but this onnxruntime build has no CUDA provider "
                    f"(available: {', '.join(available)}); {cuda_install_hint()}"
                )
        else:
            preload_cuda_libraries()
            with _captured_stderr() as native:
                try:
                    session = ort.InferenceSession(
                        model_bytes, sess_options=options, providers=[_CUDA, _CPU]
                    )
                    error = None
                except Exception as exc:  # noqa: BLE001 - onnxruntime raises bare RuntimeError/Fail
                    session, error = None, exc
            if session is not None and _CUDA in session.get_providers():
                return session, "cuda"
            reason = _first_line(native[0] if native else "") or (str(error) if error else "")
            if provider == "cuda":
                raise ProviderError(
                    "CUDA was requested but no CUDA session could be made on this machine"
                    f"{' (' + reason + ')' if reason else ''}; use --provider cpu or auto."
                )
            logger.info("CUDA is not usable here (%s); running on CPU.", reason or "no GPU")
    # onnxruntime also logs a refusal natively on fd 2; captured so that a bad model gives the
    # one sentence below (inspect relies on this validation instead of onnx.checker).
    with _captured_stderr() as native:
        try:
            session = ort.InferenceSession(model_bytes, sess_options=options, providers=[_CPU])
            error = None
        except Exception as exc:  # noqa: BLE001
            session, error = None, exc
    if error is not None:
        from ..errors import ModelFormatError

        raise ModelFormatError(
            f"onnxruntime cannot load this model ({_ort_message(str(error))}); "
            "check that it was exported with a supported opset and operators."
        ) from error
    if native and native[0]:  # warnings of a model that loads stay visible
        sys.stderr.write(native[0])
    return session, "cpu"


_PRELOADED: list[str] = []


def preload_cuda_libraries() -> str:
    """Load the CUDA / cuDNN / cuBLAS libraries of NVIDIA's wheels (``audit-engine[cuda]``)
    with ``onnxruntime.preload_dlls()`` (onnxruntime >= 1.21), once per process, so a
    machine needs no system CUDA. Returns what it printed (missing libraries), also logged."""
    if _PRELOADED:
        return _PRELOADED[0]
    preload = getattr(ort, "preload_dlls", None)
    text = ""
    if preload is not None:
        import io

        out = io.StringIO()
        with _captured_stderr() as native, contextlib.redirect_stdout(out):
            try:
                preload()
            except Exception as exc:  # noqa: BLE001 - a failed preload only means CUDA may not load
                out.write(str(exc))
        text = (out.getvalue() + (native[0] if native else "")).strip()
        if text:
            logger.info("onnxruntime.preload_dlls: %s", " ".join(text.split())[:500])
    _PRELOADED.append(text)
    return text


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(text: str) -> str:
    """The informative part of onnxruntime's first native error line, without colour codes."""
    for line in _ANSI.sub("", text).splitlines():
        line = line.strip()
        if not line:
            continue
        for marker in ("FAIL : ", "] "):
            if marker in line:
                line = line.rsplit(marker, 1)[-1]
                break
        return line[:200]
    return ""


def _ort_message(text: str) -> str:
    """onnxruntime's error without its C++ file, line and function signature."""
    text = _ANSI.sub("", text).strip().splitlines()[0] if text.strip() else ""
    if "FAIL : " in text:
        text = text.split("FAIL : ", 1)[1]
    text = re.sub(r"^\S+:\d+ .*?\) ", "", text)
    return text[:300]


# The platforms (platform.system(), platform.machine()) with NVIDIA wheels of onnxruntime-gpu;
# pyproject.toml's environment markers pick onnxruntime-gpu there and onnxruntime elsewhere.
GPU_WHEEL_PLATFORMS = (("Linux", "x86_64"), ("Windows", "AMD64"))


def cuda_install_hint() -> str:
    """How to get a CUDA build of onnxruntime here, whichever distribution is installed."""
    import platform
    from importlib import metadata

    installed = set()
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.version(name)
            installed.add(name)
        except metadata.PackageNotFoundError:
            pass
    if (platform.system(), platform.machine()) not in GPU_WHEEL_PLATFORMS:
        return (f"onnxruntime-gpu has no wheels for {platform.system()} {platform.machine()} (only Linux and "
                "Windows x86_64), so use --provider cpu.")
    if installed == {"onnxruntime", "onnxruntime-gpu"}:
        return ("both onnxruntime and onnxruntime-gpu are installed and the CPU one shadows the other: "
                "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu, or use --provider cpu.")
    return "install onnxruntime-gpu (pip install onnxruntime-gpu) or use --provider cpu."


def describe_provider(provider_used: str) -> str:
    """One line for the user saying where the model runs."""
    if provider_used == "cuda":
        return "Running the model on CUDA (onnxruntime CUDAExecutionProvider)."
    return "Running the model on CPU (onnxruntime CPUExecutionProvider)."
