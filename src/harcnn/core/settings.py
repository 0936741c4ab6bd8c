"""The settings schema: every setting's type, range or choices, default and help text, in one place.

Settings come from the command line (strings), config files (TOML/YAML values) and Python; each
is converted and checked once, here, by its :class:`Setting`, with one clear message naming the
setting and what is allowed. A :class:`Config` is a complete, canonical set of values for one
model: the model's own settings (declared next to each model, see :func:`harcnn.models.register_model`)
plus the shared ones below. Its ``config_id`` hashes the canonical values, so ``0`` and ``0.0``
(or ``"3,5"`` and ``[3, 5]``) are one configuration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from harcnn.core.errors import HarcnnError

__all__ = ["Bool", "Choice", "Float", "Int", "Ints", "SHARED", "Setting", "SettingError", "Text"]


class SettingError(HarcnnError, ValueError):
    """A setting with a wrong type, an out-of-range value or an unknown choice, or an unknown setting (a
    ``ValueError`` too, as scikit-learn expects of a bad parameter)."""


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Int:
    low: int | None = None
    high: int | None = None

    def convert(self, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str):
            value = value.strip()
            number = float(value)  # "1e3" is 1000; "2.5" is refused below
        else:
            number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError
        return _in_range(int(number), self.low, self.high)

    def describe(self) -> str:
        return "an integer" + _range_words(self.low, self.high)


@dataclass(frozen=True)
class Float:
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def convert(self, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError
        number = float(value.strip() if isinstance(value, str) else value)
        if not math.isfinite(number):
            raise ValueError
        if (self.low is not None and (number < self.low or (self.low_open and number == self.low))) or \
                (self.high is not None and (number > self.high or (self.high_open and number == self.high))):
            raise ValueError
        return number

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return (f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        return "a number"


@dataclass(frozen=True)
class Bool:
    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def convert(self, value: Any) -> str:
        if isinstance(value, str) and value.strip() in self.values:
            return value.strip()
        raise ValueError

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Ints:
    """A non-empty list of integers (``"3,5,11"``, ``[3, 5, 11]``, or one number), stored as a list."""

    low: int | None = None
    high: int | None = None

    def convert(self, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):
            value = [part for part in value.replace(" ", "").split(",") if part]
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError
        return [Int(self.low, self.high).convert(v) for v in value]

    def describe(self) -> str:
        return "a comma-separated list of integers" + _range_words(self.low, self.high)


@dataclass(frozen=True)
class Text:
    """Any non-empty text (a name, a path, a pattern, a comma-separated list), stripped."""

    what: str = "a text"

    def convert(self, value: Any) -> str:
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise ValueError
        return str(value).strip()

    def describe(self) -> str:
        return self.what


Kind = Int | Float | Bool | Choice | Ints | Text


def _in_range(number: int, low: int | None, high: int | None) -> int:
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError
    return number


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    return f" >= {low}" if low is not None else ""


@dataclass(frozen=True)
class Setting:
    """One setting: its name, kind (type and range), default, help and group; ``flag`` and ``metavar``
    are its command-line option (default ``--name-with-dashes`` and ``VALUE``). A default of None means
    "not given" (detected or left to the data), and None is then a valid value."""

    name: str
    kind: Kind
    default: Any
    help: str
    group: str  # "model", "data", "training", "fine-tuning", "augmentation"; data options: "dataset", "reading"
    flag: str = ""
    metavar: str = "VALUE"

    def __post_init__(self) -> None:
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))

    def convert(self, value: Any) -> Any:
        """The canonical value, or a :class:`SettingError` naming the setting and what it accepts."""
        if value is None and self.default is None:
            return None
        try:
            return self.kind.convert(value)
        except (TypeError, ValueError, OverflowError):
            raise SettingError(f"setting {self.name}={show_value(value, quote=True)} is not allowed: "
                               f"{self.name} takes {self.kind.describe()}") from None

    def describe(self) -> str:
        if self.default is None:
            return self.kind.describe()
        return f"{self.kind.describe()}; default {show_value(self.default, quote=True)}"


def show_value(value: Any, *, quote: bool = False) -> str:
    """A setting's value as the command line spells it (``3,5``, ``true``, ``hybrid``; ``quote``: strings
    in quotes, for messages)."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if quote and isinstance(value, str) else str(value)


