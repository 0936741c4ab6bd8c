"""Using a saved model on new data: windows, UCI folders and continuous recordings.

Inputs (:func:`predict_path` picks by what ``path`` is):

* **windows**: ``.npy`` ``[n, 128, 9]`` or ``.npz`` (array ``X`` or ``windows``, or its only
  array; an optional ``y`` of class indices 0..5 adds the accuracy). Raw windows in the
  dataset's channel order (total_acc x,y,z in g; body_acc x,y,z in g; body_gyro x,y,z in rad/s).
* **UCI HAR layout**: the dataset (zip, or the folder holding ``activity_labels.txt`` or
  ``UCI HAR Dataset/``), whose ``test`` split is predicted (``split="train"`` for the other);
  or one split folder (``.../test``, holding ``Inertial Signals/``). Labels and subjects are read
  when present, so the accuracy is reported too.
* **recording**: CSV (or Parquet) with a time column and acc/gyro x,y,z at any rate, read by
  :func:`harcnn.data.load_recording` and cut into windows by
  :func:`harcnn.data.recording_to_windows` (resampled to 50 Hz, the dataset's causal
  preprocessing, 128-sample windows every 64 samples).

:class:`Prediction` holds one row per window (probabilities, predicted activity, times for
recordings) and merges consecutive equal predictions into :class:`Segment` s. Segment times tile
the recording: consecutive windows overlap by half, so each window is given the stretch that is
closer to its centre than to its neighbours' centres (the first window also its first quarter,
the last its last quarter); a gap in the recording ends a segment.

:func:`timeline_plot` draws the signal with coloured activity bands; :class:`StreamingPredictor`
predicts live samples window by window, with the same results as the batch path.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.artifact import TrainedModel
from harcnn.errors import DataError, HarcnnError
from harcnn.io import atomic_write_bytes, write_csv, write_json

__all__ = [
    "Prediction", "Segment", "StreamEvent", "StreamingPredictor", "load_windows_file", "predict_path",
    "predict_recording", "predict_windows", "read_uci_windows", "timeline_plot", "write_prediction",
]

WINDOW_SUFFIXES = (".npy", ".npz")
RECORDING_SUFFIXES = (".csv", ".txt", ".tsv", ".gz", ".parquet", ".pq")

#: One colour per UCI HAR activity (moving: blues/greens; static: warm colours).
ACTIVITY_COLORS = {
    "WALKING": "#2b7bba",
    "WALKING_UPSTAIRS": "#2ca25f",
    "WALKING_DOWNSTAIRS": "#7fcdbb",
    "SITTING": "#fdae61",
    "STANDING": "#d7301f",
    "LAYING": "#8c6bb1",
}
_FALLBACK_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


@dataclass
class Segment:
    """Consecutive windows with the same predicted activity."""

    activity: str
    first_window: int
    last_window: int
    mean_confidence: float
    start: float | None = None  # seconds (recordings), tiled as the module docstring says
    end: float | None = None
    subject: int | None = None

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
    (s, the recording's clock) and the raw acceleration magnitude (``signal_times``,
    ``signal``) for the timeline; for labelled inputs ``labels`` (class indices); for UCI inputs
    ``subjects``.
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]
    source: str
    kind: str  # "windows", "uci" or "recording"
    model: str = ""
    start_times: np.ndarray | None = None
    end_times: np.ndarray | None = None
    labels: np.ndarray | None = None
    subjects: np.ndarray | None = None
    signal_times: np.ndarray | None = None
    signal: np.ndarray | None = None
    signal_label: str = "|acceleration| (g)"
    step_seconds: float = 64 / 50.0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def activities(self) -> list[str]:
        return [self.class_names[i] for i in self.predicted]

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def accuracy(self) -> float | None:
        return None if self.labels is None else float((self.predicted == self.labels).mean())

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
        start, end = self.start_times.astype(np.float64), self.end_times.astype(np.float64)
        gaps = np.diff(start)
        contiguous = np.abs(gaps - self.step_seconds) <= 0.05 * self.step_seconds
        lo, hi = start.copy(), end.copy()
        centres = (start + end) / 2
        middle = (centres[:-1] + centres[1:]) / 2
        hi[:-1] = np.where(contiguous, middle, hi[:-1])
        lo[1:] = np.where(contiguous, middle, lo[1:])
        return lo, hi, contiguous

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
            seg = Segment(self.class_names[predicted[a]], a, b - 1, float(confidence[a:b].mean()))
            if self.has_times:
                seg.start, seg.end = float(lo[a]), float(hi[b - 1])
            if self.subjects is not None:
                seg.subject = int(self.subjects[a])
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
        if self.labels is not None:
            header.append("true_activity")
        header += [f"p_{name}" for name in self.class_names]
        rows = []
        predicted, confidence = self.predicted, self.confidence
        for i in range(len(self)):
            row: list[Any] = [i]
            if self.subjects is not None:
                row.append(int(self.subjects[i]))
            if self.has_times:
                row += [f"{self.start_times[i]:.4f}", f"{self.end_times[i]:.4f}"]
            row += [self.class_names[predicted[i]], f"{confidence[i]:.6f}"]
            if self.labels is not None:
                row.append(self.class_names[self.labels[i]])
            row += [f"{p:.6f}" for p in self.probabilities[i]]
            rows.append(row)
        return header, rows

    def time_per_activity(self) -> dict[str, float]:
        """Seconds (recordings) or windows (window inputs) predicted per activity, in class order."""
        lo, hi, _ = self.window_spans()
        owned = hi - lo
        totals = {name: 0.0 for name in self.class_names}
        for k, amount in zip(self.predicted, owned):
            totals[self.class_names[k]] += float(amount)
        return totals

    def summary(self) -> str:
        """A few lines: what was predicted, how much of each activity, the accuracy if labelled."""
        totals = self.time_per_activity()
        counts = np.bincount(self.predicted, minlength=len(self.class_names))
        segments = self.segments()
        n_segments = {name: sum(s.activity == name for s in segments) for name in self.class_names}
        total = sum(totals.values()) or 1.0
        unit = "s" if self.has_times else "windows"
        if self.has_times:
            head = (f"{len(self)} windows covering {total:.1f} s of {Path(self.source).name} "
                    f"({len(segments)} segments)")
        else:
            head = f"{len(self)} windows from {Path(self.source).name} ({len(segments)} segments)"
        lines = [head]
        width = max(len(n) for n in self.class_names)
        for k, name in enumerate(self.class_names):
            if not counts[k]:
                continue
            amount = (f"{totals[name]:8.1f} s" if unit == "s"
                      else f"{int(counts[k]):6d} window{'s' if counts[k] != 1 else ' '}")
            lines.append(f"  {name:<{width}}  {amount}  {100 * totals[name] / total:5.1f}%  "
                         f"({n_segments[name]} segment{'s' if n_segments[name] != 1 else ''})")
        if self.labels is not None:
            lines.append(f"Accuracy against the labels: {100 * self.accuracy:.2f}% "
                         f"({int((self.predicted == self.labels).sum())}/{len(self)})")
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
                "n_windows": len(self), "accuracy": self.accuracy,
                "time_per_activity" if self.has_times else "windows_per_activity":
                    {n: (round(v, 4) if self.has_times else int(v)) for n, v in self.time_per_activity().items()},
                "windows": windows}


# ---------------------------------------------------------------------------------------- reading inputs


def load_windows_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Windows (and labels, if the ``.npz`` has ``y``) from a ``.npy`` or ``.npz`` file."""
    path = Path(path)
    where = f"{path}: "
    if not path.is_file():
        raise DataError(f"{where}no such file")
    labels = None
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{where}not a readable numpy file ({error})") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{where}not a readable numpy file (truncated or corrupt? {error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            key = next((k for k in ("X", "windows", "x") if k in names), None)
            if key is None:
                arrays = [k for k in names if k not in ("y", "labels")]
                if len(arrays) != 1:
                    found = ", ".join(names) or "none"
                    raise DataError(f"{where}expected an array named 'X' or 'windows' (found: {found})")
                key = arrays[0]
            try:
                X = loaded[key]
                label_key = next((k for k in ("y", "labels") if k in names), None)
                if label_key is not None:
                    labels = np.asarray(loaded[label_key])
            except ValueError as error:
                raise DataError(f"{where}cannot read array {key!r} ({error})") from None
    else:
        X = loaded
    if X.ndim != 3:
        raise DataError(f"{where}expected windows [n, 128, 9], got an array of shape {list(X.shape)}")
    if labels is not None:
        if labels.shape != (len(X),) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{where}labels 'y' must be {len(X)} integer class indices, got shape {list(labels.shape)}")
    return X, labels


