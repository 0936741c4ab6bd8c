"""The dataset concept: labelled windows, who and when they come from, and how they were made.

A :class:`Dataset` holds windows ``X [n, T, C]`` (float32), class indices ``y [n]``, the subject
(group) of every window, optionally the recording and start time of every window and an official
split, and its :class:`InputSpec`: sampling rate, window length and step, channel names and
units, class names, and the preprocessing that turned raw recordings into these windows (which is
what a saved model applies to a new recording). Its ``fingerprint`` identifies the data (the
arrays' content and the spec), so results always say which data made them.

Each source kind (:class:`SourceKind`) has a module of its own under ``data/``;
:func:`harcnn.data.sources.load_dataset` picks one by what a path holds or by name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import DataError
from harcnn.core.provenance import digest


@dataclass(frozen=True)
class InputSpec:
    """What a model's input is: every window is ``window`` samples of ``channels`` at ``sampling_rate``
    Hz (None: unknown), a new one every ``step`` samples; ``preprocessing`` is how raw sensor signals
    become these channels (a :class:`harcnn.data.windows.PreprocessConfig` as plain data plus the
    sensors it reads), or None when the windows came as they are and no recording can be prepared
    the same way."""

    sampling_rate: float | None
    window: int
    step: int
    channels: tuple[str, ...]
    units: tuple[str, ...]
    classes: tuple[str, ...]
    preprocessing: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        object.__setattr__(self, "units", tuple(str(u) for u in self.units))
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if not ((self.sampling_rate is None or self.sampling_rate > 0) and self.window >= 1 and self.step >= 1):
            raise DataError(f"input spec: sampling rate, window and step must be positive, got {self.sampling_rate}, "
                            f"{self.window}, {self.step}")
        if len(self.units) != len(self.channels):
            raise DataError(f"input spec: {len(self.units)} units for {len(self.channels)} channels")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise DataError(f"input spec: need at least 2 distinct class names, got {list(self.classes)}")
        if len(set(self.channels)) != len(self.channels):
            raise DataError(f"input spec: duplicate channel names in {list(self.channels)}")

    @property
    def window_seconds(self) -> float | None:
        return None if self.sampling_rate is None else self.window / self.sampling_rate

    @property
    def step_seconds(self) -> float | None:
        return None if self.sampling_rate is None else self.step / self.sampling_rate

    @property
    def overlap(self) -> float:
        """The fraction of each window that the next one repeats (0 when windows do not overlap)."""
        return max(0.0, 1.0 - self.step / self.window)

    def model_inputs(self) -> dict[str, Any]:
        """The input description a model is built with (see :data:`harcnn.models.INPUT_ARGS`)."""
        return {"window": self.window, "n_channels": len(self.channels), "n_classes": len(self.classes),
                "sampling_rate": self.sampling_rate, "channel_names": list(self.channels)}

    def to_dict(self) -> dict[str, Any]:
        return {"sampling_rate": self.sampling_rate, "window": self.window, "step": self.step,
                "channels": list(self.channels), "units": list(self.units), "classes": list(self.classes),
                "preprocessing": None if self.preprocessing is None else dict(self.preprocessing)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSpec:
        try:
            rate = None if data["sampling_rate"] is None else float(data["sampling_rate"])
            values = (rate, int(data["window"]), int(data["step"]), tuple(data["channels"]), tuple(data["units"]),
                      tuple(data["classes"]), data.get("preprocessing"))
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"malformed input description ({type(error).__name__}: {error})") from None
        return cls(*values)  # its own checks name what is wrong (a DataError, a ValueError too, is not re-worded)

    def differences(self, other: InputSpec, *, classes: bool = True) -> list[str]:
        """How windows made as ``other`` says differ from windows made as this spec says, one phrase each
        (empty when a model of this spec can take them; the step between windows does not matter, and
        the classes only with ``classes``)."""
        out = []
        names = ("sampling_rate", "window", "channels", "units", "classes", "preprocessing")
        for name in names if classes else [n for n in names if n != "classes"]:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "preprocessing" and (mine is None or theirs is None):
                continue  # windows given as they are: nothing to compare
            if mine != theirs:
                show = (lambda v: ", ".join(map(str, v)) if isinstance(v, tuple) else v)  # noqa: E731
                if name == "preprocessing":
                    keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                    out.append("preprocessing " + ", ".join(f"{k} {theirs.get(k)} (not {mine.get(k)})" for k in keys))
                else:
                    out.append(f"{name.replace('_', ' ')} {show(theirs)} (not {show(mine)})")
        return out

    def describe(self) -> str:
        timing = (f"{self.window} samples ({self.window_seconds:g} s) every {self.step} at {self.sampling_rate:g} Hz"
                  if self.sampling_rate is not None else f"{self.window} samples every {self.step} (rate unknown)")
        return f"{timing}; {len(self.channels)} channels; {len(self.classes)} classes"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled windows with their subjects and :class:`InputSpec` (see the module docstring).

    ``subject`` may hold integers or strings; ``recording`` (which recording a window was cut from)
    and ``start`` (its start in seconds since the recording's first sample) are None when unknown; ``split``
    holds the official split ("train"/"test") where the dataset has one. ``extras`` are further
    per-window arrays (UCI HAR's 561 engineered features: ``extras["features"]``, NaN where absent).
    ``notes`` say what the loader assumed or did; ``warnings`` what the user should know before using the
    data (what the quality check left out, a table's unused columns): every command prints them.
    """

    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    spec: InputSpec
    name: str
    source: str
    recording: np.ndarray | None = None
    start: np.ndarray | None = None
    split: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the loader assumed or did, one line each
    warnings: tuple[str, ...] = ()  # what the user should know, one line each
    loaded_with: Mapping[str, Any] = field(default_factory=dict)  # {"kind", "options"} (see load_dataset)

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        X = self.X
        if not isinstance(X, np.ndarray) or X.ndim != 3:
            raise DataError(f"{where}windows must be an array [n, time steps, channels], got shape "
                            f"{getattr(X, 'shape', None)}")
        n = len(X)
        if X.shape[1:] != (self.spec.window, len(self.spec.channels)):
            raise DataError(f"{where}windows of shape {list(X.shape[1:])} do not match the input spec "
                            f"({self.spec.window} samples x {len(self.spec.channels)} channels)")
        for name in ("y", "subject", "recording", "start", "split", *self.extras):
            value = self.extras[name] if name in self.extras else getattr(self, name)
            if value is not None and len(value) != n:
                raise DataError(f"{where}{name} has {len(value)} entries for {n} windows")
        y = np.asarray(self.y)
        if n and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(self.spec.classes)):
            raise DataError(f"{where}labels must be class indices 0..{len(self.spec.classes) - 1}")
        if X.dtype != np.float32:
            object.__setattr__(self, "X", X.astype(np.float32))
        object.__setattr__(self, "y", y.astype(np.int64, copy=False))
        object.__setattr__(self, "subject", np.asarray(self.subject))

    def __len__(self) -> int:
        return len(self.y)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self.spec.channels

    @property
    def subjects(self) -> np.ndarray:
        return np.unique(self.subject)

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the windows, labels, subjects and official split, and of the spec."""
        h = hashlib.sha256()
        for array in (self.X, self.y, self.subject.astype(str), self.split):
            if array is not None:
                h.update(np.ascontiguousarray(array).tobytes())
        return digest({"arrays": h.hexdigest(), "spec": self.spec.to_dict()})

    def identity(self) -> dict[str, Any]:
        """How results name their data: name, source, fingerprint, size, spec, and how it was loaded."""
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint, "windows": len(self),
                "subjects": len(self.subjects), "spec": self.spec.to_dict(), **self.loaded_with}

    def subset(self, index: np.ndarray | Sequence[int]) -> Dataset:
        """The windows at ``index`` (a boolean mask or indices), everything else kept."""
        index = np.asarray(index)
        pick = (lambda a: None if a is None else a[index])
        return replace(self, X=self.X[index], y=self.y[index], subject=self.subject[index],
                       recording=pick(self.recording), start=pick(self.start), split=pick(self.split),
                       extras={k: v[index] for k, v in self.extras.items()})

    def part(self, split: str) -> Dataset:
        """The windows of one official split ("train" or "test")."""
        if self.split is None:
            raise DataError(f"{self.name} data from {self.source} has no official split; choose a "
                            "cross-validation by subject instead (e.g. --cv subjects:5)")
        mask = self.split == split
        if not mask.any():
            raise DataError(f"{self.source}: the official split has no {split!r} windows")
        return self.subset(mask)

    @property
    def train(self) -> Dataset:
        return self.part("train")

    @property
    def test(self) -> Dataset:
        return self.part("test")

    def describe(self) -> str:
        """A multi-line summary: source, spec, windows per class and per subject (and split)."""
        lines = [f"{self.name} dataset from {self.source}", f"fingerprint: {self.fingerprint}",
                 f"windows: {len(self)} x {self.spec.describe()}",
                 f"channels: {', '.join(f'{c} ({u})' for c, u in zip(self.spec.channels, self.spec.units))}"]
        lines += list(self.notes)
        parts = {"all": self} if self.split is None else {s: self.part(s) for s in dict.fromkeys(self.split.tolist())}
        width = max(len(c) for c in self.class_names) + 4
        digits = len(str(len(self.class_names) - 1)) + 1  # the index column: '9 ' or '10 '
        lines.append(f"{'class':<{width}}" + "".join(f"{name:>8}" for name in parts))
        for index, class_name in enumerate(self.class_names):
            lines.append(f"{index:<{digits}}{class_name:<{width - digits}}"
                         + "".join(f"{int(np.sum(p.y == index)):>8}" for p in parts.values()))
        lines.append(f"{'total':<{width}}" + "".join(f"{len(p):>8}" for p in parts.values()))
        for name, part in parts.items():
            ids, counts = np.unique(part.subject, return_counts=True)
            lines.append(f"{name} subjects ({len(ids)}, windows each):")
            lines.extend(_pack([f"{i} ({c})" for i, c in zip(ids, counts)], indent="    ", width=100))
        return "\n".join(lines)


def concatenate(datasets: Sequence[Dataset], *, name: str, source: str) -> Dataset:
    """The windows of several datasets as one: their specs must agree but for the classes, which are the
    union (in order of appearance; labels renumbered); ``recording`` and ``start`` are kept where every
    dataset has them, the official split nowhere. Subjects keep their ids (the same id is the same person)."""
    first = datasets[0].spec
    for other in datasets[1:]:
        differences = first.differences(other.spec, classes=False)
        if differences:
            raise DataError(f"cannot join {other.name} to {datasets[0].name}: {'; '.join(differences)}")
    classes = tuple(dict.fromkeys(c for d in datasets for c in d.class_names))
    y = np.concatenate([np.array([classes.index(c) for c in d.class_names], np.int64)[d.y] for d in datasets])
    every = (lambda name: None if any(getattr(d, name) is None for d in datasets)  # noqa: E731
             else np.concatenate([getattr(d, name) for d in datasets]))
    return Dataset(X=np.concatenate([d.X for d in datasets]), y=y,
                   subject=np.concatenate([d.subject for d in datasets]), spec=replace(first, classes=classes),
                   name=name, source=source, recording=every("recording"),
                   start=every("start"), notes=tuple(f"{d.name}: {len(d)} windows of {len(d.subjects)} subjects from "
                                                     f"{d.source}" for d in datasets))


def _pack(items: list[str], indent: str, width: int) -> list[str]:
    """Comma-separated ``items`` on lines of at most ``width`` characters, never splitting an item."""
    lines = [indent]
    for item in items:
        if len(lines[-1]) > len(indent) and len(lines[-1]) + len(item) + 2 > width:
            lines.append(indent)
        lines[-1] += item if len(lines[-1]) == len(indent) else f", {item}"
    return lines


# ------------------------------------------------------------------------------------------ source kinds


@dataclass(frozen=True)
class SourceKind:
    """One kind of data source: ``detect(path)`` says whether a path holds it; ``load(path, options,
    progress=..., download=...)`` reads it with a :class:`~harcnn.data.options.DataOptions` (``path``
    None: a dataset that can be found or downloaded). ``options`` names the data options it takes. A
    ``generic`` kind (any folder of recordings) is tried only after the specific ones. Each loader
    module defines its ``SOURCE``; :mod:`harcnn.data.sources` lists them."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[..., Dataset]
    options: tuple[str, ...] = ()
    generic: bool = False
