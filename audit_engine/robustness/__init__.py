"""Robustness under realistic perturbation (see :mod:`.perturb`)."""

from .perturb import SEVERITIES, FlipEstimate, KindResult, RobustnessResult, flip_rate_expected_linear, perturb, robustness

__all__ = ["SEVERITIES", "FlipEstimate", "KindResult", "RobustnessResult", "flip_rate_expected_linear", "perturb",
           "robustness"]
