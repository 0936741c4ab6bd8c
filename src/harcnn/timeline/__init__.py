"""Activity timelines from per-window class probabilities: smoothing over time, unknowns, and scores
against true label tables. Pure numpy (scipy for calibration): no torch.

* :mod:`harcnn.timeline.smoothing`: :class:`HMMSmoother`, :class:`OnlineSmoother`,
  :func:`majority_smooth`, :func:`smooth`, :func:`choose_unknown_threshold`, :func:`mark_unknown`
"""

from harcnn.timeline.smoothing import (
    METHODS,
    HMMSmoother,
    OnlineSmoother,
    choose_unknown_threshold,
    majority_smooth,
    mark_unknown,
    runs,
    smooth,
)

__all__ = ["METHODS", "HMMSmoother", "OnlineSmoother", "choose_unknown_threshold", "majority_smooth", "mark_unknown",
           "runs", "smooth"]
