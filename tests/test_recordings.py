"""Reading recordings and cutting them into UCI-style windows (harcnn.data.recordings)."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from harcnn.core.errors import DataError
from harcnn.data.recordings import Recording, load_recording, recording_to_windows, uniform_stretches
from harcnn.data.windows import CHANNELS, STANDARD_GRAVITY, PreprocessConfig, make_windows

GRAVITY = np.array([0.8, 0.1, 0.55])
HEADER = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def _signals(t: np.ndarray):
    move = np.sin(2 * np.pi * 1.5 * t)[:, None]
    acc = GRAVITY + 0.3 * move * np.array([1.0, -0.5, 0.3])
    gyro = 0.8 * np.cos(2 * np.pi * 1.5 * t)[:, None] * np.array([1.0, 0.2, -0.6])
    return acc, gyro


def _sensors(t: np.ndarray) -> dict[str, np.ndarray]:
    acc, gyro = _signals(t)
    return {"acc": acc, "gyro": gyro}


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
    assert rec.source == str(path) and rec.is_regular() and rec.sensor_names == ("acc", "gyro")
    np.testing.assert_allclose(rec.sensors["acc"], acc)
    np.testing.assert_allclose(rec.sensors["gyro"], gyro)
    assert rec.labels is None
    assert any("time from 'time' in s" in n for n in rec.notes)
    assert any("acc: no unit in the header; median magnitude" in n and "-> g" in n for n in rec.notes)
    assert any("gyro: no unit in the header; 99th percentile" in n and "-> rad/s" in n for n in rec.notes)
    cut = recording_to_windows(rec)
    windows, starts, ends = cut.windows, cut.start_times, cut.end_times
    assert windows.dtype == np.float32 and windows.shape == (6, 128, 9)  # 500 samples at 50 Hz
    assert cut.channel_names == CHANNELS and cut.window_labels is None
    np.testing.assert_allclose(starts, np.arange(6) * 1.28)
    np.testing.assert_allclose(ends - starts, 2.56)
    # same as preprocessing the signal sampled at 50 Hz directly (up to resampling error)
    t50 = np.arange(500) / 50.0
    direct = make_windows(_sensors(t50))
    np.testing.assert_allclose(windows, direct, atol=5e-3)


def test_units_aliases_ms_and_semicolons(good_csv, tmp_path):
    path, t, acc, gyro = good_csv
    reference = load_recording(path)
    aliased = ["Timestamp", "AX", "ay", "Acc Z", "gx", "GY", "gyro.z"]
    other = _write(tmp_path / "ms.csv", aliased, _rows(t, acc, gyro, 1000.0, STANDARD_GRAVITY), delimiter=";")
    rec = load_recording(other, acc_units="m/s2", time_unit="ms")
    np.testing.assert_allclose(rec.sensors["acc"], reference.sensors["acc"], rtol=1e-12)
    np.testing.assert_allclose(rec.timestamps, reference.timestamps, atol=1e-12)
    np.testing.assert_allclose(recording_to_windows(rec).windows, recording_to_windows(reference).windows, atol=1e-6)
    # without the options both are detected, and the notes say how
    detected = load_recording(other)
    np.testing.assert_allclose(detected.sensors["acc"], reference.sensors["acc"], rtol=1e-12)
    np.testing.assert_allclose(detected.timestamps, reference.timestamps, atol=1e-12)
    assert any("in ms (the only unit giving a plausible rate, 100 Hz)" in n for n in detected.notes)
    assert any(re.search(r"acc: no unit in the header; median magnitude 9.\d+ -> m/s\^2, converted to g", n)
               for n in detected.notes)
    # the same numbers declared as g are rejected with a hint
    with pytest.raises(DataError, match="the file is in m/s2; pass --acc-units m/s2"):
        load_recording(other, time_unit="ms", acc_units="g")
    # and ms declared as seconds gives a helpful rate error
    with pytest.raises(DataError, match="--time-unit ms"):
        load_recording(other, acc_units="m/s2", time_unit="s")
    # explicit column names and deg/s
    renamed = ["t_ms", "A1", "A2", "A3", "W1", "W2", "W3"]
    rows = [[r[0], *r[1:4], *(np.degrees(np.array(r[4:], dtype=float))).tolist()] for r in _rows(t, acc, gyro, 1000.0)]
    third = _write(tmp_path / "named.csv", renamed, rows)
    mapping = {"acc_x": "A1", "acc_y": "A2", "acc_z": "A3", "gyro_x": "W1", "gyro_y": "W2", "gyro_z": "W3"}
    rec3 = load_recording(third, time_column="t_ms", time_unit="ms", columns=mapping, gyro_units="deg/s")
    np.testing.assert_allclose(rec3.sensors["gyro"], reference.sensors["gyro"], atol=1e-12)


def test_no_time_column(tmp_path):
    t = np.arange(300) / 50.0
    acc, gyro = _signals(t)
    rows = [[*acc[i].tolist(), *gyro[i].tolist()] for i in range(len(t))]
    path = _write(tmp_path / "notime.csv", HEADER[1:], rows)
    with pytest.raises(DataError, match="--input-rate HZ"):
        load_recording(path, time_column=None)
    rec = load_recording(path, time_column=None, sampling_rate=50.0)
    np.testing.assert_allclose(rec.timestamps, t)
    np.testing.assert_allclose(recording_to_windows(rec).windows, make_windows(_sensors(t)), atol=1e-6)


def test_irregular_timestamps_and_gaps():
    rng = np.random.default_rng(0)
    dt = rng.uniform(0.7, 1.3, size=1999) / 80.0  # ~80 Hz with +-30% jitter
    t = 100.0 + np.concatenate([[0.0], np.cumsum(dt)])
    acc, gyro = _signals(t)
    rec = Recording(t, {"acc": acc, "gyro": gyro})
    assert not rec.is_regular()
    assert acc.flags.writeable and not rec.sensors["acc"].flags.writeable  # the caller's array is left alone
    windows, starts, ends = recording_to_windows(rec)[:3]
    t50 = 100.0 + np.arange(int((t[-1] - t[0]) * 50) + 1) / 50.0
    direct = make_windows(_sensors(t50))
    assert windows.shape == direct.shape
    np.testing.assert_allclose(windows, direct, atol=0.01)
    assert starts[0] == 100.0

    # a 2 s gap splits the recording; windows never straddle it
    t_gap = np.concatenate([t[:1000], t[1000:] + 2.0])
    gapped = Recording(t_gap, {"acc": acc, "gyro": gyro})
    _, starts_g, ends_g = recording_to_windows(gapped)[:3]
    gap_lo, gap_hi = t_gap[999], t_gap[1000]
    assert not np.any((starts_g < gap_hi) & (ends_g > gap_lo + 0.02))
    assert np.any(starts_g >= gap_hi)
    starts_i = recording_to_windows(gapped, max_gap_s=None).start_times  # interpolate over it instead
    assert len(starts_i) > len(starts_g)
    short_pieces = Recording(np.concatenate([t[:150], t[150:300] + 5.0]), {"acc": acc[:300], "gyro": gyro[:300]})
    with pytest.raises(DataError, match="longest gap-free stretch"):
        recording_to_windows(short_pieces)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_recording(tmp_path / "nope.csv")


def test_missing_columns_are_named(tmp_path):
    t = np.arange(300) / 50.0
    acc, gyro = _signals(t)
    rows = [r[:5] for r in _rows(t, acc, gyro)]
    path = _write(tmp_path / "partial.csv", HEADER[:5], rows)
    with pytest.raises(DataError) as info:
        load_recording(path)
    msg = str(info.value)
    assert "partial.csv" in msg and "missing column(s) gyro_y, gyro_z" in msg
    assert "found columns: 'time', 'acc_x'" in msg
    with pytest.raises(DataError, match=r"missing column\(s\) gyro_y, gyro_z \(given as 'W3'\)"):
        load_recording(path, columns={"gyro_z": "W3"})
    with pytest.raises(DataError, match="no sensor columns found; found columns: 'time', 'a'"):
        load_recording(_write(tmp_path / "other.csv", ["time", "a"], [[0.0, 1.0], [0.1, 2.0]]))


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
        Recording(t[::-1], {"acc": acc, "gyro": gyro})


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
    with pytest.raises(DataError, match="acc has a non-finite value .nan. at sample 3, column 0"):
        Recording(t, {"acc": np.where(np.arange(len(t))[:, None] == 3, np.nan, acc), "gyro": gyro})


def test_too_short_and_too_slow(tmp_path):
    t = np.arange(100) / 50.0  # 2.0 s at 50 Hz
    acc, gyro = _signals(t)
    short = load_recording(_write(tmp_path / "short.csv", HEADER, _rows(t, acc, gyro)))
    with pytest.raises(DataError, match=r"too short: 2.00 s \(100 samples at 50 Hz\); one window needs 128 .* 2.56 s"):
        recording_to_windows(short)
    t_ok = np.arange(128) / 50.0  # exactly one window
    acc_ok, gyro_ok = _signals(t_ok)
    rec = load_recording(_write(tmp_path / "one.csv", HEADER, _rows(t_ok, acc_ok, gyro_ok)))
    assert recording_to_windows(rec).windows.shape == (1, 128, 9)
    t_slow = np.arange(200) / 10.0
    acc_s, gyro_s = _signals(t_slow)
    slow = load_recording(_write(tmp_path / "slow.csv", HEADER, _rows(t_slow, acc_s, gyro_s)))
    with pytest.raises(DataError, match="sampling rate 10 Hz is too low: at least 20 Hz"):
        recording_to_windows(slow)
    assert recording_to_windows(slow, sampling_rate=20.0, window=32, step=16).windows.shape == (23, 32, 9)
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


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
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
    np.testing.assert_allclose(rec.sensors["acc"], acc)
    assert recording_to_windows(rec, PreprocessConfig()).windows.shape == (5, 128, 9)


# --------------------------------------------------------------------------- several files, one recording

EPOCH_NS = 1_714_557_753_250_000_000


def _motion(t):
    """Smooth content (<= 3 Hz) that resampling keeps to ~1e-4."""
    acc = GRAVITY + 0.2 * np.sin(2 * np.pi * 1.3 * t)[:, None] * np.array([1.0, -0.5, 0.3]) + 0.05 * np.sin(
        2 * np.pi * 2.9 * t + 1.0)[:, None]
    gyro = 0.9 * np.cos(2 * np.pi * 1.3 * t)[:, None] * np.array([1.0, 0.2, -0.6])
    return acc, gyro


def _sensor_logger(path, t, values_xyz):
    """Sensor Logger's layout: time (ns since the epoch), seconds_elapsed, z, y, x."""
    rows = [[str(EPOCH_NS + round(s * 1e9)), repr(float(s)), *map(repr, v[::-1].tolist())]
            for s, v in zip(t, values_xyz)]
    return _write(path, ["time", "seconds_elapsed", "z", "y", "x"], rows)


