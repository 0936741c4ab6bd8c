"""Where harcnn writes: every output location is checked before the work, and nothing the user has is lost.

Every command that writes, and every Python function that saves, checks each output with
:func:`check_output` before it starts:

1. An output that is one of the inputs, lies inside one, or (a folder) holds one, is refused: a
   recording, a labels table, a model folder, a data folder or zip, a settings file. Paths are compared
   resolved (symlinks, ``..``, relative or absolute).
2. The location must be usable: its nearest existing parent a folder that can be written to, a
   folder output not a file, a file output not a folder.
3. What is already there is harcnn's own output only when its kind recognises it, by its content (so a
   moved or copied output is still recognised): a model folder by its ``config.json``
   (``"format": "harcnn-model"``), a results folder by its ``results.json``, a study or leaderboard
   folder by its ``results.sqlite`` (a search folder also by its ``optuna.sqlite``), predictions,
   segments and scores by their columns or keys, a figure by its PNG ``Software`` tag, an ONNX model by
   its ``producer`` property, a report page by its title. Each kind says so where it is written
   (``MODEL_FOLDER`` in :mod:`harcnn.serving.artifact`, ...). Nothing else that exists is ever written over or
   deleted: an existing file, or a folder that is not empty, is refused unless it is an output of the
   same kind (a folder that is replaced: holding nothing but what harcnn writes there), and that is
   replaced only when the user says so (``--force`` on the command line, ``overwrite=True`` in Python),
   or continued where the kind resumes (a study folder).

Messages name what the user typed: the CLI passes its option names (``--save``, ``--force``), the
Python API its argument names (``path``, ``overwrite=True``).

:func:`write_folder` writes a folder output atomically (into a hidden folder beside it, renamed into
place when complete), so a crash never leaves a half-written one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harcnn.core.errors import HarcnnError

__all__ = ["OutputKind", "check_output", "check_outputs_differ", "csv_header", "file_head", "json_keys",
           "replace_folder", "write_folder"]

#: The tag harcnn's PNG figures carry (their ``Software`` text chunk) and its ONNX models' ``producer``.
PRODUCER = "harcnn"


@dataclass(frozen=True)
class OutputKind:
    """What a command writes at one location, and how an earlier output of the same kind is recognised."""

    name: str  # e.g. "model folder", said in messages
    folder: bool  # a folder (else a file)
    recognise: Callable[[Path], bool] | None = None  # whether an existing ``path`` is harcnn's output of this
    # kind (None: harcnn never writes over one)
    resumable: bool = False  # an existing one is continued, not replaced (a study folder)
    files: frozenset[str] | None = None  # a folder that is replaced: the names harcnn writes in it (anything
    # else there is the user's, so the folder is not replaced)

    @property
    def described(self) -> str:
        """The name with its article: "a model folder", "an ONNX model"."""
        return f"{'an' if self.name[0] in 'aeiouAEIOU' else 'a'} {self.name}"


def check_output(path: str | os.PathLike, kind: OutputKind, *, inputs: Iterable[tuple[str, Any]] = (),
                 option: str = "path", replace: bool = False, replace_by: str | None = "overwrite=True") -> Path:
    """Check the output location ``path`` before any work (the rules of the module docstring); return it.

    ``inputs``: ``(name, path)`` of every input of the command (``None`` paths are skipped).
    ``option``: how the user named the output (``--save``, ``path``); ``replace``: whether the user asked
    to replace an earlier output of ``kind``, and ``replace_by`` how they would say so (``--force``,
    ``overwrite=True``; ``None`` where nothing replaces). Raises :class:`HarcnnError`, one line naming the
    path, the problem and the option that fixes it.
    """
    path = Path(path)
    where = f"{option} {path}" if option.startswith("-") else str(path)
    choose = f"choose another {option}"
    _check_not_an_input(path, kind, inputs, where, choose)
    _check_location(path, kind, where, choose)
    if not os.path.lexists(path) or _is_empty_folder(path):
        return path
    if kind.recognise is None:
        raise HarcnnError(f"{where}: exists{' and is not empty' if kind.folder else ''}: {choose}")
    if not kind.recognise(path):
        what = f"an empty folder or {kind.described}" if kind.folder else kind.described
        raise HarcnnError(f"{where}: exists and is not {what} harcnn wrote, so harcnn leaves it as it is: {choose}")
    if kind.resumable:
        return path
    others = sorted(p.name for p in path.iterdir() if p.name not in kind.files) if kind.files is not None else []
    if others:
        listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise HarcnnError(f"{where}: {kind.described} harcnn wrote, but it also holds {listed}, which harcnn did "
                          f"not write, so harcnn leaves it as it is: {choose}")
    if replace:
        return path
    fix = f"{choose}, or pass {replace_by} to replace it" if replace_by else choose
    raise HarcnnError(f"{where}: {kind.described} harcnn wrote is already there: {fix}")


def check_outputs_differ(outputs: Iterable[tuple[str, Any]]) -> None:
    """Two outputs of one command (``(name, path)``) never share a location."""
    seen: dict[Path, str] = {}
    for name, path in outputs:
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise HarcnnError(f"{name} {path} is also where {seen[key]} goes: choose another {name}")
        seen[key] = name


def _check_not_an_input(path: Path, kind: OutputKind, inputs: Iterable[tuple[str, Any]], where: str,
                        choose: str) -> None:
    target = path.resolve()
    for name, given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source:
            relation = "is"
        elif target.is_relative_to(source):
            relation = "lies inside"
        elif kind.folder and source.is_relative_to(target):
            relation = "holds"
        else:
            continue
        raise HarcnnError(f"{where} {relation} the input {given} ({name}); harcnn never writes over its inputs: "
                          f"{choose}")


def _is_empty_folder(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def _check_location(path: Path, kind: OutputKind, where: str, choose: str) -> None:
    """Item by item: the path itself (a folder or a file, as the kind needs), then its nearest existing parent."""
    if os.path.lexists(path):
        if kind.folder and not path.is_dir():
            raise HarcnnError(f"{where}: is a file, and {kind.described} is needed here: {choose}")
        if not kind.folder and path.is_dir():
            raise HarcnnError(f"{where}: is a folder, and {kind.described} (a file) is needed here: {choose}")
        if kind.resumable and not os.access(path, os.W_OK | os.X_OK):
            raise HarcnnError(f"{where}: cannot write in this folder (permission denied): {choose}")
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise HarcnnError(f"{where}: {parent} is a file, not a folder: {choose}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HarcnnError(f"{where}: cannot write in {parent} (permission denied): {choose}")


# ---------------------------------------------------------------------------------------- recognising


def file_head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a file (empty when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def csv_header(path: Path) -> set[str]:
    """The column names of a CSV file's first line (empty when it is not readable text)."""
    try:
        line = file_head(path).decode("utf-8").splitlines()[:1]
    except UnicodeDecodeError:
        return set()
    return {name.strip() for name in next(csv.reader(line), [])}


def json_keys(path: Path) -> set[str]:
    """The top-level keys of a JSON object file (of every object, for a list of them); empty otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    objects = data if isinstance(data, list) and data else [data]
    if not all(isinstance(obj, dict) for obj in objects):
        return set()
    return set.intersection(*(set(obj) for obj in objects))


# ---------------------------------------------------------------------------------------- writing folders


def write_folder(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a folder output atomically: ``write(tmp)`` fills a hidden folder beside ``path``, which then
    replaces ``path`` (checked beforehand with :func:`check_output`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write(tmp)
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def replace_folder(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first and deleted after."""
    old = None
    if target.exists():
        if not any(target.iterdir()):
            target.rmdir()
        else:
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    try:  # make the rename durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