def read_uci_windows(path: str | os.PathLike, split: str = "test") -> tuple[np.ndarray, np.ndarray | None,
                                                                             np.ndarray | None, str]:
    """``(X, y, subject, label)`` from a UCI HAR dataset (zip or folder: its ``split``) or from one
    split folder holding ``Inertial Signals/`` (``y``/``subject`` None when their files are absent)."""
    from harcnn.data.uci_har import CHANNEL_NAMES

    path = Path(path)
    if path.is_dir() and (path / "Inertial Signals").is_dir():
        return _read_split_folder(path, CHANNEL_NAMES)
    if split not in ("train", "test"):
        raise HarcnnError(f"split must be 'train' or 'test', got {split!r}")
    from harcnn.data import load_uci_har

    dataset = load_uci_har(path, download=False, progress=False)
    part = getattr(dataset, split)
    return part.X, part.y, part.subject, f"{dataset.source} ({split} split)"


def _read_split_folder(folder: Path, channels: Sequence[str]):
    from harcnn.data.textparse import parse_float_table, parse_int_column

    signals = folder / "Inertial Signals"
    found = sorted(p.name for p in signals.glob("total_acc_x_*.txt"))
    if len(found) != 1:
        raise DataError(f"{signals}: expected one total_acc_x_<split>.txt, found {len(found)}")
    split = found[0][len("total_acc_x_"):-len(".txt")]
    tables = []
    for channel in channels:
        file = signals / f"{channel}_{split}.txt"
        if not file.is_file():
            raise DataError(f"{signals}: missing {file.name}")
        tables.append(parse_float_table(file.read_bytes(), str(file), ncols=128).astype(np.float32))
    rows = {len(t) for t in tables}
    if len(rows) != 1:
        raise DataError(f"{signals}: the signal files disagree on the number of windows")
    X = np.stack(tables, axis=-1)
    y = subject = None
    y_file, s_file = folder / f"y_{split}.txt", folder / f"subject_{split}.txt"
    if y_file.is_file():
        y = parse_int_column(y_file.read_bytes(), str(y_file)) - 1
        if y.shape != (len(X),) or y.min() < 0 or y.max() > 5:
            raise DataError(f"{y_file}: expected {len(X)} labels in 1..6")
    if s_file.is_file():
        subject = parse_int_column(s_file.read_bytes(), str(s_file))
        if subject.shape != (len(X),):
            raise DataError(f"{s_file}: expected {len(X)} subject ids")
    return X, y, subject, str(folder)


