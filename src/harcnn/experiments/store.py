"""Crash-safe storage of a study's finished trials: one SQLite file per study folder.

A *trial* is one (configuration, fold, repeat): one network trained on a fold's training windows
and scored on its test windows (:class:`~harcnn.experiments.trials.Trial`). Every finished trial is
written in its own transaction and committed at once, with the database in WAL mode and
``synchronous=FULL``; so a ``kill -9`` (or a power cut) in the middle of a trial loses only that
trial, and the file stays readable. ``UNIQUE(config_id, fold, repeat)`` guarantees that a trial is
never counted twice, even when a study is resumed or two writers race.

A study folder holds at most one running harcnn process: :meth:`ResultStore.lock` takes an
exclusive, non-blocking ``flock`` on ``DIR/.lock``; the kernel drops it when the holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.core.io import write_csv
from harcnn.core.outputs import OutputKind
from harcnn.core.provenance import canonical_json, dumps
from harcnn.experiments.trials import Trial, now_iso

__all__ = ["CSV_COLUMNS", "DB_NAME", "LOCK_NAME", "STUDY_FOLDER", "ResultStore"]

DB_NAME = "results.sqlite"
LOCK_NAME = ".lock"
SCHEMA_VERSION = 2  # 2: folds, per-subject accuracy, epochs trained, data fingerprint

#: Columns of :meth:`ResultStore.export_csv`, in order.
CSV_COLUMNS = ("study", "label", "config_id", "fold", "repeat", "seed", "test_accuracy", "val_accuracy", "macro_f1",
               "epochs", "train_seconds", "data", "finished_at", "config")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    study         TEXT    NOT NULL,
    config_id     TEXT    NOT NULL,
    config        TEXT    NOT NULL,   -- JSON
    label         TEXT    NOT NULL,
    fold          TEXT    NOT NULL,
    repeat        INTEGER NOT NULL,
    seed          INTEGER NOT NULL,
    test_accuracy REAL    NOT NULL,
    val_accuracy  REAL,
    per_class     TEXT    NOT NULL,   -- JSON
    confusion     TEXT    NOT NULL,   -- JSON
    per_subject   TEXT    NOT NULL,   -- JSON
    history       TEXT    NOT NULL,   -- JSON
    epochs        INTEGER NOT NULL,
    train_seconds REAL    NOT NULL,
    data          TEXT    NOT NULL,   -- the dataset's fingerprint
    versions      TEXT    NOT NULL,   -- JSON
    finished_at   TEXT    NOT NULL,
    UNIQUE (config_id, fold, repeat)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL               -- JSON
);
"""

_TRIAL_COLUMNS = ("study", "config_id", "config", "label", "fold", "repeat", "seed", "test_accuracy", "val_accuracy",
                  "per_class", "confusion", "per_subject", "history", "epochs", "train_seconds", "data", "versions",
                  "finished_at")
_JSON_COLUMNS = frozenset({"config", "per_class", "confusion", "per_subject", "history", "versions"})


def _is_study_folder(path: Path) -> bool:
    """Whether ``path`` holds a results database harcnn made (its schema version set, or its trials table)."""
    schema = sqlite_schema(path / DB_NAME)
    return schema is not None and (schema[0] > 0 or "trials" in schema[1])


#: A study or leaderboard folder: continued where it stopped, recognised by its results.sqlite.
STUDY_FOLDER = OutputKind("study folder", folder=True, recognise=_is_study_folder, resumable=True)


def sqlite_schema(path: Path) -> tuple[int, set[str]] | None:
    """``(user_version, table names)`` of an SQLite database file, read-only; None when it is not one."""
    if not Path(path).is_file():
        return None
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return int(version), tables


def _check(trial: Trial) -> None:
    if not (0.0 <= trial.test_accuracy <= 1.0):
        raise HarcnnError(f"test_accuracy must be a fraction in 0..1, got {trial.test_accuracy!r}")
    if trial.val_accuracy is not None and not (0.0 <= trial.val_accuracy <= 1.0 or math.isnan(trial.val_accuracy)):
        raise HarcnnError(f"val_accuracy must be a fraction in 0..1, got {trial.val_accuracy!r}")
    if not isinstance(trial.config, Mapping):
        raise HarcnnError(f"trial config must be a dict, not {type(trial.config).__name__}")


