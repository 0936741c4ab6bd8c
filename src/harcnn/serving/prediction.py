"""The result of predicting one input: :class:`Prediction` (one row per window) and its :class:`Segment` s.

A :class:`Prediction` holds the class probabilities of every window, the predicted activity, and for
recordings the windows' times and a signal trace for the timeline plot. It merges consecutive equal
predictions into segments. Segment times tile the recording: consecutive windows overlap, so each
window is given the stretch that is closer to its centre than to its neighbours' centres
(:func:`harcnn.data.labels.window_spans`); a gap in the recording ends a segment.

:meth:`Prediction.decide` turns the window probabilities into the activity timeline: smoothed over
time (``"hmm"``: Viterbi decoding with the model's timeline smoother, learned from labelled
recordings; ``"median"``: a majority vote over 5 windows; ``"none"``), never across a gap, and with
windows below a confidence threshold marked ``unknown``. :meth:`Prediction.score` compares it with
the true labelled segments. :func:`write_prediction` writes the per-window table and the segments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.io import write_csv, write_json
from harcnn.core.outputs import OutputKind, check_output, csv_header, json_keys
from harcnn.data.bodyframe import FrameTimeline
from harcnn.data.labels import Timeline, window_spans
from harcnn.serving.timeline import METHODS, HMMSmoother, TimelineScores, mark_unknown, score_timeline
from harcnn.serving.timeline import smooth as smooth_labels

__all__ = ["PREDICTIONS_FILE", "SCORES_FILE", "SEGMENTS_FILE", "UNKNOWN", "Prediction", "Segment", "output_paths",
           "write_prediction"]

UNKNOWN = "unknown"


@dataclass
class Segment:
    """Consecutive windows with the same predicted activity."""

    activity: str
    first_window: int
    last_window: int
    mean_confidence: float
    start: float | None = None  # seconds (recordings), tiled as the module docstring says
    end: float | None = None
    subject: str | None = None

    @property
    def n_windows(self) -> int:
        return self.last_window - self.first_window + 1

    @property
    def duration(self) -> float | None:
        return None if self.start is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if self.subject is not None:
            row["subject"] = self.subject
        if self.start is not None:
            row.update(start_s=round(self.start, 4), end_s=round(self.end, 4), duration_s=round(self.duration, 4))
        row.update(activity=self.activity, first_window=self.first_window, last_window=self.last_window,
                   n_windows=self.n_windows, mean_confidence=round(self.mean_confidence, 6))
        return row


@dataclass
class Prediction:
    """Predictions for ``n`` windows of one input.

    ``probabilities`` ``[n, K]`` (members averaged); for recordings ``start_times``/``end_times``
    (s, the recording's clock) and a signal trace for the timeline (``signal_times``, ``signal``:
    the acceleration magnitude); for labelled inputs ``labels`` (class indices, -1 unlabelled);
    ``subjects`` when known (a new subject breaks segments). ``decision`` is the activity timeline
    after :meth:`decide` (class indices, -1 unknown); before it, the most probable class per window.
    ``frame``: the body frame(s) a recording was turned into (None: the phone's own axes); the table
    then says each window's (at its centre): where it came from, its confidence and its segment
    (a new one after every move of the phone on the body).
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]
    source: str
    kind: str  # "windows", "dataset" or "recording"
    step_seconds: float
    model: str = ""
    start_times: np.ndarray | None = None
    end_times: np.ndarray | None = None
    labels: np.ndarray | None = None
    subjects: np.ndarray | None = None
    signal_times: np.ndarray | None = None
    signal: np.ndarray | None = None
    signal_label: str = "|acceleration| (g)"
    notes: list[str] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)  # stretches the quality check left out
    decision: np.ndarray | None = None
    smoothing: str = "none"
    truth: Timeline | None = None  # the true labelled segments, after :meth:`score`
    frame: FrameTimeline | None = None

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def predicted(self) -> np.ndarray:
        return self.decision if self.decision is not None else self.probabilities.argmax(axis=1)

    def name(self, k: int) -> str:
        return UNKNOWN if k < 0 else self.class_names[k]

    @property
    def names(self) -> tuple[str, ...]:
        """The class names, and ``unknown`` when some window is."""
        return self.class_names + ((UNKNOWN,) if (self.predicted < 0).any() else ())

    @property
    def activities(self) -> list[str]:
        return [self.name(i) for i in self.predicted]

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def accuracy(self) -> float | None:
        """The share of labelled windows whose activity is the true one (unknown counts as wrong)."""
        if self.labels is None or not (self.labels >= 0).any():
            return None
        known = self.labels >= 0
        return float((self.predicted[known] == self.labels[known]).mean())

    # ------------------------------------------------------------------ the timeline
    def decide(self, smooth: str = "none", *, hmm: dict | None = None, unknown: float | None = None,
               width: int = 5) -> Prediction:
        """Set :attr:`decision`: the window probabilities smoothed by ``smooth`` (``hmm`` needs the
        model's smoother, :attr:`TrainedModel.timeline`), each gap-free stretch on its own; then windows
        whose probability of their most probable class is below ``unknown`` become unknown (-1)."""
        if smooth not in METHODS:
            raise HarcnnError(f"smoothing must be one of {', '.join(METHODS)}, got {smooth!r}")
        smoother = None
        if smooth == "hmm":
            if not hmm:
                raise HarcnnError("this model has no timeline smoother (it was trained on windows without "
                                  "recordings): use --smooth median or none, or train it with --timeline-data "
                                  "(labelled recordings of its classes)")
            smoother = HMMSmoother.from_dict(hmm)
        _, _, contiguous = self.window_spans()
        labels = smooth_labels(self.probabilities, smooth, hmm=smoother, width=width, contiguous=contiguous)
        if unknown is not None:
            labels = mark_unknown(labels, self.confidence, unknown)
        self.decision, self.smoothing = labels, smooth
        note = f"timeline: {smooth} smoothing"
        if unknown is not None:
            note += f", unknown below confidence {unknown:.3f} ({int((labels < 0).sum())} windows)"
        self.notes.append(note)
        return self

    def timeline(self) -> Timeline:
        """The predicted activity timeline (seconds for recordings, window units otherwise)."""
        lo, hi, _ = self.window_spans()
        return Timeline(lo, hi, np.array(self.activities, dtype=object)).merged()

    def score(self, truth: Timeline, *, tolerance_s: float = 2.0) -> TimelineScores:
        """Scores against the true labelled segments, within their labelled time (time the model has no
        class for is left out, as are its predictions there): agreement per second and per window,
        segment precision/recall/F1 within ``tolerance_s``, fragmentation, confusion over time. Sets
        :attr:`truth` and the true label of every window (the label at its centre; -1 where unlabelled)."""
        if not self.has_times:
            raise HarcnnError("a labels table scores a recording's timeline: this input has no times")
        keep = np.isin(truth.labels, self.class_names)
        truth = Timeline(truth.starts[keep], truth.ends[keep], truth.labels[keep])
        centres = (self.start_times + self.end_times) / 2
        inside = (truth.starts[None, :] <= centres[:, None]) & (centres[:, None] < truth.ends[None, :])
        index = {name: k for k, name in enumerate(self.class_names)}
        self.labels = np.array([index[truth.labels[row.argmax()]] if row.any() else -1 for row in inside])
        self.truth = truth
        true_windows = [self.class_names[k] if k >= 0 else None for k in self.labels]
        return score_timeline(truth, self.timeline().within(truth), self.class_names, tolerance_s=tolerance_s,
                              true_windows=true_windows, pred_windows=self.activities)

    @property
    def has_times(self) -> bool:
        return self.start_times is not None

    # ------------------------------------------------------------------ tables
    def window_spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lo, hi, contiguous)``: the stretch each window owns (see the module docstring);
        ``contiguous[i]`` says window i+1 directly follows window i. Window units without times."""
        n = len(self)
        if not self.has_times:
            lo = np.arange(n, dtype=np.float64)
            contiguous = np.ones(max(n - 1, 0), dtype=bool)
            if self.subjects is not None:
                contiguous &= self.subjects[1:] == self.subjects[:-1]
            return lo, lo + 1.0, contiguous
        return window_spans(self.start_times, self.end_times, self.step_seconds)

    def segments(self) -> list[Segment]:
        """Runs of consecutive windows with the same prediction (a gap or a new subject ends a run)."""
        if len(self) == 0:
            return []
        predicted, confidence = self.predicted, self.confidence
        lo, hi, contiguous = self.window_spans()
        breaks = np.flatnonzero((predicted[1:] != predicted[:-1]) | ~contiguous) + 1
        bounds = [0, *breaks.tolist(), len(self)]
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            seg = Segment(self.name(predicted[a]), a, b - 1, float(confidence[a:b].mean()))
            if self.has_times:
                seg.start, seg.end = float(lo[a]), float(hi[b - 1])
            if self.subjects is not None:
                seg.subject = str(self.subjects[a])
            out.append(seg)
        return out

    def rows(self) -> tuple[list[str], list[list[Any]]]:
        """The per-window table: header and rows (probabilities with 6 decimals)."""
        header = ["window"]
        if self.subjects is not None:
            header.append("subject")
        if self.has_times:
            header += ["start_s", "end_s"]
        header += ["activity", "confidence"]
        if self.decision is not None:
            header.append("window_activity")
        if self.labels is not None:
            header.append("true_activity")
        frames = self.window_frames()
        if frames is not None:
            header += ["frame", "frame_confidence", "frame_segment"]
        header += [f"p_{name}" for name in self.class_names]
        rows = []
        predicted, confidence = self.predicted, self.confidence
        for i in range(len(self)):
            row: list[Any] = [i]
            if self.subjects is not None:
                row.append(str(self.subjects[i]))
            if self.has_times:
                row += [f"{self.start_times[i]:.4f}", f"{self.end_times[i]:.4f}"]
            row += [self.name(predicted[i]), f"{confidence[i]:.6f}"]
            if self.decision is not None:
                row.append(self.class_names[int(self.probabilities[i].argmax())])
            if self.labels is not None:
                row.append(self.name(self.labels[i]) if self.labels[i] >= 0 else "")
            if frames is not None:
                frame = self.frame.estimate.frames[frames[i]]
                row += [frame.source, frame.confidence, int(frames[i])]
            row += [f"{p:.6f}" for p in self.probabilities[i]]
            rows.append(row)
        return header, rows

    def window_frames(self) -> np.ndarray | None:
        """The index of each window's frame in :attr:`frame` (the one in force at its centre), or None."""
        if self.frame is None or not self.has_times:
            return None
        return self.frame.index_at((self.start_times + self.end_times) / 2)

    def time_per_activity(self) -> dict[str, float]:
        """Seconds (recordings) or windows (window inputs) predicted per activity, in class order."""
        lo, hi, _ = self.window_spans()
        owned = hi - lo
        totals = {name: 0.0 for name in self.names}
        for k, amount in zip(self.predicted, owned):
            totals[self.name(k)] += float(amount)
        return totals

    def summary(self) -> str:
        """A few lines: what was predicted, how much of each activity, the accuracy if labelled."""
        totals = self.time_per_activity()
        counts = {name: int(np.sum(np.array(self.activities) == name)) for name in self.names}
        segments = self.segments()
        n_segments = {name: sum(s.activity == name for s in segments) for name in self.names}
        total = sum(totals.values()) or 1.0
        if self.has_times:
            head = (f"{len(self)} windows covering {total:.1f} s of {Path(self.source).name} "
                    f"({len(segments)} segments)")
        else:
            head = f"{len(self)} windows from {Path(self.source).name} ({len(segments)} segments)"
        lines = [head]
        if self.frame is not None:
            lines.append(self.frame.describe())
        if self.excluded:
            lines.append("Left out by the quality check (a gap in the timeline; --quality keep predicts them): "
                         + ", ".join(f"{s['start_s']:g}-{s['end_s']:g} s {s['reason']}" for s in self.excluded))
        width = max(len(n) for n in self.names)
        for name in self.names:
            if not counts[name]:
                continue
            amount = (f"{totals[name]:8.1f} s" if self.has_times
                      else f"{counts[name]:6d} window{'s' if counts[name] != 1 else ' '}")
            lines.append(f"  {name:<{width}}  {amount}  {100 * totals[name] / total:5.1f}%  "
                         f"({n_segments[name]} segment{'s' if n_segments[name] != 1 else ''})")
        if self.accuracy is not None:
            known = self.labels >= 0
            lines.append(f"Accuracy against the labels: {100 * self.accuracy:.2f}% "
                         f"({int((self.predicted[known] == self.labels[known]).sum())}/{int(known.sum())})")
        lines += self.notes
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        header, rows = self.rows()
        k = len(self.class_names)
        windows = []
        for row in rows:
            entry = dict(zip(header[:-k], row[:-k]))
            for key in ("start_s", "end_s", "confidence"):
                if key in entry:
                    entry[key] = float(entry[key])
            entry["probabilities"] = {n: float(p) for n, p in zip(self.class_names, row[-k:])}
            windows.append(entry)
        return {"source": self.source, "kind": self.kind, "model": self.model, "class_names": list(self.class_names),
                "smoothing": self.smoothing, "n_windows": len(self), "accuracy": self.accuracy,
                "time_per_activity" if self.has_times else "windows_per_activity":
                    {n: (round(v, 4) if self.has_times else int(v)) for n, v in self.time_per_activity().items()},
                **({"excluded": self.excluded} if self.excluded else {}),
                **({"frame": self.frame.spans()} if self.frame is not None else {}), "windows": windows}


