"""Each explanation method's parameters: one frozen, typed settings class per method.

``LimeSettings(n_samples=5000, ...)`` and the others hold what a caller may set, with
the defaults every entry point shares (``explain(**params)``, the audit's
``[explanations]`` table, an :class:`~.protocol.Explainer` called directly). Which of a
class's fields a method takes depends on the data (:func:`accepted`): image LIME takes
``patch_size``, ``segmentation`` and ``n_segments``; tabular occlusion ``baseline`` and
``n_samples``, image occlusion ``patch_size``, ``stride`` and ``baseline``, token
occlusion ``replacement``. :func:`resolve` checks a mapping of parameters against that
list and the values' types and ranges, with one wording for every method.

``n_samples`` is the one name of the sample count of every sampling method (LIME
perturbations, SmoothGrad noise draws, occlusion background draws).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..data.space import FeatureSpace
from ..errors import ConfigError
from ..model.relu import MAX_DENSE_ENTRIES
from ._common import check_float, check_int
from ._image import spatial_shape
from .pathwise import TOLERANCE

__all__ = ["LimeSettings", "SmoothGradSettings", "OcclusionSettings", "PermutationSettings", "PathwiseSettings",
           "AttentionSettings", "Settings", "resolve", "image_patch"]

S = TypeVar("S", bound="Settings")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Base of the per-method settings (frozen: ``dataclasses.replace`` makes a changed copy)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class LimeSettings(Settings):
    """LIME (Ribeiro et al. 2016). ``kernel_width`` None: the lime package's default for the
    data kind (tabular ``0.75·sqrt(d)``, images 0.25, text 25). Images only: ``patch_size``
    (None: a quarter of the shorter side), ``segmentation`` (``auto`` | ``slic`` | ``grid``),
    ``n_segments``."""

    n_samples: int = 5000
    kernel_width: float | None = None
    alpha: float = 1.0
    n_folds: int = 10
    patch_size: int | None = None
    segmentation: str = "auto"
    n_segments: int = 50


@dataclass(frozen=True, kw_only=True)
class SmoothGradSettings(Settings):
    """SmoothGrad (Smilkov et al. 2017) by finite differences: ``estimator`` ``auto`` |
    ``central`` | ``stein``; ``noise_level`` a share of each feature's spread; ``step`` the
    finite-difference step."""

    n_samples: int = 50
    noise_level: float = 0.15
    estimator: str = "auto"
    step: float = 1e-2


@dataclass(frozen=True, kw_only=True)
class OcclusionSettings(Settings):
    """Occlusion (Zeiler & Fergus 2014). ``baseline`` None: ``mean`` for tabular data, ``zero``
    for images; tabular ``sample`` draws ``n_samples`` background rows. Images: ``patch_size``
    (None: a quarter of the shorter side), ``stride`` (None: half the patch). Tokens:
    ``replacement`` ``pad`` | ``mask``."""

    baseline: str | float | tuple[float, ...] | None = None
    n_samples: int = 50
    patch_size: int | None = None
    stride: int | None = None
    replacement: str = "pad"


@dataclass(frozen=True, kw_only=True)
class PermutationSettings(Settings):
    """Permutation importance (Breiman 2001): ``metric`` ``auto`` (log loss, regression MSE)."""

    n_repeats: int = 5
    metric: str = "auto"


@dataclass(frozen=True, kw_only=True)
class PathwiseSettings(Settings):
    """Pathwise explanation of ReLU networks (Lim et al. 2024): ``fallback`` None or
    ``finite_differences`` (with ``step``); ``tolerance`` of the numpy forward pass against
    the model; ``max_dense_entries`` the largest dense matrix a layer is read into."""

    fallback: str | None = None
    step: float = 1e-2
    tolerance: float = TOLERANCE
    max_dense_entries: int = MAX_DENSE_ENTRIES


@dataclass(frozen=True, kw_only=True)
class AttentionSettings(Settings):
    """Attention rollout (Abnar & Zuidema 2020): ``query`` ``first`` (CLS) or ``mean``;
    ``mask_id`` the token id that occludes a token for the agreement check."""

    query: str = "first"
    mask_id: int = 0


def image_patch(space: FeatureSpace) -> int:
    """Default image patch / superpixel side: a quarter of the shorter spatial side."""
    return max(1, min(spatial_shape(space)) // 4)


_CHOICES = {
    "segmentation": (("auto", "slic", "grid"), "Unknown image segmentation {v!r}; use 'auto', 'slic' or 'grid'."),
    "fallback": ((None, "finite_differences"),
                 "The 'fallback' parameter must be None or 'finite_differences'; got {v!r}."),
    "query": (("first", "mean"), "The 'query' parameter must be 'first' (the CLS position) or 'mean'; got {v!r}."),
    "replacement": (("pad", "mask"), "Unknown token replacement {v!r}; use 'pad' or 'mask'."),
    "estimator": (("auto", "central", "stein"), "Unknown SmoothGrad estimator {v!r}; use 'auto', 'central' or 'stein'."),
}
_INTS = ("n_samples", "n_folds", "n_repeats", "patch_size", "stride", "n_segments", "max_dense_entries")


def _check(key: str, value: Any) -> Any:
    """One parameter's value, checked (one wording for every method)."""
    if key in _CHOICES:
        allowed, message = _CHOICES[key]
        if value not in allowed:
            raise ConfigError(message.format(v=value))
        return value
    if key in _INTS:
        return None if value is None else check_int(key, value)
    if key == "mask_id":
        return check_int(key, value, minimum=0)
    if key == "noise_level" or key == "alpha":
        return check_float(key, value)
    if key in ("step", "tolerance") or (key == "kernel_width" and value is not None):
        return check_float(key, value, low_open=True)
    if key == "baseline" and not isinstance(value, (str, type(None), int, float)):
        try:
            return tuple(float(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"The 'baseline' parameter must be a name, a number or one value per feature; "
                              f"got {value!r}.") from exc
    return value


def resolve(cls: type[S], method: str, keys: tuple[str, ...], given: S | Mapping[str, Any] | None,
            defaults: Mapping[str, Any] | None = None) -> S:
    """``cls`` from ``given`` (a ``cls`` or a mapping of some of ``keys``), over ``defaults``.

    Raises ConfigError naming the parameters ``method`` does not take (for this data) and
    the ones it does, or the first value out of its type or range.
    """
    if isinstance(given, cls):
        given = {k: getattr(given, k) for k in keys}
    given = dict(given or {})
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise ConfigError(
            f"Method {method!r} does not take parameter(s) {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(sorted(keys))}."
        )
    merged = {**dict(defaults or {}), **given}
    return cls(**{k: _check(k, v) for k, v in merged.items()})
