"""Data quality of a recording: the stretches no worn sensor gives, found on its raw samples.

:func:`assess` looks at every file of a recording (times in seconds on the recording's clock, sensors
in canonical units: acc in g, gyro in rad/s) in blocks of one second from the first sample. Suspect
stretches (excluded from the windows by default, ``--quality keep`` keeps them):

* **implausible**: the acceleration magnitude averaged over a second outside 0.5-3 g. Worn on a
  person it averages about 1 g (gravity; movement adds to it briefly): more is a loose or saturated
  sensor or a wrong unit, less is free fall, gravity removed or a wrong unit. (HAPT's 42 waist
  recordings average 0.89-1.99 g in every second.)
* **clipped**: an axis pinned at its largest magnitude, the sensor's range, in half or more of a
  second's samples (a saturated sensor). Only ranges a sensor can have count: 1.5 g and up, 2 rad/s
  and up. Peaks that touch the range in 5 samples or more are reported and kept (one of HAPT's
  recordings reaches its phone's 2 g and 10 rad/s in peaks of up to 9 samples in a second).
* **flat**: every axis of a sensor repeating exactly the same value for 3 s or more: a stuck or dead
  sensor. A person sitting still is not flat: the readings move by their noise (HAPT's longest
  repeat is 8 samples). A gyroscope counts only while the accelerometer shows movement, since a
  still device may read its rotation as exactly 0.
* **sparse**: samples missing in two or more holes (intervals of 2.5 median intervals up to a gap)
  that add up to more than half of a second, e.g. an app throttled in the background: too few
  samples to resample honestly. One longer hole is a gap that ``max_gap_s`` lets be interpolated.

Reported, not excluded: gaps longer than ``max_gap_s`` (the recording is split there, so no window
spans one) and irregular sampling (jitter), which resampling absorbs.

:func:`gravity_seconds` counts the seconds whose average magnitude is about 1 g in a given unit: how
the reader tells g from m/s^2 on the plausible part of a recording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["QualityReport", "Suspect", "assess", "gravity_seconds"]

BLOCK_S = 1.0  # the checks look at one second at a time
PLAUSIBLE_G = (0.5, 3.0)  # average acceleration magnitude over a second, worn by a person
GRAVITY_BAND_G = (0.8, 1.25)  # ... of a second that reads as gravity plus ordinary movement (unit detection)
MIN_RANGE = {"acc": 1.5, "gyro": 2.0}  # the smallest sensor range that clipping can be at (g, rad/s)
CLIPPED_SHARE = 0.5  # share of a second's samples pinned at the range
CLIPPED_PEAK_SAMPLES = 5  # samples at the range worth a note (two equal maxima are common)
FLAT_S = 3.0  # exact repeats of every axis for this long: a stuck sensor
MOVING_STD_G = 0.02  # the accelerometer's magnitude varies more than this over a second: the device moves
SPARSE_SHARE = 0.5  # share of a second missing in holes
HOLE_INTERVALS = 2.5  # an interval this many median intervals long is a hole (samples missing)
JITTER_REPORTED = 0.25  # intervals straying more than this (relative) from the median are reported
REASONS = {
    "implausible": "implausible acceleration",
    "clipped": "clipped at the sensor's range",
    "flat": "no change at all (a stuck sensor)",
    "sparse": "samples missing",
}


@dataclass(frozen=True)
class Suspect:
    """A suspect stretch ``[start, end)`` (seconds, the recording's clock): ``reason`` (a key of
    :data:`REASONS`), ``detail`` (what was seen), the file it was seen in and the ``sensors`` it concerns."""

    start: float
    end: float
    reason: str
    detail: str
    source: str = ""
    sensors: tuple[str, ...] = ()

    def describe(self, origin: float = 0.0, source: bool = True) -> str:
        """``start-end s reason: detail in file``, times from ``origin``; ``source``: name the file."""
        where = f" in {self.source}" if self.source and source else ""
        return (f"{self.start - origin:.1f}-{self.end - origin:.1f} s {REASONS[self.reason]}: "
                f"{self.detail}{where}")


@dataclass(frozen=True)
class QualityReport:
    """What :func:`assess` found: ``suspects`` (excluded from windows unless kept) and ``notes``
    (reported only)."""

    suspects: tuple[Suspect, ...] = ()
    notes: tuple[str, ...] = ()

    def excluded(self) -> list[tuple[float, float]]:
        """The suspect stretches as sorted, merged ``(start, end)`` intervals."""
        out: list[list[float]] = []
        for s in sorted(self.suspects, key=lambda s: s.start):
            if out and s.start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], s.end)
            else:
                out.append([s.start, s.end])
        return [(a, b) for a, b in out]

    def describe(self, origin: float = 0.0) -> list[str]:
        """One line per suspect stretch (times from ``origin``), then the notes."""
        return [s.describe(origin) for s in self.suspects] + list(self.notes)

    def only(self, sensors: Sequence[str]) -> QualityReport:
        """The report on these sensors: suspects that concern none of them are left out."""
        return QualityReport(tuple(s for s in self.suspects if set(s.sensors) & set(sensors)), self.notes)


def assess(parts: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
           max_gap_s: float | None = None) -> QualityReport:
    """The quality of one recording given as ``(source, times, sensors)`` per file (see the module
    docstring); ``max_gap_s``: longer intervals are gaps (None: none are)."""
    origin = min(float(t[0]) for _, t, _ in parts)
    moving = _moving_blocks(parts, origin)
    suspects: list[Suspect] = []
    notes: list[str] = []
    for source, t, sensors in parts:
        name = Path(source).name if source else ""
        blocks = np.floor((t - origin) / BLOCK_S).astype(np.int64)
        if "acc" in sensors:
            suspects += _implausible(t, blocks, origin, np.linalg.norm(sensors["acc"], axis=1), name)
        for sensor in ("acc", "gyro"):
            if sensor in sensors:
                found, peaks = _clipped(t, blocks, origin, sensor, sensors[sensor], name)
                suspects += found
                notes += peaks
        for sensor in ("acc", "gyro", "mag"):
            if sensor in sensors:
                suspects += _flat(t, blocks, sensor, sensors[sensor], name, None if sensor == "acc" else moving,
                                  origin)
        found, timing = _timing(t, blocks, origin, name, max_gap_s, tuple(sensors))
        suspects += found
        notes += timing
    return QualityReport(tuple(sorted(suspects, key=lambda s: (s.start, s.reason))), tuple(notes))


def gravity_seconds(times: np.ndarray, magnitude: np.ndarray, scale: float) -> int:
    """How many seconds of a recording average a magnitude of about 1 g (gravity plus ordinary
    movement) when ``magnitude * scale`` is in g; stuck stretches (:data:`FLAT_S`) do not count."""
    keep = ~_repeats(magnitude[:, None], times)
    blocks = np.floor((times - times[0]) / BLOCK_S).astype(np.int64)[keep]
    if not blocks.size:
        return 0
    counts = np.bincount(blocks)
    means = np.bincount(blocks, weights=magnitude[keep] * scale) / np.maximum(counts, 1)
    lo, hi = GRAVITY_BAND_G
    return int(np.sum((counts > 0) & (means >= lo) & (means <= hi)))


# --------------------------------------------------------------------------- the checks


def _block_stats(blocks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block from 0: sample count, mean and standard deviation of ``values``."""
    counts = np.bincount(blocks)
    safe = np.maximum(counts, 1)
    mean = np.bincount(blocks, weights=values) / safe
    square = np.bincount(blocks, weights=values * values) / safe
    return counts, mean, np.sqrt(np.maximum(square - mean * mean, 0.0))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _block_suspects(bad: np.ndarray, t: np.ndarray, origin: float, reason: str, source: str,
                    detail, sensors: tuple[str, ...]) -> list[Suspect]:
    """One suspect per run of bad blocks, clipped to the file's span; ``detail(a, b)`` describes blocks a..b-1."""
    end = float(t[-1] + np.median(np.diff(t)))
    return [Suspect(max(origin + a * BLOCK_S, float(t[0])), min(origin + b * BLOCK_S, end), reason, detail(a, b),
                    source, sensors) for a, b in _runs(bad)]


