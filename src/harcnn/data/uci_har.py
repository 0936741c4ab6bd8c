"""The UCI HAR dataset ("Human Activity Recognition Using Smartphones"): find, download, load.

:func:`load_uci_har` reads the 9 raw inertial signals of both official splits straight from the
official zip (outer zip with a nested ``UCI HAR Dataset.zip``, or the plain inner zip) or from an
extracted folder, checks them, and caches the parsed arrays per user so later loads are instant.
It returns a :class:`~harcnn.data.dataset.Dataset` (``split`` holds the official train/test split;
``extras["features"]`` the 561 engineered features, NaN for a split whose ``X_<split>.txt`` is absent).
This module is the one place for UCI HAR's constants: channels, classes, rate, window and step.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harcnn.data.dataset import Dataset, InputSpec, SourceKind, register_source
from harcnn.data.download import default_cache_dir, fetch
from harcnn.data.textparse import parse_float_table, parse_int_column
from harcnn.data.windows import PreprocessConfig
from harcnn.errors import DataError
from harcnn.io import atomic_write_bytes

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
CHANNEL_NAMES = (
    "total_acc_x", "total_acc_y", "total_acc_z",
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
)  # fmt: skip
UCI_HAR_URL = "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
# sha256 of the archive UCI serves at UCI_HAR_URL (61,005,872 bytes: the outer zip holding
# 'UCI HAR Dataset.zip'). UCI publishes no checksum; this digest is the one several independent
# projects recorded for their downloads from this address.
UCI_HAR_SHA256 = "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"

SAMPLING_RATE = 50.0  # Hz
WINDOW = 128  # samples: 2.56 s
STEP = 64  # samples: 50% overlap
UNITS = {"total_acc": "g", "body_acc": "g", "body_gyro": "rad/s"}
#: The dataset's preprocessing of the raw phone signals (see harcnn.data.windows), which a model
#: trained on UCI HAR applies to a new recording.
PREPROCESSING = {"sensors": ["acc", "gyro"], **PreprocessConfig().to_dict()}
SPEC = InputSpec(SAMPLING_RATE, WINDOW, STEP, CHANNEL_NAMES, tuple(UNITS[c.rsplit("_", 1)[0]] for c in CHANNEL_NAMES),
                 CLASS_NAMES, PREPROCESSING)
SPLITS = ("train", "test")
DOWNLOAD_NAME = "uci_har.zip"  # the downloaded archive, in the cache folder
CACHE_FORMAT = 1  # bump when the parsed-array cache changes meaning
_NESTED_ZIP = "UCI HAR Dataset.zip"
_MARKER = "activity_labels.txt"  # the file that marks a dataset root


@dataclass(frozen=True)
class _Part:
    """One official split as parsed: windows ``X`` [n, 128, 9] (float32, CHANNEL_NAMES order), classes
    ``y`` 0..5 (int64), ``subject`` ids (int64) and the 561 engineered ``features`` (float32) or None."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    features: np.ndarray | None


def _dataset(parts: list[_Part], source: Path) -> Dataset:
    """Both official splits as one :class:`Dataset` (``split`` says which window is in which)."""
    n_features = next((p.features.shape[1] for p in parts if p.features is not None), None)
    extras = {}
    if n_features is not None:
        extras["features"] = np.concatenate([p.features if p.features is not None else
                                             np.full((len(p.y), n_features), np.nan, np.float32) for p in parts])
    return Dataset(X=np.concatenate([p.X for p in parts]), y=np.concatenate([p.y for p in parts]),
                   subject=np.concatenate([p.subject for p in parts]), spec=SPEC, name="uci_har", source=str(source),
                   split=np.concatenate([np.full(len(p.y), name) for name, p in zip(SPLITS, parts)]), extras=extras)


