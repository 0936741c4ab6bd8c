"""Transforms of window arrays ``[n, T, C]``."""

from __future__ import annotations

from typing import Any

import numpy as np

from harcnn.core.errors import DataError


def remove_overlap(X: np.ndarray, overlap: float = 0.5) -> np.ndarray:
    """The continuous series under overlapping windows: the last ``1 - overlap`` of each window,
    concatenated per channel -> ``[n * T * (1 - overlap), C]`` (the reference's recipe)."""
    check_windows(X)
    start = int(round(X.shape[1] * overlap))
    return X[:, start:, :].reshape(-1, X.shape[2])


class Standardizer:
    """Per-channel standardization (z-scores), fitted on windows with their overlap removed.

    Like the reference: a StandardScaler over each channel's series, fitted on training data
    only, then applied to training and test windows alike.
    """

    def __init__(self, overlap: float = 0.5):
        self.overlap = overlap

    def fit(self, X: np.ndarray) -> Standardizer:
        series = remove_overlap(X, self.overlap).astype(np.float64)
        self.mean_ = series.mean(axis=0)
        std = series.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_windows(X)
        if X.shape[2] != self.mean_.shape[0]:
            raise DataError(f"standardizer was fitted on {self.mean_.shape[0]} channels, got {X.shape[2]}")
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict[str, Any]:
        return {"overlap": self.overlap, "mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Standardizer:
        standardizer = cls(overlap=state["overlap"])
        standardizer.mean_ = np.asarray(state["mean"], dtype=np.float64)
        standardizer.scale_ = np.asarray(state["scale"], dtype=np.float64)
        return standardizer


def check_windows(X: np.ndarray, name: str = "X") -> None:
    """Windows must be a finite 3-D array ``[n, time steps, channels]``."""
    if not isinstance(X, np.ndarray) or X.ndim != 3:
        shape = getattr(X, "shape", None)
        raise DataError(f"{name} must be an array of windows [n, time steps, channels], got shape {shape}")
    if X.shape[0] == 0:
        raise DataError(f"{name} holds no windows")
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0][0])
        raise DataError(f"{name} holds NaN or infinite values (first in window {bad})")


def check_labels(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """Labels must be ``n`` integer class indices in ``0..n_classes-1``."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise DataError(f"labels must be a vector of {n} class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= n_classes)):
        raise DataError(f"labels must be integers in 0..{n_classes - 1}")
    return y.astype(np.int64)
