"""Your own labelled recordings, as a folder (or a zip of one): the source kind "recordings".

Layout: every recording is either one file (``.csv``, ``.csv.gz``, ``.tsv``, ``.txt``, ``.parquet``)
holding all its sensors, or a subfolder holding one file per sensor (as phone apps export them,
e.g. ``walk_01/Accelerometer.csv`` and ``walk_01/Gyroscope.csv``). A recording's name is its path
in the folder without the file ending (``alice/walk_01``). The files are read by
:func:`harcnn.data.load_recording` (formats, time columns, units: detected, and said in the notes).

Labels, one of:

* a per-sample label column in the recordings (``label`` or ``activity``, or ``--label-column``);
* a segments table (``labels.csv`` in the folder, or ``--labels TABLE``) with the columns
  ``recording, start, end, label``; ``start``/``end`` in seconds on the recording's clock, or in
  samples of the file (``--labels-unit samples``, counted from 0, end exclusive). Time not covered by a
  segment is unlabelled.

Subjects (who wore the sensor; cross-validation keeps each subject's windows on one side), one of:
a ``subjects.csv`` table (``recording, subject``) in the folder or ``--subjects TABLE``; a regular
expression on the recording name with one group (``--subjects "(alice|bob)"``, ``"user(\\d+)"``); or
the first folder of the recording's name (``alice/walk_01`` -> ``alice``) when recordings sit in
one folder per person. Without any of these every recording counts as its own subject, and a
note says that windows of one person in several recordings would then leak across folds.

Windows: ``--window`` seconds (default 2.56) every ``--step`` seconds (default half a window) at
``--rate`` Hz (default 50), after the UCI preprocessing of :mod:`harcnn.data.windows`
(for whatever sensors the recordings share, or ``--sensors acc``). Unlabelled spans are skipped;
a window whose samples carry different labels is dropped (``--label-policy pure``, the default)
or takes the label of more than half of its samples (``--label-policy majority``).

(The options are :class:`~harcnn.data.options.DataOptions`, named here as the command line spells them.)
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harcnn.data.dataset import Dataset, InputSpec, SourceKind
from harcnn.data.options import READING_OPTIONS, DataOptions
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sensorfiles import RECORDING_SUFFIXES, is_recording_file, read_table, without_suffix
from harcnn.data.windows import DEFAULT_RATE, DEFAULT_WINDOW, PreprocessConfig, canonical_order, output_units
from harcnn.core.errors import DataError

if TYPE_CHECKING:
    from harcnn.data.labels import Timeline

TABLES = ("labels.csv", "subjects.csv")


def sensor_files(folder: Path) -> list[Path] | None:
    """The files of one recording exported one file per sensor (``Accelerometer.csv``, ``Gyroscope.csv``):
    several data files, each named after a sensor; None when ``folder`` is not such a folder."""
    from harcnn.data.sensorfiles import sensor_from_name

    files = sorted(p for p in folder.iterdir() if _is_data(p))
    return files if len(files) > 1 and all(sensor_from_name(p) for p in files) else None


def _recording_files(root: Path) -> dict[str, list[Path]]:
    """Recording name -> its files: every data file directly in a folder is a recording of its own,
    unless a subfolder holds the per-sensor files of one recording (:func:`sensor_files`)."""
    found: dict[str, list[Path]] = {}
    for folder in sorted({p.parent for p in root.rglob("*") if _is_data(p)}):
        files = sorted(p for p in folder.iterdir() if _is_data(p))
        if folder != root and sensor_files(folder):
            found[folder.relative_to(root).as_posix()] = files
        else:
            for p in files:
                found[without_suffix(p.relative_to(root).as_posix())] = [p]
    if not found:
        raise DataError(f"{root}: no recordings (files ending in {', '.join(RECORDING_SUFFIXES)}) in this folder")
    return found


def _is_data(path: Path) -> bool:
    return path.is_file() and is_recording_file(path.name) and path.name.lower() not in TABLES \
        and not path.name.startswith(".")


def _segments(path: Path, names: set[str]) -> dict[str, "Timeline"]:
    """``recording -> Timeline`` of its labelled segments, from a segments table."""
    from harcnn.data.labels import read_labels_table

    segments = read_labels_table(path)
    if not isinstance(segments, dict):
        raise DataError(f"{path}: a segments table of a folder needs a recording column (recording, start, end, "
                        "label)")
    unknown = sorted(set(segments) - names)
    if unknown:
        raise DataError(f"{path}: recording(s) {', '.join(map(repr, unknown[:5]))} are not in the folder "
                        f"(recordings: {', '.join(sorted(names)[:8])}{' ...' if len(names) > 8 else ''})")
    return segments


def _labelled(recording: Recording, segments: "Timeline", unit: str, where: str) -> Recording:
    """The recording with per-sample labels from its segments (seconds on its clock, or sample indices)."""
    t = recording.timestamps
    labels = np.full(len(t), "", dtype=object)
    position = np.arange(len(t), dtype=np.float64) if unit == "samples" else t
    for start, end, label in zip(segments.starts, segments.ends, segments.labels):
        inside = (position >= start) & (position < end)
        if not inside.any():
            raise DataError(f"{where}: the segment {start:g}-{end:g} {unit} ({label}) lies outside recording "
                            f"{recording.source} ({t[0]:.3f}-{t[-1]:.3f} s, {len(t)} samples)")
        labels[inside] = label
    return Recording(t, recording.sensors, labels, recording.source, recording.notes)


def _subject_of(names: list[str], root: Path, subjects: str | None, notes: list[str]) -> dict[str, str]:
    if subjects is not None and is_recording_file(subjects) and not Path(subjects).is_file():
        raise DataError(f"subjects table {subjects}: no such file (a subjects table has the columns recording, "
                        "subject; or give a pattern on the recording names)")
    table = Path(subjects) if subjects and is_recording_file(subjects) else root / "subjects.csv"
    if subjects is None and not table.is_file() and all("/" in n for n in names):
        notes.append("subjects: the first folder of each recording's name")
        return {n: n.split("/", 1)[0] for n in names}
    if table.is_file() and (subjects is None or is_recording_file(subjects)):
        t = read_table(table)
        rec, sub = t.find("recording"), t.find("subject")
        if rec is None or sub is None:
            raise DataError(f"{table}: a subjects table needs the columns recording and subject; found "
                            f"{', '.join(t.header)}")
        given = {without_suffix(str(r).strip()): str(s).strip() for r, s in zip(t.columns[rec], t.columns[sub])}
        missing = [n for n in names if n not in given]
        if missing:
            raise DataError(f"{table}: no subject for recording(s) {', '.join(missing[:5])}")
        notes.append(f"subjects from {table.name}")
        return {n: given[n] for n in names}
    if subjects is not None:
        try:
            pattern = re.compile(subjects)
        except re.error as error:
            raise DataError(f"subjects={subjects!r} is neither a .csv table nor a regular expression ({error})") from None
        out = {}
        for n in names:
            match = pattern.search(n)
            if match is None:
                raise DataError(f"subjects={subjects!r} does not match recording {n!r}: give a pattern that matches "
                                "every recording name, with one group for the subject")
            out[n] = match.group(1) if match.groups() else match.group(0)
        notes.append(f"subjects from the pattern {subjects!r}")
        return out
    notes.append("no subjects given: every recording counts as its own subject; if one person made several "
                 "recordings, their windows leak across cross-validation folds: give subjects (a subjects.csv, "
                 "a pattern, or one folder per person)")
    return {n: n for n in names}


def _window_labels(labels: np.ndarray, policy: str) -> np.ndarray:
    """One label per window (``""``: dropped) from its per-sample labels ``[n, window]``."""
    out = np.full(len(labels), "", dtype=object)
    for i, row in enumerate(labels):
        values, counts = np.unique(row.astype(str), return_counts=True)
        best = int(np.argmax(counts))
        if policy == "pure":
            if len(values) == 1:
                out[i] = values[0]
        elif counts[best] * 2 > len(row):
            out[i] = values[best]
    return out


def load_recordings(path: str | Path, options: DataOptions = DataOptions()) -> Dataset:
    """A :class:`Dataset` of windows cut from a folder (or zip) of labelled recordings (see the module
    docstring), as ``options`` say: the windows (``sampling_rate``, ``window_seconds``, ``step_seconds``,
    ``sensors``), the labels (``labels``, ``labels_unit``, ``label_column``, ``label_policy``), the
    subjects (``subjects``), and how every file is read (``options.reading``; detected when not given)."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="harcnn-recordings-") as folder:
            with zipfile.ZipFile(path) as archive:
                archive.extractall(folder)
            inner = [p for p in Path(folder).iterdir() if not p.name.startswith(("__MACOSX", "."))]
            root = inner[0] if len(inner) == 1 and inner[0].is_dir() else Path(folder)
            dataset = load_recordings(root, options)
        return dataclasses.replace(dataset, source=str(path))
    if not path.is_dir():
        raise DataError(f"{path}: a recordings dataset is a folder (or a zip of one)")
    labels, label_column, subjects, sensors = options.labels, options.label_column, options.subjects, options.sensors
    unit, label_policy = options.labels_unit or "s", options.label_policy or "pure"
    sampling_rate, window, step = options.sampling_rate, options.window_seconds, options.step_seconds
    rate = float(sampling_rate or DEFAULT_RATE)
    window_s = float(window or DEFAULT_WINDOW / DEFAULT_RATE)
    n_window = int(round(window_s * rate))
    n_step = int(round(float(step) * rate)) if step else n_window // 2
    if n_window < 4 or n_step < 1:
        raise DataError(f"windows of {window_s:g} s every {n_step / rate:g} s at {rate:g} Hz are too short")
    files = _recording_files(path)
    table = Path(labels) if labels else path / "labels.csv"
    segments = _segments(table, set(files)) if table.is_file() else None
    if labels and segments is None:
        raise DataError(f"labels table {labels} does not exist")
    notes: list[str] = [f"{len(files)} recordings in {path}"]
    subject_of = _subject_of(list(files), path, subjects, notes)
    recordings: dict[str, Recording] = {}
    for name, paths in files.items():
        recording = load_recording(paths if len(paths) > 1 else paths[0], label_column=label_column,
                                   **options.reading.keywords())
        if segments is not None:
            if unit == "samples" and len(paths) > 1:
                raise DataError(f"{table}: segments in samples count the rows of one file, but recording {name} has "
                                "one file per sensor (merged onto one clock): give its segments in seconds "
                                "(--labels-unit s)")
            if name not in segments:
                notes.append(f"{name}: no labelled segment, skipped")
                continue
            recording = _labelled(recording, segments[name], unit, str(table))
        elif recording.labels is None:
            raise DataError(f"recording {name} has no labels: give a segments table (labels.csv: recording, start, "
                            "end, label) or a per-sample label column (label or activity, or --label-column NAME)")
        recordings[name] = recording
    first = next(iter(recordings))
    notes += [f"{first}: {note}" for note in recordings[first].notes]
    shared = [s for s in canonical_order(next(iter(recordings.values())).sensor_names)
              if all(s in r.sensor_names for r in recordings.values())]
    chosen = canonical_order([s.strip() for s in sensors.split(",")]) if sensors else tuple(shared)
    absent = [s for s in chosen if s not in shared]
    if absent or not chosen:
        raise DataError(f"sensor(s) {', '.join(absent) or 'none'} are not in every recording (all of them have: "
                        f"{', '.join(shared) or 'no common sensor'})")
    config = PreprocessConfig()
    X, y_text, subject, recording_of, start, channels = [], [], [], [], [], None
    for name, recording in recordings.items():
        cut = recording_to_windows(recording.select(*chosen), config, sampling_rate=rate, window=n_window, step=n_step)
        channels = cut.channel_names
        keep = _window_labels(cut.window_labels, label_policy)
        mask = keep != ""
        X.append(cut.windows[mask])
        y_text.append(keep[mask])
        subject += [subject_of[name]] * int(mask.sum())
        recording_of += [name] * int(mask.sum())
        start.append(cut.start_times[mask] - recording.timestamps[0])
    y_all = np.concatenate(y_text)
    if not len(y_all):
        raise DataError(f"{path}: no labelled window: every window is unlabelled or straddles a label change "
                        "(--label-policy majority keeps the latter)")
    classes = tuple(sorted(set(y_all.tolist())))
    notes.append(f"{len(y_all)} labelled windows ({label_policy} labels) of {n_window} samples every {n_step} at "
                 f"{rate:g} Hz from {', '.join(chosen)}")
    spec = InputSpec(rate, n_window, n_step, channels, output_units(channels), classes,
                     {"sensors": list(chosen), **config.to_dict()})
    return Dataset(X=np.concatenate(X), y=np.array([classes.index(v) for v in y_all]), subject=np.array(subject),
                   spec=spec, name="recordings", source=str(path), recording=np.array(recording_of),
                   start=np.concatenate(start), notes=tuple(notes))


def is_recording_folder(path: Path) -> bool:
    if path.is_dir():
        return any(_is_data(p) for p in path.rglob("*"))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(is_recording_file(n) for n in archive.namelist())
    return False


SOURCE = SourceKind(
    "recordings", "a folder or zip of labelled recordings (CSV/Parquet; one file per recording or per sensor)",
    is_recording_folder, lambda path, options, **_: load_recordings(path, options),
    ("sampling_rate", "window_seconds", "step_seconds", "labels", "labels_unit", "label_column", "label_policy",
     "subjects", "sensors", *READING_OPTIONS), generic=True)
