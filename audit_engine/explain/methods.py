"""The built-in explanation methods as :class:`~.protocol.Explainer` s.

Each class turns one call shape, ``explain(evaluator, rows, *, targets, seed, params,
confidence, interval_targets)``, into its method module's function (``lime_tabular``,
``smoothgrad``, ...) and returns one :class:`~.attribution.Attribution` whose ``params``
is the method's typed record of audit.json. The shared steps (settings, applicability,
the seed drawn once, BLAS on one thread, interval columns, round-off bound) live in
:class:`MethodExplainer`; a method writes only :meth:`MethodExplainer.compute`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError
from ..evaluator.local import DEFAULT_CHUNK_BYTES
from ..results.explanations import (AttentionParams, LimeParams, MethodParams, OcclusionParams, PathwiseParams,
                                    PermutationParams, SmoothGradParams)
from ..stats import child_rng
from ._common import blas_single_thread, output_resolution, row_rngs
from ._image import feed_dtype
from .attention import attention_explain
from .attribution import Attribution
from .lime_backend import lime_package_tabular
from .lime_image import lime_image
from .lime_tabular import fit_tabular_stats, lime_tabular
from .occlusion import occlusion_image, occlusion_tabular
from .pathwise import pathwise
from .permutation import permutation_importance
from .protocol import Rows, Seed, recorded_seed, seed_entropy
from .settings import (AttentionSettings, LimeSettings, OcclusionSettings, PathwiseSettings, PermutationSettings,
                       Settings, SmoothGradSettings, image_patch, resolve)
from .smoothgrad import smoothgrad
from .text import lime_tokens, not_applicable, token_occlusion

__all__ = ["MethodExplainer", "Lime", "LimePackage", "SmoothGrad", "Occlusion", "Permutation", "Pathwise",
           "Attention", "BUILT_IN"]


@dataclass
class Computed:
    """What :meth:`MethodExplainer.compute` gives back: values, ci_low, ci_high ``(t, m, *row_shape)``
    (a global method: ``(1, 1, *row_shape)``), the record's method-specific fields, the
    round-off bound of exact values (None: not an exact method), rows whose every difference
    was below the output's resolution ``(m,)``, and the method's own result."""

    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    fields: dict[str, Any]
    bound: np.ndarray | None = None
    saturated: np.ndarray | None = None
    detail: Any = None


def _exact(values: np.ndarray, fields: dict[str, Any], **kw: Any) -> Computed:
    return Computed(values, values.copy(), values.copy(), {**fields, "interval": "exact"}, **kw)


def _median(a: np.ndarray | None) -> float | None:
    if a is None:
        return None
    ok = np.asarray(a)[np.isfinite(a)]
    return float(np.median(ok)) if ok.size else None


class MethodExplainer:
    """Base of the built-in methods: the :class:`~.protocol.Explainer` call around :meth:`compute`."""

    name: ClassVar[str]
    random: ClassVar[bool] = True
    global_: ClassVar[bool] = False  # one attribution for the whole data (permutation)
    Settings: ClassVar[type[Settings]]
    Record: ClassVar[type[MethodParams]]

    def keys(self, space: FeatureSpace) -> tuple[str, ...]:
        """The parameters this method takes for this data."""
        return tuple(f for f in self.Settings.__dataclass_fields__)

    def defaults(self, space: FeatureSpace) -> dict[str, Any]:
        """Defaults that depend on the data (over the settings class's own)."""
        return {}

    def settings(self, space: FeatureSpace, params: Any = None) -> Any:
        return resolve(self.Settings, self.name, self.keys(space), params, self.defaults(space))

    def refusal(self, space: FeatureSpace) -> str | None:
        """Why this method cannot explain data of this space (None: it can)."""
        return not_applicable(self.name, space)

    def explain(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: Seed = 0, params: Any = None,
                confidence: float = 0.95, interval_targets: int | None = None) -> Attribution:
        space = evaluator.space
        settings = self.settings(space, params)
        reason = self.refusal(space)
        if reason is not None:
            raise ConfigError(f"Method {self.name!r} cannot explain this model: {reason}.")
        targets = np.asarray(targets, dtype=np.intp)
        if targets.ndim == 1:
            targets = targets[:, None]
        entropy = seed_entropy(seed)
        with blas_single_thread():
            out = self.compute(evaluator, rows, targets=targets, seed=entropy, settings=settings,
                               confidence=confidence, interval_targets=interval_targets)
        lo, hi = out.ci_low, out.ci_high
        if interval_targets is not None and not self.global_:
            lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
            lo[interval_targets:], hi[interval_targets:] = np.nan, np.nan
        fields = dict(out.fields)
        if out.bound is not None:
            # exact values carry only round-off; every interval is widened by it (see the methods)
            fields["roundoff_bound"] = float(np.max(out.bound)) if out.bound.size else 0.0
            fields["output_eps"] = output_resolution(evaluator)[0]
        if out.saturated is not None:
            fields["saturated_rows"] = tuple(rows.ids[out.saturated].tolist())
        params_record = self.Record(**fields, seed=recorded_seed(seed), confidence=confidence)
        names = space.feature_names
        if self.global_:
            ids = tgt = np.array([-1])
        else:
            ids, tgt = rows.ids, targets
        per_target = [Attribution(out.values[j], names, lo[j], hi[j], self.name, params_record, rows=ids,
                                  targets=tgt[:, j] if not self.global_ else tgt, settings=settings)
                      for j in range(out.values.shape[0])]
        return per_target[0].replace(alternatives=tuple(per_target[1:]), detail=out.detail)

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: Any,
                confidence: float, interval_targets: int | None) -> Computed:
        raise NotImplementedError


