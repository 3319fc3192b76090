"""Output normalisation: every classifier becomes an (n, n_classes) probability matrix.

The kinds of model output the engine understands, and how each becomes probabilities:

================  =====================================  ===============================
kind              raw output                             normalisation
================  =====================================  ===============================
probabilities     (n, k) rows on the simplex              as given
zipmap            skl2onnx ZipMap seq(map(label, p))      graph rewritten to its (n, k) input
logits            (n, k) unnormalised scores              softmax
log_probabilities (n, k) log-softmax                      exp
probability       (n,) or (n, 1) p(positive class)        [1 - p, p]
logit             (n,) or (n, 1) single logit             sigmoid, then [1 - p, p]
regression        (n,) or (n, 1) real values              identity, shape (n, 1)
================  =====================================  ===============================

``to_logits`` gives what out-of-distribution scores need: logits when the model
gives them, else log-probabilities (the kind says which).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "OUTPUT_KINDS",
    "NORMALISATION",
    "normalise",
    "to_logits",
    "logit_source",
    "guess_kind",
    "PROBABILITY_TOLERANCE",
    "repair_probabilities",
]

OUTPUT_KINDS = (
    "probabilities",
    "zipmap",
    "logits",
    "log_probabilities",
    "probability",
    "logit",
    "regression",
)

NORMALISATION = {
    "probabilities": "probabilities as given",
    "zipmap": "ZipMap probabilities (graph rewritten to the probability tensor)",
    "logits": "softmax of logits",
    "log_probabilities": "exp of log-probabilities",
    "probability": "single probability of the positive class, as [1 - p, p]",
    "logit": "sigmoid of a single logit, as [1 - p, p]",
    "regression": "identity (regression)",
}

_EPS = 1e-12
PROBABILITY_TOLERANCE = 1e-5
"""Largest float32 rounding error of a probability output that is repaired silently:
row sums within 1 ± this, values within [−this, 1 + this]."""


_KEEP = 1e-6
PROBABILITY_NEAR = 0.05
"""Rows of values in [−this, 1 + this] whose sums all lie within 1 ± this are read as (damaged)
probabilities, never as logits: :func:`repair_probabilities` then renormalises them within
float32 rounding or refuses them."""


def _row_sum_min_max(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row sums, minima and maxima of ``(n, k)``. For a few columns, column by column:
    numpy's reductions over a short last axis cost ~10x a pass over a column; the sum
    adds the columns in the same order, so it is bit-identical to ``p.sum(axis=1)``."""
    if p.shape[1] > 8:
        return p.sum(axis=1), p.min(axis=1), p.max(axis=1)
    sums, low, high = p[:, 0].copy(), p[:, 0].copy(), p[:, 0].copy()
    for c in range(1, p.shape[1]):
        col = p[:, c]
        sums += col
        np.minimum(low, col, out=low)
        np.maximum(high, col, out=high)
    return sums, low, high


def repair_probabilities(p: np.ndarray, *, tolerance: float = PROBABILITY_TOLERANCE) -> np.ndarray:
    """Clip float32 rounding (values a few ulp outside [0, 1]) and renormalise those rows.

    Parameters
    ----------
    p: ``(n, k)`` probabilities as the model returned them (float64).
    tolerance: the largest deviation treated as rounding; anything larger is an error.

    Raises
    ------
    OutputError: a row sums to more than ``tolerance`` away from 1, or a value lies
        further than ``tolerance`` outside [0, 1], or is NaN/inf: the output is not
        probabilities (choose ``output_kind = "logits"`` or another output).
    """
    from ..errors import OutputError

    if p.size == 0:
        return p
    if not np.isfinite(p).all():
        i = int(np.flatnonzero(~np.isfinite(p).all(axis=1))[0])
        raise OutputError(
            f"The model returned NaN/inf probabilities (first at row {i}); check the input values "
            "(missing values the model cannot handle) or the exported graph."
        )
    sums, low, high = _row_sum_min_max(p)
    bad_sum = np.abs(sums - 1.0) > tolerance
    bad_range = (low < -tolerance) | (high > 1.0 + tolerance)
    bad = bad_sum | bad_range
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if bad_range[i]:
            j = int(np.argmax(np.abs(p[i] - np.clip(p[i], 0.0, 1.0))))
            what = f"holds the value {p[i, j]:.9g} in column {j}, outside [0, 1]"
        else:
            what = f"sums to {sums[i]:.9g}"
        raise OutputError(
            f"The model's output is read as probabilities, but row {i} {what} (values in "
            f"[{p[i].min():.9g}, {p[i].max():.9g}]; more than float32 rounding, {tolerance:g}, from a "
            "probability vector); check the exported graph, pass --output-kind logits if these are scores, "
            "or choose another output."
        )
    # Rows inside [0, 1] whose sum float32 rounding leaves within _KEEP of 1 stay exactly
    # as onnxruntime returned them (their float32 values also add up exactly in float64,
    # so additive statistics do not depend on chunking); the others are clipped and
    # renormalised.
    fix = (np.abs(sums - 1.0) > _KEEP) | (low < 0.0) | (high > 1.0)
    if not fix.any():
        return p
    q = p.copy()
    clipped = np.clip(q[fix], 0.0, 1.0)
    q[fix] = clipped / clipped.sum(axis=1, keepdims=True)
    return q


