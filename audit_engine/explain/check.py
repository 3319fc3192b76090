"""The explanations check of an audit: ``explanations.<method>`` in audit.json.

For a sample of rows (stratified by predicted class, always including the most
uncertain predictions) each configured method explains the predicted class and the
runner-up ("why this and not that"), with an interval on every attribution. Per method:

- ``global``: mean |attribution| over the explained rows per feature, with a Student-t
  interval over rows (permutation: the loss increase over repeats) — an importance, always
  positive, so never a test of anything;
- ``global_signed``: the mean *signed* attribution over the rows with its Student-t
  interval; ``significant`` lists the features whose signed interval excludes zero (they
  push the predicted class's score the same way across rows; permutation: the loss
  increase's interval excludes zero);
- ``saturated_rows``: rows whose finite differences all fell below the output's float32
  resolution (SmoothGrad); none of their attributions is called significant;
- ``local``: per row the prediction, the attributions of the predicted class (images:
  a ``heatmap`` of the image's shape for the first ``heatmap_rows`` rows and the top
  pixels), the features whose interval excludes zero (``significant``; the per-value
  intervals stay out of audit.json to keep it small — ``explain()`` returns them), and
  the runner-up class's attributions;
- ``quality``: deletion / insertion AUCs (Petsiuk et al. 2018) with intervals over rows,
  beside a random ranking's;
- ``rank_stability``: Spearman correlation of each row's attributions, and the overlap of
  its top-k features, between the audit seed and ``stability_seeds`` further seeds;
- ``sanity``: the model-parameter randomisation cascade (Adebayo et al. 2018;
  :mod:`.sanity`) on ``sanity_rows`` of the explained rows, ``flagged`` when the method's
  explanations hardly change with the model's weights randomised (``sanity_check``:
  ``"auto"`` runs it when the model has a Gemm/MatMul/Conv weight to randomise).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..errors import ConfigError
from ..params import ExplanationsParams
from ..results.explanations import (METHOD_TYPES, ExplanationsResult, Grid, LocalExplanation, MethodExplanation,
                                     RankStability, RunnerUp, Sanity, SpLime)
from ..stats import Estimate
from ._common import mean_interval
from .protocol import Rows
from .registry import METHODS, get_explainer
from .restarts import Restarts
from .sanity import RandomisationCheck
from .faithfulness import deletion_insertion, quality_summary
from ._image import MAX_STORED_SIDE, feed_dtype, pooled
from .occlusion import tabular_baseline
from .pathwise import pathwise_refusal, pathwise_section
from .pathwise import unsupported_reason as pathwise_reason
from .attention import attention_section
from .attention import unsupported_reason as attention_reason
from .splime import submodular_pick
from .text import not_applicable, token_view
from ..checks import CheckOutcome

Params = ExplanationsParams

_MAX_GLOBAL = 256


def applies(ctx: Any) -> str | None:
    if ctx.rows.shape[0] < 2:
        return "explanations need at least 2 rows"
    return None


def _select_rows(ctx: Any, n_rows: int, share: float) -> np.ndarray:
    n = ctx.rows.shape[0]
    rng = ctx.rng("explanations", "rows")
    if n <= n_rows:
        return np.arange(n)
    if ctx.task != "classification":
        return np.sort(rng.choice(n, n_rows, replace=False))
    uncertainty = 1.0 - ctx.proba.max(axis=1)
    n_unc = int(round(share * n_rows))
    chosen = list(np.argsort(-uncertainty, kind="stable")[:n_unc])
    rest = np.setdiff1d(np.arange(n), chosen)
    pred = ctx.predicted_index[rest]
    classes, counts = np.unique(pred, return_counts=True)
    quota = np.maximum(1, np.floor(counts / counts.sum() * (n_rows - n_unc))).astype(int)
    for c, q in zip(classes, quota, strict=True):
        pool = rest[pred == c]
        chosen.extend(rng.choice(pool, min(q, pool.size), replace=False))
    chosen = np.unique(np.array(chosen, dtype=np.intp))[: n_rows]
    return np.sort(chosen)


def _method_params(method: str, p: ExplanationsParams, image: bool) -> dict[str, Any]:
    if method == "lime":
        out = {"n_samples": p.lime_samples}
        if image and p.patch_size:
            out["patch_size"] = p.patch_size
        return out
    if method == "smoothgrad":
        out = {"n_samples": p.smoothgrad_samples, "noise_level": p.noise_level}
        if image:  # 2·d evaluations per noisy point are too many for images: Stein
            out["estimator"] = "stein"
        return out
    if method == "occlusion":
        out = {}
        if image and p.patch_size:
            out["patch_size"] = p.patch_size
        if image and p.stride:
            out["stride"] = p.stride
        return out
    if method == "pathwise":
        return {}
    if method == "attention":
        return {"query": p.attention_query, "mask_id": p.mask_id}
    return {"n_repeats": p.n_repeats}


def _named(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values, strict=True)}


def _rank_stability(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Spearman correlation and top-k overlap of two attribution matrices (n, d)."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    rho = np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), 1.0)
    k = min(k, a.shape[1])
    ta = np.argsort(-np.abs(a), axis=1)[:, :k]
    tb = np.argsort(-np.abs(b), axis=1)[:, :k]
    overlap = np.array([np.intersect1d(x, y).size / k for x, y in zip(ta, tb, strict=True)])
    return rho, overlap


def run(ctx: Any) -> Any:

    p = ctx.config.params("explanations")
    methods = p.methods
    auto = methods == "auto"
    not_run: dict[str, str] = {}
    if methods == "auto":  # per-pixel permutation says little about an image model
        methods = (["lime", "occlusion", "smoothgrad"] if ctx.space.is_image or ctx.space.text
                   else [m for m in METHODS if m not in ("pathwise", "attention")])
        if pathwise_reason(ctx.evaluator) is None:  # only where the graph is a ReLU network it reads
            methods.append("pathwise")
        why_not = attention_reason(ctx.evaluator)
        if why_not is None:  # only for transformers over token ids
            methods.append("attention")
        elif ctx.space.text:  # a text model whose attention cannot be read: said, not silent (issue 22, defect 9)
            not_run["attention"] = why_not
    if isinstance(methods, str):
        methods = [methods]
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"Unknown explanation method {m!r} in [explanations] methods; use some of: {', '.join(METHODS)}.")
    space = ctx.space
    image = space.is_image
    names = space.feature_names
    confidence = ctx.config.confidence
    row_ids = _select_rows(ctx, int(p.n_rows), float(p.uncertain_share))
    x = ctx.rows[row_ids]
    background = ctx.reference_rows if ctx.reference_rows is not None else ctx.rows
    classification = ctx.task == "classification"
    if classification:
        pred = ctx.predicted_index[row_ids]
        order = np.argsort(-ctx.proba[row_ids], axis=1)
        runner = np.where(order[:, 0] == pred, order[:, 1], order[:, 0]) if ctx.proba.shape[1] > 1 else pred
        targets = np.stack([pred, runner], axis=1).astype(np.intp)
    else:
        pred = np.zeros(row_ids.size, dtype=np.intp)
        targets = pred[:, None]
    base = np.zeros(space.row_shape) if image else tabular_baseline(background, space.categorical_mask, "mean")
    section: dict[str, MethodExplanation] = {}
    skipped: dict[str, str] = dict(not_run)
    sanity_on = _sanity_wanted(ctx, p.sanity_check)
    for method in methods:
        if (why := not_applicable(method, space)) is not None:
            skipped[method] = why
            continue
        kind = METHOD_TYPES[method]
        explainer = get_explainer(method)
        mp = _method_params(method, p, image)
        if method == "permutation":
            labels = ctx.y_index if classification else (None if ctx.y is None else np.asarray(ctx.y, dtype=float))
            everything = Rows.select(ctx.rows, np.arange(ctx.rows.shape[0]), background=background, labels=labels)
            attr = explainer.explain(ctx.evaluator, everything, targets=np.zeros((everything.n, 1), dtype=np.intp),
                                     seed=ctx.rng("explanations", method), params=mp, confidence=confidence)
            flat = [a.reshape(-1) for a in (attr.values, attr.ci_low, attr.ci_high)]
            section[method] = kind(params=attr.params, global_=_global(names, *flat),
                                   significant=tuple(n for n, low in zip(names, flat[1], strict=True) if low > 0))
            continue
        stream = int(ctx.rng("explanations", method).integers(0, 2**31 - 1))
        if method == "pathwise":
            refused = pathwise_refusal(ctx.evaluator, x, targets) if auto else None
            if refused is not None:  # e.g. numpy does not reproduce the model: say so, run the rest
                section[method] = kind(params=typing.get_type_hints(kind)["params"](), global_={}, refused=refused)
                continue
        explained = Rows.select(ctx.rows, row_ids, background=background)
        attr = explainer.explain(ctx.evaluator, explained, targets=targets, seed=stream, params=mp,
                                 confidence=confidence, interval_targets=1)  # the runner-up's intervals are not reported
        v, lo, hi, used = attr.stacked("values"), attr.stacked("ci_low"), attr.stacked("ci_high"), attr.params
        n = row_ids.size
        flat_v = v.reshape(v.shape[0], n, -1)
        flat_lo = lo.reshape(lo.shape[0], n, -1)
        flat_hi = hi.reshape(hi.shape[0], n, -1)
        g, glo, ghi = mean_interval(np.abs(flat_v[0]), axis=0, confidence=confidence)
        sg, sglo, sghi = mean_interval(flat_v[0], axis=0, confidence=confidence)  # signed: the test of "excludes 0"
        scale = None
        fields: dict[str, Any] = {}
        if method == "smoothgrad":
            used, scale = _smoothgrad_units(used, ctx, background, image)
            if scale is not None:  # gradient × the feature's spread: comparable across features (constant factor ≥ 0)
                keep = np.flatnonzero(np.isfinite(scale))
                fields["global_scaled"] = _global([names[j] for j in keep], g[keep] * scale[keep],
                                                  glo[keep] * scale[keep], ghi[keep] * scale[keep])
        saturated = set(used.saturated_rows or ())
        if used.saturated_rows is not None:
            fields["saturated_rows"] = tuple(sorted(saturated))
        if space.text is None:  # a mean/mode baseline of token ids is no deletion of a token
            aucs = deletion_insertion(ctx.evaluator.predict, x, v[0], targets[:, :1], baseline=base,
                                      n_steps=int(p.quality_steps), rng=ctx.rng("explanations", method, "quality"),
                                      max_bytes=ctx.evaluator.max_chunk_bytes,
                                      dtype=feed_dtype(space) if image else None)
            fields["quality"] = quality_summary(aucs, confidence)
        if image:
            fields["global_heatmap"] = Grid(pooled(space, np.abs(v[0]).mean(axis=0)))
            fields["image_layout"] = space.image_layout
            if pooled(space, v[0, :1]).shape != v[0, :1].shape:
                fields["heatmap_pooling"] = f"block-averaged to at most {MAX_STORED_SIDE} pixels a side"
        if method == "pathwise":  # exact and deterministic: no seeds to compare
            fields["pathwise"] = pathwise_section(ctx, row_ids, targets, int(p.heatmap_rows))
        elif method == "attention":  # deterministic too
            fields["attention"] = attention_section(ctx, row_ids, targets, mp["query"], mp["mask_id"])
        elif int(p.stability_seeds) > 0:
            fields["rank_stability"] = _stability(ctx, p, explainer, mp, explained, targets, flat_v, stream,
                                                  confidence)
        if sanity_on and method not in ("pathwise", "attention"):  # graph readers: exact for the weights they read
            fields["sanity"] = _sanity(ctx, p, explainer, mp, explained, targets, v, stream, confidence)
        if method == "lime" and not image:
            picks, importance = submodular_pick(flat_v[0], n_picks=int(p.sp_picks))
            fields["sp_lime"] = SpLime(rows=tuple(row_ids[picks].tolist()), importance=_named(names, importance))
        entry = kind(
            params=used,
            rows=tuple(row_ids.tolist()),
            global_=_global(names, g, glo, ghi),
            global_signed=_global(names, sg, sglo, sghi),
            significant=tuple(names[j] for j in np.flatnonzero((sglo > 0) | (sghi < 0))[:_MAX_GLOBAL]),
            significant_fraction=float(((flat_lo[0] > 0) | (flat_hi[0] < 0)).mean()),
            local=_local(ctx, row_ids, targets, flat_v, flat_lo, flat_hi, names, image, v, int(p.heatmap_rows),
                         saturated, scale),
            **fields,
        )
        section[method] = entry
    return CheckOutcome(ExplanationsResult(section), skipped=skipped)


def _smoothgrad_units(used: Any, ctx: Any, background: np.ndarray, image: bool) -> tuple[Any, np.ndarray | None]:
    """Say what SmoothGrad's numbers measure (``params.unit``), and for tabular data return each
    feature's standard deviation in the background data ``(d,)`` (NaN for categorical features, not
    differentiated), the factor that turns the per-unit gradient into a change per standard
    deviation (``global_scaled``, ``params.scale``, ``params.scaled_unit``). Returns the
    params record with those keys and the factor."""
    target = "the predicted class's probability" if ctx.task == "classification" else "the predicted value"
    if image or ctx.space.text is not None:
        return dataclasses.replace(used, unit=f"change in {target} per unit of pixel intensity"), None
    unit = f"change in {target} per unit of the feature (a gradient)"
    scaled_unit = f"change in {target} per standard deviation of the feature (gradient × standard deviation)"
    flat = np.asarray(background, dtype=np.float64).reshape(background.shape[0], -1)
    with np.errstate(all="ignore"):
        std = np.nanstd(flat, axis=0, ddof=1 if flat.shape[0] > 1 else 0)
    std = np.where(np.asarray(ctx.space.categorical_mask).reshape(-1), np.nan, np.nan_to_num(std, nan=0.0))
    scale = {n: float(s) for n, s in zip(ctx.space.feature_names, std, strict=True) if np.isfinite(s)}
    return dataclasses.replace(used, unit=unit, scaled_unit=scaled_unit, scale=scale), std


def _stability(ctx: Any, p: ExplanationsParams, explainer: Any, mp: ExplanationsParams, explained: Rows,
               targets: np.ndarray, flat_v: np.ndarray, stream: int, confidence: float) -> RankStability:
    n = explained.n
    rhos, overlaps = [], []
    restarts = Restarts(explainer, int(p.stability_seeds)).explain(  # seeds stream + 1, stream + 2, ...
        ctx.evaluator, explained, targets=targets[:, :1], seed=stream, params=mp, confidence=confidence,
        interval_targets=0)  # the values are compared; their intervals are not read
    for v2 in restarts.wrapped["restarts"]:
        rho, ov = _rank_stability(flat_v[0], v2.reshape(n, -1), int(p.top_k))
        rhos.append(rho)
        overlaps.append(ov)
    rho_all = np.concatenate(rhos)
    ov_all = np.concatenate(overlaps)
    return RankStability(
        # Student-t intervals of bounded quantities are clipped to their range.
        spearman=Estimate(*np.clip(mean_interval(rho_all, axis=0, confidence=confidence), -1.0, 1.0).astype(float)),
        top_k_overlap=Estimate(*np.clip(mean_interval(ov_all, axis=0, confidence=confidence), 0.0, 1.0).astype(float)),
        k=int(min(int(p.top_k), flat_v.shape[2])),
        extra_seeds=int(p.stability_seeds),
    )


def _sanity_wanted(ctx: Any, setting: Any) -> bool:
    if setting is False:
        return False
    from ..model.randomise import randomisable_layers

    try:
        import onnx

        has_layers = bool(randomisable_layers(onnx.load(ctx.model.path)))
    except Exception:  # noqa: BLE001 - an unreadable graph: nothing to randomise
        has_layers = False
    if setting is True and not has_layers:
        raise ConfigError("sanity_check = true needs a model with a Gemm, MatMul or Conv weight initializer to "
                          "randomise; this model has none (set sanity_check = false).")
    return has_layers


def _sanity(ctx: Any, p: ExplanationsParams, explainer: Any, mp: ExplanationsParams, explained: Rows, targets: np.ndarray,
            v: np.ndarray, stream: int, confidence: float) -> Sanity:
    k = min(p.sanity_rows, explained.n)  # Params: validated when the config was built
    max_layers = p.sanity_max_layers
    threshold = p.sanity_threshold
    check = RandomisationCheck(explainer, seed=int(ctx.rng("explanations", "sanity").integers(0, 2**31 - 1)),
                               threshold=threshold, max_layers=max_layers)
    res = check.cascade(ctx.evaluator, explained.head(k), targets=targets[:k, :1], seed=stream, params=mp,
                        original=v[0, :k], confidence=confidence)
    ctx.evaluator.stats.add(res.evaluations)
    return res.to_record()


def _global(names: list[str], value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, Estimate]:
    keep = np.argsort(-np.abs(value), kind="stable")[:_MAX_GLOBAL]
    return {names[j]: Estimate(float(value[j]), float(lo[j]), float(hi[j])) for j in sorted(keep)}


def _local(ctx: Any, row_ids: np.ndarray, targets: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray,
           names: list[str], image: bool, full: np.ndarray, heatmap_rows: int, saturated: set[int],
           scale: np.ndarray | None) -> tuple[LocalExplanation, ...]:
    classes = ctx.classes
    out = []
    for i, r in enumerate(row_ids.tolist()):  # the few explained rows
        sig = (lo[0, i] > 0) | (hi[0, i] < 0)
        item: dict[str, Any] = {"row": int(r)}
        if ctx.task == "classification":
            c = int(targets[i, 0])
            item["prediction"] = _plain(classes[c]) if classes else c
            item["probability"] = float(ctx.proba[r, c])
        else:
            item["prediction"] = float(ctx.proba[r, 0])
        if image:
            if i < heatmap_rows:
                item["heatmap"] = Grid(pooled(ctx.space, full[0, i]))
                item["input"] = Grid(pooled(ctx.space, ctx.rows[r]))  # the report draws the heatmap over it
            item["top_features"] = tuple(names[j] for j in np.argsort(-np.abs(v[0, i]))[:5])
        elif ctx.space.text is not None:
            item["tokens"] = token_view(ctx.space, ctx.rows[r], v[0, i])
            keep = np.flatnonzero(v[0, i] != 0)
            item["attributions"] = {names[j]: float(v[0, i, j]) for j in keep}
        else:
            item["attributions"] = _named(names, v[0, i])
            if scale is not None:
                keep = np.flatnonzero(np.isfinite(scale))
                item["attributions_scaled"] = {names[j]: float(v[0, i, j] * scale[j]) for j in keep}
        item["significant"] = tuple(names[j] for j in np.flatnonzero(sig)[:_MAX_GLOBAL])
        if int(r) in saturated:
            item["saturated"] = True
        if targets.shape[1] > 1:
            c2 = int(targets[i, 1])
            runner: dict[str, Any] = {"prediction": _plain(classes[c2]) if classes else c2,
                                      "probability": float(ctx.proba[r, c2])}
            if image:
                if i < heatmap_rows:
                    runner["heatmap"] = Grid(pooled(ctx.space, full[1, i]))
            else:
                runner["attributions"] = _named(names, v[1, i])
            item["runner_up"] = RunnerUp(**runner)
        out.append(LocalExplanation(**item))
    return tuple(out)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
