"""Self-supervised pretraining data: windows without labels, given labels of their own.

The pretext tasks are those of Yuan et al. (2024), "Self-supervised learning for human activity
recognition using 700,000 person-days of wearable data" (npj Digital Medicine 7, 91): each window is,
or is not, played backwards (arrow of time), cut into chunks put in another order (permutation), and
stretched and compressed along a smooth random curve (time warp). A network that tells which of the
three happened to a window has learned what real movement looks like, without a single activity label.
The three yes/no tasks are one label here, of :data:`PRETEXT_CLASSES` (8 classes), so that any
registered network trains on them as on activities, through the one training path, and its saved
model is a starting point like any other (``--init``).

The windows come from any data harcnn reads: every window of a folder or zip of recordings or of HAPT's
recordings, labelled or not (the stretches between labelled segments count), or the windows of any
other dataset (UCI HAR, a ``.npz``), their labels unused.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.dataset import Dataset
from harcnn.data.options import DataOptions

__all__ = ["PRETEXT_CLASSES", "pretext_dataset", "unlabelled_windows"]

#: The pretext label of a window: reversed x 4 + permuted x 2 + warped (its transformations, in words).
PRETEXT_CLASSES = tuple("+".join(name for bit, name in zip((4, 2, 1), ("reversed", "permuted", "warped")) if k & bit)
                        or "original" for k in range(8))
CHUNKS = 4  # a permuted window is cut into this many chunks (Yuan et al.: 4)
WARP_KNOTS, WARP_SIGMA = 4, 0.2  # the time warp's speed curve: a smooth curve through 4 knots of N(1, 0.2^2)


def unlabelled_windows(path: str | os.PathLike | None, kind: str | None = None,
                       options: DataOptions = DataOptions(), *, progress: bool = True) -> Dataset:
    """Every window of the data at ``path`` as class ``original`` of :data:`PRETEXT_CLASSES`: recordings
    (a folder or zip, or HAPT) whole, labelled or not; any other dataset's windows as they are."""
    from harcnn.data import hapt, recording_folder
    from harcnn.data.sources import load_dataset, source_kind

    chosen = source_kind(path, kind)
    if chosen.name == "recordings":
        return recording_folder.unlabelled_windows(path, options, PRETEXT_CLASSES)
    if chosen.name == "hapt":
        return hapt.unlabelled_windows(path, PRETEXT_CLASSES, sensors=options.sensors or "acc,gyro", progress=progress)
    dataset = load_dataset(path, chosen.name, options=options, progress=progress)
    return replace(dataset, y=np.zeros(len(dataset), np.int64), split=None, extras={},
                   spec=replace(dataset.spec, classes=PRETEXT_CLASSES))


def pretext_dataset(windows: Dataset, *, seed: int = 0, copies: int = 1) -> Dataset:
    """``copies`` transformed versions of every window of ``windows`` (its subjects kept), each with a pretext
    label drawn uniformly from :data:`PRETEXT_CLASSES` and the transformations it names applied."""
    if copies < 1:
        raise DataError(f"copies must be >= 1, got {copies}")
    if windows.spec.classes != PRETEXT_CLASSES:
        raise DataError("pretext_dataset takes the windows of unlabelled_windows (their classes are the pretext "
                        "tasks')")
    rng = np.random.default_rng(seed)
    X = np.concatenate([windows.X] * copies)
    labels = rng.integers(0, len(PRETEXT_CLASSES), len(X))
    out = X.copy()
    for i in np.flatnonzero(labels & 1):
        out[i] = time_warp(out[i], rng)
    for i in np.flatnonzero(labels & 2):
        out[i] = permute_chunks(out[i], rng)
    out[labels & 4 > 0] = out[labels & 4 > 0, ::-1]
    notes = (*windows.notes, f"pretext tasks (Yuan et al. 2024): {copies} transformed "
             f"cop{'ies' if copies > 1 else 'y'} of each of {len(windows)} windows, seed {seed}")
    return replace(windows, X=np.ascontiguousarray(out), y=labels.astype(np.int64),
                   subject=np.concatenate([windows.subject] * copies), recording=None, start=None, split=None,
                   extras={}, notes=notes, name=f"{windows.name} pretext")


def permute_chunks(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``window`` [T, C] cut at random points into :data:`CHUNKS` chunks (each at least T / 8 long), put in
    another order."""
    T = len(window)
    least = max(1, T // (2 * CHUNKS))
    cuts = np.sort(rng.choice(np.arange(least, T - least + 1), CHUNKS - 1, replace=False))
    while np.any(np.diff(cuts) < least):
        cuts = np.sort(rng.choice(np.arange(least, T - least + 1), CHUNKS - 1, replace=False))
    chunks = np.split(window, cuts)
    order = rng.permutation(CHUNKS)
    while np.all(order == np.arange(CHUNKS)):
        order = rng.permutation(CHUNKS)
    return np.concatenate([chunks[k] for k in order])


def time_warp(window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``window`` [T, C] read at a speed that varies along a smooth random curve (cubic through
    :data:`WARP_KNOTS` knots of N(1, sigma^2)), over the same span of time."""
    from scipy.interpolate import CubicSpline

    T = len(window)
    knots = np.linspace(0, T - 1, WARP_KNOTS + 2)
    speed = np.clip(CubicSpline(knots, rng.normal(1.0, WARP_SIGMA, len(knots)))(np.arange(T)), 0.1, None)
    position = np.cumsum(speed)
    position = (position - position[0]) / (position[-1] - position[0]) * (T - 1)
    steps = np.arange(T)
    return np.stack([np.interp(position, steps, window[:, c]) for c in range(window.shape[1])], axis=1
                    ).astype(window.dtype)
