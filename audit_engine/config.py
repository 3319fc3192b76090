"""AuditConfig and Policy: what to audit, how, and the thresholds that gate a release.

A config comes from keyword arguments, a TOML file (``AuditConfig.from_toml``) or both
(CLI flags override the file). Every key is validated up front, so a typo fails before
any model call with a suggestion of the key that was meant.

Policy rules (the logic lives in :mod:`audit_engine.policy`) are written per check as
``min_<metric>`` or ``max_<metric>``, or by audit.json path in ``[[policy.rules]]``::

    [policy.performance]
    min_roc_auc = 0.7
    [policy.fairness]
    min_impact_ratio = { threshold = 0.8, severity = "fail" }
    max_demographic_parity_difference = { threshold = 0.1, severity = "warn" }
    [[policy.rules]]
    metric = "fairness.*.groups.*.selection_rate"
    min = 0.2

A rule fails (or warns, per its severity) when the point value breaches the threshold;
when the point value passes but the confidence interval crosses the threshold the
verdict is ``warn`` ("inconclusive"), because the data cannot rule the breach out.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import CHECK_NAMES, OPT_IN_CHECKS
from .errors import ConfigError
from .params import audience
from .policy import PathRule, Policy, PolicyError, Rule, Verdict
from .statements import EU_AI_ACT_FIELDS, MODEL_CARD_FIELDS, check_keys, check_statements
from .suggest import accept_keywords

if TYPE_CHECKING:
    from .params import Params

__all__ = ["AuditConfig", "Policy", "Rule", "PathRule", "PolicyError", "Verdict", "CHECK_NAMES"]


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
    classes: the labels of the model's output columns, in column order, when the graph
        does not name them (default: the graph's labels, else a guess from the target).
    provider: ``auto`` | ``cpu`` | ``cuda``; backend: ``local`` | ``ray`` (Ray actors score the
        streamed Parquet or CSV data; ``ray_address``: the cluster, default a local Ray).
    stream: read a Parquet or CSV file / folder in chunks (``fairness.chunk_rows`` rows) with
        memory bounded by the chunk: True, False, or None (auto: Parquet declaring over 256 MiB);
        ``sample_rows``: the seeded sample the row-needing checks then run on.
    checks: which checks to run (default: the default checks, ``catalog.DEFAULT_CHECKS``, each
        where it applies; ``robustness`` and ``slices`` run only when listed here).
    n_bootstrap, confidence: bootstrap replicates and interval level for every interval.
    max_chunk_bytes: the Evaluator's memory budget per model call.
    tokenizer, text_column, max_length: text models: the ``tokenizer.json`` that turns the
        ``text_column`` (default ``"text"``) into the model's token inputs, truncated / padded
        to ``max_length`` tokens (default: the model's static sequence length, else 128).
    performance, fairness, explanations, ood, uncertainty, robustness, slices: per-check parameters
        (validated by each check).
    policy: the release gate: a :class:`Policy`, or its TOML form (a table of per-check
        rules and ``rules``, or a list of path rules), parsed with :meth:`Policy.from_dict`.
    model_card: free text a person writes (intended_use, owners, limitations, ...).
    eu_ai_act: the provider's written statements for the EU AI Act evidence view
        (keys: :data:`audit_engine.statements.EU_AI_ACT_FIELDS`; unknown keys refused).
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
    classes: tuple[Any, ...] | None = None
    provider: str = "auto"
    backend: str = "local"
    ray_address: str | None = None
    stream: bool | None = None
    sample_rows: int = 20_000
    threads: int | None = None
    checks: tuple[str, ...] | None = None
    n_bootstrap: int = 1000
    confidence: float = 0.95
    max_chunk_bytes: int = 64 * 1024**2
    tokenizer: str | None = None
    text_column: str = "text"
    max_length: int | None = None
    performance: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    explanations: Mapping[str, Any] = field(default_factory=dict)
    ood: Mapping[str, Any] = field(default_factory=dict)
    uncertainty: Mapping[str, Any] = field(default_factory=dict)
    robustness: Mapping[str, Any] = field(default_factory=dict)
    slices: Mapping[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    model_card: Mapping[str, Any] = field(default_factory=dict)
    eu_ai_act: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .params import invalid, validate_config  # one table of every setting's type, range and flag

        if not isinstance(self.policy, Policy):  # the TOML form, as from_toml reads it
            if not isinstance(self.policy, (Mapping, list, tuple)):
                raise ConfigError(invalid("policy", "AuditConfig", "a Policy, a table of per-check rules or a list "
                                          "of path rules", self.policy) + " Fix it in audit.toml ([policy]).")
            object.__setattr__(self, "policy", Policy.from_dict(self.policy))
        object.__setattr__(self, "_params", validate_config(self))  # {check: typed Params}
        object.__setattr__(self, "eu_ai_act", check_statements(self.eu_ai_act, name="eu_ai_act", fields=EU_AI_ACT_FIELDS))
        check_keys(self.model_card, name="model_card", fields=MODEL_CARD_FIELDS)  # a misspelt field is never dropped
        for name in ("sensitive", "features", "checks"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))
        if self.tokenizer is not None and not isinstance(self.tokenizer, str):
            object.__setattr__(self, "tokenizer", str(self.tokenizer))
        object.__setattr__(self, "sensitive", tuple(self.sensitive))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        if self.checks is not None:
            object.__setattr__(self, "checks", tuple(self.checks))
        if self.classes is not None:
            labels = [str(c) for c in self.classes]
            if len(set(labels)) != len(labels):
                raise ConfigError(invalid("classes", "AuditConfig", "a list of at least 2 distinct labels, one per "
                                          "output column", list(self.classes)) + " Fix it in audit.toml or with --classes.")
            object.__setattr__(self, "classes", tuple(self.classes))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> AuditConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(_unknown("config key", key, sorted(known)))
            kwargs[key] = value
        for name in ("sensitive", "features", "checks"):
            if isinstance(kwargs.get(name), str):
                kwargs[name] = (kwargs[name],)
        with audience("file", only_from="python"):  # a bad value is fixed in the file, not in Python
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
        changes = {ALIASES.get(k, k): v for k, v in changes.items() if v is not None}  # __post_init__ reads a dict policy
        return dataclasses.replace(self, **changes)

    def params(self, check: str) -> Params:
        """A check's typed parameters (:mod:`audit_engine.params`): its defaults overridden by
        this config's ``[<check>]`` table, validated (and unknown keys refused) when the config was built."""
        if check not in CHECK_NAMES:
            raise ConfigError(_unknown("check", check, CHECK_NAMES))
        return self._params[check]  # type: ignore[attr-defined,no-any-return]

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
            if f.name == "eu_ai_act" and not value:  # written statements are recorded only when written
                continue
            if f.name in OPT_IN_CHECKS and not value:  # opt-in checks' tables: recorded only when written
                continue
            out[f.name] = value
        return out


# The Python API also takes the spellings people bring with them: ``favourable_label`` (the
# reports' spelling) and ``random_state`` (the seed's name in scikit-learn and fairlearn); an
# unknown keyword is refused with the argument it probably meant (a TypeError, as Python's).
ALIASES = {"favourable_label": "favorable_label", "random_state": "seed"}
AuditConfig.__init__ = accept_keywords(AuditConfig, ALIASES)  # type: ignore[method-assign]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
