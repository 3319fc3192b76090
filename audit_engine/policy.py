"""The release gate: rules on any audit.json metric, validated before the model runs, judged once.

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
``{threshold, severity}``) compiles, when the policy is parsed, to a path rule on the
path the metric catalogue (:mod:`audit_engine.catalog`) gives it
(``performance.metrics.roc_auc`` with ``min = 0.7``). A compiled shorthand rule is lenient
where a written path rule is strict: a subject without the metric is passed over, and an
undefined value warns (a default rule applies to every attribute, and a gap can be
undefined for one of them); fairness intersections are judged only when
``[fairness] judge_intersections = true``.

:meth:`Policy.judge` judges every rule once, on the finished typed
:class:`~audit_engine.result.AuditResult` (or an audit.json dict), after all checks ran,
and adds the findings that are not threshold rules (a guessed class order that gives an
AUC below chance; an impact-ratio rule that cannot apply because no favourable outcome
was declared). Its :class:`Verdict` records carry codes and numbers, no prose; the
sentences are written by :mod:`audit_engine.verdict_text`.

Verdicts: the point value breaches the threshold ⇒ the rule's severity (``fail`` or
``warn``); the point passes but the confidence interval crosses the threshold ⇒ ``warn``
(the data cannot rule a breach out); else ``pass``. ``max_drop = d`` is a ``min`` rule on
the change B − A at ``−d``, ``max_rise = d`` a ``max`` rule at ``+d``, both on the paired
bootstrap interval of the change (:mod:`audit_engine.compare`).

Never a silent pass: a threshold that is not a finite number in the metric's range, an
unknown metric name (with the closest known one), a path that the audit did not produce
(with the closest existing path) and a path rule whose value is undefined (``null``) all
raise :class:`PolicyError` (CLI exit 2).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import catalog
from .catalog import CHECK_NAMES, metric_range
from .errors import PolicyError
from .results.record import encode
from .verdict_text import sentence

__all__ = [
    "Verdict", "Verdicts", "Rule", "PathRule", "Policy", "PolicyError", "METRIC_RANGES", "SECTION_METRICS",
    "resolve", "metric_range", "CHECK_NAMES",
]

_SEVERITIES = ("fail", "warn")
_INF = math.inf

# Views of the catalogue, by the names older code imports.
METRIC_RANGES: dict[str, tuple[float, float]] = {s.name: s.range for s in catalog.CATALOG}
SECTION_METRICS: dict[str, tuple[str, ...]] = catalog.policy_names()
# Tables whose keys are subjects and whose values are one metric (``impact_ratios.<group>``).
_CONTAINERS = {"impact_ratios": "impact_ratio"}
_SHORTHAND_METRICS = {name: catalog.shorthand_metrics(name) for name in CHECK_NAMES}


# ---------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """The outcome of one policy rule (or one finding) on one subject: codes and numbers, no prose.

    Attributes
    ----------
    check, status: the check (``performance``) and ``pass`` | ``warn`` | ``fail``.
    metric: the metric's catalogue name (``roc_auc``); ``class_order`` for that finding.
    value, threshold: the judged point value (None when undefined) and the threshold in the
        direction of ``op`` (for ``max_drop = d``: ``−d``).
    subject: the attribute / method / score judged (``race``; ``race / Asian`` for two ``*``).
    path: the concrete audit.json path judged.
    op: ``min`` | ``max`` | ``max_drop`` | ``max_rise``; None for a finding.
    reason: why the status (see :mod:`audit_engine.verdict_text`): ``met``, ``breach``,
        ``inconclusive``, ``undefined``, ``not_judged``, ``class_order``.
    ci_low, ci_high, confidence: the value's interval and its level (0.95 = 95%).
    severity: the rule's status on a breach (``fail`` | ``warn``).
    rule: the per-check shorthand key a compiled rule came from (``min_roc_auc``); None for
        a path rule.
    detail: words quoted from the result that a finding rests on (why a rule does not apply,
        the guessed class order).
    legacy_message: the stored sentence of a verdict read from an audit.json written before
        these codes (schema < 1.3); None otherwise.
    """

    check: str
    status: str
    metric: str
    value: float | None
    threshold: float | None
    subject: str | None = None
    path: str | None = None
    op: str | None = None
    reason: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    severity: str | None = None
    rule: str | None = None
    detail: str | None = None
    legacy_message: str | None = field(default=None, compare=False, repr=False)

    @property
    def message(self) -> str:
        """The verdict as a sentence (written by :func:`audit_engine.verdict_text.sentence`)."""
        return sentence(self)

    def to_dict(self) -> dict[str, Any]:
        """audit.json's ``verdicts[i]``: the codes, and ``message`` from the one sentence writer."""
        d: dict[str, Any] = {"check": self.check, "status": self.status, "metric": self.metric,
                             "value": _finite(self.value), "threshold": _finite(self.threshold),
                             "message": self.message, "subject": self.subject}
        if self.path is not None:
            d["path"] = self.path
        if self.reason is not None:
            d.update(op=self.op, reason=self.reason, ci_low=_finite(self.ci_low), ci_high=_finite(self.ci_high),
                     confidence=self.confidence, severity=self.severity)
            for key in ("rule", "detail"):
                if getattr(self, key) is not None:
                    d[key] = getattr(self, key)
        return d

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Verdict:
        """A verdict read back from audit.json (``verdicts[i]``); without a ``reason`` (schema < 1.3),
        the stored ``message`` is kept to be shown as written."""
        reason = doc.get("reason")
        return cls(check=doc["check"], status=doc["status"], metric=doc["metric"], value=doc.get("value"),
                   threshold=doc.get("threshold"), subject=doc.get("subject"), path=doc.get("path"),
                   op=doc.get("op"), reason=reason, ci_low=doc.get("ci_low"), ci_high=doc.get("ci_high"),
                   confidence=doc.get("confidence"), severity=doc.get("severity"), rule=doc.get("rule"),
                   detail=doc.get("detail"), legacy_message=None if reason is not None else doc.get("message"))