def _jittered(rate, seconds, start, rng, jitter=0.1, drift=1e-3):
    dt = rng.uniform(1 - jitter, 1 + jitter, size=int(seconds * rate)) * (1 + drift) / rate
    return start + np.concatenate([[0.0], np.cumsum(dt)])


@pytest.fixture
def phone_files(tmp_path):
    """acc at 100 Hz from 0.30 s to 30 s (m/s^2), gyro at ~200 Hz (+-10% jitter, 0.1% drift) from 0 s to ~29.6 s."""
    rng = np.random.default_rng(11)
    t_acc = 0.3 + np.arange(2971) / 100.0
    t_gyro = _jittered(200.0, 29.55, 0.0, rng)
    acc, _ = _motion(t_acc)
    _, gyro = _motion(t_gyro)
    a = _sensor_logger(tmp_path / "TotalAcceleration.csv", t_acc, acc * STANDARD_GRAVITY)
    g = _sensor_logger(tmp_path / "Gyroscope.csv", t_gyro, gyro)
    return a, g, t_acc, t_gyro


def test_sensor_files_with_unequal_rates_jitter_drift_and_spans(phone_files):
    a, g, t_acc, t_gyro = phone_files
    rec = load_recording([a, g])
    assert rec.sensor_names == ("acc", "gyro") and rec.is_regular(1e-6)
    assert rec.sampling_rate == pytest.approx(200.0)
    assert rec.timestamps[0] == pytest.approx(0.3) and rec.timestamps[-1] <= min(t_acc[-1], t_gyro[-1])
    acc, gyro = _motion(rec.timestamps)
    inner = slice(20, -20)  # away from the spline ends
    np.testing.assert_allclose(rec.sensors["acc"][inner], acc[inner], atol=2e-4)
    np.testing.assert_allclose(rec.sensors["gyro"][inner], gyro[inner], atol=2e-3)
    notes = "\n".join(rec.notes)
    assert "TotalAcceleration.csv: time from 'seconds_elapsed' (its name says seconds), not 'time'" in notes
    assert "TotalAcceleration.csv: acc: no unit in the header; median magnitude 9." in notes
    cut_end = t_acc[-1] - t_gyro[-1]
    assert re.search(r"merged 2 files \(acc ~100 Hz, gyro ~(199|200)\.\d Hz\) onto a 200 Hz grid over their overlap, "
                     f"{t_gyro[-1] - 0.3:.2f} s: cut 0.3 s at the start and {cut_end:.3g} s at the end", notes)
    cut = recording_to_windows(rec)
    assert cut.windows.shape[1:] == (128, 9) and cut.start_times[0] == pytest.approx(0.3)
    t50 = 0.3 + np.arange(int((rec.timestamps[-1] - 0.3) * 50) + 1) / 50.0
    np.testing.assert_allclose(cut.windows, make_windows({"acc": _motion(t50)[0], "gyro": _motion(t50)[1]}), atol=2e-3)


