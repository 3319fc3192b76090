"""MC dropout through the Evaluator (Gal & Ghahramani 2016).

The model's Dropout nodes are rewritten into mask inputs
(:mod:`audit_engine.model.dropout`); a :class:`LocalEvaluator` over the rewritten session
feeds each pass's masks next to the data, so every pass is an ordinary, counted,
chunked Evaluator call. Pass t draws its masks from its own child stream
``SeedSequence(seed).spawn(T)[t]``: the same seed gives the same numbers, and the first
T passes are the same whatever the total.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..data.space import FeatureSpace
from ..errors import InvalidValueError
from ..params import invalid
from ..evaluator.binding import OutputBinding
from ..evaluator.local import DEFAULT_CHUNK_BYTES, LocalEvaluator
from ..model.dropout import draw_masks, mc_dropout_model
from ..model.loader import OnnxModel

__all__ = ["MaskedSpace", "MCDropoutSampler", "seed_entropy"]


class MaskedSpace:
    """A FeatureSpace whose ``feeds`` also carry the current dropout masks."""

    def __init__(self, space: FeatureSpace) -> None:
        self._space = space
        self.masks: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._space, name)

    def feeds(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {**self._space.feeds(rows), **self.masks}


class MCDropoutSampler:
    """T stochastic passes of a model with Dropout.

    Parameters
    ----------
    model: the loaded OnnxModel.
    space: the FeatureSpace rows live in.
    binding: how the model's output is read (``LocalEvaluator.binding`` of the audit's
        Evaluator); the rewritten copy reads its output the same way.
    max_chunk_bytes: the Evaluator's memory budget per call.

    Attributes
    ----------
    evaluator: the LocalEvaluator over the rewritten session (its ``stats`` count the passes).
    sites: the rewritten Dropout nodes.
    """

    def __init__(self, model: OnnxModel, space: FeatureSpace, *, binding: OutputBinding,
                 max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if not isinstance(binding, OutputBinding):
            raise InvalidValueError("MC dropout needs the model's output binding; pass binding=LocalEvaluator(...).binding.")
        rewritten, self.sites = mc_dropout_model(model)
        self.space = MaskedSpace(space)
        self.evaluator = LocalEvaluator(rewritten, self.space, max_chunk_bytes=max_chunk_bytes,  # type: ignore[arg-type]
                                        binding=binding)

    @property
    def sites_info(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.sites]

    def passes(self, rows: np.ndarray, *, passes: int, seed: int | np.random.Generator | None = 0) -> Iterator[np.ndarray]:
        """Yield each pass's probabilities ``(n, k)`` for ``rows``."""
        for rng in _streams(seed, passes):
            self.space.masks = draw_masks(self.sites, rng)
            try:
                yield self.evaluator.predict(rows)
            finally:
                self.space.masks = {}

    def block(self, rows: np.ndarray, first: int, count: int, *, entropy: int) -> Iterator[np.ndarray]:
        """Yield the probabilities ``(n, k)`` of passes ``first .. first + count − 1``.

        Pass t's masks come from ``SeedSequence(entropy).spawn(·)[t]`` — the same stream
        :meth:`passes` gives pass t — so adding passes in blocks changes no earlier pass.
        ``entropy``: :func:`seed_entropy` of the seed.
        """
        for t in range(first, first + count):
            rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(t,)))
            self.space.masks = draw_masks(self.sites, rng)
            try:
                yield self.evaluator.predict(rows)
            finally:
                self.space.masks = {}

    def sample(self, rows: np.ndarray, *, passes: int, seed: int | np.random.Generator | None = 0) -> np.ndarray:
        """Probabilities of every pass, ``(passes, n, k)``."""
        if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 2:
            from ..errors import ConfigError

            raise ConfigError(invalid("passes", "MC dropout", "an int in the range [2, inf)", passes))
        return np.stack(list(self.passes(rows, passes=int(passes), seed=seed)))


def seed_entropy(seed: int | np.random.Generator | None) -> int:
    """The SeedSequence entropy the passes' streams are spawned from (draws once from a Generator)."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    return 0 if seed is None else int(seed)


def _streams(seed: int | np.random.Generator | None, n: int) -> list[np.random.Generator]:
    seq = np.random.SeedSequence(seed_entropy(seed))
    return [np.random.default_rng(s) for s in seq.spawn(n)]

