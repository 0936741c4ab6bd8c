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
  segment is unlabelled. A table (labels or subjects, in the folder or given) is never read as a
  recording; columns it does not use are named in a warning.

Subjects (who wore the sensor; cross-validation keeps each subject's windows on one side), one of:
a ``subjects.csv`` table (``recording, subject``) in the folder or ``--subjects TABLE``; a regular
expression on the recording name with one group (``--subjects "(alice|bob)"``, ``"user(\\d+)"``); a
``subject`` column in the segments table; or the first folder of the recording's name
(``alice/walk_01`` -> ``alice``) when recordings sit in one folder per person. Without any of these
every recording counts as its own subject, and a note says that windows of one person in several
recordings would then leak across folds.

Windows: ``--window`` seconds (default 2.56) every ``--step`` seconds (default half a window) at
``--rate`` Hz (default 50), after the UCI preprocessing of :mod:`harcnn.data.windows`
(for whatever sensors the recordings share, or ``--sensors acc``; ``--gyro-drift 0.1`` also removes the
gyroscope's drift as UCI HAR's and HAPT's windows were), in the phone's axes or, with
``--frame body``, each recording turned into its body frame first (:mod:`harcnn.data.bodyframe`;
the notes say which frames were found). Unlabelled spans are skipped;
a window whose samples carry different labels is dropped (``--label-policy pure``, the default)
or takes the label of more than half of its samples (``--label-policy majority``). The suspect
stretches the quality check finds in a recording (:mod:`harcnn.data.quality`) are left out
(``--quality keep`` keeps them): the notes list them per recording, and one warning says how many
windows that cost.

(The options are :class:`~harcnn.data.options.DataOptions`, named here as the command line spells them.)
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.archive import open_zip
from harcnn.data.bodyframe import frame_recipe, frames_note
from harcnn.data.dataset import Dataset, InputSpec, SourceKind
from harcnn.data.labels import COLUMNS, SUBJECT_COLUMN, LabelsTable, Timeline, read_labels
from harcnn.data.options import READING_OPTIONS, DataOptions
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sensorfiles import RECORDING_SUFFIXES, is_recording_file, read_table, without_suffix
from harcnn.data.windows import (
    DEFAULT_RATE,
    DEFAULT_WINDOW,
    PreprocessConfig,
    canonical_order,
    output_channels,
    output_units,
)

TABLES = ("labels.csv", "subjects.csv")


#: The words of a per-sensor file's name (``TotalAcceleration.csv``, ``Gyroscope.csv``, ``acc.csv``).
SENSOR_FILE_WORDS = frozenset({"total", "acceleration", "accelerometer", "acc", "accel", "gyro", "gyroscope", "gyr",
                               "mag", "magnetometer", "magnetic", "field", "raw", "uncalibrated"})


def sensor_files(folder: Path, tables: frozenset[Path] = frozenset()) -> list[Path] | None:
    """The files of one recording exported one file per sensor (``Accelerometer.csv``, ``Gyroscope.csv``):
    several data files, each named after a sensor, or one named by sensor words only (a folder that lacks
    the other sensors' files); None when ``folder`` is not such a folder."""
    from harcnn.data.sensorfiles import sensor_from_name

    files = sorted(p for p in folder.iterdir() if _is_data(p, tables))
    if len(files) == 1:
        words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", without_suffix(files[0].name))
        return files if words and {w.lower() for w in words} <= SENSOR_FILE_WORDS else None
    return files if files and all(sensor_from_name(p) for p in files) else None


def recording_files(root: Path, tables: frozenset[Path] = frozenset()) -> dict[str, list[Path]]:
    """Recording name -> its files: every data file directly in a folder is a recording of its own,
    unless a subfolder holds the per-sensor files of one recording (:func:`sensor_files`); ``tables``
    (resolved paths of a labels or subjects table given) are never recordings, nor are ``labels.csv`` and
    ``subjects.csv``."""
    found: dict[str, list[Path]] = {}
    for folder in sorted({p.parent for p in root.rglob("*") if _is_data(p, tables)}):
        files = sorted(p for p in folder.iterdir() if _is_data(p, tables))
        if folder != root and sensor_files(folder, tables):
            found[folder.relative_to(root).as_posix()] = files
        else:
            for p in files:
                found[without_suffix(p.relative_to(root).as_posix())] = [p]
    if not found:
        raise DataError(f"{root}: no recordings (files ending in {', '.join(RECORDING_SUFFIXES)}) in this folder")
    return found


def _is_data(path: Path, tables: frozenset[Path] = frozenset()) -> bool:
    """A recording's file: not a labels or subjects table (``labels.csv``, ``subjects.csv``, or one given)."""
    return path.is_file() and is_recording_file(path.name) and path.name.lower() not in TABLES \
        and not path.name.startswith(".") and path.resolve() not in tables


def _labels_table(path: Path, names: set[str], notes: list[str], warnings: list[str]) -> LabelsTable:
    """The segments table, checked: a recording column naming recordings of the folder."""

    table = read_labels(path)
    if not isinstance(table.segments, dict):
        raise DataError(f"{path}: a segments table of a folder needs a recording column (recording, start, end, "
                        "label)")
    unknown = sorted(set(table.segments) - names)
    if unknown:
        raise DataError(f"{path}: recording(s) {', '.join(map(repr, unknown[:5]))} are not in the folder "
                        f"(recordings: {', '.join(sorted(names)[:8])}{' ...' if len(names) > 8 else ''})")
    if table.unused:
        known = ", ".join([*(aliases[0] for aliases in COLUMNS.values()), SUBJECT_COLUMN])
        warnings.append(f"{path}: column(s) {', '.join(map(repr, table.unused))} not used (a labels table has the "
                        f"columns {known})")
    notes.append(f"labels from {path}" + (", subjects from its subject column" if table.subjects else ""))
    return table


def _labelled(recording: Recording, segments: Timeline, unit: str, where: str) -> Recording:
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
    return dataclasses.replace(recording, labels=labels)


def _subjects_table(subjects: str | None, root: Path) -> Path | None:
    """The subjects table to read: the one given (``--subjects x.csv``), else ``subjects.csv`` in the folder."""
    if subjects is not None and is_recording_file(subjects):
        if not Path(subjects).is_file():
            raise DataError(f"subjects table {subjects}: no such file (a subjects table has the columns recording, "
                            "subject; or give --subjects a pattern on the recording names)")
        return Path(subjects)
    table = root / "subjects.csv"
    return table if subjects is None and table.is_file() else None


def _subject_of(names: list[str], table: Path | None, subjects: str | None, from_labels: Mapping[str, str],
                notes: list[str]) -> dict[str, str]:
    """Each recording's subject: a subjects table, a pattern, the labels table's subject column, the first
    folder of the names, or (none of these) the recording itself."""
    if table is not None:
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
            raise DataError(f"--subjects {subjects!r} is neither a .csv table nor a regular expression ({error})") \
                from None
        out = {}
        for n in names:
            match = pattern.search(n)
            if match is None:
                raise DataError(f"--subjects {subjects!r} does not match recording {n!r}: give a pattern that matches "
                                "every recording name, with one group for the subject")
            out[n] = match.group(1) if match.groups() else match.group(0)
        notes.append(f"subjects from the pattern {subjects!r}")
        return out
    if from_labels:
        missing = [n for n in names if n not in from_labels]
        if missing:
            raise DataError(f"the labels table's subject column has no subject for recording(s) "
                            f"{', '.join(missing[:5])}")
        return {n: from_labels[n] for n in names}
    if all("/" in n for n in names):
        notes.append("subjects: the first folder of each recording's name")
        return {n: n.split("/", 1)[0] for n in names}
    notes.append("no subjects given: every recording counts as its own subject; if one person made several "
                 "recordings, their windows leak across cross-validation folds: give subjects (a subjects.csv, "
                 "a subject column in the labels table, --subjects PATTERN, or one folder per person)")
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


def grouped_notes(per_recording: Mapping[str, Sequence[str]]) -> list[str]:
    """The recordings' notes, each said once: notes that differ only in their numbers are one line with
    the numbers' ranges, followed by which recordings (all, or up to four named)."""
    groups: dict[str, list[tuple[str, list[str]]]] = {}
    for name, notes in per_recording.items():
        for note in dict.fromkeys(notes):
            groups.setdefault(_NUMBER.sub("#", note), []).append((name, _NUMBER.findall(note)))
    lines = []
    for template, members in groups.items():
        parts = template.split("#")
        text = parts[0]
        for slot, part in enumerate(parts[1:]):
            values = sorted({float(numbers[slot]) for _, numbers in members})
            shown = [members[0][1][slot]] if len(values) == 1 else [f"{values[0]:g}-{values[-1]:g}"]
            text += shown[0] + part
        names = [name for name, _ in members]
        who = (f"all {len(names)} recordings" if len(names) == len(per_recording) and len(names) > 1
               else ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else ""))
        lines.append(f"{who}: {text}")
    return lines


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


def load_recordings(path: str | Path, options: DataOptions = DataOptions()) -> Dataset:
    """A :class:`Dataset` of windows cut from a folder (or zip) of labelled recordings (see the module
    docstring), as ``options`` say: the windows (``sampling_rate``, ``window_seconds``, ``step_seconds``,
    ``sensors``), the labels (``labels``, ``labels_unit``, ``label_column``, ``label_policy``), the
    subjects (``subjects``), and how every file is read (``options.reading``; detected when not given).
    ``options.reading.quality``: ``"exclude"`` (default) leaves each recording's suspect stretches out of
    the windows (:mod:`harcnn.data.quality`), ``"keep"`` keeps them; what was found is in the notes, and
    what was left out in the warnings."""
    path = Path(path)
    if _is_zip(path):
        with _unzipped(path) as root:
            return dataclasses.replace(load_recordings(root, options), source=str(path))
    if not path.is_dir():
        raise DataError(f"{path}: a recordings dataset is a folder (or a zip of one)")
    labels, label_column, subjects, sensors = options.labels, options.label_column, options.subjects, options.sensors
    unit, label_policy = options.labels_unit or "s", options.label_policy or "pure"
    sampling_rate, window, step = options.sampling_rate, options.window_seconds, options.step_seconds
    quality = options.reading.quality or "exclude"
    frame = options.frame or "phone"
    rate = float(sampling_rate or DEFAULT_RATE)
    window_s = float(window or DEFAULT_WINDOW / DEFAULT_RATE)
    n_window = int(round(window_s * rate))
    n_step = int(round(float(step) * rate)) if step else n_window // 2
    if n_window < 4 or n_step < 1:
        raise DataError(f"windows of {window_s:g} s every {n_step / rate:g} s at {rate:g} Hz are too short")
    table = Path(labels) if labels else path / "labels.csv"
    if labels and table.is_dir():
        raise DataError(f"--labels {labels}: is a folder; expected a labels table (a .csv with the columns recording, "
                        "start, end, label)")
    if labels and not table.is_file():
        raise DataError(f"--labels {labels}: no such file (a labels table with the columns recording, start, end, "
                        "label)")
    subjects_table = _subjects_table(subjects, path)
    tables = frozenset(p.resolve() for p in (table, subjects_table) if p is not None and p.is_file())
    files = recording_files(path, tables)
    notes: list[str] = [f"{len(files)} recordings in {path}"]
    warnings: list[str] = []
    segments = _labels_table(table, set(files), notes, warnings) if table.is_file() else None
    subject_of = _subject_of(list(files), subjects_table, subjects,
                             segments.subjects if segments is not None else {}, notes)
    recordings: dict[str, Recording] = {}
    for name, paths in files.items():
        recording = load_recording(paths if len(paths) > 1 else paths[0], label_column=label_column,
                                   **options.reading.keywords())
        if segments is not None:
            if unit == "samples" and len(paths) > 1:
                raise DataError(f"{table}: segments in samples count the rows of one file, but recording {name} has "
                                "one file per sensor (merged onto one clock): give its segments in seconds "
                                "(--labels-unit s)")
            if name not in segments.segments:
                notes.append(f"{name}: no labelled segment, skipped")
                continue
            recording = _labelled(recording, segments.segments[name], unit, str(table))
        elif recording.labels is None:
            raise DataError(f"recording {name} has no labels: give a segments table (labels.csv: recording, start, "
                            "end, label) or a per-sample label column (label or activity, or --label-column NAME)")
        recordings[name] = recording
    if not recordings:
        raise DataError(f"{table}: no recording of the folder has a labelled segment")
    notes += grouped_notes({name: [_own_note(n, files[name]) for n in r.notes] for name, r in recordings.items()})
    chosen = _chosen_sensors(recordings, files, sensors, warnings)
    config = PreprocessConfig(gyro_drift_cutoff_hz=options.gyro_drift)
    X, y_text, subject, recording_of, start, channels = [], [], [], [], [], output_channels(chosen)
    quality_lines, left_out, lost, frames = [], {}, [], {}
    for name, recording in recordings.items():
        cut = recording_to_windows(recording.select(*chosen), config, sampling_rate=rate, window=n_window, step=n_step,
                                   quality=quality, frame=frame)
        if cut.frame is not None:
            frames[name] = cut.frame
        origin, several = float(recording.timestamps[0]), len(files[name]) > 1
        report = recording.quality
        if cut.excluded:
            left_out[name] = (cut.n_excluded, cut.excluded, origin)
            quality_lines.append(f"{name}: {cut.n_excluded} window(s) left out: "
                                 + "; ".join(s.describe(origin, several) for s in cut.excluded))
        elif report is not None and report.suspects:
            quality_lines.append(f"{name}: kept (--quality keep): "
                                 + "; ".join(s.describe(origin, several) for s in report.suspects))
        quality_lines += [f"{name}: {_own_note(n, files[name])}" for n in (report.notes if report else ())]
        if not len(cut.windows):
            lost.append(name)
            continue
        keep = _window_labels(cut.window_labels, label_policy)
        mask = keep != ""
        X.append(cut.windows[mask])
        y_text.append(keep[mask])
        subject += [subject_of[name]] * int(mask.sum())
        recording_of += [name] * int(mask.sum())
        start.append(cut.start_times[mask] - recording.timestamps[0])
    if frames:
        notes.append(frames_note(frames))
        notes += [f"{name}: {timeline.describe()}" for name, timeline in frames.items()  # the unusual ones, of many
                  if len(frames) <= 8 or any(f.confidence != "high" for f in timeline.estimate.frames)
                  or timeline.estimate.changes]
    flagged = {line.split(": ", 1)[0] for line in quality_lines}
    clean = len(recordings) - len(flagged)
    notes += [f"quality: {line}" for line in quality_lines]
    if clean:
        notes.append("quality: no suspect stretch in any recording" if not flagged else
                     f"quality: nothing found in the {clean} other recording(s)")
    summary = _quality_summary(len(recordings), left_out, lost)
    if summary:
        warnings.append(summary)
    y_all = np.concatenate(y_text) if y_text else np.zeros(0, dtype=str)
    if not len(y_all):
        if left_out:
            raise DataError(f"{path}: nothing usable left: {summary}")
        raise DataError(f"{path}: no labelled window: every window is unlabelled or straddles a label change "
                        "(--label-policy majority keeps the latter)")
    classes = tuple(sorted(set(y_all.tolist())))
    notes.append(f"{len(y_all)} labelled windows ({label_policy} labels) of {n_window} samples every {n_step} at "
                 f"{rate:g} Hz from {', '.join(chosen)}")
    spec = InputSpec(rate, n_window, n_step, channels, output_units(channels), classes,
                     {"sensors": list(chosen), **config.to_dict(), **frame_recipe(frame)})
    return Dataset(X=np.concatenate(X), y=np.array([classes.index(v) for v in y_all]), subject=np.array(subject),
                   spec=spec, name="recordings", source=str(path), recording=np.array(recording_of),
                   start=np.concatenate(start), notes=tuple(notes), warnings=tuple(warnings),
                   loaded_with={"options": {"quality": quality}})


def _is_zip(path: Path) -> bool:
    return path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path))


