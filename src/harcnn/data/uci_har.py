"""The UCI HAR dataset ("Human Activity Recognition Using Smartphones"): find, download, load.

:func:`load_uci_har` reads the 9 raw inertial signals of both official splits straight from the
official zip (outer zip with a nested ``UCI HAR Dataset.zip``, or the plain inner zip) or from an
extracted folder, checks them, and caches the parsed arrays per user so later loads are instant.
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

from harcnn.data.download import default_cache_dir, fetch
from harcnn.data.textparse import parse_float_table, parse_int_column
from harcnn.errors import DataError
from harcnn.io import atomic_write_bytes

__all__ = [
    "CHANNEL_NAMES",
    "CLASS_NAMES",
    "UCI_HAR_SHA256",
    "UCI_HAR_URL",
    "UCIHAR",
    "Split",
    "default_cache_dir",
    "describe",
    "download_uci_har",
    "find_uci_har",
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

WINDOW = 128
SPLITS = ("train", "test")
DOWNLOAD_NAME = "uci_har.zip"  # the downloaded archive, in the cache folder
CACHE_FORMAT = 1  # bump when the parsed-array cache changes meaning
_NESTED_ZIP = "UCI HAR Dataset.zip"
_MARKER = "activity_labels.txt"  # the file that marks a dataset root


@dataclass(frozen=True)
class Split:
    """One official split: windows ``X`` [n, 128, 9] (float32, CHANNEL_NAMES order), classes ``y``
    0..5 (int64), ``subject`` ids (int64) and the 561 engineered ``features`` (float32) or None."""

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    features: np.ndarray | None

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class UCIHAR:
    """Both official splits and their metadata; ``source`` is the zip or folder read."""

    train: Split
    test: Split
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None
    source: str


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
) -> UCIHAR:
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
    dataset = _read_cache(cache_file, source)
    if dataset is None:
        dataset = _read_source(source)
        _write_cache(cache_file, dataset)
    return dataset


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


def describe(dataset: UCIHAR) -> str:
    """A multi-line human summary: source, shapes, windows per class and per subject, features."""
    splits = {"train": dataset.train, "test": dataset.test}
    lines = [f"UCI HAR dataset from {dataset.source}", f"channels: {', '.join(dataset.channel_names)}"]
    for name, split in splits.items():
        if split.features is None:
            features = f"no feature vectors (X_{name}.txt absent)"
        else:
            features = f"features {split.features.shape}"
        lines.append(
            f"{name}: X {split.X.shape}, {len(np.unique(split.subject))} subjects, {features}"
        )
    width = max(len(c) for c in dataset.class_names) + 4
    lines.append(f"{'class':<{width}}" + "".join(f"{name:>8}" for name in splits))
    for index, class_name in enumerate(dataset.class_names):
        counts = "".join(f"{int(np.sum(s.y == index)):>8}" for s in splits.values())
        lines.append(f"{index} {class_name:<{width - 2}}{counts}")
    lines.append(f"{'total':<{width}}" + "".join(f"{len(s):>8}" for s in splits.values()))
    for name, split in splits.items():
        ids, counts = np.unique(split.subject, return_counts=True)
        lines.append(f"{name} subjects (windows):")
        lines.extend(_pack([f"{i} ({c})" for i, c in zip(ids, counts)], indent="    ", width=100))
    return "\n".join(lines)


def _pack(items: list[str], indent: str, width: int) -> list[str]:
    """Comma-separated ``items`` on lines of at most ``width`` characters, never splitting an item."""
    lines = [indent]
    for item in items:
        if len(lines[-1]) > len(indent) and len(lines[-1]) + len(item) + 2 > width:
            lines.append(indent)
        lines[-1] += item if len(lines[-1]) == len(indent) else f", {item}"
    return lines


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


def _read_source(source: Path) -> UCIHAR:
    """Parse and check a dataset copy."""
    with _open_files(source) as files:
        _check_required(files)
        class_names = _read_class_names(files)
        feature_names = _read_feature_names(files) if files.has("features.txt") else None
        arrays = _parse_members(files, feature_names)
    splits = [_assemble(split, arrays[split], files.label) for split in SPLITS]
    if all(split.features is None for split in splits):
        feature_names = None
    return UCIHAR(*splits, class_names, CHANNEL_NAMES, feature_names, str(source))


def _parse_members(files: _Files, feature_names: tuple[str, ...] | None) -> dict[str, dict[str, np.ndarray]]:
    """Parse every data file present, in parallel (zlib and numpy release the GIL): {split: {role: array}}."""

    def parse(job: tuple[str, str, str]) -> np.ndarray:
        _, role, name = job
        data, label = files.read(name), f"{name} in {files.label}"
        if role in ("y", "subject"):
            return parse_int_column(data, label)
        ncols = WINDOW if role != "X" else (len(feature_names) if feature_names else None)
        return parse_float_table(data, label, ncols=ncols).astype(np.float32)

    jobs = [(split, role, name) for split in SPLITS for role, name in _member_names(split).items()]
    jobs = [job for job in jobs if files.has(job[2])]
    jobs.sort(key=lambda job: job[1] != "X")  # the largest files first
    arrays: dict[str, dict[str, np.ndarray]] = {split: {} for split in SPLITS}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for (split, role, _), array in zip(jobs, pool.map(parse, jobs)):
            arrays[split][role] = array
    return arrays


def _assemble(split: str, arrays: dict[str, np.ndarray], label: str) -> Split:
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
    return Split(X=X, y=y - 1, subject=subject, features=arrays.get("X"))


def _read_class_names(files: _Files) -> tuple[str, ...]:
    """The activity names of activity_labels.txt, which must be the six official ones, in order."""
    label = f"{_MARKER} in {files.label}"
    try:
        rows = [line.split() for line in files.read(_MARKER).decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DataError(f"{label}: not text: {error}") from error
    found = [tuple(row) for row in rows]
    expected = [(str(i), name) for i, name in enumerate(CLASS_NAMES, start=1)]
    if found != expected:
        raise DataError(f"{label}: expected the six activities '1 WALKING' .. '6 LAYING', found {found}")
    return CLASS_NAMES


def _read_feature_names(files: _Files) -> tuple[str, ...]:
    """The names of features.txt ('<number> <name>' per line)."""
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
    return tuple(names)


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


def _write_cache(cache_file: Path, dataset: UCIHAR) -> None:
    """Store the parsed arrays (uncompressed npz, atomically); drop older entries of the same source.

    A cache that cannot be written only costs speed, so that is a warning, not an error.
    """
    arrays = {"class_names": np.array(dataset.class_names), "format": np.array(CACHE_FORMAT)}
    if dataset.feature_names is not None:
        arrays["feature_names"] = np.array(dataset.feature_names)
    for name, split in (("train", dataset.train), ("test", dataset.test)):
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


def _read_cache(cache_file: Path, source: Path) -> UCIHAR | None:
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
        splits = [_cached_split(arrays, name) for name in SPLITS]
    except Exception:  # any damage means: rebuild from the source
        cache_file.unlink(missing_ok=True)
        return None
    feature_names = tuple(str(n) for n in arrays["feature_names"]) if "feature_names" in arrays else None
    return UCIHAR(*splits, CLASS_NAMES, CHANNEL_NAMES, feature_names, str(source))


def _cached_split(arrays: dict[str, np.ndarray], name: str) -> Split:
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
    return Split(X=X, y=y, subject=subject, features=features)
