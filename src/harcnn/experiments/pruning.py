"""Pruning weak search trials from the trainer's per-epoch validation scores.

The median rule (Optuna's ``MedianPruner``, applied per inner fold and inside the job): after
``warmup`` epochs, a fit stops when its validation accuracy (the mean over its members) falls below
the median of the finished trials' accuracies on the same fold at the same epoch. The medians are
fixed when the job is submitted (:func:`median_thresholds`), so the job needs nothing but itself:
it runs on any worker, and only the driver writes results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from harcnn.training.callbacks import Callback
from harcnn.training.state import EpochEnd, FitState


def median_thresholds(curves: Sequence[Sequence[float]], min_trials: int) -> dict[int, float]:
    """Per epoch (from 0), the median of ``curves`` that reached it, where at least ``min_trials`` did."""
    thresholds = {}
    for epoch in range(max((len(c) for c in curves), default=0)):
        values = [c[epoch] for c in curves if len(c) > epoch and np.isfinite(c[epoch])]
        if len(values) >= max(1, min_trials):
            thresholds[epoch] = float(np.median(values))
    return thresholds


class MedianPruning(Callback):
    """Stops the fit at the first epoch from ``warmup`` on whose validation accuracy is below that
    epoch's threshold; the trial then counts as pruned at that epoch (``Trial.epochs``)."""

    def __init__(self, thresholds: Mapping[int, float], warmup: int):
        self.thresholds, self.warmup = dict(thresholds), warmup

    def on_epoch_end(self, state: FitState, logs: EpochEnd) -> None:
        threshold = self.thresholds.get(logs.epoch)
        if logs.val_accuracy is None or logs.epoch < self.warmup or threshold is None:
            return
        if float(np.mean(logs.val_accuracy[logs.active])) < threshold:
            state.stop()
