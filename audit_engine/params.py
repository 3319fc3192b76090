"""One table of every setting: its type, range and unit, and the flag that sets it.

In the style of scikit-learn's ``utils._param_validation``: each setting declares
constraints (:class:`Interval`, :class:`StrOptions`, :class:`TypeOf`, :class:`ListOf`,
:class:`Table`); a value that satisfies none of them is refused with one wording
everywhere::

    The 'threshold' setting must be a number in (0, 1); got '0.5' (a string).
    Fix it in audit.toml or with --threshold.

:func:`validate_config` checks every top-level key and every check parameter of an
:class:`~audit_engine.config.AuditConfig` when it is built, so a wrong value fails before
the model is loaded. Check parameters that are not in :data:`CHECK_PARAMS` (a check may
grow new ones) are left to the check; unknown keys are refused by ``AuditConfig.params``.
:func:`check_setting` validates one CLI-only flag (``--timeout``, ``--max-memory``, ...).
:func:`parse_bytes` reads sizes such as ``512MB`` or ``2GiB``.

Upper bounds keep one setting from asking for unbounded time or memory
(``n_bootstrap <= 100_000``, ``calibration_bins <= 1_000``, ...).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

__all__ = [
    "Interval", "StrOptions", "TypeOf", "ListOf", "Table", "Setting",
    "SETTINGS", "CHECK_PARAMS", "CLI_SETTINGS",
    "validate_config", "check_setting", "parse_bytes", "describe_value",
]


# ---------------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Interval:
    """A real number or an int in an interval; ``closed`` is both, left, right or neither.

    bools are never numbers here, and NaN is in no interval.
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.type is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        v = float(value) if self.type is not int else int(value)
        if isinstance(v, float) and math.isnan(v):
            return False
        if self.left is not None:
            if v < self.left or (v == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if v > self.right or (v == self.right and self.closed in ("left", "neither")):
                return False
        if isinstance(v, float) and math.isinf(v):
            return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.type is int else "a number"
        lo = "-inf" if self.left is None else _num(self.left)
        hi = "inf" if self.right is None else _num(self.right)
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        return f"{kind} in {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class StrOptions:
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class TypeOf:
    """A value of one of ``types`` (bool is not an int); ``None`` for the constant None."""

    types: tuple[type, ...] | None
    description: str

    def is_satisfied_by(self, value: Any) -> bool:
        if self.types is None:
            return value is None
        if isinstance(value, bool) and bool not in self.types:
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class ListOf:
    """A list (or tuple) whose every item satisfies ``item``, of at most ``max_len`` items."""

    item: Any
    max_len: int = 10_000
    min_len: int = 0

    def is_satisfied_by(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and self.min_len <= len(value) <= self.max_len
            and all(self.item.is_satisfied_by(v) for v in value)
        )

    def __str__(self) -> str:
        size = "a non-empty list" if self.min_len else "a list"
        if isinstance(self.item, StrOptions):
            return f"{size} of those"
        return f"{size} of {_plural(str(self.item))}"


@dataclass(frozen=True)
class Table:
    """A TOML table (a mapping); ``values`` constrains each value when given."""

    values: Any = None

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, Mapping):
            return False
        return self.values is None or all(
            isinstance(k, str) and self.values.is_satisfied_by(v) for k, v in value.items()
        )

    def __str__(self) -> str:
        return "a table" if self.values is None else f"a table of {_plural(str(self.values))}"


NONE = TypeOf(None, "None (leave it out)")
STRING = TypeOf((str,), "a string")
BOOL = TypeOf((bool,), "true or false")
LABEL = TypeOf((str, int, float, bool), "a string or a number")
STRINGS = ListOf(STRING, min_len=1)


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 10_000:
        return f"{int(x):_}"
    return f"{x:g}"


