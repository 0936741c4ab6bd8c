"""Reading one copy of a dataset: an extracted folder, a zip, or a zip nested in a zip.

A dataset's root is marked by one file (UCI HAR: ``activity_labels.txt``; HAPT:
``RawData/labels.txt``). :func:`open_dataset` finds that root and gives read access to the files
below it by their relative paths; :func:`verify_zip` checks a downloaded archive's CRCs. Every
problem is one :class:`DataError` naming the file.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from harcnn.core.errors import DataError

READ_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, EOFError)


class DatasetFiles:
    """Read access to the files of one dataset copy by path relative to its root (a context manager)."""

    def __init__(self, label: str, names: set[str], read: Callable[[str], bytes], resources: ExitStack):
        self.label = label
        self.names = frozenset(names)
        self._read = read
        self._resources = resources

    def __enter__(self) -> DatasetFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._resources.close()

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise DataError(f"{self.label}: missing file {name}")
        try:
            return self._read(name)
        except READ_ERRORS as error:
            raise DataError(f"{self.label}: cannot read {name} (corrupt or truncated?): {error}") from error


def check_names_file(files: DatasetFiles, name: str, expected: Sequence[str], what: str) -> None:
    """The file ``name`` must list ``expected`` as lines '<i> <name>', i = 1, 2, ... in order."""
    label = f"{name} in {files.label}"
    try:
        rows = [tuple(line.split()) for line in files.read(name).decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DataError(f"{label}: not text: {error}") from error
    if rows != [(str(i), n) for i, n in enumerate(expected, start=1)]:
        raise DataError(f"{label}: expected {what} '1 {expected[0]}' .. '{len(expected)} {expected[-1]}', "
                        f"found {rows}")


def open_dataset(source: Path, marker: str, *, what: str, root_names: Sequence[str] = (),
                 nested: str | None = None) -> DatasetFiles:
    """The files of the dataset in ``source``: a folder (the root or a child named in ``root_names``),
    a zip holding the root at any depth, or a zip holding a nested zip that does (named ``nested``;
    None: any ``.zip`` member). ``what`` names the dataset in errors."""
    with ExitStack() as resources:
        if source.is_dir():
            root = dataset_root(source, marker, what=what, root_names=root_names)
            names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
            return DatasetFiles(str(root), names, lambda name: (root / name).read_bytes(), resources.pop_all())
        label = str(source)
        archive = resources.enter_context(open_zip(source, label))
        prefix = zip_prefix(archive, marker)
        if prefix is None:
            inner_name = _nested_zip(archive, marker, nested)
            if inner_name is None:
                holder = f"'{nested}'" if nested else "zip holding it"
                raise DataError(f"{label}: no {what} dataset in this zip (no {marker}, no nested {holder})")
            label = f"{label}!{inner_name}"
            archive = resources.enter_context(open_zip(io.BytesIO(_read_member(archive, inner_name, source)), label))
            prefix = zip_prefix(archive, marker)
            if prefix is None:
                raise DataError(f"{label}: no {what} dataset in this zip (no {marker})")
        names = {n[len(prefix):] for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")}
        return DatasetFiles(label, names, lambda name: archive.read(prefix + name), resources.pop_all())


def _nested_zip(archive: zipfile.ZipFile, marker: str, nested: str | None) -> str | None:
    """The member holding the dataset as a nested zip: the one named ``nested``, else (None) the first
    ``.zip`` member whose listing has the marker."""
    members = [n for n in archive.namelist() if n.lower().endswith(".zip") and not n.startswith("__MACOSX")]
    if nested is not None:
        return next((n for n in members if n.rsplit("/", 1)[-1] == nested), None)
    for name in members:
        try:
            with zipfile.ZipFile(io.BytesIO(archive.read(name))) as inner:
                if zip_prefix(inner, marker) is not None:
                    return name
        except READ_ERRORS:
            continue
    return None


def _read_member(archive: zipfile.ZipFile, name: str, source: Path) -> bytes:
    try:
        return archive.read(name)
    except READ_ERRORS as error:
        raise DataError(f"{source}: cannot read {name} (corrupt or truncated?): {error}") from error


def open_zip(file: Path | io.BytesIO, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DataError(f"{label}: not a readable zip archive: the file is damaged (truncated or corrupt: {error}); "
                        "copy or download it again") from error


def zip_prefix(archive: zipfile.ZipFile, marker: str) -> str | None:
    """The folder prefix (e.g. 'UCI HAR Dataset/', or '' at the top) of the dataset root in ``archive``."""
    prefixes = [
        n[: -len(marker)]
        for n in archive.namelist()
        if (n == marker or n.endswith("/" + marker)) and not n.startswith("__MACOSX")
    ]
    return min(prefixes, key=len) if prefixes else None


def dataset_root(folder: Path, marker: str, *, what: str, root_names: Sequence[str] = ()) -> Path:
    """The dataset root: ``folder`` itself or its child named in ``root_names`` that holds ``marker``."""
    for root in (folder, *(folder / name for name in root_names)):
        if (root / marker).is_file():
            return root
    below = "".join(f" or in '{name}/' below it" for name in root_names)
    raise DataError(f"{folder}: not a {what} folder (no {marker} in it{below})")


def verify_zip(path: Path) -> None:
    """Check a downloaded archive: a readable zip whose every member passes its CRC check."""
    with open_zip(path, str(path)) as archive:
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise DataError(f"downloaded archive is corrupt: {error}") from error
        if bad is not None:
            raise DataError(f"downloaded archive is corrupt: member {bad} fails its CRC check")


def existing_path(path: str | os.PathLike, what: str) -> Path:
    """``path`` resolved; a DataError naming ``what`` when it does not exist."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise DataError(f"{what} {path} does not exist")
    return resolved