def _as_2d(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        return raw[:, None]
    return raw.reshape(raw.shape[0], -1)


def normalise(raw: np.ndarray, kind: str, *, tolerance: float = PROBABILITY_TOLERANCE) -> np.ndarray:
    """Turn a raw output into probabilities (classifiers) or (n, 1) values (regression).

    Parameters
    ----------
    raw: array (n,) or (n, k) as the model returned it.
    kind: one of :data:`OUTPUT_KINDS`.
    tolerance: rounding error of a probability output repaired silently (float16
        outputs need a wider one than float32).

    Returns
    -------
    float64 array (n, n_classes) whose rows sum to 1, or (n, 1) for regression.
    Probability outputs off by float32 rounding are repaired
    (:func:`repair_probabilities`); larger deviations raise ``OutputError``.
    """
    z = _as_2d(raw)
    if kind in ("probabilities", "zipmap"):
        return repair_probabilities(z, tolerance=tolerance)
    if kind == "regression":
        return z
    if kind == "logits":
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if kind == "log_probabilities":
        return np.exp(z)
    if kind == "probability":
        p = np.clip(z[:, :1], 0.0, 1.0)
        return np.hstack([1.0 - p, p])
    if kind == "logit":
        p = 1.0 / (1.0 + np.exp(-z[:, :1]))
        return np.hstack([1.0 - p, p])
    raise ValueError(f"unknown output kind {kind!r}")


def to_logits(raw: np.ndarray, kind: str) -> np.ndarray:
    """Scores on the logit scale, (n, k): logits when the model gives them, else log p.

    For a single logit ``z`` the two-class logits are ``[0, z]`` (softmax of which is
    ``[1 - sigmoid(z), sigmoid(z)]``), so max-logit and energy stay consistent.
    """
    z = _as_2d(raw)
    if kind == "logits":
        return z
    if kind == "log_probabilities":
        return z
    if kind == "logit":
        return np.hstack([np.zeros_like(z[:, :1]), z[:, :1]])
    if kind == "regression":
        return z
    return np.log(np.clip(normalise(raw, kind), _EPS, None))


def logit_source(kind: str) -> str:
    """Say where :func:`to_logits` values come from: ``"logits"`` or ``"log_probabilities"``."""
    return "logits" if kind in ("logits", "logit") else "log_probabilities"


_EMBEDDING_PRODUCERS = frozenset({
    "Relu", "LeakyRelu", "Gelu", "Tanh", "Elu", "Selu", "Softplus", "HardSigmoid", "Mish",
    "LpNormalization", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
    "ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Div", "Concat",
})
_SCORE_CONSUMERS = frozenset({"ArgMax", "TopK", "Softmax", "LogSoftmax", "Sigmoid"})


def embedding_reason(k: int, *, producer_op: str | None, consumers: tuple[str, ...] = ()) -> str | None:
    """Why a float ``(n, k)`` output that is not on the simplex looks like an embedding, or None.

    Conservative: logits are what a linear head (Gemm / MatMul / Add) writes, or what an
    ArgMax / TopK / Softmax reads. An output that other nodes consume further (an
    intermediate layer exported as an extra output) or that a normalisation, pooling
    or activation node writes, is a representation, not class scores — unless an
    ArgMax/Softmax consumes it.
    """
    if k < 2 or any(c in _SCORE_CONSUMERS for c in consumers):
        return None
    if consumers:
        return (f"the output feeds further nodes of the graph ({', '.join(sorted(set(consumers)))}), so it is an "
                "intermediate representation")
    if producer_op in _EMBEDDING_PRODUCERS:
        return f"it is written by a {producer_op} node, not by a linear head (Gemm/MatMul/Add) as logits are"
    return None


def guess_kind(
    sample: np.ndarray, *, producer_op: str | None, binary_target: bool | None,
    consumers: tuple[str, ...] = (),
) -> str:
    """Infer the output kind from the producing node and a sample of real outputs.

    Parameters
    ----------
    sample: raw outputs on a few real rows, (m,) or (m, k).
    producer_op: op_type of the node that writes the output (Softmax, Sigmoid, ...).
    binary_target: whether the audit's target has two values (None when unknown).
    consumers: op types of the nodes that read the output inside the graph.

    Raises
    ------
    OutputError: the output looks like an embedding (:func:`embedding_reason`).
    """
    z = _as_2d(sample)
    k = z.shape[1]
    finite = np.all(np.isfinite(z))
    in_unit = finite and z.size > 0 and float(z.min()) >= -PROBABILITY_TOLERANCE \
        and float(z.max()) <= 1 + PROBABILITY_TOLERANCE
    if k >= 2:
        if producer_op == "Softmax":
            return "probabilities"
        if producer_op == "LogSoftmax":
            return "log_probabilities"
        sums = z.sum(axis=1) if finite and z.size else np.array([np.nan])
        # Rows that add up to 1 are probabilities, never logits: most rows within float32
        # rounding whatever the values (negative "probabilities" and the odd row that does
        # not add up are then refused by repair_probabilities), or every row and value within
        # PROBABILITY_NEAR of the simplex (rows summing to 1.001, a one-hot row holding 1.001,
        # are refused there too, as the README promises, instead of being read as logits and
        # softmaxed).
        if finite and np.mean(np.abs(sums - 1.0) <= PROBABILITY_TOLERANCE) >= 0.5:
            return "probabilities"
        near_unit = finite and z.size > 0 and float(z.min()) >= -PROBABILITY_NEAR \
            and float(z.max()) <= 1 + PROBABILITY_NEAR
        if near_unit and np.all(np.abs(sums - 1.0) <= PROBABILITY_NEAR):
            return "probabilities"
        reason = embedding_reason(k, producer_op=producer_op, consumers=consumers)
        if reason:
            from ..errors import OutputError

            raise OutputError(
                f"The audited output is a [N, {k}] float tensor that looks like an embedding, not logits: {reason}; "
                "choose the model's class-score output with --output, or pass --output-kind logits if it is logits."
            )
        return "logits"
    if producer_op == "Sigmoid":
        return "probability"
    if binary_target:
        return "probability" if in_unit else "logit"
    return "regression"