def _budget(evaluator: Any) -> int:
    """Bytes of perturbations built per piece: the Evaluator's chunk budget."""
    return int(getattr(evaluator, "max_chunk_bytes", DEFAULT_CHUNK_BYTES))


def _boot(seed: int, method: str) -> np.random.Generator:
    return child_rng(seed, "explain", method, "bootstrap")


class Lime(MethodExplainer):
    """LIME (Ribeiro et al. 2016): tabular (:mod:`.lime_tabular`), images over superpixels
    (:mod:`.lime_image`) and text over tokens (:func:`.text.lime_tokens`); intervals are
    Student-t over folds of the perturbations."""

    name = "lime"
    Settings = LimeSettings
    Record = LimeParams

    def keys(self, space: FeatureSpace) -> tuple[str, ...]:
        base = ("n_samples", "kernel_width", "alpha", "n_folds")
        return base + (("patch_size", "segmentation", "n_segments") if space.is_image and space.text is None else ())

    def defaults(self, space: FeatureSpace) -> dict[str, Any]:
        return {"patch_size": image_patch(space)} if space.is_image and space.text is None else {}

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: LimeSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        s, space = settings, evaluator.space
        rngs = row_rngs(seed, "lime", rows.ids)
        fields: dict[str, Any] = {"n_samples": s.n_samples, "kernel_width": s.kernel_width, "alpha": s.alpha,
                                  "n_folds": s.n_folds,
                                  "interval": f"student_t over {s.n_folds} folds of the perturbations"}
        if space.text is not None:
            values, lo, hi, r2 = lime_tokens(evaluator.predict, rows.x, targets, space=space, n_samples=s.n_samples,
                                             rngs=rngs, kernel_width=s.kernel_width or 25.0, alpha=s.alpha,
                                             n_folds=s.n_folds, confidence=confidence)
            fields.update(features="tokens", surrogate_r2_median=_median(r2))
        elif space.is_image:
            values, lo, hi, seg = lime_image(evaluator.predict, rows.x, targets, space=space, patch_size=s.patch_size,
                                             n_samples=s.n_samples, rngs=rngs, alpha=s.alpha, n_folds=s.n_folds,
                                             confidence=confidence, segmentation=s.segmentation,
                                             n_segments=s.n_segments, max_bytes=_budget(evaluator),
                                             **({"kernel_width": s.kernel_width} if s.kernel_width else {}))
            fields.update(patch_size=s.patch_size, segmentation=seg["segmentation"], n_segments=s.n_segments,
                          superpixels=seg["superpixels"], segmentation_fallback=seg.get("fallback"))
        else:
            stats = fit_tabular_stats(rows.background, space.categorical_mask)
            values, lo, hi, r2 = lime_tabular(evaluator.predict, rows.x, targets, stats=stats, n_samples=s.n_samples,
                                              rngs=rngs, kernel_width=s.kernel_width, alpha=s.alpha,
                                              n_folds=s.n_folds, confidence=confidence)
            fields["surrogate_r2_median"] = _median(r2)
        return Computed(values, lo, hi, fields)


