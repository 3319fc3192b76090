"""The first screen an auditor signs: who the model is, and one line per question the audit answered.

Reads the typed result only and writes no number it does not read from it (issue 22,
defect 10): the model's name, version and sha256 (model-card fields, else the file name,
never a local path); the performance headline with its interval; the least favoured
group by the view's own rule; the out-of-distribution and uncertainty summaries when
they ran; and, flagged, what must not be trusted: detectors worse than chance (AUROC
interval below 0.5) and explanation methods that failed the randomisation sanity check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from ..blocks import Finding
from ..format import attribute_name, fmt_number, interval_ends, metric_name
from .performance import BOUNDARY_TEXT, boundary, level_text

if TYPE_CHECKING:
    from ...result import AuditResult
    from ...stats import Estimate

__all__ = ["ModelIdentity", "model_identity", "key_facts", "worse_than_chance", "sanity_failed"]

# The performance headline: the first of these the audit measured.
_HEADLINE = ("roc_auc", "accuracy", "r2", "mean_absolute_error")


@dataclass(frozen=True)
class ModelIdentity:
    """``name``: the model card's name, else the file name; ``version``: the card's, or None."""

    name: str
    version: str | None
    sha256: str
    file: str

    def text(self) -> str:
        version = f", version {self.version}" if self.version else ""
        file = f"file {self.file}, " if self.file != self.name else ""
        return f"{self.name}{version} ({file}sha256 {self.sha256})"


def model_identity(result: AuditResult) -> ModelIdentity:
    """The model as people name it: model-card fields first, the file's name (not its path) else."""
    card = (result.config or {}).get("model_card") or {}
    file = PurePath(str(result.model.path).replace("\\", "/")).name or str(result.model.path)
    name = card.get("name") if isinstance(card.get("name"), str) and card.get("name") else file
    version = card.get("version") if isinstance(card.get("version"), str) and card.get("version") else None
    return ModelIdentity(name=name, version=version, sha256=result.model.sha256, file=file)


def _estimate(est: Estimate, confidence: float) -> str:
    text = fmt_number(est.value)
    if boundary(est):
        return text + f" ({BOUNDARY_TEXT.format(value=fmt_number(est.value))})"
    if math.isfinite(est.ci_low) and math.isfinite(est.ci_high):
        low, high = interval_ends(est.ci_low, est.ci_high) or ("", "")
        text += f" ({level_text(confidence)} CI {low} to {high})"
    return text


def worse_than_chance(result: AuditResult) -> list[tuple[str, Estimate]]:
    """OOD scores whose AUROC interval lies below 0.5: they rank known OOD rows as *more* familiar."""
    if result.ood is None:
        return []
    return [(name, sc.auroc) for name, sc in result.ood.scores.items()
            if sc.auroc is not None and math.isfinite(sc.auroc.ci_high) and sc.auroc.ci_high < 0.5]


def sanity_failed(result: AuditResult) -> list[str]:
    """Explanation methods flagged by the randomisation sanity check (Adebayo et al. 2018)."""
    return [name for name, e in (result.explanations or {}).items() if e.sanity is not None and e.sanity.flagged]


def _performance(result: AuditResult) -> Finding | None:
    perf = result.performance
    if perf is None:
        return None
    name = next((k for k in _HEADLINE if k in perf.metrics and math.isfinite(perf.metrics[k].value)), None)
    if name is None:
        return None
    return Finding("info", f"Performance: {metric_name(name)} {_estimate(perf.metrics[name], perf.confidence)} on "
                           f"{fmt_number(perf.n)} rows.")