def _shared(name: str, kind: Kind, default: Any, group: str, help: str) -> Setting:
    return Setting(name, kind, None if default is None else kind.convert(default), help, group)


#: The settings every model has: data preparation, training and augmentation. Defaults are the reference's.
SHARED: Mapping[str, Setting] = MappingProxyType({s.name: s for s in (
    _shared("standardize", Bool(), False, "data",
            "standardize each channel (z-scores fitted on the training windows, overlap removed)"),
    _shared("validation_subjects", Int(0), 0, "data",
            "hold out this many whole training subjects for validation (curves, early stopping)"),
    _shared("epochs", Int(1, 10_000), 10, "training", "training epochs"),
    _shared("batch_size", Int(1, 100_000), 32, "training", "windows per batch"),
    _shared("learning_rate", Float(0, 10, low_open=True), 1e-3, "training", "Adam's learning rate"),
    _shared("adam_epsilon", Float(0, 10, low_open=True), 1e-7, "training", "Adam's epsilon (Keras' default)"),
    _shared("precision", Choice(("fp32", "bf16")), "fp32", "training",
            "bf16: bfloat16 autocast for the forward pass (weights and Adam stay fp32)"),
    _shared("weight_decay", Float(0, 10), 0.0, "training", "decoupled weight decay (AdamW); 0 is plain Adam"),
    _shared("label_smoothing", Float(0, 1, high_open=True), 0.0, "training", "label smoothing of the loss"),
    _shared("lr_schedule", Choice(("constant", "cosine", "onecycle")), "constant", "training",
            "learning-rate schedule: cosine decay to 0, or one-cycle warm-up then decay"),
    _shared("early_stopping", Int(0, 10_000), 0, "training",
            "patience in epochs on the validation loss, best weights restored (0: off; needs validation)"),
    _shared("init", Text("a model folder or builtin:NAME"), None, "fine-tuning",
            "fine-tune: start from this saved model (a folder from 'harcnn train --save' or 'harcnn pretrain', or "
            "builtin:phone, builtin:phone-acc): its feature extractor, input spec and standardizer; a new head for "
            "classes it does not know"),
    _shared("freeze_epochs", Int(0, 10_000), 0, "fine-tuning",
            "fine-tuning: train only the head for this many epochs, then every layer"),
    _shared("pretrained_lr", Float(0, 1, low_open=True), 1.0, "fine-tuning",
            "fine-tuning: the pretrained layers' learning rate, as a fraction of the learning rate"),
    _shared("augment_noise", Float(0, 100), 0.0, "augmentation", "Gaussian noise of this standard deviation"),
    _shared("augment_scale", Float(0, 10), 0.0, "augmentation", "scale each window by a factor from N(1, s^2)"),
    _shared("augment_rotate", Float(0, 180), 0.0, "augmentation",
            "rotate each window's x, y, z triplets by a random rotation of up to this many degrees"),
    _shared("augment_shift", Int(0, 100_000), 0, "augmentation", "roll each window by up to this many time steps"),
    _shared("augment_yaw", Float(0, 180), 0.0, "augmentation",
            "rotate each window's x, y, z triplets about the body's vertical (body-frame input) by up to this many "
            "degrees either way"),
)})

#: Named sets of settings (``--preset NAME``); options given with them win. "reference" is the
#: tutorial's baseline (every default); "best" is the most accurate recipe found so far, chosen on
#: validation subjects only (benchmarks/README.md has each step), for models meant for prediction.
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "reference": {},
    "best": {"model": "hybrid", "standardize": True, "epochs": 30, "lr_schedule": "cosine", "augment_rotate": 15.0,
             "augment_yaw": 180.0},
})

