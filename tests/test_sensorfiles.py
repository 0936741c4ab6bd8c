"""Reading sensor files as people have them (harcnn.data.sensorfiles, through load_recording)."""

from __future__ import annotations

import gzip
import importlib.util
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from harcnn.core.errors import DataError
from harcnn.data.recordings import load_recording
from harcnn.data.sensorfiles import read_table, sensor_from_name
from harcnn.data.windows import STANDARD_GRAVITY

GRAVITY = np.array([0.15, -0.2, 0.96])
EPOCH = 1_714_557_753.25  # 2024-05-01 10:02:33.25 UTC


def motion(t):
    """Total acceleration in g and angular velocity in rad/s of a gentle 1.5 Hz movement."""
    acc = GRAVITY + 0.25 * np.sin(2 * np.pi * 1.5 * t)[:, None] * np.array([1.0, -0.5, 0.3])
    gyro = 1.2 * np.cos(2 * np.pi * 1.5 * t)[:, None] * np.array([1.0, 0.4, -0.6])
    return acc, gyro


def write(path, header, rows, delimiter=",", *, before="", ending="", encoding="utf-8", fmt=repr):
    lines = ([delimiter.join(header)] if header else []) + [
        delimiter.join(v if isinstance(v, str) else fmt(float(v)) for v in row) + ending for row in rows
    ]
    text = before + "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(encoding)))
    else:
        path.write_text(text, encoding=encoding)
    return path


def generic(tmp_path, name="rec.csv", n=600, rate=50.0, **kw):
    t = np.arange(n) / rate
    acc, gyro = motion(t)
    header = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    return write(tmp_path / name, header, np.column_stack([t, acc, gyro]), **kw), t, acc, gyro


def check(rec, t, acc, gyro=None):
    np.testing.assert_allclose(rec.timestamps, t, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rec.sensors["acc"], acc, rtol=0, atol=1e-9)
    if gyro is not None:
        np.testing.assert_allclose(rec.sensors["gyro"], gyro, rtol=0, atol=1e-9)


def notes_with(rec, text):
    return [n for n in rec.notes if text in n]


# --------------------------------------------------------------------------- text formats


def test_semicolons_with_decimal_commas(tmp_path):
    path, t, acc, gyro = generic(tmp_path, delimiter=";", fmt=lambda v: repr(v).replace(".", ","))
    rec = load_recording(path)
    check(rec, t, acc, gyro)
    assert notes_with(rec, "decimal commas")


def test_tabs(tmp_path):
    path, t, acc, gyro = generic(tmp_path, "rec.tsv", delimiter="\t")
    check(load_recording(path), t, acc, gyro)


def test_runs_of_spaces(tmp_path):
    path, t, acc, gyro = generic(tmp_path, "rec.txt", delimiter="   ")
    check(load_recording(path), t, acc, gyro)


def test_trailing_separator_on_every_line(tmp_path):
    path, t, acc, gyro = generic(tmp_path, ending=",")
    path.write_text(path.read_text().replace("gyro_z\n", "gyro_z,\n", 1))
    check(load_recording(path), t, acc, gyro)
    path2, *_ = generic(tmp_path, "data_only_trailing.csv", ending=";", delimiter=";")  # header without one
    check(load_recording(path2), t, acc, gyro)


def test_comments_and_preamble_lines(tmp_path):
    before = ("Recorded with SomeApp 3.1\nDevice: Pixel 7, Android 14\n\n# a comment\n% another\n"
              "// and another\n")
    path, t, acc, gyro = generic(tmp_path, before=before)
    rec = load_recording(path)
    check(rec, t, acc, gyro)
    assert notes_with(rec, "skipped 2 line(s) before the header (lines 1-2)")
    table = read_table(path)
    assert table.header[:2] == ("time", "acc_x") and table.lines[0] == 8


def test_commented_header(tmp_path):
    path, t, acc, gyro = generic(tmp_path)
    path.write_text("# " + path.read_text())
    rec = load_recording(path)
    check(rec, t, acc, gyro)
    assert notes_with(rec, "column names from the comment line 1")


