"""Reading a continuous phone recording (CSV or Parquet) and cutting it into UCI-HAR-style windows.

A recording is a table with a time column and six sensor columns. Default names (matched
case-insensitively, ignoring ``_``, ``.``, ``-`` and spaces): ``time, acc_x, acc_y, acc_z,
gyro_x, gyro_y, gyro_z``, with a few common aliases (``timestamp``/``t``/``ts``;
``ax``/``accel_x``/``accelerometer_x``/``acceleration_x``; ``gx``/``gyr_x``/``gyroscope_x``).
:func:`load_recording` converts to seconds, g and rad/s and checks the data;
:func:`recording_to_windows` resamples each gap-free stretch to 50 Hz and runs the
preprocessing of :mod:`harcnn.data.windows`.

Every problem is a :class:`~harcnn.errors.DataError` with one message naming the file, the
column and the line (CSV: line number in the file, header = line 1; Parquet: data row, from 1).
CSV is read with the standard library (no pandas needed); Parquet needs ``pyarrow`` (or pandas
with a Parquet engine) and says so when it is missing.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from harcnn.data.windows import (
    SAMPLING_RATE,
    STANDARD_GRAVITY,
    STEP,
    WINDOW,
    PreprocessConfig,
    make_windows,
    resample_series,
)
from harcnn.errors import DataError

__all__ = [
    "COLUMN_ALIASES",
    "MAX_SAMPLING_RATE",
    "MIN_SAMPLING_RATE",
    "SENSOR_COLUMNS",
    "Recording",
    "RecordingWindows",
    "load_recording",
    "recording_to_windows",
]

SENSOR_COLUMNS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
MIN_SAMPLING_RATE = 20.0  # below this, 50 Hz data (content up to 20 Hz) cannot be made honestly
MAX_SAMPLING_RATE = 10_000.0  # above this the time unit is almost surely wrong
DEFAULT_MAX_GAP_S = 0.5

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "t", "ts", "seconds"),
    **{
        f"acc_{a}": (f"acc_{a}", f"a{a}", f"accel_{a}", f"accelerometer_{a}", f"acceleration_{a}")
        for a in "xyz"
    },
    **{f"gyro_{a}": (f"gyro_{a}", f"g{a}", f"gyr_{a}", f"gyroscope_{a}") for a in "xyz"},
}

_ACC_UNITS = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "m/s^2": 1.0 / STANDARD_GRAVITY,
              "ms2": 1.0 / STANDARD_GRAVITY, "m/s²": 1.0 / STANDARD_GRAVITY, "mps2": 1.0 / STANDARD_GRAVITY}
_GYRO_UNITS = {"rad/s": 1.0, "deg/s": math.pi / 180.0, "dps": math.pi / 180.0}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _norm(name: str) -> str:
    return re.sub(r"[\s_.\-]+", "", name.strip().lower())


# --------------------------------------------------------------------------- Recording


@dataclass(frozen=True, eq=False)
class Recording:
    """One continuous recording: ``timestamps`` (s, float64, strictly increasing), ``acc`` ``[n, 3]``
    in g, ``gyro`` ``[n, 3]`` in rad/s. ``sampling_rate`` (Hz) is inferred from the median
    sampling interval. Build from arrays directly or with :func:`load_recording`."""

    timestamps: np.ndarray
    acc: np.ndarray
    gyro: np.ndarray
    source: str | None = None
    sampling_rate: float = field(init=False)

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        t = np.array(self.timestamps, dtype=np.float64)  # copies: stored read-only
        acc = np.array(self.acc, dtype=np.float64)
        gyro = np.array(self.gyro, dtype=np.float64)
        if t.ndim != 1:
            raise DataError(f"{where}timestamps must be 1-D, got shape {list(t.shape)}")
        for name, arr in (("acc", acc), ("gyro", gyro)):
            if arr.shape != (t.size, 3):
                raise DataError(f"{where}{name} must have shape [{t.size}, 3], got {list(arr.shape)}")
        if t.size < 2:
            raise DataError(f"{where}a recording needs at least 2 samples, got {t.size}")
        for name, arr in (("timestamps", t[:, None]), ("acc", acc), ("gyro", gyro)):
            bad = ~np.isfinite(arr)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                what = name if name == "timestamps" else f"{name}[:, {col}]"
                raise DataError(f"{where}{what} has a non-finite value ({arr[row, col]}) at sample {row}")
        problem, i = _time_order_problem(t)
        if problem == "unsorted":
            raise DataError(
                f"{where}timestamps are not sorted: sample {i + 1} ({t[i + 1]!r}) "
                f"is earlier than sample {i} ({t[i]!r})"
            )
        if problem == "duplicate":
            raise DataError(f"{where}duplicate timestamp {t[i]!r} at samples {i} and {i + 1}")
        dt = np.diff(t)
        for name, arr in (("timestamps", t), ("acc", acc), ("gyro", gyro)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "sampling_rate", float(1.0 / np.median(dt)))

    @property
    def n_samples(self) -> int:
        return int(self.timestamps.size)

    @property
    def duration(self) -> float:
        """Seconds covered: last minus first timestamp plus one sampling interval."""
        return float(self.timestamps[-1] - self.timestamps[0] + 1.0 / self.sampling_rate)

    def is_regular(self, jitter_tolerance: float = 0.02) -> bool:
        """Whether every interval is within ``jitter_tolerance`` (relative) of the median one."""
        dt = np.diff(self.timestamps)
        return bool(np.max(np.abs(dt * self.sampling_rate - 1.0)) <= jitter_tolerance)

    def __repr__(self) -> str:
        src = f" from {self.source!r}" if self.source else ""
        return f"Recording({self.n_samples} samples, {self.duration:.2f} s at ~{self.sampling_rate:.4g} Hz{src})"


class RecordingWindows(NamedTuple):
    """Windows of a recording: ``windows`` float32 ``[n, 128, 9]``; ``start_times`` and
    ``end_times`` (s, same clock as the recording's timestamps) bound each window as the
    half-open interval ``[start, start + 128 / 50 Hz)``."""

    windows: np.ndarray
    start_times: np.ndarray
    end_times: np.ndarray


# --------------------------------------------------------------------------- checks


def _rate_hint(rate: float, time_unit: str) -> str:
    for unit, factor in _TIME_UNITS.items():
        if unit == time_unit:
            continue
        alt = rate * _TIME_UNITS[time_unit] / factor
        if MIN_SAMPLING_RATE <= alt <= 2000:
            return f"; if the times are in {_unit_word(unit)}, pass time_unit={unit!r} (that gives {alt:.4g} Hz)"
    return ""


def _unit_word(unit: str) -> str:
    return {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}[unit]


def _check_rate(rec: Recording, *, min_rate_hz: float, time_unit: str = "s") -> None:
    where = f"{rec.source}: " if rec.source else ""
    rate = rec.sampling_rate
    if rate < min_rate_hz:
        raise DataError(
            f"{where}sampling rate {rate:.4g} Hz is too low: at least {min_rate_hz:g} Hz is needed to make "
            f"honest {SAMPLING_RATE:g} Hz data (the UCI signals keep content up to 20 Hz)"
            + _rate_hint(rate, time_unit)
        )
    if rate > MAX_SAMPLING_RATE:
        raise DataError(
            f"{where}sampling rate {rate:.4g} Hz is implausibly high (more than {MAX_SAMPLING_RATE:g} Hz)"
            + (_rate_hint(rate, time_unit) or "; check the time unit")
        )


def _n_output_samples(span_s: float) -> int:
    return int(math.floor(span_s * SAMPLING_RATE + 1e-6)) + 1


def _too_short(where: str, span_s: float, subject: str = "the recording") -> DataError:
    n50 = _n_output_samples(span_s)
    return DataError(
        f"{where}{subject} is too short: {span_s + 1 / SAMPLING_RATE:.2f} s ({n50} samples at "
        f"{SAMPLING_RATE:g} Hz); one window needs {WINDOW} samples at {SAMPLING_RATE:g} Hz = "
        f"{WINDOW / SAMPLING_RATE:.2f} s"
    )


def _check_length(rec: Recording) -> None:
    span = float(rec.timestamps[-1] - rec.timestamps[0])
    if _n_output_samples(span) < WINDOW:
        raise _too_short(f"{rec.source}: " if rec.source else "", span)


def _check_units(rec: Recording, acc_units: str) -> None:
    where = f"{rec.source}: " if rec.source else ""
    norm = float(np.median(np.linalg.norm(rec.acc, axis=1)))
    if 0.5 <= norm <= 2.0:
        return
    if acc_units == "g" and 5.0 <= norm <= 20.0:
        hint = "which looks like m/s^2: pass acc_units='m/s2'"
    elif acc_units != "g" and 0.05 <= norm <= 0.2:
        hint = "which looks like the file is in g: pass acc_units='g'"
    else:
        hint = ("but total acceleration including gravity should be about 1 g (is gravity removed, "
                "i.e. linear acceleration, or are the units wrong?)")
    raise DataError(
        f"{where}the median acceleration magnitude is {norm:.3g} g after unit conversion, {hint}; "
        "pass check_units=False to skip this check"
    )


# --------------------------------------------------------------------------- reading


def _resolve_columns(
    header: list[str],
    wanted: list[str],
    overrides: Mapping[str, str],
    where: str,
) -> dict[str, int]:
    normalized: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _norm(name)
        if key and key not in normalized:
            normalized[key] = i
    found: dict[str, int] = {}
    missing: list[str] = []
    for canon in wanted:
        candidates = [overrides[canon]] if canon in overrides else list(COLUMN_ALIASES[canon])
        for cand in candidates:
            if _norm(cand) in normalized:
                found[canon] = normalized[_norm(cand)]
                break
        else:
            missing.append(canon if canon not in overrides else f"{canon} (given as {overrides[canon]!r})")
    if missing:
        shown = ", ".join(repr(h) for h in header) or "none"
        raise DataError(
            f"{where}missing column(s) {', '.join(missing)}; found columns: {shown}. "
            "Name them with columns={'acc_x': '...', ...} (aliases tried: ax/accel_x, gx/gyr_x, timestamp/t)"
        )
    dup = {}
    for canon, idx in found.items():
        if idx in dup:
            raise DataError(f"{where}column {header[idx]!r} is used for both {dup[idx]} and {canon}")
        dup[idx] = canon
    return found


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _read_csv(path: Path, wanted: list[str], overrides: Mapping[str, str], delimiter: str | None):
    where = f"{path}: "
    try:
        with _open_text(path) as handle:
            first = handle.readline()
            if not first.strip():
                raise DataError(f"{where}file is empty (expected a header line with column names)")
            if delimiter is None:
                counts = {d: first.count(d) for d in (",", ";", "\t")}
                delimiter = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
            header = next(csv.reader([first], delimiter=delimiter))
            cols = _resolve_columns(header, wanted, overrides, where)
            order = [cols[c] for c in wanted]
            need = max(order) + 1
            reader = csv.reader(handle, delimiter=delimiter)
            rows: list[list[float]] = []
            lines: list[int] = []
            line = 1
            for row in reader:
                line = reader.line_num + 1  # header was read separately
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) < need:
                    raise DataError(
                        f"{where}line {line} has {len(row)} field(s) but column "
                        f"{header[max(order)]!r} is field {need}"
                    )
                values = []
                for canon, i in zip(wanted, order):
                    cell = row[i].strip()
                    try:
                        values.append(float(cell))
                    except ValueError:
                        shown = repr(cell) if cell else "an empty cell"
                        raise DataError(
                            f"{where}line {line}, column {header[i]!r}: {shown} is not a number"
                        ) from None
                rows.append(values)
                lines.append(line)
    except OSError as exc:
        raise DataError(f"{where}cannot read file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{where}not a readable CSV text file ({exc})") from None
    if not rows:
        raise DataError(f"{where}no data rows after the header")
    data = np.asarray(rows, dtype=np.float64)
    names = [header[cols[c]] for c in wanted]
    return data, names, [f"line {n}" for n in lines]


def _read_parquet(path: Path, wanted: list[str], overrides: Mapping[str, str]):
    where = f"{path}: "
    columns: dict[str, object]
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found]
    except ImportError:
        pq = None
    try:
        if pq is not None:
            table = pq.read_table(path)
            columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
        else:
            try:
                import pandas as pd  # type: ignore[import-not-found]
            except ImportError:
                pd = None
            if pd is None:
                raise DataError(
                    f"{where}reading Parquet needs pyarrow (pip install pyarrow); or save the recording as CSV"
                )
            try:
                frame = pd.read_parquet(path)
            except ImportError:
                raise DataError(
                    f"{where}reading Parquet needs pyarrow (pip install pyarrow); or save the recording as CSV"
                ) from None
            columns = {str(name): frame[name].to_numpy() for name in frame.columns}
    except DataError:
        raise
    except Exception as exc:  # corrupt file: the engines raise many different types
        raise DataError(f"{where}not a readable Parquet file ({exc})") from None
    header = list(columns)
    cols = _resolve_columns(header, wanted, overrides, where)
    n = len(next(iter(columns.values()))) if columns else 0
    data = np.empty((n, len(wanted)), dtype=np.float64)
    for j, canon in enumerate(wanted):
        name = header[cols[canon]]
        raw = np.asarray(columns[name])
        try:
            data[:, j] = raw.astype(np.float64)
        except (TypeError, ValueError):
            for i, value in enumerate(raw):
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise DataError(f"{where}row {i + 1}, column {name!r}: {value!r} is not a number") from None
            raise DataError(f"{where}column {name!r} is not numeric") from None
    if n == 0:
        raise DataError(f"{where}no data rows")
    names = [header[cols[c]] for c in wanted]
    return data, names, [f"row {i + 1}" for i in range(n)]


def load_recording(
    path: str | os.PathLike,
    *,
    acc_units: str = "g",
    gyro_units: str = "rad/s",
    time_column: str | None = "time",
    time_unit: str = "s",
    columns: Mapping[str, str] | None = None,
    sampling_rate: float | None = None,
    delimiter: str | None = None,
    check_units: bool = True,
    min_rate_hz: float = MIN_SAMPLING_RATE,
) -> Recording:
    """Read a recording from CSV (``.csv``/``.txt``/``.csv.gz``, header line required) or Parquet.

    ``acc_units``: ``"g"`` or ``"m/s2"``; ``gyro_units``: ``"rad/s"`` or ``"deg/s"``;
    ``time_unit``: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. ``time_column`` names the time
    column (``"time"`` also tries the aliases); ``None`` means there is none and the samples are
    uniform at ``sampling_rate`` Hz, starting at 0 s (``sampling_rate`` is used only then).
    ``columns`` maps canonical names (``time``, ``acc_x`` ... ``gyro_z``) to the file's names.
    ``delimiter`` defaults to the most frequent of ``,`` ``;`` tab in the header.

    Checks (each a DataError): the file exists and reads; all columns are present; every cell is
    a finite number; timestamps strictly increase; the sampling rate is at least
    ``min_rate_hz``; the recording holds at least one 128-sample window at 50 Hz; and, with
    ``check_units``, the median acceleration magnitude is plausible for total acceleration in g.
    """
    path = Path(path)
    where = f"{path}: "
    acc_key = acc_units.strip().lower().replace(" ", "") if isinstance(acc_units, str) else acc_units
    if acc_key not in _ACC_UNITS:
        raise DataError(f"acc_units must be 'g' or 'm/s2', got {acc_units!r}")
    gyro_key = gyro_units.strip().lower().replace(" ", "") if isinstance(gyro_units, str) else gyro_units
    if gyro_key not in _GYRO_UNITS:
        raise DataError(f"gyro_units must be 'rad/s' or 'deg/s', got {gyro_units!r}")
    if time_unit not in _TIME_UNITS:
        raise DataError(f"time_unit must be one of {', '.join(map(repr, _TIME_UNITS))}, got {time_unit!r}")
    overrides = dict(columns or {})
    unknown = set(overrides) - set(COLUMN_ALIASES)
    if unknown:
        raise DataError(
            f"unknown key(s) in columns: {', '.join(sorted(unknown))}; use time, {', '.join(SENSOR_COLUMNS)}"
        )
    if time_column is None:
        if sampling_rate is None or not (isinstance(sampling_rate, (int, float)) and sampling_rate > 0):
            raise DataError("without a time column (time_column=None) pass sampling_rate= in Hz")
        wanted = list(SENSOR_COLUMNS)
    else:
        if time_column != "time" and "time" not in overrides:
            overrides["time"] = time_column
        wanted = ["time", *SENSOR_COLUMNS]
    if not path.exists():
        raise DataError(f"{where}no such file")
    if path.is_dir():
        raise DataError(f"{where}is a folder, not a recording file")
    if path.suffix.lower() in (".parquet", ".pq"):
        data, names, rows = _read_parquet(path, wanted, overrides)
    else:
        data, names, rows = _read_csv(path, wanted, overrides, delimiter)

    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{where}{rows[r]}, column {names[c]!r}: {data[r, c]} is not allowed (NaN or inf)")
    if time_column is None:
        t = np.arange(data.shape[0]) / float(sampling_rate)
        sensors = data
    else:
        t_raw = data[:, 0]
        sensors = data[:, 1:]
        problem, i = _time_order_problem(t_raw)
        if problem == "unsorted":
            raise DataError(
                f"{where}timestamps in column {names[0]!r} are not sorted: {rows[i + 1]} ({t_raw[i + 1]:.10g}) "
                f"is earlier than {rows[i]} ({t_raw[i]:.10g}) before it; sort the file by time"
            )
        if problem == "duplicate":
            raise DataError(
                f"{where}duplicate timestamp {t_raw[i]:.10g} in column {names[0]!r} at {rows[i]} and {rows[i + 1]}"
            )
        t = t_raw * _TIME_UNITS[time_unit]
    if data.shape[0] < 2:
        raise _too_short(where, 0.0, "the recording (one sample)")
    rec = Recording(
        timestamps=t,
        acc=sensors[:, :3] * _ACC_UNITS[acc_key],
        gyro=sensors[:, 3:] * _GYRO_UNITS[gyro_key],
        source=str(path),
    )
    _check_rate(rec, min_rate_hz=min_rate_hz, time_unit=time_unit)
    _check_length(rec)
    if check_units:
        _check_units(rec, acc_key)
    return rec


# --------------------------------------------------------------------------- windowing


def _segments(t: np.ndarray, max_gap_s: float | None) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges separated by intervals longer than ``max_gap_s``."""
    if max_gap_s is None:
        return [(0, t.size)]
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    bounds = [0, *cuts.tolist(), t.size]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def recording_to_windows(
    recording: Recording,
    config: PreprocessConfig | None = None,
    *,
    max_gap_s: float | None = DEFAULT_MAX_GAP_S,
    jitter_tolerance: float = 0.02,
    min_rate_hz: float = MIN_SAMPLING_RATE,
) -> RecordingWindows:
    """Cut a recording into UCI-style windows: ``(windows [n, 128, 9] float32, start_times, end_times)``.

    The recording is split at gaps longer than ``max_gap_s`` seconds (``None``: never; shorter
    gaps are interpolated over). Each stretch is resampled to 50 Hz (:func:`resample_series`:
    polyphase from its mean rate when the intervals are regular within ``jitter_tolerance``,
    otherwise interpolation onto a uniform grid first), preprocessed with ``config`` (default: causal,
    as the dataset; see :mod:`harcnn.data.windows`) and windowed (128 samples, step 64); stretches
    shorter than one window are skipped. Times are in the recording's clock, in seconds.
    """
    if not isinstance(recording, Recording):
        raise DataError(f"recording must be a Recording, got {type(recording).__name__}")
    cfg = config or PreprocessConfig()
    where = f"{recording.source}: " if recording.source else ""
    _check_rate(recording, min_rate_hz=min_rate_hz)
    _check_length(recording)
    t = recording.timestamps
    signal = np.concatenate([recording.acc, recording.gyro], axis=1)
    parts, starts = [], []
    longest = 0.0
    segments = _segments(t, max_gap_s)
    for a, b in segments:
        if b - a < 2:
            continue
        longest = max(longest, float(t[b - 1] - t[a]))
        if _n_output_samples(float(t[b - 1] - t[a])) < WINDOW:
            continue
        times, values = resample_series(t[a:b], signal[a:b], SAMPLING_RATE, jitter_tolerance=jitter_tolerance)
        w = make_windows(values[:, :3], values[:, 3:], cfg, window=WINDOW, step=STEP)
        parts.append(w)
        starts.append(times[np.arange(w.shape[0]) * STEP])
    if not parts:
        raise _too_short(
            where,
            longest,
            f"the longest gap-free stretch (the recording has {len(segments) - 1} gap(s) longer than {max_gap_s:g} s)",
        )
    windows = np.concatenate(parts)
    start_times = np.concatenate(starts)
    return RecordingWindows(windows, start_times, start_times + WINDOW / SAMPLING_RATE)


def _time_order_problem(t: np.ndarray) -> tuple[str | None, int]:
    """("unsorted", i) if t[i + 1] < t[i] first, ("duplicate", i) if t[i + 1] == t[i], else (None, -1)."""
    dt = np.diff(t)
    if np.any(dt < 0):
        return "unsorted", int(np.argmax(dt < 0))
    if np.any(dt == 0):
        return "duplicate", int(np.argmax(dt == 0))
    return None, -1
