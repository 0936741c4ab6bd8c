"""How well a predicted activity timeline (:class:`harcnn.data.labels.Timeline`) matches the true one.

Every metric is weighted by duration, from the exact overlaps of the segments (no sampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.data.labels import Timeline

__all__ = ["TimelineScores", "agreement", "confusion_seconds", "coverage", "fragmentation", "score_timeline",
           "segment_scores", "window_agreement"]

# ---------------------------------------------------------------------------------------- metrics


def _locate(timeline: Timeline, x: np.ndarray) -> np.ndarray:
    """Index of the segment holding each time in ``x``, -1 where none does."""
    i = np.searchsorted(timeline.starts, x, side="right") - 1
    inside = (i >= 0) & (x < timeline.ends[np.maximum(i, 0)]) if len(timeline) else np.zeros(len(x), bool)
    return np.where(inside, i, -1)


def _pieces(true: Timeline, pred: Timeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seconds, i_true, i_pred)`` for the pieces between all segment boundaries of both
    timelines (-1: not covered), from which every overlap is exact."""
    edges = np.unique(np.concatenate([true.starts, true.ends, pred.starts, pred.ends]))
    middle = (edges[:-1] + edges[1:]) / 2
    return np.diff(edges), _locate(true, middle), _locate(pred, middle)