class LimePackage(Lime):
    """Tabular LIME by the ``lime`` package itself (``backend="lime"``): no interval."""

    def explain(self, evaluator: Any, rows: Rows, **kwargs: Any) -> Attribution:
        if evaluator.space.is_image or evaluator.space.text is not None:
            raise ConfigError("backend='lime' runs the lime package's tabular LIME only; use method='lime' on "
                              "tabular data.")
        return super().explain(evaluator, rows, **kwargs)

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: LimeSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        s, space = settings, evaluator.space
        values = lime_package_tabular(evaluator.predict, rows.x, targets, background=rows.background,
                                      categorical=space.categorical_mask, feature_names=space.feature_names,
                                      n_samples=s.n_samples, seed=seed % 2**32,
                                      regression=evaluator.task == "regression", kernel_width=s.kernel_width)
        nan = np.full_like(values, np.nan)
        return Computed(values, nan, nan.copy(), {
            "n_samples": s.n_samples, "kernel_width": s.kernel_width, "alpha": s.alpha, "n_folds": s.n_folds,
            "backend": "lime", "interval": "none (the lime package gives no interval)"})


class SmoothGrad(MethodExplainer):
    """SmoothGrad (Smilkov et al. 2017) by finite differences (:mod:`.smoothgrad`); intervals
    bootstrap-t over the noise draws. Categorical features are not differentiated (0)."""

    name = "smoothgrad"
    Settings = SmoothGradSettings
    Record = SmoothGradParams

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: SmoothGradSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        s, space = settings, evaluator.space
        cat = space.categorical_mask
        eps, probability = output_resolution(evaluator)
        mask = ~cat.reshape(space.row_shape) if not space.is_image else np.ones(space.row_shape, dtype=bool)
        values, lo, hi, used, bound, saturated = smoothgrad(
            evaluator.predict, rows.x, targets, background=rows.background, mask=mask, noise_level=s.noise_level,
            n_samples=s.n_samples, rngs=row_rngs(seed, "smoothgrad", rows.ids), estimator=s.estimator, step=s.step,
            confidence=confidence, boot_rng=_boot(seed, self.name), output_eps=eps, probability=probability,
            max_bytes=_budget(evaluator), interval_targets=interval_targets,
            feed_dtype=feed_dtype(space) if space.is_image else None)
        sampled = s.noise_level > 0 or used == "stein"
        fields: dict[str, Any] = {
            "noise_level": s.noise_level, "estimator": used, "step": s.step,
            "n_samples": s.n_samples if sampled else None,
            "interval": f"bootstrap_t over {s.n_samples} noise draws" if sampled else "exact"}
        if cat.any():
            fields["skipped"] = tuple(n for n, c in zip(space.feature_names, cat, strict=True) if c)
            fields["note"] = "categorical features are not differentiated; their attribution is 0"
        return Computed(values, lo, hi, fields, bound=bound, saturated=saturated[0])


