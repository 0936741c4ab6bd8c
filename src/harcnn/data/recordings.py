"""Continuous recordings: reading them as people have them, and cutting them into windows.

A :class:`Recording` holds one time axis and any set of sensors on it (``acc`` in g, ``gyro``
in rad/s, ``mag`` in uT, single channels under their own names), optional per-sample labels,
and notes on what the reader detected or assumed. :func:`load_recording` reads one file
holding all sensors, or several files of one recording (typically one per sensor, as phone
apps export them); :mod:`harcnn.data.sensorfiles` has the format rules. The way from a
recording to windows is :func:`uniform_stretches` (gap-free stretches resampled to the
window rate) and :func:`recording_to_windows` (the preprocessing of :mod:`harcnn.data.windows`).

**Merging several files onto one time axis.** Each file keeps its own timestamps; they must
share one clock (all since the epoch, or all since the same start, as Sensor Logger's
``seconds_elapsed``). When all files have the very same timestamps, the sensors are put side by
side untouched. Otherwise the recording covers only the overlap of all sensor files (the notes
say how much was cut at each end) on a uniform grid that starts where the overlap starts, at
the highest of the files' median rates rounded to a whole Hz (no sensor loses bandwidth).
Every file is split at its gaps (intervals longer than ``max_gap_s``) and each gap-free piece
is put onto the grid points it spans by :func:`~harcnn.data.windows.resample_series` with
``start=`` on the grid (cubic spline onto ``k`` times the grid rate, then the anti-aliasing
decimation: jitter and clock drift are absorbed, and a faster stream is low-passed before it is
thinned). A grid point that any sensor does not cover is dropped, so a gap in one sensor is a
gap in the recording, longer than ``max_gap_s``, which :func:`uniform_stretches` splits at.

**Quality**: :func:`load_recording` checks every file's raw samples (:mod:`harcnn.data.quality`:
implausible acceleration, clipping, stuck sensors, missing samples) and keeps the report with the
recording; :func:`recording_to_windows` leaves its suspect stretches out (``quality="exclude"``, the
default): the recording is split there as at a gap, so no window holds a suspect sample and the
filters start afresh after one. A recording made in Python from arrays is not checked unless given
a report (``quality=assess(...)``).

**Frame**: ``recording_to_windows(..., frame="body")`` turns the 3-axis sensors of the gap-free stretches
into the recording's body frame (:mod:`harcnn.data.bodyframe`: estimated from the accelerometer of
all of them, one after another, with a new frame after every move of the phone on the body) before
the preprocessing; :func:`to_body_frame` turns a whole regular recording.

**Labels**: every sample takes the label of the nearest sample of the file that holds the label
column ("" = unlabelled), within ``max_gap_s`` (farther: ""); :func:`uniform_stretches` carries
them onto its grid the same way, and :func:`recording_to_windows` returns each window's
per-sample labels so that the caller can apply a labelling policy.

Every problem is a :class:`~harcnn.core.errors.DataError` with one message naming the file, the
line (text: its line in the file; Parquet: the data row from 1) and the column, or the sample.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.bodyframe import FRAMES, FrameEstimate, FrameTimeline, estimate_body_frame
from harcnn.data.quality import QualityReport, Suspect, assess
from harcnn.data.sensorfiles import ReadOptions, SensorFile, read_sensor_file
from harcnn.data.windows import (
    DEFAULT_RATE,
    DEFAULT_STEP,
    DEFAULT_WINDOW,
    VECTOR_SENSORS,
    PreprocessConfig,
    canonical_order,
    make_windows,
    output_channels,
    resample_series,
    sensor_array,
    sliding_windows,
    window_starts,
)

__all__ = [
    "DEFAULT_MAX_GAP_S",
    "MIN_RATE_FRACTION",
    "QUALITY_CHOICES",
    "Recording",
    "RecordingWindows",
    "Stretch",
    "load_recording",
    "recording_to_windows",
    "to_body_frame",
    "uniform_stretches",
]

DEFAULT_MAX_GAP_S = 0.5
MIN_RATE_FRACTION = 0.4  # a recording must be sampled at >= 0.4 x the window rate (20 Hz for 50 Hz windows)
QUALITY_CHOICES = ("exclude", "keep")  # what windows do with a recording's suspect stretches


# --------------------------------------------------------------------------- Recording


@dataclass(frozen=True, eq=False)
class Recording:
    """One continuous recording: ``timestamps`` ``[n]`` (s, float64, strictly increasing; relative
    or since an epoch), ``sensors`` ``{name: [n, k]}`` in canonical units (acc, gyro, mag: k = 3;
    any other name: one channel, ``[n]`` accepted), in channel order; ``labels`` ``[n]`` strings
    ("" = unlabelled) or None; ``notes``: what the reader detected or assumed; ``quality``: the
    quality report of its raw samples (None: not checked). Arrays are copied and stored read-only."""

    timestamps: np.ndarray
    sensors: Mapping[str, np.ndarray]
    labels: np.ndarray | None = None
    source: str = ""
    notes: tuple[str, ...] = ()
    quality: QualityReport | None = None

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        t = np.array(self.timestamps, dtype=np.float64)
        if t.ndim != 1:
            raise DataError(f"{where}timestamps must be 1-D, got shape {list(t.shape)}")
        if not isinstance(self.sensors, Mapping) or not self.sensors:
            raise DataError(f"{where}sensors must be a non-empty mapping, e.g. {{'acc': acc, 'gyro': gyro}}")
        sensors = {}
        for name in canonical_order(self.sensors):
            if not isinstance(name, str) or not name:
                raise DataError(f"{where}sensor names must be non-empty strings, got {name!r}")
            arr = np.array(sensor_array(self.sensors[name], f"{where}{name}", name))
            if arr.shape[0] != t.size:
                raise DataError(f"{where}{name} has {arr.shape[0]} samples but there are {t.size} timestamps")
            sensors[name] = arr
        if t.size < 2:
            raise DataError(f"{where}a recording needs at least 2 samples, got {t.size}")
        if not np.all(np.isfinite(t)):
            i = int(np.argmax(~np.isfinite(t)))
            raise DataError(f"{where}timestamps has a non-finite value ({t[i]}) at sample {i}")
        dt = np.diff(t)
        if np.any(dt < 0):
            i = int(np.argmax(dt < 0))
            raise DataError(f"{where}timestamps are not sorted: sample {i + 1} ({t[i + 1]!r}) "
                            f"is earlier than sample {i} ({t[i]!r})")
        if np.any(dt == 0):
            i = int(np.argmax(dt == 0))
            raise DataError(f"{where}duplicate timestamp {t[i]!r} at samples {i} and {i + 1}")
        labels = None
        if self.labels is not None:
            labels = np.array(["" if v is None else str(v) for v in np.asarray(self.labels, dtype=object).ravel()])
            if np.ndim(self.labels) != 1 or labels.size != t.size:
                raise DataError(f"{where}labels must have shape [{t.size}], got {list(np.shape(self.labels))}")
        for arr in (t, *sensors.values(), *([] if labels is None else [labels])):
            arr.setflags(write=False)
        object.__setattr__(self, "timestamps", t)
        object.__setattr__(self, "sensors", MappingProxyType(sensors))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "source", str(self.source or ""))
        object.__setattr__(self, "notes", tuple(str(n) for n in self.notes))

    @property
    def n_samples(self) -> int:
        return int(self.timestamps.size)

    @cached_property
    def sampling_rate(self) -> float:
        """Hz, from the median sampling interval."""
        return float(1.0 / np.median(np.diff(self.timestamps)))

    @property
    def duration(self) -> float:
        """Seconds covered: last minus first timestamp plus one sampling interval."""
        return float(self.timestamps[-1] - self.timestamps[0] + 1.0 / self.sampling_rate)

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return tuple(self.sensors)

    def is_regular(self, jitter_tolerance: float = 0.02) -> bool:
        """Whether every interval is within ``jitter_tolerance`` (relative) of the median one."""
        dt = np.diff(self.timestamps)
        return bool(np.max(np.abs(dt * self.sampling_rate - 1.0)) <= jitter_tolerance)

    def select(self, *names: str) -> Recording:
        """The same recording with only these sensors (e.g. ``select("acc", "gyro")`` for a UCI model), and
        only the suspect stretches of its quality report that concern them."""
        missing = [n for n in names if n not in self.sensors]
        if missing or not names:
            raise DataError(f"{self.source or 'recording'}: has sensors {', '.join(self.sensors)}; "
                            f"cannot select {', '.join(missing) or 'none'}")
        return Recording(self.timestamps, {n: self.sensors[n] for n in names}, self.labels, self.source, self.notes,
                         None if self.quality is None else self.quality.only(names))

    def rotated(self, matrix) -> Recording:
        """The recording as the phone would have measured it turned by the rotation ``matrix`` [3, 3]:
        every 3-axis sensor's samples ``v`` become ``matrix @ v``; single channels stay."""
        R = np.asarray(matrix, dtype=np.float64)
        if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise DataError(f"a rotation is a 3 x 3 orthogonal matrix with determinant 1, got {R.tolist()}")
        sensors = {n: v @ R.T if n in VECTOR_SENSORS else v for n, v in self.sensors.items()}
        return Recording(self.timestamps, sensors, self.labels, self.source, self.notes, self.quality)

    def __repr__(self) -> str:
        src = f" from {self.source!r}" if self.source else ""
        labelled = ", labelled" if self.labels is not None else ""
        return (f"Recording({self.n_samples} samples, {self.duration:.2f} s at ~{self.sampling_rate:.4g} Hz, "
                f"{'+'.join(self.sensors)}{labelled}{src})")