def test_utf8_bom(tmp_path):
    path, t, acc, gyro = generic(tmp_path, encoding="utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    check(load_recording(path), t, acc, gyro)


def test_gzip(tmp_path):
    path, t, acc, gyro = generic(tmp_path, "rec.csv.gz")
    check(load_recording(path), t, acc, gyro)


def test_quoted_header_and_crlf(tmp_path):
    path, t, acc, gyro = generic(tmp_path)
    text = path.read_text().replace("\n", "\r\n")
    header, rest = text.split("\r\n", 1)
    path.write_bytes((",".join(f'"{h}"' for h in header.split(",")) + "\r\n" + rest).encode())
    check(load_recording(path), t, acc, gyro)


def test_headerless_files_named_by_sensor_hapt_style(tmp_path):
    t = np.arange(400) / 50.0
    acc, gyro = motion(t)
    a = write(tmp_path / "acc_exp01_user01.txt", None, acc, " ")
    g = write(tmp_path / "gyro_exp01_user01.txt", None, gyro, " ")
    with pytest.raises(DataError, match=r"acc_exp01_user01.txt: no time column found .*pass --input-rate HZ"):
        load_recording([a, g])
    rec = load_recording([a, g], sampling_rate=50.0)
    check(rec, t, acc, gyro)
    assert notes_with(rec, "same timestamps: side by side, not resampled")
    assert notes_with(rec, "acc_exp01_user01.txt: holds acc (from the file name)")
    data = write(tmp_path / "data.txt", None, acc, " ")  # the name says nothing: a hint does
    check(load_recording(data, sampling_rate=50.0, sensors={"data.txt": "acc"}), t, acc)
    with pytest.raises(DataError, match="data.txt: no sensor columns found; found columns: 3 unnamed columns"):
        load_recording(data, sampling_rate=50.0)


def test_headerless_with_column_numbers(tmp_path):
    t = np.arange(400) / 50.0
    acc, gyro = motion(t)
    path = write(tmp_path / "log.txt", None, np.column_stack([gyro, t * 1000, acc]), "\t")
    mapping = {"time": 4, "acc_x": 5, "acc_y": 6, "acc_z": 7, "gyro_x": 1, "gyro_y": 2, "gyro_z": 3}
    check(load_recording(path, columns=mapping), t, acc, gyro)


def test_bad_cell_names_file_line_and_column(tmp_path):
    path, *_ = generic(tmp_path)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[2], "0.1x", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"rec.csv: line 6, column 'acc_y': '0.1x' is not a number"):
        load_recording(path)


def test_a_short_line_is_named(tmp_path):
    path, *_ = generic(tmp_path)
    lines = path.read_text().splitlines()
    lines[9] = ",".join(lines[9].split(",")[:5])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="rec.csv: line 10 has 5 field.s., but the header has 7"):
        load_recording(path)


