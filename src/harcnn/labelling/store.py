"""A folder of recordings as the labelling app sees it: its recordings, their videos, ``labels.csv``, and the
app's own settings file.

The folder is the one ``harcnn ... --data FOLDER`` reads (:mod:`harcnn.data.recording_folder`): the same
recordings under the same names, read by :func:`harcnn.data.recordings.load_recording`, and the same
segments table ``labels.csv`` (``recording, start, end, label``; seconds on the recording's clock).

**What it reads and writes.** Recordings are looked up by name in the folder's listing, never built from a
path a request gives, and files whose real path (links followed) lies outside the folder are left out. It
writes two files only: ``labels.csv`` and its settings file ``.harcnn-label.json`` (video offsets, the label
set's order, and the fingerprint of the last ``labels.csv`` it wrote), each atomically and never through a
symbolic link.

**Saving** one recording's segments re-reads ``labels.csv`` and replaces only that recording's rows, so
other recordings' rows (also of recordings not in the folder) are kept as they are. Each recording's
segments have a version (a hash of them); a save names the version it started from, and when the file now
holds another one (another tab, or another program, saved in between) the save is refused with
:class:`Conflict`, not written over. The new table is read back with harcnn's own reader
(:func:`harcnn.serving.timeline.read_labels_table`) before it replaces the file. Before replacing a ``labels.csv``
this app did not write (the first save over the user's own file, or over a file edited by hand since), the
file is copied to ``labels.csv.bak`` (``labels.csv.bak-2``, ... when that exists; a backup is never written
over). A ``labels.csv`` harcnn cannot read is not replaced unless the user says so (``replace_unreadable``),
and then it is backed up the same way.

**Labels in a column.** A recording whose file has a per-sample label column (``label``/``activity``) and no
rows in ``labels.csv`` shows the runs of that column as its segments. Since ``--data`` reads a folder's
``labels.csv`` instead of label columns once there is one, every save also writes the runs of such
recordings into it (unless the file already has rows for them): the folder reads the same afterwards.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from harcnn.core.errors import DataError, HarcnnError
from harcnn.core.io import atomic_write_bytes, write_csv, write_json
from harcnn.data.options import ReadingOptions

LABELS_FILE = "labels.csv"
SETTINGS_FILE = ".harcnn-label.json"
HEADER = ("recording", "start", "end", "label")
VIDEO_SUFFIXES = (".mp4", ".webm", ".m4v", ".mov", ".ogv")
MAX_LABEL_LENGTH = 64
MAX_SEGMENTS = 100_000
UNITS = {"acc": "g", "gyro": "rad/s", "mag": "uT"}
_NOT_IN_LABELS = set(',;"')  # separators and quotes: a label stays one plain cell


class Segment(NamedTuple):
    """One labelled stretch ``[start, end)`` in seconds on the recording's clock."""

    start: float
    end: float
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label}


class Conflict(HarcnnError):
    """``labels.csv`` holds another version of the recording's segments than the one the save started from."""

    def __init__(self, name: str, segments: list[Segment], version: str):
        super().__init__(f"the labels of {name} in {LABELS_FILE} changed since this page loaded them (another tab or "
                         "program saved them): load them again, or save yours over them")
        self.segments, self.version = segments, version


class UnknownRecording(LookupError):
    """The folder has no recording of this name."""


class UnreadableLabels(HarcnnError):
    """``labels.csv`` exists but harcnn cannot read it; it is replaced only when the user says so."""


class RecordingLabels(NamedTuple):
    """A recording's segments as the page starts from them: its rows of ``labels.csv``, or the runs of its
    label column (``from_column``) when the file has none; ``version``: of its rows of ``labels.csv``;
    ``error``: why ``labels.csv`` cannot be read."""

    segments: list[Segment]
    version: str
    error: str | None
    from_column: bool


class LabelsState(NamedTuple):
    """``labels.csv`` as it is now: ``table`` (recording -> sorted segments; None when it cannot be read),
    ``error`` (why not), ``raw`` (its bytes; None when there is no file)."""

    table: dict[str, list[Segment]] | None
    error: str | None
    raw: bytes | None