def _plural(description: str) -> str:
    for article in ("a ", "an "):
        if description.startswith(article):
            noun = description[len(article):]
            first, _, rest = noun.partition(" ")
            return (first + "s " + rest).strip() if not first.endswith("s") else noun
    return description


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """One setting: its constraints (any one may hold), flag, unit and where it lives."""

    name: str
    constraints: tuple[Any, ...]
    flag: str | None = None
    unit: str | None = None
    config: bool = True
    table: str | None = None
    help: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def expected(self) -> str:
        parts = [str(c) for c in self.constraints]
        if self.unit:
            at = next((i for i, c in enumerate(self.constraints) if isinstance(c, Interval)), 0)
            parts[at] = f"{parts[at]} ({self.unit})"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]

    def where(self) -> str:
        places = []
        if self.config:
            places.append(f"audit.toml ([{self.table}] {self.name})" if self.table else "audit.toml")
        if self.flag:
            places.append(f"with {self.flag}")
        if not places:
            return ""
        return " Fix it " + ("in " if self.config else "") + " or ".join(places) + "."

    def check(self, value: Any) -> None:
        """Raise ConfigError (one sentence) unless ``value`` satisfies a constraint."""
        if not self.is_satisfied_by(value):
            raise ConfigError(
                f"The {self.key!r} setting must be {self.expected()}; got {describe_value(value)}.{self.where()}"
            )


def describe_value(value: Any) -> str:
    """``'0.5' (a string)``, ``5 (an int)``, ``[1, 2] (a list)``: what came, shortly."""
    kinds = {bool: "a bool", int: "an int", float: "a number", str: "a string", list: "a list",
             tuple: "a list", dict: "a table", type(None): "nothing"}
    kind = next((v for k, v in kinds.items() if type(value) is k), None)
    if kind is None:
        kind = "a table" if isinstance(value, Mapping) else f"a {type(value).__name__}"
    text = repr(value).replace("\n", " ")
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def _int(lo: int, hi: int) -> Interval:
    return Interval(int, lo, hi)


def _real(lo: float | None, hi: float | None, closed: str = "both") -> Interval:
    return Interval(numbers.Real, lo, hi, closed)


def _s(name: str, *constraints: Any, flag: str | None = None, unit: str | None = None,
       table: str | None = None, config: bool = True) -> Setting:
    return Setting(name, constraints, flag, unit, config, table)


MAX_BOOTSTRAP = 100_000
MAX_BINS = 1_000
MAX_SAMPLES = 100_000

_CHECKS = ("performance", "fairness", "explanations", "ood", "uncertainty")
_OUTPUT_KINDS = ("probabilities", "zipmap", "logits", "log_probabilities", "probability", "logit", "regression")

SETTINGS: dict[str, Setting] = {s.name: s for s in (
    _s("seed", _int(0, 2**32 - 1), flag="--seed"),
    _s("target", STRING, NONE, flag="--target"),
    _s("sensitive", STRING, ListOf(STRING), flag="--sensitive"),
    _s("features", STRING, STRINGS, NONE, flag="--features"),
    _s("positive_label", LABEL, NONE, flag="--positive-label"),
    _s("favorable_label", LABEL, NONE, flag="--favorable-label"),
    _s("classes", ListOf(LABEL, min_len=2), NONE, flag="--classes"),
    _s("threshold", _real(0, 1, "neither"), flag="--threshold", unit="a probability"),
    _s("output", STRING, NONE, flag="--output"),
    _s("output_kind", StrOptions(_OUTPUT_KINDS), NONE, flag="--output-kind"),
    _s("provider", StrOptions(("auto", "cpu", "cuda")), flag="--provider"),
    _s("backend", StrOptions(("local", "ray")), flag="--backend"),
    _s("ray_address", STRING, NONE, flag="--ray-address"),
    _s("stream", BOOL, NONE, flag="--stream"),
    _s("sample_rows", _int(1, 10_000_000), flag="--sample-rows", unit="rows"),
    _s("threads", _int(1, 1024), NONE, unit="CPU threads"),
    _s("checks", StrOptions(_CHECKS), ListOf(StrOptions(_CHECKS), min_len=1), NONE, flag="--checks"),
    _s("n_bootstrap", _int(0, MAX_BOOTSTRAP), flag="--bootstrap", unit="replicates"),
    _s("confidence", _real(0.5, 1, "left")),
    _s("max_chunk_bytes", _int(1, 2**40), unit="bytes"),
    _s("tokenizer", STRING, NONE, flag="--tokenizer"),
    _s("text_column", STRING, flag="--text-column"),
    _s("max_length", _int(1, 1_000_000), NONE, unit="tokens"),
    *(_s(name, Table()) for name in _CHECKS),
    _s("policy", Table(Table())),
    _s("model_card", Table()),
    _s("eu_ai_act", Table()),
)}
"""Top-level config keys (``AuditConfig`` fields)."""

