"""Crash-safe storage of a study's finished trials: one SQLite file per study folder.

A *trial* is one (configuration, repeat) pair: one network trained and scored on the test set.
Every finished trial is written in its own transaction and committed at once, with the database in
WAL mode and ``synchronous=FULL``; so a ``kill -9`` (or a power cut) in the middle of a trial loses
only that trial, and the file stays readable. ``UNIQUE(config_id, repeat)`` guarantees that a
trial is never counted twice, even when a study is resumed or two writers race.

A study folder holds at most one running harcnn process: :meth:`ResultStore.lock` takes an
exclusive, non-blocking ``flock`` on ``DIR/.lock``; the kernel drops it when the holder dies.

Only plain data crosses this module's boundary (dicts, lists, str, int, float), so the runner and
the training code need nothing from here but :class:`TrialRecord` and :func:`make_config_id`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import hashlib
import json
import math
import os
import platform
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harcnn.errors import HarcnnError
from harcnn.io import write_csv

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "CSV_COLUMNS",
    "ResultStore",
    "TrialRecord",
    "canonical_json",
    "make_config_id",
    "current_versions",
    "macro_f1",
]

DB_NAME = "results.sqlite"
LOCK_NAME = ".lock"
SCHEMA_VERSION = 1

#: Columns of :meth:`ResultStore.export_csv`, in order.
CSV_COLUMNS = (
    "study",
    "label",
    "config_id",
    "repeat",
    "seed",
    "test_accuracy",
    "val_accuracy",
    "macro_f1",
    "train_seconds",
    "finished_at",
    "config",
)

# Keys of sklearn's classification_report(output_dict=True) that are aggregates, not classes.
_AGGREGATE_KEYS = frozenset({"accuracy", "macro avg", "weighted avg", "micro avg", "samples avg"})


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    """``json.dumps`` default: numpy scalars/arrays, tuples, paths -> plain JSON values."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_plain, ensure_ascii=False)


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical JSON text of a config: sorted keys, no whitespace, plain values."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_plain, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise HarcnnError(f"trial config is not JSON-serialisable: {exc}") from None


def make_config_id(config: Mapping[str, Any], length: int = 12) -> str:
    """Short, stable id of a config: the first ``length`` hex digits of SHA-256 of its canonical JSON.

    Key order and int/numpy-int differences do not change it; ``1`` and ``1.0`` do (JSON differs).
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:length]


def current_versions() -> dict[str, str]:
    """Versions of harcnn, torch, numpy and Python, without importing torch."""
    from importlib import metadata

    versions = {}
    for name in ("harcnn", "torch", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    versions["python"] = platform.python_version()
    return versions


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def macro_f1(per_class: Mapping[str, Any] | None, confusion: list[list[int]] | None = None) -> float | None:
    """Unweighted mean F1 over classes.

    Taken from ``per_class`` (``{name: {"f1": ...}}``; sklearn's ``"f1-score"`` and its aggregate
    rows are understood), else computed from the confusion matrix; ``None`` when neither is given.
    """
    if per_class:
        values = []
        for name, stats in per_class.items():
            if name in _AGGREGATE_KEYS or not isinstance(stats, Mapping):
                continue
            value = stats.get("f1", stats.get("f1-score"))
            if value is not None:
                values.append(float(value))
        if values:
            return sum(values) / len(values)
    if confusion:
        k = len(confusion)
        f1s = []
        for i in range(k):
            tp = confusion[i][i]
            predicted = sum(confusion[r][i] for r in range(k))
            actual = sum(confusion[i])
            denom = predicted + actual
            f1s.append(2.0 * tp / denom if denom else 0.0)
        return sum(f1s) / k if k else None
    return None


# --------------------------------------------------------------------------------------------
# the record
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class TrialRecord:
    """One finished trial. Keyword-only; ``config_id`` is derived from ``config`` when left empty.

    ``test_accuracy``/``val_accuracy`` are fractions in 0..1. ``per_class`` maps a class name to
    ``{"precision", "recall", "f1", "support"}``; ``confusion`` has true classes in rows and
    predicted classes in columns; ``history`` maps ``loss``, ``accuracy`` (and optionally
    ``val_loss``, ``val_accuracy``) to per-epoch lists.
    """

    study: str
    config: dict[str, Any]
    label: str
    repeat: int
    seed: int
    test_accuracy: float
    config_id: str = ""
    val_accuracy: float | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=current_versions)
    finished_at: str = field(default_factory=_now_iso)

    def __post_init__(self) -> None:
        if not isinstance(self.config, Mapping):
            raise HarcnnError(f"trial config must be a dict, not {type(self.config).__name__}")
        # Round-trip through JSON so the record holds exactly what the database will hold.
        self.config = json.loads(canonical_json(self.config))
        if not self.config_id:
            self.config_id = make_config_id(self.config)
        self.repeat = int(self.repeat)
        self.seed = int(self.seed)
        self.test_accuracy = float(self.test_accuracy)
        if self.val_accuracy is not None:
            self.val_accuracy = float(self.val_accuracy)
        self.train_seconds = float(self.train_seconds)
        if not (0.0 <= self.test_accuracy <= 1.0):
            raise HarcnnError(f"test_accuracy must be a fraction in 0..1, got {self.test_accuracy!r}")
        if self.val_accuracy is not None and not (0.0 <= self.val_accuracy <= 1.0 or math.isnan(self.val_accuracy)):
            raise HarcnnError(f"val_accuracy must be a fraction in 0..1, got {self.val_accuracy!r}")
        for name in ("per_class", "history", "versions"):
            value = getattr(self, name)
            if value is None:
                setattr(self, name, {})
            else:
                setattr(self, name, json.loads(_dumps(value)))
        self.confusion = json.loads(_dumps(self.confusion if self.confusion is not None else []))

    @property
    def macro_f1(self) -> float | None:
        return macro_f1(self.per_class, self.confusion)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    study         TEXT    NOT NULL,
    config_id     TEXT    NOT NULL,
    config        TEXT    NOT NULL,   -- JSON
    label         TEXT    NOT NULL,
    repeat        INTEGER NOT NULL,
    seed          INTEGER NOT NULL,
    test_accuracy REAL    NOT NULL,
    val_accuracy  REAL,
    per_class     TEXT    NOT NULL,   -- JSON
    confusion     TEXT    NOT NULL,   -- JSON
    history       TEXT    NOT NULL,   -- JSON
    train_seconds REAL    NOT NULL,
    versions      TEXT    NOT NULL,   -- JSON
    finished_at   TEXT    NOT NULL,
    UNIQUE (config_id, repeat)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL               -- JSON
);
"""