def test_epoch_clocks_merge_too(phone_files, tmp_path):
    a, g, *_ = phone_files
    by_seconds = load_recording([a, g])
    by_epoch = load_recording([a, g], columns={"time": "time"})
    np.testing.assert_allclose(by_epoch.timestamps - EPOCH_NS / 1e9, by_seconds.timestamps, atol=1e-5)
    np.testing.assert_allclose(by_epoch.sensors["gyro"], by_seconds.sensors["gyro"], atol=1e-4)


def test_files_on_different_clocks_do_not_overlap(phone_files, tmp_path):
    a, g, t_acc, _ = phone_files
    acc, _ = _motion(t_acc)
    late = _write(tmp_path / "acc_late.csv", ["t", "ax", "ay", "az"], [[repr(s + 100.0), *map(repr, v)] for s, v in
                                                                        zip(t_acc.tolist(), acc.tolist())])
    with pytest.raises(DataError, match=r"the files do not overlap in time \(Gyroscope.csv 0-29.5\d* s; acc_late.csv "
                                        r"100.3-130 s\): are they from one recording, with one clock"):
        load_recording([g, late])
    with pytest.raises(DataError, match="acc is in both .*TotalAcceleration.csv and .*acc_late.csv"):
        load_recording([a, late])


def test_a_gap_in_one_sensor_is_a_gap_in_the_recording(tmp_path):
    t = np.arange(2000) / 100.0
    acc, gyro = _motion(t)
    keep = (t < 8.0) | (t > 9.0)  # the gyroscope stopped for a second
    a = _write(tmp_path / "acc.csv", ["t", "x", "y", "z"],
               [[repr(s), *map(repr, v)] for s, v in zip(t.tolist(), acc.tolist())])
    rows = [[repr(s + 0.002), *map(repr, v)] for s, v in zip(t[keep].tolist(), gyro[keep].tolist())]
    g = _write(tmp_path / "gyro.csv", ["t", "x", "y", "z"], rows)
    rec = load_recording([a, g])
    gaps = np.flatnonzero(np.diff(rec.timestamps) > 0.5)
    assert len(gaps) == 1 and rec.timestamps[gaps[0]] < 8.0 and rec.timestamps[gaps[0] + 1] > 9.0
    assert any("grid sample(s)" in n and "dropped inside gaps of a sensor (> 0.5 s)" in n for n in rec.notes)
    stretches = uniform_stretches(rec, 50.0)
    assert len(stretches) == 2 and all(np.allclose(np.diff(s.times), 0.02) for s in stretches)
    cut = recording_to_windows(rec)
    assert not np.any((cut.start_times < 9.0) & (cut.end_times > 8.0))
    assert recording_to_windows(load_recording([a, g], max_gap_s=2.0)).windows.shape[0] > cut.windows.shape[0]