_METHODS = ListOf(STRING, min_len=1)
CHECK_PARAMS: dict[str, dict[str, Setting]] = {
    "performance": {s.name: s for s in (
        _s("calibration_bins", _int(1, MAX_BINS), table="performance", unit="bins"),
    )},
    "fairness": {s.name: s for s in (
        _s("reference_group", STRING, Table(STRING), NONE, table="fairness", flag="--reference-group"),
        _s("min_group_size", _int(1, 10**9), table="fairness", unit="rows"),
        _s("score_bins", _int(1, MAX_BINS), table="fairness", unit="bins"),
        _s("max_intersection_order", _int(1, 10), table="fairness"),
        _s("ll144_min_share", _real(0, 1), table="fairness", unit="a share"),
        _s("four_fifths_threshold", _real(0, 1), table="fairness", unit="a ratio"),
        _s("judge_intersections", BOOL, table="fairness"),
        _s("sweep", BOOL, table="fairness"),
        _s("chunk_rows", _int(1, 10**9), table="fairness", unit="rows"),
        _s("min_class_rows", _int(0, 10**9), table="fairness", unit="rows"),
        _s("rate_interval", StrOptions(("jeffreys", "wilson")), table="fairness"),
    )},
    "explanations": {s.name: s for s in (
        _s("methods", STRING, _METHODS, table="explanations"),
        _s("n_rows", _int(1, MAX_SAMPLES), table="explanations", unit="rows"),
        _s("uncertain_share", _real(0, 1), table="explanations", unit="a share"),
        _s("lime_samples", _int(1, MAX_SAMPLES), table="explanations", unit="samples per row"),
        _s("smoothgrad_samples", _int(1, 10_000), table="explanations", unit="noise draws per row"),
        _s("noise_level", _real(0, 100, "right"), table="explanations"),
        _s("n_repeats", _int(1, 1_000), table="explanations"),
        _s("patch_size", _int(1, 100_000), NONE, table="explanations", unit="pixels"),
        _s("stride", _int(1, 100_000), NONE, table="explanations", unit="pixels"),
        _s("quality_steps", _int(1, MAX_BINS), table="explanations"),
        _s("stability_seeds", _int(0, 100), table="explanations"),
        _s("top_k", _int(1, 100_000), table="explanations"),
        _s("sp_picks", _int(0, 1_000), table="explanations", unit="rows"),
        _s("heatmap_rows", _int(0, 1_000), table="explanations", unit="rows"),
        _s("sanity_check", StrOptions(("auto",)), BOOL, table="explanations"),
        _s("sanity_rows", _int(1, 10_000), table="explanations", unit="rows"),
        _s("sanity_max_layers", _int(1, 1_000), table="explanations", unit="layers"),
        _s("sanity_threshold", _real(-1, 1), table="explanations", unit="a Spearman correlation"),
        _s("segmentation", StrOptions(("auto", "slic", "grid")), table="explanations"),
        _s("n_segments", _int(2, 100_000), table="explanations", unit="superpixels"),
        _s("attention_query", StrOptions(("first", "mean")), table="explanations"),
        _s("mask_id", _int(0, 2**62), table="explanations", unit="a token id"),
    )},
    "ood": {s.name: s for s in (
        _s("scores", ListOf(STRING), table="ood"),
        _s("energy_temperature", _real(0, 1e6, "right"), table="ood"),
        _s("odin_temperatures", ListOf(_real(0, 1e6, "right"), min_len=1, max_len=100), table="ood"),
        _s("odin_epsilons", ListOf(_real(0, 10), min_len=1, max_len=100), table="ood"),
        _s("odin_gradient", STRING, table="ood"),
        _s("odin_samples", _int(1, 10_000), table="ood", unit="samples"),
        _s("odin_tune_rows", _int(1, 10**7), table="ood", unit="rows"),
        _s("knn_k", _int(1, 10_000), table="ood"),
        _s("iforest_trees", _int(1, 10_000), table="ood", unit="trees"),
        _s("covariance", STRING, table="ood"),
        _s("threshold_quantile", _real(0.5, 1, "left"), table="ood"),
        _s("shift_alpha", _real(0, 1, "neither"), table="ood"),
        _s("psi_bins", _int(1, MAX_BINS), table="ood", unit="bins"),
        _s("max_shift_features", _int(1, 100_000), table="ood"),
        _s("top_k", _int(0, 100_000), table="ood"),
        _s("histogram_bins", _int(1, MAX_BINS), table="ood", unit="bins"),
    )},
    "uncertainty": {s.name: s for s in (
        _s("passes", StrOptions(("auto",)), _int(1, 10_000), table="uncertainty", unit="MC-dropout passes"),
        _s("mc_tolerance", _real(0, 10, "right"), table="uncertainty", unit="nats"),
        _s("max_passes", _int(1, 100_000), table="uncertainty", unit="MC-dropout passes"),
        _s("min_passes", _int(2, 100_000), table="uncertainty", unit="MC-dropout passes"),
        _s("mc_groups", _int(2, 1_000), table="uncertainty", unit="groups of passes"),
        _s("models", ListOf(STRING, max_len=100), table="uncertainty"),
        _s("max_rows", _int(1, 10**7), table="uncertainty", unit="rows"),
        _s("top_k", _int(0, 100_000), table="uncertainty"),
        _s("histogram_bins", _int(1, MAX_BINS), table="uncertainty", unit="bins"),
    )},
}
"""Per-check parameters (``[<check>]`` tables); each check's ``DEFAULTS`` holds the defaults."""

