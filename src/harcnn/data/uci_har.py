"""The UCI HAR dataset ("Human Activity Recognition Using Smartphones"): find, download, load.

:func:`load_uci_har` reads the 9 raw inertial signals of both official splits straight from the
official zip (outer zip with a nested ``UCI HAR Dataset.zip``, or the plain inner zip) or from an
extracted folder, checks them, and caches the parsed arrays per user so later loads are instant.
It returns a :class:`~harcnn.data.dataset.Dataset` (``split`` holds the official train/test split;
``extras["features"]`` the 561 engineered features, NaN for a split whose ``X_<split>.txt`` is absent).
This module is the one place for UCI HAR's constants: channels, classes, rate, window and step.
"""

from __future__ import annotations

import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.archive import DatasetFiles, check_names_file, dataset_root, existing_path, open_dataset, verify_zip
from harcnn.data.bodyframe import frame_recipe
from harcnn.data.cache import cache_entry, cache_root, read_entry, write_entry
from harcnn.data.dataset import Dataset, InputSpec, SourceKind
from harcnn.data.download import default_cache_dir, fetch
from harcnn.data.textparse import parse_float_table, parse_int_column
from harcnn.data.windows import CHANNELS, PreprocessConfig, output_units

__all__ = [
    "CHANNEL_NAMES",
    "CLASS_NAMES",
    "SPEC",
    "UCI_HAR_SHA256",
    "UCI_HAR_URL",
    "default_cache_dir",
    "download_uci_har",
    "find_uci_har",
    "is_uci_har",
    "load_uci_har",
]

CLASS_NAMES = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")
CHANNEL_NAMES = CHANNELS  # the preprocessing names its output after these files
UCI_HAR_URL = "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
# sha256 of the archive UCI serves at UCI_HAR_URL (61,005,872 bytes: the outer zip holding
# 'UCI HAR Dataset.zip'). UCI publishes no checksum; this digest is the one several independent
# projects recorded for their downloads from this address.
UCI_HAR_SHA256 = "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"

SAMPLING_RATE = 50.0  # Hz
WINDOW = 128  # samples: 2.56 s
STEP = 64  # samples: 50% overlap
#: The dataset's preprocessing of the raw phone signals (see harcnn.data.windows), which a model
#: trained on UCI HAR applies to a new recording.
PREPROCESSING = {"sensors": ["acc", "gyro"], **PreprocessConfig(gyro_drift_cutoff_hz=0.1).to_dict()}
SPEC = InputSpec(SAMPLING_RATE, WINDOW, STEP, CHANNEL_NAMES, output_units(CHANNEL_NAMES), CLASS_NAMES, PREPROCESSING)
SPLITS = ("train", "test")
DOWNLOAD_NAME = "uci_har.zip"  # the downloaded archive, in the cache folder
CACHE_FORMAT = 1  # bump when the parsed-array cache changes meaning
_NESTED_ZIP = "UCI HAR Dataset.zip"
_ROOT_NAMES = ("UCI HAR Dataset",)  # the folder an extracted copy may sit in
_MARKER = "activity_labels.txt"  # the file that marks a dataset root


@dataclass(frozen=True)
class _Part:
    """One official split as parsed: windows ``X`` [n, 128, 9] (float32, CHANNEL_NAMES order), classes
    ``y`` 0..5 (int64), ``subject`` ids (int64) and the 561 engineered ``features`` (float32) or None."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    features: np.ndarray | None


def _dataset(parts: list[_Part], source: Path, frame: str = "phone") -> Dataset:
    """Both official splits as one :class:`Dataset` (``split`` says which window is in which); with
    ``frame="body"`` the same windows, and a spec that says they are in the body frame."""
    n_features = next((p.features.shape[1] for p in parts if p.features is not None), None)
    extras = {}
    if n_features is not None:
        extras["features"] = np.concatenate([p.features if p.features is not None else
                                             np.full((len(p.y), n_features), np.nan, np.float32) for p in parts])
    spec, notes = SPEC, ()
    if frame == "body":
        spec = replace(SPEC, preprocessing={**PREPROCESSING, **frame_recipe(frame)})
        notes = ("body frame: the windows as they are: UCI HAR's phones were worn alike, at the waist, and the "
                 "canonical body frame is their median orientation (16 degrees from each, median; "
                 "benchmarks/README.md, 'Body frame')",)
    return Dataset(X=np.concatenate([p.X for p in parts]), y=np.concatenate([p.y for p in parts]),
                   subject=np.concatenate([p.subject for p in parts]), spec=spec, name="uci_har", source=str(source),
                   split=np.concatenate([np.full(len(p.y), name) for name, p in zip(SPLITS, parts)]), extras=extras,
                   notes=notes)


def find_uci_har(
    path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> Path | None:
    """Where :func:`load_uci_har` would read the data from, without reading it.

    Order: ``path``; else ``$HARCNN_DATA``; else a copy downloaded into the cache. Returns None
    when none applies; a ``path`` or ``$HARCNN_DATA`` that does not exist is a DataError.
    """
    if path is not None:
        return existing_path(path, "data path")
    if os.environ.get("HARCNN_DATA"):
        return existing_path(os.environ["HARCNN_DATA"], "HARCNN_DATA")
    downloaded = cache_root(cache_dir) / DOWNLOAD_NAME
    return downloaded if downloaded.is_file() else None


def load_uci_har(
    path: str | os.PathLike | None = None,
    *,
    frame: str = "phone",
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load UCI HAR from ``path`` (official zip, inner zip or extracted folder) or as
    :func:`find_uci_har` resolves it, downloading it into the cache if allowed and needed.

    Parsed arrays are cached under ``cache_dir`` (default :func:`default_cache_dir`), keyed by
    the source's path and content (:mod:`harcnn.data.cache`); a damaged cache entry is rebuilt.
    ``frame="body"``: the windows are the body frame's already (UCI HAR's phones define it); the
    dataset's spec says so, and a model trained on it turns recordings into their body frame.
    """
    frame_recipe(frame)  # a bad option fails before any download
    cache = cache_root(cache_dir)
    source = find_uci_har(path, cache)
    if source is None:
        if not download:
            raise DataError(
                "UCI HAR data not found: no path given, HARCNN_DATA is not set and "
                f"{cache / DOWNLOAD_NAME} does not exist; run `harcnn data download` or pass "
                "--data PATH (the official zip or the extracted 'UCI HAR Dataset' folder)"
            )
        source = download_uci_har(cache, progress=progress)
    cache_file = _cache_file(source, cache)
    parts = _read_cache(cache_file)
    if parts is None:
        parts = _read_source(source)
        _write_cache(cache_file, parts)
    return _dataset(parts, source, frame)


