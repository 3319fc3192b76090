"""OutputBinding: how the Evaluator reads a model's chosen output (kind, task, classes).

The model file says what it can (a forced ``--output-kind``, ZipMap / ai.onnx.ml class
labels); the rest is resolved when data is bound, by running a few real rows
(:class:`~audit_engine.evaluator.local.LocalEvaluator`). The result of that resolution
lives here, in the Evaluator, never written back into the :class:`OnnxModel`: the model
stays the file's facts, and the ``model`` block of audit.json is those facts plus this
binding (:meth:`OutputBinding.model_block`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.outputs import NORMALISATION, logit_source

__all__ = ["OutputBinding"]


@dataclass(frozen=True)
class OutputBinding:
    """The resolved reading of one model output.

    Attributes
    ----------
    output: the output tensor's name.
    output_kind: one of ``model.outputs.OUTPUT_KINDS`` (``regression`` for values).
    classes: labels of the probability columns in order (None for regression).
    classes_source: ``graph`` | ``config`` | ``guessed ...`` (None for regression).
    """

    output: str
    output_kind: str
    classes: tuple[Any, ...] | None = None
    classes_source: str | None = None

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return "regression" if self.output_kind == "regression" else "classification"

    @property
    def normalisation(self) -> str:
        """How the output becomes probabilities, in words."""
        return NORMALISATION.get(self.output_kind, "inferred from outputs")

    @property
    def logit_source(self) -> str:
        """``"logits"`` or ``"log_probabilities"``: what ``Evaluator.logits`` returns."""
        return logit_source(self.output_kind)

    @property
    def n_outputs(self) -> int:
        """Columns of ``Evaluator.predict``: 1 for regression, else the number of classes."""
        return 1 if self.classes is None else len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """The binding's keys of the audit.json ``model`` block."""
        return {
            "output": self.output,
            "output_kind": self.output_kind,
            "normalisation": self.normalisation,
            "task": self.task,
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "classes_source": self.classes_source,
        }

    def model_block(self, file_facts: Mapping[str, Any]) -> dict[str, Any]:
        """``file_facts`` (``OnnxModel.to_dict()``) with the binding's keys replaced, in the same order."""
        mine = self.to_dict()
        out = {k: mine.get(k, v) for k, v in file_facts.items()}
        out.update({k: v for k, v in mine.items() if k not in out})
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
