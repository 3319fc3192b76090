"""The ``ood`` check: how well the model's outputs and the data reveal out-of-distribution rows.

What it computes (every score: higher = more out of distribution):

- output scores from ``ctx.evaluator.logits`` (logits, or log-probabilities when the
  model gives probabilities — ``logit_source`` in the section says which): ``msp``,
  ``max_logit``, ``energy`` (:mod:`.output_scores`), ``odin`` (:mod:`.odin`, tuned on
  the reference only);
- data detectors ``mahalanobis``, ``knn``, ``iforest`` (:mod:`.detectors`), cross-fitted
  on the reference: the reference is split in two folds, each fold is scored by the
  detector fitted on the other, and every other row by the detector of a randomly drawn
  fold — so reference and new rows get scores from the same distribution, never a
  distance of a row to itself;
- the detectors run on the feature columns (tabular), else on the model's tapped
  penultimate features or a PCA of the input (:mod:`.detector_space`; ``detector_space``
  in the section says which);
- per-feature shift tests of every audited row against ``--reference`` (:mod:`.shift`), from the
  check's :class:`~.shift.ShiftTally`, fed chunk by chunk whatever the source.

The reference (in-distribution) rows are ``--reference`` when given, else the audited
data itself (``reference.source`` says which; shift tests are then skipped — a dataset
does not drift from itself). Per score: the threshold at the reference's 95th percentile,
the fraction of audited rows above it, and with ``--ood-data`` the AUROC and FPR at 95%
TPR of reference vs OOD rows with bootstrap intervals (:mod:`.evaluation`). The most
out-of-distribution audited rows are listed (mean percentile of their scores among the
reference scores).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import AuditContext, CheckOutcome
from ..errors import ConfigError, SchemaMismatchError
from ..params import OODParams
from ..result import to_jsonable
from ..results.ood import (DetectorSpace, OODReference, OODScore, OODResult, RocCurve, ScoreHistogram, ShiftSummary,
                           ShiftTest, UnusualRow)
from .detector_space import detector_space
from .detectors import DETECTORS, make_detector
from .evaluation import flagged_fraction, histogram, reference_threshold, roc_points, separation
from .odin import ODIN
from .output_scores import output_scores
from .shift import ShiftTally

__all__ = ["Params", "ALL_SCORES", "applies", "tally", "run"]

ALL_SCORES = ("msp", "max_logit", "energy", "odin", "mahalanobis", "knn", "iforest")
OUTPUT_BASED = ("msp", "max_logit", "energy", "odin")
SPACE_DETECTORS = ("mahalanobis", "knn")  # distance-based: run in the detector space

Params = OODParams


def applies(ctx: Any) -> str | None:
    """The check runs on every model and dataset (output scores only for classifiers)."""
    if ctx.rows.shape[0] < 4 and ctx.reference_rows is None:
        return f"the audited data has {ctx.rows.shape[0]} rows; OOD detectors need at least 4 reference rows"
    return None


def _validate(params: OODParams) -> list[str]:
    scores = list(params.scores)
    unknown = [s for s in scores if s not in ALL_SCORES]
    if unknown:
        raise ConfigError(f"Unknown ood score(s) {unknown}; use some of: {', '.join(ALL_SCORES)}.")
    return scores


def tally(ctx: AuditContext) -> ShiftTally | None:
    """The shift tests' tally of every audited row against ``--reference`` (None without one)."""
    if ctx.reference_rows is None:
        return None
    params = ctx.config.params("ood")
    d = int(np.prod(ctx.reference_rows.shape[1:]))
    mask = ctx.space.categorical_mask if ctx.space.features else np.zeros(d, dtype=bool)
    return ShiftTally(ctx.reference_rows, mask, int(params.psi_bins))