def test_read_table_of_a_segments_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("1 1 5 250 1232\n1 1 7 1233 1392\n2 2 5 251 1175\n")
    table = read_table(path)
    assert not table.has_header and table.header == ("column 1", "column 2", "column 3", "column 4", "column 5")
    assert table.numbers(3).tolist() == [250.0, 1233.0, 251.0] and table.lines.tolist() == [1, 2, 3]
    segments = tmp_path / "segments.csv"
    segments.write_text("start;end;activity\n0,5;12,25;walking\n12,25;30;sitting\n")
    table = read_table(segments)
    assert table.header == ("start", "end", "activity") and table.numbers(1).tolist() == [12.25, 30.0]
    assert table.columns[2].tolist() == ["walking", "sitting"]
    with pytest.raises(DataError, match=r"segments.csv: line 2, column 'activity': 'walking' is not a number"):
        table.numbers(2)


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("unit,factor", [("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)])
@pytest.mark.parametrize("since_epoch", [False, True])
def test_time_units_from_the_values(tmp_path, unit, factor, since_epoch):
    t = (EPOCH if since_epoch else 3.0) + np.arange(500) / 100.0
    acc, gyro = motion(t)
    stamps = np.round(t * factor) if unit == "ns" else t * factor
    rows = np.column_stack([stamps, acc, gyro])
    path = write(tmp_path / "rec.csv", ["t", "ax", "ay", "az", "gx", "gy", "gz"], rows, fmt=lambda v: f"{v:.17g}")
    rec = load_recording(path)
    np.testing.assert_allclose(rec.timestamps, t, rtol=0, atol=1e-6)
    assert notes_with(rec, f"time from 't' in {unit} (")


@pytest.mark.parametrize("name,unit", [("time_s", "s"), ("Time (s)", "s"), ("timestamp_ms", "ms"), ("elapsed (s)", "s"),
                                       ("seconds_elapsed", "s"), ("timestamp [ns]", "ns"), ("ts", None)])
def test_time_unit_from_the_column_name(tmp_path, name, unit):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    scale = {"s": 1.0, "ms": 1e3, "ns": 1e9, None: 1.0}[unit]
    rec = load_recording(write(tmp_path / "acc.csv", [name, "x", "y", "z"], np.column_stack([t * scale, acc])))
    np.testing.assert_allclose(rec.timestamps, t, atol=1e-9)
    how = "the column name says so" if unit else "the only"
    assert notes_with(rec, f"time from {name!r} in {unit or 's'} ({how}")


def test_seconds_column_preferred_over_an_epoch_one(tmp_path):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    rows = np.column_stack([np.round((EPOCH + t) * 1e9), t + 0.5, acc])
    rec = load_recording(write(tmp_path / "acc.csv", ["time", "seconds_elapsed", "x", "y", "z"], rows,
                               fmt=lambda v: f"{v:.17g}"))
    np.testing.assert_allclose(rec.timestamps, t + 0.5, atol=1e-9)
    assert notes_with(rec, "time from 'seconds_elapsed' (its name says seconds), not 'time'")
    rec2 = load_recording(tmp_path / "acc.csv", columns={"time": "time"})  # asked for: the epoch clock
    np.testing.assert_allclose(rec2.timestamps - EPOCH, t, atol=1e-6)


def test_ambiguous_time_unit_names_file_column_and_option(tmp_path):
    t = np.arange(400, dtype=float)  # 1 sample per unit: 1 Hz in s or 1000 Hz in ms
    acc, _ = motion(t / 1000)
    path = write(tmp_path / "slow_or_fast.csv", ["t", "acc_x", "acc_y", "acc_z"], np.column_stack([t, acc]))
    with pytest.raises(DataError) as info:
        load_recording(path)
    message = str(info.value)
    assert "slow_or_fast.csv: column 't': the time unit is ambiguous (s gives 1 Hz, ms gives 1000 Hz)" in message
    assert "pass --time-unit s or --time-unit ms" in message
    assert load_recording(path, time_unit="ms").sampling_rate == pytest.approx(1000.0)


def test_implausible_rate_for_the_given_unit(tmp_path):
    path, *_ = generic(tmp_path)
    with pytest.raises(DataError, match=r"in ms the sampling rate is 5e\+04 Hz, outside the plausible 1-2000 Hz; "
                                        r"if the times are in s, pass --time-unit s \(that gives 50 Hz\)"):
        load_recording(path, time_unit="ms")


@pytest.mark.parametrize("style", ["2024-05-01T10:02:33.250000Z", "2024-05-01 12:02:33.250+02:00",
                                   "2024-05-01 10:02:33.250", "2024/05/01 10:02:33,250"])
def test_date_time_strings(tmp_path, style):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    start = datetime.fromisoformat(style.replace("/", "-").replace(",", "."))
    zone = start.tzinfo
    base = start.replace(tzinfo=zone or UTC).timestamp()
    cells = []
    for dt in t:
        moment = datetime.fromtimestamp(base + dt, tz=zone or UTC)
        text = moment.isoformat(sep="T" if "T" in style else " ", timespec="milliseconds")
        if zone is None:
            text = text[:-6]
        if style.endswith("Z"):
            text = text.replace("+00:00", "Z")
        if "/" in style:
            text = text.replace("-", "/", 2).replace(".", ",")
        cells.append(text)
    rows = [[c, *map(repr, a)] for c, a in zip(cells, acc.tolist())]
    sep = ";" if "," in style else ","
    rec = load_recording(write(tmp_path / "acc.csv", ["timestamp", "x", "y", "z"], rows, sep))
    np.testing.assert_allclose(rec.timestamps, EPOCH + t, rtol=0, atol=1e-6)
    assert notes_with(rec, "time from 'timestamp': date-times")
    bad = rows[:10] + [["2024-05-01 10:61:00", "0", "0", "1"]] + rows[11:]
    with pytest.raises(DataError, match=r"acc.csv: line 12, column 'timestamp': '2024-05-01 10:61:00' is neither"):
        load_recording(write(tmp_path / "acc.csv", ["timestamp", "x", "y", "z"], bad, sep))


# --------------------------------------------------------------------------- sensors and units


def test_sensor_from_the_file_name():
    assert sensor_from_name("Accelerometer.csv") == "acc"
    assert sensor_from_name("TotalAcceleration.csv") == "acc"
    assert sensor_from_name("acc_exp01_user01.txt") == "acc"
    assert sensor_from_name("GyroscopeUncalibrated.csv.gz") == "gyro"
    assert sensor_from_name("gyro.csv") == "gyro"
    assert sensor_from_name("Magnetometer.csv") == "mag"
    assert sensor_from_name("image_log.csv") is None and sensor_from_name("imu_acc_gyro.csv") is None
    for name in ("LinearAcceleration.csv", "Linear Accelerometer.csv", "user_acceleration.csv", "body_acc_x.txt"):
        with pytest.raises(DataError, match="linear acceleration .gravity removed.; the total acceleration"):
            sensor_from_name(name)
    with pytest.raises(DataError, match="gravity only"):
        sensor_from_name("Gravity.csv")


def test_linear_acceleration_is_refused(tmp_path):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    linear = acc - GRAVITY
    named = write(tmp_path / "LinearAcceleration.csv", ["time", "x", "y", "z"], np.column_stack([t, linear]))
    with pytest.raises(DataError, match=r"LinearAcceleration.csv: the file name says linear acceleration .*"
                                        r"TotalAcceleration.csv.*rename the file if it does hold the total "
                                        r"acceleration"):
        load_recording(named)
    with pytest.raises(DataError, match="neither about 1 .g. nor about 9.8 .*is gravity removed"):  # the hint overrides
        load_recording(named, sensors={"LinearAcceleration.csv": "acc"})
    columns = write(tmp_path / "phone.csv", ["time", "lin_acc_x", "lin_acc_y", "lin_acc_z"],
                    np.column_stack([t, linear]))
    with pytest.raises(DataError, match="phone.csv: its acceleration columns are linear acceleration"):
        load_recording(columns)
    both = write(tmp_path / "both.csv", ["time", "acc_x", "acc_y", "acc_z", "userAccelerationX", "userAccelerationY",
                                         "userAccelerationZ"], np.column_stack([t, acc, linear]))
    rec = load_recording(both)
    np.testing.assert_allclose(rec.sensors["acc"], acc)
    assert notes_with(rec, "linear acceleration columns not used")


def test_sensor_logger_accelerometer_without_gravity_is_refused(tmp_path):
    t = np.arange(300) / 100.0
    acc, _ = motion(t)
    rows = np.column_stack([np.round((EPOCH + t) * 1e9), t, *(((acc - GRAVITY) * STANDARD_GRAVITY)[:, ::-1].T)])
    path = write(tmp_path / "Accelerometer.csv", ["time", "seconds_elapsed", "z", "y", "x"], rows,
                 fmt=lambda v: f"{v:.17g}")
    with pytest.raises(DataError, match="Accelerometer.csv: acc: the median acceleration magnitude is .*use "
                                        "TotalAcceleration.csv"):
        load_recording(path)


@pytest.mark.parametrize("header,scale,expected", [
    (["time", "X (m/s^2)", "Y (m/s^2)", "Z (m/s^2)"], STANDARD_GRAVITY,
     "acc: 'X (m/s^2)' header -> m/s^2, converted to g"),
    (["time", "acc_x [g]", "acc_y [g]", "acc_z [g]"], 1.0, "acc: 'acc_x [g]' header -> g"),
    (["time", "accX(m/s²)", "accY(m/s²)", "accZ(m/s²)"], STANDARD_GRAVITY, "header -> m/s^2, converted to g"),
    (["time", "x", "y", "z"], STANDARD_GRAVITY, "acc: no unit in the header; median magnitude 9."),
    (["time", "x", "y", "z"], 1.0, "acc: no unit in the header; median magnitude 0.992 -> g"),
])
def test_acceleration_units(tmp_path, header, scale, expected):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    rec = load_recording(write(tmp_path / "Accelerometer.csv", header, np.column_stack([t, acc * scale])))
    np.testing.assert_allclose(rec.sensors["acc"], acc, rtol=1e-12)
    assert notes_with(rec, expected), rec.notes


@pytest.mark.parametrize("header,scale,expected", [
    (["time", "Gyroscope x (rad/s)", "Gyroscope y (rad/s)", "Gyroscope z (rad/s)"], 1.0, "header -> rad/s"),
    (["time", "gyro_x (deg/s)", "gyro_y (deg/s)", "gyro_z (deg/s)"], 180 / math.pi, "header -> deg/s, converted"),
    (["time", "wx [°/s]", "wy [°/s]", "wz [°/s]"], 180 / math.pi, "header -> deg/s, converted to rad/s"),
    (["time", "x", "y", "z"], 180 / math.pi, "99th percentile of |w| is 84.8 >= 35 -> deg/s, converted to rad/s"),
    (["time", "x", "y", "z"], 1.0, "99th percentile of |w| is 1.48 <= 10 -> rad/s"),
])
def test_angular_velocity_units(tmp_path, header, scale, expected):
    t = np.arange(300) / 50.0
    _, gyro = motion(t)
    rec = load_recording(write(tmp_path / "Gyroscope.csv", header, np.column_stack([t, gyro * scale])))
    np.testing.assert_allclose(rec.sensors["gyro"], gyro, rtol=1e-12)
    assert notes_with(rec, expected), rec.notes


def test_ambiguous_angular_velocity_is_refused(tmp_path):
    t = np.arange(300) / 50.0
    _, gyro = motion(t)
    path = write(tmp_path / "Gyroscope.csv", ["time", "x", "y", "z"], np.column_stack([t, gyro * 15]))
    with pytest.raises(DataError, match=r"Gyroscope.csv: gyro: the angular velocity's unit is ambiguous: the 99th "
                                        r"percentile of its magnitude is 22.2, fast turning in rad/s or slow "
                                        r"movement in deg/s; "
                                        r"pass --gyro-units rad/s or --gyro-units deg/s"):
        load_recording(path)
    np.testing.assert_allclose(load_recording(path, gyro_units="deg/s").sensors["gyro"], np.radians(gyro * 15))


def test_unknown_unit_in_the_header(tmp_path):
    t = np.arange(300) / 50.0
    acc, _ = motion(t)
    path = write(tmp_path / "acc.csv", ["time", "x (counts)", "y (counts)", "z (counts)"], np.column_stack([t, acc]))
    with pytest.raises(DataError, match=r"acc.csv: acc: cannot tell the unit from the header .*pass --acc-units"):
        load_recording(path)
    assert load_recording(path, acc_units="g").n_samples == 300


def test_magnetometer_and_a_user_channel(tmp_path):
    t = np.arange(300) / 50.0
    acc, gyro = motion(t)
    mag = np.tile([20.0, -5.0, 40.0], (len(t), 1))
    pressure = 1013.0 + 0.01 * t
    header = ["time", "ax", "ay", "az", "Magnetic field x (mT)", "Magnetic field y (mT)", "Magnetic field z (mT)",
              "pressure (hPa)", "battery"]
    rows = np.column_stack([t, acc, mag / 1000, pressure, np.ones_like(t)])
    rec = load_recording(write(tmp_path / "phone.csv", header, rows), channels=["pressure"])
    assert rec.sensor_names == ("acc", "mag", "pressure")
    np.testing.assert_allclose(rec.sensors["mag"], mag)
    np.testing.assert_allclose(rec.sensors["pressure"][:, 0], pressure)
    assert notes_with(rec, "mag: 'Magnetic field x (mT)' header -> mT, converted to uT")
    with pytest.raises(DataError, match=r"phone.csv: no column 'humidity' \(channels\); found columns: 'time'"):
        load_recording(tmp_path / "phone.csv", channels=["humidity"])


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_with_date_times_and_labels(tmp_path):  # pragma: no cover - runs where pyarrow is installed
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = np.arange(400) / 50.0
    acc, gyro = motion(t)
    stamps = (np.datetime64("2024-05-01T10:02:33.250", "ns") + (t * 1e9).astype("timedelta64[ns]"))
    labels = np.where(t < 4, "walking", None)
    table = pa.table({"timestamp": pa.array(stamps, pa.timestamp("ns", tz="UTC")), "AccX": acc[:, 0], "AccY": acc[:, 1],
                      "AccZ": acc[:, 2], "GyrX": gyro[:, 0], "GyrY": gyro[:, 1], "GyrZ": gyro[:, 2],
                      "activity": pa.array(labels.tolist(), pa.string())})
    pq.write_table(table, tmp_path / "rec.parquet")
    rec = load_recording(tmp_path / "rec.parquet", label_column="activity")
    np.testing.assert_allclose(rec.timestamps, EPOCH + t, atol=1e-6)
    check(rec, rec.timestamps, acc, gyro)
    assert rec.labels[0] == "walking" and rec.labels[-1] == "" and (rec.labels == "walking").sum() == 200
    table = table.set_column(1, "AccX", pa.array(np.where(np.arange(400) == 7, np.nan, acc[:, 0])))
    pq.write_table(table, tmp_path / "nan.parquet")
    with pytest.raises(DataError, match=r"nan.parquet: row 8, column 'AccX': nan is not allowed"):
        load_recording(tmp_path / "nan.parquet")


def test_phyphox_export_of_two_sensors(tmp_path):
    t = np.arange(1000) / 100.0
    acc, _ = motion(t)
    _, gyro = motion(t + 0.004)  # the gyroscope's samples come 4 ms later
    quoted = lambda names: [f'"{n}"' for n in names]  # noqa: E731
    a = write(tmp_path / "Accelerometer.csv", quoted(["Time (s)", *(f"Acceleration {a} (m/s^2)" for a in "xyz")]),
              np.column_stack([t, acc * STANDARD_GRAVITY]), fmt=lambda v: f"{v:.9E}")
    g = write(tmp_path / "Gyroscope.csv", quoted(["Time (s)", *(f"Gyroscope {a} (rad/s)" for a in "xyz")]),
              np.column_stack([t + 0.004, gyro]), "\t", fmt=lambda v: f"{v:.9E}")
    rec = load_recording([a, g])
    assert rec.sensor_names == ("acc", "gyro") and rec.sampling_rate == pytest.approx(100.0)
    assert rec.timestamps[0] == pytest.approx(0.004)
    expected_acc, expected_gyro = motion(rec.timestamps)
    np.testing.assert_allclose(rec.sensors["acc"][5:-5], expected_acc[5:-5], atol=1e-4)
    np.testing.assert_allclose(rec.sensors["gyro"][5:-5], expected_gyro[5:-5], atol=1e-4)
    assert notes_with(rec, "Accelerometer.csv: acc: 'Acceleration x (m/s^2)' header -> m/s^2, converted to g")
    assert notes_with(rec, "Gyroscope.csv: time from 'Time (s)' in s (the column name says so)")