@dataclass(frozen=True, eq=False)
class LoadedRecording:
    """A recording ready to draw: ``times`` ``[n]`` (s), ``values`` ``[n, C]`` float32 with ``channels``
    (each axis of each sensor and the magnitude of each 3-axis sensor), ``groups``: one per sensor,
    ``(sensor, unit, channel indices)``."""

    recording: Any  # harcnn.data.recordings.Recording
    times: np.ndarray
    values: np.ndarray
    channels: tuple[str, ...]
    groups: tuple[tuple[str, str, tuple[int, ...]], ...]

    @classmethod
    def of(cls, recording) -> LoadedRecording:
        columns, channels, groups = [], [], []
        for sensor, data in recording.sensors.items():
            data = np.asarray(data, dtype=np.float64).reshape(len(recording.timestamps), -1)
            first = len(channels)
            if data.shape[1] == 3:
                columns += [data, np.linalg.norm(data, axis=1, keepdims=True)]
                channels += [f"{sensor}_{axis}" for axis in "xyz"] + [f"|{sensor}|"]
            else:
                columns.append(data)
                channels += [sensor] if data.shape[1] == 1 else [f"{sensor}_{j}" for j in range(data.shape[1])]
            groups.append((sensor, UNITS.get(sensor, ""), tuple(range(first, len(channels)))))
        values = np.concatenate(columns, axis=1).astype(np.float32)
        return cls(recording, recording.timestamps, values, tuple(channels), tuple(groups))

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        """The end of the last sample's interval."""
        return float(self.times[0] + self.recording.duration)


def column_segments(loaded: LoadedRecording) -> list[Segment]:
    """The runs of a recording's per-sample labels as segments: each from its first sample's time to the next
    sample's (the last run to the end of the last sample), so that they label exactly the same samples."""
    labels = loaded.recording.labels
    if labels is None or not len(labels):
        return []
    times = loaded.times
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = [0, *change.tolist(), len(labels)]
    return [Segment(float(times[a]), float(times[b]) if b < len(times) else loaded.end, str(labels[a]))
            for a, b in zip(bounds[:-1], bounds[1:]) if str(labels[a]).strip()]


def version_of(segments: Sequence[Segment]) -> str:
    """A short hash of a recording's segments: what a save must start from."""
    text = json.dumps([[s.start, s.end, s.label] for s in segments])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_label(label: Any) -> str:
    """A label name that ``labels.csv`` stores and harcnn reads back unchanged, or a DataError."""
    if not isinstance(label, str) or not label.strip():
        raise DataError(f"a label must be a non-empty name, got {label!r}")
    if label != label.strip() or len(label) > MAX_LABEL_LENGTH:
        raise DataError(f"label {label[:80]!r}: no spaces at either end, at most {MAX_LABEL_LENGTH} characters")
    bad = sorted({c for c in label if c in _NOT_IN_LABELS or unicodedata.category(c).startswith("C")})
    if bad:
        raise DataError(f"label {label!r}: the characters {' '.join(map(repr, bad))} are not allowed in a label")
    return label


