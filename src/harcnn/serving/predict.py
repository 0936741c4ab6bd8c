"""Using a saved model on new data: window files, datasets and continuous recordings.

Inputs (:func:`predict_path` picks by what ``path`` is):

* **windows**: ``.npy`` ``[n, window, channels]`` or ``.npz`` (array ``X`` or ``windows``, or its
  only array; an optional ``y`` of class indices adds the accuracy): raw windows in the model's
  channel order and units (the model folder's config.json lists them: ``load_model(DIR).spec.channels``).
* **a dataset** any ``harcnn`` command reads (a UCI HAR or HAPT zip or folder, a folder of labelled
  recordings, ...): its test split when it has an official one, else all its windows; labels and
  subjects come along, so the accuracy is reported too. It is loaded with the window options of the
  model's training data (:func:`load_like_training`), and its windows must then match the model's input.
* **a recording**: CSV (or Parquet) with a time column and the sensors the model needs, at any
  rate, or a folder of one file per sensor as phone apps export them; read by
  :func:`harcnn.data.load_recording` and prepared the way the model's training windows were (its
  input spec: rate, window, step, preprocessing).

:class:`Prediction` holds one row per window (probabilities, predicted activity, times for
recordings) and merges consecutive equal predictions into :class:`Segment` s. Segment times tile
the recording: consecutive windows overlap, so each window is given the stretch that is closer to
its centre than to its neighbours' centres (:func:`harcnn.serving.timeline.window_spans`); a gap in the
recording ends a segment.

:meth:`Prediction.decide` turns the window probabilities into the activity timeline: smoothed over
time (``"hmm"``: Viterbi decoding with the model's timeline smoother, learned from labelled
recordings; ``"median"``: a majority vote over 5 windows; ``"none"``), never across a gap, and with
windows below a confidence threshold marked ``unknown``. :meth:`Prediction.score` compares it with a
table of true labelled segments. :class:`StreamingPredictor` predicts live samples window by window,
with the same results as the batch path (and, smoothed, as the HMM's forward pass).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harcnn.serving.artifact import TrainedModel
from harcnn.data.sensorfiles import is_recording_file
from harcnn.data.windows import output_channels
from harcnn.core.errors import DataError, HarcnnError
from harcnn.core.io import write_csv, write_json
from harcnn.serving.timeline import Timeline, window_spans

if TYPE_CHECKING:
    from harcnn.data.recordings import Recording
    from harcnn.data.windows import PreprocessConfig
    from harcnn.serving.timeline import TimelineScores

UNKNOWN = "unknown"
SMOOTHING = ("none", "median", "hmm")

__all__ = [
    "Prediction", "Segment", "StreamEvent", "StreamingPredictor", "input_kind", "load_windows_file", "predict_path",
    "predict_recording", "predict_windows", "write_prediction",
]

WINDOW_SUFFIXES = (".npy", ".npz")


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
    decision: np.ndarray | None = None
    smoothing: str = "none"
    truth: Timeline | None = None  # the true labelled segments, after :meth:`score`

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
               width: int = 5) -> "Prediction":
        """Set :attr:`decision`: the window probabilities smoothed by ``smooth`` (``hmm`` needs the
        model's smoother, :attr:`TrainedModel.timeline`), each gap-free stretch on its own; then windows
        whose probability of their most probable class is below ``unknown`` become unknown (-1)."""
        from harcnn.serving.timeline import HMMSmoother, mark_unknown
        from harcnn.serving.timeline import smooth as smooth_labels

        if smooth not in SMOOTHING:
            raise HarcnnError(f"smoothing must be one of {', '.join(SMOOTHING)}, got {smooth!r}")
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

    def score(self, truth: Timeline, *, tolerance_s: float = 2.0) -> "TimelineScores":
        """Scores against the true labelled segments, within their labelled time (time the model has no
        class for is left out, as are its predictions there): agreement per second and per window,
        segment precision/recall/F1 within ``tolerance_s``, fragmentation, confusion over time. Sets
        :attr:`truth` and the true label of every window (the label at its centre; -1 where unlabelled)."""
        from harcnn.serving.timeline import score_timeline

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
            row += [f"{p:.6f}" for p in self.probabilities[i]]
            rows.append(row)
        return header, rows

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
                "windows": windows}


# ---------------------------------------------------------------------------------------- reading inputs


def load_windows_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Windows (and labels, if the ``.npz`` has ``y``) from a ``.npy`` or ``.npz`` file."""
    from harcnn.data.npz import read_npz_arrays

    path = Path(path)
    if path.suffix.lower() == ".npz":
        arrays = read_npz_arrays(path)
        return arrays["X"], arrays.get("y")
    where = f"{path}: "
    if not path.is_file():
        raise DataError(f"{where}no such file")
    try:
        X = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{where}not a readable numpy file (truncated or corrupt? {error})") from None
    if X.ndim != 3:
        raise DataError(f"{where}expected windows [n, time steps, channels], got an array of shape {list(X.shape)}")
    return X, None


def input_kind(path: str | os.PathLike) -> str:
    """``"windows"``, ``"dataset"`` or ``"recording"`` for an input path (a DataError if unknown)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir():
        from harcnn.data.recording_folder import sensor_files

        return "recording" if sensor_files(path) else "dataset"
    if suffix == ".zip":
        return "dataset"
    if suffix in WINDOW_SUFFIXES:
        return "windows"
    if is_recording_file(path.name):
        return "recording"
    raise DataError(f"{path}: unknown input type {suffix or '(no extension)'!r}; expected windows (.npy, .npz), "
                    "a dataset folder or zip, or a recording (.csv, .csv.gz, .parquet)")


# ---------------------------------------------------------------------------------------- predicting


def predict_windows(model: TrainedModel, windows: np.ndarray, *, labels: np.ndarray | None = None,
                    subjects: np.ndarray | None = None, source: str = "windows", kind: str = "windows") -> Prediction:
    """Predict raw windows ``[n, window, channels]``; the signal trace for the timeline is the
    acceleration magnitude of each window's last ``step`` samples (exact for consecutive windows)."""
    X = np.asarray(windows)
    probabilities = model.predict_proba(X)  # checks the shape and values
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(X),) or labels.min() < 0 or labels.max() >= model.n_classes:
            raise DataError(f"labels must be {len(X)} class indices in 0..{model.n_classes - 1}")
    pred = Prediction(probabilities, model.class_names, str(source), kind, model.spec.step_seconds,
                      model=model.describe(), labels=labels, subjects=None if subjects is None else np.asarray(subjects))
    acc = [model.channel_names.index(c) for c in output_channels(("acc",))[:3] if c in model.channel_names]
    if len(acc) == 3:
        tail = X[:, -model.step:, :][:, :, acc].astype(np.float64)
        pred.signal = np.linalg.norm(tail, axis=2).reshape(-1)
        steps = tail.shape[1]
        pred.signal_times = (np.arange(len(X))[:, None] + (np.arange(steps)[None, :] + 0.5) / steps).reshape(-1)
    return pred


