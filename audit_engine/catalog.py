"""The metric catalogue: one entry for every metric the engine writes, and the check names.

Each :class:`MetricSpec` says where a metric lives (``section``; ``path``, the audit.json
path pattern the policy shorthand ``min_<name>`` / ``max_<name>`` stands for), the closed
range its values live in, which direction is better, its name for people (``label``) and
its unit. Everything that needs one of these facts reads it here:

- :mod:`audit_engine.policy`: the range a threshold must lie in, which names a rule may
  use in each section, what the per-check shorthand compiles to;
- :mod:`audit_engine.compare`: whether a rise is ``better`` or ``worse`` (``better``);
- the report layer (:func:`audit_engine.report.format.metric_name`) and the verdict
  sentences (:mod:`audit_engine.verdict_text`): the label.

``CHECK_NAMES`` is the one list of checks, in the order they run and appear; ``DEFAULT_CHECKS``
those that run when the config names none (``robustness`` and ``slices`` are opt-in).

This module imports nothing but the standard library, so every layer may read it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "MetricSpec", "CATALOG", "CHECK_NAMES", "DEFAULT_CHECKS", "OPT_IN_CHECKS", "SECTION_TITLES", "TERMS", "spec", "specs", "metric_range", "better",
    "label", "section_metrics", "shorthand_metrics", "policy_names",
]

CHECK_NAMES: tuple[str, ...] = ("performance", "fairness", "explanations", "ood", "uncertainty", "robustness",
                                 "slices")
"""Every check, in the order the audit runs them and the report shows them."""

DEFAULT_CHECKS: tuple[str, ...] = ("performance", "fairness", "explanations", "ood", "uncertainty")
"""The checks an audit runs when the config names none (``checks`` unset)."""

OPT_IN_CHECKS: tuple[str, ...] = tuple(c for c in CHECK_NAMES if c not in DEFAULT_CHECKS)
"""Checks that run only when the config's ``checks`` (or ``--checks``) lists them; an audit that
does not name them says nothing about them (they are not listed as "not tested")."""

SECTION_TITLES: dict[str, str] = {
    "performance": "Performance",
    "fairness": "Fairness",
    "explanations": "Explanations",
    "ood": "Out of distribution",
    "uncertainty": "Uncertainty",
    "robustness": "Robustness",
    "slices": "Weak slices",
}

_INF = math.inf
UNIT_INTERVAL = (0.0, 1.0)
NONNEG = (0.0, _INF)
CORRELATION = (-1.0, 1.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of one section of audit.json.

    Parameters
    ----------
    name: the key audit.json writes (``roc_auc``).
    section: the check that writes it (``performance``), or ``compare``.
    range: the closed range ``(low, high)`` its values live in; a policy threshold outside
        it could never (or would always) bind.
    better: ``"higher"``, ``"lower"`` or None (neither: a rate that describes, such as a
        group's selection rate).
    label: its name for people (``"ROC AUC"``).
    unit: what one unit of it is (``"nats"``), None for a unitless number.
    path: the audit.json path pattern (``*`` = every subject) a per-check policy shorthand
        ``min_<name>`` / ``max_<name>`` stands for; None when there is no shorthand.
    policy: whether a policy rule may name it (path rules and, with ``path``, the shorthand).
    """

    name: str
    section: str
    range: tuple[float, float]
    better: str | None
    label: str = ""
    unit: str | None = None
    path: str | None = None
    policy: bool = True

    def __post_init__(self) -> None:
        if not self.label:
            text = self.name.replace("_", " ").strip()
            object.__setattr__(self, "label", text[:1].upper() + text[1:])


def _m(section: str, name: str, rng: tuple[float, float], better: str | None, label: str = "", *,
       unit: str | None = None, path: str | None = None, policy: bool = True) -> MetricSpec:
    return MetricSpec(name, section, rng, better, label, unit, path, policy)


