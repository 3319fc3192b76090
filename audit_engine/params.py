"""One validator for every parameter: its type, range and unit, and where to fix it.

In the style of scikit-learn's ``utils._param_validation``: each parameter declares
constraints (:class:`Interval`, :class:`StrOptions`, :class:`TypeOf`, :class:`TypeName`,
:class:`ListOf`, :class:`Table`); a value that satisfies none of them is refused by
:meth:`Setting.check` with one wording everywhere (:func:`invalid`)::

    The 'threshold' parameter of AuditConfig must be a number in the range (0, 1).
    Got '0.5' (a string) instead. Fix it in audit.toml or with --threshold.

Three kinds of owner use it:

- the top-level settings of :class:`~audit_engine.config.AuditConfig` (:data:`SETTINGS`)
  and the CLI-only flags (:data:`CLI_SETTINGS`, :func:`check_setting`);
- each check's parameters: a frozen, typed :class:`Params` dataclass per check
  (:class:`PerformanceParams`, :class:`FairnessParams`, :class:`ExplanationsParams`,
  :class:`OODParams`, :class:`UncertaintyParams`, :class:`RobustnessParams`, :class:`SlicesParams`; :data:`PARAMS` by check name) whose
  fields carry the defaults and the constraints; ``AuditConfig.params(name)`` returns one;
- the public Python functions, through the :func:`validate_params` decorator.

:func:`validate_config` checks every top-level key and builds every check's
:class:`Params` when an :class:`~audit_engine.config.AuditConfig` is built, so a wrong
value or an unknown key fails before the model is loaded.
:func:`parse_bytes` reads sizes such as ``512MB`` or ``2GiB``.

Upper bounds keep one setting from asking for unbounded time or memory
(``n_bootstrap <= 100_000``, ``calibration_bins <= 1_000``, ...).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import numbers
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .catalog import CHECK_NAMES
from .errors import ConfigError

__all__ = [
    "Interval", "StrOptions", "TypeOf", "TypeName", "OneOf", "ListOf", "Table", "Setting",
    "SETTINGS", "CHECK_PARAMS", "CLI_SETTINGS", "API_PARAMS",
    "Params", "PerformanceParams", "FairnessParams", "ExplanationsParams", "OODParams", "UncertaintyParams",
    "RobustnessParams", "SlicesParams", "PARAMS",
    "validate_config", "validate_params", "check_setting", "parse_bytes", "describe_value", "invalid",
    "AUDIENCE", "audience",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Who reads a setting's error, so that it names what that reader wrote: ``"python"`` (keyword
#: arguments: "The 'threshold' parameter of AuditConfig ..." and nothing about files or flags), ``"file"`` (a TOML file read from
#: Python: "Fix it in audit.toml."), ``"cli"`` (the command line: "Fix it in audit.toml or with
#: --threshold.").
AUDIENCE: ContextVar[str] = ContextVar("audit_engine_settings_audience", default="python")


@contextmanager
def audience(name: str, *, only_from: str | None = None) -> Iterator[None]:
    """Errors raised inside speak to ``name`` (unchanged when ``only_from`` is given and the
    current audience is another one: the command line stays the command line)."""
    if only_from is not None and AUDIENCE.get() != only_from:
        yield
        return
    token = AUDIENCE.set(name)
    try:
        yield
    finally:
        AUDIENCE.reset(token)


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
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class StrOptions:
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
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
class TypeName:
    """An instance of a class named in ``names`` (matched along its MRO by name, so that this
    module need not import pandas, numpy or the model loader to name their types)."""

    names: tuple[str, ...]
    description: str

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.__name__ in self.names for c in type(value).__mro__)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class OneOf:
    """A value that meets any one of ``constraints``, described as one thing (a list's item)."""

    constraints: tuple[Any, ...]
    description: str

    def is_satisfied_by(self, value: Any) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

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
PATH = TypeOf((str, os.PathLike), "a path")
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
    owner: str = "AuditConfig"

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
        if AUDIENCE.get() == "python" and self.config:
            return ""  # the subject already names the argument (see check)
        if self.config:
            places.append(f"audit.toml ([{self.table}] {self.name})" if self.table else "audit.toml")
        if self.flag and AUDIENCE.get() != "file":
            places.append(f"with {self.flag}")
        if not places:
            return ""
        return " Fix it " + ("in " if self.config else "") + " or ".join(places) + "."

    def check(self, value: Any) -> None:
        """Raise ConfigError (the one wording, :func:`invalid`) unless ``value`` satisfies a constraint."""
        if not self.is_satisfied_by(value):
            raise ConfigError(invalid(self.name, self.owner, self.expected(), value) + self.where())


def invalid(name: str, owner: str, expected: str, value: Any) -> str:
    """The one wording of a refused parameter value (scikit-learn's)::

        The 'n_repeats' parameter of explain must be an int in the range [1, 1000]. Got 0 (an int) instead.
    """
    return f"The {name!r} parameter of {owner} must be {expected}. Got {describe_value(value)} instead."


def describe_value(value: Any) -> str:
    """``'0.5' (a string)``, ``5 (an int)``, ``[1, 2] (a list)``: what came, shortly."""
    kinds = {bool: "a bool", int: "an int", float: "a number", str: "a string", list: "a list",
             tuple: "a list", dict: "a table", type(None): "nothing"}
    kind = next((v for k, v in kinds.items() if type(value) is k), None)
    if kind is None:
        noun = type(value).__name__
        kind = "a table" if isinstance(value, Mapping) else f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
    text = repr(value).replace("\n", " ")
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def _int(lo: int, hi: int) -> Interval:
    return Interval(int, lo, hi)


def _real(lo: float | None, hi: float | None, closed: str = "both") -> Interval:
    return Interval(numbers.Real, lo, hi, closed)


def _s(name: str, *constraints: Any, flag: str | None = None, unit: str | None = None,
       table: str | None = None, config: bool = True, owner: str = "AuditConfig") -> Setting:
    return Setting(name, constraints, flag, unit, config, table, owner=owner)


MAX_BOOTSTRAP = 100_000
MAX_BINS = 1_000
MAX_SAMPLES = 100_000

_CHECKS = CHECK_NAMES
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

# ---------------------------------------------------------------------------- check parameters
def _p(default: Any, *constraints: Any, unit: str | None = None, flag: str | None = None) -> Any:
    """A :class:`Params` field: its default and the constraints a value must meet (any one of them)."""
    return field(default=default, metadata={"constraints": constraints, "unit": unit, "flag": flag})


@dataclass(frozen=True)
class Params:
    """A check's parameters (``[<check>]`` in audit.toml): frozen, typed, validated when built.

    Each subclass names its ``check``; its fields hold the defaults, their metadata the
    constraints (see :func:`_p`). Lists become tuples. Build one from a TOML table with
    :meth:`from_mapping` (unknown keys are refused with the closest known one).
    """

    check: ClassVar[str] = ""

    def __post_init__(self) -> None:
        settings = self.settings()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            settings[f.name].check(value)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    @classmethod
    @functools.cache
    def settings(cls) -> dict[str, Setting]:
        """``{field name: Setting}``: the constraints of each field, owned by this check."""
        return {f.name: Setting(f.name, f.metadata["constraints"], f.metadata["flag"], f.metadata["unit"],
                                table=cls.check, owner=f"the {cls.check} check")
                for f in dataclasses.fields(cls)}

    @classmethod
    def from_mapping(cls: type[P], given: Mapping[str, Any] | None = None) -> P:
        """The defaults overridden by ``given`` (a ``[<check>]`` table); unknown keys refused."""
        given = dict(given or {})
        known = [f.name for f in dataclasses.fields(cls)]
        for key in given:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(sorted(known))}."
                raise ConfigError(f"Unknown {cls.check} parameter {key!r}.{hint}")
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