Verdicts = tuple[Verdict, ...]
"""What :meth:`Policy.judge` returns: every verdict of one audit, in a fixed order."""


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _judge(check: str, metric: str, op: str, threshold: float, severity: str, value: float | None,
           ci_low: Any, ci_high: Any, *, subject: str | None, path: str | None, confidence: float | None,
           rule: str | None = None) -> Verdict:
    """The verdict of ``value`` (with its interval) against ``op`` at ``threshold``.

    ``op`` ``min`` / ``max``, or ``max_drop`` / ``max_rise`` with ``threshold`` already the
    bound on the change (``−d`` / ``+d``). ``value`` None: ``undefined`` (``warn``).
    """
    lo, hi = _finite(ci_low), _finite(ci_high)
    v = _finite(value)
    base = dict(subject=subject, path=path, op=op, ci_low=lo, ci_high=hi, confidence=confidence,
                severity=severity, rule=rule)
    if v is None:
        return Verdict(check, "warn", metric, None, threshold, reason="undefined", **base)
    lower = op in ("min", "max_drop")
    breach = v < threshold if lower else v > threshold
    bound = lo if lower else hi
    if breach:
        return Verdict(check, severity, metric, v, threshold, reason="breach", **base)
    if bound is not None and (bound < threshold if lower else bound > threshold):
        return Verdict(check, "warn", metric, v, threshold, reason="inconclusive", **base)
    return Verdict(check, "pass", metric, v, threshold, reason="met", **base)


