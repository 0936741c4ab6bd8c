"""Ensembles of trained repeats: their saved test-set class probabilities, averaged
(:func:`harcnn.training.inference.average_probabilities`), then the argmax.

Every trial keeps its test-set probabilities (``Trial.test_proba``, float32 ``[n_test, K]``).
A study saves them beside its store as ``probabilities/<config_id>-<fold>-r<repeat>.npy``, each written
atomically *before* the trial's row is committed to the database: a committed trial always has its
file, and a file without a row (a run killed between the two) is simply overwritten when the trial
is trained again. So the ensemble of a configuration's repeats, or of several configurations (models)
together, can be scored any time later without training anything.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_bytes

__all__ = [
    "PROBABILITIES_DIR",
    "load_probabilities",
    "probability_path",
    "save_probabilities",
]

PROBABILITIES_DIR = "probabilities"


# --------------------------------------------------------------------------------------------
# files beside a study's store
# --------------------------------------------------------------------------------------------


def probability_path(folder: str | os.PathLike, config_id: str, fold: str, repeat: int) -> Path:
    """``FOLDER/probabilities/<config_id>-<fold>-r<repeat>.npy`` (the fold name made file-safe)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", fold).strip("-") or "fold"
    return Path(folder) / PROBABILITIES_DIR / f"{config_id}-{safe}-r{int(repeat)}.npy"


def save_probabilities(folder: str | os.PathLike, config_id: str, fold: str, repeat: int, proba: np.ndarray) -> Path:
    """Write one trial's test probabilities (float32 ``[n, K]``) atomically; returns the path."""
    proba = np.asarray(proba)
    if proba.ndim != 2:
        raise HarcnnError(f"a trial's probabilities must be [windows, classes], got shape {proba.shape}")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(proba, dtype=np.float32), allow_pickle=False)
    return atomic_write_bytes(probability_path(folder, config_id, fold, repeat), buffer.getvalue())


def load_probabilities(folder: str | os.PathLike, config_id: str, fold: str,
                       repeats: Iterable[int]) -> tuple[list[int], np.ndarray | None]:
    """The saved probabilities of ``repeats`` of one configuration on one fold that exist.

    Returns ``(found_repeats, array [len(found), n, K] float32)``, or ``([], None)`` when none is saved.
    """
    found, arrays = [], []
    for repeat in repeats:
        path = probability_path(folder, config_id, fold, repeat)
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise HarcnnError(f"cannot read saved probabilities {path}: {exc}") from None
        if arrays and array.shape != arrays[0].shape:
            raise HarcnnError(f"{path} has shape {array.shape}, unlike the other repeats' {arrays[0].shape}")
        found.append(int(repeat))
        arrays.append(array)
    return found, (np.stack(arrays) if arrays else None)
