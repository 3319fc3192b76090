"""Out-of-distribution scores (MSP, max-logit, energy, ODIN), data detectors and shift tests."""

from .detectors import DETECTORS, IsolationForestDetector, KNNDistance, Mahalanobis, make_detector
from .evaluation import flagged_fraction, fpr_at_tpr, reference_threshold, separation
from .odin import ODIN, odin_gradient, odin_perturb
from .output_scores import energy_score, max_logit_score, msp_score, output_scores
from .shift import benjamini_hochberg, psi, shift_tests

__all__ = [
    "DETECTORS", "IsolationForestDetector", "KNNDistance", "Mahalanobis", "make_detector",
    "flagged_fraction", "fpr_at_tpr", "reference_threshold", "separation",
    "ODIN", "odin_gradient", "odin_perturb",
    "energy_score", "max_logit_score", "msp_score", "output_scores",
    "benjamini_hochberg", "psi", "shift_tests",
]