class ResultStore:
    """The trials of one study, in ``FOLDER/results.sqlite``.

    The folder and the database are created on first use. Every method opens its own short-lived
    connection, so a store object is safe to use after ``fork`` and from several threads.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise HarcnnError(f"study output {self.folder} exists and is not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HarcnnError(f"cannot create study folder {self.folder}: {exc.strerror}") from None
        self.path = self.folder / DB_NAME
        self.lock_path = self.folder / LOCK_NAME
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._init_schema()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.folder)!r})"

    # -- connections --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise HarcnnError(f"cannot open {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:  # locked too long, disk full, I/O error, ...
            raise HarcnnError(f"database error on {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # not a database, or a malformed one
            raise HarcnnError(f"{self.path} is not a readable harcnn results database: {exc}") from None
        finally:
            conn.close()

    def _init_schema(self) -> None:
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise HarcnnError(f"cannot put {self.path} in WAL mode (journal_mode={mode})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HarcnnError(
                    f"{self.path} was written by a newer harcnn (schema {version} > {SCHEMA_VERSION})"
                )
            if 0 < version < SCHEMA_VERSION:
                raise HarcnnError(f"{self.path} was written by an older harcnn (schema {version}, without folds "
                                  f"and data fingerprints); start a new study folder (--out), this one is kept")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # (not executescript: it would commit the transaction on its own)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (dumps(now_iso()),)
                )
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- trials -------------------------------------------------------------------------------

    def add(self, record: Trial) -> bool:
        """Store one finished trial in its own committed transaction.

        Returns ``True`` when stored, ``False`` when a trial with the same ``(config_id, fold, repeat)``
        is already there (the new one is ignored, so nothing is ever counted twice).
        """
        _check(record)
        values = []
        for name in _TRIAL_COLUMNS:
            value = getattr(record, name)
            values.append(dumps(value) if name in _JSON_COLUMNS else value)
        placeholders = ", ".join("?" for _ in _TRIAL_COLUMNS)
        sql = f"INSERT INTO trials ({', '.join(_TRIAL_COLUMNS)}) VALUES ({placeholders})"
        with self._connect() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, values)
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK")
                if "UNIQUE" in str(exc):
                    return False
                raise HarcnnError(f"cannot store trial {record.label!r} {record.fold} repeat {record.repeat}: "
                                  f"{exc}") from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return True

    def completed(self) -> set[tuple[str, str, int]]:
        """The ``(config_id, fold, repeat)`` triples already stored."""
        with self._connect() as conn:
            return {(cid, fold, int(rep))
                    for cid, fold, rep in conn.execute("SELECT config_id, fold, repeat FROM trials")}

    def records(self, config_id: str | None = None) -> list[Trial]:
        """Stored trials in the order they finished, optionally only one config's."""
        sql = f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials"
        args: tuple[Any, ...] = ()
        if config_id is not None:
            sql += " WHERE config_id = ?"
            args = (config_id,)
        sql += " ORDER BY id"
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        out = []
        for row in rows:
            data = {
                name: (json.loads(value) if name in _JSON_COLUMNS else value)
                for name, value in zip(_TRIAL_COLUMNS, row)
            }
            out.append(Trial(**data))
        return out

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write one row per trial (columns :data:`CSV_COLUMNS`) atomically; returns the path."""
        rows = []
        for rec in self.records():
            f1 = rec.macro_f1
            rows.append([rec.study, rec.label, rec.config_id, rec.fold, rec.repeat, rec.seed, repr(rec.test_accuracy),
                         "" if rec.val_accuracy is None else repr(rec.val_accuracy), "" if f1 is None else repr(f1),
                         rec.epochs, repr(rec.train_seconds), rec.data, rec.finished_at, canonical_json(rec.config)])
        return write_csv(path, CSV_COLUMNS, rows)

    # -- metadata -----------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-able value under ``key`` (replacing any previous one)."""
        with self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (str(key), dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (str(key),)).fetchone()
        return default if row is None else json.loads(row[0])

    def meta(self) -> dict[str, Any]:
        """All metadata (``created_at`` is set when the database is created)."""
        with self._connect() as conn:
            return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta ORDER BY key")}

    # -- the run lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[ResultStore]:
        """Hold the folder's exclusive run lock, or raise :class:`HarcnnError` at once if taken.

        Re-entrant on the same store object. The lock lives on an open file description, so the
        kernel releases it when the holding process exits or is killed (also ``kill -9``); a
        child forked while it is held keeps it until that child exits.
        """
        if self._lock_fd is not None:
            self._lock_depth += 1
            try:
                yield self
            finally:
                self._lock_depth -= 1
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "pid unknown"
            raise HarcnnError(f"another harcnn run is using {self.folder} ({who})") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only for the message; the lock itself is held
        self._lock_fd = fd
        self._lock_depth = 1
        try:
            yield self
        finally:
            self._lock_fd = None
            self._lock_depth = 0
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