class Stretch(NamedTuple):
    """A gap-free part of a recording, uniform at one rate: ``times`` ``[m]``, ``sensors``
    ``{name: [m, k]}``, ``labels`` ``[m]`` or None."""

    times: np.ndarray
    sensors: Mapping[str, np.ndarray]
    labels: np.ndarray | None


class RecordingWindows(NamedTuple):
    """Windows of a recording: ``windows`` float32 ``[n, window, C]`` with ``channel_names``;
    ``start_times`` and ``end_times`` (s, the recording's clock) bound each window as the
    half-open interval ``[start, start + window / rate)``; ``window_labels`` ``[n, window]`` (the
    per-sample labels, "" = unlabelled) when the recording has labels; ``notes``: the recording's
    and the processing's; ``excluded``: the suspect stretches left out, and ``n_excluded`` how many
    windows fewer that made (every one when ``windows`` is empty); ``frame``: the body frame the
    sensors were turned into (None: the phone's own axes)."""

    windows: np.ndarray
    start_times: np.ndarray
    end_times: np.ndarray
    channel_names: tuple[str, ...]
    window_labels: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    excluded: tuple[Suspect, ...] = ()
    n_excluded: int = 0
    frame: FrameTimeline | None = None


# --------------------------------------------------------------------------- reading