def recording_recipe(model: TrainedModel) -> tuple[tuple[str, ...], "PreprocessConfig"]:
    """``(sensors, PreprocessConfig)``: how the model's windows were made from recordings, or a clear error
    when its windows did not come from recordings."""
    from harcnn.data.windows import PreprocessConfig

    recipe = model.spec.preprocessing
    if recipe is None:
        raise HarcnnError(f"this model was trained on windows without a recording preprocessing ({model.describe()}); "
                          "it predicts window files (.npy/.npz) only")
    return tuple(recipe["sensors"]), PreprocessConfig.from_dict({k: v for k, v in recipe.items() if k != "sensors"})


def predict_recording(model: TrainedModel, recording: "Recording", **window_options: Any) -> Prediction:
    """Predict a :class:`~harcnn.data.Recording`: the sensors the model reads, prepared with the model's
    input spec (rate, window, step, preprocessing); times from the recording's clock."""
    from harcnn.data.recordings import recording_to_windows

    sensors, config = recording_recipe(model)
    missing = [s for s in sensors if s not in recording.sensor_names]
    if missing:
        raise HarcnnError(f"{recording.source or 'the recording'} has no {', '.join(missing)} data, which this model "
                          f"needs (it reads {', '.join(sensors)}; the recording has {', '.join(recording.sensor_names)})")
    spec = model.spec
    cut = recording_to_windows(recording.select(*sensors), config, sampling_rate=spec.sampling_rate,
                               window=spec.window, step=spec.step, **window_options)
    if tuple(cut.channel_names) != spec.channels:
        raise HarcnnError(f"the recording gives channels {', '.join(cut.channel_names)}, but the model reads "
                          f"{', '.join(spec.channels)}")
    pred = predict_windows(model, cut.windows, source=recording.source or "recording", kind="recording")
    pred.start_times, pred.end_times = cut.start_times, cut.end_times
    pred.notes = list(cut.notes)
    if "acc" in recording.sensor_names:
        pred.signal_times = recording.timestamps
        pred.signal = np.linalg.norm(recording.sensors["acc"], axis=1)
    return pred