class LabelFolder:
    """The labelling app's view of ``root`` (see the module docstring). ``reading``: options for
    :func:`harcnn.data.recordings.load_recording` (units, time column, ...; detected when None);
    ``cache_size``: recordings kept in memory."""

    def __init__(self, root: str | os.PathLike, *, reading: ReadingOptions = ReadingOptions(), cache_size: int = 3):
        path = Path(root)
        if not path.is_dir():
            what = "a zip" if path.is_file() else "no such folder"
            raise DataError(f"{path}: {what}; harcnn label takes a folder of recordings (it writes {LABELS_FILE} into "
                            "it); unpack a zip first")
        self.root = path.resolve()
        self.reading = reading
        self.cache_size = cache_size
        self.notes: list[str] = []
        self._files: dict[str, list[Path]] = {}
        self._loaded: OrderedDict[str, tuple[tuple, LoadedRecording]] = OrderedDict()
        self._summaries: dict[str, tuple[tuple, dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self.settings()  # a broken settings file is an error now, not at the first save
        self.refresh()

    # ------------------------------------------------------------------ recordings
    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def refresh(self) -> list[str]:
        """List the folder's recordings again (as ``--data`` does); names of recordings in order."""
        from harcnn.data.recording_folder import recording_files

        found, notes = {}, []
        for name, paths in recording_files(self.root).items():
            if all(self._inside(p) for p in paths):
                found[name] = paths
            else:
                notes.append(f"{name}: left out, it links to files outside {self.root}")
        if not found:
            raise DataError(f"{self.root}: no recordings inside the folder ({'; '.join(notes)})")
        with self._lock:
            self._files, self.notes = found, notes
        return list(found)

    @property
    def names(self) -> list[str]:
        return list(self._files)

    def _paths(self, name: str) -> list[Path]:
        try:
            return self._files[name]
        except (KeyError, TypeError):
            raise UnknownRecording(name) from None

    def _signature(self, name: str) -> tuple:
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in self._paths(name))

    def load(self, name: str) -> LoadedRecording:
        """The recording ``name`` (:class:`UnknownRecording` when the folder has none such), read once while
        unchanged."""
        from harcnn.data.recordings import load_recording

        signature = self._signature(name)
        with self._lock:
            cached = self._loaded.get(name)
            if cached and cached[0] == signature:
                self._loaded.move_to_end(name)
                return cached[1]
        paths = self._paths(name)
        loaded = LoadedRecording.of(load_recording(paths if len(paths) > 1 else paths[0], **self.reading.keywords()))
        with self._lock:
            self._loaded[name] = (signature, loaded)
            while len(self._loaded) > self.cache_size:
                self._loaded.popitem(last=False)
            self._summaries[name] = (signature, self._summary(loaded))
        return loaded

    @staticmethod
    def _summary(loaded: LoadedRecording) -> dict[str, Any]:
        recording = loaded.recording
        return {"start": loaded.start, "end": loaded.end, "duration": recording.duration,
                "label_column": recording.labels is not None,
                "column_labelled": sum(s.end - s.start for s in column_segments(loaded)),
                "rate": recording.sampling_rate, "samples": recording.n_samples,
                "sensors": list(recording.sensor_names)}

    def summary(self, name: str) -> dict[str, Any]:
        """Start, end, duration, rate and sensors of a recording, or ``{"error": ...}`` when it cannot be read."""
        signature = self._signature(name)
        cached = self._summaries.get(name)
        if cached and cached[0] == signature:
            return cached[1]
        try:
            self.load(name)
        except HarcnnError as error:
            self._summaries[name] = (signature, {"error": str(error)})
        return self._summaries[name][1]

    def video(self, name: str) -> Path | None:
        """The video beside a recording, named like it (``walk_01.mp4`` for ``walk_01.csv`` or the folder
        ``walk_01/``), inside the folder; None when there is none."""
        self._paths(name)
        for suffix in VIDEO_SUFFIXES:
            for candidate in (self.root / f"{name}{suffix}", self.root / f"{name}{suffix.upper()}"):
                if candidate.is_file() and self._inside(candidate):
                    return candidate.resolve()
        return None

    # ------------------------------------------------------------------ labels.csv
    @property
    def labels_path(self) -> Path:
        return self.root / LABELS_FILE

    def _check_writable(self, path: Path) -> None:
        if path.is_symlink():
            raise HarcnnError(f"{path} is a symbolic link: harcnn label writes only plain files in {self.root}; "
                              "put the file itself there")
        if path.parent.resolve() != self.root:
            raise HarcnnError(f"{path}: not in {self.root}")

    def read_labels(self) -> LabelsState:
        """``labels.csv`` now (see :class:`LabelsState`); a file of only the header counts as empty."""
        from harcnn.data.labels import read_labels_table

        path = self.labels_path
        if not path.exists() and not path.is_symlink():
            return LabelsState({}, None, None)
        if not self._inside(path) or not path.is_file():
            return LabelsState(None, f"{path} links outside the folder, or is not a file", None)
        raw = path.read_bytes()
        if raw.decode("utf-8", "replace").strip().replace(" ", "").lower() == ",".join(HEADER):
            return LabelsState({}, None, raw)
        try:
            parsed = read_labels_table(path)
        except HarcnnError as error:
            return LabelsState(None, str(error), raw)
        if not isinstance(parsed, dict):
            return LabelsState(None, f"{path}: no recording column (a folder's labels table has the columns "
                                     f"{', '.join(HEADER)})", raw)
        table = {name: [Segment(float(a), float(b), str(c)) for a, b, c in zip(t.starts, t.ends, t.labels)]
                 for name, t in parsed.items()}
        return LabelsState(table, None, raw)

    def segments(self, name: str) -> RecordingLabels:
        """A recording's segments (see :class:`RecordingLabels`; none when ``labels.csv`` cannot be read)."""
        self._paths(name)
        state = self.read_labels()
        rows = [] if state.table is None else state.table.get(name, [])
        if state.table is not None and name not in state.table:
            runs = column_segments(self.load(name))
            if runs:
                return RecordingLabels(runs, version_of(rows), state.error, True)
        return RecordingLabels(rows, version_of(rows), state.error, False)

    def check_segments(self, name: str, segments: Any) -> list[Segment]:
        """Segments from a request, checked: sorted, not overlapping, valid labels, and each holding at
        least one sample of the recording (what ``--data`` requires of a segment)."""
        if not isinstance(segments, list) or len(segments) > MAX_SEGMENTS:
            raise DataError(f"segments must be a list of at most {MAX_SEGMENTS} {{start, end, label}}")
        times = self.load(name).times
        out: list[Segment] = []
        for i, item in enumerate(segments):
            if not isinstance(item, Mapping):
                raise DataError(f"segment {i}: expected {{start, end, label}}, got {item!r:.80}")
            try:
                start, end = float(item["start"]), float(item["end"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"segment {i}: start and end must be numbers (seconds)") from None
            label = check_label(item.get("label"))
            if not (math.isfinite(start) and math.isfinite(end) and start < end):
                raise DataError(f"segment {i}: needs finite start < end, got {start!r}-{end!r}")
            if out and start < out[-1].end:
                raise DataError(f"segment {i} ({start:g}-{end:g} s) starts before segment {i - 1} ends "
                                f"({out[-1].end:g} s): segments must be sorted and must not overlap")
            if np.searchsorted(times, start, "left") >= np.searchsorted(times, end, "left"):
                raise DataError(f"segment {i} ({start:g}-{end:g} s, {label}) holds no sample of {name} "
                                f"({times[0]:g}-{times[-1]:g} s)")
            out.append(Segment(start, end, label))
        return out

    def save(self, name: str, segments: Any, base_version: str, *,
             replace_unreadable: bool = False) -> tuple[str, Path | None]:
        """Replace the recording's rows of ``labels.csv`` with ``segments``; ``(the new version, the backup
        of the previous file or None)``. Raises
        :class:`Conflict` when the file no longer holds ``base_version``, :class:`UnreadableLabels` when
        harcnn cannot read it (and ``replace_unreadable`` is not set), DataError for bad segments."""
        checked = self.check_segments(name, segments)
        path = self.labels_path
        with self._lock:
            self._check_writable(path)
            state = self.read_labels()
            if state.table is None:
                if not replace_unreadable:
                    raise UnreadableLabels(f"{LABELS_FILE} cannot be read, so saving would replace it: {state.error}")
                table: dict[str, list[Segment]] = {}
            else:
                table = dict(state.table)
                current = table.get(name, [])
                if version_of(current) != base_version:
                    raise Conflict(name, current, version_of(current))
            if checked:
                table[name] = checked
            else:
                table.pop(name, None)
            for other in self.names:  # label columns that --data would no longer read once labels.csv exists
                if other != name and other not in table and self.summary(other).get("label_column"):
                    table[other] = column_segments(self.load(other))
            data = self._rendered(table)
            backup = None
            if state.raw is not None and _sha256(state.raw) != self.settings().get("labels_sha256"):
                backup = self._backup(state.raw)
            atomic_write_bytes(path, data)
            self._update_settings(labels_sha256=_sha256(data))
        return version_of(checked), backup

    def _rendered(self, table: dict[str, list[Segment]]) -> bytes:
        """The bytes of ``labels.csv`` for ``table``, read back with harcnn's reader to be sure."""
        from harcnn.data.labels import read_labels_table

        order = {name: i for i, name in enumerate(self._files)}
        names = sorted(table, key=lambda n: (order.get(n, len(order)), n))
        rows = [(name, repr(s.start), repr(s.end), s.label) for name in names for s in table[name]]
        with tempfile.TemporaryDirectory(prefix="harcnn-label-") as scratch:
            candidate = write_csv(Path(scratch) / LABELS_FILE, HEADER, rows)
            if rows:
                back = read_labels_table(candidate)
                again = {n: [Segment(float(a), float(b), str(c)) for a, b, c in zip(t.starts, t.ends, t.labels)]
                         for n, t in back.items()} if isinstance(back, dict) else None
                if again != {n: table[n] for n in names}:
                    raise HarcnnError(f"{LABELS_FILE} would not read back as written (a recording name harcnn cannot "
                                      "store in a table?): nothing was saved")
            return candidate.read_bytes()

    def _backup(self, data: bytes) -> Path:
        """Copy the current ``labels.csv`` to a new ``labels.csv.bak`` (``-2``, ``-3``, ...: never over one)."""
        for i in range(1, 1000):
            target = self.root / (f"{LABELS_FILE}.bak" if i == 1 else f"{LABELS_FILE}.bak-{i}")
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return target
        raise HarcnnError(f"{self.root}: too many {LABELS_FILE}.bak files; move some away")

    # ------------------------------------------------------------------ the app's settings
    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    def settings(self) -> dict[str, Any]:
        """The app's settings file: ``video_offsets`` (recording -> seconds), ``labels`` (the label set in
        shortcut order), ``labels_sha256`` (the last ``labels.csv`` written here)."""
        path = self.settings_path
        if not path.exists():
            return {}
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(settings, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as error:
            raise HarcnnError(f"{path}: the labelling app's settings cannot be read ({error}); move the file away "
                              "(it holds video offsets and the label order)") from None
        return settings

    def _update_settings(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            self._check_writable(self.settings_path)
            settings = {**self.settings(), **changes}
            write_json(self.settings_path, settings)
            return settings

    def set_video_offset(self, name: str, offset: Any) -> float:
        """Save the video offset of a recording: the video's time (s) at the recording's first sample."""
        self._paths(name)
        try:
            value = float(offset)
        except (TypeError, ValueError):
            raise DataError(f"the video offset must be a number of seconds, got {offset!r:.40}") from None
        if not math.isfinite(value) or abs(value) > 86_400:
            raise DataError(f"the video offset must be within a day, got {value!r}")
        with self._lock:
            offsets = dict(self.settings().get("video_offsets") or {})
            offsets[name] = value
            self._update_settings(video_offsets=offsets)
        return value

    def video_offset(self, name: str) -> float:
        return float((self.settings().get("video_offsets") or {}).get(name, 0.0))

    def label_set(self, extra: Sequence[str] = ()) -> list[str]:
        """The label names in shortcut order: the saved order, then those in ``labels.csv``, then ``extra``."""
        state = self.read_labels()
        found = sorted({s.label for segments in (state.table or {}).values() for s in segments})
        names: list[str] = []
        for name in [*(self.settings().get("labels") or []), *found, *extra]:
            if isinstance(name, str) and name not in names:
                names.append(name)
        return names

    def set_label_set(self, labels: Any) -> list[str]:
        if not isinstance(labels, list) or len(labels) > 1000:
            raise DataError("the label set must be a list of at most 1000 names")
        checked = [check_label(label) for label in labels]
        self._update_settings(labels=list(dict.fromkeys(checked)))
        return self.label_set()