P = TypeVar("P", bound=Params)
_METHODS = ListOf(STRING, min_len=1)


@dataclass(frozen=True)
class PerformanceParams(Params):
    """``[performance]``."""

    check: ClassVar[str] = "performance"
    calibration_bins: int = _p(10, _int(1, MAX_BINS), unit="bins")


@dataclass(frozen=True)
class FairnessParams(Params):
    """``[fairness]``: which groups count, how intervals are drawn, what is judged."""

    check: ClassVar[str] = "fairness"
    reference_group: str | Mapping[str, str] | None = _p(None, STRING, Table(STRING), NONE, flag="--reference-group")
    min_group_size: int = _p(30, _int(1, 10**9), unit="rows")
    min_class_rows: int = _p(5, _int(0, 10**9), unit="rows")
    rate_interval: str = _p("jeffreys", StrOptions(("jeffreys", "wilson")))
    score_bins: int = _p(10, _int(1, MAX_BINS), unit="bins")
    max_intersection_order: int = _p(3, _int(1, 10))
    ll144_min_share: float = _p(0.02, _real(0, 1), unit="a share")
    four_fifths_threshold: float = _p(0.8, _real(0, 1), unit="a ratio")
    judge_intersections: bool = _p(False, BOOL)
    sweep: bool = _p(True, BOOL)
    chunk_rows: int = _p(1_000_000, _int(1, 10**9), unit="rows")