def test_labels_with_unlabelled_spans_reach_the_windows(tmp_path):
    t = np.arange(1500) / 50.0
    acc, gyro = _motion(t)
    labels = np.where(t < 10, "walking", np.where(t < 14, "", "sitting"))
    rows = [[repr(s), *map(repr, a), *map(repr, g), lab]
            for s, a, g, lab in zip(t.tolist(), acc.tolist(), gyro.tolist(), labels)]
    path = _write(tmp_path / "labelled.csv", [*HEADER, "activity"], rows)
    rec = load_recording(path, label_column="activity")
    np.testing.assert_array_equal(rec.labels, labels)
    cut = recording_to_windows(rec)
    assert cut.window_labels.shape == (cut.windows.shape[0], 128)
    first, last = cut.window_labels[0], cut.window_labels[-1]
    assert set(first) == {"walking"} and set(last) == {"sitting"}
    middle = cut.window_labels[(cut.start_times > 8) & (cut.start_times < 11)]
    assert all("" in w for w in middle)
    with pytest.raises(DataError, match=r"labelled.csv: no column 'mode' \(--label-column\)"):
        load_recording(path, label_column="mode")


def test_labels_from_one_file_onto_the_merged_grid(phone_files, tmp_path):
    a, g, t_acc, _ = phone_files
    text = a.read_text().splitlines()
    states = ["still" if float(line.split(",")[1]) < 15 else "" for line in text[1:]]
    a.write_text("\n".join([text[0] + ",label"] + [f"{line},{s}" for line, s in zip(text[1:], states)]) + "\n")
    rec = load_recording([a, g], label_column="label")
    assert set(rec.labels[rec.timestamps < 14.9]) == {"still"} and set(rec.labels[rec.timestamps > 15.1]) == {""}
    assert any("labels from TotalAcceleration.csv, nearest sample" in n for n in rec.notes)