def load_like_training(model: TrainedModel, path: str | os.PathLike, **reading: Any):
    """The dataset at ``path`` with its windows made as the model's training windows were (the window
    options its training data was loaded with), its labels renumbered to the model's classes; a clear
    error when its windows still differ from the model's input (:meth:`InputSpec.differences`).
    ``reading``: options for reading recordings (units, time column, ...), for a folder of recordings."""
    from harcnn.data.dataset import source_kind

    kind = source_kind(path)
    options = {k: v for k, v in model.data.get("options", {}).items() if k in kind.options}
    given = {k: v for k, v in reading.items() if v is not None}
    if given and not set(given) <= set(kind.options):
        raise HarcnnError(f"{path}: {', '.join(sorted(given))} apply to recordings, and this is {kind.name} data")
    from harcnn.data.dataset import load_dataset

    dataset = load_dataset(path, kind.name, **options, **given)
    differences = model.spec.differences(dataset.spec, classes=False)
    if differences:
        raise HarcnnError(f"{path}: its windows are not made like this model's input: " + "; ".join(differences)
                          + f" (the model: {model.spec.describe()})")
    extra = [c for c in dataset.class_names if c not in model.class_names]
    if extra:
        raise HarcnnError(f"{path}: its classes {', '.join(extra)} are not among the model's "
                          f"({', '.join(model.class_names)})")
    if dataset.class_names == model.class_names:
        return dataset
    from dataclasses import replace

    remap = np.array([model.class_names.index(c) for c in dataset.class_names])
    return replace(dataset, y=remap[dataset.y], spec=replace(dataset.spec, classes=model.spec.classes))


def predict_dataset(model: TrainedModel, path: str | os.PathLike, **reading: Any) -> Prediction:
    """Predict the windows of a dataset (its test split where it has an official one), loaded as
    :func:`load_like_training` says."""
    dataset = load_like_training(model, path, **reading)
    part = "all windows"
    if dataset.split is not None:
        dataset, part = dataset.test, "test split"
    return predict_windows(model, dataset.X, labels=dataset.y, subjects=dataset.subject,
                           source=f"{dataset.source} ({part})", kind="dataset")


def predict_path(model: TrainedModel, path: str | os.PathLike, **reading: Any) -> Prediction:
    """Predict whatever ``path`` holds (see the module docstring); ``reading`` options go to
    :func:`harcnn.data.load_recording` (units, time column and unit, input rate; detected when not given)."""
    kind = input_kind(path)
    if kind == "windows":
        given = sorted(k for k, v in reading.items() if v is not None)
        if given:
            raise HarcnnError(f"{path}: {', '.join(given)} apply to recordings, and this is a windows file")
        X, y = load_windows_file(path)
        return predict_windows(model, X, labels=y, source=str(path))
    if kind == "dataset":
        return predict_dataset(model, path, **reading)
    from harcnn.data.recording_folder import sensor_files
    from harcnn.data.recordings import load_recording

    path = Path(path)
    options = {("sampling_rate" if k == "input_rate" else k): v for k, v in reading.items()}
    return predict_recording(model, load_recording(sensor_files(path) if path.is_dir() else path, **options))


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


# ---------------------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class StreamEvent:
    """One completed window of a stream: its index (from 0), its time span in seconds since the
    first sample (plus the predictor's ``start_time``), the window's class probabilities, and the
    prediction: the most probable class, or with smoothing the most probable class of ``smoothed``
    (the HMM's posterior given the windows up to this one and ``lag`` more)."""

    index: int
    start_time: float
    end_time: float
    probabilities: np.ndarray
    class_index: int
    activity: str
    smoothed: np.ndarray | None = None

    @property
    def confidence(self) -> float:
        return float((self.smoothed if self.smoothed is not None else self.probabilities)[self.class_index])