@dataclass(frozen=True)
class ExplanationsParams(Params):
    """``[explanations]``: methods, rows explained, sampling budgets, quality and sanity checks."""

    check: ClassVar[str] = "explanations"
    methods: str | tuple[str, ...] = _p("auto", STRING, _METHODS)  # or some of: lime, occlusion, smoothgrad, ...
    n_rows: int = _p(20, _int(1, MAX_SAMPLES), unit="rows")  # stratified sample incl. the most uncertain
    uncertain_share: float = _p(0.25, _real(0, 1), unit="a share")  # taken from the most uncertain predictions
    lime_samples: int = _p(2000, _int(1, MAX_SAMPLES), unit="samples per row")
    smoothgrad_samples: int = _p(50, _int(1, 10_000), unit="noise draws per row")
    noise_level: float = _p(0.15, _real(0, 100, "right"))
    n_repeats: int = _p(5, _int(1, 1_000))  # permutation repeats
    patch_size: int | None = _p(None, _int(1, 100_000), NONE, unit="pixels")  # images (default: a quarter side)
    stride: int | None = _p(None, _int(1, 100_000), NONE, unit="pixels")  # images: occlusion (default: half patch)
    quality_steps: int = _p(10, _int(1, MAX_BINS))  # points of the deletion / insertion curves
    stability_seeds: int = _p(1, _int(0, 100))  # extra seeds for rank stability (0: skip)
    top_k: int = _p(5, _int(1, 100_000))
    sp_picks: int = _p(3, _int(0, 1_000), unit="rows")  # SP-LIME representative rows
    heatmap_rows: int = _p(3, _int(0, 1_000), unit="rows")  # images: rows whose heatmaps are stored
    attention_query: str = _p("first", StrOptions(("first", "mean")))  # the query position read (first = CLS)
    mask_id: int = _p(0, _int(0, 2**62), unit="a token id")  # token id that occludes a token
    sanity_check: str | bool = _p("auto", StrOptions(("auto",)), BOOL)  # model-parameter randomisation
    sanity_rows: int = _p(8, _int(1, 10_000), unit="rows")  # rows re-explained at each step
    sanity_max_layers: int = _p(4, _int(1, 1_000), unit="layers")  # randomised from the output down
    sanity_threshold: float = _p(0.9, _real(-1, 1), unit="a Spearman correlation")  # flag above this


@dataclass(frozen=True)
class OODParams(Params):
    """``[ood]``: scores, ODIN's grid, detectors, thresholds and shift tests."""

    check: ClassVar[str] = "ood"
    scores: tuple[str, ...] = _p(("msp", "max_logit", "energy", "odin", "mahalanobis", "knn", "iforest"),
                                 ListOf(STRING))
    energy_temperature: float = _p(1.0, _real(0, 1e6, "right"))
    odin_temperatures: tuple[float, ...] = _p((1.0, 10.0, 100.0, 1000.0),
                                              ListOf(_real(0, 1e6, "right"), min_len=1, max_len=100))
    odin_epsilons: tuple[float, ...] = _p((0.0, 0.01, 0.02, 0.05, 0.1), ListOf(_real(0, 10), min_len=1, max_len=100))
    odin_gradient: str = _p("auto", STRING)
    odin_samples: int = _p(16, _int(1, 10_000), unit="samples")
    odin_tune_rows: int = _p(200, _int(1, 10**7), unit="rows")
    knn_k: int = _p(5, _int(1, 10_000))
    iforest_trees: int = _p(100, _int(1, 10_000), unit="trees")
    covariance: str = _p("auto", STRING)
    threshold_quantile: float = _p(0.95, _real(0.5, 1, "left"))
    shift_alpha: float = _p(0.05, _real(0, 1, "neither"))
    psi_bins: int = _p(10, _int(1, MAX_BINS), unit="bins")
    max_shift_features: int = _p(50, _int(1, 100_000))
    top_k: int = _p(10, _int(0, 100_000))
    histogram_bins: int = _p(20, _int(1, MAX_BINS), unit="bins")