def _paths(path_or_paths) -> list[Path]:
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [Path(path_or_paths)]
    elif isinstance(path_or_paths, Sequence) and path_or_paths:
        paths = [Path(p) for p in path_or_paths]
    else:
        raise DataError(f"pass a file or a list of files, got {path_or_paths!r}")
    for path in paths:
        if path.is_dir():
            inside = sorted(p.name for p in path.iterdir() if p.is_file())[:8]
            raise DataError(f"{path}: is a folder, not a recording file; pass the sensor files in it"
                            + (f" (it holds {', '.join(inside)}, ...)" if inside else ""))
    if len({p.resolve() for p in paths}) < len(paths):
        raise DataError("the same file is given twice: " + ", ".join(map(str, paths)))
    return paths


def _hints(sensors: Mapping[str, str] | None, paths: list[Path]) -> dict[Path, str]:
    """``sensors={"Accel.csv": "acc"}`` -> ``{path: "acc"}``; keys match a path or a file name."""
    hints: dict[Path, str] = {}
    for key, sensor in (sensors or {}).items():
        if sensor not in VECTOR_SENSORS:
            raise DataError(f"sensors={{{key!r}: {sensor!r}}}: the sensor must be one of {', '.join(VECTOR_SENSORS)}")
        matches = [p for p in paths if str(p) == str(key) or p.name == Path(key).name]
        if not matches:
            raise DataError(f"sensors= names {key!r}, which is none of the files: {', '.join(p.name for p in paths)}")
        hints.update(dict.fromkeys(matches, sensor))
    return hints


