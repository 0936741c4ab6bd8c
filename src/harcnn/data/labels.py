"""Activity timelines: labelled segments in seconds, and the tables that hold them.

A :class:`Timeline` is piecewise constant: sorted, non-overlapping segments ``[start, end)`` in
seconds, each with a label, and gaps where nothing is labelled. :func:`window_spans` and
:meth:`Timeline.from_windows` give each of a classifier's overlapping windows the stretch it owns;
:func:`read_labels_table` reads true segments from a labels table (the same table ``--labels``
takes, and a folder of recordings' ``labels.csv``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harcnn.core.errors import DataError, HarcnnError
from harcnn.data.sensorfiles import read_table, without_suffix

__all__ = ["COLUMNS", "LabelsTable", "Timeline", "read_labels", "read_labels_table", "window_spans"]

#: Accepted column names of a labels table (matched case-insensitively), by role.
COLUMNS = {
    "start": ("start", "start_s", "start_time"),
    "end": ("end", "end_s", "end_time"),
    "label": ("label", "activity"),
    "recording": ("recording", "file"),
}
SUBJECT_COLUMN = "subject"  # optional, beside the recording column: who wore the sensor


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


@dataclass(frozen=True)
class LabelsTable:
    """A labels table as :func:`read_labels` reads it: its ``segments`` (a :class:`Timeline`, or a dict
    recording -> :class:`Timeline`), ``subjects`` (recording -> subject, from a ``subject`` column next
    to the recording column; empty without one) and the ``unused`` columns it also has."""

    segments: Timeline | dict[str, Timeline]
    subjects: Mapping[str, str]
    unused: tuple[str, ...]


def read_labels_table(path: str | os.PathLike) -> Timeline | dict[str, Timeline]:
    """True segments from a table (CSV-like or Parquet, read by :func:`harcnn.data.sensorfiles.read_table`:
    any separator, decimal commas) with ``start``/``start_s``/``start_time``, ``end``/``end_s``/``end_time``
    (seconds, or samples where the reader says so), ``label``/``activity`` and optionally
    ``recording``/``file`` (named without the file ending), which gives a dict recording ->
    :class:`Timeline`. Rows may come in any order; segments must not overlap. A bad row is a
    :class:`~harcnn.core.errors.DataError` naming the file and the line. :func:`read_labels` also gives
    the subjects and the columns not used."""
    return read_labels(path).segments


def read_labels(path: str | os.PathLike) -> LabelsTable:
    """The labels table at ``path`` (see :func:`read_labels_table`), with a ``subject`` column's subjects
    (one per recording) and the names of the columns that are none of these."""
    table = read_table(path)
    found = {role: next((c for c in map(table.find, options) if c is not None), None)
             for role, options in COLUMNS.items()}
    for role in ("start", "end", "label"):
        if found[role] is None:
            raise DataError(f"{path}: no {role} column (a labels table has start, end and label, and recording "
                            f"when it holds several; expected one of {', '.join(COLUMNS[role])}; found "
                            f"{', '.join(table.header)})")
    starts, ends = table.numbers(found["start"]), table.numbers(found["end"])
    text = {role: table.columns[col] for role, col in found.items()
            if col is not None and role in ("label", "recording")}
    recordings = ([without_suffix(str(v).strip()) for v in text["recording"]] if "recording" in text else None)

    def rows():
        for i, line in enumerate(table.lines):
            row = {"start": starts[i], "end": ends[i], "label": text["label"][i]}
            if recordings is not None:
                row["recording"] = recordings[i]
            yield f"{table.row_word} {line}", row

    segments = _parse_table(["start", "end", "label", *(["recording"] if "recording" in text else [])], rows(),
                            str(path), str(path))
    subject_col = table.find(SUBJECT_COLUMN) if recordings is not None else None
    subjects: dict[str, str] = {}
    if subject_col is not None:
        for i, (recording, value) in enumerate(zip(recordings, table.columns[subject_col])):
            subject = str(value).strip()
            if not subject:
                raise DataError(f"{path}, {table.row_word} {table.lines[i]}: missing subject")
            if subjects.setdefault(recording, subject) != subject:
                raise DataError(f"{path}, {table.row_word} {table.lines[i]}: recording {recording} has two subjects, "
                                f"{subjects[recording]} and {subject}")
    used = {c for c in found.values() if c is not None} | ({subject_col} if subject_col is not None else set())
    return LabelsTable(segments, subjects, tuple(h for i, h in enumerate(table.header) if i not in used))


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
