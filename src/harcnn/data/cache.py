"""The parsed-array cache: one uncompressed .npz per dataset copy, under ``<cache>/parsed/``.

An entry is named by its kind, a hash of the source's path and a hash of the source's content (the
SHA-256 of the zip, or of every file of an extracted folder) and the cache format, so an edited
source (even one whose modification time was put back) or a new format gets a new entry, and the
old one is dropped. Entries are written atomically; one that cannot be read back whole is deleted
and rebuilt.

Hashing a 51 MB zip takes about a tenth of a second, longer than reading its entry, so the digests
are kept in ``<cache>/parsed/digests.json`` with each file's size, modification and change times
and inode: a file whose stat is unchanged is not hashed again. The change time (``st_ctime``) moves
with every write and every reset of the modification time, and cannot be set back; a file changed
in the last two seconds is hashed every time (it may change again within one tick of the clock),
and so is every file where ``st_ctime`` is not a change time (Windows).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from harcnn.core.io import atomic_write_bytes
from harcnn.data.download import default_cache_dir

T = TypeVar("T")

DIGESTS = "digests.json"  # in <cache>/parsed: path -> [size, mtime_ns, ctime_ns, inode, sha256]
RECENT_S = 2.0  # a file changed this recently is hashed every time
CTIME_IS_CHANGE_TIME = os.name != "nt"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, or the per-user default (:func:`~harcnn.data.download.default_cache_dir`)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cache_entry(kind: str, source: Path, root: Path | None, cache: Path, cache_format: int) -> Path:
    """The entry for ``source`` (a zip, or a folder whose dataset ``root`` is given), named by its content."""
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root is not None else [source]
    known = _read_digests(cache)
    digests = dict(known)
    state = [((p.relative_to(root).as_posix() if root is not None else p.name), _content_digest(p, digests))
             for p in files]
    if digests != known:
        _write_digests(cache, digests)
    path_key = _digest(str(source))[:12]
    state_key = _digest(json.dumps([cache_format, str(source), state]))[:16]
    return cache / "parsed" / f"{kind}-{path_key}-{state_key}.npz"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content_digest(path: Path, digests: dict[str, list]) -> str:
    """The SHA-256 of the file's bytes, from ``digests`` when its stat says it is unchanged (the module
    docstring says when that is trusted); a new digest is put into ``digests``."""
    info = path.stat()
    key = str(path.resolve())
    stamp = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
    known = digests.get(key)
    if known is not None and known[:4] == stamp:
        return known[4]
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    settled = time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > RECENT_S * 1e9
    if CTIME_IS_CHANGE_TIME and settled:
        digests[key] = [*stamp, digest]
    else:
        digests.pop(key, None)
    return digest


def _read_digests(cache: Path) -> dict[str, list]:
    try:
        digests = json.loads((cache / "parsed" / DIGESTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return digests if isinstance(digests, dict) else {}


def _write_digests(cache: Path, digests: dict[str, list]) -> None:
    """Store the digests of files that still exist; a cache that cannot be written only costs speed."""
    kept = {k: v for k, v in digests.items() if isinstance(v, list) and len(v) == 5 and os.path.exists(k)}
    try:
        atomic_write_bytes(cache / "parsed" / DIGESTS, json.dumps(kept, indent=0).encode("utf-8"))
    except OSError:
        pass


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
