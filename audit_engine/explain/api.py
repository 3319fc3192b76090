"""``explain()``: one entry point for every explanation method.

::

    attr = ae.explain(model, data, method="lime", rows=slice(0, 100), n_samples=5000, seed=0)
    attr.values      # (n_rows, n_features); images: (n_rows, *row_shape)
    attr.ci_low, attr.ci_high, attr.feature_names, attr.method, attr.params

The model is only called through a :class:`~audit_engine.evaluator.local.LocalEvaluator`;
the perturbations of all requested rows go to it together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..bind import bind
from ..data.loader import AuditData, load_data
from ..data.space import FeatureSpace
from ..errors import ConfigError
from ..evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from ..labels import class_indices
from ..model.loader import OnnxModel, load_model
from ..stats import child_rng
from ._common import blas_single_thread, check_float, check_int, output_resolution, row_rngs
from ._image import feed_dtype, spatial_shape
from .attribution import Attribution
from .text import TEXT_METHODS, not_applicable, text_defaults

__all__ = ["explain", "explain_rows", "attribute", "METHODS", "method_defaults", "resolve_rows", "resolve_targets"]

METHODS = ("lime", "smoothgrad", "occlusion", "permutation", "pathwise", "attention")


def method_defaults(method: str, space: FeatureSpace) -> dict[str, Any]:
    """Each method's parameters and their defaults for this feature space."""
    image = space.is_image
    patch = max(1, min(spatial_shape(space)) // 4) if image else None
    if space.text is not None and method in TEXT_METHODS:
        return text_defaults(method)
    if method == "lime":
        out: dict[str, Any] = {"n_samples": 5000, "kernel_width": None, "alpha": 1.0, "n_folds": 10}
        if image:
            out.update(patch_size=patch, segmentation="auto", n_segments=50)
        return out
    if method == "smoothgrad":
        return {"n_samples": 50, "noise_level": 0.15, "estimator": "auto", "step": 1e-2}
    if method == "occlusion":
        if image:
            return {"patch_size": patch, "stride": max(1, (patch or 2) // 2), "baseline": "zero"}
        return {"baseline": "mean", "n_samples": 50}
    if method == "permutation":
        return {"n_repeats": 5, "metric": "auto"}
    if method == "pathwise":  # exact: the ReLU network's local linear model (explain/pathwise.py)
        return {"fallback": None, "step": 1e-2}
    if method == "attention":  # transformer attention rollout per token (explain/attention.py)
        return {"query": "first", "mask_id": 0}
    raise ConfigError(f"Unknown explanation method {method!r}; use one of: {', '.join(METHODS)}.")


def _params(method: str, space: FeatureSpace, given: Mapping[str, Any]) -> dict[str, Any]:
    defaults = method_defaults(method, space)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(
            f"Method {method!r} does not take parameter(s) {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(sorted(defaults))}."
        )
    p = {**defaults, **given}
    if p.get("segmentation", "auto") not in ("auto", "slic", "grid"):
        raise ConfigError(f"Unknown image segmentation {p['segmentation']!r}; use 'auto', 'slic' or 'grid'.")
    for key in ("n_samples", "n_folds", "n_repeats", "patch_size", "stride", "n_segments"):
        if key in p and p[key] is not None:
            p[key] = check_int(key, p[key])
    if "noise_level" in p:
        p["noise_level"] = check_float("noise_level", p["noise_level"])
    if "step" in p:
        p["step"] = check_float("step", p["step"], low_open=True)
    if "alpha" in p:
        p["alpha"] = check_float("alpha", p["alpha"])
    if p.get("kernel_width") is not None:
        p["kernel_width"] = check_float("kernel_width", p["kernel_width"], low_open=True)
    if "fallback" in p and p["fallback"] not in (None, "finite_differences"):
        raise ConfigError(f"The 'fallback' parameter must be None or 'finite_differences'; got {p['fallback']!r}.")
    if "mask_id" in p:
        p["mask_id"] = check_int("mask_id", p["mask_id"], minimum=0)
    if "query" in p and p["query"] not in ("first", "mean"):
        raise ConfigError(f"The 'query' parameter must be 'first' (the CLS position) or 'mean'; got {p['query']!r}.")
    if "replacement" in p and p["replacement"] not in ("pad", "mask"):
        raise ConfigError(f"Unknown token replacement {p['replacement']!r}; use 'pad' or 'mask'.")
    if "estimator" in p and p["estimator"] not in ("auto", "central", "stein"):
        raise ConfigError(f"Unknown SmoothGrad estimator {p['estimator']!r}; use 'auto', 'central' or 'stein'.")
    return p


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


def attribute(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """:func:`_attribute` with BLAS limited to one thread.

    On 2 cores, idle OpenBLAS workers can spin against ONNX Runtime's own threads right
    after the surrogate fits; in one measurement (heavy model, 100k perturbations) ONNX
    Runtime's time inside the engine matched the raw session's only with one BLAS thread.
    The stacked ridge solves are as fast on one thread (the BLAS table in BENCHMARKS.md).
    """
    with blas_single_thread():
        return _attribute(*args, **kwargs)


def _attribute(
    evaluator: LocalEvaluator,
    x_all: np.ndarray,
    *,
    method: str,
    row_ids: np.ndarray,
    targets: np.ndarray,
    seed: int | np.random.Generator = 0,
    background: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    params: Mapping[str, Any] | None = None,
    backend: str = "engine",
    confidence: float = 0.95,
    interval_targets: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Attributions of rows ``x_all[row_ids]`` for target columns ``targets`` ``(m, t)``.

    The engine-level function behind :func:`explain` and the audit check. Returns values,
    ci_low, ci_high ``(t, m, *row_shape)`` (permutation: ``(1, 1, *row_shape)``) and the
    parameters actually used. ``interval_targets``: intervals for the first this many
    target columns only, NaN for the others (None: all). The audit reads the predicted
    class's intervals only, and none for rank stability and sanity; SmoothGrad then
    skips its per-cell bootstrap, the largest piece of its own time on images.
    """
    space = evaluator.space
    p = _params(method, space, dict(params or {}))
    if backend not in ("engine", "lime"):
        raise ConfigError(f"Unknown backend {backend!r}; use 'engine' or 'lime'.")
    if backend == "lime" and (method != "lime" or space.is_image or space.text is not None):
        raise ConfigError("backend='lime' runs the lime package's tabular LIME only; use method='lime' on tabular data.")
    reason = not_applicable(method, space)
    if reason is not None:
        raise ConfigError(f"Method {method!r} cannot explain this model: {reason}.")
    x = x_all[row_ids]
    bg = x_all if background is None else np.asarray(background, dtype=np.float64)
    predict = evaluator.predict
    budget = int(getattr(evaluator, "max_chunk_bytes", DEFAULT_CHUNK_BYTES))  # perturbations built per piece
    cat = space.categorical_mask
    extra: dict[str, Any] = {}
    eps, probability = output_resolution(evaluator)
    boot = child_rng(seed, "explain", method, "bootstrap")
    bound = saturated = None
    if space.text is not None and method in TEXT_METHODS:
        from .text import lime_tokens, token_occlusion

        if method == "occlusion":
            values = token_occlusion(predict, x, targets, space=space, replacement=p["replacement"])
            lo, hi = values.copy(), values.copy()
            p["interval"] = "exact"
        else:
            values, lo, hi, r2 = lime_tokens(predict, x, targets, space=space, n_samples=p["n_samples"],
                                             rngs=row_rngs(seed, "lime", row_ids), kernel_width=p["kernel_width"] or 25.0,
                                             alpha=p["alpha"], n_folds=p["n_folds"], confidence=confidence)
            extra["surrogate_r2"] = r2
            p["interval"] = f"student_t over {p['n_folds']} folds of the perturbations"
        p["features"] = "tokens"
    elif method == "lime" and backend == "lime":
        from .lime_backend import lime_package_tabular

        values = lime_package_tabular(predict, x, targets, background=bg, categorical=cat,
                                      feature_names=space.feature_names, n_samples=p["n_samples"],
                                      seed=int(seed) if not isinstance(seed, np.random.Generator) else 0,
                                      regression=evaluator.task == "regression", kernel_width=p["kernel_width"])
        lo = hi = np.full_like(values, np.nan)
        extra["backend"] = "lime"
        p["interval"] = "none (the lime package gives no interval)"
    elif method == "lime" and space.is_image:
        from .lime_image import lime_image

        values, lo, hi, seg_info = lime_image(predict, x, targets, space=space, patch_size=p["patch_size"],
                                              n_samples=p["n_samples"], rngs=row_rngs(seed, "lime", row_ids),
                                              alpha=p["alpha"], n_folds=p["n_folds"], confidence=confidence,
                                              segmentation=p["segmentation"], n_segments=p["n_segments"],
                                              max_bytes=budget,
                                              **({"kernel_width": p["kernel_width"]} if p["kernel_width"] else {}))
        p["segmentation"] = seg_info["segmentation"]
        p["superpixels"] = seg_info["superpixels"]
        if "fallback" in seg_info:
            p["segmentation_fallback"] = seg_info["fallback"]
        p["interval"] = f"student_t over {p['n_folds']} folds of the perturbations"
    elif method == "lime":
        from .lime_tabular import fit_tabular_stats, lime_tabular

        stats = fit_tabular_stats(bg, cat)
        values, lo, hi, r2 = lime_tabular(predict, x, targets, stats=stats, n_samples=p["n_samples"],
                                          rngs=row_rngs(seed, "lime", row_ids), kernel_width=p["kernel_width"],
                                          alpha=p["alpha"], n_folds=p["n_folds"], confidence=confidence)
        extra["surrogate_r2"] = r2
        p["interval"] = f"student_t over {p['n_folds']} folds of the perturbations"
    elif method == "smoothgrad":
        from .smoothgrad import smoothgrad

        mask = ~cat.reshape(space.row_shape) if not space.is_image else np.ones(space.row_shape, dtype=bool)
        values, lo, hi, used, bound, saturated = smoothgrad(
            predict, x, targets, background=bg, mask=mask, noise_level=p["noise_level"], n_samples=p["n_samples"],
            rngs=row_rngs(seed, "smoothgrad", row_ids), estimator=p["estimator"], step=p["step"],
            confidence=confidence, boot_rng=boot, output_eps=eps, probability=probability,
            max_bytes=budget, interval_targets=interval_targets,
            feed_dtype=feed_dtype(space) if space.is_image else None)
        p["estimator"] = used
        sampled = p["noise_level"] > 0 or used == "stein"
        p["interval"] = f"bootstrap_t over {p['n_samples']} noise draws" if sampled else "exact"
        if not sampled:
            p.pop("n_samples")
        if cat.any():
            p["skipped"] = [n for n, c in zip(space.feature_names, cat, strict=True) if c]
            p["note"] = "categorical features are not differentiated; their attribution is 0"
    elif method == "occlusion" and space.is_image:
        from .occlusion import occlusion_image

        values, bound = occlusion_image(predict, x, targets, space=space, patch_size=p["patch_size"],
                                        stride=p["stride"], baseline=p["baseline"], eps=eps, probability=probability,
                                        max_bytes=budget)
        lo, hi = values - bound, values + bound
        p["interval"] = "exact"
    elif method == "occlusion":
        from .occlusion import occlusion_tabular

        base = p["baseline"]
        if isinstance(base, (list, tuple, np.ndarray)):
            base = np.asarray(base, dtype=np.float64)
            p["baseline"] = base.tolist()
        values, lo, hi, bound = occlusion_tabular(predict, x, targets, background=bg, categorical=cat, baseline=base,
                                                  n_samples=p["n_samples"], rngs=row_rngs(seed, "occlusion", row_ids),
                                                  confidence=confidence, boot_rng=boot, eps=eps, probability=probability)
        if not (isinstance(base, str) and base == "sample"):
            p.pop("n_samples")
            p["interval"] = "exact"
        else:
            p["interval"] = f"bootstrap_t over {p['n_samples']} background draws"
    elif method == "pathwise":
        from .pathwise import pathwise

        pw = pathwise(evaluator, x, targets, rows=row_ids, fallback=p["fallback"], step=p["step"])
        if p["fallback"] is None:  # the exact method has no parameters
            p.pop("fallback")
            p.pop("step")
        values = np.moveaxis(pw.contributions, 1, 0).reshape(targets.shape[1], x.shape[0], *space.row_shape)
        lo, hi = values.copy(), values.copy()
        p["interval"] = "exact"
        p.update(pw.params)
        p["bias_share_median"] = float(np.median(pw.bias_share[:, 0])) if pw.bias_share.size else None
    elif method == "attention":
        from .attention import attention_explain

        ex = attention_explain(evaluator, x, targets[:, 0], rows=row_ids, query=p["query"], mask_id=p["mask_id"])
        values = np.broadcast_to(ex.rollout, (targets.shape[1], *ex.rollout.shape)).copy()  # class-independent
        lo, hi = values.copy(), values.copy()
        p["interval"] = "exact"
        rho = ex.spearman_rollout[np.isfinite(ex.spearman_rollout)]
        p["spearman_rollout_vs_occlusion_median"] = float(np.median(rho)) if rho.size else None
    else:  # permutation
        from .permutation import permutation_importance

        metric = p["metric"]
        if metric == "auto":
            metric = "mse" if evaluator.task == "regression" else "log_loss"
        if labels is None:  # the model's own predictions: how much its output depends on each feature
            pr = predict(x)
            labels = pr[:, 0] if evaluator.task == "regression" else pr.argmax(axis=1)
        elif evaluator.task == "regression" and metric != "mse":
            raise ConfigError(f"Permutation metric {metric!r} needs a classifier; use 'mse' for regression.")
        v, lo_, hi_, base_loss = permutation_importance(predict, x, np.asarray(labels, dtype=np.float64),
                                                        metric=metric, n_repeats=p["n_repeats"],
                                                        rng=child_rng(seed, "explain", "permutation"),
                                                        confidence=confidence)
        p["metric"] = metric
        p["base_loss"] = base_loss
        p["interval"] = f"student_t over {p['n_repeats']} repeats"
        values, lo, hi = v[None], lo_[None], hi_[None]
    if interval_targets is not None and method != "permutation":
        lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
        lo[interval_targets:], hi[interval_targets:] = np.nan, np.nan
    if bound is not None:
        # exact values carry only round-off; every interval is widened by it (see the methods)
        p["roundoff_bound"] = float(np.max(bound)) if bound.size else 0.0
        p["output_eps"] = eps
    if saturated is not None:
        p["saturated_rows"] = np.asarray(row_ids)[saturated[0]].tolist()
    p["seed"] = int(seed) if not isinstance(seed, np.random.Generator) else None
    p["confidence"] = confidence
    p.update({k: v for k, v in extra.items() if k == "backend"})
    if "surrogate_r2" in extra:
        r2 = extra["surrogate_r2"][np.isfinite(extra["surrogate_r2"])]
        p["surrogate_r2_median"] = float(np.median(r2)) if r2.size else None
    return values, lo, hi, p


def explain(
    model: OnnxModel | str | os.PathLike[str],
    data: AuditData | Any,
    *,
    method: str = "lime",
    rows: Any = None,
    target: int | None = None,
    seed: int = 0,
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
        differences), ``occlusion`` (Zeiler & Fergus 2014), ``permutation`` (global) or
        ``pathwise`` (ReLU networks read from the graph, Lim et al.: values are ``W(x) ⊙ x``
        of the class's logit, exact, so the interval is the value itself;
        :func:`~audit_engine.explain.pathwise.explain_pathwise` gives the bias share and paths)
        or ``attention`` (transformers over token ids: attention rollout per token, Abnar &
        Zuidema 2020; ``query`` ``first`` (CLS) or ``mean``, ``mask_id`` for occlusion).
    rows: which rows to explain — a range, slice, int or index array (default: all).
    target: class index to explain; None explains each row's predicted class.
    seed: seeds every draw; row i's draws depend only on (seed, i).
    backend: ``engine`` (batched) or ``lime`` (the lime package; tabular LIME only).
    background: data whose statistics drive sampling and baselines (default: ``data``).
    labels: true labels for permutation importance (default: the model's predictions).
    tokenizer: a text model's ``tokenizer.json`` (path or TextTokenizer); ``data`` then
        holds a ``text`` column, and LIME / occlusion work over tokens.
    **params: the method's parameters — ``n_samples`` for every sampling method (LIME
        5000, SmoothGrad 50), ``noise_level``, ``estimator``, ``baseline``, ``patch_size``,
        ``stride``, ``n_repeats``, ``metric``, ``kernel_width``, ``alpha``, ``n_folds``.

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
    if method not in METHODS:
        raise ConfigError(f"Unknown explanation method {method!r}; use one of: {', '.join(METHODS)}.")
    bound = bind(model, data, features=features, tokenizer=tokenizer, max_chunk_bytes=max_chunk_bytes)
    audit_data, space, x_all, evaluator = bound.data, bound.space, bound.rows, bound.evaluator
    return explain_rows(evaluator, x_all, method=method, rows=rows, target=target, seed=seed, backend=backend,
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
    seed: int = 0,
    backend: str = "engine",
    background: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    confidence: float = 0.95,
    **params: Any,
) -> Attribution:
    """:func:`explain` on an already bound Evaluator and rows in feature space."""
    if method not in METHODS:
        raise ConfigError(f"Unknown explanation method {method!r}; use one of: {', '.join(METHODS)}.")
    row_ids = resolve_rows(rows, x_all.shape[0])
    x = x_all[row_ids]
    if method == "permutation":
        targets = np.zeros((row_ids.size, 1), dtype=np.intp)
        lab = None if labels is None else np.asarray(labels)[row_ids]
    else:
        _params(method, evaluator.space, params)  # validate before any model call
        proba = evaluator.predict(x)
        targets = resolve_targets(target, proba, evaluator.task)[:, None]
        lab = None
    values, lo, hi, p = attribute(evaluator, x_all, method=method, row_ids=row_ids, targets=targets, seed=seed,
                                  background=background, labels=lab, params=params, backend=backend,
                                  confidence=confidence)
    p["backend"] = backend
    return Attribution(values[0], evaluator.space.feature_names, lo[0], hi[0], method, p,
                       rows=row_ids if method != "permutation" else np.array([-1]),
                       targets=targets[:, 0] if method != "permutation" else np.array([-1]))