def load_recording(
    path_or_paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    time_column: str | None = None,
    time_unit: str | None = None,
    acc_units: str | None = None,
    gyro_units: str | None = None,
    columns: Mapping[str, str | int] | None = None,
    channels: Sequence[str] = (),
    delimiter: str | None = None,
    label_column: str | None = None,
    sampling_rate: float | None = None,
    sensors: Mapping[str, str] | None = None,
    max_gap_s: float | None = DEFAULT_MAX_GAP_S,
    check_units: bool = True,
) -> Recording:
    """Read a recording: one file holding all sensors, or several files of one recording.

    Every option is detected when None (:mod:`harcnn.data.sensorfiles` has the rules, and the
    recording's ``notes`` say what was decided). ``time_column``: the time column's name (None or
    ``"time"``: detected); ``time_unit``: ``s``, ``ms``, ``us``, ``ns``; ``acc_units``: ``g`` or
    ``m/s2``; ``gyro_units``: ``rad/s`` or ``deg/s``; ``columns``: canonical names (``time``,
    ``acc_x`` ... ``mag_z``) -> the file's column names, or column numbers from 1 in headerless
    files; ``channels``: more numeric columns to keep as single channels (e.g. ``("pressure",)``);
    ``delimiter``: one character, ``"tab"`` or ``"whitespace"``; ``label_column``: per-sample labels;
    ``sampling_rate``: Hz, for files without a time column (samples uniform from 0 s);
    ``sensors``: which sensor a file holds where its name does not say, ``{"Accel.csv": "acc"}``;
    ``max_gap_s``: longer intervals are gaps when merging files (None: never); ``check_units``:
    refuse a unit that cannot be told from the header or the values. The recording's ``quality`` is
    the report on every file's raw samples (:mod:`harcnn.data.quality`).
    """
    paths = _paths(path_or_paths)
    options = ReadOptions(time_column, time_unit, acc_units, gyro_units, columns or {}, tuple(channels),
                          delimiter, label_column, sampling_rate, check_units)
    hints = _hints(sensors, paths)
    files = [read_sensor_file(p, options, hints.get(p)) for p in paths]
    _check_requested(files, options)
    quality = assess([(f.source, f.times, f.sensors) for f in files if f.sensors], max_gap_s)
    if len(files) == 1:
        f = files[0]
        return Recording(f.times, f.sensors, f.labels, str(paths[0]), tuple(f.notes), quality)
    times, merged, notes = _merge(files, max_gap_s)
    labelled = [f for f in files if f.labels is not None]
    labels = None
    if labelled:
        source = labelled[0]
        labels = _nearest_labels(source.times, source.labels, times, math.inf if max_gap_s is None else max_gap_s)
        notes.append(f"labels from {Path(source.source).name}, nearest sample"
                     + (f" ({', '.join(Path(f.source).name for f in labelled[1:])} not used)" if labelled[1:] else ""))
    notes = [n for f in files for n in f.notes] + notes
    return Recording(times, merged, labels, " + ".join(map(str, paths)), tuple(notes), quality)


def _check_requested(files: list[SensorFile], options: ReadOptions) -> None:
    """Every requested column is in some file, and no sensor is in two files."""
    where = files[0].source if len(files) == 1 else "none of the files"
    found = ", ".join(repr(h) for f in files for h in f.header)
    for role, name in [*options.columns.items(), *((c, c) for c in options.channels),
                       *([("label", options.label_column)] if options.label_column is not None else [])]:
        if not any(role in f.roles for f in files):
            what = ("--label-column" if role == "label" else "--time-column" if role == "time"
                    else "channels" if role in options.channels else f"columns[{role!r}]")
            raise DataError(f"{where}: no column {name!r} ({what}); found columns: {found}")
    owners: dict[str, str] = {}
    for f in files:
        for sensor in f.sensors:
            if sensor in owners:
                raise DataError(f"{sensor} is in both {owners[sensor]} and {f.source}: pass one file per sensor")
            owners[sensor] = f.source
    if not owners:
        raise DataError(f"no sensor columns in {', '.join(f.source for f in files)}")