def input_kind(path: str | os.PathLike) -> str:
    """``"windows"``, ``"uci"`` or ``"recording"`` for an input path (a DataError if unknown)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix.lower() == ".zip":
        return "uci"
    suffix = path.suffix.lower()
    if suffix in WINDOW_SUFFIXES:
        return "windows"
    if suffix in RECORDING_SUFFIXES:
        return "recording"
    raise DataError(f"{path}: unknown input type {suffix or '(no extension)'!r}; expected windows (.npy, .npz), "
                    "a UCI HAR folder or zip, or a recording (.csv, .csv.gz, .parquet)")


# ---------------------------------------------------------------------------------------- predicting


def _check_uci_channels(model: TrainedModel) -> None:
    from harcnn.data.uci_har import CHANNEL_NAMES

    if tuple(model.channel_names) != tuple(CHANNEL_NAMES) or model.window != 128:
        raise HarcnnError(f"this model reads windows of {model.window} steps with channels "
                          f"{', '.join(model.channel_names)}; UCI-style inputs give 128 x {', '.join(CHANNEL_NAMES)}")


def predict_windows(model: TrainedModel, windows: np.ndarray, *, labels: np.ndarray | None = None,
                    subjects: np.ndarray | None = None, source: str = "windows", kind: str = "windows") -> Prediction:
    """Predict raw windows ``[n, window, channels]``; the signal trace for the timeline is the
    total-acceleration magnitude of each window's second half (exact for consecutive windows)."""
    X = np.asarray(windows)
    probabilities = model.predict_proba(X)  # checks the shape and values
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(X),) or labels.min() < 0 or labels.max() >= model.n_classes:
            raise DataError(f"labels must be {len(X)} class indices in 0..{model.n_classes - 1}")
    half = X.shape[1] // 2
    acc = [model.channel_names.index(c) for c in ("total_acc_x", "total_acc_y", "total_acc_z")
           if c in model.channel_names]
    pred = Prediction(probabilities, model.class_names, str(source), kind, model=model.describe(),
                      labels=labels, subjects=None if subjects is None else np.asarray(subjects))
    if len(acc) == 3:
        tail = X[:, half:, :][:, :, acc].astype(np.float64)
        pred.signal = np.linalg.norm(tail, axis=2).reshape(-1)
        steps = X.shape[1] - half
        pred.signal_times = (np.arange(len(X))[:, None] + (np.arange(steps)[None, :] + 0.5) / steps).reshape(-1)
    return pred


