"""The parsed-array cache: one uncompressed .npz per dataset copy, under ``<cache>/parsed/``.

An entry is named by its kind, a hash of the source's path and a hash of the source's state (the
zip's size and mtime, or those of every file of an extracted folder) and the cache format, so an
edited source or a new format gets a new entry and the old one is dropped. Entries are written
atomically; one that cannot be read back whole is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from harcnn.data.download import default_cache_dir
from harcnn.core.io import atomic_write_bytes

T = TypeVar("T")


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, or the per-user default (:func:`~harcnn.data.download.default_cache_dir`)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cache_entry(kind: str, source: Path, root: Path | None, cache: Path, cache_format: int) -> Path:
    """The entry for ``source`` (a zip, or a folder whose dataset ``root`` is given)."""
    if root is not None:
        files = sorted(p for p in root.rglob("*") if p.is_file())
        state = [(p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    else:
        state = [(source.name, source.stat().st_size, source.stat().st_mtime_ns)]
    path_key = _digest(str(source))[:12]
    state_key = _digest(json.dumps([cache_format, str(source), state]))[:16]
    return cache / "parsed" / f"{kind}-{path_key}-{state_key}.npz"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_entry(cache_file: Path, arrays: dict[str, np.ndarray], what: str) -> None:
    """Store ``arrays`` (atomically) and drop older entries of the same source.

    A cache that cannot be written only costs speed, so that is a warning, not an error.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(cache_file, buffer.getvalue())
        prefix = cache_file.name.rsplit("-", 1)[0] + "-"
        for old in cache_file.parent.glob(f"{prefix}*.npz"):
            if old != cache_file:
                old.unlink(missing_ok=True)
    except OSError as error:
        warnings.warn(f"could not write the {what} cache {cache_file}: {error}", stacklevel=3)


def read_entry(cache_file: Path, unpack: Callable[[dict[str, np.ndarray]], T]) -> T | None:
    """``unpack(arrays)`` of the entry, or None when it is absent; an entry that is damaged or that
    ``unpack`` rejects (by raising) is deleted.

    Reading every npz member to its end makes zipfile check its CRC-32, so corruption is caught.
    """
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return unpack(arrays)
    except Exception:  # any damage means: rebuild from the source
        cache_file.unlink(missing_ok=True)
        return None