# --------------------------------------------------------------------------- merging


def _gap(max_gap_s: float | None) -> str:
    return "any length (no gap limit)" if max_gap_s is None else f"{max_gap_s:g} s"


def _segments(t: np.ndarray, max_gap_s: float | None) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges separated by intervals longer than ``max_gap_s``."""
    if max_gap_s is None:
        return [(0, t.size)]
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    bounds = [0, *cuts.tolist(), t.size]
    return list(zip(bounds[:-1], bounds[1:]))


def _merge(files: list[SensorFile], max_gap_s: float | None) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """All sensor files on one time axis (the module docstring says how)."""
    files = [f for f in files if f.sensors]
    if len(files) == 1:
        return files[0].times, dict(files[0].sensors), []
    if all(f.times.shape == files[0].times.shape and np.array_equal(f.times, files[0].times) for f in files):
        merged = {s: v for f in files for s, v in f.sensors.items()}
        return files[0].times, merged, [f"{len(files)} files with the same timestamps: side by side, not resampled"]
    t0, t1 = max(f.times[0] for f in files), min(f.times[-1] for f in files)
    spans = "; ".join(f"{Path(f.source).name} {f.times[0]:.6g}-{f.times[-1]:.6g} s" for f in files)
    if t1 <= t0:
        raise DataError(f"the files do not overlap in time ({spans}): are they from one recording, with one clock "
                        "(all since the epoch, or all since the same start)? Pick the time column with "
                        "--time-column NAME")
    rate = float(max(1, round(max(f.sampling_rate for f in files))))
    n = int(math.floor((t1 - t0) * rate + 1e-9)) + 1
    covered = np.ones(n, dtype=bool)
    merged: dict[str, np.ndarray] = {}
    for f in files:
        values, cover = _on_grid(f, t0, rate, n, max_gap_s)
        covered &= cover
        widths = np.cumsum([0] + [v.shape[1] for v in f.sensors.values()])
        merged.update({s: values[:, a:b] for s, a, b in zip(f.sensors, widths[:-1], widths[1:])})
    keep = np.flatnonzero(covered)
    if keep.size < 2:
        raise DataError(f"the files share less than two samples' worth of gap-free time ({spans})")
    cut_start = t0 - min(f.times[0] for f in files)
    cut_end = max(f.times[-1] for f in files) - t1
    rates = ", ".join(f"{'+'.join(f.sensors)} ~{f.sampling_rate:.4g} Hz" for f in files)
    notes = [f"merged {len(files)} files ({rates}) onto a {rate:g} Hz grid over their overlap, {t1 - t0:.2f} s: "
             f"cut {cut_start:.3g} s at the start and {cut_end:.3g} s at the end"]
    dropped = n - keep.size
    if dropped:
        notes.append(f"{dropped} grid sample(s) ({dropped / rate:.2f} s) dropped inside gaps of a sensor "
                     f"(> {_gap(max_gap_s)})")
    return t0 + keep / rate, {s: merged[s][keep] for s in canonical_order(merged)}, notes


def _on_grid(f: SensorFile, t0: float, rate: float, n: int, max_gap_s: float | None):
    """One file's sensors at the grid points ``t0 + i / rate`` (``i < n``) its gap-free pieces span."""
    x = np.concatenate(list(f.sensors.values()), axis=1)
    values = np.zeros((n, x.shape[1]))
    cover = np.zeros(n, dtype=bool)
    for a, b in _segments(f.times, max_gap_s):
        if b - a < 2:
            continue
        i0 = max(0, math.ceil((f.times[a] - t0) * rate - 1e-9))
        i1 = min(n - 1, math.floor((f.times[b - 1] - t0) * rate + 1e-9))
        if i1 < i0:
            continue
        _, y = resample_series(f.times[a:b], x[a:b], rate, start=t0 + i0 / rate)
        m = min(y.shape[0], i1 - i0 + 1)
        values[i0:i0 + m] = y[:m]
        cover[i0:i0 + m] = True
    return values, cover