def predict_recording(model: TrainedModel, recording, config=None, **window_options) -> Prediction:
    """Predict a :class:`~harcnn.data.Recording`: windows by ``recording_to_windows`` (with
    ``config`` and ``window_options``), times from the recording's clock."""
    from harcnn.data.recordings import recording_to_windows

    _check_uci_channels(model)
    cut = recording_to_windows(recording, config, **window_options)
    pred = predict_windows(model, cut.windows, source=recording.source or "recording", kind="recording")
    pred.start_times, pred.end_times = cut.start_times, cut.end_times
    pred.step_seconds = model.step / model.sampling_rate
    pred.signal_times = recording.timestamps
    pred.signal = np.linalg.norm(recording.sensors["acc"], axis=1)
    return pred


def predict_path(model: TrainedModel, path: str | os.PathLike, *, split: str = "test", acc_units: str = "g",
                 gyro_units: str = "rad/s", time_column: str | None = "time", time_unit: str = "s",
                 sampling_rate: float | None = None, columns: dict[str, str] | None = None) -> Prediction:
    """Predict whatever ``path`` holds (see the module docstring)."""
    kind = input_kind(path)
    if kind == "windows":
        X, y = load_windows_file(path)
        return predict_windows(model, X, labels=y, source=str(path))
    if kind == "uci":
        _check_uci_channels(model)
        X, y, subject, label = read_uci_windows(path, split)
        return predict_windows(model, X, labels=y, subjects=subject, source=label, kind="uci")
    from harcnn.data.recordings import load_recording

    recording = load_recording(path, acc_units=acc_units, gyro_units=gyro_units, time_column=time_column,
                               time_unit=time_unit, sampling_rate=sampling_rate, columns=columns)
    return predict_recording(model, recording)


# ---------------------------------------------------------------------------------------- writing


def output_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``(windows file, segments file)``: ``x.csv`` -> ``x_segments.csv`` beside it."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise HarcnnError(f"{out}: the output must end in .csv or .json")
    return out, out.with_name(f"{out.stem}_segments{out.suffix}")


