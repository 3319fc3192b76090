"""AuditConfig and Policy: what to audit, how, and the thresholds that gate a release.

A config comes from keyword arguments, a TOML file (``AuditConfig.from_toml``) or both
(CLI flags override the file). Every key is validated up front, so a typo fails before
any model call with a suggestion of the key that was meant.

Policy rules are written per check as ``min_<metric>`` or ``max_<metric>``::

    [policy.performance]
    min_roc_auc = 0.7
    [policy.fairness]
    min_impact_ratio = { threshold = 0.8, severity = "fail" }
    max_demographic_parity_difference = { threshold = 0.1, severity = "warn" }

A rule fails (or warns, per its severity) when the point value breaches the threshold;
when the point value passes but the confidence interval crosses the threshold the
verdict is ``warn`` ("inconclusive"), because the data cannot rule the breach out.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["AuditConfig", "Policy", "Rule", "Verdict", "CHECK_NAMES"]

CHECK_NAMES = ("performance", "fairness", "explanations", "ood", "uncertainty")
_SEVERITIES = ("fail", "warn")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one policy rule: ``status`` is pass, warn or fail."""

    check: str
    status: str
    metric: str
    value: float | None
    threshold: float | None
    message: str
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("value", "threshold"):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        return d


@dataclass(frozen=True)
class Rule:
    """``op`` is ``min`` (value must be >= threshold) or ``max`` (value must be <= threshold)."""

    check: str
    metric: str
    op: str
    threshold: float
    severity: str = "fail"

    @property
    def key(self) -> str:
        return f"{self.op}_{self.metric}"

    def judge(
        self,
        value: float | None,
        *,
        ci_low: float | None = None,
        ci_high: float | None = None,
        subject: str | None = None,
    ) -> Verdict:
        """Compare one measured value (with its interval) against the rule."""
        where = f" for {subject}" if subject else ""
        if value is None or not math.isfinite(value):
            return Verdict(self.check, "warn", self.metric, None, self.threshold,
                           f"{self.metric}{where} is undefined, so the rule {self.key} = {self.threshold:g} cannot be checked.", subject)
        breach = value < self.threshold if self.op == "min" else value > self.threshold
        bound = ci_low if self.op == "min" else ci_high
        interval = ""
        if ci_low is not None and ci_high is not None and math.isfinite(ci_low) and math.isfinite(ci_high):
            interval = f" (95% CI {ci_low:.3g} to {ci_high:.3g})"
        word = "at least" if self.op == "min" else "at most"
        if breach:
            return Verdict(self.check, self.severity, self.metric, value, self.threshold,
                           f"{self.metric}{where} is {value:.3g}{interval}; the policy requires {word} {self.threshold:g}.", subject)
        uncertain = bound is not None and math.isfinite(bound) and (
            bound < self.threshold if self.op == "min" else bound > self.threshold
        )
        if uncertain:
            return Verdict(self.check, "warn", self.metric, value, self.threshold,
                           f"{self.metric}{where} is {value:.3g}{interval}: it meets {word} {self.threshold:g}, "
                           "but the interval crosses the threshold, so the data cannot rule out a breach.", subject)
        return Verdict(self.check, "pass", self.metric, value, self.threshold,
                       f"{self.metric}{where} is {value:.3g}{interval}, {word} {self.threshold:g} as required.", subject)


_DEFAULT_RULES = (
    Rule("fairness", "impact_ratio", "min", 0.8, "fail"),
    Rule("fairness", "demographic_parity_difference", "max", 0.1, "warn"),
    Rule("fairness", "equalized_odds_difference", "max", 0.1, "warn"),
    Rule("performance", "expected_calibration_error", "max", 0.1, "warn"),
)