def find_uci_har(
    path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> Path | None:
    """Where :func:`load_uci_har` would read the data from, without reading it.

    Order: ``path``; else ``$HARCNN_DATA``; else a copy downloaded into the cache. Returns None
    when none applies; a ``path`` or ``$HARCNN_DATA`` that does not exist is a DataError.
    """
    if path is not None:
        return _existing(path, "data path")
    if os.environ.get("HARCNN_DATA"):
        return _existing(os.environ["HARCNN_DATA"], "HARCNN_DATA")
    downloaded = _cache_root(cache_dir) / DOWNLOAD_NAME
    return downloaded if downloaded.is_file() else None


def load_uci_har(
    path: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load UCI HAR from ``path`` (official zip, inner zip or extracted folder) or as
    :func:`find_uci_har` resolves it, downloading it into the cache if allowed and needed.

    Parsed arrays are cached under ``cache_dir`` (default :func:`default_cache_dir`), keyed by
    the source's path, size and modification time; a damaged cache entry is rebuilt.
    """
    cache = _cache_root(cache_dir)
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
    return _dataset(parts, source)


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
    dest = _cache_root(cache_dir) / DOWNLOAD_NAME
    if dest.is_file() and not force:
        return dest
    sha256 = UCI_HAR_SHA256 if url == UCI_HAR_URL else None
    return fetch(url, dest, sha256=sha256, verify=_verify_archive, progress=progress)


# --- reading a source -----------------------------------------------------------------------


_READ_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, EOFError)


class _Files:
    """Read access to the files of one dataset copy by path relative to its root (a context manager)."""

    def __init__(self, label: str, names: set[str], read: Callable[[str], bytes], resources: ExitStack):
        self.label = label
        self._names = names
        self._read = read
        self._resources = resources

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._resources.close()

    def has(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> bytes:
        if name not in self._names:
            raise DataError(f"{self.label}: missing file {name}")
        try:
            return self._read(name)
        except _READ_ERRORS as error:
            raise DataError(f"{self.label}: cannot read {name} (corrupt or truncated?): {error}") from error


def _open_files(source: Path) -> _Files:
    """Index the dataset files of a folder, an inner zip or an outer zip with a nested zip."""
    with ExitStack() as resources:
        if source.is_dir():
            root = _dataset_root(source)
            names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
            return _Files(str(root), names, lambda name: (root / name).read_bytes(), resources.pop_all())
        label = str(source)
        archive = resources.enter_context(_open_zip(source, label))
        prefix = _zip_prefix(archive)
        if prefix is None:
            nested = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == _NESTED_ZIP]
            if not nested:
                raise DataError(f"{label}: no UCI HAR dataset in this zip (no {_MARKER}, no nested '{_NESTED_ZIP}')")
            try:
                inner = archive.read(nested[0])
            except _READ_ERRORS as error:
                raise DataError(f"{label}: cannot read {nested[0]} (corrupt or truncated?): {error}") from error
            label = f"{label}!{nested[0]}"
            archive = resources.enter_context(_open_zip(io.BytesIO(inner), label))
            prefix = _zip_prefix(archive)
            if prefix is None:
                raise DataError(f"{label}: no UCI HAR dataset in this zip (no {_MARKER})")
        names = {n[len(prefix) :] for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")}
        return _Files(label, names, lambda name: archive.read(prefix + name), resources.pop_all())


def _open_zip(file: Path | io.BytesIO, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(f"{label}: not a readable zip archive (truncated or corrupt?): {error}") from error


def _zip_prefix(archive: zipfile.ZipFile) -> str | None:
    """The folder prefix (e.g. 'UCI HAR Dataset/') holding the dataset in ``archive``, or None."""
    markers = [
        n[: -len(_MARKER)]
        for n in archive.namelist()
        if n.rsplit("/", 1)[-1] == _MARKER and not n.startswith("__MACOSX")
    ]
    return min(markers, key=len) if markers else None


def _dataset_root(folder: Path) -> Path:
    """The 'UCI HAR Dataset' folder: ``folder`` itself or its child of that name."""
    for root in (folder, folder / "UCI HAR Dataset"):
        if (root / _MARKER).is_file():
            return root
    raise DataError(f"{folder}: not a UCI HAR folder (no {_MARKER} in it or in 'UCI HAR Dataset/' below it)")


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


def _check_required(files: _Files) -> None:
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


def _parse_members(files: _Files, n_features: int | None) -> dict[str, dict[str, np.ndarray]]:
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
        raise DataError(f"{names['subject']} in {label}, line {bad[0] + 1}: subject id {subject[bad[0]]} is not positive")
    X = np.stack([arrays[channel] for channel in CHANNEL_NAMES], axis=-1)
    return _Part(X=X, y=y - 1, subject=subject, features=arrays.get("X"))


def _check_class_names(files: _Files) -> None:
    """The activity names of activity_labels.txt must be the six official ones, in order."""
    label = f"{_MARKER} in {files.label}"
    try:
        rows = [line.split() for line in files.read(_MARKER).decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DataError(f"{label}: not text: {error}") from error
    found = [tuple(row) for row in rows]
    expected = [(str(i), name) for i, name in enumerate(CLASS_NAMES, start=1)]
    if found != expected:
        raise DataError(f"{label}: expected the six activities '1 WALKING' .. '6 LAYING', found {found}")


def _count_features(files: _Files) -> int:
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
    with _open_zip(path, str(path)) as archive:
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise DataError(f"downloaded archive is corrupt: {error}") from error
        if bad is not None:
            raise DataError(f"downloaded archive is corrupt: member {bad} fails its CRC check")
    with _open_files(path) as files:
        _check_required(files)


# --- locations and the parsed-array cache ---------------------------------------------------------


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _existing(path: str | os.PathLike, what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise DataError(f"{what} {path} does not exist")
    return resolved


def _cache_file(source: Path, cache: Path) -> Path:
    """The cache entry for ``source``: named by a hash of its path and of its files' sizes and mtimes."""
    if source.is_dir():
        root = _dataset_root(source)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        state = [(p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    else:
        state = [(source.name, source.stat().st_size, source.stat().st_mtime_ns)]
    path_key = _digest(str(source))[:12]
    state_key = _digest(json.dumps([CACHE_FORMAT, str(source), state]))[:16]
    return cache / "parsed" / f"uci_har-{path_key}-{state_key}.npz"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_cache(cache_file: Path, parts: list[_Part]) -> None:
    """Store the parsed arrays (uncompressed npz, atomically); drop older entries of the same source.

    A cache that cannot be written only costs speed, so that is a warning, not an error.
    """
    arrays = {"class_names": np.array(CLASS_NAMES), "format": np.array(CACHE_FORMAT)}
    for name, split in zip(SPLITS, parts):
        arrays.update({f"{name}_X": split.X, f"{name}_y": split.y, f"{name}_subject": split.subject})
        if split.features is not None:
            arrays[f"{name}_features"] = split.features
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(cache_file, buffer.getvalue())
        prefix = cache_file.name.rsplit("-", 1)[0] + "-"
        for old in cache_file.parent.glob(f"{prefix}*.npz"):
            if old != cache_file:
                old.unlink(missing_ok=True)
    except OSError as error:
        warnings.warn(f"could not write the UCI HAR cache {cache_file}: {error}", stacklevel=3)


def _read_cache(cache_file: Path) -> list[_Part] | None:
    """The cached dataset, or None when absent; a damaged or inconsistent entry is deleted.

    Reading every npz member to its end makes zipfile check its CRC-32, so corruption is caught.
    """
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if int(arrays["format"]) != CACHE_FORMAT or tuple(arrays["class_names"]) != CLASS_NAMES:
            raise ValueError("cache format or classes differ")
        return [_cached_split(arrays, name) for name in SPLITS]
    except Exception:  # any damage means: rebuild from the source
        cache_file.unlink(missing_ok=True)
        return None


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
        return any((root / _MARKER).is_file() and (root / "train").is_dir() for root in (path, path / "UCI HAR Dataset"))
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.rsplit("/", 1)[-1] == _NESTED_ZIP for n in names) or \
        any(n.endswith(f"/{_MARKER}") and n.replace(_MARKER, "train/y_train.txt") in names for n in names)


register_source(SourceKind(
    "uci_har", "UCI HAR (Human Activity Recognition Using Smartphones): the official 2.56 s windows, "
    "official train/test split", is_uci_har, lambda path, **options: load_uci_har(path, **options),
    {"download": "download the archive when no path is given and none is cached"}))
