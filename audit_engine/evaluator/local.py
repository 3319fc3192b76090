"""LocalEvaluator: one onnxruntime session, inputs chunked to a memory budget in bytes."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError, ModelError, SchemaMismatchError
from ..model.loader import OnnxModel
from ..model.outputs import PROBABILITY_TOLERANCE, guess_kind, logit_source, normalise, to_logits
from ..runtime import run_inference, runtime_error
from .base import EvaluationStats, Progress
from .binding import OutputBinding
from .io_binding import bound_call
from .guards import check_outputs

if TYPE_CHECKING:
    from ..model.taps import TapPoint

__all__ = ["LocalEvaluator", "FeatureTap", "DEFAULT_CHUNK_BYTES"]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 64 * 1024**2
_PROBE_ROWS = 256


class LocalEvaluator:
    """Score rows in feature space with one onnxruntime session.

    Parameters
    ----------
    model: the loaded OnnxModel.
    space: the FeatureSpace binding data to the model's inputs.
    max_chunk_bytes: memory budget of the input tensors of one call; the row count of a
        chunk follows from it (a model with a fixed batch dimension is fed exactly that
        many rows per call, the last chunk padded).
    progress: optional ``progress(rows_done, rows_total)`` callback.
    probe_rows: a few real rows (feature space) used to infer the output kind and
        number of classes when the graph does not say.
    y: the audit's target values, used to name classes and tell a binary probability
        output from a regression output.
    classes: labels of the output columns in order (``classes = [...]`` in the config);
        without them the graph's labels are used, else the target's sorted labels
        (``classes_source`` says which: ``graph`` | ``config`` | ``guessed ...``).
    binding: an :class:`OutputBinding` already resolved for this output (e.g. by the
        audit's Evaluator, for a rewritten copy of the same model): used as is, no probe.

    Attributes
    ----------
    binding: the resolved :class:`OutputBinding` (output kind, task, classes); the model is
        never written to: ``model.to_dict()`` stays the file's facts.

    Notes
    -----
    Results do not depend on ``max_chunk_bytes``: each row is scored independently.
    """

    def __init__(
        self,
        model: OnnxModel,
        space: FeatureSpace,
        *,
        max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        progress: Progress | None = None,
        probe_rows: np.ndarray | None = None,
        y: np.ndarray | None = None,
        classes: Any = None,
        binding: OutputBinding | None = None,
    ) -> None:
        if int(max_chunk_bytes) < 1:
            raise ConfigError(f"max_chunk_bytes must be a positive number of bytes; got {max_chunk_bytes}.")
        self.model = model
        self.space = space
        self.max_chunk_bytes = int(max_chunk_bytes)
        self.progress = progress
        self.stats = EvaluationStats()
        self._output_index = [o.name for o in model.session.get_outputs()].index(model.output)
        self._use_binding = model.provider == "cuda" and all(
            not f.is_categorical for f in space.features
        )
        # float32 rounding is repaired silently; float16 outputs round ~100x coarser
        self._given_classes = None if classes is None else list(classes)
        self.classes_source: str | None = None
        self._tolerance = 5e-3 if model.output_spec().dtype == "float16" else PROBABILITY_TOLERANCE
        if binding is None:
            kind, classes, _ = self._resolve_output(probe_rows, y)
            binding = OutputBinding(output=model.output, output_kind=kind,
                                    classes=None if classes is None else tuple(classes),
                                    classes_source=self.classes_source if classes is not None else None)
        self.binding = binding
        self.output_kind = binding.output_kind
        self.classes = None if binding.classes is None else list(binding.classes)
        self.classes_source = binding.classes_source
        self.n_outputs = binding.n_outputs

    # ----------------------------------------------------------------- properties
    @property
    def task(self) -> str:
        return "regression" if self.output_kind == "regression" else "classification"

    @property
    def logit_source(self) -> str:
        """``"logits"`` or ``"log_probabilities"``: what :meth:`logits` returns."""
        return logit_source(self.output_kind)

    @property
    def rows_per_chunk(self) -> int:
        fixed = self.model.fixed_batch
        if fixed:
            return fixed
        return max(1, self.max_chunk_bytes // max(1, self.space.bytes_per_row()))

    # ----------------------------------------------------------------- public API
    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` (classification) or values ``(n, 1)`` (regression)."""
        return normalise(self.raw(rows), self.output_kind, tolerance=self._tolerance)

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """Logits ``(n, n_classes)`` if the model outputs them, else log-probabilities."""
        return to_logits(self.raw(rows), self.output_kind)

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """The chosen output as the model returns it, float64 ``(n, k)``."""
        return self._run_all(self._check_rows(rows), report=True)

    @property
    def feature_tap(self) -> Any:
        """The :class:`FeatureTap` of the penultimate features, or None when no tap fits the
        graph (``feature_tap_reason`` says why)."""
        if not hasattr(self, "_tap"):
            # here, not at the top: model.taps loads onnx, which `inspect` and start-up never need
            from ..model.taps import tap_model

            try:
                tapped, point = tap_model(self.model)
                self._tap: Any = FeatureTap(point, LocalEvaluator(tapped, self.space,
                                                                  max_chunk_bytes=self.max_chunk_bytes))
                self.feature_tap_reason: str | None = None
            except ModelError as exc:
                self._tap, self.feature_tap_reason = None, str(exc)
        return self._tap

    def features(self, rows: np.ndarray) -> np.ndarray:
        """Penultimate features ``(n, f)`` of rows (the input of the last Gemm/MatMul).

        The calls run through a second LocalEvaluator over the tapped graph and are
        counted in this evaluator's ``stats``. Raises ``ModelError`` when no tap fits.
        """
        tap = self.feature_tap
        if tap is None:
            raise ModelError(self.feature_tap_reason or "No feature tap fits this model.")
        before = tap.evaluator.stats.copy()
        out = tap.features(rows)
        self.stats.add(tap.evaluator.stats.since(before))
        return out

    # ----------------------------------------------------------------- internals
    def _run_all(self, rows: np.ndarray, *, report: bool) -> np.ndarray:
        n = rows.shape[0]
        out: np.ndarray | None = None
        step = self.rows_per_chunk
        done = 0
        for start in range(0, n, step):
            chunk = rows[start : start + step]
            values = self._run(chunk)
            check_outputs(values, self.model.output, getattr(self, "output_kind", None), first_row=start)
            if out is None:
                out = np.empty((n, values.shape[1]), dtype=np.float64)
            out[start : start + chunk.shape[0]] = values
            done += chunk.shape[0]
            if report and self.progress is not None:
                self.progress(done, n)
        if out is None:
            return np.empty((0, max(1, getattr(self, "n_outputs", 1))), dtype=np.float64)
        return out

    def _check_rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        if rows.ndim == len(self.space.row_shape):
            rows = rows[None]
        if tuple(rows.shape[1:]) != self.space.row_shape:
            raise SchemaMismatchError(
                f"Rows of shape {list(rows.shape[1:])} do not match the feature space's "
                f"{list(self.space.row_shape)}."
            )
        return rows

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        m = chunk.shape[0]
        fixed = self.model.fixed_batch
        if fixed and m != fixed:
            pad = np.repeat(chunk[-1:], fixed - m, axis=0)
            chunk = np.concatenate([chunk, pad], axis=0)
        feeds = self.space.feeds(chunk)
        session = self.model.session
        start = time.perf_counter()
        if self._use_binding:  # CUDA: inputs staged on the device once per chunk (evaluator/io_binding.py)
            call = bound_call(session, feeds, self.model.output, device="cuda")
        else:
            def call(options: Any) -> Any:
                return session.run([self.model.output], feeds, options)[0]
        # Run so the main thread can stop it (signals, --timeout) through RunOptions.terminate.
        result = run_inference(call, describe=lambda exc: runtime_error(exc, feeds))
        self.stats.seconds += time.perf_counter() - start
        self.stats.model_calls += 1
        self.stats.rows_evaluated += m
        values = np.asarray(result, dtype=np.float64)
        if values.ndim == 0 or values.shape[0] != chunk.shape[0]:
            from ..errors import ModelRuntimeError

            raise ModelRuntimeError(
                f"Output {self.model.output!r} has shape {list(values.shape)} for {chunk.shape[0]} input rows; "
                "the audit needs one output row per input row (batch dimension first)."
            )
        values = values.reshape(values.shape[0], -1) if values.ndim != 1 else values[:, None]
        return values[:m]

    def _resolve_output(self, probe_rows: np.ndarray | None, y: np.ndarray | None) -> tuple[str, list[Any] | None, int]:
        model = self.model
        spec = model.output_spec()
        if not spec.is_tensor or spec.dtype not in ("float32", "float64", "float16"):
            from ..errors import OutputError

            raise OutputError(
                f"Output {spec.name!r} has type {spec.type}, not a float tensor of probabilities, "
                "logits or values; choose another output with --output."
            )
        sample = None
        if probe_rows is not None and len(probe_rows):
            sample = self._run_all(np.asarray(probe_rows[:_PROBE_ROWS], dtype=np.float64), report=False)
            # The probe is setup, not audit work: do not count it.
            self.stats = EvaluationStats()
        k = sample.shape[1] if sample is not None else _static_width(spec.shape)
        kind = model.output_kind
        binary = None
        if y is not None:
            binary = len(np.unique(np.asarray(y).astype(str))) == 2 and not _is_continuous(y)
        if kind is None:
            if sample is None:
                raise ConfigError("Cannot infer the output kind without data; pass output_kind.")
            kind = guess_kind(sample, producer_op=model.producer_op, binary_target=binary,
                              consumers=getattr(model, "output_consumers", ()))
        if kind == "regression":
            return kind, None, 1
        n_classes = 2 if kind in ("probability", "logit") else (k or 0)
        classes, self.classes_source = _resolve_classes(model.classes, n_classes, y, self._given_classes)
        return kind, classes, n_classes


class FeatureTap:
    """Tapped features of rows (:func:`audit_engine.model.taps.tap_model`) through their own
    LocalEvaluator, so they are chunked and counted like every model call.

    Attributes
    ----------
    point: the :class:`~audit_engine.model.taps.TapPoint`; evaluator: the LocalEvaluator
    over the tapped session.
    """

    def __init__(self, point: TapPoint, evaluator: LocalEvaluator) -> None:
        self.point = point
        self.evaluator = evaluator

    def features(self, rows: np.ndarray) -> np.ndarray:
        """``(n, f)`` float64 tapped features (flattened per row)."""
        return self.evaluator.raw(rows)


def _static_width(shape: Any) -> int | None:
    if not shape:
        return 1
    last = shape[-1] if len(shape) > 1 else 1
    return last if isinstance(last, int) else None


def _is_continuous(y: np.ndarray) -> bool:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.any(np.mod(y, 1) != 0))


