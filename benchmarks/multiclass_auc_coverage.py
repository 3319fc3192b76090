"""Coverage of the multiclass AUC intervals of :class:`audit_engine.performance_tally.ClassificationTally`.

Three classes with Gaussian scores (softmax of class means + noise), n rows per data set;
the true per-class one-vs-rest AUCs and the macro AUC come from one 2·10⁶-row draw. Counts
how often the per-class DeLong intervals and the macro interval (the mean of the per-class
ends: conservative) hold the truth. Run: ``python benchmarks/multiclass_auc_coverage.py [SIMS]``.
"""

from __future__ import annotations

import sys

import numpy as np

from audit_engine.performance_tally import ClassificationTally
from audit_engine.stats import weighted_auc


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 3, n)
    logits = np.eye(3)[y] * 1.2 + rng.normal(size=(n, 3))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), y


def main(sims: int = 400) -> None:
    big_p, big_y = draw(np.random.default_rng(1), 2_000_000)
    sub = slice(0, 200_000)  # weighted_auc on 2e5 rows per class: exact enough (se ~ 1e-3 / sqrt(10))
    truth = [float(weighted_auc(big_p[sub, c], (big_y[sub] == c).astype(float), np.ones((1, 200_000)))[0])
             for c in range(3)]
    macro = float(np.mean(truth))
    rng = np.random.default_rng(2026)
    for n in (150, 500, 2000):
        per_class = macro_hits = 0
        for _ in range(sims):
            p, y = draw(rng, n)
            tally = ClassificationTally(3, None, 10)
            tally.update(p, y, p.argmax(axis=1))
            report = tally.report(classes=[0, 1, 2], positive_label=None, threshold=None, n_boot=0, confidence=0.95,
                                  rng=np.random.default_rng(0), calibration_rng=np.random.default_rng(1))
            est = report.metrics["roc_auc"]
            macro_hits += est.ci_low <= macro <= est.ci_high
            per_class += sum(report.per_class[str(c)]["roc_auc"].ci_low <= truth[c]
                             <= report.per_class[str(c)]["roc_auc"].ci_high for c in range(3))
        print(f"n = {n:5d}, {sims} data sets: per-class AUC {100 * per_class / (3 * sims):.1f}%, "
              f"macro AUC {100 * macro_hits / sims:.1f}%")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