_BYTES = _int(1, 2**60)
CLI_SETTINGS: dict[str, Setting] = {s.name: s for s in (
    _s("timeout", _real(0, 10**7, "right"), flag="--timeout", unit="seconds", config=False),
    _s("max_model_bytes", _BYTES, flag="--max-model-bytes", unit="bytes, e.g. 2GiB", config=False),
    _s("max_memory", _BYTES, flag="--max-memory", unit="bytes, e.g. 8GiB", config=False),
)}
"""Flags that are not config keys (limits of one run)."""


# ---------------------------------------------------------------------------- validation
def validate_config(config: Any) -> None:
    """Check every top-level key and every known check parameter of ``config``.

    Raises
    ------
    ConfigError: one sentence naming the setting, what it must be, what came and the fix.
    """
    for name, setting in SETTINGS.items():
        value = getattr(config, name, None)
        if name == "policy" and hasattr(value, "rules"):
            continue  # an already-built Policy (its rules are validated where they are parsed)
        if hasattr(config, name):
            setting.check(value)
    for check, params in CHECK_PARAMS.items():
        given = getattr(config, check, None)
        if not isinstance(given, Mapping):
            continue
        for key, value in given.items():
            setting = params.get(key)
            if setting is not None:
                setting.check(value)


def check_setting(name: str, value: Any) -> Any:
    """Validate one CLI-only setting (see :data:`CLI_SETTINGS`) and return it; None means unset."""
    if value is not None:
        CLI_SETTINGS[name].check(value)
    return value


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(name: str, text: str | int | None) -> int | None:
    """``"512MB"`` → 512_000_000, ``"2GiB"`` → 2_147_483_648, ``"1e9"`` → 10**9; None stays None."""
    if text is None or isinstance(text, int):
        return check_setting(name, text) if text is not None else None
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        setting = CLI_SETTINGS[name]
        raise ConfigError(
            f"The {name!r} setting must be {setting.expected()}; got {describe_value(text)}.{setting.where()}"
        )
    value = float(match.group(1)) * _UNITS[unit]
    return check_setting(name, int(value) if math.isfinite(value) and value < 2**62 else value)


def flags(settings: Sequence[Setting] | None = None) -> list[str]:
    """Every flag the table names (for tests that cover each flag)."""
    pool = list(SETTINGS.values()) + list(CLI_SETTINGS.values()) + [
        s for table in CHECK_PARAMS.values() for s in table.values()
    ] if settings is None else list(settings)
    return sorted({s.flag for s in pool if s.flag})