def _resolve_classes(graph_classes: list[Any] | None, k: int, y: np.ndarray | None,
                     given: list[Any] | None = None) -> tuple[list[Any], str]:
    """Class labels in output-column order and where they came from.

    The graph's labels (ZipMap / ai.onnx.ml classifiers) are authoritative; ``given``
    (the config's ``classes``) names the columns of a graph without labels; otherwise
    the order is a guess: the target's sorted labels, or the column indices.
    """
    graph = graph_classes is not None and len(graph_classes) == k
    if given is not None:
        if len(given) != k:
            raise ConfigError(
                f"'classes' lists {len(given)} labels ({', '.join(map(str, given))}); the model's output has {k} "
                "columns; give one label per output column, in column order."
            )
        if graph and [str(c) for c in graph_classes] != [str(c) for c in given]:
            raise ConfigError(
                f"'classes' ({', '.join(map(str, given))}) disagrees with the labels the model's graph gives its "
                f"output columns ({', '.join(map(str, graph_classes))}); drop 'classes' to use the graph's."
            )
        return (list(graph_classes) if graph else list(given)), ("graph" if graph else "config")
    if graph:
        return list(graph_classes), "graph"
    if y is not None:
        labels = np.unique(np.asarray(y))
        if len(labels) == k:
            return [v.item() if isinstance(v, np.generic) else v for v in labels], "guessed from sorted target labels"
        ints = np.asarray(y)
        if np.issubdtype(ints.dtype, np.number) and np.all(np.mod(ints, 1) == 0) and ints.min() >= 0 and ints.max() < k:
            return list(range(k)), "guessed: column indices"
    return list(range(k)), "guessed: column indices"