@dataclass(frozen=True)
class Policy:
    """A set of rules; :meth:`rules_for` gives a check its rules."""

    rules: tuple[Rule, ...] = _DEFAULT_RULES

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, defaults: bool = True) -> Policy:
        rules = {(r.check, r.metric): r for r in (_DEFAULT_RULES if defaults else ())}
        for check, entries in table.items():
            if check not in CHECK_NAMES:
                raise ConfigError(_unknown("policy section", check, CHECK_NAMES))
            if not isinstance(entries, Mapping):
                raise ConfigError(f"[policy.{check}] must be a table of min_<metric>/max_<metric> rules.")
            for key, spec in entries.items():
                op, _, metric = key.partition("_")
                if op not in ("min", "max") or not metric:
                    raise ConfigError(
                        f"Policy rule {check}.{key} must be named min_<metric> or max_<metric>."
                    )
                severity = "fail"
                if isinstance(spec, Mapping):
                    unknown = set(spec) - {"threshold", "severity"}
                    if unknown:
                        raise ConfigError(f"Policy rule {check}.{key} has unknown key(s) {sorted(unknown)}; use threshold and severity.")
                    severity = spec.get("severity", "fail")
                    spec = spec.get("threshold")
                if severity not in _SEVERITIES:
                    raise ConfigError(f"Policy rule {check}.{key} has severity {severity!r}; use 'fail' or 'warn'.")
                if spec is None:  # threshold = none disables a default rule
                    rules.pop((check, metric), None)
                    continue
                if isinstance(spec, bool) or not isinstance(spec, (int, float)):
                    raise ConfigError(f"Policy rule {check}.{key} needs a number; got {spec!r}.")
                rules[(check, metric)] = Rule(check, metric, op, float(spec), severity)
        return cls(tuple(rules.values()))

    def rules_for(self, check: str) -> list[Rule]:
        return [r for r in self.rules if r.check == check]

    def rule(self, check: str, metric: str) -> Rule | None:
        return next((r for r in self.rules if r.check == check and r.metric == metric), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.rules:
            out.setdefault(r.check, {})[r.key] = {"threshold": r.threshold, "severity": r.severity}
        return out


def _unknown(kind: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(known)}."
    return f"Unknown {kind} {key!r}.{hint}"


@dataclass(frozen=True)
class AuditConfig:
    """Everything that shapes an audit; recorded in audit.json as ``config``.

    Parameters
    ----------
    seed: seeds every random draw (bootstrap, sampling); same seed ⇒ same audit.json.
    target, sensitive, features: data columns (features default: the rest).
    positive_label: the positive class of a binary target (default: the larger label).
    favorable_label: the outcome that benefits the person (COMPAS: 0, not flagged high
        risk; lending: approved). Selection rates, impact ratios, the four-fifths rule and
        the Local Law 144 view use it; without it they are refused (None: not declared).
    threshold: decision threshold on p(positive) for binary classifiers.
    output, output_kind: which model output to audit and how to read it.
    provider: ``auto`` | ``cpu`` | ``cuda``; backend: ``local`` (``ray`` reserved).
    checks: which checks to run (default: every one that applies).
    n_bootstrap, confidence: bootstrap replicates and interval level for every interval.
    max_chunk_bytes: the Evaluator's memory budget per model call.
    performance, fairness, explanations, ood, uncertainty: per-check parameters
        (validated by each check).
    policy: the release gate.
    model_card: free text a person writes (intended_use, owners, limitations, ...).
    """

    seed: int = 0
    target: str | None = None
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    positive_label: Any = None
    favorable_label: Any = None
    threshold: float = 0.5
    output: str | None = None
    output_kind: str | None = None
    provider: str = "auto"
    backend: str = "local"
    threads: int | None = None
    checks: tuple[str, ...] | None = None
    n_bootstrap: int = 1000
    confidence: float = 0.95
    max_chunk_bytes: int = 64 * 1024**2
    performance: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    explanations: Mapping[str, Any] = field(default_factory=dict)
    ood: Mapping[str, Any] = field(default_factory=dict)
    uncertainty: Mapping[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    model_card: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"The 'seed' parameter must be a non-negative int; got {self.seed!r}.")
        if not (0.0 < float(self.threshold) < 1.0):
            raise ConfigError(f"The 'threshold' parameter must be in (0, 1); got {self.threshold!r}.")
        if not (0.5 <= float(self.confidence) < 1.0):
            raise ConfigError(f"The 'confidence' parameter must be in [0.5, 1); got {self.confidence!r}.")
        if isinstance(self.n_bootstrap, bool) or not isinstance(self.n_bootstrap, int) or self.n_bootstrap < 0:
            raise ConfigError(f"The 'n_bootstrap' parameter must be an int >= 0; got {self.n_bootstrap!r}.")
        if self.provider not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"Unknown provider {self.provider!r}; use one of: auto, cpu, cuda.")
        if self.backend not in ("local",):
            raise ConfigError(
                f"Unknown backend {self.backend!r}; this version runs the 'local' backend."
            )
        if isinstance(self.max_chunk_bytes, bool) or not isinstance(self.max_chunk_bytes, int) or self.max_chunk_bytes < 1:
            raise ConfigError(f"The 'max_chunk_bytes' parameter must be a positive int; got {self.max_chunk_bytes!r}.")
        if self.checks is not None:
            for name in self.checks:
                if name not in CHECK_NAMES:
                    raise ConfigError(_unknown("check", name, CHECK_NAMES))
        object.__setattr__(self, "sensitive", tuple(self.sensitive))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        if self.checks is not None:
            object.__setattr__(self, "checks", tuple(self.checks))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> AuditConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(_unknown("config key", key, sorted(known)))
            kwargs[key] = value
        if "policy" in kwargs and not isinstance(kwargs["policy"], Policy):
            if not isinstance(kwargs["policy"], Mapping):
                raise ConfigError("The 'policy' config entry must be a table of per-check rules.")
            kwargs["policy"] = Policy.from_dict(kwargs["policy"])
        for name in CHECK_NAMES + ("model_card",):
            if name in kwargs and not isinstance(kwargs[name], Mapping):
                raise ConfigError(f"The '{name}' config entry must be a table; got {kwargs[name]!r}.")
        for name in ("sensitive", "features", "checks"):
            if isinstance(kwargs.get(name), str):
                kwargs[name] = (kwargs[name],)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> AuditConfig:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"Config file {str(file)!r} does not exist; check the path.")
        try:
            table = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {str(file)!r} is not valid TOML ({exc}).") from exc
        return cls.from_dict(table)

    def replace(self, **changes: Any) -> AuditConfig:
        """A copy with some fields changed; ``None`` values leave a field as it is."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "policy" in changes and isinstance(changes["policy"], Mapping):
            changes["policy"] = Policy.from_dict(changes["policy"])
        return dataclasses.replace(self, **changes)

    def params(self, check: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """A check's parameters: its defaults overridden by this config, unknown keys refused."""
        given = dict(getattr(self, check))
        for key in given:
            if key not in defaults:
                raise ConfigError(_unknown(f"{check} parameter", key, sorted(defaults)))
        return {**defaults, **given}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Policy):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = _plain(value)
            out[f.name] = value
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