def write_prediction(prediction: Prediction, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write the per-window table and the segments (CSV or JSON by ``out``'s extension), atomically."""
    windows_path, segments_path = output_paths(out)
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


# ---------------------------------------------------------------------------------------- timeline plot


def activity_colors(class_names: Sequence[str]) -> dict[str, str]:
    colors, spare = {}, iter(_FALLBACK_COLORS * 4)
    for name in class_names:
        colors[name] = ACTIVITY_COLORS.get(name) or next(spare)
    return colors


def _envelope(t: np.ndarray, y: np.ndarray, max_points: int = 6000):
    """Thin a long trace for plotting: ``(t, mean, low, high)`` per bin (low/high None when short)."""
    if len(t) <= max_points:
        return t, y, None, None
    bins = max_points // 2
    edges = np.linspace(0, len(t), bins + 1).astype(int)
    idx = edges[:-1]
    mean = np.add.reduceat(y, idx) / np.diff(edges)
    return t[idx + np.diff(edges) // 2], mean, np.minimum.reduceat(y, idx), np.maximum.reduceat(y, idx)


def timeline_plot(prediction: Prediction, path: str | os.PathLike, *, title: str | None = None,
                  width: float = 12.0) -> Path:
    """A PNG: the signal (acceleration magnitude) over coloured bands of the predicted activity,
    a ribbon of the predicted (and, when known, true) activity, and the confidence per window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if len(prediction) == 0:
        raise HarcnnError("nothing to plot: no windows")
    colors = activity_colors(prediction.class_names)
    lo, hi, _ = prediction.window_spans()
    segments = prediction.segments()
    scale, unit = 1.0, "window"
    offset = 0.0
    if prediction.has_times:
        offset = float(prediction.start_times[0]) if prediction.start_times[0] > 1e5 else 0.0  # epoch clocks
        span = hi[-1] - lo[0]
        scale, unit = (60.0, "min") if span > 600 else (1.0, "s")

    def x(v):
        return (np.asarray(v, dtype=np.float64) - offset) / scale

    ribbons = [("predicted", prediction.predicted)]
    if prediction.labels is not None:
        ribbons.append(("true", prediction.labels))
    fig = Figure(figsize=(width, 4.6 + 0.3 * len(ribbons)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3.2, 0.45 * len(ribbons), 1.1]})
    ax_signal, ax_ribbon, ax_conf = axes

    for seg in segments:
        a, b = x(lo[seg.first_window]), x(hi[seg.last_window])
        ax_signal.axvspan(a, b, color=colors[seg.activity], alpha=0.28, linewidth=0)
    if prediction.signal is not None:
        t, y = x(prediction.signal_times), np.asarray(prediction.signal, dtype=np.float64)
        keep = (t >= x(lo[0]) - 1e-9) & (t <= x(hi[-1]) + 1e-9)
        t, mean, low, high = _envelope(t[keep], y[keep])
        if low is not None:
            ax_signal.fill_between(t, low, high, color="#333333", alpha=0.35, linewidth=0)
        ax_signal.plot(t, mean, color="#2a2a2a", linewidth=0.45)
        ax_signal.set_ylabel(prediction.signal_label)
    else:
        ax_signal.set_yticks([])
    ax_signal.margins(x=0)
    ax_signal.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax_signal.set_axisbelow(True)

    for row, (label, classes) in enumerate(ribbons):
        y0 = len(ribbons) - 1 - row
        runs = np.flatnonzero(np.diff(classes) != 0) + 1
        bounds = [0, *runs.tolist(), len(classes)]
        by_class: dict[int, list[tuple[float, float]]] = {}
        for a, b in zip(bounds[:-1], bounds[1:]):
            start = x(lo[a])
            by_class.setdefault(int(classes[a]), []).append((float(start), float(x(hi[b - 1]) - start)))
        for k, bars in by_class.items():
            ax_ribbon.broken_barh(bars, (y0 + 0.08, 0.84), facecolors=colors[prediction.class_names[k]],
                                  linewidth=0)
    ax_ribbon.set_ylim(0, len(ribbons))
    ax_ribbon.set_yticks([len(ribbons) - 1 - i + 0.5 for i in range(len(ribbons))], [r[0] for r in ribbons])
    ax_ribbon.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax_ribbon.spines[side].set_visible(False)

    conf = prediction.confidence
    steps_x = np.stack([x(lo), x(hi)], axis=1).reshape(-1)  # each window's value over its own stretch
    steps_y = np.repeat(conf, 2)
    ax_conf.fill_between(steps_x, 0, steps_y, color="#9ecae1", alpha=0.6, linewidth=0)
    ax_conf.plot(steps_x, steps_y, color="#3182bd", linewidth=0.8)
    ax_conf.set_ylim(0, 1.02)
    ax_conf.set_yticks([0, 0.5, 1])
    ax_conf.set_ylabel("confidence")
    ax_conf.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax_conf.set_xlim(x(lo[0]), x(hi[-1]))
    if prediction.has_times:
        ax_conf.set_xlabel(f"time since start ({unit})" if offset else f"time ({unit})")
    else:
        ax_conf.set_xlabel("window (signal: second half of each window, consecutive windows assumed)")

    if prediction.subjects is not None and len(prediction.subjects):
        subjects = np.asarray(prediction.subjects)
        starts = [0, *(np.flatnonzero(subjects[1:] != subjects[:-1]) + 1).tolist()]
        for i in starts:
            if i:
                for ax in axes:
                    ax.axvline(x(lo[i]), color="#555555", linewidth=0.8, linestyle="--")
            if len(starts) <= 30:
                ax_signal.annotate(f"subject {subjects[i]}", (x(lo[i]), 1.0), xycoords=("data", "axes fraction"),
                                   xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                                   color="#333333")

    present = sorted(set(prediction.predicted.tolist()) | set(() if prediction.labels is None
                                                               else prediction.labels.tolist()))
    handles = [Patch(facecolor=colors[prediction.class_names[k]],
                     label=prediction.class_names[k].replace("_", " ").lower()) for k in present]
    ax_signal.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(handles),
                     frameon=False, fontsize=9, handlelength=1.2, borderaxespad=0.2)
    if title is None:
        title = f"Predicted activities: {Path(prediction.source).name}"
        if prediction.model:
            title += f"  [{prediction.model}]"
        if prediction.accuracy is not None:
            title += f"  accuracy {100 * prediction.accuracy:.1f}%"
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, facecolor="white")
    fig.clear()
    return atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class StreamEvent:
    """One completed window of a stream: its index (from 0), its time span in seconds since the
    first sample (plus the predictor's ``start_time``), the class probabilities and the prediction."""

    index: int
    start_time: float
    end_time: float
    probabilities: np.ndarray
    class_index: int
    activity: str

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.class_index])


class StreamingPredictor:
    """Predict live sensor samples window by window.

    ``push(acc_chunk [k, 3], gyro_chunk [k, 3])`` takes samples at 50 Hz (acceleration in g, or
    m/s^2 with ``acc_units="m/s2"``; angular velocity in rad/s), any ``k`` (0 included), and
    returns a :class:`StreamEvent` for every window the chunk completes (128 samples, a new one
    every 64). Preprocessing is the dataset's causal pipeline carried across chunks
    (:class:`harcnn.data.StreamingWindower`), so the events equal the batch path on the whole
    signal: ``model.predict_proba(make_windows(acc, gyro))``, or ``predict_recording`` of a 50 Hz
    recording (the windows bit for bit; the probabilities to float rounding, since a batch of one
    may round differently from a large batch).
    """

    def __init__(self, model: TrainedModel, config=None, *, acc_units: str = "g", start_time: float = 0.0):
        from harcnn.data.windows import STANDARD_GRAVITY, StreamingWindower

        _check_uci_channels(model)
        units = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "m/s^2": 1.0 / STANDARD_GRAVITY}
        if acc_units not in units:
            raise HarcnnError(f"acc_units must be 'g' or 'm/s2', got {acc_units!r}")
        self.model = model
        self.acc_scale = units[acc_units]
        self.start_time = float(start_time)
        self.windower = StreamingWindower(config, window=model.window, step=model.step,
                                          sampling_rate=model.sampling_rate)

    def reset(self) -> None:
        self.windower.reset()

    @property
    def windows_emitted(self) -> int:
        return self.windower.windows_emitted

    def push(self, acc_chunk, gyro_chunk) -> list[StreamEvent]:
        acc = np.asarray(acc_chunk, dtype=np.float64) * self.acc_scale
        windows = self.windower.push(acc, gyro_chunk)
        if len(windows) == 0:
            return []
        probabilities = self.model.predict_proba(windows)
        first = self.windower.windows_emitted - len(windows)
        rate, step, length = self.model.sampling_rate, self.model.step, self.model.window
        events = []
        for j, p in enumerate(probabilities):
            index = first + j
            k = int(p.argmax())
            start = self.start_time + index * step / rate
            events.append(StreamEvent(index, start, start + length / rate, p, k, self.model.class_names[k]))
        return events