def _covered(true: Timeline, pred: Timeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces of ``true``'s labelled time that ``pred`` covers (at least some, else an error)."""
    if len(true) == 0:
        raise HarcnnError("the true timeline is empty: nothing to score against")
    seconds, i, j = _pieces(true, pred)
    both = (i >= 0) & (j >= 0)
    if not seconds[both].sum() > 0:
        span = "is empty" if len(pred) == 0 else f"({pred.starts[0]:g}-{pred.ends[-1]:g} s) covers none of it"
        raise HarcnnError(f"the true timeline ({true.starts[0]:g}-{true.ends[-1]:g} s) and the predicted one do not "
                          f"overlap: the prediction {span}; are both in seconds on the same clock?")
    return seconds[both], i[both], j[both]


def agreement(true: Timeline, pred: Timeline) -> float:
    """The fraction of the labelled time of ``true`` that ``pred`` covers where the labels are equal
    (an error when the two do not overlap at all: usually two different clocks)."""
    seconds, i, j = _covered(true, pred)
    return float(seconds[true.labels[i] == pred.labels[j]].sum() / seconds.sum())


def coverage(true: Timeline, pred: Timeline) -> float:
    """The fraction of the labelled time of ``true`` that ``pred`` covers (an error when none)."""
    return float(_covered(true, pred)[0].sum() / true.duration)


def _unlabelled(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == -1


def window_agreement(true_labels: Sequence[Any], pred_labels: Sequence[Any]) -> float:
    """The fraction of windows whose predicted label equals the true one, ignoring windows whose
    true label is None, empty or (integer labels) -1."""
    if len(true_labels) != len(pred_labels):
        raise HarcnnError(f"window_agreement needs one predicted label per window: {len(true_labels)} true, "
                          f"{len(pred_labels)} predicted")
    pairs = [(t, p) for t, p in zip(true_labels, pred_labels) if not _unlabelled(t)]
    if not pairs:
        raise HarcnnError("window_agreement: no window has a true label")
    return sum(bool(t == p) for t, p in pairs) / len(pairs)


def segment_scores(true: Timeline, pred: Timeline, tolerance_s: float = 2.0) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` of the predicted segments.

    Both timelines are merged first. A predicted segment and a true segment can match when they
    have the same label and both their starts and their ends differ by at most ``tolerance_s``.
    Matching is one-to-one and greedy: candidate pairs in order of the smallest total boundary
    error ``|start difference| + |end difference|`` (then by predicted, then true, segment order),
    each taken when neither segment is matched yet. Matches are the true positives; precision =
    matches / predicted segments, recall = matches / true segments (0.0 when there are none).
    """
    if not (math.isfinite(tolerance_s) and tolerance_s >= 0):
        raise HarcnnError(f"tolerance_s must be a number of seconds >= 0, got {tolerance_s!r}")
    t, p = true.merged(), pred.merged()
    d_start = np.abs(p.starts[:, None] - t.starts[None, :])
    d_end = np.abs(p.ends[:, None] - t.ends[None, :])
    ip, it = np.nonzero((p.labels[:, None] == t.labels[None, :]) & (d_start <= tolerance_s) & (d_end <= tolerance_s))
    used_p, used_t = np.zeros(len(p), bool), np.zeros(len(t), bool)
    for k in np.lexsort((it, ip, d_start[ip, it] + d_end[ip, it])):
        if not (used_p[ip[k]] or used_t[it[k]]):
            used_p[ip[k]] = used_t[it[k]] = True
    matches = int(used_p.sum())
    precision = matches / len(p) if len(p) else 0.0
    recall = matches / len(t) if len(t) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def fragmentation(true: Timeline, pred: Timeline) -> tuple[float, int, int]:
    """``(ratio, predicted segments, true segments)`` of the merged timelines; ratio 1 is ideal,
    above 1 the prediction is split into more pieces than the truth."""
    n_true, n_pred = len(true.merged()), len(pred.merged())
    if n_true == 0:
        raise HarcnnError("the true timeline is empty: nothing to score against")
    return n_pred / n_true, n_pred, n_true


def confusion_seconds(true: Timeline, pred: Timeline, classes: Sequence[str]) -> np.ndarray:
    """``[K, K+1]`` seconds where true class i met predicted class j. The last column holds the true
    time of class i that ``pred`` does not cover or labels outside ``classes`` (e.g. "unknown");
    true time labelled outside ``classes`` is left out."""
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise HarcnnError(f"classes must be distinct names, got {classes}")
    k = len(classes)
    index = {name: i for i, name in enumerate(classes)}
    # one extra entry each, which index -1 (no segment there) picks
    true_class = np.array([*(index.get(label, -1) for label in true.labels), -1], dtype=np.int64)
    pred_class = np.array([*(index.get(label, k) for label in pred.labels), k], dtype=np.int64)
    seconds, i, j = _pieces(true, pred)
    row, column = true_class[i], pred_class[j]
    out = np.zeros((k, k + 1))
    np.add.at(out, (row[row >= 0], column[row >= 0]), seconds[row >= 0])
    return out


@dataclass(frozen=True, eq=False)
class TimelineScores:
    """All the timeline metrics of one prediction (see the functions of the same names)."""

    agreement: float
    coverage: float
    precision: float
    recall: float
    f1: float
    tolerance_s: float
    fragmentation: float
    n_true_segments: int
    n_pred_segments: int
    classes: tuple[str, ...]
    confusion_seconds: np.ndarray  # [K, K+1], see confusion_seconds
    per_window: float | None = None  # window_agreement, when window labels are given

    def to_dict(self) -> dict[str, Any]:
        """Plain floats, ints and lists (JSON-able)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(classes=list(self.classes), confusion_seconds=self.confusion_seconds.tolist())
        return d

    def summary(self) -> str:
        """A few lines for a person: the agreement, segment scores, fragmentation and the largest confusions."""
        lines = [f"Against the labels: agreement {100 * self.agreement:.2f}% of the labelled time"
                 + (f", {100 * self.per_window:.2f}% of the labelled windows" if self.per_window is not None else "")
                 + f" (coverage {100 * self.coverage:.1f}%)",
                 f"  segments: F1 {100 * self.f1:.1f}% (precision {100 * self.precision:.1f}%, recall "
                 f"{100 * self.recall:.1f}%, boundaries within {self.tolerance_s:g} s); {self.n_pred_segments} "
                 f"predicted for {self.n_true_segments} true (fragmentation {self.fragmentation:.2f})"]
        confusion = self.confusion_seconds.copy()
        np.fill_diagonal(confusion, 0.0)
        for i, j in zip(*np.unravel_index(np.argsort(-confusion, axis=None)[:3], confusion.shape)):
            if confusion[i, j] >= 0.05:
                other = self.classes[j] if j < len(self.classes) else "unknown or uncovered"
                lines.append(f"  {self.classes[i]} taken for {other}: {confusion[i, j]:.1f} s")
        return "\n".join(lines)


def score_timeline(true: Timeline, pred: Timeline, classes: Sequence[str], *, tolerance_s: float = 2.0,
                   true_windows: Sequence[Any] | None = None,
                   pred_windows: Sequence[Any] | None = None) -> TimelineScores:
    """Every metric of ``pred`` against ``true``; ``per_window`` too when both ``true_windows`` and
    ``pred_windows`` (one label per window) are given."""
    if (true_windows is None) != (pred_windows is None):
        raise HarcnnError("pass both true_windows and pred_windows (one label per window) or neither")
    precision, recall, f1 = segment_scores(true, pred, tolerance_s)
    ratio, n_pred, n_true = fragmentation(true, pred)
    return TimelineScores(
        agreement=agreement(true, pred), coverage=coverage(true, pred), precision=precision, recall=recall, f1=f1,
        tolerance_s=float(tolerance_s), fragmentation=ratio, n_true_segments=n_true, n_pred_segments=n_pred,
        classes=tuple(str(c) for c in classes), confusion_seconds=confusion_seconds(true, pred, classes),
        per_window=None if true_windows is None else window_agreement(true_windows, pred_windows))