_TRIAL_COLUMNS = (
    "study",
    "config_id",
    "config",
    "label",
    "repeat",
    "seed",
    "test_accuracy",
    "val_accuracy",
    "per_class",
    "confusion",
    "history",
    "train_seconds",
    "versions",
    "finished_at",
)
_JSON_COLUMNS = frozenset({"config", "per_class", "confusion", "history", "versions"})


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
            conn.execute("BEGIN IMMEDIATE")
            try:
                # (not executescript: it would commit the transaction on its own)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (_dumps(_now_iso()),)
                )
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- trials -------------------------------------------------------------------------------

    def add(self, record: TrialRecord | Mapping[str, Any]) -> bool:
        """Store one finished trial in its own committed transaction.

        Returns ``True`` when stored, ``False`` when a trial with the same ``(config_id, repeat)``
        is already there (the new one is ignored, so nothing is ever counted twice).
        """
        if not isinstance(record, TrialRecord):
            record = TrialRecord.from_dict(record)
        values = []
        for name in _TRIAL_COLUMNS:
            value = getattr(record, name)
            values.append(_dumps(value) if name in _JSON_COLUMNS else value)
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
                raise HarcnnError(f"cannot store trial {record.label!r} repeat {record.repeat}: {exc}") from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return True

    def completed(self) -> set[tuple[str, int]]:
        """The ``(config_id, repeat)`` pairs already stored."""
        with self._connect() as conn:
            return {(cid, int(rep)) for cid, rep in conn.execute("SELECT config_id, repeat FROM trials")}

    def records(self, config_id: str | None = None) -> list[TrialRecord]:
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
            out.append(TrialRecord(**data))
        return out

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write one row per trial (columns :data:`CSV_COLUMNS`) atomically; returns the path."""
        rows = []
        for rec in self.records():
            f1 = rec.macro_f1
            rows.append(
                [
                    rec.study,
                    rec.label,
                    rec.config_id,
                    rec.repeat,
                    rec.seed,
                    repr(rec.test_accuracy),
                    "" if rec.val_accuracy is None else repr(rec.val_accuracy),
                    "" if f1 is None else repr(f1),
                    repr(rec.train_seconds),
                    rec.finished_at,
                    canonical_json(rec.config),
                ]
            )
        return write_csv(path, CSV_COLUMNS, rows)

    # -- metadata -----------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-able value under ``key`` (replacing any previous one)."""
        with self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (str(key), _dumps(value)))

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
    def lock(self) -> Iterator["ResultStore"]:
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
