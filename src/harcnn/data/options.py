"""The data options, declared once: how a dataset's windows are made and labelled (``dataset``), and
how recording files are read (``reading``).

Each option is a :class:`~harcnn.core.settings.Setting` with its kind (type and range), help and
command-line flag; the CLI's options, their help and the checks of every value come from here, as
they do for the model and training settings. A default of None means "not given": the data decides
(a recording's units are detected, a folder's ``labels.csv`` is found, windows are 2.56 s at 50 Hz).

Loaders take one :class:`DataOptions` (which holds a :class:`ReadingOptions`); which options a
source kind takes is part of its registration (:mod:`harcnn.data.sources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from harcnn.core.errors import DataError
from harcnn.core.settings import Choice, Float, Setting, SettingError, Text
from harcnn.data.bodyframe import FRAMES
from harcnn.data.recordings import QUALITY_CHOICES

__all__ = ["DATASET_OPTIONS", "FORMER_NAMES", "READING_OPTIONS", "WINDOW_OPTIONS", "DataOptions", "ReadingOptions",
           "data_options"]

_POSITIVE = Float(0, low_open=True)


def _option(name: str, kind, help: str, group: str, flag: str = "", metavar: str = "VALUE") -> Setting:
    return Setting(name, kind, None, help, group, flag, metavar)


#: How the windows of a dataset are made and labelled.
DATASET_OPTIONS: Mapping[str, Setting] = MappingProxyType({s.name: s for s in (
    _option("classes", Choice(("basic", "all")),
            "HAPT: the 6 basic activities (default) or all 12 with the postural transitions", "dataset"),
    _option("sampling_rate", _POSITIVE, "recordings: the windows' rate (default 50); a .npz: its windows' rate",
            "dataset", "--rate", "HZ"),
    _option("window_seconds", _POSITIVE, "recordings: window length (default 2.56 s)", "dataset", "--window",
            "SECONDS"),
    _option("step_seconds", _POSITIVE, "recordings and .npz: seconds between window starts (default half a window)",
            "dataset", "--step", "SECONDS"),
    _option("labels", Text("a labels table"), "recordings: a segments table (recording, start, end, label; default "
            "labels.csv in the folder)", "dataset", metavar="TABLE"),
    _option("labels_unit", Choice(("s", "samples")),
            "recordings: unit of the segments table's start and end (default s)", "dataset"),
    _option("label_column", Text("a column name"),
            "recordings: the per-sample label column (default label or activity)", "dataset", metavar="NAME"),
    _option("label_policy", Choice(("pure", "majority")), "recordings: drop windows that straddle a label change "
            "(pure, the default) or label them by majority", "dataset"),
    _option("subjects", Text("a table or a pattern"), "recordings: a subjects table (recording, subject), or a "
            "regular expression on the recording names with one group (default subjects.csv, or the first folder "
            "of each name)", "dataset", metavar="TABLE|PATTERN"),
    _option("sensors", Text("comma-separated sensor names"),
            "recordings and HAPT: which sensors, e.g. acc (default: all they share)", "dataset", metavar="S1,S2"),
    _option("frame", Choice(FRAMES), "recordings, HAPT and UCI HAR: the axes of the 3-axis sensors: phone (as "
            "recorded, the default) or body (each recording turned into its body frame, estimated from its "
            "walking, so that a model serves a phone worn in any orientation; UCI HAR's windows are in it already)",
            "dataset"),
    _option("gyro_drift", _POSITIVE, "recordings: remove the gyroscope's drift below this many Hz, as UCI HAR and "
            "HAPT were (0.1; default: not removed)", "dataset", "--gyro-drift", "HZ"),
    _option("class_names", Text("comma-separated names"), ".npz: names of its integer labels' classes", "dataset",
            metavar="A,B,..."),
    _option("channel_names", Text("comma-separated names"), ".npz: names of its windows' channels", "dataset",
            metavar="A,B,..."),
)})

#: How recording files are read (each detected when not given; what was assumed is printed).
READING_OPTIONS: Mapping[str, Setting] = MappingProxyType({s.name: s for s in (
    _option("time_column", Text("a column name"), "recordings: the time column's name", "reading", metavar="NAME"),
    _option("time_unit", Choice(("s", "ms", "us", "ns")),
            "recordings: unit of the time column (numbers since the start or an epoch)", "reading"),
    _option("acc_units", Choice(("g", "m/s2")), "recordings: acceleration unit", "reading"),
    _option("gyro_units", Choice(("rad/s", "deg/s")), "recordings: angular velocity unit", "reading"),
    _option("input_rate", _POSITIVE, "recordings without a time column: their sampling rate", "reading",
            metavar="HZ"),
    _option("quality", Choice(QUALITY_CHOICES), "recordings: exclude (the default; predict: the model's rule) or "
            "keep the stretches the quality check finds suspect: implausible acceleration, clipping at the sensor's "
            "range, a stuck sensor, missing samples", "reading"),
)})

#: The options that decide how windows are made (as opposed to where labels and subjects are found):
#: a model keeps the ones its training data was loaded with, to load other data the same way.
WINDOW_OPTIONS = ("classes", "sampling_rate", "window_seconds", "step_seconds", "sensors", "frame", "gyro_drift",
                  "quality")

#: Names that saved models of earlier versions used for data options.
FORMER_NAMES = MappingProxyType({"window": "window_seconds", "step": "step_seconds", "unit": "labels_unit"})


def _checked(cls, values: Mapping[str, Any], schema: Mapping[str, Setting]) -> dict[str, Any]:
    converted = {}
    for name, value in values.items():
        name = FORMER_NAMES.get(name, name)
        if name not in schema:
            raise DataError(f"unknown {cls.__name__} option {name!r}; the options are: {', '.join(schema)}")
        setting = schema[name]
        try:
            converted[name] = setting.convert(value)
        except SettingError:
            raise DataError(f"{setting.flag} {value!r} is not allowed: {setting.flag} takes "
                            f"{setting.kind.describe()}") from None
    return converted


@dataclass(frozen=True)
class ReadingOptions:
    """How recording files are read (:data:`READING_OPTIONS`; None: detected)."""

    time_column: str | None = None
    time_unit: str | None = None
    acc_units: str | None = None
    gyro_units: str | None = None
    input_rate: float | None = None
    quality: str | None = None

    def __post_init__(self) -> None:
        for name, value in _checked(type(self), {f.name: getattr(self, f.name) for f in fields(self)},
                                    READING_OPTIONS).items():
            object.__setattr__(self, name, value)

    def given(self) -> dict[str, Any]:
        """The options that were given (not None), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def keywords(self) -> dict[str, Any]:
        """The given options as :func:`harcnn.data.recordings.load_recording` takes them (all but ``quality``,
        which decides what becomes windows)."""
        return {("sampling_rate" if name == "input_rate" else name): value for name, value in self.given().items()
                if name != "quality"}