# ---------------------------------------------------------------------------- shorthand rules
@dataclass(frozen=True)
class Rule:
    """A per-check shorthand rule as written: ``op`` is ``min`` (value >= threshold) or ``max`` (<=).

    ``path`` is the audit.json path pattern it stands for (``*`` = each subject), from the
    metric catalogue; :meth:`compile` gives the :class:`PathRule` that is judged.
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
        found = catalog.spec(self.metric, self.check)
        if found is None or found.path is None:
            raise PolicyError(_unknown(f"{self.check} metric in the policy rule {self.check}.{self.key}", self.metric,
                                       _SHORTHAND_METRICS[self.check]))
        return found.path

    def compile(self) -> PathRule:
        """The path rule this shorthand stands for (lenient: see the module docstring)."""
        return PathRule(self.path, self.op, self.threshold, self.severity, shorthand=self.key, name=self.metric)


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
    ``shorthand``: the per-check key it was compiled from (``min_roc_auc``), None for a
    written path rule; ``name``: the metric's catalogue name when the path's last key is
    not it (``rank_stability`` for ``explanations.*.rank_stability.spearman``).
    """

    path: str
    op: str
    threshold: float
    severity: str = "fail"
    shorthand: str | None = None
    name: str | None = None

    @property
    def check(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def metric(self) -> str:
        return self.name or _leaf_metric(self.path)

    @property
    def compare_only(self) -> bool:
        return self.op in ("max_drop", "max_rise")

    @property
    def key(self) -> str:
        return self.shorthand or f"{self.path} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.path, self.op: self.threshold, "severity": self.severity}

    def judge_value(self, value: Any, *, path: str, subject: str | None, confidence: float | None = None) -> Verdict:
        """Judge a resolved value (an Estimate, an Estimate dict ``{value, ci_low, ci_high}`` or a number).

        A written path rule refuses an undefined value (:class:`PolicyError`); a compiled
        shorthand rule warns (reason ``undefined``).
        """
        v, lo, hi = _estimate(value)
        if v is None and self.shorthand is None:
            raise PolicyError(
                f"The policy rule on {self.path!r} cannot be judged: {path!r} is undefined (null) in this audit; "
                "narrow the path or remove the rule."
            )
        threshold = {"max_drop": -self.threshold}.get(self.op, self.threshold)
        return _judge(self.check, self.metric, self.op, threshold, self.severity, v, lo, hi, subject=subject,
                      path=path, confidence=confidence, rule=self.shorthand)


def _estimate(value: Any) -> tuple[float | None, float | None, float | None]:
    if isinstance(value, Mapping):
        return _finite(value.get("value")), _finite(value.get("ci_low")), _finite(value.get("ci_high"))
    if all(hasattr(value, k) for k in ("value", "ci_low", "ci_high")):  # a typed Estimate
        return _finite(value.value), _finite(value.ci_low), _finite(value.ci_high)
    return _finite(value), None, None


_STATS = ("mean", "median", "p90", "p99", "max")
_OWN_LEVEL = ("slices",)  # sections whose intervals carry their own confidence (``interval_level``)


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
    """The release gate: per-check shorthand ``rules`` (as written) and audit.json ``path_rules``.

    ``compiled`` holds the shorthand compiled to path rules when the policy is built;
    :meth:`judge` judges them and the path rules, once, on a finished audit.
    """

    rules: tuple[Rule, ...] = _DEFAULT_RULES
    path_rules: tuple[PathRule, ...] = ()
    compiled: tuple[PathRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "path_rules", tuple(self.path_rules))
        object.__setattr__(self, "compiled", tuple(r.compile() for r in self.rules))

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
                op, _, metric = str(key).partition("_")
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

    # ------------------------------------------------------------------ judging
    def judge(self, result: Any) -> Verdicts:
        """Every verdict of one finished audit: the one place the policy is judged.

        ``result``: an :class:`~audit_engine.result.AuditResult` (typed sections) or an
        audit.json dict. Order: for each check in the order it ran, its compiled shorthand
        rules (fairness and explanations by subject, then rule; the others by rule, then
        subject); then the path rules in the order written (compare-only ones are left to
        :meth:`judge_changes`); then the findings (a guessed class order below chance).

        Raises :class:`PolicyError` when a path rule names a path the audit lacks or whose
        value is undefined.
        """
        sections = {name: _get(result, name) for name in CHECK_NAMES}
        sections = {name: s for name, s in sections.items() if s is not None}
        config = _get(result, "config") or {}
        confidence = _finite(_get(config, "confidence"))
        fairness_params = _get(config, "fairness") or {}
        judge_intersections = bool(_get(fairness_params, "judge_intersections") or False)
        ran = [str(k) for k in (_get(result, "checks") or {}) if "." not in str(k)]
        order = [n for n in ran if n in sections] + [n for n in sections if n not in ran]
        # a section whose intervals have their own level (slices: false-coverage-rate adjusted) says so
        levels = {name: _finite(_get(s, "interval_level")) if name in _OWN_LEVEL else confidence
                  for name, s in sections.items()}
        verdicts: list[Verdict] = []
        for check in order:
            verdicts.extend(self._judge_shorthand(check, sections[check], levels[check], judge_intersections))
        doc = {name: encode(section) for name, section in sections.items()}
        for rule in self.path_rules:
            if rule.compare_only:
                continue
            for path, stars, value in resolve(doc, rule.path):
                verdicts.append(rule.judge_value(value, path=path, subject=" / ".join(stars) or None,
                                                 confidence=levels.get(path.split(".", 1)[0], confidence)))
        verdicts.extend(_class_order(_get(result, "model"), sections.get("performance")))
        return tuple(verdicts)

    def _judge_shorthand(self, check: str, section: Any, confidence: float | None,
                         judge_intersections: bool) -> list[Verdict]:
        rules = [r for r in self.compiled if r.check == check]
        out: list[Verdict] = []
        if check in ("fairness", "explanations"):  # by subject (attribute / method), then by rule
            for name, sub in _items(section):
                if check == "fairness" and len(_get(sub, "attributes") or ()) > 1 and not judge_intersections:
                    continue
                for rule in rules:
                    head, *rest = rule.path.split(".")[1:]
                    if head not in ("*", name):
                        continue
                    refused = _get(sub, "impact_refused") if rule.metric == "impact_ratio" else None
                    if refused:
                        out.append(Verdict(check, "warn", rule.metric, None, rule.threshold, subject=name,
                                           op=rule.op, reason="not_judged", confidence=confidence,
                                           severity=rule.severity, rule=rule.shorthand, detail=str(refused)))
                        continue
                    for path, _, value in _walk(sub, rest, f"{check}.{name}", ()):
                        out.append(rule.judge_value(value, path=path, subject=name, confidence=confidence))
            return out
        for rule in rules:  # performance, ood, uncertainty: by rule, then by subject (score / method)
            for path, stars, value in _walk(section, rule.path.split(".")[1:], check, ()):
                out.append(rule.judge_value(value, path=path, subject=stars[0] if stars else None,
                                            confidence=confidence))
        return out

    def judge_changes(self, changes: Mapping[str, Any], *, confidence: float | None = None) -> Verdicts:
        """Judge every max_drop / max_rise rule on compare's changes.

        ``changes`` nests like audit.json (``{"performance": {"metrics": {"roc_auc": entry}}}``),
        each entry ``{"a", "b", "delta": {value, ci_low, ci_high}, ...}``; the rule's path is
        resolved in it as in an audit (wildcards, a left-out ``metrics`` level).
        ``confidence``: the level of the change intervals.
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
                verdicts.append(rule.judge_value(delta, path=path, subject=" / ".join(stars) or None,
                                                 confidence=confidence))
        return tuple(verdicts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.rules:
            out.setdefault(r.check, {})[r.key] = {"threshold": r.threshold, "severity": r.severity}
        if self.path_rules:
            out["rules"] = [r.to_dict() for r in self.path_rules]
        return out


# ---------------------------------------------------------------------------- walking a result
_MISSING = object()


def _get(node: Any, key: str) -> Any:
    """``node[key]`` of a mapping, ``node.key`` of a record; None when absent."""
    if isinstance(node, Mapping):
        return node.get(key)
    return getattr(node, key, None)


def _items(node: Any) -> list[tuple[str, Any]]:
    """The subjects under a ``*``: a mapping's items; an uncertainty result's methods."""
    if isinstance(node, Mapping):
        return [(str(k), v) for k, v in node.items()]
    methods = getattr(node, "methods", None)
    return [(str(k), v) for k, v in methods.items()] if isinstance(methods, Mapping) else []


def _walk(node: Any, parts: Sequence[str], done: str, stars: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    """``(concrete path, wildcard keys, value)`` for each value ``parts`` reaches from ``node``
    (typed records or audit.json dicts). Absent or None values are passed over; a part whose
    ``status`` says it did not run (``ood.shift_summary`` without reference data) holds none."""
    if node is None or _get(node, "status") not in (None, "ran"):
        return
    if not parts:
        yield done, stars, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        for key, child in _items(node):
            yield from _walk(child, rest, _join(done, key), (*stars, key))
        return
    if isinstance(node, (str, bytes, int, float)):
        return
    yield from _walk(_get(node, head), rest, _join(done, head), stars)


def _class_order(model: Any, performance: Any) -> list[Verdict]:
    """A finding: a guessed class order that gives an AUC below 0.5 (the columns are likely swapped)."""
    source = str(_get(model, "classes_source") or "")
    if not source.startswith("guessed") or performance is None or _get(model, "task") != "classification":
        return []
    metrics = _get(performance, "metrics") or {}
    value, _, _ = _estimate(metrics.get("roc_auc")) if isinstance(metrics, Mapping) else (None, None, None)
    if value is None or value >= 0.5:
        return []
    order = ", ".join(repr(str(c)) for c in (_get(model, "classes") or ()))
    return [Verdict("performance", "warn", "class_order", value, 0.5, reason="class_order",
                    detail=f"{source}: {order}")]


def _unknown(kind: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(known)}."
    return f"Unknown {kind} {key!r}.{hint}"