def _perf(name: str, rng: tuple[float, float], better: str | None, label: str = "", *, policy: bool = True,
          unit: str | None = None) -> MetricSpec:
    return _m("performance", name, rng, better, label, unit=unit,
              path=f"performance.metrics.{name}" if policy else None, policy=policy)


def _gap(name: str, better: str, label: str = "") -> MetricSpec:
    return _m("fairness", name, UNIT_INTERVAL, better, label, path=f"fairness.*.metrics.{name}")


def _rate(name: str, rng: tuple[float, float], better: str | None, label: str = "", *, unit: str | None = None,
          policy: bool = True) -> MetricSpec:
    return _m("fairness", name, rng, better, label, unit=unit, policy=policy)


def _quality(name: str, rng: tuple[float, float], better: str | None, path: str | None, label: str = "") -> MetricSpec:
    return _m("explanations", name, rng, better, label, path=path)


def _ood(name: str, rng: tuple[float, float], better: str | None, label: str = "", *, path: str | None = "",
         unit: str | None = None) -> MetricSpec:
    return _m("ood", name, rng, better, label, unit=unit, path=f"ood.scores.*.{name}" if path == "" else path)


_STATS = ("mean", "median", "p90", "p99", "max")


def _uncertainty() -> Iterator[MetricSpec]:
    for measure, unit in (("predictive_entropy", "nats"), ("aleatoric", "nats"), ("epistemic", "nats"),
                          ("vote_entropy", "nats"), ("committee_kl", "nats")):
        for stat in _STATS:
            yield _m("uncertainty", f"{measure}_{stat}", NONNEG, "lower", unit=unit,
                     path=f"uncertainty.*.summary.{measure}.{stat}")
    for stat in _STATS:
        yield _m("uncertainty", f"disagreement_{stat}", UNIT_INTERVAL, "lower", unit="a share",
                 path=f"uncertainty.*.summary.disagreement.{stat}")


