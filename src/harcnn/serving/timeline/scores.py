"""Activity timelines, and how well a predicted timeline matches the true one.

A :class:`Timeline` is piecewise constant: sorted, non-overlapping segments ``[start, end)`` in
seconds, each with a label, and gaps where nothing is labelled. :func:`window_spans` and
:meth:`Timeline.from_windows` give each of a classifier's overlapping windows the stretch it owns;
:func:`read_labels_table` reads true segments from a CSV. Every metric is weighted by duration,
from the exact overlaps of the segments (no sampling).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from harcnn.core.errors import DataError, HarcnnError

__all__ = [
    "Timeline", "TimelineScores", "agreement", "confusion_seconds", "coverage", "fragmentation",
    "read_labels_table", "score_timeline", "segment_scores", "window_agreement", "window_spans",
]

#: Accepted column names of a labels table (matched case-insensitively), by role.
COLUMNS = {
    "start": ("start", "start_s", "start_time"),
    "end": ("end", "end_s", "end_time"),
    "label": ("label", "activity"),
    "recording": ("recording", "file"),
}


def _as_times(values, name: str) -> np.ndarray:
    try:
        t = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise HarcnnError(f"{name} must be numbers (seconds)") from None
    if t.ndim != 1 or not np.isfinite(t).all():
        raise HarcnnError(f"{name} must be a 1-D array of finite numbers (seconds), got shape {list(t.shape)}")
    return t


def window_spans(start_times: np.ndarray, end_times: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """``(lo, hi, contiguous)``: the stretch ``[lo, hi)`` each window owns, and ``contiguous[i]``:
    window i+1 starts one ``step`` (within 5%) after window i.

    Consecutive windows overlap, so each is given the part closer to its centre than to its
    neighbours' centres: the boundary is the midpoint of the two centres (the first window also
    owns its first part, the last its last part). Across a gap each side keeps its own edge,
    except that windows still overlapping there split the overlap at that same midpoint.
    """
    start, end = _as_times(start_times, "start_times"), _as_times(end_times, "end_times")
    if len(start) != len(end):
        raise HarcnnError(f"start_times and end_times must have one length, got {len(start)} and {len(end)}")
    if not (end > start).all():
        raise HarcnnError(f"window {int(np.argmax(end <= start))} ends before or at its start")
    if not (np.diff(start) > 0).all():
        raise HarcnnError(f"window {int(np.argmax(np.diff(start) <= 0)) + 1} does not start after the one before: "
                          "windows must be in time order")
    if not (np.isfinite(step) and step > 0):
        raise HarcnnError(f"step must be a positive number of seconds, got {step!r}")
    contiguous = np.abs(np.diff(start) - step) <= 0.05 * step
    lo, hi = start.copy(), end.copy()
    centres = (start + end) / 2
    middle = (centres[:-1] + centres[1:]) / 2
    hi[:-1] = np.where(contiguous, middle, np.minimum(end[:-1], middle))
    lo[1:] = np.where(contiguous, middle, np.maximum(start[1:], middle))
    return lo, hi, contiguous


@dataclass(frozen=True, eq=False)
class Timeline:
    """Labelled segments ``[starts[i], ends[i])`` in seconds: sorted, non-overlapping, start < end.

    The arrays are read-only; labels are strings ("unknown" is a label like any other).
    """

    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        starts, ends = _as_times(self.starts, "Timeline starts"), _as_times(self.ends, "Timeline ends")
        labels = np.asarray(self.labels).astype(str)
        if labels.ndim != 1 or not len(starts) == len(ends) == len(labels):
            raise HarcnnError(f"a Timeline needs one start, end and label per segment, got {len(starts)} starts, "
                              f"{len(ends)} ends and labels of shape {list(labels.shape)}")
        if not (ends > starts).all():
            i = int(np.argmax(ends <= starts))
            raise HarcnnError(f"Timeline segment {i} ends ({ends[i]:g} s) before or at its start ({starts[i]:g} s)")
        if not (starts[1:] >= ends[:-1]).all():
            i = int(np.argmax(starts[1:] < ends[:-1]))
            raise HarcnnError(f"Timeline segment {i + 1} ({starts[i + 1]:g}-{ends[i + 1]:g} s) overlaps segment {i} "
                              f"({starts[i]:g}-{ends[i]:g} s): segments must be sorted and must not overlap")
        for name, array in (("starts", starts), ("ends", ends), ("labels", labels)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def duration(self) -> float:
        """Labelled seconds (gaps excluded)."""
        return float((self.ends - self.starts).sum())

    def merged(self) -> Timeline:
        """Touching segments (one ends where the next starts) with the same label joined."""
        if len(self) == 0:
            return self
        join = (self.labels[1:] == self.labels[:-1]) & (self.starts[1:] == self.ends[:-1])
        return Timeline(self.starts[np.r_[True, ~join]], self.ends[np.r_[~join, True]],
                        self.labels[np.r_[True, ~join]])

    def within(self, other: Timeline) -> Timeline:
        """The parts of these segments that lie inside ``other``'s segments (e.g. a prediction restricted
        to the labelled time of the truth), merged."""
        starts, ends, labels = [], [], []
        j = 0
        for a, b, label in zip(self.starts, self.ends, self.labels):
            while j < len(other) and other.ends[j] <= a:
                j += 1
            k = j
            while k < len(other) and other.starts[k] < b:
                lo, hi = max(a, other.starts[k]), min(b, other.ends[k])
                if hi > lo:
                    starts.append(lo), ends.append(hi), labels.append(label)
                k += 1
        return Timeline(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64),
                        np.array(labels, dtype=object)).merged()

    @classmethod
    def from_windows(cls, start_times: np.ndarray, end_times: np.ndarray, labels: Sequence[str],
                     step: float) -> Timeline:
        """One label per window, each over the stretch it owns (:func:`window_spans`), merged."""
        lo, hi, _ = window_spans(start_times, end_times, step)
        if len(labels) != len(lo):
            raise HarcnnError(f"from_windows needs one label per window: {len(lo)} windows, {len(labels)} labels")
        return cls(lo, hi, np.asarray(labels)).merged()

    @classmethod
    def from_table(cls, rows: Iterable[Mapping[str, Any]], *, source: str = "table") -> Timeline | dict[str, Timeline]:
        """Segments from rows (mappings) with the :data:`COLUMNS` of :func:`read_labels_table`;
        errors name ``source`` and the row (from 1)."""
        rows = list(rows)
        if not rows:
            return _empty()
        return _parse_table(list(rows[0]), ((f"row {i}", row) for i, row in enumerate(rows, 1)), source, source)


def _empty() -> Timeline:
    return Timeline(np.zeros(0), np.zeros(0), np.zeros(0, dtype=str))


# ---------------------------------------------------------------------------------------- labels tables


def read_labels_table(path: str | os.PathLike) -> Timeline | dict[str, Timeline]:
    """True segments from a table (CSV-like or Parquet, read by :func:`harcnn.data.sensorfiles.read_table`:
    any separator, decimal commas) with ``start``/``start_s``/``start_time``, ``end``/``end_s``/``end_time``
    (seconds, or samples where the reader says so), ``label``/``activity`` and optionally
    ``recording``/``file`` (named without the file ending), which gives a dict recording ->
    :class:`Timeline`. Rows may come in any order; segments must not overlap. A bad row is a
    :class:`~harcnn.core.errors.DataError` naming the file and the line."""
    from harcnn.data.sensorfiles import read_table, without_suffix

    table = read_table(path)
    found = {role: next((c for c in map(table.find, options) if c is not None), None)
             for role, options in COLUMNS.items()}
    for role in ("start", "end", "label"):
        if found[role] is None:
            raise DataError(f"{path}: no {role} column (a labels table has start, end and label, and recording "
                            f"when it holds several; expected one of {', '.join(COLUMNS[role])}; found "
                            f"{', '.join(table.header)})")
    starts, ends = table.numbers(found["start"]), table.numbers(found["end"])
    text = {role: table.columns[col] for role, col in found.items() if col is not None and role in ("label", "recording")}

    def rows():
        for i, line in enumerate(table.lines):
            row = {"start": starts[i], "end": ends[i], "label": text["label"][i]}
            if "recording" in text:
                row["recording"] = without_suffix(str(text["recording"][i]).strip())
            yield f"{table.row_word} {line}", row

    return _parse_table(["start", "end", "label", *(["recording"] if "recording" in text else [])], rows(),
                        str(path), str(path))


def _parse_table(columns: Sequence[str], records: Iterable[tuple[str, Mapping[str, Any]]], source: str,
                 header_where: str) -> Timeline | dict[str, Timeline]:
    names = {str(c).strip().lower(): c for c in columns if c is not None}
    keys: dict[str, Any] = {}
    for role, options in COLUMNS.items():
        keys[role] = next((names[o] for o in options if o in names), None)
        if keys[role] is None and role != "recording":
            raise DataError(f"{header_where}: no {role} column (expected one of {', '.join(options)}; found "
                            f"{', '.join(map(str, columns)) or 'none'})")
    segments: dict[str | None, list[tuple[float, float, str, str]]] = {}
    for where, row in records:
        start, end = _seconds(row, keys, "start", source, where), _seconds(row, keys, "end", source, where)
        if end <= start:
            raise DataError(f"{source}, {where}: end {end:g} s is not after start {start:g} s")
        recording = None if keys["recording"] is None else _cell(row, keys, "recording", source, where)
        segments.setdefault(recording, []).append((start, end, _cell(row, keys, "label", source, where), where))
    timelines = {recording: _sorted_timeline(items, source, recording) for recording, items in segments.items()}
    if keys["recording"] is not None:
        return timelines
    return timelines.get(None, _empty())


def _cell(row: Mapping[str, Any], keys: Mapping[str, Any], role: str, source: str, where: str) -> str:
    value = row.get(keys[role])
    if value is None or not str(value).strip():
        raise DataError(f"{source}, {where}: missing {role} (column {keys[role]!r})")
    return str(value).strip()


def _seconds(row: Mapping[str, Any], keys: Mapping[str, Any], role: str, source: str, where: str) -> float:
    text = _cell(row, keys, role, source, where)
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{source}, {where}: {role} {text!r} is not a number (seconds)") from None
    if not math.isfinite(value):
        raise DataError(f"{source}, {where}: {role} {text!r} is not a finite number")
    return value


def _sorted_timeline(items: list[tuple[float, float, str, str]], source: str, recording: str | None) -> Timeline:
    items = sorted(items, key=lambda item: item[0])
    for (a0, a1, _, a_where), (b0, b1, _, b_where) in zip(items[:-1], items[1:]):
        if b0 < a1:
            inside = "" if recording is None else f" of recording {recording!r}"
            raise DataError(f"{source}, {b_where}: segment {b0:g}-{b1:g} s overlaps the segment{inside} on "
                            f"{a_where} ({a0:g}-{a1:g} s)")
    starts, ends, labels, _ = zip(*items)
    return Timeline(np.array(starts), np.array(ends), np.array(labels))


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
