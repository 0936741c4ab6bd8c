"""Ensembles of trained repeats: average their test-set class probabilities, then take the argmax.

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
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from harcnn.errors import HarcnnError
from harcnn.io import atomic_write_bytes
from harcnn.metrics import macro_f1

__all__ = [
    "PROBABILITIES_DIR",
    "average_probabilities",
    "ensemble_accuracy",
    "ensemble_macro_f1",
    "ensemble_predictions",
    "load_probabilities",
    "probability_path",
    "save_probabilities",
]

PROBABILITIES_DIR = "probabilities"


def _stack(probas: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``[M, n, K]`` float64 from an array ``[M, n, K]`` (or ``[n, K]``) or a list of ``[n, K]``."""
    if isinstance(probas, np.ndarray):
        stacked = probas[None] if probas.ndim == 2 else probas
    else:
        probas = list(probas)
        if not probas:
            raise HarcnnError("an ensemble needs the probabilities of at least one model")
        shapes = {np.shape(p) for p in probas}
        if len(shapes) != 1:
            raise HarcnnError(f"ensemble members disagree on the probability shape: {sorted(shapes)}")
        stacked = np.stack([np.asarray(p) for p in probas])
    if stacked.ndim != 3 or stacked.shape[0] == 0:
        raise HarcnnError(f"probabilities must be [models, windows, classes], got shape {stacked.shape}")
    return stacked.astype(np.float64, copy=False)


def average_probabilities(probas: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """The members' mean probabilities ``[n, K]`` (each member weighs the same)."""
    return _stack(probas).mean(axis=0)


def ensemble_predictions(probas: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """The class with the highest averaged probability, per window: ``[n]`` int64."""
    return average_probabilities(probas).argmax(axis=1)


def _check_labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise HarcnnError(f"labels must be a vector of {n} class indices, got shape {y.shape}")
    return y


def ensemble_accuracy(probas: np.ndarray | Sequence[np.ndarray], y: np.ndarray) -> float:
    """Accuracy of the averaged probabilities of several models (``[M, n, K]`` or a list of ``[n, K]``)."""
    predicted = ensemble_predictions(probas)
    return float((predicted == _check_labels(y, len(predicted))).mean())


def ensemble_macro_f1(probas: np.ndarray | Sequence[np.ndarray], y: np.ndarray) -> float:
    """Macro-averaged F1 of the averaged probabilities (over all K classes)."""
    stacked = _stack(probas)
    predicted = stacked.mean(axis=0).argmax(axis=1)
    return macro_f1(_check_labels(y, len(predicted)), predicted, stacked.shape[2])


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