def _nearest_labels(src_t: np.ndarray, labels: np.ndarray, dst_t: np.ndarray, max_dist: float) -> np.ndarray:
    """For each ``dst_t`` the label of the nearest ``src_t`` sample ("" when farther than ``max_dist``)."""
    right = np.clip(np.searchsorted(src_t, dst_t), 1, src_t.size - 1)
    left = right - 1
    nearest = np.where(dst_t - src_t[left] <= src_t[right] - dst_t, left, right)
    out = labels[nearest].copy()
    out[np.abs(src_t[nearest] - dst_t) > max_dist] = ""
    return out


# --------------------------------------------------------------------------- to windows


def uniform_stretches(
    recording: Recording,
    sampling_rate: float,
    *,
    max_gap_s: float | None = DEFAULT_MAX_GAP_S,
    jitter_tolerance: float = 0.02,
    excluded: Sequence[tuple[float, float]] = (),
) -> list[Stretch]:
    """The gap-free stretches of a recording (split at intervals longer than ``max_gap_s``; None:
    never, shorter gaps are interpolated over), each resampled to ``sampling_rate`` Hz by
    :func:`~harcnn.data.windows.resample_series` (polyphase when regular within
    ``jitter_tolerance``, else spline and decimation). Labels go to the nearest sample. The samples
    in the ``excluded`` intervals ``[start, end)`` are left out and split the recording as a gap
    does. Stretches of a single sample are left out."""
    if not isinstance(recording, Recording):
        raise DataError(f"recording must be a Recording, got {type(recording).__name__}")
    t = recording.timestamps
    x = np.concatenate(list(recording.sensors.values()), axis=1)
    widths = np.cumsum([0] + [v.shape[1] for v in recording.sensors.values()])
    out = []
    for a, b in _pieces(t, max_gap_s, excluded):
        if b - a < 2:
            continue
        times, values = resample_series(t[a:b], x[a:b], sampling_rate, jitter_tolerance=jitter_tolerance)
        sensors = {s: values[:, lo:hi] for s, lo, hi in zip(recording.sensors, widths[:-1], widths[1:])}
        labels = None
        if recording.labels is not None:
            labels = _nearest_labels(t[a:b], recording.labels[a:b], times, math.inf)
        out.append(Stretch(times, sensors, labels))
    return out