class Occlusion(MethodExplainer):
    """Occlusion (Zeiler & Fergus 2014): tabular features replaced by a baseline, image patches,
    or tokens (:func:`.text.token_occlusion`). Fixed baselines are exact (the interval is the
    round-off bound); ``baseline="sample"`` gets a bootstrap-t interval over background draws."""

    name = "occlusion"
    Settings = OcclusionSettings
    Record = OcclusionParams

    def keys(self, space: FeatureSpace) -> tuple[str, ...]:
        if space.text is not None:
            return ("replacement",)
        return ("patch_size", "stride", "baseline") if space.is_image else ("baseline", "n_samples")

    def defaults(self, space: FeatureSpace) -> dict[str, Any]:
        if space.text is not None or not space.is_image:
            return {"baseline": "mean"} if space.text is None else {}
        patch = image_patch(space)
        return {"patch_size": patch, "stride": max(1, patch // 2), "baseline": "zero"}

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: OcclusionSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        s, space = settings, evaluator.space
        eps, probability = output_resolution(evaluator)
        if space.text is not None:
            values = token_occlusion(evaluator.predict, rows.x, targets, space=space, replacement=s.replacement)
            return _exact(values, {"replacement": s.replacement, "features": "tokens"})
        if space.is_image:
            values, bound = occlusion_image(evaluator.predict, rows.x, targets, space=space, patch_size=s.patch_size,
                                            stride=s.stride, baseline=s.baseline, eps=eps, probability=probability,
                                            max_bytes=_budget(evaluator))
            return Computed(values, values - bound, values + bound,
                            {"patch_size": s.patch_size, "stride": s.stride, "baseline": s.baseline,
                             "interval": "exact"}, bound=bound)
        base = np.asarray(s.baseline, dtype=np.float64) if isinstance(s.baseline, tuple) else s.baseline
        values, lo, hi, bound = occlusion_tabular(evaluator.predict, rows.x, targets, background=rows.background,
                                                  categorical=space.categorical_mask, baseline=base,
                                                  n_samples=s.n_samples, rngs=row_rngs(seed, "occlusion", rows.ids),
                                                  confidence=confidence, boot_rng=_boot(seed, self.name), eps=eps,
                                                  probability=probability)
        sampled = isinstance(s.baseline, str) and s.baseline == "sample"
        return Computed(values, lo, hi, {
            "baseline": s.baseline, "n_samples": s.n_samples if sampled else None,
            "interval": f"bootstrap_t over {s.n_samples} background draws" if sampled else "exact"}, bound=bound)


class Permutation(MethodExplainer):
    """Permutation importance (Breiman 2001; :mod:`.permutation`): global, ``(1, n_features)``,
    the loss increase when a feature is permuted, Student-t over repeats. ``rows.labels``:
    the true labels (None: the model's predictions); ``targets`` are not used."""

    name = "permutation"
    global_ = True
    Settings = PermutationSettings
    Record = PermutationParams

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: PermutationSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        metric = settings.metric
        if metric == "auto":
            metric = "mse" if evaluator.task == "regression" else "log_loss"
        labels = rows.labels
        if labels is None:  # the model's own predictions: how much its output depends on each feature
            pr = evaluator.predict(rows.x)
            labels = pr[:, 0] if evaluator.task == "regression" else pr.argmax(axis=1)
        elif evaluator.task == "regression" and metric != "mse":
            raise ConfigError(f"Permutation metric {metric!r} needs a classifier; use 'mse' for regression.")
        v, lo, hi, base_loss = permutation_importance(evaluator.predict, rows.x, np.asarray(labels, dtype=np.float64),
                                                      metric=metric, n_repeats=settings.n_repeats,
                                                      rng=child_rng(seed, "explain", "permutation"),
                                                      confidence=confidence)
        return Computed(v[None], lo[None], hi[None], {  # v: (1, d)
            "n_repeats": settings.n_repeats, "metric": metric, "base_loss": base_loss,
            "interval": f"student_t over {settings.n_repeats} repeats"})


class Pathwise(MethodExplainer):
    """Pathwise explanation of ReLU networks (Lim et al. 2024; :mod:`.pathwise`): ``W(x) ⊙ x``
    of the class's logit, exact; ``detail`` is the :class:`~.pathwise.PathwiseExplanation`
    (bias share, paths)."""

    name = "pathwise"
    random = False
    Settings = PathwiseSettings
    Record = PathwiseParams

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: PathwiseSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        s = settings
        pw = pathwise(evaluator, rows.x, targets, rows=rows.ids, fallback=s.fallback, step=s.step,
                      tolerance=s.tolerance, max_dense_entries=s.max_dense_entries)
        values = np.moveaxis(pw.contributions, 1, 0).reshape(targets.shape[1], rows.n, *evaluator.space.row_shape)
        fields: dict[str, Any] = {} if s.fallback is None else {"fallback": s.fallback, "step": s.step}
        fields.update(pw.params)  # the exact method's only parameters are what it read from the graph
        fields["ops"] = tuple(fields["ops"]) if "ops" in fields else None
        fields["bias_share_median"] = float(np.median(pw.bias_share[:, 0])) if pw.bias_share.size else None
        return _exact(values, fields, detail=pw)


class Attention(MethodExplainer):
    """Attention rollout per token for transformers over token ids (Abnar & Zuidema 2020;
    :mod:`.attention`); class-independent and exact; ``detail`` the AttentionExplanation."""

    name = "attention"
    random = False
    Settings = AttentionSettings
    Record = AttentionParams

    def compute(self, evaluator: Any, rows: Rows, *, targets: np.ndarray, seed: int, settings: AttentionSettings,
                confidence: float, interval_targets: int | None) -> Computed:
        ex = attention_explain(evaluator, rows.x, targets[:, 0], rows=rows.ids, query=settings.query,
                               mask_id=settings.mask_id)
        values = np.broadcast_to(ex.rollout, (targets.shape[1], *ex.rollout.shape)).copy()  # class-independent
        rho = ex.spearman_rollout[np.isfinite(ex.spearman_rollout)]
        return _exact(values, {"query": settings.query, "mask_id": settings.mask_id,
                               "spearman_rollout_vs_occlusion_median": float(np.median(rho)) if rho.size else None},
                      detail=ex)


BUILT_IN: tuple[MethodExplainer, ...] = (Lime(), SmoothGrad(), Occlusion(), Permutation(), Pathwise(), Attention())
"""The registered methods, in the order ``METHODS`` lists them."""