@contextmanager
def _unzipped(path: Path) -> Iterator[Path]:
    """The folder a zip of recordings holds (its one top folder, or its top), extracted while in use."""
    with tempfile.TemporaryDirectory(prefix="harcnn-recordings-") as folder:
        with open_zip(path, str(path)) as archive:
            archive.extractall(folder)
        inner = [p for p in Path(folder).iterdir() if not p.name.startswith(("__MACOSX", "."))]
        yield inner[0] if len(inner) == 1 and inner[0].is_dir() else Path(folder)


def unlabelled_windows(path: str | Path, options: DataOptions, classes: Sequence[str]) -> Dataset:
    """Every window of every recording of a folder (or zip), labelled or not, cut as :func:`load_recordings`
    cuts them (the same options; a labels table is not read), as a :class:`Dataset` whose windows are all
    of the first of ``classes`` (the caller's: self-supervised pretraining gives them its own labels)."""
    path = Path(path)
    if _is_zip(path):
        with _unzipped(path) as root:
            return dataclasses.replace(unlabelled_windows(root, options, classes), source=str(path))
    if not path.is_dir():
        raise DataError(f"{path}: a folder of recordings (or a zip of one)")
    rate = float(options.sampling_rate or DEFAULT_RATE)
    n_window = int(round(float(options.window_seconds or DEFAULT_WINDOW / DEFAULT_RATE) * rate))
    n_step = int(round(float(options.step_seconds) * rate)) if options.step_seconds else n_window // 2
    subjects_table = _subjects_table(options.subjects, path)
    tables = frozenset(p.resolve() for p in (path / "labels.csv", subjects_table) if p is not None and p.is_file())
    files = recording_files(path, tables)
    notes = [f"{len(files)} recordings in {path}, labelled or not"]
    subject_of = _subject_of(list(files), subjects_table, options.subjects, {}, notes)
    recordings = {name: load_recording(paths if len(paths) > 1 else paths[0], **options.reading.keywords())
                  for name, paths in files.items()}
    warnings: list[str] = []
    chosen = _chosen_sensors(recordings, files, options.sensors, warnings)
    config = PreprocessConfig(gyro_drift_cutoff_hz=options.gyro_drift)
    X, subject, recording_of, start = [], [], [], []
    for name, recording in recordings.items():
        cut = recording_to_windows(recording.select(*chosen), config, sampling_rate=rate, window=n_window, step=n_step,
                                   quality=options.reading.quality or "exclude")
        X.append(cut.windows)
        subject += [subject_of[name]] * len(cut.windows)
        recording_of += [name] * len(cut.windows)
        start.append(cut.start_times - recording.timestamps[0])
    channels = output_channels(chosen)
    spec = InputSpec(rate, n_window, n_step, channels, output_units(channels), tuple(classes),
                     {"sensors": list(chosen), **config.to_dict()})
    windows = np.concatenate(X)
    if not len(windows):
        raise DataError(f"{path}: no window in its recordings (each needs at least {n_window / rate:g} s of usable "
                        "data)")
    return Dataset(X=windows, y=np.zeros(len(windows), np.int64), subject=np.array(subject), spec=spec,
                   name="recordings", source=str(path), recording=np.array(recording_of), start=np.concatenate(start),
                   notes=tuple(notes), warnings=tuple(warnings))


