"""The release gate: rules on any audit.json metric, validated before the model runs.

Two ways to write a rule, one meaning:

Path rules name a metric by its place in audit.json (``[[policy]]`` in a TOML file whose
policy is a list, or ``[[policy.rules]]`` beside the per-check shorthand)::

    [[policy.rules]]
    metric = "fairness.race.demographic_parity_difference"   # "metrics." may be left out
    max = 0.10
    [[policy.rules]]
    metric = "fairness.*.groups.*.selection_rate"             # "*": every attribute / group
    min = 0.2
    severity = "warn"
    [[policy.rules]]                                          # compare only: vs the baseline
    metric = "performance.metrics.roc_auc"
    max_drop = 0.01                                           # on the paired interval of B − A

The per-check shorthand (``[policy.performance] min_roc_auc = 0.7``, or
``{threshold, severity}``) is sugar for ``performance.metrics.roc_auc`` with ``min = 0.7``:
each shorthand :class:`Rule` carries the path it stands for and is validated through the
same catalogue. The checks judge their shorthand rules where they compute the metric
(they know which subjects count, e.g. intersections); path rules are judged on the
finished audit.json by :meth:`Policy.judge_document`.

Verdicts (both kinds): the point value breaches the threshold ⇒ the rule's severity
(``fail`` or ``warn``); the point passes but the confidence interval crosses the threshold
⇒ ``warn`` (the data cannot rule a breach out); else ``pass``. ``max_drop = d`` is a
``min`` rule on the change B − A at ``−d``, ``max_rise = d`` a ``max`` rule at ``+d``,
both on the paired bootstrap interval of the change (:mod:`audit_engine.compare`).

Never a silent pass: a threshold that is not a finite number in the metric's range, an
unknown metric name (with the closest known one), a path that the audit did not produce
(with the closest existing path) and a path rule whose value is undefined (``null``) all
raise :class:`PolicyError` (CLI exit 2).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError

__all__ = [
    "Verdict", "Rule", "PathRule", "Policy", "PolicyError", "METRIC_RANGES", "SECTION_METRICS",
    "resolve", "metric_range", "CHECK_NAMES",
]

CHECK_NAMES = ("performance", "fairness", "explanations", "ood", "uncertainty")
_SEVERITIES = ("fail", "warn")
_INF = math.inf
_UNIT = (0.0, 1.0)
_NONNEG = (0.0, _INF)

# The range every known metric lives in (a threshold outside it can never bind, or always does).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    # performance
    "accuracy": _UNIT, "balanced_accuracy": _UNIT, "roc_auc": _UNIT, "precision": _UNIT, "recall": _UNIT,
    "f1": _UNIT, "brier_score": (0.0, 2.0), "expected_calibration_error": _UNIT, "log_loss": _NONNEG,
    "mae": _NONNEG, "rmse": _NONNEG, "r2": (-_INF, 1.0),
    # fairness: group rates
    "selection_rate": _UNIT, "base_rate": _UNIT, "tpr": _UNIT, "fnr": _UNIT, "fpr": _UNIT, "tnr": _UNIT,
    "mean_score": _UNIT, "calibration_error": _UNIT, "n": _NONNEG,
    # fairness: gaps (max − min of rates) and ratios (min / max, or against a reference group)
    "demographic_parity_difference": _UNIT, "equalized_odds_difference": _UNIT,
    "equal_opportunity_difference": _UNIT, "predictive_parity_difference": _UNIT,
    "false_positive_rate_difference": _UNIT, "false_negative_rate_difference": _UNIT,
    "accuracy_difference": _UNIT, "mean_score_difference": _UNIT, "calibration_gap": _UNIT,
    "demographic_parity_ratio": _UNIT, "equalized_odds_ratio": _UNIT, "equal_opportunity_ratio": _UNIT,
    "predictive_parity_ratio": _UNIT, "false_positive_rate_ratio": _UNIT, "false_negative_rate_ratio": _UNIT,
    "impact_ratio": _NONNEG,
    # explanations
    "deletion_auc": _UNIT, "insertion_auc": _UNIT, "random_deletion_auc": _UNIT, "random_insertion_auc": _UNIT,
    "rank_stability": (-1.0, 1.0), "spearman": (-1.0, 1.0), "top_k_overlap": _UNIT, "significant_fraction": _UNIT,
    "bias_share": _UNIT, "attention_agreement": (-1.0, 1.0), "rollout_vs_occlusion": (-1.0, 1.0),
    # ood
    "auroc": _UNIT, "fpr_at_95_tpr": _UNIT, "flagged_fraction": _UNIT, "ood_flagged_fraction": _UNIT,
    "drifted_features": _NONNEG, "drifted": _NONNEG, "drifted_fraction": _UNIT,
    # uncertainty (entropies in nats, shares)
    **{f"{m}_{s}": _NONNEG for m in ("predictive_entropy", "aleatoric", "epistemic", "vote_entropy", "committee_kl")
       for s in ("mean", "median", "p90", "p99", "max")},
    **{f"disagreement_{s}": _UNIT for s in ("mean", "median", "p90", "p99", "max")},
    # compare (agreement between two models)
    "rate": _UNIT, "flip_rate": _UNIT,
}

# Metric names each section (and each check's shorthand) knows; the path catalogue.
SECTION_METRICS: dict[str, tuple[str, ...]] = {
    "performance": ("accuracy", "balanced_accuracy", "roc_auc", "precision", "recall", "f1", "brier_score",
                    "expected_calibration_error", "log_loss", "mae", "rmse", "r2"),
    "fairness": ("selection_rate", "base_rate", "tpr", "fnr", "fpr", "tnr", "precision", "accuracy",
                 "mean_score", "calibration_error", "n", "impact_ratio",
                 "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                 "equalized_odds_ratio", "equal_opportunity_difference", "equal_opportunity_ratio",
                 "predictive_parity_difference", "predictive_parity_ratio", "false_positive_rate_difference",
                 "false_positive_rate_ratio", "false_negative_rate_difference", "false_negative_rate_ratio",
                 "accuracy_difference", "mean_score_difference", "calibration_gap"),
    "explanations": ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc",
                     "rank_stability", "spearman", "top_k_overlap", "significant_fraction", "bias_share",
                     "attention_agreement", "rollout_vs_occlusion"),
    "ood": ("auroc", "fpr_at_95_tpr", "flagged_fraction", "ood_flagged_fraction", "drifted_features", "drifted",
            "drifted_fraction"),
    "uncertainty": tuple(k for k in METRIC_RANGES if k.rsplit("_", 1)[-1] in ("mean", "median", "p90", "p99", "max")),
}
# What each check's shorthand compiles to (``{m}``: the metric name; ``*``: every subject).
_SHORTHAND_PATHS = {
    "performance": "performance.metrics.{m}",
    "fairness": "fairness.*.metrics.{m}",
    "explanations": "explanations.*.quality.{m}",
    "ood": "ood.scores.*.{m}",
    "uncertainty": "uncertainty.*.summary.{m}",  # {m} = <measure>.<stat>, see Rule.path
}
_SHORTHAND_SPECIAL = {
    ("explanations", "rank_stability"): "explanations.*.rank_stability.spearman",
    ("explanations", "top_k_overlap"): "explanations.*.rank_stability.top_k_overlap",
    ("explanations", "bias_share"): "explanations.pathwise.pathwise.bias_share",
    ("explanations", "attention_agreement"): "explanations.attention.attention.agreement.rollout_vs_occlusion",
    ("ood", "drifted_features"): "ood.shift_summary.drifted",
    ("ood", "drifted_fraction"): "ood.shift_summary.drifted_fraction",
}
# Tables whose keys are subjects and whose values are one metric (``impact_ratios.<group>``).
_CONTAINERS = {"impact_ratios": "impact_ratio"}
_SHORTHAND_METRICS = {
    "performance": SECTION_METRICS["performance"],
    "fairness": tuple(m for m in SECTION_METRICS["fairness"]
                      if m.endswith(("_difference", "_ratio", "_gap"))),
    "explanations": ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc",
                     "rank_stability", "top_k_overlap", "bias_share", "attention_agreement"),
    "ood": ("auroc", "fpr_at_95_tpr", "flagged_fraction", "ood_flagged_fraction", "drifted_features",
            "drifted_fraction"),
    "uncertainty": SECTION_METRICS["uncertainty"],
}


def metric_range(metric: str) -> tuple[float, float]:
    """The closed range ``(low, high)`` a known metric lives in ((-inf, inf) when unknown)."""
    return METRIC_RANGES.get(metric, (-_INF, _INF))


# ---------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """The outcome of one policy rule: ``status`` is pass, warn or fail.

    ``path`` is the concrete audit.json path the rule was judged on (also for the
    per-check shorthand, whose rules stand for a path).
    """

    check: str
    status: str
    metric: str
    value: float | None
    threshold: float | None
    message: str
    subject: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("value", "threshold"):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        if d["path"] is None:
            del d["path"]
        return d

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Verdict:
        """A verdict read back from audit.json (``verdicts[i]``)."""
        return cls(check=doc["check"], status=doc["status"], metric=doc["metric"], value=doc.get("value"),
                   threshold=doc.get("threshold"), message=doc["message"], subject=doc.get("subject"),
                   path=doc.get("path"))


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _judge(check: str, metric: str, op: str, threshold: float, severity: str, value: float,
           ci_low: float | None, ci_high: float | None, subject: str | None, label: str,
           path: str | None = None) -> Verdict:
    """The verdict of ``value`` (with its interval) against ``op`` (min / max) at ``threshold``.

    ``label`` names the value in the message; path verdicts name their concrete path there.
    """
    where = f" for {subject}" if subject and path is None else ""
    lo, hi = _finite(ci_low), _finite(ci_high)
    breach = value < threshold if op == "min" else value > threshold
    bound = lo if op == "min" else hi
    interval = f" (95% CI {lo:.3g} to {hi:.3g})" if lo is not None and hi is not None else ""
    word = "at least" if op == "min" else "at most"
    if breach:
        return Verdict(check, severity, metric, value, threshold,
                       f"{label}{where} is {value:.3g}{interval}; the policy requires {word} {threshold:g}.",
                       subject, path)
    if bound is not None and (bound < threshold if op == "min" else bound > threshold):
        return Verdict(check, "warn", metric, value, threshold,
                       f"{label}{where} is {value:.3g}{interval}: it meets {word} {threshold:g}, "
                       "but the interval crosses the threshold, so the data cannot rule out a breach.", subject, path)
    return Verdict(check, "pass", metric, value, threshold,
                   f"{label}{where} is {value:.3g}{interval}, {word} {threshold:g} as required.", subject, path)


# ---------------------------------------------------------------------------- shorthand rules
@dataclass(frozen=True)
class Rule:
    """A per-check shorthand rule: ``op`` is ``min`` (value >= threshold) or ``max`` (<=).

    ``path`` is the audit.json path pattern it stands for (``*`` = each subject).
    """

    check: str
    metric: str
    op: str
    threshold: float
    severity: str = "fail"

    @property
    def key(self) -> str:
        return f"{self.op}_{self.metric}"

    @property
    def path(self) -> str:
        special = _SHORTHAND_SPECIAL.get((self.check, self.metric))
        metric = self.metric
        if self.check == "uncertainty":
            measure, _, stat = metric.rpartition("_")
            metric = f"{measure}.{stat}"
        return special or _SHORTHAND_PATHS[self.check].format(m=metric)

    def judge(
        self,
        value: float | None,
        *,
        ci_low: float | None = None,
        ci_high: float | None = None,
        subject: str | None = None,
    ) -> Verdict:
        """Compare one measured value (with its interval) against the rule.

        An undefined value gives ``warn`` (the shorthand's default rules apply to every
        attribute, and a gap can be undefined for one of them); path rules raise instead.
        """
        v = _finite(value)
        if v is None:
            where = f" for {subject}" if subject else ""
            return Verdict(self.check, "warn", self.metric, None, self.threshold,
                           f"{self.metric}{where} is undefined, so the rule {self.key} = {self.threshold:g} "
                           "cannot be checked.", subject)
        verdict = _judge(self.check, self.metric, self.op, self.threshold, self.severity, v, ci_low, ci_high,
                         subject, self.metric)
        return dataclasses.replace(verdict, path=self.concrete_path(subject))

    def concrete_path(self, subject: str | None) -> str | None:
        """The audit.json path judged for ``subject`` (the ``*`` of :attr:`path` filled in)."""
        if self.path.count("*") == 0:
            return self.path
        if subject is None or self.path.count("*") != 1:
            return None
        return self.path.replace("*", subject)


_DEFAULT_RULES = (
    Rule("fairness", "impact_ratio", "min", 0.8, "fail"),
    Rule("fairness", "demographic_parity_difference", "max", 0.1, "warn"),
    Rule("fairness", "equalized_odds_difference", "max", 0.1, "warn"),
    Rule("performance", "expected_calibration_error", "max", 0.1, "warn"),
)


# ---------------------------------------------------------------------------- path rules
_OPS = ("min", "max", "max_drop", "max_rise")


@dataclass(frozen=True)
class PathRule:
    """A rule on an audit.json path: ``op`` is min, max (audits) or max_drop, max_rise (compare).

    ``path``: dot-separated keys into audit.json; a ``*`` segment matches every key at
    that level; a ``metrics`` level may be left out (``fairness.race.demographic_parity_difference``).
    """

    path: str
    op: str
    threshold: float
    severity: str = "fail"

    @property
    def check(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def metric(self) -> str:
        return _leaf_metric(self.path)

    @property
    def compare_only(self) -> bool:
        return self.op in ("max_drop", "max_rise")

    @property
    def key(self) -> str:
        return f"{self.path} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.path, self.op: self.threshold, "severity": self.severity}

    def judge_value(self, value: Any, *, path: str, subject: str | None) -> Verdict:
        """Judge a resolved value (an Estimate dict ``{value, ci_low, ci_high}`` or a number)."""
        v, lo, hi = _estimate(value)
        if v is None:
            raise PolicyError(
                f"The policy rule on {self.path!r} cannot be judged: {path!r} is undefined (null) in this audit; "
                "narrow the path or remove the rule."
            )
        if self.compare_only:
            op, threshold = ("min", -self.threshold) if self.op == "max_drop" else ("max", self.threshold)
            label = f"the change of {path} (B − A)"
            return _judge(self.check, self.metric, op, threshold, self.severity, v, lo, hi, subject, label, path)
        return _judge(self.check, self.metric, self.op, self.threshold, self.severity, v, lo, hi, subject, path, path)


def _estimate(value: Any) -> tuple[float | None, float | None, float | None]:
    if isinstance(value, Mapping):
        return _finite(value.get("value")), _finite(value.get("ci_low")), _finite(value.get("ci_high"))
    return _finite(value), None, None


_STATS = ("mean", "median", "p90", "p99", "max")


def _leaf_metric(path: str) -> str:
    parts = path.split(".")
    if parts[0] == "uncertainty" and len(parts) >= 3 and parts[-1] in _STATS:
        return f"{parts[-2]}_{parts[-1]}"  # uncertainty.<method>.summary.<measure>.<stat>
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] != "*":
            if i < len(parts) - 1 and parts[i] in _CONTAINERS:
                return _CONTAINERS[parts[i]]
            return parts[i]
    return parts[-1]


def _validate_path(path: Any, where: str) -> str:
    if not isinstance(path, str) or not path.strip() or path.startswith(".") or path.endswith(".") or ".." in path:
        raise PolicyError(f"{where} needs metric = \"<section>.<...>.<metric>\" (a dotted audit.json path); got {path!r}.")
    section = path.split(".", 1)[0]
    if section not in SECTION_METRICS:
        raise PolicyError(_unknown(f"section in the policy path {path!r}", section, list(SECTION_METRICS)))
    if "." not in path:
        raise PolicyError(f"{where}: the path {path!r} names a section, not a metric; "
                          f"for example {section}.{'metrics.' if section == 'performance' else '*.'}"
                          f"{SECTION_METRICS[section][0]}.")
    leaf = _leaf_metric(path)
    known = SECTION_METRICS[section]
    if leaf not in known:
        raise PolicyError(_unknown(f"{section} metric in the policy path {path!r}", leaf, known))
    return path


def _threshold(value: Any, metric: str, op: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"{where} needs a number; got {value!r}.")
    x = float(value)
    if not math.isfinite(x):
        raise PolicyError(f"{where} must be a finite number; got {value!r}, which would switch the rule off.")
    lo, hi = metric_range(metric)
    if op in ("max_drop", "max_rise"):
        width = hi - lo
        if not 0.0 <= x <= width:
            span = f"[0, {width:g}]" if math.isfinite(width) else "[0, inf)"
            raise PolicyError(f"{where} is {x:g}; a change of {metric} allowed by the rule must be in {span}.")
        return x
    if not lo <= x <= hi:
        raise PolicyError(
            f"{where} is {x:g}, outside the range of {metric} ({_span(lo, hi)}), so the rule could never "
            "(or would always) pass; use a threshold inside the range."
        )
    return x


def _span(lo: float, hi: float) -> str:
    left = "(-inf" if not math.isfinite(lo) else f"[{lo:g}"
    right = "inf)" if not math.isfinite(hi) else f"{hi:g}]"
    return f"{left}, {right}"


def _severity(spec: Mapping[str, Any], where: str) -> str:
    severity = spec.get("severity", "fail")
    if severity not in _SEVERITIES:
        raise PolicyError(f"{where} has severity {severity!r}; use 'fail' or 'warn'.")
    return severity


def path_rules_from(entries: Any) -> tuple[PathRule, ...]:
    """Parse ``[[policy.rules]]`` entries: each a table with ``metric`` and one or more of min/max/max_drop/max_rise."""
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
        raise PolicyError("Path rules must be a list of tables ([[policy.rules]] with metric = \"...\").")
    out: list[PathRule] = []
    for i, spec in enumerate(entries):
        where = f"Policy rule {i + 1}"
        if not isinstance(spec, Mapping):
            raise PolicyError(f"{where} must be a table with metric and min/max/max_drop/max_rise; got {spec!r}.")
        unknown = sorted(set(spec) - {"metric", "severity", *_OPS})
        if unknown:
            raise PolicyError(_unknown(f"key in {where.lower()}", unknown[0], ["metric", "severity", *_OPS]))
        path = _validate_path(spec.get("metric"), where)
        where = f"Policy rule {path!r}"
        severity = _severity(spec, where)
        ops = [op for op in _OPS if op in spec]
        if not ops:
            raise PolicyError(f"{where} needs a bound: min, max, max_drop or max_rise.")
        metric = _leaf_metric(path)
        for op in ops:
            out.append(PathRule(path, op, _threshold(spec[op], metric, op, f"{where} {op}"), severity))
    return tuple(out)


# ---------------------------------------------------------------------------- resolving paths
def resolve(doc: Mapping[str, Any], path: str) -> list[tuple[str, tuple[str, ...], Any]]:
    """Every value ``path`` names in ``doc``: ``[(concrete path, wildcard keys, value)]``.

    Keys may contain dots (a group "3.5") or ``*`` (an intersection "race*sex"): each level
    matches the longest key that the rest of the path starts with. A level holding a
    ``metrics`` table may skip it. Raises :class:`PolicyError` with the closest existing
    path when nothing matches.
    """
    found: list[tuple[str, tuple[str, ...], Any]] = []
    misses: list[tuple[str, Mapping[str, Any], str]] = []

    def walk(node: Any, rest: str, done: str, stars: tuple[str, ...]) -> None:
        if rest == "":
            found.append((done, stars, node))
            return
        if not isinstance(node, Mapping):
            misses.append((done, {}, rest))
            return
        head, _, tail = rest.partition(".")
        if head == "*" and "*" not in node:
            for key in node:
                if isinstance(node[key], (Mapping, int, float)) or node[key] is None:
                    walk(node[key], tail, _join(done, key), (*stars, str(key)))
            return
        keys = sorted((k for k in node if rest == k or rest.startswith(f"{k}.")), key=len, reverse=True)
        if keys:
            key = keys[0]
            value, tail = node[key], rest[len(key) + 1:]
            ci = node.get("ci")
            if not tail and _finite(value) is not None and isinstance(ci, Mapping) and isinstance(ci.get(key), Mapping):
                # a group rate: its interval sits beside it in the group's "ci" table
                value = {"value": value, "ci_low": ci[key].get("ci_low"), "ci_high": ci[key].get("ci_high")}
            walk(value, tail, _join(done, key), stars)
            return
        if isinstance(node.get("metrics"), Mapping):
            inner = node["metrics"]
            if any(rest == k or rest.startswith(f"{k}.") for k in inner):
                walk(inner, rest, _join(done, "metrics"), stars)
                return
        misses.append((done, node, rest))

    section = path.split(".", 1)[0]
    if section not in doc or doc.get(section) is None:
        raise PolicyError(
            f"The policy path {path!r} needs the {section} section, which this audit does not have "
            f"(the {section} check did not run or was skipped); run the check or remove the rule."
        )
    walk(doc, path, "", ())
    if found:
        return found
    done, node, rest = misses[0]
    head = rest.split(".", 1)[0]
    options = [str(k) for k in node] if node else []
    close = difflib.get_close_matches(head, options, n=1, cutoff=0.5)
    if not close and isinstance(node.get("metrics") if node else None, Mapping):
        close = [f"metrics.{c}" for c in difflib.get_close_matches(head, list(node["metrics"]), n=1, cutoff=0.5)]
    hint = f" Did you mean {_join(done, close[0]) + rest[len(head):]!r}?" if close else (
        f" Keys there: {', '.join(options[:12])}." if options else "")
    raise PolicyError(f"The policy path {path!r} does not exist in this audit: {done or 'the top level'} has no "
                      f"{head!r}.{hint}")


def _join(done: str, key: Any) -> str:
    return f"{done}.{key}" if done else str(key)


# ---------------------------------------------------------------------------- the policy
@dataclass(frozen=True)
class Policy:
    """The release gate: per-check shorthand ``rules`` and audit.json ``path_rules``."""

    rules: tuple[Rule, ...] = _DEFAULT_RULES
    path_rules: tuple[PathRule, ...] = ()

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, defaults: bool = True) -> Policy:
        """Build from a TOML ``policy`` value: a table of per-check shorthand (and ``rules``), or a list of path rules."""
        if isinstance(table, Sequence) and not isinstance(table, (str, bytes)):
            return cls(_DEFAULT_RULES if defaults else (), path_rules_from(table))
        if not isinstance(table, Mapping):
            raise PolicyError("The 'policy' config entry must be a table of per-check rules or a list of path rules.")
        rules = {(r.check, r.metric): r for r in (_DEFAULT_RULES if defaults else ())}
        path_rules: tuple[PathRule, ...] = ()
        for check, entries in table.items():
            if check == "rules":
                path_rules = path_rules_from(entries)
                continue
            if check not in CHECK_NAMES:
                raise PolicyError(_unknown("policy section", check, (*CHECK_NAMES, "rules")))
            if not isinstance(entries, Mapping):
                raise PolicyError(f"[policy.{check}] must be a table of min_<metric>/max_<metric> rules.")
            for key, spec in entries.items():
                op, _, metric = key.partition("_")
                if op not in ("min", "max") or not metric:
                    raise PolicyError(f"Policy rule {check}.{key} must be named min_<metric> or max_<metric>.")
                if metric not in _SHORTHAND_METRICS[check]:
                    raise PolicyError(_unknown(f"{check} metric in the policy rule {check}.{key}", metric,
                                               _SHORTHAND_METRICS[check]))
                severity = "fail"
                if isinstance(spec, Mapping):
                    unknown = set(spec) - {"threshold", "severity"}
                    if unknown:
                        raise PolicyError(f"Policy rule {check}.{key} has unknown key(s) {sorted(unknown)}; "
                                          "use threshold and severity.")
                    severity = _severity(spec, f"Policy rule {check}.{key}")
                    spec = spec.get("threshold")
                if spec is None:  # threshold = none disables a default rule
                    rules.pop((check, metric), None)
                    continue
                threshold = _threshold(spec, metric, op, f"Policy rule {check}.{key}")
                rules[(check, metric)] = Rule(check, metric, op, threshold, severity)
        return cls(tuple(rules.values()), path_rules)

    def rules_for(self, check: str) -> list[Rule]:
        return [r for r in self.rules if r.check == check]

    def rule(self, check: str, metric: str) -> Rule | None:
        return next((r for r in self.rules if r.check == check and r.metric == metric), None)

    def check_subjects(self, sensitive: Sequence[str]) -> None:
        """Refuse ``fairness.<attribute>...`` paths naming no sensitive attribute (before the model runs).

        An attribute level may name one attribute or an intersection ``a*b`` of them.
        """
        names = [str(s) for s in sensitive]
        for rule in self.path_rules:
            parts = rule.path.split(".")
            if parts[0] != "fairness" or len(parts) < 3 or parts[1] == "*":
                continue
            attr = parts[1]
            if not names:
                raise PolicyError(f"The policy rule on {rule.path!r} needs sensitive attributes; pass --sensitive "
                                  f"{attr.split('*')[0]} or remove the rule.")
            if any(p not in names for p in attr.split("*")) and not any(
                    rule.path.startswith(f"fairness.{n}.") for n in names):
                raise PolicyError(_unknown(f"sensitive attribute in the policy path {rule.path!r}", attr, names))

    def judge_document(self, doc: Mapping[str, Any]) -> list[Verdict]:
        """Judge every min/max path rule on an audit.json dict (compare-only rules are left out)."""
        verdicts: list[Verdict] = []
        for rule in self.path_rules:
            if rule.compare_only:
                continue
            for path, stars, value in resolve(doc, rule.path):
                verdicts.append(rule.judge_value(value, path=path, subject=" / ".join(stars) or None))
        return verdicts

    def judge_changes(self, changes: Mapping[str, Any]) -> list[Verdict]:
        """Judge every max_drop / max_rise rule on compare's changes.

        ``changes`` nests like audit.json (``{"performance": {"metrics": {"roc_auc": entry}}}``),
        each entry ``{"a", "b", "delta": {value, ci_low, ci_high}, ...}``; the rule's path is
        resolved in it as in an audit (wildcards, a left-out ``metrics`` level).
        """
        verdicts: list[Verdict] = []
        for rule in self.path_rules:
            if not rule.compare_only:
                continue
            for path, stars, value in resolve(changes, rule.path):
                delta = value.get("delta") if isinstance(value, Mapping) else None
                if not isinstance(delta, Mapping):
                    raise PolicyError(f"The policy rule on {rule.path!r} matches {path!r}, which is not one metric "
                                      "whose change compare measured; name a metric path.")
                verdicts.append(rule.judge_value(delta, path=path, subject=" / ".join(stars) or None))
        return verdicts

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.rules:
            out.setdefault(r.check, {})[r.key] = {"threshold": r.threshold, "severity": r.severity}
        if self.path_rules:
            out["rules"] = [r.to_dict() for r in self.path_rules]
        return out


def _unknown(kind: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(known)}."
    return f"Unknown {kind} {key!r}.{hint}"