def test_accelerometer_only(tmp_path):
    t = np.arange(1000) / 100.0
    acc, _ = _motion(t)
    rec = load_recording(_write(tmp_path / "Accelerometer.csv", ["time", "x", "y", "z"],
                                [[repr(s), *map(repr, v)] for s, v in zip(t.tolist(), acc.tolist())]))
    assert rec.sensor_names == ("acc",)
    cut = recording_to_windows(rec)
    assert cut.windows.shape == (6, 128, 6) and cut.channel_names == CHANNELS[:6]


@pytest.mark.parametrize("rate,window,step", [(20.0, 52, 26), (100.0, 256, 128)])
def test_recordings_at_20_and_100_hz_windowed_at_their_rate(tmp_path, rate, window, step):
    t = np.arange(int(30 * rate)) / rate
    acc, gyro = _motion(t)
    rec = load_recording(_write(tmp_path / "rec.csv", HEADER, _rows(t, acc, gyro)))
    cut = recording_to_windows(rec, sampling_rate=rate, window=window, step=step)
    assert cut.windows.shape == ((len(t) - window) // step + 1, window, 9)
    np.testing.assert_allclose(np.diff(cut.start_times), step / rate)
    direct = make_windows({"acc": acc, "gyro": gyro}, sampling_rate=rate, window=window, step=step)
    np.testing.assert_allclose(cut.windows, direct, atol=1e-6)  # already uniform at the rate: not resampled
    capped = [n for n in cut.notes if "noise low-pass at" in n]
    assert capped == (["noise low-pass at 8 Hz (0.8 x Nyquist at 20 Hz) instead of 20 Hz"] if rate == 20 else [])


def test_a_single_user_channel(tmp_path):
    t = np.arange(800) / 50.0
    acc, _ = _motion(t)
    pressure = 1013.25 + 0.05 * np.sin(2 * np.pi * 0.1 * t)
    rows = [[repr(s), *map(repr, a), repr(p)] for s, a, p in zip(t.tolist(), acc.tolist(), pressure.tolist())]
    rec = load_recording(_write(tmp_path / "baro.csv", ["time", "acc_x", "acc_y", "acc_z", "pressure"], rows),
                         channels=["pressure"])
    assert rec.sensor_names == ("acc", "pressure") and rec.sensors["pressure"].shape == (800, 1)
    cut = recording_to_windows(rec)
    assert cut.channel_names == (*CHANNELS[:6], "pressure") and cut.windows.shape == (11, 128, 7)
    only = recording_to_windows(rec.select("pressure"))
    assert only.channel_names == ("pressure",)
    np.testing.assert_allclose(only.windows[:, :, 0], cut.windows[:, :, 6])


def test_recording_checks_and_select():
    t = np.arange(200) / 50.0
    acc, gyro = _motion(t)
    rec = Recording(t, {"gyro": gyro, "acc": acc, "pressure": np.ones(200)}, labels=[None] * 100 + ["x"] * 100,
                    source="mem")
    assert rec.sensor_names == ("acc", "gyro", "pressure") and rec.labels[0] == "" and rec.labels[-1] == "x"
    assert rec.select("gyro").sensor_names == ("gyro",)
    with pytest.raises(DataError, match="mem: has sensors acc, gyro, pressure; cannot select mag"):
        rec.select("mag")
    with pytest.raises(DataError, match=r"mem: mag must have shape \[n, 3\]"):
        Recording(t, {"mag": np.zeros((200, 2))}, source="mem")
    with pytest.raises(DataError, match="acc has 199 samples but there are 200 timestamps"):
        Recording(t, {"acc": acc[:199]})
    with pytest.raises(DataError, match=r"labels must have shape \[200\]"):
        Recording(t, {"acc": acc}, labels=["a"] * 3)
    assert "acc+gyro+pressure, labelled from 'mem'" in repr(rec)
