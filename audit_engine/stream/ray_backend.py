"""The Ray backend: Parquet read by ``ray.data.read_parquet``, CSV read by the driver, scored by actors.

Each actor (a callable class under ``map_batches``) holds one onnxruntime session made
from the model bytes, which are put in the object store once (``ray.put``); it scores
its batches through a :class:`~audit_engine.evaluator.local.LocalEvaluator` over the
driver's :class:`~audit_engine.data.space.FeatureSpace` and the driver's
:class:`~audit_engine.evaluator.binding.OutputBinding` (:func:`audit_engine.bind.bind_rows`:
the output is read exactly as on the driver), and returns only the model outputs with the target and
sensitive columns (features too never travel back). One actor per GPU (``num_gpus=1``)
when the cluster has GPUs and the provider is not ``cpu``; else one per CPU slot but one
(left to the readers), each with one onnxruntime thread.

Order, not worker timing, decides every figure: the dataset keeps its row order
(``preserve_order``) and the driver takes the scored rows in chunks of exactly
``chunk_rows`` rows (``iter_batches``), then labels and tallies them exactly as the local
source's chunks (:func:`audit_engine.audit.prepare`), so the same seed gives the same
audit.json on ``local`` and ``ray`` apart from timings and call counts. A dead actor is
restarted and its batch retried by Ray (``max_restarts`` / ``max_task_retries``).

CSV is not read by ``ray.data.read_csv``: Ray Data parses CSV with pyarrow, whose type
inference is not pandas' (it runs per file and per block, turns ISO dates into
timestamps, has other missing-value and boolean spellings, and its float parsing may differ
in the last bit from pandas' parser), so the rows could reach the actors with other values
or dtypes than the local loader's ``pd.read_csv`` gives, and the figures would differ. The
row order would hold (``preserve_order``), the values would not. Instead the driver reads
the CSV in chunks of ``chunk_rows`` rows with pandas
(:class:`~audit_engine.data.csv_source.CsvSource`: the loader's options, one dtype per
column) and sends each chunk to a pool of the same :class:`_Scorer` actors, at most two
chunks per actor in flight, taking the results back in row order: the numbers are those of
the local backend, and the driver's memory is bounded by a few chunks.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bind import bind_rows
from ..data.loader import AuditData
from ..data.parquet import ParquetSource, rebatch
from ..errors import ConfigError
from ..model.loader import load_model

__all__ = ["require_ray", "scored_chunks", "FAULT_ENV"]

FAULT_ENV = "AUDIT_ENGINE_RAY_FAULT"
"""Fault injection for tests: a file path; the first actor batch that finds it deletes it and exits."""

_RESTARTS = 3
_PREFIX = "__audit_p"


def require_ray() -> Any:
    """Import ray (with Ray Data) or raise ConfigError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "The Ray backend needs Ray Data, which is not installed; install it with "
            "pip install 'audit-engine[ray]' (or pip install 'ray[data]>=2.9'), or use --backend local."
        ) from exc
    _guard_fsspec_http()
    return ray


def _guard_fsspec_http() -> None:
    """Ray Data resolves paths on several threads, each trying ``fsspec.implementations.http``;
    without aiohttp, two concurrent failing imports can give ImportError (not the
    ModuleNotFoundError Ray expects). Marking the module absent makes every try fail alike.
    Decided from aiohttp's spec, without importing the module: an import attempted here could
    itself race with one of Ray's threads and leave a half-initialised module for the others."""
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        sys.modules["fsspec.implementations.http"] = None  # type: ignore[assignment]