CATALOG: tuple[MetricSpec, ...] = (
    # performance (performance.metrics.<name>: {value, ci_low, ci_high})
    _perf("accuracy", UNIT_INTERVAL, "higher", "Accuracy"),
    _perf("balanced_accuracy", UNIT_INTERVAL, "higher", "Balanced accuracy"),
    _perf("roc_auc", UNIT_INTERVAL, "higher", "ROC AUC"),
    _perf("precision", UNIT_INTERVAL, "higher", "Precision"),
    _perf("recall", UNIT_INTERVAL, "higher"),
    _perf("f1", UNIT_INTERVAL, "higher"),
    _perf("brier_score", (0.0, 2.0), "lower", "Brier score"),
    _perf("expected_calibration_error", UNIT_INTERVAL, "lower", "Expected calibration error"),
    _perf("log_loss", NONNEG, "lower", "Log loss", unit="nats"),
    _perf("mae", NONNEG, "lower", "Mean absolute error", unit="target units"),
    _perf("rmse", NONNEG, "lower", "Root mean squared error", unit="target units"),
    _perf("r2", (-_INF, 1.0), "higher", "R²"),
    # debiased: an unbiased estimate of a squared error, so it dips below 0 when the model is well calibrated
    _perf("squared_calibration_error", CORRELATION, "lower", "Squared calibration error (debiased)", policy=False),
    _perf("expected_calibration_error_plugin", UNIT_INTERVAL, "lower", "Expected calibration error (plug-in, L1)",
          policy=False),
    # fairness: one group's rates (fairness.<attribute>.groups.<group>.<name>)
    _rate("selection_rate", UNIT_INTERVAL, None, "Selection rate"),
    _rate("base_rate", UNIT_INTERVAL, None, "Base rate"),
    _rate("tpr", UNIT_INTERVAL, "higher", "True positive rate"),
    _rate("fnr", UNIT_INTERVAL, "lower", "False negative rate"),
    _rate("fpr", UNIT_INTERVAL, "lower", "False positive rate"),
    _rate("tnr", UNIT_INTERVAL, "higher", "True negative rate"),
    _rate("precision", UNIT_INTERVAL, "higher", "Precision"),
    _rate("accuracy", UNIT_INTERVAL, "higher", "Accuracy"),
    _rate("mean_score", UNIT_INTERVAL, None, "Mean score"),
    _rate("calibration_error", UNIT_INTERVAL, "lower"),
    _rate("n", NONNEG, None, unit="rows"),
    _m("fairness", "impact_ratio", NONNEG, "higher", "Impact ratio", path="fairness.*.metrics.impact_ratio"),
    _rate("calibration_error_plugin", UNIT_INTERVAL, "lower", "Calibration error (plug-in, L1)", policy=False),
    # fairness: gaps (max − min of a rate) and ratios (min / max) over groups
    _gap("demographic_parity_difference", "lower", "Demographic parity difference"),
    _gap("demographic_parity_ratio", "higher", "Demographic parity ratio"),
    _gap("equalized_odds_difference", "lower", "Equalized odds difference"),
    _gap("equalized_odds_ratio", "higher", "Equalized odds ratio"),
    _gap("equal_opportunity_difference", "lower", "Equal opportunity difference"),
    _gap("equal_opportunity_ratio", "higher"),
    _gap("predictive_parity_difference", "lower", "Predictive parity difference"),
    _gap("predictive_parity_ratio", "higher"),
    _gap("false_positive_rate_difference", "lower"),
    _gap("false_positive_rate_ratio", "higher"),
    _gap("false_negative_rate_difference", "lower"),
    _gap("false_negative_rate_ratio", "higher"),
    _gap("accuracy_difference", "lower"),
    _gap("mean_score_difference", "lower"),
    _gap("calibration_gap", "lower"),
    # explanations: faithfulness (deletion / insertion AUC), stability, structure
    _quality("deletion_auc", UNIT_INTERVAL, "lower", "explanations.*.quality.deletion_auc"),
    _quality("insertion_auc", UNIT_INTERVAL, "higher", "explanations.*.quality.insertion_auc"),
    _quality("random_deletion_auc", UNIT_INTERVAL, None, "explanations.*.quality.random_deletion_auc"),
    _quality("random_insertion_auc", UNIT_INTERVAL, None, "explanations.*.quality.random_insertion_auc"),
    _quality("rank_stability", CORRELATION, "higher", "explanations.*.rank_stability.spearman"),
    _quality("spearman", CORRELATION, "higher", None),
    _quality("top_k_overlap", UNIT_INTERVAL, "higher", "explanations.*.rank_stability.top_k_overlap"),
    _quality("significant_fraction", UNIT_INTERVAL, None, None),
    _quality("bias_share", UNIT_INTERVAL, None, "explanations.pathwise.pathwise.bias_share"),
    _quality("attention_agreement", CORRELATION, "higher",
             "explanations.attention.attention.agreement.rollout_vs_occlusion"),
    _quality("rollout_vs_occlusion", CORRELATION, "higher", None),
    # ood: how well each score separates known OOD rows, and what it flags; data shift
    _ood("auroc", UNIT_INTERVAL, "higher", "AUROC"),
    _ood("fpr_at_95_tpr", UNIT_INTERVAL, "lower", "FPR at 95% TPR"),
    _ood("flagged_fraction", UNIT_INTERVAL, "lower", "Fraction flagged"),
    _ood("ood_flagged_fraction", UNIT_INTERVAL, "higher", "Fraction of OOD rows flagged"),
    _ood("drifted_features", NONNEG, "lower", "Drifted features", path="ood.shift_summary.drifted", unit="features"),
    _ood("drifted", NONNEG, "lower", path=None, unit="features"),
    _ood("drifted_fraction", UNIT_INTERVAL, "lower", "Drifted fraction", path="ood.shift_summary.drifted_fraction"),
    # uncertainty: summaries (mean, median, p90, p99, max) of each measure over the rows
    *_uncertainty(),
    # robustness: the highest flip rate over perturbation kinds at the policy's severity level
    _m("robustness", "flip_rate", UNIT_INTERVAL, "lower", "Flip rate under perturbation (highest kind)",
       unit="a share", path="robustness.flip_rate"),
    # slices: the largest gap in loss between a discovered slice and the rest
    _m("slices", "slice_error_gap", NONNEG, "lower", "Largest slice error gap (slice − rest)",
       path="slices.slice_error_gap"),
    # compare: agreement between two models' decisions
    _m("compare", "rate", UNIT_INTERVAL, "higher"),
    _m("compare", "flip_rate", UNIT_INTERVAL, "lower"),
)