def run(ctx: AuditContext) -> CheckOutcome:
    params = ctx.config.params("ood")
    wanted = _validate(params)
    cfg = ctx.config
    current = ctx.rows
    own_reference = ctx.reference_rows is None
    reference = current if own_reference else ctx.reference_rows
    ood = ctx.ood_rows
    for name, other in (("reference", reference), ("OOD", ood)):
        if other is not None and other.shape[1:] != current.shape[1:]:
            raise SchemaMismatchError(
                f"The {name} data has rows of shape {list(other.shape[1:])}; the audited data has "
                f"{list(current.shape[1:])}; pass {name} data with the same columns or array shape."
            )
    n_ref, n_cur = reference.shape[0], current.shape[0]
    skipped: dict[str, str] = {}
    # ------------------------------------------------------------- model outputs (one call)
    scores: dict[str, dict[str, np.ndarray]] = {}  # name -> {"reference", "current", "ood"}
    params_out: dict[str, dict[str, Any]] = {}
    classification = ctx.task == "classification"
    logit_source = ctx.evaluator.logit_source if classification else None
    if classification and any(s in wanted for s in OUTPUT_BASED):
        parts = [current] + ([] if own_reference else [reference]) + ([] if ood is None else [ood])
        logits = ctx.evaluator.logits(np.concatenate(parts))
        split = _splitter(n_cur, None if own_reference else n_ref, None if ood is None else ood.shape[0])
        named, skip = output_scores(logits, logit_source=logit_source, temperature=float(params.energy_temperature))
        skipped.update({k: v for k, v in skip.items() if k in wanted})
        for name, values in named.items():
            if name in wanted:
                scores[name] = split(values)
        params_out["energy"] = {"temperature": float(params.energy_temperature)}
        if "odin" in wanted and not ctx.space.has_continuous:  # ODIN's input step is a gradient step
            skipped["odin"] = ("token ids are discrete; gradients do not apply" if ctx.space.text is not None
                               else "every model input is discrete; ODIN's gradient step does not apply")
        elif "odin" in wanted:
            before = ctx.evaluator.stats.copy()
            rng = ctx.rng("ood", "odin")
            fit_rows = reference[rng.permutation(n_ref)[: max(2, n_ref // 2)]]
            odin = ODIN(ctx.evaluator, temperatures=params.odin_temperatures, epsilons=params.odin_epsilons,
                        gradient=params.odin_gradient, n_samples=int(params.odin_samples),
                        tune_rows=int(params.odin_tune_rows), seed=rng).fit(fit_rows)
            tuned = ctx.evaluator.stats.since(before)
            all_rows = np.concatenate(parts)
            scores["odin"] = split(odin.score(all_rows, logits=logits))
            used = ctx.evaluator.stats.since(before)
            params_out["odin"] = {**odin.to_dict(), "tuning_evaluations": tuned.to_dict(), "evaluations": used.to_dict()}
    elif not classification:
        for name in OUTPUT_BASED:
            if name in wanted:
                skipped[name] = "output scores need a classifier; this model is a regression"
    # ------------------------------------------------------------- data detectors (cross-fitted)
    rng = ctx.rng("ood", "detectors")
    folds = rng.permutation(n_ref) % 2
    extra = [] if own_reference else [current]
    extra += [] if ood is None else [ood]
    extra_rows = np.concatenate(extra) if extra else np.empty((0, *current.shape[1:]))
    extra_fold = rng.integers(0, 2, size=extra_rows.shape[0])
    mask = ctx.space.categorical_mask if ctx.space.features else None
    det_space: dict[str, Any] | None = None
    if any(s in DETECTORS for s in wanted):
        det_reference, det_extra, det_space = detector_space(ctx, reference, [extra_rows] if extra_rows.shape[0] else [])
        det_extra_rows = det_extra[0] if det_extra else np.empty((0, det_reference.shape[1]))
        tabular = bool(ctx.space.features)
        det_space["detectors"] = [s for s in (DETECTORS if tabular else SPACE_DETECTORS) if s in wanted]
        if mask is not None and det_reference.shape[1] > mask.size:  # missing-value indicator columns
            mask = np.r_[mask, np.zeros(det_reference.shape[1] - mask.size, dtype=bool)]
    for name in (s for s in wanted if s in DETECTORS):
        # on images IsolationForest splits single pixels: it keeps the input itself
        in_space = name in SPACE_DETECTORS or bool(ctx.space.features)
        ref_in, extra_in = (det_reference, det_extra_rows) if in_space else (reference, extra_rows)
        ref_scores = np.empty(n_ref)
        extra_scores = np.empty(extra_rows.shape[0])
        info: dict[str, Any] = {}
        for f in (0, 1):
            det = make_detector(name, categorical_mask=mask, knn_k=int(params.knn_k),
                                iforest_trees=int(params.iforest_trees), covariance=params.covariance,
                                seed=ctx.rng("ood", name, f))
            det.fit(ref_in[folds == f])
            ref_scores[folds != f] = det.score(ref_in[folds != f])
            if extra_rows.shape[0]:
                extra_scores[extra_fold == f] = det.score(extra_in[extra_fold == f])
            info = {k: v for k, v in det.to_dict().items() if k != "threshold"}
        info["fit"] = "two-fold cross-fit on the reference"
        params_out[name] = info
        entry = {"reference": ref_scores}
        entry["current"] = ref_scores if own_reference else extra_scores[:n_cur]
        if ood is not None:
            entry["ood"] = extra_scores[-ood.shape[0]:]
        scores[name] = entry
    # ------------------------------------------------------------- evaluation per score
    q = float(params.threshold_quantile)
    section_scores: dict[str, OODScore] = {}
    for name in (s for s in ALL_SCORES if s in scores):
        s = scores[name]
        threshold = reference_threshold(s["reference"], quantile=q)
        sep = roc = ood_flagged = None
        if ood is not None:
            sep = separation(s["reference"], s["ood"], n_boot=cfg.n_bootstrap, rng=ctx.rng("ood", "bootstrap", name),
                             confidence=cfg.confidence)
            ood_flagged = flagged_fraction(s["ood"], threshold)
            roc = RocCurve(**{k: tuple(v) for k, v in roc_points(s["reference"], s["ood"]).items()})
        groups = {"reference": s["reference"]}
        if not own_reference:
            groups["current"] = s["current"]
        if ood is not None:
            groups["ood"] = s["ood"]
        section_scores[name] = OODScore(
            score_source="model_outputs" if name in OUTPUT_BASED else "data",
            logit_source=logit_source if name in OUTPUT_BASED else None,
            threshold=threshold,
            flagged_fraction=flagged_fraction(s["current"], threshold),
            ood_flagged_fraction=ood_flagged,
            auroc=None if sep is None else sep["auroc"],
            fpr_at_95_tpr=None if sep is None else sep["fpr_at_95_tpr"],
            roc=roc,
            histogram=ScoreHistogram(**{k: tuple(v) for k, v in histogram(groups, bins=int(params.histogram_bins)).items()}),
            params=to_jsonable(params_out.get(name, {})),
        )
    # ------------------------------------------------------------- most out-of-distribution rows
    most = _most_ood(ctx, scores, section_scores, int(params.top_k))
    # ------------------------------------------------------------- shift tests
    shift: dict[str, ShiftTest] = {}
    if own_reference:
        shift_summary = ShiftSummary(status="skipped",
                                     reason="no --reference data; the audited data cannot drift from itself")
    else:
        # every row of the source, whatever fed it (the tally of ``tally`` below)
        results = ctx.tallies["ood"].results(ctx.space.feature_names, alpha=float(params.shift_alpha))
        shown = sorted(results, key=lambda r: (r.p_adjusted, -r.statistic))[: int(params.max_shift_features)]
        shift = {r.feature: ShiftTest(test=r.test, statistic=_finite(r.statistic), p_value=_finite(r.p_value),
                                      p_adjusted=_finite(r.p_adjusted), psi=_finite(r.psi), drifted=bool(r.drifted))
                 for r in shown}
        n_drifted = sum(r.drifted for r in results)
        shift_summary = ShiftSummary(
            status="ran", tested=len(results), drifted=n_drifted,
            drifted_fraction=n_drifted / max(1, len(results)), shown=len(shown),
            alpha=float(params.shift_alpha), correction="benjamini-hochberg",
            tests="ks for numeric features, chi2 for categorical codes; psi on reference deciles / categories",
        )
    section = OODResult(
        reference=OODReference(
            source="audited data" if own_reference else "reference",
            rows=int(n_ref),
            note=("--reference was not given: the audited data serves as the reference (detectors cross-fitted on it, "
                  "so about 5% of its rows are flagged by construction)") if own_reference else None,
        ),
        ood_rows=None if ood is None else int(ood.shape[0]),
        logit_source=logit_source,
        detector_space=None if det_space is None else DetectorSpace.from_dict(to_jsonable(det_space)),
        direction="higher score = more out of distribution",
        threshold_quantile=q,
        scores=section_scores,
        skipped=skipped,
        most_ood=tuple(most),
        shift=shift,
        shift_summary=shift_summary,
    )
    return CheckOutcome(section,
                        skipped={k: v for k, v in skipped.items() if k == "odin"})


def _finite(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _splitter(n_cur: int, n_ref: int | None, n_ood: int | None) -> Any:
    """Split scores of the concatenated [current, reference?, ood?] rows into named parts."""

    def split(values: np.ndarray) -> dict[str, np.ndarray]:
        out = {"current": values[:n_cur]}
        at = n_cur
        if n_ref is not None:
            out["reference"] = values[at: at + n_ref]
            at += n_ref
        else:
            out["reference"] = out["current"]
        if n_ood is not None:
            out["ood"] = values[at: at + n_ood]
        return out

    return split


def _most_ood(ctx: AuditContext, scores: dict[str, dict[str, np.ndarray]], section: dict[str, OODScore],
             k: int) -> list[UnusualRow]:
    if not scores or k <= 0:
        return []
    names = [n for n in ALL_SCORES if n in scores]
    pct = np.stack([
        np.searchsorted(np.sort(scores[n]["reference"]), scores[n]["current"], side="right") / scores[n]["reference"].size
        for n in names
    ])
    combined = pct.mean(axis=0)
    tie = np.stack([scores[n]["current"] for n in names]).mean(axis=0)
    order = np.lexsort((-tie, -combined))[:k]
    out = []
    for i in order:
        if ctx.task == "classification":
            p = ctx.proba[i]
            prediction = _jsonable(ctx.classes[int(ctx.predicted_index[i])]) if ctx.classes else int(p.argmax())
            confidence: float | None = float(p.max())
        else:
            prediction, confidence = float(ctx.proba[i, 0]), None
        out.append(UnusualRow(
            row=int(i), percentile=float(combined[i]),
            scores={n: _finite(scores[n]["current"][i]) for n in names},
            flagged_by=tuple(n for n in names if scores[n]["current"][i] > section[n].threshold),
            prediction=prediction, confidence=confidence,
        ))
    return out


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

