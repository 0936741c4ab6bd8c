"""Reading recordings and cutting them into UCI-style windows (harcnn.data.recordings)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.windows import STANDARD_GRAVITY, PreprocessConfig, make_windows
from harcnn.errors import DataError

GRAVITY = np.array([0.8, 0.1, 0.55])
HEADER = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def _signals(t: np.ndarray):
    move = np.sin(2 * np.pi * 1.5 * t)[:, None]
    acc = GRAVITY + 0.3 * move * np.array([1.0, -0.5, 0.3])
    gyro = 0.8 * np.cos(2 * np.pi * 1.5 * t)[:, None] * np.array([1.0, 0.2, -0.6])
    return acc, gyro


def _write(path, header, rows, delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(t, acc, gyro, time_scale=1.0, acc_scale=1.0):
    return [[repr(float(t[i] * time_scale)), *(acc[i] * acc_scale).tolist(), *gyro[i].tolist()] for i in range(len(t))]


@pytest.fixture
def good_csv(tmp_path):
    t = np.arange(1000) / 100.0  # 10 s at 100 Hz
    acc, gyro = _signals(t)
    return _write(tmp_path / "rec.csv", HEADER, _rows(t, acc, gyro)), t, acc, gyro


def test_load_and_window_a_regular_100hz_recording(good_csv):
    path, t, acc, gyro = good_csv
    rec = load_recording(path)
    assert rec.n_samples == 1000 and rec.sampling_rate == pytest.approx(100.0)
    assert rec.source == str(path) and rec.is_regular()
    np.testing.assert_allclose(rec.acc, acc)
    np.testing.assert_allclose(rec.gyro, gyro)
    windows, starts, ends = recording_to_windows(rec)
    assert windows.dtype == np.float32 and windows.shape == (6, 128, 9)  # 500 samples at 50 Hz
    np.testing.assert_allclose(starts, np.arange(6) * 1.28)
    np.testing.assert_allclose(ends - starts, 2.56)
    # same as preprocessing the signal sampled at 50 Hz directly (up to resampling error)
    t50 = np.arange(500) / 50.0
    direct = make_windows(*_signals(t50))
    np.testing.assert_allclose(windows, direct, atol=5e-3)


def test_units_aliases_ms_and_semicolons(good_csv, tmp_path):
    path, t, acc, gyro = good_csv
    reference = load_recording(path)
    aliased = ["Timestamp", "AX", "ay", "Acc Z", "gx", "GY", "gyro.z"]
    other = _write(tmp_path / "ms.csv", aliased, _rows(t, acc, gyro, 1000.0, STANDARD_GRAVITY), delimiter=";")
    rec = load_recording(other, acc_units="m/s2", time_unit="ms")
    np.testing.assert_allclose(rec.acc, reference.acc, rtol=1e-12)
    np.testing.assert_allclose(rec.timestamps, reference.timestamps, atol=1e-12)
    np.testing.assert_allclose(recording_to_windows(rec).windows, recording_to_windows(reference).windows, atol=1e-6)
    # the same numbers read as g are rejected with a hint
    with pytest.raises(DataError, match="acc_units='m/s2'"):
        load_recording(other, time_unit="ms")
    # and ms read as seconds gives a helpful rate error
    with pytest.raises(DataError, match="time_unit='ms'"):
        load_recording(other, acc_units="m/s2")
    # explicit column names and deg/s
    renamed = ["t_ms", "A1", "A2", "A3", "W1", "W2", "W3"]
    rows = [[r[0], *r[1:4], *(np.degrees(np.array(r[4:], dtype=float))).tolist()] for r in _rows(t, acc, gyro, 1000.0)]
    third = _write(tmp_path / "named.csv", renamed, rows)
    mapping = {"acc_x": "A1", "acc_y": "A2", "acc_z": "A3", "gyro_x": "W1", "gyro_y": "W2", "gyro_z": "W3"}
    rec3 = load_recording(third, time_column="t_ms", time_unit="ms", columns=mapping, gyro_units="deg/s")
    np.testing.assert_allclose(rec3.gyro, reference.gyro, atol=1e-12)


def test_no_time_column(tmp_path):
    t = np.arange(300) / 50.0
    acc, gyro = _signals(t)
    rows = [[*acc[i].tolist(), *gyro[i].tolist()] for i in range(len(t))]
    path = _write(tmp_path / "notime.csv", HEADER[1:], rows)
    with pytest.raises(DataError, match="sampling_rate"):
        load_recording(path, time_column=None)
    rec = load_recording(path, time_column=None, sampling_rate=50.0)
    np.testing.assert_allclose(rec.timestamps, t)
    np.testing.assert_allclose(recording_to_windows(rec).windows, make_windows(acc, gyro), atol=1e-6)


def test_irregular_timestamps_and_gaps():
    rng = np.random.default_rng(0)
    dt = rng.uniform(0.7, 1.3, size=1999) / 80.0  # ~80 Hz with +-30% jitter
    t = 100.0 + np.concatenate([[0.0], np.cumsum(dt)])
    acc, gyro = _signals(t)
    rec = Recording(t, acc, gyro)
    assert not rec.is_regular()
    assert acc.flags.writeable and not rec.acc.flags.writeable  # the caller's array is left alone
    windows, starts, ends = recording_to_windows(rec)
    t50 = 100.0 + np.arange(int((t[-1] - t[0]) * 50) + 1) / 50.0
    direct = make_windows(*_signals(t50))
    assert windows.shape == direct.shape
    np.testing.assert_allclose(windows, direct, atol=0.01)
    assert starts[0] == 100.0

    # a 2 s gap splits the recording; windows never straddle it
    t_gap = np.concatenate([t[:1000], t[1000:] + 2.0])
    gapped = Recording(t_gap, acc, gyro)
    _, starts_g, ends_g = recording_to_windows(gapped)
    gap_lo, gap_hi = t_gap[999], t_gap[1000]
    assert not np.any((starts_g < gap_hi) & (ends_g > gap_lo + 0.02))
    assert np.any(starts_g >= gap_hi)
    _, starts_i, _ = recording_to_windows(gapped, max_gap_s=None)  # interpolate over it instead
    assert len(starts_i) > len(starts_g)
    short_pieces = Recording(np.concatenate([t[:150], t[150:300] + 5.0]), acc[:300], gyro[:300])
    with pytest.raises(DataError, match="longest gap-free stretch"):
        recording_to_windows(short_pieces)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_recording(tmp_path / "nope.csv")


def test_missing_columns_are_named(tmp_path):
    t = np.arange(300) / 50.0
    acc, gyro = _signals(t)
    rows = [r[:4] for r in _rows(t, acc, gyro)]
    path = _write(tmp_path / "acc_only.csv", HEADER[:4], rows)
    with pytest.raises(DataError) as info:
        load_recording(path)
    msg = str(info.value)
    assert "acc_only.csv" in msg and "gyro_x, gyro_y, gyro_z" in msg and "found columns: 'time', 'acc_x'" in msg


def test_unsorted_and_duplicate_timestamps(good_csv, tmp_path):
    path, t, acc, gyro = good_csv
    rows = _rows(t, acc, gyro)
    swapped = rows.copy()
    swapped[10], swapped[11] = swapped[11], swapped[10]
    with pytest.raises(DataError, match=r"not sorted: line 13 \(0.1\) is earlier than line 12 \(0.11\)"):
        load_recording(_write(tmp_path / "unsorted.csv", HEADER, swapped))
    dup = rows.copy()
    dup[21] = [dup[20][0], *dup[21][1:]]
    with pytest.raises(DataError, match="duplicate timestamp 0.2 .* at line 22 and line 23"):
        load_recording(_write(tmp_path / "dup.csv", HEADER, dup))
    with pytest.raises(DataError, match="not sorted"):
        Recording(t[::-1], acc, gyro)


def test_nan_inf_and_non_numeric_cells(good_csv, tmp_path):
    path, t, acc, gyro = good_csv
    rows = _rows(t, acc, gyro)
    nan = [r.copy() for r in rows]
    nan[5][3] = "nan"
    with pytest.raises(DataError, match="line 7, column 'acc_z': nan is not allowed"):
        load_recording(_write(tmp_path / "nan.csv", HEADER, nan))
    inf = [r.copy() for r in rows]
    inf[8][5] = "inf"
    with pytest.raises(DataError, match="line 10, column 'gyro_y'"):
        load_recording(_write(tmp_path / "inf.csv", HEADER, inf))
    text = [r.copy() for r in rows]
    text[3][1] = "1,5"
    path_text = _write(tmp_path / "text.csv", HEADER, text, delimiter="\t")
    with pytest.raises(DataError, match="line 5, column 'acc_x': '1,5' is not a number"):
        load_recording(path_text)
    empty = [r.copy() for r in rows]
    empty[0][6] = ""
    with pytest.raises(DataError, match="line 2, column 'gyro_z': an empty cell"):
        load_recording(_write(tmp_path / "empty.csv", HEADER, empty))
    with pytest.raises(DataError, match="non-finite"):
        Recording(t, np.where(np.arange(len(t))[:, None] == 3, np.nan, acc), gyro)


def test_too_short_and_too_slow(tmp_path):
    t = np.arange(100) / 50.0  # 2.0 s at 50 Hz
    acc, gyro = _signals(t)
    with pytest.raises(DataError, match=r"too short: 2.00 s \(100 samples at 50 Hz\); one window needs 128 .* 2.56 s"):
        load_recording(_write(tmp_path / "short.csv", HEADER, _rows(t, acc, gyro)))
    t_ok = np.arange(128) / 50.0  # exactly one window
    acc_ok, gyro_ok = _signals(t_ok)
    rec = load_recording(_write(tmp_path / "one.csv", HEADER, _rows(t_ok, acc_ok, gyro_ok)))
    assert recording_to_windows(rec).windows.shape == (1, 128, 9)
    t_slow = np.arange(200) / 10.0
    acc_s, gyro_s = _signals(t_slow)
    with pytest.raises(DataError, match="sampling rate 10 Hz is too low: at least 20 Hz"):
        load_recording(_write(tmp_path / "slow.csv", HEADER, _rows(t_slow, acc_s, gyro_s)))
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_recording(tmp_path / "blank.csv")
    _write(tmp_path / "header_only.csv", HEADER, [])
    with pytest.raises(DataError, match="no data rows"):
        load_recording(tmp_path / "header_only.csv")


def test_linear_acceleration_is_rejected(good_csv, tmp_path):
    path, t, acc, gyro = good_csv
    linear = _write(tmp_path / "linear.csv", HEADER, _rows(t, acc - GRAVITY, gyro))
    with pytest.raises(DataError, match="gravity removed"):
        load_recording(linear)
    assert load_recording(linear, check_units=False).n_samples == len(t)


def test_bad_options(good_csv):
    path = good_csv[0]
    with pytest.raises(DataError, match="acc_units"):
        load_recording(path, acc_units="furlongs")
    with pytest.raises(DataError, match="time_unit"):
        load_recording(path, time_unit="h")
    with pytest.raises(DataError, match="unknown key"):
        load_recording(path, columns={"accel": "ax"})


@pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is not None or importlib.util.find_spec("fastparquet") is not None,
    reason="a Parquet engine is installed",
)
def test_parquet_without_an_engine_says_what_to_install(tmp_path):
    path = tmp_path / "rec.parquet"
    path.write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(DataError, match="pyarrow"):
        load_recording(path)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_roundtrip(tmp_path):  # pragma: no cover - runs where pyarrow is installed
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = np.arange(400) / 50.0
    acc, gyro = _signals(t)
    table = pa.table({"time": t, **{n: col for n, col in zip(HEADER[1:], np.column_stack([acc, gyro]).T)}})
    pq.write_table(table, tmp_path / "rec.parquet")
    rec = load_recording(tmp_path / "rec.parquet")
    np.testing.assert_allclose(rec.acc, acc)
    assert recording_to_windows(rec, PreprocessConfig()).windows.shape == (5, 128, 9)