def _table_kind(name: str, columns: set[str], keys: set[str]) -> OutputKind:
    """A table harcnn writes as CSV (recognised by its header's ``columns``) or JSON (by its ``keys``)."""
    def recognise(path: Path) -> bool:
        return columns <= csv_header(path) if path.suffix.lower() == ".csv" else keys <= json_keys(path)

    return OutputKind(name, folder=False, recognise=recognise)


#: What ``predict`` writes: the per-window table, the segments beside it, and the timeline's scores.
PREDICTIONS_FILE = _table_kind("predictions file", {"window", "activity", "confidence"},
                               {"source", "kind", "model", "class_names", "n_windows", "windows"})
SEGMENTS_FILE = _table_kind("segments file",
                            {"activity", "first_window", "last_window", "n_windows", "mean_confidence"},
                            {"source", "model", "segments"})
SCORES_FILE = _table_kind("timeline scores file", set(),
                          {"agreement", "coverage", "f1", "fragmentation", "classes", "confusion_seconds"})


def output_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``(windows file, segments file)``: ``x.csv`` -> ``x_segments.csv`` beside it."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise HarcnnError(f"{out}: the output must end in .csv or .json")
    return out, out.with_name(f"{out.stem}_segments{out.suffix}")


def write_prediction(prediction: Prediction, out: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the per-window table and the segments (CSV or JSON by ``out``'s extension), atomically.
    Existing files are replaced only with ``overwrite``, and only when they are such tables harcnn wrote."""
    windows_path, segments_path = output_paths(out)
    check_output(windows_path, PREDICTIONS_FILE, option="out", replace=overwrite)
    check_output(segments_path, SEGMENTS_FILE, option="out", replace=overwrite)
    segments = [s.to_dict() for s in prediction.segments()]
    if windows_path.suffix.lower() == ".json":
        write_json(windows_path, prediction.to_json())
        write_json(segments_path, {"source": prediction.source, "model": prediction.model, "segments": segments})
    else:
        write_csv(windows_path, *prediction.rows())
        header = list(segments[0]) if segments else ["activity", "first_window", "last_window", "n_windows",
                                                      "mean_confidence"]
        write_csv(segments_path, header, [[s[k] for k in header] for s in segments])
    return windows_path, segments_path
