"""Typed ``explanations`` section of audit.json: one :class:`MethodExplanation` per method.

``result.explanations["lime"].global_["age"]`` is an :class:`~audit_engine.stats.Estimate`;
``result.explanations.to_frame()`` is one row per (method, feature) with the global
importance, its interval and whether the signed mean's interval excludes zero;
``result.explanations["lime"].local_frame()`` one row per (explained row, feature).

The records mirror ``schema/explanations.schema.json`` key for key (see
:mod:`audit_engine.results.record` for the serialisation rules). Attributions explain the
probability of the predicted class (regression: the predicted value); positive = pushes
it up. Every method has its own parameters record (the keys it writes under ``params``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..stats import Estimate
from .record import Record, RecordMap, json_key, record

__all__ = [
    "Grid", "Label", "Curve", "Quality", "RankStability", "SanityStepRecord", "Sanity", "SpLime",
    "TokenAttribution", "RunnerUp", "LocalExplanation", "PathStep", "PathPart", "PathwiseClass",
    "PathwiseLocal", "HiddenLayer", "Pathwise", "AttentionAgreement", "AttentionLocal", "Attention",
    "MethodParams", "LimeParams", "SmoothGradParams", "OcclusionParams", "PermutationParams",
    "PathwiseParams", "AttentionParams", "MethodExplanation", "ExplanationsResult", "METHOD_TYPES",
]

Label = bool | str | int | float
"""A class label as the model's classes hold it (bool first: ``True`` is not read as 1)."""


