"""A small example folder of labelled phone recordings, to try every command on (``harcnn data example``).

It is laid out the way people's own data usually is: one folder per person; some recordings exported
by a phone app as one file per sensor (``TotalAcceleration.csv`` in m/s^2 and ``Gyroscope.csv``, with
nanosecond epoch times and their own jittery rates of about 100 and 200 Hz), others as one CSV
(``time_s, acc_x..z`` in g, ``gyro_x..z`` in rad/s at 50 Hz); a ``labels.csv`` table of activity
segments in seconds, with unlabelled gaps between them. The signals are synthetic: walking (a 2 Hz
gait bounce, the forward acceleration leading it by a third of a step, and a sway), standing and
sitting (still, the phone in two orientations) and lying (gravity along another axis), each person
with a gait rate and posture of their own.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harcnn.core.outputs import OutputKind, check_output, write_folder
from harcnn.data.windows import STANDARD_GRAVITY

ACTIVITIES = ("walking", "standing", "sitting", "lying")
GRAVITY = {"walking": (1.0, 0.0, 0.0), "standing": (1.0, 0.0, 0.0), "sitting": (0.93, 0.0, 0.37),
           "lying": (0.05, 0.99, 0.1)}
EPOCH_NS = 1_733_000_000_000_000_000  # recordings start in December 2024
FILE_RATE = 50.0  # Hz of the one-file recordings (the per-sensor exports run at 100 and 200 Hz)

#: The example folder: written into a new or empty folder only, never over anything.
EXAMPLE_FOLDER = OutputKind("example folder", folder=True)


def _signal(activity: str, t: np.ndarray, person: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Acceleration (g) and angular velocity (rad/s) of one activity at times ``t``."""
    tilt = np.deg2rad(10 * (person - 1.5))
    g = np.array(GRAVITY[activity], dtype=np.float64)
    g = np.array([g[0] * np.cos(tilt) - g[2] * np.sin(tilt), g[1], g[0] * np.sin(tilt) + g[2] * np.cos(tilt)])
    acc = np.tile(g / np.linalg.norm(g), (len(t), 1)) + 0.01 * rng.standard_normal((len(t), 3))
    gyro = 0.02 * rng.standard_normal((len(t), 3))
    if activity == "walking":
        step_hz = 1.8 + 0.1 * person
        phase = rng.uniform(0, 2 * np.pi)
        acc[:, 0] += 0.35 * np.sin(2 * np.pi * step_hz * t + phase)
        acc[:, 1] += 0.2 * np.sin(2 * np.pi * step_hz * t + phase + 2 * np.pi / 3)  # forward, as people walk
        acc[:, 2] += 0.12 * np.sin(np.pi * step_hz * t + phase)
        gyro[:, 1] += 0.8 * np.sin(np.pi * step_hz * t + phase)
    else:
        acc += 0.02 * np.sin(2 * np.pi * 0.25 * t)[:, None]  # breathing, small shifts
    return acc, gyro


def _plan(rng: np.random.Generator) -> list[tuple[str, float]]:
    """Activities and their durations (s) for one recording, with 3 s unlabelled gaps between them."""
    order = list(rng.permutation(ACTIVITIES))
    return [(activity, float(rng.uniform(25, 40))) for activity in order]


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray], formats: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in zip(*columns):
            writer.writerow([f % v for f, v in zip(formats, row)])


def write_example_recordings(folder: str | Path, *, people: int = 4, recordings_per_person: int = 2,
                             seed: int = 0) -> Path:
    """Write the example folder (see the module docstring), atomically; returns it. The folder must be new
    or empty."""
    root = check_output(folder, EXAMPLE_FOLDER, option="folder")
    return write_folder(root, lambda tmp: _write_example(tmp, people, recordings_per_person, seed))


def _write_example(root: Path, people: int, recordings_per_person: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    segments = []
    for person in range(people):
        for r in range(recordings_per_person):
            name = f"person{person + 1}/rec{r + 1}"
            plan, pieces, start = _plan(rng), [], 0.0
            for activity, duration in plan:
                segments.append((name, round(start, 2), round(start + duration, 2), activity))
                pieces.append((activity, start, start + duration))
                start += duration + 3.0  # an unlabelled pause
            per_sensor = (person + r) % 2 == 0
            target = root / name
            if per_sensor:
                target.mkdir(parents=True)
                for sensor, rate in (("TotalAcceleration", 100.0), ("Gyroscope", 200.0)):
                    t = np.cumsum(rng.uniform(0.9, 1.1, int(start * rate)) / rate)
                    acc, gyro = _fill(pieces, t, person, rng)
                    values = acc * STANDARD_GRAVITY if sensor == "TotalAcceleration" else gyro
                    ns = (EPOCH_NS + t * 1e9).astype(np.int64)
                    _write_csv(target / f"{sensor}.csv", ["time", "seconds_elapsed", "z", "y", "x"],
                               [ns, t, values[:, 2], values[:, 1], values[:, 0]], ["%d", "%.6f"] + ["%.6f"] * 3)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                t = np.arange(int(start * FILE_RATE)) / FILE_RATE
                acc, gyro = _fill(pieces, t, person, rng)
                _write_csv(target.with_suffix(".csv"), ["time_s", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y",
                                                        "gyro_z"], [t, *acc.T, *gyro.T], ["%.3f"] + ["%.5f"] * 6)
    _write_csv(root / "labels.csv", ["recording", "start", "end", "label"], list(map(list, zip(*segments))),
               ["%s", "%.2f", "%.2f", "%s"])


def _fill(pieces: list[tuple[str, float, float]], t: np.ndarray, person: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The signals of a recording at times ``t``: each planned activity, and still standing in the pauses."""
    acc, gyro = _signal("standing", t, person, rng)
    for activity, a, b in pieces:
        inside = (t >= a) & (t < b)
        acc[inside], gyro[inside] = _signal(activity, t[inside] - a, person, rng)
    return acc, gyro