@dataclass(frozen=True)
class UncertaintyParams(Params):
    """``[uncertainty]``: MC-dropout passes (adaptive by default), a committee, the review queue."""

    check: ClassVar[str] = "uncertainty"
    passes: str | int = _p("auto", StrOptions(("auto",)), _int(1, 10_000), unit="MC-dropout passes")
    mc_tolerance: float = _p(0.005, _real(0, 10, "right"), unit="nats")
    max_passes: int = _p(1000, _int(1, 100_000), unit="MC-dropout passes")
    min_passes: int = _p(150, _int(2, 100_000), unit="MC-dropout passes")
    mc_groups: int = _p(50, _int(2, 1_000), unit="groups of passes")
    models: tuple[str, ...] = _p((), ListOf(STRING, max_len=100))
    max_rows: int = _p(5000, _int(1, 10**7), unit="rows")
    top_k: int = _p(10, _int(0, 100_000))
    histogram_bins: int = _p(20, _int(1, MAX_BINS), unit="bins")


@dataclass(frozen=True)
class RobustnessParams(Params):
    """``[robustness]``: which perturbations, on how many rows, and the severity level the policy judges."""

    check: ClassVar[str] = "robustness"
    kinds: str | tuple[str, ...] = _p("auto", StrOptions(("auto",)), ListOf(STRING, min_len=1))  # auto: per modality
    max_rows: int | None = _p(None, _int(1, 10**7), NONE, unit="rows")  # None: 1000 tabular, 100 images
    policy_level: int = _p(3, _int(1, 5), unit="a severity level")  # the level flip_rate reads
    top_k: int = _p(10, _int(0, 100_000), unit="rows")  # most fragile rows listed


@dataclass(frozen=True)
class SlicesParams(Params):
    """``[slices]``: the loss, the lattice's depth and pruning, the predicates, the false-discovery rate."""

    check: ClassVar[str] = "slices"
    metric: str = _p("error", StrOptions(("error", "log_loss")))  # regression: absolute error whatever this says
    max_level: int = _p(3, _int(1, 3), unit="predicates per slice")
    min_size: int | None = _p(None, _int(1, 10**9), NONE, unit="rows")  # None: max(30, 1% of the rows)
    bins: int = _p(4, _int(2, 100), unit="quantile bins")
    max_categories: int = _p(10, _int(1, 1_000), unit="categories")
    fdr: float = _p(0.05, _real(0, 1, "neither"), unit="a false-discovery rate")
    top_k: int = _p(10, _int(1, 100_000), unit="slices")


PARAMS: dict[str, type[Params]] = {cls.check: cls for cls in (
    PerformanceParams, FairnessParams, ExplanationsParams, OODParams, UncertaintyParams, RobustnessParams,
    SlicesParams)}
"""Each check's :class:`Params` class, by check name (the order of ``catalog.CHECK_NAMES``)."""

CHECK_PARAMS: dict[str, dict[str, Setting]] = {name: cls.settings() for name, cls in PARAMS.items()}
"""Per-check parameters (``[<check>]`` tables) as settings (views of :data:`PARAMS`)."""

_BYTES = _int(1, 2**60)
CLI_SETTINGS: dict[str, Setting] = {s.name: s for s in (
    _s("timeout", _real(0, 10**7, "right"), flag="--timeout", unit="seconds", config=False, owner="audit-engine"),
    _s("max_model_bytes", _BYTES, flag="--max-model-bytes", unit="bytes, e.g. 2GiB", config=False,
       owner="audit-engine"),
    _s("max_memory", _BYTES, flag="--max-memory", unit="bytes, e.g. 8GiB", config=False, owner="audit-engine"),
)}
"""Flags that are not config keys (limits of one run)."""


# ---------------------------------------------------------------------------- validation
def validate_config(config: Any) -> dict[str, Params]:
    """Check every top-level key of ``config`` and build each check's :class:`Params`.

    Returns ``{check: Params}``. Raises :class:`ConfigError`: one sentence naming the
    parameter, what it must be, what came and the fix (or the unknown key and the closest known).
    """
    for name, setting in SETTINGS.items():
        value = getattr(config, name, None)
        if name == "policy" and hasattr(value, "rules"):
            continue  # an already-built Policy (its rules are validated where they are parsed)
        if hasattr(config, name):
            setting.check(value)
    return {check: cls.from_mapping(getattr(config, check, None)) for check, cls in PARAMS.items()}