class Grid:
    """A numeric array stored as nested JSON lists (a heatmap, an input image, a W^path map).

    ``values`` is a float64 array of the stored shape (images: the model input's per-row
    shape, block-averaged for large images); null is NaN.
    """

    __slots__ = ("values",)

    def __init__(self, values: Any) -> None:
        arr = np.array(values, dtype=np.float64)
        arr.setflags(write=False)
        self.values: np.ndarray = arr

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def to_dict(self) -> list[Any]:  # the JSON form: nested lists, NaN as null (encode() does that)
        return self.values.tolist()

    @classmethod
    def from_dict(cls, doc: Any) -> Grid:
        return cls(np.array(doc, dtype=object).astype(np.float64) if doc else np.zeros(0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and other.shape == self.shape and bool(
            np.array_equal(other.values, self.values, equal_nan=True))

    def __hash__(self) -> int:  # pragma: no cover
        raise TypeError("unhashable type: Grid")

    def __repr__(self) -> str:
        return f"Grid(shape={self.shape})"


# ------------------------------------------------------------------------------ quality
@record
class Curve(Record):
    """Mean deletion or insertion curve: the score at each fraction of features changed, beside a
    random ranking's (both ``(k,)``)."""

    fraction: tuple[float, ...]
    values: tuple[float, ...]
    random: tuple[float, ...]


@record
class Quality(Record):
    """Deletion (lower is better) and insertion (higher is better) AUCs (Petsiuk et al. 2018): mean
    over rows with a Student-t interval, beside a random ranking's."""

    deletion_auc: Estimate
    insertion_auc: Estimate
    random_deletion_auc: Estimate
    random_insertion_auc: Estimate
    deletion_curve: Curve | None = None
    insertion_curve: Curve | None = None


@record
class RankStability(Record):
    """Spearman correlation of each row's attributions and the overlap of its top-``k`` features
    between the audit seed and ``extra_seeds`` further seeds (means with intervals)."""

    spearman: Estimate
    top_k_overlap: Estimate
    k: int
    extra_seeds: int


@record
class SanityStepRecord(Record):
    """One randomisation step: the layer randomised last, all randomised so far, Spearman of |attributions|."""

    layer: str
    randomised: tuple[str, ...]
    spearman: Estimate


@record
class Sanity(Record):
    """Cascading model-parameter randomisation (Adebayo et al. 2018); ``flagged``: the explanations
    hardly change with the weights randomised (above ``threshold``)."""

    steps: tuple[SanityStepRecord, ...]
    flagged: bool
    threshold: float
    rows: int | None = None
    message: str | None = None


@record
class SpLime(Record):
    """SP-LIME (submodular pick): representative rows and the global importance they cover."""

    rows: tuple[int, ...]
    importance: Mapping[str, float]


# ------------------------------------------------------------------------------ local
@record
class TokenAttribution(Record):
    """One attended token of a text row with its attribution."""

    token: str
    value: float


@record
class RunnerUp(Record):
    """The runner-up class of a row ("why this and not that") and its attributions."""

    prediction: Label
    probability: float
    attributions: Mapping[str, float] | None = None
    heatmap: Grid | None = None


@record
class LocalExplanation(Record):
    """One explained row: its prediction and the predicted class's attributions.

    Tabular: ``attributions`` per feature (SmoothGrad also ``attributions_scaled``: the
    gradient times the feature's standard deviation); images: ``heatmap`` and ``input`` for
    the first rows, ``top_features`` always; text: ``tokens`` in text order.
    ``significant``: features whose per-value interval excludes zero.
    """

    row: int
    prediction: Label
    probability: float | None = None
    attributions: Mapping[str, float] | None = None
    attributions_scaled: Mapping[str, float] | None = None
    heatmap: Grid | None = None
    input: Grid | None = None
    top_features: tuple[str, ...] | None = None
    tokens: tuple[TokenAttribution, ...] | None = None
    significant: tuple[str, ...]
    saturated: bool | None = None
    runner_up: RunnerUp | None = None


# ------------------------------------------------------------------------------ pathwise
@record
class PathStep(Record):
    """One unit of the greedy top-down path: its layer, flat unit index and tensor position."""

    layer: str
    unit: int
    index: tuple[int, ...]


@record
class PathPart(Record):
    """A path's linear model: ``b^path``, ``W^path·x`` and ``W^path`` (tabular: per feature; images: a map)."""

    bias: float
    weight_part: float
    weights: Mapping[str, float] | Grid | None = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PathPart:  # type: ignore[override]
        # the one union the generic reader cannot tell apart: a JSON object (tabular) or nested lists (images)
        weights = doc.get("weights")
        base = super().from_dict({k: v for k, v in doc.items() if k != "weights"})
        if weights is None:
            return base
        typed = Grid.from_dict(weights) if isinstance(weights, list) else {str(k): _float(v) for k, v in weights.items()}
        return dataclasses.replace(base, weights=typed)


@record
class PathwiseClass(Record):
    """The pathwise linear model of one row for one class: logit = W(x)·x + b(x)."""

    class_: Label = json_key("class")
    logit: float
    weight_part: float
    bias: float
    bias_share: float
    weights: Mapping[str, float] | None = None
    path: tuple[PathStep, ...]
    input_feature: str
    thin: PathPart
    deep: PathPart


@record
class PathwiseLocal(PathwiseClass):
    """One explained row: the predicted class's pathwise model and the runner-up's."""

    row: int
    runner_up: PathwiseClass | None = None


@record
class HiddenLayer(Record):
    name: str
    shape: tuple[int, ...]


@record
class Pathwise(Record):
    """Pathwise explanation of a ReLU network (Lim, Lee, Park & Choi); ``bias_share``: mean over rows."""

    score: str
    head: str
    max_error: float
    hidden_layers: tuple[HiddenLayer, ...]
    bias_share: Estimate
    local: tuple[PathwiseLocal, ...]


# ------------------------------------------------------------------------------ attention
@record
class AttentionAgreement(Record):
    """Mean Spearman correlation with token occlusion (in [-1, 1], higher = same ranking).

    ``not_measurable``: why there is no agreement (NaN estimates), e.g. occlusion below
    float32 resolution on a saturated model; None when measured.
    """

    attention_vs_occlusion: Estimate
    rollout_vs_occlusion: Estimate
    not_measurable: str | None = None


@record
class AttentionLocal(Record):
    """One row: its token ids and per-position attention, rollout and occlusion (all ``(L,)``)."""

    row: int
    tokens: tuple[int, ...]
    attention: tuple[float, ...]
    rollout: tuple[float, ...]
    occlusion: tuple[float, ...]
    spearman_attention: float | None
    spearman_rollout: float | None


@record
class Attention(Record):
    """Attention maps and rollout (Abnar & Zuidema 2020) beside token occlusion."""

    layers: tuple[str, ...]
    query: str
    mask_id: int
    agreement: AttentionAgreement
    local: tuple[AttentionLocal, ...]


# ------------------------------------------------------------------------------ params
@record
class MethodParams(Record):
    """``params`` common to every method: how intervals were made, the stream, the confidence."""

    interval: str | None = None
    seed: int | None = None
    confidence: float | None = None
    roundoff_bound: float | None = None
    output_eps: float | None = None
    saturated_rows: tuple[int, ...] | None = None
    features: str | None = None
    backend: str | None = None

    def __getitem__(self, key: str) -> Any:
        """Read a parameter by its JSON key (``attr.params["n_samples"]``), as the dict the
        explanation methods returned before they returned this record did."""
        if key in {f.name for f in dataclasses.fields(self)} and key != "extra":
            return getattr(self, key)
        if key in self.extra:
            return self.extra[key]
        raise KeyError(key)

    def __contains__(self, key: str) -> bool:
        try:
            return self[key] is not None
        except KeyError:
            return False

    def keys(self) -> list[str]:
        """The parameters set (those audit.json writes)."""
        return list(self.to_dict())

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self.keys()]

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or ``default`` where the record has no such parameter (or it is None)."""
        value = self[key] if key in self else None
        return default if value is None else value


@record
class LimeParams(MethodParams):
    n_samples: int
    kernel_width: float | None
    alpha: float
    n_folds: int
    patch_size: int | None = None
    segmentation: str | None = None
    n_segments: int | None = None
    superpixels: int | None = None
    segmentation_fallback: str | None = None
    surrogate_r2_median: float | None = None


@record
class SmoothGradParams(MethodParams):
    """``scale`` (tabular): each feature's standard deviation in the background data, the factor of
    ``global_scaled``; ``unit`` / ``scaled_unit``: what ``global`` / ``global_scaled`` measure."""

    n_samples: int | None = None
    noise_level: float
    estimator: str
    step: float
    skipped: tuple[str, ...] | None = None
    note: str | None = None
    unit: str | None = None
    scaled_unit: str | None = None
    scale: Mapping[str, float] | None = None


@record
class OcclusionParams(MethodParams):
    baseline: str | tuple[float, ...] | None = None
    n_samples: int | None = None
    patch_size: int | None = None
    stride: int | None = None
    replacement: str | None = None


@record
class PermutationParams(MethodParams):
    n_repeats: int
    metric: str
    base_loss: float
    seed: int | None = dataclasses.field()  # always written: the audit permutes with a Generator (null)


@record
class PathwiseParams(MethodParams):
    score: str | None = None
    head: str | None = None
    tolerance: float | None = None
    hidden_layers: int | None = None
    ops: tuple[str, ...] | None = None
    bias_share_median: float | None = None
    fallback: str | None = None
    step: float | None = None
    approximate: bool | None = None
    reason: str | None = None


@record
class AttentionParams(MethodParams):
    query: str
    mask_id: int
    spearman_rollout_vs_occlusion_median: float | None


# ------------------------------------------------------------------------------ one method
@record
class MethodExplanation(Record):
    """``explanations.<method>``.

    ``global_`` (JSON ``global``): mean |attribution| per feature over the explained rows
    (permutation: the loss increase), an importance with a Student-t interval;
    ``global_signed``: the signed mean (``significant``: features whose interval excludes
    0); ``global_scaled`` (SmoothGrad, tabular): ``global`` times each feature's standard
    deviation, the change in the explained probability per one standard deviation.
    ``image_layout`` (images): ``NCHW`` / ``NHWC`` / ``HW``, the axes of the stored maps.
    """

    params: MethodParams
    rows: tuple[int, ...] | None = None
    global_: Mapping[str, Estimate] = json_key("global")
    global_signed: Mapping[str, Estimate] | None = None
    global_scaled: Mapping[str, Estimate] | None = None
    significant: tuple[str, ...] | None = None
    significant_fraction: float | None = None
    local: tuple[LocalExplanation, ...] | None = None
    quality: Quality | None = None
    saturated_rows: tuple[int, ...] | None = None
    global_heatmap: Grid | None = None
    heatmap_pooling: str | None = None
    image_layout: str | None = None
    rank_stability: RankStability | None = None
    sanity: Sanity | None = None
    sp_lime: SpLime | None = None
    pathwise: Pathwise | None = None
    attention: Attention | None = None
    refused: str | None = None

    def significant_features(self) -> set[str]:
        """Features whose signed interval excludes zero (permutation: the loss increase's)."""
        return set(self.significant or ())

    def to_frame(self) -> Any:
        """One row per feature: ``feature``, ``value``, ``ci_low``, ``ci_high``, ``significant``
        (and ``scaled`` / ``scaled_low`` / ``scaled_high`` where ``global_scaled`` exists)."""
        import pandas as pd

        sig = self.significant_features()
        rows = []
        for name, est in self.global_.items():
            row: dict[str, Any] = {"feature": name, "value": est.value, "ci_low": est.ci_low,
                                   "ci_high": est.ci_high, "significant": name in sig}
            if self.global_scaled is not None and name in self.global_scaled:
                s = self.global_scaled[name]
                row.update(scaled=s.value, scaled_low=s.ci_low, scaled_high=s.ci_high)
            rows.append(row)
        return pd.DataFrame(rows, columns=["feature", "value", "ci_low", "ci_high", "significant"]
                            + (["scaled", "scaled_low", "scaled_high"] if self.global_scaled is not None else []))

    def local_frame(self) -> Any:
        """One row per (explained row, feature): ``row``, ``prediction``, ``feature``, ``value``,
        ``significant`` (text: the tokens' positions as features ``token[i]``; images without a
        stored map: empty)."""
        import pandas as pd

        rows = []
        for e in self.local or ():
            sig = set(e.significant)
            if e.attributions is not None:
                items = list(e.attributions.items())
            elif e.tokens is not None:
                items = [(f"token[{i}] {t.token}", t.value) for i, t in enumerate(e.tokens)]
            else:
                items = []
            for name, value in items:
                rows.append({"row": e.row, "prediction": e.prediction, "feature": name, "value": value,
                             "significant": name in sig})
        return pd.DataFrame(rows, columns=["row", "prediction", "feature", "value", "significant"])


@record
class LimeExplanation(MethodExplanation):
    params: LimeParams  # type: ignore[assignment]


@record
class SmoothGradExplanation(MethodExplanation):
    params: SmoothGradParams  # type: ignore[assignment]


@record
class OcclusionExplanation(MethodExplanation):
    params: OcclusionParams  # type: ignore[assignment]


@record
class PermutationExplanation(MethodExplanation):
    params: PermutationParams  # type: ignore[assignment]


@record
class PathwiseExplanation(MethodExplanation):
    params: PathwiseParams  # type: ignore[assignment]


@record
class AttentionExplanation(MethodExplanation):
    params: AttentionParams  # type: ignore[assignment]


METHOD_TYPES: dict[str, type[MethodExplanation]] = {
    "lime": LimeExplanation, "smoothgrad": SmoothGradExplanation, "occlusion": OcclusionExplanation,
    "permutation": PermutationExplanation, "pathwise": PathwiseExplanation, "attention": AttentionExplanation,
}


class ExplanationsResult(RecordMap[MethodExplanation]):
    """``explanations``: ``{method: MethodExplanation}`` in the order the methods ran."""

    item = MethodExplanation

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ExplanationsResult:  # type: ignore[override]
        return cls({str(k): METHOD_TYPES.get(str(k), MethodExplanation).from_dict(v) for k, v in doc.items()})

    def to_frame(self) -> Any:
        """One row per (method, feature): ``method``, ``feature``, ``value``, ``ci_low``, ``ci_high``,
        ``significant`` — the global importances with their intervals."""
        import pandas as pd

        frames = []
        for method, entry in self.items():
            frame = entry.to_frame()[["feature", "value", "ci_low", "ci_high", "significant"]]
            frame.insert(0, "method", method)
            frames.append(frame)
        columns = ["method", "feature", "value", "ci_low", "ci_high", "significant"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def local_frame(self) -> Any:
        """Every method's :meth:`MethodExplanation.local_frame` stacked, with ``method`` first:
        one row per (method, explained row, feature)."""
        import pandas as pd

        frames = []
        for method, entry in self.items():
            frame = entry.local_frame()
            frame.insert(0, "method", method)
            frames.append(frame)
        columns = ["method", "row", "prediction", "feature", "value", "significant"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _float(v: Any) -> float:
    return float("nan") if v is None else float(v)