#: The data options each preset loads its data with, where the data kind takes them and the command line
#: does not say otherwise: both consume body-frame input (``frame``, :mod:`harcnn.data.options`: each
#: recording turned into its body frame; UCI HAR's windows are in it as they are), so that their models
#: serve a phone worn in any orientation.
PRESET_DATA: Mapping[str, Mapping[str, Any]] = MappingProxyType({"reference": {"frame": "body"},
                                                                 "best": {"frame": "body"}})

#: Other spellings accepted for setting names.
ALIASES = MappingProxyType({"kernel": "kernel_size", "kernels": "kernel_sizes", "lr": "learning_rate",
                            "batch": "batch_size"})


def canonical_name(name: str) -> str:
    name = str(name).strip().replace("-", "_")
    return ALIASES.get(name, name)


def parse_assignments(items: Iterable[str], what: str = "KEY=VALUE") -> dict[str, str]:
    """``["dropout=0.3", "kernel_sizes=3,5"]`` -> ``{"dropout": "0.3", "kernel_sizes": "3,5"}`` (strings;
    each setting converts its own)."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise SettingError(f"expected {what}, got {item!r}")
        values[canonical_name(key)] = raw.strip()
    return values


#: The tables of a settings file, and the command that reads each beside ``[settings]``.
FILE_TABLES = MappingProxyType({"grid": ("harcnn study custom --config", "a study of its combinations"),
                                "space": ("harcnn tune --space", "a search")})


def read_settings_file(path: str | os.PathLike, *, tables: Iterable[str] = ("settings", "grid", "space"),
                       reader: str = "") -> dict[str, Any]:
    """A TOML (or YAML, with PyYAML) file of tables: ``[settings]`` (fixed settings, and ``model``),
    ``[grid]`` (a study's values to combine), ``[space]`` (a search space); ``name`` and
    ``description`` at the top (a custom study's, otherwise they describe the file) and ``baseline``
    (one of the ``[grid]``'s configurations).

    ``tables`` are the tables the caller reads (``reader``, e.g. ``"harcnn evaluate --config"``): any
    other is an error naming the command that reads it. Every ``[settings]`` value is checked by the
    schema here, also one that the command line overrides; the settings convert them again when used."""
    import tomllib
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SettingError(f"{path} is not UTF-8 text: save it as UTF-8 (a TOML or YAML settings file)") from None
    yaml, unreadable = None, (tomllib.TOMLDecodeError, ValueError)
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SettingError(f"reading {path} needs PyYAML (pip install pyyaml), or write it as TOML") from None
        unreadable += (yaml.YAMLError,)
    try:
        data = yaml.safe_load(text) if yaml is not None else tomllib.loads(text)
    except unreadable as error:
        raise SettingError(f"{path} is not valid: {error}") from None
    if not isinstance(data, dict):
        raise SettingError(f"{path} must hold tables such as [settings] or [grid]")
    for table in ("settings", "grid", "space"):
        if not isinstance(data.setdefault(table, {}), dict):
            raise SettingError(f"{path}: [{table}] must be a table of settings")
    known = {"settings", "grid", "space", "name", "description", "baseline"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingError(f"{path}: unknown top-level key {', '.join(map(repr, unknown))}; expected "
                           f"{', '.join(sorted(known))}")
    _check_tables(data, path, set(tables), reader)
    return data


def _check_tables(data: Mapping[str, Any], path: os.PathLike, tables: set[str], reader: str) -> None:
    """A table the reader does not read is an error naming the command that does."""
    reads = " and ".join(f"[{t}]" for t in ("settings", "grid", "space") if t in tables)
    for table, (command, what) in FILE_TABLES.items():
        if data[table] and table not in tables:
            raise SettingError(f"{path}: a [{table}] table is for '{command} {path}' ({what}); "
                               f"'{reader}' reads {reads} only")
    if "baseline" in data and "grid" not in tables:
        raise SettingError(f"{path}: baseline names one configuration of a [grid] table, for "
                           f"'{FILE_TABLES['grid'][0]} {path}'; '{reader}' reads {reads} only")
