"""``explain()``: one entry point for every explanation method.

::

    attr = ae.explain(model, data, method="lime", rows=slice(0, 100), n_samples=5000, seed=0)
    attr.values      # (n_rows, n_features); images: (n_rows, *row_shape)
    attr.ci_low, attr.ci_high, attr.feature_names, attr.method, attr.params

The model is only called through a :class:`~audit_engine.evaluator.local.LocalEvaluator`;
the perturbations of all requested rows go to it together. Every method is an
:class:`~.protocol.Explainer` from the registry (:mod:`.registry`), called the same way.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from ..bind import bind
from ..data.labels import class_indices
from ..data.loader import AuditData, load_data
from ..errors import ConfigError
from ..evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from ..model.loader import OnnxModel
from ..model.relu import MAX_DENSE_ENTRIES
from ..params import validate_params
from .attribution import Attribution
from .pathwise import TOLERANCE, PathwiseExplanation
from .protocol import Rows, Seed
from .registry import METHODS, get_explainer

__all__ = ["explain", "explain_rows", "explain_pathwise", "METHODS", "resolve_rows", "resolve_targets"]


def resolve_rows(rows: Any, n: int) -> np.ndarray:
    """Row indices ``(m,)`` from None (all), an int, a range, a slice or an index array."""
    if rows is None:
        return np.arange(n)
    if isinstance(rows, slice):
        return np.arange(n)[rows]
    if isinstance(rows, (int, np.integer)) and not isinstance(rows, bool):
        rows = [int(rows)]
    try:
        idx = np.asarray(list(rows) if isinstance(rows, range) else rows)
    except TypeError as exc:
        raise ConfigError(f"'rows' must be a range, slice or array of row indices; got {type(rows).__name__}.") from exc
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ConfigError(f"A boolean 'rows' mask must have {n} entries, one per data row; got {idx.size}.")
        return np.flatnonzero(idx)
    if idx.size == 0:
        raise ConfigError("'rows' selects no rows; pass at least one row index.")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ConfigError(f"'rows' must hold integer row indices; got dtype {idx.dtype}.")
    idx = idx.reshape(-1).astype(np.intp)
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise ConfigError(f"'rows' must lie in [0, {n}) for data with {n} rows; got {int(bad[0])}.")
    return np.where(idx < 0, idx + n, idx)


def resolve_targets(target: Any, proba: np.ndarray, task: str) -> np.ndarray:
    """Explained class index per row ``(m,)``: the predicted class when ``target`` is None."""
    k = proba.shape[1]
    if task == "regression":
        if target not in (None, 0):
            raise ConfigError(f"A regression model has one output; 'target' must be None or 0, got {target!r}.")
        return np.zeros(proba.shape[0], dtype=np.intp)
    if target is None:
        return proba.argmax(axis=1).astype(np.intp)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= int(target) < k:
        raise ConfigError(f"'target' must be a class index in [0, {k}) or None for the predicted class; got {target!r}.")
    return np.full(proba.shape[0], int(target), dtype=np.intp)


@validate_params("explain")
def explain(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    method: str = "lime",
    rows: Any = None,
    target: int | None = None,
    runner_up: bool = False,
    seed: Seed = 0,
    backend: str = "engine",
    background: AuditData | Any | None = None,
    features: list[str] | None = None,
    labels: np.ndarray | None = None,
    confidence: float = 0.95,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tokenizer: Any = None,
    **params: Any,
) -> Attribution:
    """Explain the model's predictions on some rows of ``data``.

    Parameters
    ----------
    model: an OnnxModel or a path to an .onnx file.
    data: an AuditData, a DataFrame (feature columns; pass ``features=`` to choose) or an
        array in the model's input layout (images: NCHW / NHWC rows).
    method: ``lime`` (Ribeiro et al. 2016), ``smoothgrad`` (Smilkov et al. 2017, by finite
        differences), ``occlusion`` (Zeiler & Fergus 2014), ``permutation`` (global),
        ``pathwise`` (ReLU networks read from the graph, Lim et al.: values are ``W(x) ⊙ x``
        of the class's logit, exact, so the interval is the value itself; ``attr.detail`` is
        the :class:`~audit_engine.explain.pathwise.PathwiseExplanation` with the bias share
        and paths) or ``attention`` (transformers over token ids: attention rollout per
        token, Abnar & Zuidema 2020; ``query`` ``first`` (CLS) or ``mean``, ``mask_id`` for
        occlusion); any method added with :func:`~audit_engine.explain.registry.register`.
    rows: which rows to explain — a range, slice, int or index array (default: all).
    target: class index to explain; None explains each row's predicted class.
    runner_up: also explain each row's runner-up class (classifiers with 2+ columns), from
        the same perturbations: ``attr.alternatives[0]``.
    seed: an int or a numpy Generator (drawn from once); row i's draws depend only on
        (seed, method, i), never on the other rows explained.
    backend: ``engine`` (batched) or ``lime`` (the lime package; tabular LIME only).
    background: data whose statistics drive sampling and baselines (default: ``data``).
    labels: true labels for permutation importance (default: the model's predictions).
    tokenizer: a text model's ``tokenizer.json`` (path or TextTokenizer); ``data`` then
        holds a ``text`` column, and LIME / occlusion work over tokens.
    **params: the method's settings (:mod:`audit_engine.explain.settings`) — ``n_samples``
        for every sampling method (LIME 5000, SmoothGrad 50), ``noise_level``,
        ``estimator``, ``baseline``, ``patch_size``, ``stride``, ``n_repeats``, ``metric``,
        ``kernel_width``, ``alpha``, ``n_folds``, ``fallback``, ``query``, ``mask_id``.

    Returns
    -------
    Attribution with ``values`` ``(n_rows, n_features)`` — images ``(n_rows, *row_shape)``,
    patch/superpixel weights painted onto their pixels; permutation ``(1, n_features)`` —
    and ``ci_low``/``ci_high`` of the same shape.

    Raises
    ------
    ConfigError for an unknown method or parameter, ``rows`` outside the data,
    ``n_samples < 1`` or a ``target`` out of range.
    """
    get_explainer(method, backend)  # an unknown method or backend fails before the model loads
    bound = bind(model, data, features=features, tokenizer=tokenizer, max_chunk_bytes=max_chunk_bytes)
    audit_data, space, x_all, evaluator = bound.data, bound.space, bound.rows, bound.evaluator
    return explain_rows(evaluator, x_all, method=method, rows=rows, target=target, runner_up=runner_up, seed=seed,
                        backend=backend,
                        background=None if background is None else space.encode(load_data(background, features=features)),
                        labels=labels if labels is not None else _labels(audit_data, evaluator, method),
                        confidence=confidence, **params)


def _labels(data: AuditData, evaluator: LocalEvaluator, method: str) -> np.ndarray | None:
    if method != "permutation" or data.y is None:
        return None
    if evaluator.task == "regression":
        return np.asarray(data.y, dtype=np.float64)
    return class_indices(data.y, evaluator.classes or [], data.target)


def explain_rows(
    evaluator: LocalEvaluator,
    x_all: np.ndarray,
    *,
    method: str,
    rows: Any = None,
    target: int | None = None,
    runner_up: bool = False,
    seed: Seed = 0,
    backend: str = "engine",
    background: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    confidence: float = 0.95,
    **params: Any,
) -> Attribution:
    """:func:`explain` on an already bound Evaluator and rows in feature space ``x_all``."""
    explainer = get_explainer(method, backend)
    row_ids = resolve_rows(rows, x_all.shape[0])
    explainer.settings(evaluator.space, params)  # validate before any model call
    if getattr(explainer, "global_", False):  # one attribution for all the rows: no class to explain
        targets = np.zeros((row_ids.size, 1), dtype=np.intp)
    else:
        proba = evaluator.predict(x_all[row_ids])
        first = resolve_targets(target, proba, evaluator.task)
        targets = first[:, None]
        if runner_up and evaluator.task == "classification" and proba.shape[1] > 1:
            masked = proba.copy()
            masked[np.arange(row_ids.size), first] = -np.inf
            targets = np.stack([first, masked.argmax(axis=1)], axis=1)
        labels = None
    attr = explainer.explain(evaluator, Rows.select(x_all, row_ids, background=background, labels=labels),
                             targets=targets, seed=seed, params=params, confidence=confidence)
    classes = None if evaluator.classes is None else tuple(evaluator.classes)
    return attr.replace(params=dataclasses.replace(attr.params, backend=backend), classes=classes,
                        alternatives=tuple(a.replace(params=dataclasses.replace(a.params, backend=backend),
                                                     classes=classes) for a in attr.alternatives))


@validate_params("explain_pathwise")
def explain_pathwise(
    model: Any,
    data: Any,
    *,
    rows: Any = None,
    target: int | None = None,
    runner_up: bool = True,
    features: list[str] | None = None,
    tolerance: float = TOLERANCE,
    max_dense_entries: int = MAX_DENSE_ENTRIES,
    fallback: str | None = None,
    step: float = 1e-2,
) -> PathwiseExplanation:
    """``explain(model, data, method="pathwise", runner_up=True, ...).detail``: the pathwise
    explanation of some rows with the bias share and paths (see :mod:`.pathwise`).

    ``target`` None explains each row's predicted class; with ``runner_up`` the second
    column of ``targets`` is the runner-up ("plausible") class. The explained score is the
    class's logit (before softmax / sigmoid). ``fallback="finite_differences"``: see
    :func:`~.pathwise.pathwise`.

    >>> pw = ae.explain_pathwise("fixtures/models/digits_cnn.onnx", x, rows=range(5))
    >>> pw.bias_share[:, 0], pw.path_units[:, 0], pw.deep_W[:, 0].reshape(-1, 1, 8, 8)
    """
    params: dict[str, Any] = {"tolerance": tolerance, "max_dense_entries": max_dense_entries, "step": step}
    if fallback is not None:
        params["fallback"] = fallback
    return explain(model, data, method="pathwise", rows=rows, target=target, runner_up=runner_up,
                   features=features, **params).detail
