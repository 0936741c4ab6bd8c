"""Activity timelines from per-window class probabilities: smoothing over time, unknowns, and scores
against true label tables. Pure numpy (scipy for calibration): no torch.

* :mod:`harcnn.serving.timeline.smoothing`: :class:`HMMSmoother`, :class:`OnlineSmoother`,
  :func:`majority_smooth`, :func:`smooth`, :func:`choose_unknown_threshold`, :func:`mark_unknown`
* :mod:`harcnn.serving.timeline.scores`: :class:`Timeline`, :func:`read_labels_table`,
  :func:`score_timeline` and the single metrics
"""

from harcnn.serving.timeline.scores import (
    Timeline,
    TimelineScores,
    agreement,
    confusion_seconds,
    coverage,
    fragmentation,
    read_labels_table,
    score_timeline,
    segment_scores,
    window_agreement,
    window_spans,
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
    "METHODS", "HMMSmoother", "OnlineSmoother", "Timeline", "TimelineScores", "agreement", "choose_unknown_threshold",
    "confusion_seconds", "coverage", "fragmentation", "label_sequences", "majority_smooth", "mark_unknown",
    "read_labels_table", "runs", "score_timeline", "segment_scores", "smooth", "window_agreement", "window_spans",
]