# ---------------------------------------------------------------------------- public functions
MODEL = (PATH, TypeName(("OnnxModel",), "an OnnxModel"))
DATA = (PATH, TypeName(("AuditData", "DataFrame", "ndarray"), "an AuditData, a pandas DataFrame or a numpy array"))
COLUMNS = (STRING, ListOf(STRING))
SEED = (_int(0, 2**32 - 1), TypeName(("Generator",), "a numpy Generator"))
_BYTES_PER_CALL = _int(1, 2**40)
_PROVIDERS = StrOptions(("auto", "cpu", "cuda"))

API_PARAMS: dict[str, dict[str, tuple[Any, ...]]] = {
    "load_model": {"path": (PATH,), "provider": (_PROVIDERS,), "output": (STRING, NONE),
                   "output_kind": (StrOptions(_OUTPUT_KINDS), NONE), "threads": (_int(1, 1024), NONE),
                   "max_bytes": (_int(1, 2**60), NONE), "allow_custom_ops": (BOOL,), "onnx_checker": (BOOL,)},
    "load_data": {"source": DATA, "target": (STRING, NONE), "sensitive": (*COLUMNS,), "features": (*COLUMNS, NONE),
                  "y": (TypeName(("ndarray", "Series", "list"), "an array of target values"), NONE)},
    "audit": {"model": MODEL, "data": DATA, "config": (TypeName(("AuditConfig",), "an AuditConfig"), NONE),
              "reference": (*DATA, NONE), "ood_data": (*DATA, NONE)},
    "explain": {"model": MODEL, "data": DATA, "method": (STRING,), "target": (_int(0, 2**31), NONE),
                "runner_up": (BOOL,), "seed": SEED, "backend": (StrOptions(("engine", "lime")),), "background": (*DATA, NONE),
                "features": (ListOf(STRING), NONE), "confidence": (_real(0.5, 1, "left"),),
                "max_chunk_bytes": (_BYTES_PER_CALL,)},
    "explain_pathwise": {"model": MODEL, "data": DATA, "target": (_int(0, 2**31), NONE), "runner_up": (BOOL,),
                         "features": (ListOf(STRING), NONE), "tolerance": (_real(0, 1, "neither"),),
                         "max_dense_entries": (_int(1, 2**40),),
                         "fallback": (StrOptions(("finite_differences",)), NONE), "step": (_real(0, 1, "neither"),)},
    "uncertainty": {"model": MODEL, "rows": DATA, "method": (StrOptions(("mc_dropout", "committee")),),
                    "passes": (StrOptions(("auto",)), _int(2, 10_000)), "mc_tolerance": (_real(0, 10, "right"),),
                    "max_passes": (_int(1, 100_000),),
                    "models": (ListOf(OneOf(MODEL, "a model (a path or an OnnxModel)")), NONE),
                    "seed": (*SEED, NONE), "features": (ListOf(STRING), NONE), "provider": (_PROVIDERS,),
                    "max_chunk_bytes": (_BYTES_PER_CALL,)},
    "render": {"result": (PATH, TypeName(("AuditResult", "dict"), "an AuditResult or an audit.json dict")),
               "path": (PATH,), "template": (STRING,)},
}
API_PARAMS["prepare"] = API_PARAMS["audit"]
"""Each public function's declared parameters (as :func:`validate_params` checks them)."""


def validate_params(owner: str) -> Callable[[F], F]:
    """Decorator: check the arguments of the public function ``owner`` against :data:`API_PARAMS`
    before it runs, with the one wording (scikit-learn's ``validate_params``).

    Only the parameters declared there are checked; None for a parameter whose default is
    None is always accepted.
    """
    declared = {name: Setting(name, constraints, config=False, owner=owner)
                for name, constraints in API_PARAMS[owner].items()}

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return func(*args, **kwargs)  # Python's own message for a missing / unexpected argument
            for name, value in bound.arguments.items():
                setting = declared.get(name)
                if setting is None:
                    continue
                default = signature.parameters[name].default
                if value is None and default is None:
                    continue
                setting.check(value)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


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
        raise ConfigError(invalid(name, setting.owner, setting.expected(), text) + setting.where())
    value = float(match.group(1)) * _UNITS[unit]
    return check_setting(name, int(value) if math.isfinite(value) and value < 2**62 else value)


def flags(settings: Sequence[Setting] | None = None) -> list[str]:
    """Every flag the table names (for tests that cover each flag)."""
    pool = list(SETTINGS.values()) + list(CLI_SETTINGS.values()) + [
        s for table in CHECK_PARAMS.values() for s in table.values()
    ] if settings is None else list(settings)
    return sorted({s.flag for s in pool if s.flag})
