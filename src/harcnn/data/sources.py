"""Which kind of data a path holds, and loading any of them: :func:`load_dataset`.

The kinds are listed here, one module each: UCI HAR (:mod:`.uci_har`), HAPT (:mod:`.hapt`), a
``.npz`` of windows (:mod:`.npz`) and a folder of your recordings (:mod:`.recording_folder`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harcnn.core.errors import DataError
from harcnn.data import hapt, npz, recording_folder, uci_har
from harcnn.data.archive import open_zip
from harcnn.data.dataset import Dataset, SourceKind
from harcnn.data.options import FORMER_NAMES, DataOptions, data_options
from harcnn.data.sensorfiles import is_recording_file

__all__ = ["SOURCES", "WINDOW_SUFFIXES", "input_kind", "load_dataset", "source_kind", "source_kinds"]

#: Every kind, by name; the specific ones are tried before the generic folder of recordings.
SOURCES: dict[str, SourceKind] = {kind.name: kind for kind in (uci_har.SOURCE, hapt.SOURCE, npz.SOURCE,
                                                               recording_folder.SOURCE)}

#: Kinds that are found (the user cache, ``$HARCNN_DATA``) or downloaded when no path is given.
FINDABLE = ("uci_har", "hapt")


def source_kinds() -> dict[str, SourceKind]:
    return dict(SOURCES)


def source_kind(path: str | Path | None = None, kind: str | None = None) -> SourceKind:
    """The kind named ``kind``, or the one that ``path`` holds (UCI HAR without a path)."""
    if kind is not None and kind not in SOURCES:
        raise DataError(f"unknown data kind {kind!r}; choose from {', '.join(SOURCES)}")
    if path is None:
        if kind not in (None, *FINDABLE):
            raise DataError(f"{kind} data needs a path: pass --data PATH")
        return SOURCES[kind or "uci_har"]
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data path {path} does not exist")
    if kind is not None:
        return SOURCES[kind]
    found = [k for k in sorted(SOURCES.values(), key=lambda k: k.generic) if k.detect(path)]
    if not found and path.is_file() and path.suffix.lower() == ".zip":
        open_zip(path, str(path)).close()  # a damaged zip is said to be one
    if not found:
        raise DataError(f"{path}: not a dataset harcnn knows: expected a UCI HAR or HAPT zip or folder, a "
                        ".npz of windows, or a folder/zip of recordings (.csv, .parquet); pass --data-kind "
                        f"({', '.join(SOURCES)}) to say which")
    return found[0]


def load_dataset(path: str | Path | None = None, kind: str | None = None, *, progress: bool = True,
                 download: bool = True, **options: Any) -> Dataset:
    """Load a dataset of any kind; ``kind`` None detects it from ``path``. ``options`` are data options
    by name (:mod:`harcnn.data.options`; None: not given), or one ``options=DataOptions(...)``.

    Without a path, UCI HAR (or HAPT) is found as :func:`harcnn.data.uci_har.find_uci_har` says, and
    downloaded when missing and ``download``. Options a kind does not take are an error naming the ones
    it takes. The dataset remembers its kind and the window options it was loaded with (``loaded_with``).
    """
    chosen = source_kind(path, kind)
    bundled = options.pop("options", None)
    raw = {**(bundled.given() if isinstance(bundled, DataOptions) else {}), **options}
    unknown = sorted({FORMER_NAMES.get(k, k) for k, v in raw.items() if v is not None} - set(chosen.options))
    if unknown:
        takes = ", ".join([*chosen.options, *(["download"] if chosen.name in FINDABLE else [])]) or "none"
        raise DataError(f"{chosen.name} data takes no option {', '.join(map(repr, unknown))} (it takes: {takes})")
    given = data_options(raw)
    dataset = chosen.load(None if path is None else Path(path).expanduser(), given, progress=progress,
                          download=download)
    window_options = {**dataset.loaded_with.get("options", {}), **given.window_options()}
    return replace(dataset, loaded_with={"kind": chosen.name, "options": window_options})


#: Files of windows (arrays ``[n, window, channels]``) that a saved model predicts as they are.
WINDOW_SUFFIXES = (".npy", ".npz")


def input_kind(path: str | Path) -> str:
    """What a path given to a model holds: ``"windows"`` (a ``.npy``/``.npz``), ``"recording"`` (one
    recording file, or a folder of one file per sensor) or ``"dataset"`` (any other folder or zip, read
    by :func:`load_dataset`); a DataError if none."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if path.is_dir():
        return "recording" if recording_folder.sensor_files(path) else "dataset"
    if suffix == ".zip":
        return "dataset"
    if suffix in WINDOW_SUFFIXES:
        return "windows"
    if is_recording_file(path.name):
        return "recording"
    raise DataError(f"{path}: unknown input type {suffix or '(no extension)'!r}; expected windows (.npy, .npz), "
                    "a dataset folder or zip, or a recording (.csv, .csv.gz, .parquet)")
