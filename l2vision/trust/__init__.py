"""Trust in a prediction: calibrated probabilities, prediction sets, and ``unknown``.

- :mod:`~l2vision.trust.calibration`: :class:`TemperatureScaling` turns decision
  values into calibrated probabilities; :func:`calibration_metrics` (ECE, NLL,
  Brier) and :func:`reliability_diagram` measure them.
- :mod:`~l2vision.trust.conformal`: :class:`ConformalPredictionSets` (APS, RAPS)
  returns sets of classes that hold the true class with a chosen probability.
- :mod:`~l2vision.trust.ood`: :class:`OODDetector` scores how unusual a feature
  vector is and flags images of no training class.

All are fitted on out-of-fold (or held-out) scores and features, work on NumPy
matrices, and import nothing else from l2vision, so any layer above can use them.
"""

from l2vision.trust.calibration import (
    TemperatureScaling,
    calibration_metrics,
    decision_to_logits,
    fit_temperature,
    reliability_diagram,
    top_label_ece,
)
from l2vision.trust.conformal import ConformalPredictionSets
from l2vision.trust.ood import OODDetector

__all__ = ["ConformalPredictionSets", "OODDetector", "TemperatureScaling",
           "calibration_metrics", "decision_to_logits", "fit_temperature",
           "reliability_diagram", "top_label_ece"]