def _pieces(t: np.ndarray, max_gap_s: float | None, excluded: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """The gap-free ``[start, stop)`` index ranges (:func:`_segments`) without the samples in ``excluded``."""
    if not excluded:
        return _segments(t, max_gap_s)
    keep = np.ones(t.size, dtype=bool)
    for lo, hi in excluded:
        keep[np.searchsorted(t, lo, "left"):np.searchsorted(t, hi, "left")] = False
    out = []
    for a, b in _segments(t, max_gap_s):
        edges = np.flatnonzero(np.diff(np.r_[0, keep[a:b].astype(np.int8), 0]))
        out += [(a + lo, a + hi) for lo, hi in zip(edges[::2].tolist(), edges[1::2].tolist())]
    return out


def _acc_for_frame(recording: Recording) -> None:
    if "acc" not in recording.sensors:
        raise DataError(f"{recording.source or 'the recording'}: the body frame is estimated from the accelerometer, "
                        f"but the recording has only {', '.join(recording.sensors)} (--frame phone uses the phone's "
                        "own axes)")


def to_body_frame(recording: Recording) -> tuple[Recording, FrameEstimate]:
    """``(the recording turned into its body frame, the estimate)``: every 3-axis sensor turned by the
    frame(s) estimated from its accelerometer (:func:`harcnn.data.bodyframe.estimate_body_frame`); the
    recording must be regularly sampled (:meth:`Recording.is_regular`)."""
    if not isinstance(recording, Recording):
        raise DataError(f"recording must be a Recording, got {type(recording).__name__}")
    _acc_for_frame(recording)
    if not recording.is_regular():
        raise DataError(f"{recording.source or 'the recording'}: the body frame needs regular sampling; "
                        "resample the recording first (recording_to_windows(..., frame='body') does)")
    estimate = estimate_body_frame(recording.sensors["acc"], recording.sampling_rate)
    sensors = {name: estimate.apply(v) if name in VECTOR_SENSORS else v for name, v in recording.sensors.items()}
    return Recording(recording.timestamps, sensors, recording.labels, recording.source, recording.notes,
                     recording.quality), estimate


def _in_body_frame(stretches: list[Stretch], rate: float, origin: float, where: str
                   ) -> tuple[list[Stretch], FrameTimeline]:
    """The stretches with their 3-axis sensors turned into the body frame estimated from all of them."""
    times = np.concatenate([s.times for s in stretches])
    try:
        estimate = estimate_body_frame(np.concatenate([s.sensors["acc"] for s in stretches]), rate)
    except DataError as error:
        raise DataError(f"{where}{error}") from None
    bounds = np.cumsum([0] + [s.times.size for s in stretches])
    turned = {name: estimate.apply(np.concatenate([s.sensors[name] for s in stretches]))
              for name in stretches[0].sensors if name in VECTOR_SENSORS}
    out = [Stretch(s.times, {name: turned[name][a:b] if name in turned else v for name, v in s.sensors.items()},
                   s.labels) for s, a, b in zip(stretches, bounds[:-1], bounds[1:])]
    return out, FrameTimeline(estimate, times, origin)


def _n_samples(span_s: float, rate: float) -> int:
    return int(math.floor(span_s * rate + 1e-6)) + 1


def _window_count(t: np.ndarray, pieces: list[tuple[int, int]], rate: float, window: int, step: int) -> int:
    """How many windows the pieces give at ``rate`` Hz (from their spans)."""
    return sum(len(window_starts(_n_samples(float(t[b - 1] - t[a]), rate), window, step)) for a, b in pieces if b > a)


def _too_short(where: str, span_s: float, rate: float, window: int, subject: str = "the recording") -> DataError:
    return DataError(
        f"{where}{subject} is too short: {span_s + 1 / rate:.2f} s ({_n_samples(span_s, rate)} samples at "
        f"{rate:g} Hz); one window needs {window} samples at {rate:g} Hz = {window / rate:.2f} s"
    )


def recording_to_windows(
    recording: Recording,
    config: PreprocessConfig | None = None,
    *,
    sampling_rate: float = DEFAULT_RATE,
    window: int = DEFAULT_WINDOW,
    step: int = DEFAULT_STEP,
    max_gap_s: float | None = DEFAULT_MAX_GAP_S,
    jitter_tolerance: float = 0.02,
    min_rate_hz: float | None = None,
    quality: str = "exclude",
    frame: str = "phone",
) -> RecordingWindows:
    """Cut a recording into UCI-style windows of ``window`` samples every ``step`` at
    ``sampling_rate`` Hz: :func:`uniform_stretches`, then each stretch preprocessed with ``config``
    (default: causal, as the dataset; see :mod:`harcnn.data.windows`) and windowed; stretches
    shorter than one window are skipped. The recording must be sampled at ``min_rate_hz`` or more
    (default 0.4 x ``sampling_rate``: 20 Hz for 50 Hz windows). Times are in the recording's clock.
    ``quality``: ``"exclude"`` leaves the suspect stretches of the recording's quality report out
    (the windows are empty when nothing else is left), ``"keep"`` keeps them (the notes say so).
    ``frame``: ``"phone"`` keeps the sensors' axes, ``"body"`` turns the stretches into the recording's
    body frame first (the module docstring; :attr:`RecordingWindows.frame` says which frames it found)."""
    if not isinstance(recording, Recording):
        raise DataError(f"recording must be a Recording, got {type(recording).__name__}")
    if quality not in QUALITY_CHOICES:
        raise DataError(f"quality must be exclude or keep, got {quality!r}")
    if frame not in FRAMES:
        raise DataError(f"frame must be {' or '.join(FRAMES)}, got {frame!r}")
    if frame == "body":
        _acc_for_frame(recording)
    cfg = config or PreprocessConfig()
    where = f"{recording.source}: " if recording.source else ""
    minimum = MIN_RATE_FRACTION * sampling_rate if min_rate_hz is None else min_rate_hz
    if recording.sampling_rate < minimum:
        raise DataError(
            f"{where}sampling rate {recording.sampling_rate:.4g} Hz is too low: at least {minimum:g} Hz is needed to "
            f"make honest {sampling_rate:g} Hz windows (the UCI signals keep content up to 20 Hz at 50 Hz)"
        )
    t = recording.timestamps
    span = float(t[-1] - t[0])
    if _n_samples(span, sampling_rate) < window:
        raise _too_short(where, span, sampling_rate, window)
    report = recording.quality or QualityReport()
    suspects = report.suspects if quality == "exclude" else ()
    excluded = QualityReport(suspects).excluded()
    stretches = uniform_stretches(recording, sampling_rate, max_gap_s=max_gap_s, jitter_tolerance=jitter_tolerance,
                                  excluded=excluded)
    body = None
    if frame == "body" and stretches:
        stretches, body = _in_body_frame(stretches, sampling_rate, float(t[0]), where)
    parts, starts, labels = [], [], []
    for stretch in stretches:
        if stretch.times.size < window:
            continue
        parts.append(make_windows(stretch.sensors, cfg, sampling_rate=sampling_rate, window=window, step=step))
        starts.append(stretch.times[window_starts(stretch.times.size, window, step)])
        if stretch.labels is not None:
            labels.append(sliding_windows(stretch.labels[:, None], window, step)[:, :, 0])
    n_excluded = 0
    if suspects:
        n_excluded = max(0, _window_count(t, _segments(t, max_gap_s), sampling_rate, window, step)
                         - _window_count(t, _pieces(t, max_gap_s, excluded), sampling_rate, window, step))
    if not parts and not n_excluded:
        longest = max((float(s.times[-1] - s.times[0]) for s in stretches), default=0.0)
        raise _too_short(
            where, longest, sampling_rate, window,
            f"the longest gap-free stretch (the recording has {len(_segments(t, max_gap_s)) - 1} "
            f"gap(s) longer than {_gap(max_gap_s)})",
        )
    notes = list(recording.notes)
    origin, several = float(t[0]), " + " in recording.source  # name the file only among several
    if suspects:
        notes.append(f"quality: {n_excluded} window(s) left out (--quality keep keeps them): "
                     + "; ".join(s.describe(origin, several) for s in suspects))
    elif report.suspects:
        notes.append("quality: kept (--quality keep): "
                     + "; ".join(s.describe(origin, several) for s in report.suspects))
    notes += [f"quality: {note}" for note in report.notes]
    channels = output_channels(recording.sensor_names)
    if not parts:
        empty = np.zeros(0)
        return RecordingWindows(np.zeros((0, window, len(channels)), dtype=np.float32), empty, empty, channels,
                                None if recording.labels is None else np.zeros((0, window), dtype=str), tuple(notes),
                                tuple(suspects), n_excluded, body)
    start_times = np.concatenate(starts)
    notes.append(f"{len(start_times)} windows of {window} samples every {step} at {sampling_rate:g} Hz from "
                 f"{len(parts)} gap-free stretch(es)" + (f"; {len(stretches) - len(parts)} shorter than a window "
                                                         "skipped" if len(stretches) > len(parts) else ""))
    cutoff = cfg.noise_cutoff_at(sampling_rate)
    if cutoff is not None and cutoff < cfg.noise_cutoff_hz:
        notes.append(f"noise low-pass at {cutoff:g} Hz (0.8 x Nyquist at {sampling_rate:g} Hz) instead of "
                     f"{cfg.noise_cutoff_hz:g} Hz")
    if body is not None:
        notes.append(body.describe())
    return RecordingWindows(
        np.concatenate(parts), start_times, start_times + window / sampling_rate,
        channels, np.concatenate(labels) if labels else None, tuple(notes), tuple(suspects), n_excluded, body,
    )