def download_uci_har(
    cache_dir: str | os.PathLike | None = None,
    *,
    url: str = UCI_HAR_URL,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download the official archive into the cache (unless already there or ``force``); return its path.

    The download is verified (zip integrity, the dataset's files present, and the pinned sha256
    when ``url`` is :data:`UCI_HAR_URL`) before it is moved into place.
    """
    dest = cache_root(cache_dir) / DOWNLOAD_NAME
    if dest.is_file() and not force:
        return dest
    sha256 = UCI_HAR_SHA256 if url == UCI_HAR_URL else None
    return fetch(url, dest, sha256=sha256, verify=_verify_archive, progress=progress)


# --- reading a source -----------------------------------------------------------------------


def _open_files(source: Path) -> DatasetFiles:
    """Index the dataset files of a folder, an inner zip or an outer zip with a nested zip."""
    return open_dataset(source, _MARKER, what="UCI HAR", root_names=_ROOT_NAMES, nested=_NESTED_ZIP)


def _member_names(split: str) -> dict[str, str]:
    """Relative paths of one split's files, keyed by role (channel names, 'y', 'subject', 'X')."""
    names = {c: f"{split}/Inertial Signals/{c}_{split}.txt" for c in CHANNEL_NAMES}
    names.update(y=f"{split}/y_{split}.txt", subject=f"{split}/subject_{split}.txt", X=f"{split}/X_{split}.txt")
    return names


def _required_members() -> list[str]:
    members = [_MARKER]
    for split in SPLITS:
        members += [name for role, name in _member_names(split).items() if role != "X"]
    return members


def _check_required(files: DatasetFiles) -> None:
    missing = [name for name in _required_members() if not files.has(name)]
    if missing:
        raise DataError(f"{files.label}: missing file(s): {', '.join(missing)}")


def _read_source(source: Path) -> list[_Part]:
    """Parse and check a dataset copy."""
    with _open_files(source) as files:
        _check_required(files)
        _check_class_names(files)
        n_features = _count_features(files) if files.has("features.txt") else None
        arrays = _parse_members(files, n_features)
    return [_assemble(split, arrays[split], files.label) for split in SPLITS]


def _parse_members(files: DatasetFiles, n_features: int | None) -> dict[str, dict[str, np.ndarray]]:
    """Parse every data file present, in parallel (zlib and numpy release the GIL): {split: {role: array}}."""

    def parse(job: tuple[str, str, str]) -> np.ndarray:
        _, role, name = job
        data, label = files.read(name), f"{name} in {files.label}"
        if role in ("y", "subject"):
            return parse_int_column(data, label)
        ncols = WINDOW if role != "X" else n_features
        return parse_float_table(data, label, ncols=ncols).astype(np.float32)

    jobs = [(split, role, name) for split in SPLITS for role, name in _member_names(split).items()]
    jobs = [job for job in jobs if files.has(job[2])]
    jobs.sort(key=lambda job: job[1] != "X")  # the largest files first
    arrays: dict[str, dict[str, np.ndarray]] = {split: {} for split in SPLITS}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for (split, role, _), array in zip(jobs, pool.map(parse, jobs)):
            arrays[split][role] = array
    return arrays


def _assemble(split: str, arrays: dict[str, np.ndarray], label: str) -> _Part:
    """Check one split's parsed files against each other and stack the channels."""
    names = _member_names(split)
    rows = {names[role].rsplit("/", 1)[-1]: len(a) for role, a in arrays.items()}
    if len(set(rows.values())) != 1:
        listing = ", ".join(f"{name} {n}" for name, n in rows.items())
        raise DataError(f"{label}: {split} files disagree on the number of windows: {listing}")
    y = arrays["y"]
    bad = np.flatnonzero((y < 1) | (y > len(CLASS_NAMES)))
    if bad.size:
        raise DataError(f"{names['y']} in {label}, line {bad[0] + 1}: label {y[bad[0]]} is not in 1..6")
    subject = arrays["subject"]
    bad = np.flatnonzero(subject < 1)
    if bad.size:
        raise DataError(f"{names['subject']} in {label}, line {bad[0] + 1}: subject id {subject[bad[0]]} "
                        f"is not positive")
    X = np.stack([arrays[channel] for channel in CHANNEL_NAMES], axis=-1)
    return _Part(X=X, y=y - 1, subject=subject, features=arrays.get("X"))


def _check_class_names(files: DatasetFiles) -> None:
    """The activity names of activity_labels.txt must be the six official ones, in order."""
    check_names_file(files, _MARKER, CLASS_NAMES, "the six activities")


def _count_features(files: DatasetFiles) -> int:
    """The number of features named in features.txt ('<number> <name>' per line)."""
    label = f"features.txt in {files.label}"
    try:
        lines = [line for line in files.read("features.txt").decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DataError(f"{label}: not text: {error}") from error
    names = []
    for number, line in enumerate(lines, start=1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise DataError(f"{label}, line {number}: expected '<number> <name>', found {line!r}")
        names.append(parts[1].strip())
    return len(names)


def _verify_archive(path: Path) -> None:
    """Check a downloaded archive: every zip member passes its CRC and the dataset files are there."""
    verify_zip(path)
    with _open_files(path) as files:
        _check_required(files)


# --- locations and the parsed-array cache ---------------------------------------------------------


def _cache_file(source: Path, cache: Path) -> Path:
    """The cache entry for ``source`` (see :func:`harcnn.data.cache.cache_entry`)."""
    root = dataset_root(source, _MARKER, what="UCI HAR", root_names=_ROOT_NAMES) if source.is_dir() else None
    return cache_entry("uci_har", source, root, cache, CACHE_FORMAT)


def _write_cache(cache_file: Path, parts: list[_Part]) -> None:
    """Store the parsed arrays of both splits."""
    arrays = {"class_names": np.array(CLASS_NAMES), "format": np.array(CACHE_FORMAT)}
    for name, split in zip(SPLITS, parts):
        arrays.update({f"{name}_X": split.X, f"{name}_y": split.y, f"{name}_subject": split.subject})
        if split.features is not None:
            arrays[f"{name}_features"] = split.features
    write_entry(cache_file, arrays, "UCI HAR")


def _read_cache(cache_file: Path) -> list[_Part] | None:
    """The cached dataset, or None when absent; a damaged or inconsistent entry is deleted."""
    return read_entry(cache_file, _unpack_cache)


def _unpack_cache(arrays: dict[str, np.ndarray]) -> list[_Part]:
    if int(arrays["format"]) != CACHE_FORMAT or tuple(arrays["class_names"]) != CLASS_NAMES:
        raise ValueError("cache format or classes differ")
    return [_cached_split(arrays, name) for name in SPLITS]


def _cached_split(arrays: dict[str, np.ndarray], name: str) -> _Part:
    X, y, subject = arrays[f"{name}_X"], arrays[f"{name}_y"], arrays[f"{name}_subject"]
    features = arrays.get(f"{name}_features")
    n = len(y)
    if (
        X.shape != (n, WINDOW, len(CHANNEL_NAMES))
        or X.dtype != np.float32
        or y.dtype != np.int64
        or subject.shape != (n,)
        or (features is not None and (features.ndim != 2 or len(features) != n))
    ):
        raise ValueError(f"inconsistent cached arrays for {name}")
    return _Part(X=X, y=y, subject=subject, features=features)


def is_uci_har(path: Path) -> bool:
    """Whether ``path`` looks like a UCI HAR copy (a folder with activity_labels.txt and train/, or a zip
    holding 'UCI HAR Dataset')."""
    if path.is_dir():
        return any((root / _MARKER).is_file() and (root / "train").is_dir()
                   for root in (path, path / "UCI HAR Dataset"))
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.rsplit("/", 1)[-1] == _NESTED_ZIP for n in names) or \
        any(n.endswith(f"/{_MARKER}") and n.replace(_MARKER, "train/y_train.txt") in names for n in names)


SOURCE = SourceKind(
    "uci_har", "UCI HAR (Human Activity Recognition Using Smartphones): the official 2.56 s windows, "
    "official train/test split", is_uci_har,
    lambda path, options, *, progress, download: load_uci_har(path, frame=options.frame or "phone",
                                                              download=download, progress=progress),
    ("frame",))