def _fairness(result: AuditResult) -> Finding | None:
    fair = result.fairness
    if not fair:
        return None
    worst: tuple[float, str, str, str | None] | None = None
    for key, view in fair.items():
        left = view.left_out or {}
        for g, r in (view.impact_ratios or {}).items():
            if g in left and "selection_rate" in left[g].rates:
                continue
            if math.isfinite(r) and (worst is None or r < worst[0]):
                most = view.four_fifths.most_selected_group if view.four_fifths is not None else None
                worst = (r, key, g, most)
    if worst is not None:
        r, key, g, most = worst
        view = fair[key]
        sel = view.groups[g].estimate("selection_rate") if g in view.groups else None
        rate = f", favourable selection rate {fmt_number(sel.value)}" if sel is not None else ""
        below = view.four_fifths is not None and r < view.four_fifths.threshold
        return Finding("warn" if below else "info",
                       f"Fairness: the least favoured group is {attribute_name(g)} ({attribute_name(key)}{rate}), "
                       f"impact ratio {fmt_number(r)} against {attribute_name(most or '—')}"
                       + (f", under the four-fifths threshold of {fmt_number(view.four_fifths.threshold)}." if below
                          else "."))
    first = next(iter(fair.values()))
    if first.impact_refused is not None:
        return Finding("info", "Fairness: no group is named as disadvantaged, because the favourable outcome is not "
                               "declared (set favorable_label in audit.toml).")
    return None


def _ood(result: AuditResult) -> list[Finding]:
    o = result.ood
    if o is None:
        return []
    out: list[Finding] = []
    conf = result.performance.confidence if result.performance is not None else 0.95
    if o.ood_rows is not None:
        ranked = sorted(((n, s.auroc) for n, s in o.scores.items() if s.auroc is not None and math.isfinite(s.auroc.value)),
                        key=lambda kv: -kv[1].value)
        if ranked:
            best, est = ranked[0]
            out.append(Finding("info", f"Out of distribution: the best detector of the {fmt_number(o.ood_rows)} known "
                                       f"out-of-distribution rows is {metric_name(best)}, AUROC {_estimate(est, conf)}."))
    else:
        flagged = [(n, s.flagged_fraction) for n, s in o.scores.items() if s.flagged_fraction is not None]
        if flagged:
            n, f = max(flagged, key=lambda kv: kv[1])
            out.append(Finding("info", f"Out of distribution: at most {fmt_number(f, percent=True)} of audited rows are "
                                       f"flagged (by {metric_name(n)})."))
    bad = worse_than_chance(result)
    if bad:
        names = ", ".join(f"{metric_name(n)} (AUROC {_estimate(e, conf)})" for n, e in bad)
        out.append(Finding("warn", f"Worse than chance: {names} rank the known out-of-distribution rows as more "
                                   "familiar than the reference rows; do not use these scores to flag inputs."))
    if o.shift_summary.status == "ran" and o.shift_summary.tested:
        out.append(Finding("info", f"Data shift: {fmt_number(o.shift_summary.drifted or 0)} of "
                                   f"{fmt_number(o.shift_summary.tested)} features drifted from the reference."))
    return out


def _uncertainty(result: AuditResult) -> Finding | None:
    u = result.uncertainty
    if u is None or not u.methods:
        return None
    parts = []
    for name, m in u.methods.items():
        what = "passes" if name == "mc_dropout" else "members"
        text = f"{'MC dropout' if name == 'mc_dropout' else 'committee'} ({fmt_number(m.passes)} {what})"
        epi = m.summary.get("epistemic")
        if epi is not None and epi.mean is not None:
            text += f", mean epistemic uncertainty {fmt_number(epi.mean)}"
        cmp = m.ood_comparison
        if cmp is not None:
            text += (f" on audited rows against {fmt_number(cmp.ood_mean_epistemic)} on the out-of-distribution rows")
        parts.append(text)
    return Finding("info", "Uncertainty: " + "; ".join(parts) + ".")


def key_facts(result: AuditResult) -> list[Finding]:
    """The first screen's lines after the verdicts: model, performance, fairness, OOD, uncertainty, warnings."""
    out = [Finding("info", f"Model: {model_identity(result).text()}.")]
    for item in (_performance(result), _fairness(result)):
        if item is not None:
            out.append(item)
    out += _ood(result)
    unc = _uncertainty(result)
    if unc is not None:
        out.append(unc)
    failed = sanity_failed(result)
    if failed:
        names = ", ".join(metric_name(n) for n in failed)
        out.append(Finding("warn", f"Explanations not to be trusted: {names} failed the randomisation sanity check "
                                   "(the attributions hardly change when the model's weights are randomised); they are "
                                   "collapsed in the Explanations section."))
    return out