def _own_note(note: str, paths: list[Path]) -> str:
    """A note of a one-file recording without its file name (the recording's name says it)."""
    prefix = f"{paths[0].name}: "
    return note[len(prefix):] if len(paths) == 1 and note.startswith(prefix) else note


def _chosen_sensors(recordings: Mapping[str, Recording], files: Mapping[str, list[Path]], sensors: str | None,
                    warnings: list[str]) -> tuple[str, ...]:
    """The sensors to use: those given (every recording must have them), else those all recordings share;
    a warning names a recording that lacks a sensor the others have."""
    every = canonical_order(dict.fromkeys(s for r in recordings.values() for s in r.sensor_names))
    shared = tuple(s for s in every if all(s in r.sensor_names for r in recordings.values()))
    if sensors:
        chosen = canonical_order([s.strip() for s in sensors.split(",")])
        absent = [s for s in chosen if s not in shared]
        if absent or not chosen:
            raise DataError(f"sensor(s) {', '.join(absent) or 'none'} are not in every recording (all of them have: "
                            f"{', '.join(shared) or 'no common sensor'})")
        return chosen
    if not shared:
        raise DataError("the recordings share no sensor: " + "; ".join(
            f"{n} has {', '.join(r.sensor_names)}" for n, r in list(recordings.items())[:4]))
    for sensor in (s for s in every if s not in shared):
        lacking = [n for n, r in recordings.items() if sensor not in r.sensor_names]
        folders = [n for n in lacking if len(files[n]) and sensor_files(files[n][0].parent)]
        where = (f" (its folder has {', '.join(p.name for p in files[folders[0]])} only)"
                 if len(lacking) == 1 and folders else "")
        who = (f"recording {lacking[0]} has" if len(lacking) == 1 else
               f"recordings {', '.join(lacking[:4])}{' ...' if len(lacking) > 4 else ''} have")
        warnings.append(f"{who} no {sensor}{where}: using {', '.join(shared)}, which every recording has (--sensors "
                        f"{','.join(shared)} says so; add the {sensor} file(s) to use {sensor})")
    return shared


def _quality_summary(n_recordings: int, left_out: Mapping[str, tuple], lost: list[str]) -> str:
    """One line on what the quality check left out (empty when nothing): per recording, its stretches."""
    if not left_out:
        return ""
    where = [f"{name} " + ", ".join(f"{s.start - origin:.1f}-{s.end - origin:.1f} s {s.reason}" for s in suspects)
             for name, (_, suspects, origin) in left_out.items()]
    shown = "; ".join(where[:5]) + (f"; and {len(where) - 5} more" if len(where) > 5 else "")
    gone = f"; nothing usable left in {', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''}" if lost else ""
    return (f"quality check: left out {sum(n for n, _, _ in left_out.values())} window(s) in {len(left_out)} of "
            f"{n_recordings} recording(s) ({shown}){gone}; --quality keep keeps them ('harcnn data info' says why)")


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
     "subjects", "sensors", "frame", "gyro_drift", *READING_OPTIONS), generic=True)