def _implausible(t, blocks, origin, magnitude, source) -> list[Suspect]:
    counts, mean, _ = _block_stats(blocks, magnitude)
    lo, hi = PLAUSIBLE_G
    bad = (counts > 0) & ((mean < lo) | (mean > hi))

    def detail(a: int, b: int) -> str:
        seen = mean[a:b][counts[a:b] > 0]
        return f"acc magnitude averages {seen.min():.2g}-{seen.max():.2g} g over each second"

    return _block_suspects(bad, t, origin, "implausible", source, detail, ("acc",))


def _clipped(t, blocks, origin, sensor, values, source) -> tuple[list[Suspect], list[str]]:
    unit = "g" if sensor == "acc" else "rad/s"
    suspects, notes = [], []
    counts = np.bincount(blocks)
    for axis, name in enumerate("xyz"):
        column = np.abs(values[:, axis])
        top = float(column.max())
        if top < MIN_RANGE[sensor]:
            continue
        pinned = column == top
        if pinned.sum() < CLIPPED_PEAK_SAMPLES:
            continue
        share = np.bincount(blocks, weights=pinned) / np.maximum(counts, 1)
        bad = share >= CLIPPED_SHARE
        suspects += _block_suspects(bad, t, origin, "clipped", source,
                                    lambda a, b, name=name, top=top: f"{sensor} {name} pinned at {top:.4g} {unit}",
                                    (sensor,))
        peaks = int(pinned[~bad[blocks]].sum())
        if peaks:
            notes.append(f"{source + ': ' if source else ''}{sensor} {name} touches {top:.4g} {unit} (its range?) "
                         f"in {peaks} samples of short peaks: kept")
    return suspects, notes