TERMS: dict[str, str] = {
    # names for people of what is not a metric: ood scores, explanation methods, uncertainty signals, findings
    "msp": "Max softmax probability", "max_logit": "Max logit", "energy": "Energy", "odin": "ODIN",
    "mahalanobis": "Mahalanobis distance", "knn": "k-NN distance", "iforest": "Isolation forest",
    "predictive_entropy": "Predictive entropy", "aleatoric": "Aleatoric (expected entropy)",
    "epistemic": "Epistemic (mutual information)", "mc_dropout": "MC dropout", "committee": "Committee",
    "low_confidence": "Low confidence (1 − max p)", "disagreement": "Disagreement",
    "committee_kl": "Committee mutual information", "vote_entropy": "Vote entropy", "class_order": "Class order",
    "smoothgrad": "SmoothGrad", "lime": "LIME", "occlusion": "Occlusion", "permutation": "Permutation importance",
    "pathwise": "Pathwise (ReLU paths)", "attention": "Attention",
}

_BY_NAME: dict[str, MetricSpec] = {}
for _spec in CATALOG:
    _BY_NAME.setdefault(_spec.name, _spec)


def specs(section: str | None = None) -> tuple[MetricSpec, ...]:
    """Every entry, or those of one section, in catalogue order."""
    return tuple(s for s in CATALOG if section is None or s.section == section)


def spec(name: str, section: str | None = None) -> MetricSpec | None:
    """The entry of ``name`` (in ``section`` when given); None when the catalogue does not know it."""
    if section is None:
        return _BY_NAME.get(name)
    return next((s for s in CATALOG if s.name == name and s.section == section), None)


def metric_range(name: str) -> tuple[float, float]:
    """The closed range ``(low, high)`` a known metric lives in ((-inf, inf) when unknown)."""
    found = _BY_NAME.get(name)
    return found.range if found is not None else (-_INF, _INF)


def better(name: str) -> str | None:
    """``"higher"``, ``"lower"`` or None (neither, or unknown)."""
    found = _BY_NAME.get(name)
    if found is None:
        return "higher" if name.endswith("_ratio") else None
    return found.better


def label(name: str) -> str:
    """The name for people of a metric or term; unknown keys: underscores become spaces, first letter upper."""
    key = str(name)
    if key in TERMS:
        return TERMS[key]
    found = _BY_NAME.get(key)
    if found is not None:
        return found.label
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def section_metrics(section: str) -> tuple[str, ...]:
    """The metric names a policy rule may name in ``section`` (the path catalogue)."""
    return tuple(s.name for s in CATALOG if s.section == section and s.policy)


def shorthand_metrics(section: str) -> tuple[str, ...]:
    """The metric names the per-check shorthand ``[policy.<section>]`` accepts."""
    return tuple(s.name for s in CATALOG if s.section == section and s.policy and s.path is not None)


def policy_names() -> dict[str, tuple[str, ...]]:
    """``{section: section_metrics(section)}`` for every check."""
    return {name: section_metrics(name) for name in CHECK_NAMES}