class StreamingPredictor:
    """Predict live sensor samples window by window.

    ``push(acc_chunk [k, 3], gyro_chunk [k, 3])`` (the sensors the model reads, in its order:
    ``push(acc_chunk)`` for an accelerometer-only model) takes samples at the model's rate
    (acceleration in g, or m/s^2 with ``acc_units="m/s2"``; angular velocity in rad/s), any ``k``
    (0 included), and returns a :class:`StreamEvent` for every window the chunk completes.
    Preprocessing is the model's causal pipeline carried across chunks
    (:class:`harcnn.data.StreamingWindower`), so the events equal the batch path on the whole signal
    (the windows bit for bit; the probabilities to float rounding, since a batch of one may round
    differently from a large batch).

    ``smooth="hmm"`` smooths causally with the model's HMM: forward filtering (``lag=0``), or with a
    bounded delay of ``lag`` windows (each event comes ``lag`` windows late; :meth:`flush` gives the
    last ones at the end of a stream), equal to :meth:`HMMSmoother.fixed_lag` on the whole stream.
    """

    def __init__(self, model: TrainedModel, *, acc_units: str = "g", start_time: float = 0.0, smooth: str = "none",
                 lag: int = 0):
        from harcnn.data.windows import STANDARD_GRAVITY, StreamingWindower

        units = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "m/s^2": 1.0 / STANDARD_GRAVITY}
        if acc_units not in units:
            raise HarcnnError(f"acc_units must be 'g' or 'm/s2', got {acc_units!r}")
        self.model = model
        self.sensors, config = recording_recipe(model)
        self.acc_scale = units[acc_units]
        self.start_time = float(start_time)
        self.windower = StreamingWindower(config, window=model.window, step=model.step,
                                          sampling_rate=model.sampling_rate)
        if smooth not in ("none", "hmm"):
            raise HarcnnError(f"streaming smooths with smooth='hmm' (causal) or 'none', got {smooth!r}")
        self.smoother = None
        if smooth == "hmm":
            from harcnn.serving.timeline import HMMSmoother, OnlineSmoother

            if not model.timeline.get("hmm"):
                raise HarcnnError("this model has no timeline smoother (it was trained on windows without recordings)")
            self.smoother = OnlineSmoother(HMMSmoother.from_dict(model.timeline["hmm"]), lag=lag)
        self._waiting: dict[int, StreamEvent] = {}

    def reset(self) -> None:
        self.windower.reset()
        self._waiting.clear()
        if self.smoother is not None:
            self.smoother.reset()

    @property
    def windows_emitted(self) -> int:
        return self.windower.windows_emitted

    def push(self, *chunks) -> list[StreamEvent]:
        if len(chunks) != len(self.sensors):
            raise HarcnnError(f"push takes one chunk per sensor the model reads ({', '.join(self.sensors)}), "
                              f"got {len(chunks)}")
        sensors = dict(zip(self.sensors, chunks))
        if "acc" in sensors:
            sensors["acc"] = np.asarray(sensors["acc"], dtype=np.float64) * self.acc_scale
        windows = self.windower.push(**{f"{name}_chunk" if name in ("acc", "gyro") else name: values
                                        for name, values in sensors.items()})
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
            event = StreamEvent(index, start, start + length / rate, p, k, self.model.class_names[k])
            if self.smoother is None:
                events.append(event)
            else:
                self._waiting[index] = event
                events += self._smoothed(self.smoother.push(p))
        return events

    def flush(self) -> list[StreamEvent]:
        """End the stream: the windows still waiting for their delay (with ``lag`` > 0); the next
        ``push`` starts a new stream."""
        events = self._smoothed(self.smoother.flush()) if self.smoother is not None else []
        self.reset()
        return events

    def _smoothed(self, finals: list[tuple[int, np.ndarray]]) -> list[StreamEvent]:
        out = []
        for index, posterior in finals:
            raw = self._waiting.pop(index)
            k = int(posterior.argmax())
            out.append(StreamEvent(raw.index, raw.start_time, raw.end_time, raw.probabilities, k,
                                   self.model.class_names[k], posterior))
        return out