def _repeats(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Samples in runs where every column repeats exactly for :data:`FLAT_S` seconds or more."""
    same = np.all(np.diff(values, axis=0) == 0, axis=1)
    edges = np.flatnonzero(np.diff(np.r_[0, same.astype(np.int8), 0]))
    first, last = edges[::2], edges[1::2]  # samples first..last are equal
    long = t[last] - t[first] >= FLAT_S
    marks = np.zeros(len(values) + 1, dtype=np.int64)
    np.add.at(marks, first[long], 1)
    np.add.at(marks, last[long] + 1, -1)
    return np.cumsum(marks[:-1]) > 0


def _flat(t, blocks, sensor, values, source, moving: np.ndarray | None, origin: float) -> list[Suspect]:
    flat = _repeats(values, t)
    out = []
    step = float(np.median(np.diff(t)))
    for a, b in _runs(flat):
        if moving is not None and moving.size:
            spanned = moving[blocks[a]:min(blocks[b - 1] + 1, moving.size)]
            if not spanned.any():
                continue  # a still device: its gyroscope may read exactly 0
        shown = ", ".join(f"{v:.4g}" for v in values[a])
        out.append(Suspect(float(t[a]), float(t[b - 1] + step), "flat", f"{sensor} stays at exactly ({shown})",
                           source, (sensor,)))
    return out


def _moving_blocks(parts, origin: float) -> np.ndarray:
    """Per block (from ``origin``): whether the accelerometer shows movement; empty without one."""
    for _, t, sensors in parts:
        if "acc" in sensors:
            blocks = np.floor((t - origin) / BLOCK_S).astype(np.int64)
            _, _, std = _block_stats(blocks, np.linalg.norm(sensors["acc"], axis=1))
            return std > MOVING_STD_G
    return np.zeros(0, dtype=bool)


def _timing(t, blocks, origin, source, max_gap_s, sensors) -> tuple[list[Suspect], list[str]]:
    """Sparse stretches (excluded), and gaps and jitter (reported)."""
    dt = np.diff(t)
    step = float(np.median(dt))
    where = f"{source}: " if source else ""
    notes = []
    gap = dt > max_gap_s if max_gap_s is not None else np.zeros(dt.size, dtype=bool)
    if gap.any():
        longest = int(np.argmax(np.where(gap, dt, 0)))
        notes.append(f"{where}{int(gap.sum())} gap(s) longer than {max_gap_s:g} s (longest {dt[longest]:.3g} s at "
                     f"{t[longest] - origin:.1f} s): no window spans a gap")
    hole = (dt > HOLE_INTERVALS * step) & ~gap
    size = int(blocks[-1]) + 1
    missing = np.bincount(blocks[:-1], weights=np.where(hole, dt - step, 0.0), minlength=size)
    holes = np.bincount(blocks[:-1], weights=hole, minlength=size)
    suspects = _block_suspects((missing > SPARSE_SHARE * BLOCK_S) & (holes >= 2), t, origin, "sparse", source,
                               lambda a, b: f"less than half of the samples at {1 / step:.4g} Hz", sensors)
    regular = dt[~gap & ~hole]
    stray = np.abs(regular / step - 1.0) > JITTER_REPORTED
    if stray.any():
        notes.append(f"{where}irregular sampling: {100 * stray.mean():.2g}% of the intervals stray more than "
                     f"{100 * JITTER_REPORTED:g}% from the median {1000 * step:.4g} ms (resampled)")
    return suspects, notes
