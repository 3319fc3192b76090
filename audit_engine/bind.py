"""The one door that joins a model to data: :func:`bind` → :class:`Bound`.

Every entry point that scores data (``audit``, the streamed head, the Ray actors,
``explain``, ``explain_pathwise``, ``uncertainty``, the committee, ``compare`` through
``audit.prepare`` and ``inspect``'s probe) goes through here, so each gets the same
guards in the same order:

1. :func:`~audit_engine.model.loader.load_model` (a path; an :class:`OnnxModel` is used as is);
2. :func:`~audit_engine.data.loader.load_data` and
   :func:`~audit_engine.data.loader.select_inputs` (array data that names every model
   input is read by name, whatever else it holds), then
   :meth:`FeatureSpace.bind <audit_engine.data.space.FeatureSpace.bind>` (with ``also``:
   every other dataset that will be encoded, so categorical codes cover them all);
3. :func:`~audit_engine.evaluator.guards.check_float32_range` on every encoded dataset;
4. the target check (a target of one value cannot measure performance or fairness);
5. the :class:`~audit_engine.evaluator.local.LocalEvaluator`, whose output binding (kind,
   task, classes) is resolved on rows without missing values and the target — or taken
   as given (``binding=``, what a Ray actor does with the driver's binding);
6. :func:`check_missing` on every dataset: missing values are accepted only when the model
   returns finite outputs on those rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data.loader import AuditData, load_data, select_inputs
from .data.space import FeatureSpace
from .errors import InvalidValueError, ModelRuntimeError
from .evaluator.base import Progress
from .evaluator.binding import OutputBinding
from .evaluator.guards import check_float32_range
from .evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from .model.loader import OnnxModel, load_model

__all__ = ["Bound", "bind", "bind_rows", "check_missing", "check_target"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bound:
    """A model joined to data.

    Attributes
    ----------
    model: the loaded model.
    data: the data as loaded (target, sensitive columns, features).
    space: the FeatureSpace between the data's columns and the model's inputs.
    evaluator: the LocalEvaluator (every model call goes through it), its output resolved.
    rows: ``data`` in feature space, ``(n, *row_shape)`` float64.
    extras: each other dataset given to :func:`bind` (``{"reference data": AuditData}``).
    extra_rows: the same datasets in feature space.
    """

    model: OnnxModel
    data: AuditData
    space: FeatureSpace
    evaluator: LocalEvaluator
    rows: np.ndarray
    extras: Mapping[str, AuditData] = field(default_factory=dict)
    extra_rows: Mapping[str, np.ndarray] = field(default_factory=dict)


def bind(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    features: Sequence[str] | None = None,
    target: str | None = None,
    sensitive: Sequence[str] = (),
    extras: Mapping[str, AuditData | Any | None] | None = None,
    provider: str = "auto",
    output: str | None = None,
    output_kind: str | None = None,
    threads: int | None = None,
    tokenizer: Any = None,
    text_column: str = "text",
    max_length: int | None = None,
    classes: Sequence[Any] | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    binding: OutputBinding | None = None,
    before_model_call: Any = None,
    target_check: bool = True,
) -> Bound:
    """Join ``model`` to ``data`` with every guard (see the module doc) and return the :class:`Bound`.

    Parameters
    ----------
    model: an OnnxModel or a path to an .onnx file (loaded with ``provider``, ``output``,
        ``output_kind``, ``threads``).
    data: anything :func:`~audit_engine.data.loader.load_data` reads (``target``,
        ``sensitive``, ``features`` name its columns).
    extras: other datasets to bind alongside, by the name errors use (``"reference data"``,
        ``"OOD data"``); None values are left out. Loaded with ``features`` only.
    tokenizer, text_column, max_length: a text model's tokenizer settings (FeatureSpace.bind).
    classes: the labels of the output columns, when the graph has none (``--classes``).
    binding: an OutputBinding resolved elsewhere (the driver's, on a Ray actor): used as is.
    before_model_call: optional ``f(data)`` run after the data is loaded and before the
        model is first called (the audit checks the policy's subjects there).
    target_check: False skips step 4 (a streamed head: the first rows of a sorted source may
        hold one class; the whole source's sample is checked instead).

    Raises
    ------
    the AuditEngineError subclasses of the loaders and guards: ModelFormatError,
    DataError, ColumnError, SchemaMismatchError, InvalidValueError (float32 range, a
    one-valued target, missing values the model does not handle), ConfigError.
    """
    if not isinstance(model, OnnxModel):
        model = load_model(model, provider=provider, output=output, output_kind=output_kind, threads=threads)
    names = [spec.name for spec in model.session_inputs]
    data = select_inputs(load_data(data, target=target, sensitive=sensitive, features=features), names)
    others = {name: select_inputs(load_data(part, features=features), names)
              for name, part in (extras or {}).items() if part is not None}
    if before_model_call is not None:
        before_model_call(data)
    space = FeatureSpace.bind(model, data, features=features, also=list(others.values()), tokenizer=tokenizer,
                              text_column=text_column, max_length=max_length)
    rows = space.encode(data)
    check_float32_range(rows, space, "the data")
    other_rows = {name: space.encode(part) for name, part in others.items()}
    for name, part in other_rows.items():
        check_float32_range(part, space, f"the {name}")
    if target_check and data.y is not None:
        check_target(data)
    evaluator = bind_rows(model, space, rows, y=data.y, classes=classes, max_chunk_bytes=max_chunk_bytes,
                          progress=progress, binding=binding)
    for name, part in other_rows.items():
        check_missing(evaluator, part, space, name)
    return Bound(model, data, space, evaluator, rows, others, other_rows)


def bind_rows(
    model: OnnxModel,
    space: FeatureSpace,
    rows: np.ndarray | None,
    *,
    y: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    binding: OutputBinding | None = None,
    what: str = "data",
) -> LocalEvaluator:
    """The Evaluator of ``model`` over an already bound ``space``: steps 5 and 6 of :func:`bind`.

    ``rows`` ``(n, *row_shape)`` in feature space resolve the output (its rows without
    missing values) and are checked for missing values; None when ``binding`` is given and
    there are no rows yet (a Ray actor, which gets the driver's binding and scores batches).
    """
    if binding is not None:
        evaluator = LocalEvaluator(model, space, max_chunk_bytes=max_chunk_bytes, progress=progress, binding=binding)
    else:
        probe = rows
        if rows is not None:
            missing = np.isnan(rows).reshape(rows.shape[0], -1).any(axis=1)
            probe = rows[~missing] if (~missing).any() else rows
        evaluator = LocalEvaluator(model, space, max_chunk_bytes=max_chunk_bytes, progress=progress,
                                   probe_rows=probe, y=y, classes=None if classes is None else list(classes))
    if rows is not None:
        check_missing(evaluator, rows, space, what)
    return evaluator


def check_missing(evaluator: LocalEvaluator, rows: np.ndarray, space: FeatureSpace, what: str = "data") -> None:
    """Accept missing values (NaN) only if the model does: run it on the rows that have
    them; finite outputs mean it handles them (an imputer in the graph, trees with a
    missing-value branch), else raise ``InvalidValueError``. Evaluations not counted."""
    flat = rows.reshape(rows.shape[0], -1)
    where = np.isnan(flat)
    holed = where.any(axis=1)
    if not holed.any():
        return
    before = evaluator.stats.copy()
    try:
        out = evaluator.raw(rows[holed])
    except ModelRuntimeError:  # NaN/inf outputs (or a failure) on those rows: not handled
        out = np.array([np.nan])
    finally:
        evaluator.stats = before
    if np.all(np.isfinite(out)):
        logger.info("The %s has %d rows with missing values; the model returns finite outputs on them.", what, int(holed.sum()))
        return
    j = int(np.flatnonzero(where.any(axis=0))[0])
    row = int(np.flatnonzero(where[:, j])[0])
    name = space.feature_names[j]
    raise InvalidValueError(
        f"Column {name!r} of the {what} holds {int(where[:, j].sum())} missing (NaN) values (first at row {row}) and the "
        "model returns NaN on rows with missing values, so it does not handle them; fill or drop them before auditing."
    )


def check_target(data: AuditData) -> None:
    """Raise InvalidValueError when the target holds a single value (nothing to measure)."""
    values = np.unique(np.asarray(data.y).astype(str))
    if len(values) < 2:
        raise InvalidValueError(
            f"The target {data.target!r} has a single value ({values[0]!r}) in all {data.n_rows} rows; "
            "performance and fairness need rows of at least two classes."
        )
