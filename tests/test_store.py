"""ResultStore: round trip, no double counting, CSV export, run lock, and crash safety."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from harcnn.core.errors import HarcnnError
from harcnn.core.provenance import config_id as make_config_id
from harcnn.experiments.store import CSV_COLUMNS, ResultStore
from harcnn.experiments.trials import Trial

CLASSES = ["WALKING", "SITTING"]


def make_record(repeat: int, filters: int = 64, fold: str = "official", **overrides) -> Trial:
    config = {"model": "cnn", "filters": filters, "kernel_size": 3, "standardize": False, "epochs": 10}
    fields = dict(
        study="filters",
        config=config,
        config_id=make_config_id(config),
        label=f"filters={filters}",
        fold=fold,
        repeat=repeat,
        seed=1000 + repeat,
        test_accuracy=0.9 + repeat / 1000,
        val_accuracy=None,
        per_class={
            "WALKING": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 10},
            "SITTING": {"precision": 0.7, "recall": 0.9, "f1": 0.75, "support": 10},
        },
        confusion=[[8, 2], [1, 9]],
        per_subject={"2": 0.95, "4": 0.85},
        history={"loss": [1.0, 0.5], "accuracy": [0.6, 0.8]},
        train_seconds=1.5,
        epochs=2,
        data="0123456789ab",
        finished_at="2026-01-01T00:00:00+00:00",
    )
    fields.update(overrides)
    return Trial(**fields)


def test_config_id_is_stable_and_short():
    a = make_config_id({"b": 1, "a": [1, 2]})
    assert a == make_config_id({"a": [1, 2], "b": 1}) and len(a) == 12
    assert a != make_config_id({"a": [1, 2], "b": 2})
    assert make_record(0).config_id == make_config_id(make_record(0).config)


def test_round_trip(tmp_path):
    store = ResultStore(tmp_path / "study")
    recs = [make_record(r) for r in range(3)] + [make_record(0, filters=8, val_accuracy=0.88)]
    assert all(store.add(r) for r in recs)
    assert (tmp_path / "study" / "results.sqlite").is_file()
    assert store.completed() == {(r.config_id, r.fold, r.repeat) for r in recs}
    assert store.records() == recs  # in insertion order, every field intact
    only8 = store.records(config_id=recs[-1].config_id)
    assert only8 == [recs[-1]] and only8[0].val_accuracy == 0.88
    # a second store object on the same folder (as after a restart) sees the same
    assert ResultStore(tmp_path / "study").records() == recs
    assert len(store) == 4


def test_records_versions_and_folds(tmp_path):
    store = ResultStore(tmp_path)
    data = make_record(0).to_dict()
    data.pop("versions")
    assert store.add(Trial.from_dict(data))
    assert store.add(make_record(0, fold="fold2"))  # the same repeat on another fold is another trial
    rec = store.records()[0]
    assert set(rec.versions) == {"harcnn", "torch", "numpy", "python"}
    assert {r.fold for r in store.records()} == {"official", "fold2"}


def test_duplicates_are_refused(tmp_path):
    store = ResultStore(tmp_path)
    assert store.add(make_record(0)) is True
    assert store.add(make_record(0, test_accuracy=0.5, seed=7)) is False
    (rec,) = store.records()
    assert rec.test_accuracy == pytest.approx(0.9) and rec.seed == 1000
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:  # the constraint lives in the file
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO trials (study, config_id, config, label, fold, repeat, seed, test_accuracy, per_class,"
                " confusion, per_subject, history, epochs, train_seconds, data, versions, finished_at)"
                " SELECT study, config_id, config, label, fold, repeat, seed, test_accuracy, per_class, confusion,"
                " per_subject, history, epochs, train_seconds, data, versions, finished_at FROM trials"
            )


def test_wal_mode(tmp_path):
    ResultStore(tmp_path)
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_records_are_rejected(tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(HarcnnError, match="0..1"):
        store.add(make_record(0, test_accuracy=90.5))  # a percentage, not a fraction
    with pytest.raises(TypeError):
        store.add(make_record(0, config={"f": object()}))


def test_an_older_store_is_refused_clearly(tmp_path):
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute("PRAGMA user_version=1")
    with pytest.raises(HarcnnError, match="written by an older harcnn .*start a new study folder"):
        ResultStore(tmp_path)


def test_meta(tmp_path):
    store = ResultStore(tmp_path)
    assert "created_at" in store.meta()
    store.set_meta("name", "filters")
    store.set_meta("grid", {"filters": [8, 16, 32]})
    store.set_meta("name", "filters-v2")
    assert store.get_meta("name") == "filters-v2"
    assert store.get_meta("grid") == {"filters": [8, 16, 32]}
    assert store.get_meta("missing", 42) == 42


def test_export_csv(tmp_path):
    store = ResultStore(tmp_path)
    store.add(make_record(0))
    store.add(make_record(1, val_accuracy=0.87))
    path = store.export_csv(tmp_path / "trials.csv")
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["repeat"] for r in rows] == ["0", "1"] and rows[0]["fold"] == "official"
    first = rows[0]
    assert first["study"] == "filters" and first["label"] == "filters=64" and first["seed"] == "1000"
    assert float(first["test_accuracy"]) == pytest.approx(0.9)
    assert first["val_accuracy"] == "" and float(rows[1]["val_accuracy"]) == pytest.approx(0.87)
    assert float(first["macro_f1"]) == pytest.approx(0.8)
    assert json.loads(first["config"])["filters"] == 64
    assert first["config_id"] == make_record(0).config_id
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_not_a_database(tmp_path):
    (tmp_path / "results.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HarcnnError, match="results.sqlite"):
        ResultStore(tmp_path)


# ---------------------------------------------------------------------------------------------
# subprocesses: the lock and kill -9


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def test_lock_refuses_second_holder_in_another_process(tmp_path):
    store = ResultStore(tmp_path)
    with store.lock():
        with store.lock():  # re-entrant on the same object
            pass
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                from harcnn.core.errors import HarcnnError
                from harcnn.experiments.store import ResultStore
                try:
                    with ResultStore({str(tmp_path)!r}).lock():
                        print("GOT LOCK")
                except HarcnnError as e:
                    print(e)
            """)],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.stdout.strip() == f"another harcnn run is using {tmp_path} (pid {os.getpid()})"
    with store.lock():  # released on exit, can be taken again
        pass


