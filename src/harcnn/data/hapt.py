"""HAPT (UCI "Smartphone-Based Recognition of Human Activities and Postural Transitions", v2.1).

HAPT holds the continuous raw recordings of the 30 UCI HAR volunteers: per experiment XX of user YY,
``RawData/acc_expXX_userYY.txt`` (total acceleration, g) and ``RawData/gyro_expXX_userYY.txt``
(rad/s), one space-separated row per sample at 50 Hz, and ``RawData/labels.txt``: experiment, user,
activity (1..12), first and last sample of a labelled segment (1-based, inclusive); samples outside
every segment are unlabelled. ``activity_labels.txt`` names the 6 activities and 6 postural
transitions. This module is the one place for HAPT's facts: rate, file names, classes, split.

:func:`load_hapt` reads the official zip (files at its top, under a folder such as 'HAPT Data Set/',
or in a zip nested in it), an extracted folder, or a partial copy with fewer subjects; it checks
every file, caches the parsed recordings per user and cuts windows:

* each recording is preprocessed whole with the UCI HAR recipe (:data:`PREPROCESS`, UCI HAR's input
  spec: median 3, 20 Hz low-pass, 0.3 Hz gravity split, 0.1 Hz gyroscope drift removal, causal), then
  cut into 128-sample (2.56 s) windows, so UCI HAR models take HAPT windows and recordings alike;
* an activity segment gives windows from its first sample every 64 samples, complete windows
  inside the segment only: exactly where the UCI HAR windows were cut (all 3285 training windows of
  the three walking activities but 5 start on this rule; filtering whole recordings reproduces
  them best; see ``benchmarks/results/hapt-vs-uci.md``);
* with ``classes="all"`` a postural transition (2-6 s, shorter than many windows) gets the windows
  every 64 samples that fit in it, centred on it, or one window centred on it when it is shorter
  than a window; it then still fills most of that window (a transition shorter than 64 samples
  would not, and gets none). On the 21-subject copy this gives 44-90 windows per transition
  class; the start-aligned rule would give SIT_TO_STAND 23 windows for its 44 segments.

Split: HAPT extends UCI HAR and describes the same partition of the same 30 volunteers (README:
"70% of the volunteers was selected for generating the training data and 30% the test data", word
for word as UCI HAR's README), so harcnn takes UCI HAR's test subjects (:data:`TEST_SUBJECTS`).
The full archive's ``Test/subject_id_test.txt`` is used instead where present; the shared copy lacks
it, so the list could not be checked against it. ``Dataset.split`` is set only when all 30 subjects
are there.

:func:`hapt_recordings` gives the recordings themselves (raw signals, labelled segments in
seconds, and the same preprocessing), for predicting and scoring timelines.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.archive import (
    DatasetFiles,
    check_names_file,
    dataset_root,
    existing_path,
    open_dataset,
    verify_zip,
    zip_prefix,
)
from harcnn.data.bodyframe import FrameEstimate, FrameTimeline, estimate_body_frame, frame_recipe, frames_note
from harcnn.data.cache import cache_entry, cache_root, read_entry, write_entry
from harcnn.data.dataset import Dataset, InputSpec, SourceKind
from harcnn.data.download import fetch
from harcnn.data.labels import Timeline
from harcnn.data.textparse import parse_float_table, parse_int_column, parse_int_table
from harcnn.data.uci_har import SPEC as UCI_SPEC
from harcnn.data.uci_har import STEP, WINDOW  # HAPT's windows are cut as UCI HAR's were
from harcnn.data.windows import PreprocessConfig, output_channels, output_units, preprocess, sliding_windows

if TYPE_CHECKING:
    from harcnn.data.recordings import Recording

__all__ = [
    "CLASS_NAMES",
    "HAPT_URL",
    "TEST_SUBJECTS",
    "HaptRecording",
    "download_hapt",
    "find_hapt",
    "hapt_recordings",
    "is_hapt",
    "load_hapt",
]

HAPT_URL = ("https://archive.ics.uci.edu/static/public/341/"
            "smartphone+based+recognition+of+human+activities+and+postural+transitions.zip")
SAMPLING_RATE = 50.0  # Hz, HAPT's recordings
PREPROCESS = PreprocessConfig.from_dict({k: v for k, v in UCI_SPEC.preprocessing.items() if k != "sensors"})
CLASS_NAMES = (
    "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING",
    "STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND",
)  # fmt: skip
N_ACTIVITIES = 6  # ids 1..6 are activities, 7..12 postural transitions
CLASS_SETS = {"basic": N_ACTIVITIES, "all": len(CLASS_NAMES)}  # option value -> number of classes
N_SUBJECTS = 30
TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)
SENSOR_UNITS = {"acc": "g", "gyro": "rad/s"}
DOWNLOAD_NAME = "hapt.zip"  # the downloaded archive, in the cache folder
CACHE_FORMAT = 1  # bump when the parsed-recording cache changes meaning
_MARKER = "RawData/labels.txt"  # the file that marks a dataset root
_CLASSES_FILE = "activity_labels.txt"
_TEST_SUBJECTS_FILE = "Test/subject_id_test.txt"
_ROOT_NAMES = ("HAPT Data Set",)  # the folder an extracted copy may sit in
_RECORDING_FILE = re.compile(r"RawData/(acc|gyro)_(exp(\d+)_user(\d+))\.txt")


@dataclass(frozen=True, eq=False)
class HaptRecording:
    """One experiment: raw ``acc`` [n, 3] (g) and ``gyro`` [n, 3] (rad/s), float64 at 50 Hz, and its
    labelled segments ``labels`` [k, 3] (activity id 1..12, first sample, end sample exclusive; 0-based)."""

    name: str  # "exp01_user01"
    subject: int
    acc: np.ndarray
    gyro: np.ndarray
    labels: np.ndarray

    @property
    def segments(self) -> Timeline:
        """The labelled segments in seconds from the recording's start, labelled with class names."""
        return Timeline(self.labels[:, 1] / SAMPLING_RATE, self.labels[:, 2] / SAMPLING_RATE,
                        np.array(CLASS_NAMES)[self.labels[:, 0] - 1])

    def recording(self) -> Recording:
        """The experiment as a :class:`~harcnn.data.recordings.Recording` (seconds from its start), e.g. to
        predict its whole timeline."""
        from harcnn.data.recordings import Recording

        return Recording(np.arange(len(self.acc)) / SAMPLING_RATE, {"acc": self.acc, "gyro": self.gyro},
                         source=self.name)

    def body_frame(self) -> FrameEstimate:
        """The recording's body frame(s) (:func:`harcnn.data.bodyframe.estimate_body_frame`)."""
        return estimate_body_frame(self.acc, SAMPLING_RATE)

    def frame_timeline(self, estimate: FrameEstimate | None = None) -> FrameTimeline:
        """The body frame(s) on the recording's clock (seconds from its start)."""
        return FrameTimeline(estimate or self.body_frame(), np.arange(len(self.acc)) / SAMPLING_RATE, 0.0)

    def preprocessed(self, config: PreprocessConfig | None = None, sensors: tuple[str, ...] = ("acc", "gyro"),
                     frame: FrameEstimate | None = None) -> np.ndarray:
        """The whole recording as the preprocessed series ``[n, C]`` (float64): 9 channels
        (``windows.CHANNELS``), or the 6 of the accelerometer with ``sensors=("acc",)``; turned into the
        body ``frame`` first when one is given (:meth:`body_frame`)."""
        signals = {s: getattr(self, s) for s in sensors}
        if frame is not None:
            signals = {s: frame.apply(v) for s, v in signals.items()}
        return _preprocess(signals, config)

    def window_plan(self, classes: str = "basic") -> tuple[np.ndarray, np.ndarray]:
        """``(starts, y)``: the first sample and class index of every window (see the module docstring)."""
        n_classes = _class_count(classes)
        starts, ids = [], []
        for activity, first, stop in self.labels:
            if activity <= N_ACTIVITIES:
                found = np.arange(first, stop - WINDOW + 1, STEP)
            elif activity <= n_classes:
                found = _transition_starts(first, stop, len(self.acc))
            else:
                continue
            starts.append(found)
            ids.append(np.full(len(found), activity - 1))
        if not starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(starts).astype(np.int64), np.concatenate(ids).astype(np.int64)

    def windows(self, classes: str = "basic", config: PreprocessConfig | None = None,
                sensors: tuple[str, ...] = ("acc", "gyro"), frame: FrameEstimate | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X [k, 128, C] float32, y [k], starts [k])``: the windows of :meth:`window_plan`, in the body
        ``frame`` when one is given (:meth:`preprocessed`)."""
        starts, y = self.window_plan(classes)
        series = self.preprocessed(config, sensors, frame)
        return series[starts[:, None] + np.arange(WINDOW)].astype(np.float32), y, starts


def _transition_starts(first: int, stop: int, n_samples: int) -> np.ndarray:
    """Windows every STEP that fit in ``[first, stop)``, centred on it; one centred window when it is
    shorter than a window but at least half one; none when shorter, or where a window leaves the recording."""
    length = stop - first
    if length < WINDOW // 2:
        return np.zeros(0, np.int64)
    count = max(1, (length - WINDOW) // STEP + 1)
    starts = first + (length - WINDOW - (count - 1) * STEP) // 2 + STEP * np.arange(count)
    return starts[(starts >= 0) & (starts + WINDOW <= n_samples)]


def _preprocess(sensors: dict[str, np.ndarray], config: PreprocessConfig | None) -> np.ndarray:
    """The one call of the preprocessing (whole recordings, HAPT's rate)."""
    series, channels = preprocess(sensors, PREPROCESS if config is None else config, sampling_rate=SAMPLING_RATE)
    assert channels == output_channels(sensors)
    return series


def _sensors(sensors: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in sensors.split(",") if s.strip())
    if not chosen or set(chosen) - set(SENSOR_UNITS):
        raise DataError(f"HAPT sensors are {', '.join(SENSOR_UNITS)} (e.g. --sensors acc), got {sensors!r}")
    return tuple(s for s in SENSOR_UNITS if s in chosen)


def _class_count(classes: str) -> int:
    if classes not in CLASS_SETS:
        raise DataError(f"HAPT classes must be one of {', '.join(map(repr, CLASS_SETS))}, got {classes!r}")
    return CLASS_SETS[classes]


# --- finding, downloading, loading -------------------------------------------------------------------


def find_hapt(path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Where :func:`load_hapt` would read the data from: ``path``, else a copy downloaded into the
    cache, else None. A ``path`` that does not exist is a DataError."""
    if path is not None:
        return existing_path(path, "data path")
    downloaded = cache_root(cache_dir) / DOWNLOAD_NAME
    return downloaded if downloaded.is_file() else None


def download_hapt(cache_dir: str | os.PathLike | None = None, *, url: str = HAPT_URL, progress: bool = True,
                  force: bool = False) -> Path:
    """Download the official archive into the cache (unless already there or ``force``); return its path.

    UCI publishes no checksum for this archive, so none is pinned: the download is streamed to a
    temporary file and checked (a readable zip whose every member passes its CRC, holding
    activity_labels.txt, RawData/labels.txt and recordings) before it is moved into place.
    """
    dest = cache_root(cache_dir) / DOWNLOAD_NAME
    if dest.is_file() and not force:
        return dest
    return fetch(url, dest, verify=_verify_archive, progress=progress)


def _source(path: str | os.PathLike | None, cache: Path, download: bool, progress: bool) -> Path:
    source = find_hapt(path, cache)
    if source is not None:
        return source
    if not download:
        raise DataError(f"HAPT data not found: no path given and {cache / DOWNLOAD_NAME} does not exist; pass "
                        "--data PATH (the official zip or the extracted folder) or allow the download")
    return download_hapt(cache, progress=progress)


def hapt_recordings(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                    download: bool = True, progress: bool = True) -> list[HaptRecording]:
    """The recordings of a HAPT copy (found as :func:`find_hapt` says), in experiment order."""
    cache = cache_root(cache_dir)
    return _load(_source(path, cache, download, progress), cache).recordings


def load_hapt(path: str | os.PathLike | None = None, *, classes: str = "basic", sensors: str = "acc,gyro",
              frame: str = "phone", cache_dir: str | os.PathLike | None = None, download: bool = True,
              progress: bool = True) -> Dataset:
    """HAPT as windows (see the module docstring): ``classes="basic"`` the 6 activities (the
    transitions' samples unused), ``"all"`` all 12 classes; ``sensors="acc"`` only the accelerometer's
    6 channels; ``frame="body"`` every recording turned into its body frame before the preprocessing
    (:mod:`harcnn.data.bodyframe`). Every window has its ``subject``, ``recording`` ("exp01_user01")
    and ``start`` (seconds from the recording's start).

    Parsed recordings are cached under ``cache_dir`` (default: the per-user cache), keyed by the
    source's path and content (:mod:`harcnn.data.cache`); a damaged cache entry is rebuilt.
    """
    _class_count(classes)  # a bad option fails before any download
    chosen = _sensors(sensors)
    frame_recipe(frame)
    cache = cache_root(cache_dir)
    source = _source(path, cache, download, progress)
    return _dataset(_load(source, cache), classes, chosen, str(source), frame)


def _dataset(copy: _HaptCopy, classes: str, sensors: tuple[str, ...], source: str, frame: str = "phone") -> Dataset:
    """The windows of every recording as one :class:`Dataset`."""
    n_classes = _class_count(classes)
    estimates = {r.name: r.body_frame() for r in copy.recordings} if frame == "body" else {}
    windows, labels, starts = zip(*(r.windows(classes, sensors=sensors, frame=estimates.get(r.name))
                                    for r in copy.recordings))
    counts = [len(y) for y in labels]
    if not sum(counts):
        raise DataError(f"{source}: no labelled segment is long enough for a {WINDOW}-sample window")
    subject = np.repeat([r.subject for r in copy.recordings], counts)
    channels = output_channels(sensors)
    spec = InputSpec(SAMPLING_RATE, WINDOW, STEP, channels, output_units(channels), CLASS_NAMES[:n_classes],
                     {"sensors": list(sensors), **PREPROCESS.to_dict(), **frame_recipe(frame)})
    notes = ["windows: 128 samples every 64 from the start of each labelled activity segment, complete ones only",
             "postural transitions: not used" if classes == "basic" else
             "postural transitions: windows every 64 centred on each (one when it is shorter than a window)"]
    if estimates:
        notes.append(frames_note({r.name: r.frame_timeline(estimates[r.name]) for r in copy.recordings}))
    present = set(subject.tolist())
    split = None
    if present == set(range(1, N_SUBJECTS + 1)):
        split = np.where(np.isin(subject, copy.test_subjects), "test", "train")
    else:
        notes.append(f"no official split: {len(present)} of the {N_SUBJECTS} subjects are present; choose a "
                     "cross-validation by subject (e.g. --cv subjects:5)")
    return Dataset(X=np.concatenate(windows), y=np.concatenate(labels), subject=subject, spec=spec, name="hapt",
                   source=source, recording=np.repeat([r.name for r in copy.recordings], counts),
                   start=np.concatenate(starts) / SAMPLING_RATE, split=split, notes=tuple(notes))


def unlabelled_windows(path: str | os.PathLike | None, classes: tuple[str, ...], *, sensors: str = "acc,gyro",
                       download: bool = True, progress: bool = True) -> Dataset:
    """Every window of every HAPT recording, labelled or not (128 samples every 64 from each recording's
    start, preprocessed as :func:`load_hapt`'s), all of the first of ``classes`` (the caller's, e.g.
    self-supervised pretraining's, which labels them its own way)."""
    chosen = _sensors(sensors)
    cache = cache_root(None)
    source = _source(path, cache, download, progress)
    recordings = _load(source, cache).recordings
    windows = [sliding_windows(r.preprocessed(sensors=chosen), WINDOW, STEP).astype(np.float32) for r in recordings]
    counts = [len(w) for w in windows]
    channels = output_channels(chosen)
    spec = InputSpec(SAMPLING_RATE, WINDOW, STEP, channels, output_units(channels), classes,
                     {"sensors": list(chosen), **PREPROCESS.to_dict()})
    return Dataset(X=np.concatenate(windows), y=np.zeros(sum(counts), np.int64),
                   subject=np.repeat([r.subject for r in recordings], counts), spec=spec, name="hapt",
                   source=str(source), recording=np.repeat([r.name for r in recordings], counts),
                   start=np.concatenate([np.arange(n) * STEP / SAMPLING_RATE for n in counts]),
                   notes=("every window of every recording, labelled or not",))


# --- reading a source --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HaptCopy:
    """One HAPT copy as parsed and checked: its recordings and the official test subjects."""

    recordings: list[HaptRecording]
    test_subjects: np.ndarray


def _load(source: Path, cache: Path) -> _HaptCopy:
    cache_file = _cache_file(source, cache)
    copy = read_entry(cache_file, _unpack_cache)
    if copy is None:
        copy = _read_source(source)
        write_entry(cache_file, _pack_cache(copy), "HAPT")
    return copy


def _open_files(source: Path) -> DatasetFiles:
    return open_dataset(source, _MARKER, what="HAPT", root_names=_ROOT_NAMES)


def _recording_files(files: DatasetFiles) -> dict[str, tuple[int, int]]:
    """``{name: (experiment, user)}`` of the recordings; an acc file without its gyro file (or the
    reverse) is an error."""
    found: dict[str, dict[str, tuple[int, int]]] = {"acc": {}, "gyro": {}}
    for member in files.names:
        match = _RECORDING_FILE.fullmatch(member)
        if match:
            found[match[1]][match[2]] = (int(match[3]), int(match[4]))
    for sensor, other in (("acc", "gyro"), ("gyro", "acc")):
        lone = sorted(set(found[sensor]) - set(found[other]))
        if lone:
            raise DataError(f"{files.label}: RawData/{sensor}_{lone[0]}.txt has no {other} file "
                            f"RawData/{other}_{lone[0]}.txt; every experiment needs both")
    if not found["acc"]:
        raise DataError(f"{files.label}: no recordings (RawData/acc_expXX_userYY.txt and gyro_expXX_userYY.txt)")
    return dict(sorted(found["acc"].items(), key=lambda item: item[1]))


def _check_required(files: DatasetFiles) -> dict[str, tuple[int, int]]:
    """The dataset's files must be there; returns :func:`_recording_files`."""
    missing = [name for name in (_CLASSES_FILE, _MARKER) if not files.has(name)]
    if missing:
        raise DataError(f"{files.label}: missing file(s): {', '.join(missing)}")
    return _recording_files(files)


def _read_source(source: Path) -> _HaptCopy:
    """Parse and check a HAPT copy."""
    with _open_files(source) as files:
        experiments = _check_required(files)
        check_names_file(files, _CLASSES_FILE, CLASS_NAMES, "the 12 classes")
        labels = parse_int_table(files.read(_MARKER), f"{_MARKER} in {files.label}", ncols=5)
        test_subjects = np.array(TEST_SUBJECTS)
        if files.has(_TEST_SUBJECTS_FILE):
            test_subjects = np.unique(parse_int_column(files.read(_TEST_SUBJECTS_FILE),
                                                       f"{_TEST_SUBJECTS_FILE} in {files.label}"))

        def parse(job: tuple[str, str]) -> np.ndarray:
            member = f"RawData/{job[0]}_{job[1]}.txt"
            return parse_float_table(files.read(member), f"{member} in {files.label}", ncols=3)

        jobs = [(sensor, name) for name in experiments for sensor in SENSOR_UNITS]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            signals = dict(zip(jobs, pool.map(parse, jobs)))
        label = files.label
    recordings = []
    for name, (_, user) in experiments.items():
        acc, gyro = signals["acc", name], signals["gyro", name]
        if len(acc) != len(gyro):
            raise DataError(f"{label}: RawData/acc_{name}.txt has {len(acc)} samples but RawData/gyro_{name}.txt "
                            f"has {len(gyro)}; both hold one row per 50 Hz sample")
        recordings.append(HaptRecording(name, user, acc, gyro, np.zeros((0, 3), np.int64)))
    return _HaptCopy(_attach_labels(recordings, list(experiments.values()), labels, f"{_MARKER} in {label}"),
                 test_subjects)


def _attach_labels(recordings: list[HaptRecording], keys: list[tuple[int, int]], labels: np.ndarray,
                   where: str) -> list[HaptRecording]:
    """The recordings (of experiment and user ``keys``) with their rows of labels.txt, checked, as
    0-based ``(activity, first, stop)``."""
    index = {key: i for i, key in enumerate(keys)}
    rows: list[list[tuple[int, int, int, int]]] = [[] for _ in recordings]
    for line, (experiment, user, activity, first, last) in enumerate(labels.tolist(), start=1):
        if (experiment, user) not in index:
            raise DataError(f"{where}, line {line}: experiment {experiment} of user {user} has no recording "
                            f"(RawData/acc_exp{experiment:02d}_user{user:02d}.txt is missing)")
        recording = recordings[index[experiment, user]]
        if not 1 <= activity <= len(CLASS_NAMES):
            raise DataError(f"{where}, line {line}: activity {activity} is not one of 1..{len(CLASS_NAMES)} "
                            f"({_CLASSES_FILE})")
        if not 1 <= first <= last <= len(recording.acc):
            raise DataError(f"{where}, line {line}: segment {first}..{last} is not within samples "
                            f"1..{len(recording.acc)} of {recording.name} (first and last sample, 1-based, "
                            "inclusive, first <= last)")
        rows[index[experiment, user]].append((first - 1, last, activity, line))
    out = []
    for recording, segments in zip(recordings, rows):
        segments.sort()
        for (_, stop, _, line_a), (first, _, _, line_b) in zip(segments, segments[1:]):
            if first < stop:
                raise DataError(f"{where}, line {line_b}: its segment overlaps the one of line {line_a} "
                                f"({recording.name}); a sample has one label at most")
        table = np.array([(a, f, s) for f, s, a, _ in segments], np.int64).reshape(-1, 3)
        out.append(dataclasses.replace(recording, labels=table))
    return out


def _verify_archive(path: Path) -> None:
    """Check a downloaded archive: every zip member passes its CRC check and the dataset files are there."""
    verify_zip(path)
    with _open_files(path) as files:
        _check_required(files)


def is_hapt(path: Path) -> bool:
    """Whether ``path`` looks like a HAPT copy: a folder with RawData/labels.txt (or 'HAPT Data Set/' with
    it), or a zip holding it, or holding a nested zip with 'HAPT' in its name."""
    if path.is_dir():
        return any((root / _MARKER).is_file() for root in (path, *(path / name for name in _ROOT_NAMES)))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            return zip_prefix(archive, _MARKER) is not None or any(
                n.lower().endswith(".zip") and "hapt" in n.rsplit("/", 1)[-1].lower() for n in names)
    except (zipfile.BadZipFile, OSError):
        return False


# --- the parsed-recording cache ----------------------------------------------------------------------


def _cache_file(source: Path, cache: Path) -> Path:
    root = dataset_root(source, _MARKER, what="HAPT", root_names=_ROOT_NAMES) if source.is_dir() else None
    return cache_entry("hapt", source, root, cache, CACHE_FORMAT)


def _pack_cache(copy: _HaptCopy) -> dict[str, np.ndarray]:
    recordings = copy.recordings
    return {"format": np.array(CACHE_FORMAT), "class_names": np.array(CLASS_NAMES),
            "names": np.array([r.name for r in recordings]), "subjects": np.array([r.subject for r in recordings]),
            "lengths": np.array([len(r.acc) for r in recordings]),
            "acc": np.concatenate([r.acc for r in recordings]), "gyro": np.concatenate([r.gyro for r in recordings]),
            "label_counts": np.array([len(r.labels) for r in recordings]),
            "labels": np.concatenate([r.labels for r in recordings]), "test_subjects": copy.test_subjects}


def _unpack_cache(arrays: dict[str, np.ndarray]) -> _HaptCopy:
    if int(arrays["format"]) != CACHE_FORMAT or tuple(arrays["class_names"]) != CLASS_NAMES:
        raise ValueError("cache format or classes differ")
    lengths, label_counts = arrays["lengths"], arrays["label_counts"]
    acc, gyro, labels = arrays["acc"], arrays["gyro"], arrays["labels"]
    if (acc.shape != (lengths.sum(), 3) or gyro.shape != acc.shape or labels.shape != (label_counts.sum(), 3)
            or not len(arrays["names"]) == len(arrays["subjects"]) == len(lengths) == len(label_counts)):
        raise ValueError("inconsistent cached arrays")
    bounds, label_bounds = np.r_[0, np.cumsum(lengths)], np.r_[0, np.cumsum(label_counts)]
    recordings = [HaptRecording(str(name), int(subject), acc[a:b], gyro[a:b], labels[c:d])
                  for name, subject, a, b, c, d in zip(arrays["names"], arrays["subjects"], bounds[:-1], bounds[1:],
                                                       label_bounds[:-1], label_bounds[1:])]
    return _HaptCopy(recordings, arrays["test_subjects"])


SOURCE = SourceKind(
    "hapt", "HAPT (Human Activities and Postural Transitions): windows cut from the raw recordings, official "
    "train/test split when all 30 subjects are present", is_hapt,
    lambda path, options, *, progress, download: load_hapt(path, classes=options.classes or "basic",
                                                           sensors=options.sensors or "acc,gyro",
                                                           frame=options.frame or "phone", download=download,
                                                           progress=progress),
    ("classes", "sensors", "frame"))