class _Scorer:
    """One onnxruntime session per actor; ``__call__`` scores a pandas batch."""

    def __init__(self, model_bytes: bytes, provider: str, output: str, output_kind: str | None, binding: Any,
                 space: Any, max_chunk_bytes: int, keep: list[str], fault: str | None) -> None:
        if isinstance(model_bytes, list):  # [reference]: nested, so a restarted actor does not need Ray to keep
            model_bytes = model_bytes[0]   # the constructor's arguments (the driver holds the reference)
        if not isinstance(model_bytes, (bytes, bytearray, memoryview)):  # the object-store reference
            import ray

            model_bytes = ray.get(model_bytes)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(model_bytes)
            model = load_model(path, provider=provider, output=output, output_kind=output_kind, threads=1)
        self.space = space
        # The driver's output binding (kind, classes), not one resolved again here without rows: a ZipMap
        # output whose shape the graph leaves unknown would read as one column (issue 21).
        self.evaluator = bind_rows(model, space, None, binding=binding, max_chunk_bytes=max_chunk_bytes)
        self.keep = keep
        self.fault = fault

    def score(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The actor method the driver calls with a CSV chunk (see the module doc)."""
        return self(batch)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if self.fault and os.path.exists(self.fault):
            os.remove(self.fault)
            os._exit(1)  # a dead actor, once: Ray restarts it and retries the batch
        data = AuditData(batch, None, None, None, pd.DataFrame(index=batch.index), [f.name for f in self.space.features],
                         None, "")
        proba = self.evaluator.predict(self.space.encode(data))
        out = batch[self.keep].reset_index(drop=True).copy()
        for j in range(proba.shape[1]):
            out[f"{_PREFIX}{j}"] = proba[:, j]
        return out


def _init(ray: Any, address: str | None) -> None:
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)


def scored_chunks(source: Any, model: Any, evaluator: Any, head: Any, columns: list[str], *, chunk_rows: int,
                  config: Any, with_features: bool = False) -> Iterator[tuple[int, pd.DataFrame, np.ndarray]]:
    """Yield ``(start_row, frame, proba (m, k))`` in row order; the frame holds the target and
    sensitive columns (and the features when ``with_features``: the shift tests count them)."""
    ray = require_ray()
    _init(ray, config.ray_address)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and config.provider != "cpu"
    keep = [c for c in columns if with_features or c in ([head.target] if head.target else []) + head.sensitive_names]
    model_ref = ray.put(Path(model.path).read_bytes())
    actors = gpus if use_gpu else max(1, int(resources.get("CPU", 1)) - 1)
    compute = {"num_gpus": 1} if use_gpu else {"num_cpus": 1}
    kwargs = _scorer_kwargs(model_ref, model, evaluator, keep, use_gpu)
    k = evaluator.n_outputs if evaluator.task == "classification" else 1
    names = [f"{_PREFIX}{j}" for j in range(k)]
    started = time.perf_counter()
    if isinstance(source, ParquetSource):
        # the guard also in the worker processes that list and read the files (see _guard_fsspec_http)
        setup = {"worker_process_setup_hook": "audit_engine.stream.ray_backend._guard_fsspec_http"}
        ds = ray.data.read_parquet(list(source.files), runtime_env=setup).select_columns(columns)
        with warnings.catch_warnings():  # Ray >= 2.5x deprecates ray_remote_args_fn; Ray Data retries by default anyway
            warnings.simplefilter("ignore", DeprecationWarning)
            scored = _map(ds, kwargs, evaluator, actors, compute, chunk_rows)
        batches = scored.iter_batches(batch_size=chunk_rows, batch_format="pandas")
        chunks: Iterator[tuple[int, pd.DataFrame]] = rebatch(batches, chunk_rows)
    else:  # CSV: read by the driver with pandas (see the module doc), scored by actors
        chunks = _driver_fed(ray, source, columns, kwargs, actors, compute, chunk_rows)
    for start, frame in chunks:
        proba = frame[names].to_numpy(dtype=np.float64)
        evaluator.stats.rows_evaluated += len(frame)
        evaluator.stats.model_calls += 1
        evaluator.stats.seconds = time.perf_counter() - started
        yield start, frame[keep], proba


def _scorer_kwargs(model_ref: Any, model: Any, evaluator: Any, keep: list[str], use_gpu: bool) -> dict[str, Any]:
    """The :class:`_Scorer` constructor's arguments: the model, the driver's binding and space."""
    return {
        "model_bytes": model_ref, "provider": "cuda" if use_gpu else "cpu", "output": model.output,
        "output_kind": model.output_kind, "binding": evaluator.binding,
        "space": evaluator.space, "max_chunk_bytes": evaluator.max_chunk_bytes, "keep": keep,
        "fault": os.environ.get(FAULT_ENV),
    }


def _map(ds: Any, kwargs: dict[str, Any], evaluator: Any, actors: int, compute: dict[str, Any], chunk_rows: int) -> Any:
    """``map_batches`` of :class:`_Scorer` over a pool of ``actors`` actors, retried when one dies."""
    import ray

    return ds.map_batches(
        _Scorer,
        batch_format="pandas",
        batch_size=max(1, min(chunk_rows, evaluator.rows_per_chunk)),
        fn_constructor_kwargs=kwargs,
        compute=ray.data.ActorPoolStrategy(size=actors),
        ray_remote_args_fn=lambda: {"max_restarts": _RESTARTS, "max_task_retries": _RESTARTS},
        **compute,
    )


def _driver_fed(ray: Any, source: Any, columns: list[str], kwargs: dict[str, Any], actors: int,
                compute: dict[str, Any], chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """``(start_row, scored frame)`` of ``source``'s chunks (read here), scored by ``actors`` :class:`_Scorer`
    actors, in row order; at most two chunks per actor in flight (bounded memory)."""
    remote = ray.remote(max_restarts=_RESTARTS, max_task_retries=_RESTARTS, **compute)(_Scorer)
    pool = [remote.remote(**dict(kwargs, model_bytes=[kwargs["model_bytes"]])) for _ in range(actors)]
    pending: deque[tuple[int, Any]] = deque()
    try:
        for i, (start, frame) in enumerate(source.chunks(chunk_rows, columns=columns)):
            pending.append((start, pool[i % actors].score.remote(frame)))
            if len(pending) >= 2 * actors:
                start, ref = pending.popleft()
                yield start, ray.get(ref)
        while pending:
            start, ref = pending.popleft()
            yield start, ray.get(ref)
    finally:
        for actor in pool:
            ray.kill(actor)
