"""Splits by subject: windows overlap by 50%, so a random split by window would leak."""

from __future__ import annotations

import numpy as np

from harcnn.errors import HarcnnError


def subject_holdout(subjects: np.ndarray, n_holdout: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (keep, holdout) that hold out ``n_holdout`` whole subjects, chosen by ``seed``."""
    unique = np.unique(subjects)
    if not 0 < n_holdout < len(unique):
        raise HarcnnError(f"cannot hold out {n_holdout} of {len(unique)} training subjects")
    held = np.random.default_rng(seed).choice(unique, size=n_holdout, replace=False)
    holdout = np.isin(subjects, held)
    return ~holdout, holdout
