"""The per-user cache folder and safe downloads into it (urllib, streamed, atomic)."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from harcnn.core.errors import DataError
from harcnn.core.outputs import OutputKind, check_output

CHUNK_SIZE = 1 << 20
TIMEOUT_S = 60

#: The cache folder: harcnn adds its downloads to it, whatever else it holds.
CACHE_FOLDER = OutputKind("cache folder", folder=True, recognise=lambda path: True, resumable=True)


def default_cache_dir() -> Path:
    """The per-user cache: ``$HARCNN_CACHE``, else ``$XDG_CACHE_HOME/harcnn``, else the platform's.

    The platform default is ``%LOCALAPPDATA%\\harcnn\\Cache`` on Windows,
    ``~/Library/Caches/harcnn`` on macOS and ``~/.cache/harcnn`` elsewhere.
    """
    if os.environ.get("HARCNN_CACHE"):
        return Path(os.environ["HARCNN_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "harcnn"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "harcnn" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "harcnn"
    return Path.home() / ".cache" / "harcnn"


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    verify: Callable[[Path], None] | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` atomically; return ``dest``.

    The body is streamed to a temporary file beside ``dest`` (with a tqdm progress bar), checked
    against the announced size, ``sha256`` (when given) and ``verify`` (which raises DataError
    for bad content), and only then moved into place with ``os.replace``. On any failure or
    interruption the temporary file is removed, so a partial download never counts as data.
    """
    check_output(dest.parent, CACHE_FOLDER, option="cache_dir")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, out, dest.name, progress)
        if sha256 is not None and digest != sha256:
            raise DataError(
                f"download of {url} has sha256 {digest}, expected {sha256}; the file may be "
                "corrupt or the publisher changed it"
            )
        if verify is not None:
            verify(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _open_url(url: str) -> BinaryIO:
    """Open ``url`` for reading (the single network access point; tests replace it)."""
    request = urllib.request.Request(url, headers={"User-Agent": "harcnn"})
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - fixed https URL


def _stream(url: str, out: BinaryIO, desc: str, progress: bool) -> str:
    """Copy the body of ``url`` into ``out``; return its sha256. Network errors become DataError."""
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    received = 0
    try:
        with _open_url(url) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
                while chunk := response.read(CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise DataError(f"download of {url} failed: {error}") from error
    if expected is not None and received != expected:
        raise DataError(f"download of {url} was cut short: got {received} of {expected} bytes")
    return digest.hexdigest()