@dataclass(frozen=True)
class DataOptions:
    """Every data option of a dataset (:data:`DATASET_OPTIONS`) and how its files are read
    (``reading``); None: not given."""

    classes: str | None = None
    sampling_rate: float | None = None
    window_seconds: float | None = None
    step_seconds: float | None = None
    labels: str | None = None
    labels_unit: str | None = None
    label_column: str | None = None
    label_policy: str | None = None
    subjects: str | None = None
    sensors: str | None = None
    frame: str | None = None
    gyro_drift: float | None = None
    class_names: str | None = None
    channel_names: str | None = None
    reading: ReadingOptions = field(default_factory=ReadingOptions)

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "reading"}
        for name, value in _checked(type(self), values, DATASET_OPTIONS).items():
            object.__setattr__(self, name, value)

    def given(self) -> dict[str, Any]:
        """Every option that was given (not None), reading options included, by name."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name != "reading" and getattr(self, f.name) is not None}
        return {**out, **self.reading.given()}

    def window_options(self) -> dict[str, Any]:
        """The given :data:`WINDOW_OPTIONS` (what a model keeps of how its data was loaded)."""
        return {k: v for k, v in self.given().items() if k in WINDOW_OPTIONS}


def data_options(values: Mapping[str, Any] | None = None, **more: Any) -> DataOptions:
    """A :class:`DataOptions` from any mix of dataset and reading options by name (None values are left
    out; names saved by earlier versions, ``window``/``step``/``unit``, are understood)."""
    given = {FORMER_NAMES.get(k, k): v for k, v in {**(values or {}), **more}.items() if v is not None}
    unknown = sorted(set(given) - set(DATASET_OPTIONS) - set(READING_OPTIONS))
    if unknown:
        raise DataError(f"unknown data option {', '.join(map(repr, unknown))}; the options are: "
                        f"{', '.join([*DATASET_OPTIONS, *READING_OPTIONS])}")
    reading = ReadingOptions(**{k: v for k, v in given.items() if k in READING_OPTIONS})
    return DataOptions(**{k: v for k, v in given.items() if k in DATASET_OPTIONS}, reading=reading)
