"""Reading sensor files as people have them: the format heuristics behind ``load_recording``.

**Tables** (:func:`read_table`): CSV-like text (``.csv``, ``.txt``, ``.tsv``, any of them ``.gz``;
UTF-8, with or without a BOM) or Parquet (``pyarrow``). The separator is the first of tab, ``;``,
``,`` and runs of whitespace that splits the last 20 data lines into equal numbers of fields
(or ``delimiter=``). Blank lines and lines starting with ``#``, ``%`` or ``//`` are skipped; the
first line whose numeric columns hold numbers starts the data; the line just before it is the
header when it holds names there, and lines before the header are a preamble (skipped, and
noted). Without a header line a comment line right above the data may hold the names;
otherwise the file is headerless and its columns are ``column 1``, ``column 2``, ... A
separator at the end of every line (an empty last field) is dropped. With ``;`` as separator,
decimal commas (``0,981``) are read as decimal points.

**What a file holds** (:func:`read_sensor_file`): column names are matched ignoring case,
spaces and punctuation, with a unit in brackets split off (``X (m/s^2)``, ``acc_x [g]``,
``gyroRotationX(rad/s)``). An axis column is a sensor word plus ``x``/``y``/``z`` (``acc_x``,
``ax``, ``Acceleration x``, ``gyro_z``, ``gx``, ``rotationRateY``, ``mag_x``, ``Magnetic field
x``); a bare ``x``/``y``/``z`` belongs to the file's sensor, told by a ``sensor=`` hint, else by
the file name (``Accelerometer.csv``, ``acc_exp01_user01.txt``, ``Gyroscope.csv``,
``gyro.csv``, ``Magnetometer.csv``), else by the unit in its name. Linear acceleration (gravity
removed: ``LinearAcceleration.csv``, ``userAcceleration``, ``body_acc``) and gravity are refused,
since the pipeline needs the total acceleration. A headerless file with exactly 3 columns is
the x, y, z of the file's sensor.

**Time**: the column named by ``time_column``, else the first of ``time``, ``timestamp``,
``t``, ``ts``, ``seconds_elapsed``, ``Time (s)``, ``elapsed (s)``, ``timestamp_ms``... , where a
column whose name says seconds (``seconds_elapsed``, ``Time (s)``) beats an epoch clock
(``time``) and the note says so. Its unit: ``time_unit=``, else the name (``_ms``, ``(s)``,
``ns``...), else the one unit of s, ms, us and ns that gives a sampling rate of 1-2000 Hz (the
median interval); when two do, a first value that reads as a date in 2000-2100 since the
Unix epoch decides, and otherwise the file is refused as ambiguous. Text that is not a
number must be an ISO 8601 date-time (``2024-05-01 10:22:33.123``, ``2024-05-01T10:22:33Z``,
``...+02:00``; ``/`` between the date parts is accepted): epoch seconds, UTC when no zone is given.
Without a time column the samples are uniform at ``sampling_rate`` Hz from 0 s.

**Units** (each decision is a note): acceleration is converted to g, angular velocity to
rad/s and the magnetic field to uT. An explicit option wins, then the unit in the header; else
the magnitudes decide. Acceleration: a median magnitude of 0.5-2 is g, 5-20 is m/s^2; the seconds
whose average magnitude reads as gravity (about 1 g, or 9.8 m/s^2: :func:`harcnn.data.quality.gravity_seconds`)
overrule the median when more of them say the other unit, or when the median says neither (a
recording with a stretch of a loose or saturated sensor); with neither, the file is refused (total
acceleration is about 1 g). Angular velocity, by the 99th percentile of
its magnitude q: q >= 35 is deg/s (35 rad/s = 2000 deg/s, the full scale of phone and
wearable gyroscopes, so it cannot be rad/s); q <= 10 is rad/s (as deg/s the device would hardly
have turned, where activities give 100-300 deg/s); in between it is ambiguous and refused. The
magnetic field is taken as uT unless the header says nT, mT or gauss. ``check_units=False``
skips the refusals (assuming g and rad/s). A unit that is given or in the header is trusted: what
the recording then reads is :mod:`harcnn.data.quality`'s to judge.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.quality import gravity_seconds
from harcnn.data.windows import AXES, STANDARD_GRAVITY, VECTOR_SENSORS

__all__ = [
    "PLAUSIBLE_RATES_HZ",
    "ReadOptions",
    "SensorFile",
    "Table",
    "read_sensor_file",
    "read_table",
    "sensor_from_name",
]

PLAUSIBLE_RATES_HZ = (1.0, 2000.0)
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_FACTORS = {
    "acc": {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY},
    "gyro": {"rad/s": 1.0, "deg/s": math.pi / 180.0},
    "mag": {"uT": 1.0, "nT": 1e-3, "mT": 1e3, "gauss": 100.0},
}
CANONICAL_UNIT = {"acc": "g", "gyro": "rad/s", "mag": "uT"}
G_MAGNITUDE = (0.5, 2.0)  # median |acc| of a recording in g
MS2_MAGNITUDE = (5.0, 20.0)  # ... in m/s^2
GYRO_DEG_S_ABOVE = 35.0  # 99th percentile of |w| at or above this: deg/s
GYRO_RAD_S_BELOW = 10.0  # at or below this: rad/s
MIN_GRAVITY_SECONDS = 3  # seconds reading as gravity needed to tell the acceleration's unit by them
_EPOCH_S = (946_684_800.0, 4_102_444_800.0)  # 2000-01-01 .. 2100-01-01 UTC
RECORDING_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".pq")
_COMMENTS = ("#", "%", "//")
_WHITESPACE = " "  # as a delimiter: runs of whitespace
_DELIMITERS = ("\t", ";", ",", _WHITESPACE)
_SAMPLE_LINES = 20
_UNIT_SPELLINGS = {  # normalised spelling (see _unit_key) -> unit, per sensor
    "acc": {"g": "g", "m/s2": "m/s2", "ms-2": "m/s2", "m/s/s": "m/s2", "mps2": "m/s2", "ms2": "m/s2"},
    "gyro": {"rad/s": "rad/s", "rads-1": "rad/s", "deg/s": "deg/s", "degs-1": "deg/s", "dps": "deg/s"},
    "mag": {"µt": "uT", "ut": "uT", "microtesla": "uT", "nt": "nT", "mt": "mT", "g": "gauss", "gauss": "gauss"},
}
_TIME_UNIT_WORDS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "ms": "ms", "msec": "ms", "millis": "ms", "millisecond": "ms", "milliseconds": "ms",
    "us": "us", "µs": "us", "usec": "us", "micros": "us", "microsecond": "us", "microseconds": "us",
    "ns": "ns", "nsec": "ns", "nanos": "ns", "nanosecond": "ns", "nanoseconds": "ns",
}  # fmt: skip
_TIME_WORDS = ("time", "timestamp", "timestamps", "t", "ts", "seconds", "secondselapsed", "elapsed",
               "elapsedtime", "datetime", "date", "epoch", "unixtime", "utc")
_AXIS_PREFIXES = {  # the name of an axis column without its x/y/z, normalised
    "acc": ("acc", "accel", "accelerometer", "acceleration", "a", "totalacc", "totalacceleration",
            "accelerometeracceleration", "accelerationincludinggravity", "rawacc", "gf"),  # gFx: g-force
    "gyro": ("gyro", "gyr", "gyroscope", "g", "rotationrate", "gyrorotation", "motionrotationrate",
             "angularvelocity", "w"),
    "mag": ("mag", "magn", "magnetometer", "magneticfield", "magnetic", "m", "motionmagneticfield"),
    "linear": ("linacc", "linearacc", "linearacceleration", "linearaccelerometer", "useracc",
               "useracceleration", "motionuseracceleration", "bodyacc"),
    "gravity": ("gravity", "grav", "motiongravity"),
}
_DATE_RE = re.compile(r"^\s*\d{4}[-/]\d{2}[-/]\d{2}")
_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*[(\[](?P<unit>[^()\[\]]*)[)\]]\s*$")
_TOTAL_ACC_HINT = ("the total acceleration (including gravity) is needed: pass the accelerometer's raw "
                   "file (Sensor Logger: TotalAcceleration.csv, not Accelerometer.csv)")


def _key(text: str) -> str:
    """``text`` lower-cased, letters and digits only: how names are compared."""
    return re.sub(r"[^0-9a-zµ]", "", text.lower())


def _split_unit(name: str) -> tuple[str, str | None]:
    """``"X (m/s^2)"`` -> ``("X", "m/s^2")``; no bracketed unit -> ``(name, None)``."""
    m = _UNIT_RE.match(name)
    return (m["name"], m["unit"].strip()) if m else (name, None)


def _unit_key(unit: str) -> str:
    text = unit.lower().replace(" ", "").replace("^", "").replace("·", "").replace("*", "")
    for old, new in (("²", "2"), ("⁻", "-"), ("¹", "1"), ("μ", "µ"), ("°", "deg"), ("degrees", "deg"),
                     ("degree", "deg"), ("/sec", "/s"), ("sec-1", "s-1")):
        text = text.replace(old, new)
    return text


def _tokens(text: str) -> list[str]:
    """Words of a name, camelCase and snake_case split: ``"TotalAcceleration"`` -> ``["total", "acceleration"]``."""
    return [w.lower() for w in re.findall(r"[A-Z]?[a-zµμ]+|[A-Z]+(?![a-z])|\d+", text)]


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True, eq=False)
class Table:
    """A table as read: ``header`` (``column 1``... when the file has none), ``columns`` (one array
    per column: the cells as text, or typed values from Parquet) and ``lines`` (each row's line in
    the file, 1 = first line; Parquet: its row, from 1)."""

    path: str
    header: tuple[str, ...]
    columns: tuple[np.ndarray, ...]
    lines: np.ndarray
    has_header: bool = True
    decimal_comma: bool = False
    row_word: str = "line"
    notes: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return int(self.lines.size)

    def label(self, col: int) -> str:
        return f"column {self.header[col]!r}" if self.has_header else f"column {col + 1}"

    def where(self, row: int, col: int) -> str:
        return f"{self.path}: {self.row_word} {self.lines[row]}, {self.label(col)}"

    def find(self, name: str | int) -> int | None:
        """The column called ``name`` (exact, else ignoring case, punctuation and a bracketed
        unit), or the ``name``-th column (from 1) when it is an integer."""
        if isinstance(name, str) and name.strip().isdigit():
            name = int(name)
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            return int(name) - 1 if 1 <= name <= len(self.header) else None
        if name in self.header:
            return self.header.index(name)
        for keyed in (_key, lambda h: _key(_split_unit(h)[0])):
            matches = [i for i, h in enumerate(self.header) if keyed(h) == _key(str(name))]
            if matches:
                return matches[0]
        return None

    def numbers(self, col: int) -> np.ndarray:
        """Column ``col`` as float64; a cell that is not a number is a DataError naming its line."""
        values = self.columns[col]
        if values.dtype.kind in "fiu":
            return values.astype(np.float64)
        if values.dtype.kind in "bMm":
            raise DataError(f"{self.path}: {self.label(col)} holds {values.dtype} values, not numbers")
        cells = [v if isinstance(v, str) else str(v) for v in values.tolist()]
        if self.decimal_comma:
            cells = [c.replace(",", ".") for c in cells]
        try:
            return np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
        except ValueError:
            i = next(i for i, cell in enumerate(cells) if not _is_number(cell, False))
            shown = repr(str(values[i]).strip()) if str(values[i]).strip() else "an empty cell"
            raise DataError(f"{self.where(i, col)}: {shown} is not a number") from None


def _is_number(cell: str, decimal_comma: bool) -> bool:
    try:
        float(cell.replace(",", ".") if decimal_comma else cell)
        return True
    except ValueError:
        return False


def _text_lines(path: Path) -> list[str]:
    where = f"{path}: "
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataError(f"{where}cannot read file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}not a readable UTF-8 text file ({exc}); save it as UTF-8 CSV") from None


def _splitter(delimiter: str, quoted: bool = True):
    """Lines -> lists of fields; ``quoted=False`` (no ``"`` in the file) skips the csv module."""
    if delimiter == _WHITESPACE:
        return lambda lines: [line.split() for line in lines]
    if not quoted:
        return lambda lines: [line.split(delimiter) for line in lines]
    return lambda lines: list(csv.reader(lines, delimiter=delimiter))


def _choose_delimiter(sample: list[str]) -> str:
    """The first separator that splits every sample line into the same number (> 1) of fields."""
    for delimiter in _DELIMITERS:
        counts = {len(fields) for fields in _splitter(delimiter)(sample)}
        if len(counts) == 1 and counts.pop() > 1:
            return delimiter
    return ","


def _parse_delimiter(delimiter: str | None) -> str | None:
    """``delimiter`` as :func:`read_table` uses it (None: detect)."""
    names = {"tab": "\t", "\\t": "\t", "space": _WHITESPACE, "whitespace": _WHITESPACE}
    if delimiter is None or delimiter in names:
        return names.get(delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DataError(f"delimiter must be one character (or 'tab', 'whitespace'), got {delimiter!r}")
    return delimiter


def is_recording_file(name: str) -> bool:
    """Whether a file name ends like a recording or table harcnn reads (:data:`RECORDING_SUFFIXES`)."""
    return name.lower().endswith(RECORDING_SUFFIXES)


def without_suffix(name: str) -> str:
    """A recording file's name without its ending (``walk.csv.gz`` -> ``walk``)."""
    for suffix in sorted(RECORDING_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def read_table(path, delimiter: str | None = None) -> Table:
    """Read a CSV-like text file or a Parquet file as a :class:`Table` (the module docstring
    says how the separator, header, preamble and comments are found). ``delimiter``: one
    character, ``"tab"`` or ``"whitespace"``; detected when None."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass the sensor files in it")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    delimiter = _parse_delimiter(delimiter)
    lines = _text_lines(path)
    content = [(i, line) for i, line in enumerate(lines, 1)
               if (text := line.lstrip()) and not text.startswith(_COMMENTS)]
    if not content:
        raise DataError(f"{path}: file is empty (expected a header line with column names, then data)")
    sample = [line for _, line in content[-_SAMPLE_LINES:]]
    if delimiter is None:
        delimiter = _choose_delimiter(sample)
    split = _splitter(delimiter, any('"' in line for _, line in content))
    decimal_comma = delimiter == ";"
    sample_rows = [[c.strip() for c in row] for row in split(sample)]
    width = Counter(map(len, sample_rows)).most_common(1)[0][0]
    numeric = [j for j in range(width)
               if all(j < len(r) and _is_number(r[j], decimal_comma) for r in sample_rows)]
    rows = split([line for _, line in content])
    first = _first_data_row(rows, numeric, decimal_comma)
    header_row, notes = _find_header(lines, content, rows, first, width, numeric, split, decimal_comma)
    data, numbers = rows[first:], [n for n, _ in content[first:]]
    header, data = _fit_width(path, header_row, data, numbers, width)
    if not data:
        raise DataError(f"{path}: no data rows after the header")
    if decimal_comma:
        notes.append("';' separated, decimal commas accepted")
    columns = tuple(_column(cells) for cells in zip(*data))
    names = tuple(header) if header_row is not None else tuple(f"column {j + 1}" for j in range(len(header)))
    return Table(str(path), names, columns, np.asarray(numbers, dtype=np.int64), header_row is not None,
                 decimal_comma, "line", tuple(notes))


def _column(cells: tuple[str, ...]) -> np.ndarray:
    out = np.empty(len(cells), dtype=object)
    out[:] = [c.strip() for c in cells]
    return out


def _first_data_row(rows: list[list[str]], numeric: list[int], decimal_comma: bool) -> int:
    """Index of the first row holding a number in one of the numeric columns (1 when no column is numeric)."""
    if not numeric:  # no column holds numbers: the first row names them
        return 1
    for i, row in enumerate(rows):
        if any(j < len(row) and _is_number(row[j].strip(), decimal_comma) for j in numeric):
            return i
    return len(rows)


def _find_header(lines, content, rows, first, width, numeric, split, decimal_comma):
    """The header row (or None) and the notes about skipped lines."""
    notes: list[str] = []

    def names_only(row):
        row = [c.strip() for c in row]
        named = len(row) - next((i for i, c in enumerate(reversed(row)) if c), len(row))
        fits = named in (width, width - 1)  # width - 1: the data lines end with a separator
        return fits and all(j >= len(row) or not _is_number(row[j], decimal_comma) for j in numeric)

    header = [c.strip() for c in rows[first - 1]] if first > 0 and names_only(rows[first - 1]) else None
    skipped = first - 1 if header is not None else first
    if skipped:
        notes.append(f"skipped {skipped} line(s) before the {'header' if header is not None else 'data'} "
                     f"(lines {content[0][0]}-{content[skipped - 1][0]})")
    if header is None and first < len(rows):  # a commented header right above the data?
        above = content[first][0] - 2
        text = lines[above].lstrip() if above >= 0 else ""
        prefix = next((c for c in _COMMENTS if text.startswith(c)), None)
        if prefix is not None:
            row = [c.strip() for c in split([text[len(prefix):]])[0]]
            if names_only(row) and len([c for c in row if c]) == len([c for c in rows[first] if c.strip()]):
                header = row
                notes.append(f"column names from the comment line {above + 1}")
    return header, notes


def _fit_width(path, header_row, data, numbers, width):
    """Header and rows with a trailing separator dropped; every row must fit the header."""
    trailing = all(row and not row[-1].strip() for row in data[-_SAMPLE_LINES:])
    if header_row is not None:
        header = list(header_row)
        while header and header[-1] == "":
            header.pop()
        if not all(header):
            raise DataError(f"{path}: the header line has an empty column name: {header_row}")
    else:
        header = [""] * (width - 1 if trailing else width)
    n = len(header)
    if all(len(row) == n for row in data):
        return header, data
    out = []
    for row, line in zip(data, numbers):
        if len(row) == n + 1 and not row[-1].strip():
            row = row[:-1]
        if len(row) != n:
            raise DataError(f"{path}: line {line} has {len(row)} field(s), but the "
                            f"{'header has' if header_row is not None else 'data lines have'} {n}")
        out.append(row)
    return header, out


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found]
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow); or save the "
                        "recording as CSV") from None
    try:
        table = pq.read_table(path)
        columns = tuple(np.asarray(table.column(n).to_numpy(zero_copy_only=False)) for n in table.column_names)
    except Exception as exc:  # a corrupt file: pyarrow raises many different types
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: no data rows")
    return Table(str(path), tuple(table.column_names), columns, np.arange(1, table.num_rows + 1),
                 row_word="row")


# --------------------------------------------------------------------------- options


#: Columns taken as per-sample labels when no label column is named.
LABEL_NAMES = ("label", "activity")


@dataclass(frozen=True)
class ReadOptions:
    """The options of ``load_recording`` that say how to read each file, checked once."""

    time_column: str | None = None
    time_unit: str | None = None
    acc_units: str | None = None
    gyro_units: str | None = None
    columns: Mapping[str, str | int] = field(default_factory=dict)
    channels: tuple[str, ...] = ()
    delimiter: str | None = None
    label_column: str | None = None
    sampling_rate: float | None = None
    check_units: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.time_unit is not None:
            unit = _TIME_UNIT_WORDS.get(str(self.time_unit).strip().lower())
            if unit is None:
                raise DataError(f"time_unit must be one of 's', 'ms', 'us', 'ns', got {self.time_unit!r}")
            set_(self, "time_unit", unit)
        for sensor, option in (("acc", "acc_units"), ("gyro", "gyro_units")):
            given = getattr(self, option)
            if given is not None:
                unit = _UNIT_SPELLINGS[sensor].get(_unit_key(str(given)))
                if unit is None:
                    choices = " or ".join(repr(u) for u in UNIT_FACTORS[sensor])
                    raise DataError(f"{option} must be {choices}, got {given!r}")
                set_(self, option, unit)
        columns = dict(self.columns or {})
        allowed = ["time", *(f"{s}_{a}" for s in VECTOR_SENSORS for a in AXES)]
        unknown = sorted(set(columns) - set(allowed))
        if unknown:
            raise DataError(f"unknown key(s) in columns: {', '.join(unknown)}; use {', '.join(allowed)} "
                            "(label_column= and channels= name the others)")
        if self.time_column is not None and self.time_column != "time":
            columns.setdefault("time", self.time_column)
        set_(self, "columns", columns)
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels or ())
        for name in channels:
            if not isinstance(name, str) or not name or name in VECTOR_SENSORS:
                raise DataError(f"channels must be column names other than {', '.join(VECTOR_SENSORS)}, got {name!r}")
        set_(self, "channels", channels)
        rate = self.sampling_rate
        if rate is not None and not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise DataError(f"sampling_rate must be a positive number of Hz, got {rate!r}")
        _parse_delimiter(self.delimiter)


# --------------------------------------------------------------------------- what a file holds


@dataclass
class SensorFile:
    """One file's contents in canonical units: ``times`` (s), ``sensors`` ``{name: [n, k]}``,
    per-sample ``labels`` (or None) and the notes on what was detected or assumed."""

    source: str
    header: tuple[str, ...]
    roles: frozenset[str]  # the columns= keys, channels and "label" found in it
    times: np.ndarray
    sensors: dict[str, np.ndarray]
    labels: np.ndarray | None
    notes: list[str]

    @property
    def sampling_rate(self) -> float:
        return float(1.0 / np.median(np.diff(self.times)))


def sensor_from_name(path) -> str | None:
    """The sensor a file's name says it holds (``acc``, ``gyro``, ``mag``), or None when it says
    none or several. Linear acceleration and gravity files are refused."""
    name = Path(path).name
    stem = re.sub(r"(\.gz)?$", "", name, flags=re.I).rsplit(".", 1)[0]
    tokens = _tokens(stem)
    has_acc = any(t.startswith("acc") for t in tokens)
    if any(word in _key(stem) for word in ("linearacc", "linacc", "useracc", "bodyacc")):
        raise DataError(f"{path}: the file name says linear acceleration (gravity removed); {_TOTAL_ACC_HINT}, "
                        "or rename the file if it does hold the total acceleration")
    if any(t.startswith("grav") for t in tokens):
        raise DataError(f"{path}: the file name says gravity only; {_TOTAL_ACC_HINT}")
    found = {s for s, test in (("acc", has_acc), ("gyro", any(t.startswith("gyr") for t in tokens)),
                               ("mag", any(t.startswith("mag") for t in tokens))) if test}
    return found.pop() if len(found) == 1 else None


def _axis_role(header: str, file_sensor: str | None) -> tuple[str, str] | None:
    """``(sensor, axis)`` for an axis column (sensor may be "linear" or "gravity"), else None."""
    base, unit = _split_unit(header)
    key = _key(base)
    if not key or key[-1] not in "xyz":
        return None
    prefix, axis = key[:-1], key[-1]
    for kind, prefixes in _AXIS_PREFIXES.items():
        if prefix in prefixes:
            return kind, axis
    if prefix:
        return None
    if file_sensor is not None:
        return file_sensor, axis
    unit_key = _unit_key(unit or "")
    by_unit = [s for s, spellings in _UNIT_SPELLINGS.items()
               if unit_key in spellings and not (s == "mag" and unit_key == "g")]  # a bare "g" is not gauss
    return (by_unit[0], axis) if len(by_unit) == 1 else None


def _time_name_unit(header: str) -> str | None:
    """The time unit a column name states (``Time (s)``, ``timestamp_ms``, ``seconds_elapsed``), or None."""
    base, unit = _split_unit(header)
    if unit is not None:
        return _TIME_UNIT_WORDS.get(unit.lower())
    for token in _tokens(base):
        if token in _TIME_UNIT_WORDS:
            return _TIME_UNIT_WORDS[token]
    return None


def _is_time_name(header: str) -> bool:
    key = _key(_split_unit(header)[0])
    return key in _TIME_WORDS or key.startswith("time") or "timestamp" in key or "elapsed" in key or (
        key.endswith("time") and len(key) > 4)


class _Columns:
    """Which column plays which role in one table: time, sensor axes, channels, label."""

    def __init__(self, table: Table, file_sensor: str | None, options: ReadOptions, notes: list[str]):
        self.table, self.notes = table, notes
        self.used: dict[int, str] = {}
        self.roles: dict[str, int] = {}
        for role, name in options.columns.items():
            col = table.find(name)
            if col is not None:
                self._take(role, col)
        for role, name in ((c, c) for c in options.channels):
            col = table.find(name)
            if col is not None:
                self._take(role, col)
        if options.label_column is not None:
            col = table.find(options.label_column)
            if col is not None:
                self._take("label", col)
        elif table.has_header:
            col = next((c for c in map(table.find, LABEL_NAMES) if c is not None and c not in self.used), None)
            if col is not None:
                self._take("label", col)
                notes.append(f"labels from column {table.header[col]!r}")
        self.unusable: dict[str, list[int]] = {"linear": [], "gravity": []}
        if table.has_header:
            self._time(options)
            self._axes(file_sensor)
        elif file_sensor is not None and len(table.header) == 3 and not self.used:
            for axis, col in zip(AXES, range(3)):
                self._take(f"{file_sensor}_{axis}", col)

    def _take(self, role: str, col: int) -> None:
        if col in self.used and self.used[col] != role:
            raise DataError(f"{self.table.path}: {self.table.label(col)} is used for both {self.used[col]} and {role}")
        self.used[col] = role
        self.roles[role] = col

    def _time(self, options: ReadOptions) -> None:
        if "time" in self.roles:
            return
        if "time" in options.columns:
            return  # named but absent: reported by the caller with the columns found
        candidates = [i for i, h in enumerate(self.table.header) if i not in self.used and _is_time_name(h)]
        if not candidates:
            return
        best = sorted(candidates, key=lambda i: _time_name_unit(self.table.header[i]) != "s")[0]
        self._take("time", best)
        others = [self.table.header[i] for i in candidates if i != best]
        if others:
            said = " (its name says seconds)" if _time_name_unit(self.table.header[best]) == "s" else ""
            self.notes.append(f"time from {self.table.header[best]!r}{said}, not {', '.join(map(repr, others))}")

    def _axes(self, file_sensor: str | None) -> None:
        for col, header in enumerate(self.table.header):
            if col in self.used:
                continue
            role = _axis_role(header, file_sensor)
            if role is None:
                continue
            kind, axis = role
            if kind in self.unusable:
                self.unusable[kind].append(col)
            elif f"{kind}_{axis}" in self.roles:
                self.notes.append(f"{header!r} not used: {kind}_{axis} is "
                                  f"{self.table.header[self.roles[f'{kind}_{axis}']]!r}")
            else:
                self._take(f"{kind}_{axis}", col)


def _found(table: Table) -> str:
    return ", ".join(repr(h) for h in table.header) if table.has_header else f"{len(table.header)} unnamed columns"


def read_sensor_file(path, options: ReadOptions, sensor: str | None = None) -> SensorFile:
    """Read one file: its time column, the sensors and channels it holds (in canonical units),
    the label column when ``options.label_column`` is in it; every decision becomes a note."""
    table = read_table(path, options.delimiter)
    name = Path(path).name
    notes = list(table.notes)
    file_sensor = sensor if sensor is not None else sensor_from_name(path)
    if sensor is not None:
        notes.append(f"holds {sensor} (sensors= hint)")
    elif file_sensor is not None:
        notes.append(f"holds {file_sensor} (from the file name)")
    cols = _Columns(table, file_sensor, options, notes)
    times = _times(table, cols, options, notes)
    sensors = _sensor_values(table, cols, file_sensor, options, notes, times)
    for channel in options.channels:
        if channel in cols.roles:
            sensors[channel] = _finite(table, cols.roles[channel], table.numbers(cols.roles[channel]))[:, None]
    if not sensors and "label" not in cols.roles:
        raise DataError(
            f"{path}: no sensor columns found; found columns: {_found(table)}. Name them acc_x, acc_y, acc_z, gyro_x, "
            "... in a header line" + ("" if table.has_header else ", or use a 3-column file whose name says the sensor")
        )
    labels = None
    if "label" in cols.roles:
        labels = np.array([str(v).strip() if v is not None else "" for v in table.columns[cols.roles["label"]]])
        labels[np.isin(labels, ("nan", "None"))] = ""
    return SensorFile(str(path), table.header, frozenset(cols.roles), times, sensors, labels,
                      [f"{name}: {n}" for n in notes])


def _finite(table: Table, col: int, values: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{table.where(i, col)}: {values[i]} is not allowed (NaN or inf)")
    return values


def _sensor_values(table: Table, cols: _Columns, file_sensor, options: ReadOptions, notes: list[str],
                   times: np.ndarray):
    sensors: dict[str, np.ndarray] = {}
    for kind, what in (("linear", "linear acceleration (gravity removed"), ("gravity", "gravity only (")):
        if cols.unusable[kind] and not any(role.startswith("acc_") for role in cols.roles):
            raise DataError(f"{table.path}: its acceleration columns are {what}: "
                            f"{', '.join(table.header[c] for c in cols.unusable[kind])}); {_TOTAL_ACC_HINT}")
    for sensor in VECTOR_SENSORS:
        present = [a for a in AXES if f"{sensor}_{a}" in cols.roles]
        if not present and sensor != file_sensor:
            continue
        missing = [f"{sensor}_{a}" for a in AXES if a not in present]
        if missing:
            given = [f"{m} (given as {options.columns[m]!r})" if m in options.columns else m for m in missing]
            raise DataError(f"{table.path}: missing column(s) {', '.join(given)}; found columns: {_found(table)}. "
                            f"Name them {', '.join(f'{sensor}_{a}' for a in AXES)} in the header")
        idx = [cols.roles[f"{sensor}_{a}"] for a in AXES]
        raw = np.column_stack([_finite(table, c, table.numbers(c)) for c in idx])
        header_units = [_split_unit(table.header[c])[1] for c in idx] if table.has_header else [None] * 3
        sensors[sensor] = _to_canonical(table, sensor, raw, header_units, idx, options, notes, times)
    if cols.unusable["linear"] and "acc" in sensors:
        notes.append("linear acceleration columns not used (the total acceleration is)")
    return sensors


def _to_canonical(table, sensor, raw, header_units, idx, options: ReadOptions, notes, times) -> np.ndarray:
    """Convert ``raw`` to g / rad/s / uT, deciding the unit as the module docstring says."""
    where = f"{table.path}: {sensor}"
    canonical = CANONICAL_UNIT[sensor]
    given = {"acc": options.acc_units, "gyro": options.gyro_units}.get(sensor)
    stated = {u for u in header_units if u}
    units = {_UNIT_SPELLINGS[sensor].get(_unit_key(u)) for u in stated}
    header_unit = units.pop() if len(units) == 1 else None
    if stated and header_unit is None and given is None:
        shown = ", ".join(repr(table.header[c]) for c in idx)
        option = "check the header" if sensor == "mag" else f"pass --{sensor}-units"
        raise DataError(f"{where}: cannot tell the unit from the header ({shown}): {option}")
    if given is not None:
        unit = given
        how = f"--{sensor}-units {given} given"
        if header_unit not in (None, given):
            how += f" (the header says {header_unit})"
    elif header_unit is not None:
        unit = header_unit
        how = f"{table.header[idx[0]]!r} header -> {'m/s^2' if unit == 'm/s2' else unit}"
    else:
        unit, how = _unit_from_values(where, sensor, raw, times, options.check_units)
    factor = UNIT_FACTORS[sensor][unit]
    notes.append(f"{sensor}: {how}" + (f", converted to {canonical}" if unit != canonical else ""))
    if sensor == "acc" and options.check_units and (given is not None or header_unit is not None):
        _check_stated_unit(where, raw, times, unit, "--acc-units given" if given is not None else "the header says")
    return raw * factor


def _unit_from_values(where: str, sensor: str, raw: np.ndarray, times: np.ndarray, check: bool) -> tuple[str, str]:
    norm = np.linalg.norm(raw, axis=1)
    if sensor == "acc":
        return _acc_unit(where, norm, times, check)
    if sensor == "gyro":
        q = float(np.percentile(norm, 99))
        if q >= GYRO_DEG_S_ABOVE:
            return "deg/s", f"no unit in the header; 99th percentile of |w| is {q:.3g} >= {GYRO_DEG_S_ABOVE:g} -> deg/s"
        if q <= GYRO_RAD_S_BELOW:
            return "rad/s", (f"no unit in the header; 99th percentile of |w| is {q:.3g} <= {GYRO_RAD_S_BELOW:g} "
                             "-> rad/s (pass --gyro-units deg/s if the device hardly moved)")
        if check:
            raise DataError(
                f"{where}: the angular velocity's unit is ambiguous: the 99th percentile of its magnitude is {q:.3g}, "
                "fast turning in rad/s or slow movement in deg/s; pass --gyro-units rad/s or --gyro-units deg/s")
        return "rad/s", f"no unit in the header; 99th percentile of |w| is {q:.3g}, assumed rad/s"
    return "uT", "no unit in the header, assumed uT"


def _check_stated_unit(where: str, raw: np.ndarray, times: np.ndarray, unit: str, said: str) -> None:
    """Refuse a stated acceleration unit under which no second reads as gravity while some do under the
    other unit; anything less clear is the quality check's to judge."""
    norm = np.linalg.norm(raw, axis=1)
    votes = {u: gravity_seconds(times, norm, factor) for u, factor in UNIT_FACTORS["acc"].items()}
    other = next(u for u in votes if u != unit)
    if votes[unit] == 0 and votes[other] >= MIN_GRAVITY_SECONDS:
        shown = {"g": "1 g", "m/s2": "9.8 m/s^2"}
        raise DataError(f"{where}: {said} {unit}, but no second averages about {shown[unit]} (gravity) and "
                        f"{votes[other]} s average about {shown[other]}: the file is in {other}; pass --acc-units "
                        f"{other}")


def _acc_unit(where: str, norm: np.ndarray, times: np.ndarray, check: bool) -> tuple[str, str]:
    """g or m/s^2 by the median magnitude, overruled by the seconds that read as gravity (the module
    docstring says when)."""
    m = float(np.median(norm))
    by_median = ("g" if G_MAGNITUDE[0] <= m <= G_MAGNITUDE[1] else
                 "m/s2" if MS2_MAGNITUDE[0] <= m <= MS2_MAGNITUDE[1] else None)
    votes = {unit: gravity_seconds(times, norm, factor) for unit, factor in UNIT_FACTORS["acc"].items()}
    best = max(votes, key=votes.get)
    other = next(u for u in votes if u != best)
    by_seconds = best if votes[best] >= MIN_GRAVITY_SECONDS and votes[best] > votes[other] else None
    shown = {"g": "g", "m/s2": "m/s^2"}
    if by_median is not None and by_seconds in (None, by_median):
        return by_median, f"no unit in the header; median magnitude {m:.3g} -> {shown[by_median]}"
    if by_seconds is not None:
        return by_seconds, (f"no unit in the header; median magnitude {m:.3g}, but {votes[by_seconds]} s average "
                            f"{'about 1 g' if by_seconds == 'g' else 'about 9.8 m/s^2'} (gravity), "
                            f"{votes[other]} s {'about 9.8 m/s^2' if by_seconds == 'g' else 'about 1 g'} "
                            f"-> {shown[by_seconds]}")
    if check:
        raise DataError(
            f"{where}: the median acceleration magnitude is {m:.3g} (no unit in the header): neither about 1 (g) "
            "nor about 9.8 (m/s^2), nor does any second average that. Total acceleration including gravity is "
            "needed (is gravity removed, i.e. linear acceleration? Sensor Logger's Accelerometer.csv is; use "
            "TotalAcceleration.csv); if the file is right, say its unit: --acc-units g or --acc-units m/s2")
    return "g", f"no unit in the header; median magnitude {m:.3g}, assumed g"


# --------------------------------------------------------------------------- time


def _times(table: Table, cols: _Columns, options: ReadOptions, notes: list[str]) -> np.ndarray:
    if "time" not in cols.roles:
        if "time" in options.columns:
            raise DataError(f"{table.path}: no time column {options.columns['time']!r}; found columns: {_found(table)}")
        if options.sampling_rate is None:
            raise DataError(
                f"{table.path}: no time column found (columns: {_found(table)}): name it with --time-column NAME, "
                "or pass --input-rate HZ for evenly sampled data without one")
        notes.append(f"no time column: uniform at {options.sampling_rate:g} Hz (sampling_rate) from 0 s")
        return np.arange(table.n_rows) / float(options.sampling_rate)
    col = cols.roles["time"]
    values = table.columns[col]
    name = table.header[col] if table.has_header else f"column {col + 1}"
    if values.dtype.kind == "M":
        seconds = values.astype("datetime64[ns]").astype(np.int64) / 1e9
        notes.append(f"time from {name!r}: date-times (UTC)")
        _check_order(table, col, seconds, [str(v) for v in values])
        return seconds
    if values.dtype.kind not in "fiub" and table.n_rows and _DATE_RE.match(str(values[0])):
        seconds = _parse_datetimes(table, col, notes)
        _check_order(table, col, seconds, [str(v) for v in values])
        return seconds
    raw = _finite(table, col, table.numbers(col))
    _check_order(table, col, raw)
    unit, how = _time_unit(table, col, raw, options.time_unit)
    notes.append(f"time from {name!r} in {unit} ({how})")
    return raw * TIME_UNITS[unit]


def _check_order(table: Table, col: int, t: np.ndarray, shown: list[str] | None = None) -> None:
    if t.size < 2:
        raise DataError(f"{table.path}: only one data row; a recording needs at least 2 samples")
    dt = np.diff(t)
    name = f"{table.label(col)}"
    where = f"{table.path}: "

    def show(i):
        return shown[i] if shown is not None else f"{t[i]:.10g}"

    if np.any(dt < 0):
        i = int(np.argmax(dt < 0))
        raise DataError(
            f"{where}timestamps in {name} are not sorted: {table.row_word} {table.lines[i + 1]} ({show(i + 1)}) "
            f"is earlier than {table.row_word} {table.lines[i]} ({show(i)}) before it; sort the file by time")
    if np.any(dt == 0):
        i = int(np.argmax(dt == 0))
        raise DataError(f"{where}duplicate timestamp {show(i)} in {name} at {table.row_word} {table.lines[i]} and "
                        f"{table.row_word} {table.lines[i + 1]}")


def _rates(raw: np.ndarray) -> dict[str, float]:
    dt = float(np.median(np.diff(raw)))
    return {unit: 1.0 / (dt * factor) for unit, factor in TIME_UNITS.items()}


def _time_unit(table: Table, col: int, raw: np.ndarray, given: str | None) -> tuple[str, str]:
    """The time unit (given, else from the name, else from the values) and how it was decided."""
    lo, hi = PLAUSIBLE_RATES_HZ
    rates = _rates(raw)
    plausible = [u for u, r in rates.items() if lo <= r <= hi]
    where = f"{table.path}: {table.label(col)}"
    named = _time_name_unit(table.header[col]) if table.has_header else None
    unit = given or named
    if unit is not None:
        if not lo <= rates[unit] <= hi:
            alternatives = "; ".join(f"if the times are in {u}, pass --time-unit {u} (that gives {rates[u]:.4g} Hz)"
                                     for u in plausible)
            raise DataError(f"{where}: in {unit} the sampling rate is {rates[unit]:.4g} Hz, outside the plausible "
                            f"{lo:g}-{hi:g} Hz; " + (alternatives or "check the time column"))
        return unit, "given" if given else "the column name says so"
    if len(plausible) > 1:
        epoch = [u for u in plausible if _EPOCH_S[0] <= raw[0] * TIME_UNITS[u] <= _EPOCH_S[1]]
        if len(epoch) == 1:
            return epoch[0], f"{rates[epoch[0]]:.4g} Hz, since the Unix epoch"
        choices = ", ".join(f"{u} gives {rates[u]:.4g} Hz" for u in plausible)
        raise DataError(f"{where}: the time unit is ambiguous ({choices}); pass "
                        + " or ".join(f"--time-unit {u}" for u in plausible))
    if not plausible:
        choices = ", ".join(f"{u}: {r:.4g} Hz" for u, r in rates.items())
        raise DataError(f"{where}: no time unit gives a plausible sampling rate of {lo:g}-{hi:g} Hz ({choices}); "
                        "check the time column, or pass --time-unit s|ms|us|ns")
    return plausible[0], f"the only unit giving a plausible rate, {rates[plausible[0]]:.4g} Hz"


def _parse_datetimes(table: Table, col: int, notes: list[str]) -> np.ndarray:
    out = np.empty(table.n_rows)
    naive = 0
    for i, cell in enumerate(table.columns[col]):
        text = str(cell).strip()
        if _DATE_RE.match(text):
            text = text[:10].replace("/", "-") + text[10:]
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise DataError(f"{table.where(i, col)}: {str(cell)!r} is neither a number nor a date-time "
                            "(ISO 8601, e.g. 2024-05-01 10:22:33.123 or 2024-05-01T10:22:33.123+02:00)") from None
        if moment.tzinfo is None:
            naive += 1
            moment = moment.replace(tzinfo=UTC)
        out[i] = moment.timestamp()
    zone = "no time zone given: read as UTC" if naive == len(out) else (
        "with time zones" if naive == 0 else f"{naive} without a time zone read as UTC")
    notes.append(f"time from {table.header[col]!r}: date-times, {zone}; epoch seconds")
    return out
