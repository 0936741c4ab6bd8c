"""Activity timelines from per-window class probabilities: smoothing over time, unknowns, and scores
against the true labelled segments. Pure numpy (scipy for calibration): no torch.

* :mod:`.smoothing`: :class:`HMMSmoother`, :class:`OnlineSmoother`, :func:`majority_smooth`,
  :func:`smooth`, :func:`choose_unknown_threshold`, :func:`mark_unknown`, :func:`label_sequences`
* :mod:`.scores`: :func:`score_timeline` and the single metrics

The timelines themselves (:class:`~harcnn.data.labels.Timeline`) and labels tables are data:
:mod:`harcnn.data.labels`.
"""

from harcnn.serving.timeline.scores import (
    TimelineScores,
    agreement,
    confusion_seconds,
    coverage,
    fragmentation,
    score_timeline,
    segment_scores,
    window_agreement,
)
from harcnn.serving.timeline.smoothing import (
    METHODS,
    HMMSmoother,
    OnlineSmoother,
    choose_unknown_threshold,
    label_sequences,
    majority_smooth,
    mark_unknown,
    runs,
    smooth,
)

__all__ = [
    "METHODS", "HMMSmoother", "OnlineSmoother", "TimelineScores", "agreement", "choose_unknown_threshold",
    "confusion_seconds", "coverage", "fragmentation", "label_sequences", "majority_smooth", "mark_unknown", "runs",
    "score_timeline", "segment_scores", "smooth", "window_agreement",
]