def test_lock_released_when_holder_is_killed(tmp_path):
    ResultStore(tmp_path)
    proc = _spawn(f"""
        import sys, time
        from harcnn.experiments.store import ResultStore
        with ResultStore({str(tmp_path)!r}).lock():
            print("locked", flush=True)
            time.sleep(120)
    """)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(HarcnnError, match=rf"another harcnn run is using .* \(pid {proc.pid}\)"):
            with ResultStore(tmp_path).lock():
                pass
    finally:
        _kill(proc)
    with ResultStore(tmp_path).lock():  # the kernel dropped the dead process's lock
        pass


def test_sigkill_during_adds_leaves_intact_database(tmp_path):
    folder = tmp_path / "study"
    ResultStore(folder)
    proc = _spawn(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_store import make_record
        from harcnn.experiments.store import ResultStore
        store = ResultStore({str(folder)!r})
        for r in range(100000):
            rec = make_record(r, history={{"loss": [1.0 / (r + 1)] * 200, "accuracy": [0.5] * 200}})
            store.add(rec)
            print(r, flush=True)
    """)
    committed = []
    try:
        deadline = time.monotonic() + 60
        while len(committed) < 25 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(int(line))
    finally:
        _kill(proc)  # most likely in the middle of the next transaction
    assert len(committed) >= 25, proc.stderr.read() if proc.stderr and not proc.stderr.closed else ""

    with sqlite3.connect(folder / "results.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ResultStore(folder)
    records = {rec.repeat: rec for rec in store.records()}
    # every trial the writer reported as committed is there, intact; nothing is half-written
    assert set(committed) <= set(records)
    assert sorted(records) == list(range(len(records)))
    for r, rec in records.items():
        assert rec == make_record(r, history={"loss": [1.0 / (r + 1)] * 200, "accuracy": [0.5] * 200},
                                  versions=rec.versions)
    # and the store carries on: the next trial is added, a repeat is refused
    assert store.add(make_record(len(records)))
    assert not store.add(make_record(0))
