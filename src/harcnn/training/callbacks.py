"""Trainer callbacks: early stopping, progress, step reports.

A callback overrides any of :class:`Callback`'s hooks. ``on_epoch_end`` gets the epoch's
per-member metrics (:class:`~harcnn.training.state.EpochEnd`) and may stop single members
(``state.stop_members(mask)``) or the whole fit (``state.stop()``): early stopping, search
pruning and distributed progress reports all stand on this.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import numpy as np
import torch

from harcnn.training.state import EpochEnd, FitState, History


class Callback:
    def on_fit_start(self, state: FitState) -> None:
        pass

    def on_step_end(self, state: FitState, step: int) -> None:
        """After optimizer step ``step`` (from 1) of ``state.total_steps``."""

    def on_epoch_end(self, state: FitState, logs: EpochEnd) -> None:
        pass

    def on_fit_end(self, state: FitState, history: History) -> None:
        pass


class EarlyStopping(Callback):
    """Per-member early stopping on the validation loss: a member stops after ``patience`` epochs
    without improvement, and every member ends with its best epoch's weights (as it would alone)."""

    def __init__(self, patience: int):
        self.patience = patience

    def on_fit_start(self, state: FitState) -> None:
        R = state.model.n_models
        self.best_loss = np.full(R, np.inf)
        self.best_epoch = np.zeros(R, dtype=int)
        self.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    def on_epoch_end(self, state: FitState, logs: EpochEnd) -> None:
        improved = logs.active & (logs.val_loss < self.best_loss)
        if improved.any():
            self.best_loss[improved], self.best_epoch[improved] = logs.val_loss[improved], logs.epoch
            _copy_members(state.model.state_dict(), self.best_state, improved, state.model.n_models)
        state.stop_members(logs.active & (logs.epoch - self.best_epoch >= self.patience))

    def on_fit_end(self, state: FitState, history: History) -> None:
        weights = {k: v.clone() for k, v in state.model.state_dict().items()}
        _copy_members(self.best_state, weights, np.ones(state.model.n_models, dtype=bool), state.model.n_models)
        state.model.load_state_dict(weights)
        history.best_epoch = self.best_epoch.copy()


def _copy_members(source: dict, target: dict, members: np.ndarray, n_models: int) -> None:
    mask = torch.as_tensor(members)
    with torch.no_grad():
        for key, value in source.items():
            if value.dim() == 0:
                continue  # shared counters (batch norm's num_batches_tracked)
            m = mask.to(value.device)
            target[key].unflatten(0, (n_models, -1))[m] = value.unflatten(0, (n_models, -1))[m]


class StepReporter(Callback):
    """Calls ``report(fraction of the fit done)`` after every step (and 1.0 at the end)."""

    def __init__(self, report: Callable[[float], None]):
        self.report = report

    def on_step_end(self, state: FitState, step: int) -> None:
        self.report(step / state.total_steps)

    def on_fit_end(self, state: FitState, history: History) -> None:
        self.report(1.0)


class Progress(Callback):
    """Training progress for a person: a bar on a terminal, one plain line per epoch otherwise
    (a file or a CI log, where a redrawn bar would repeat every line)."""

    def __init__(self, description: str = "training", stream: TextIO | None = None):
        self.description, self.stream = description, stream

    def on_fit_start(self, state: FitState) -> None:
        stream = self.stream or sys.stderr
        self.bar = None
        if stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.total_steps, desc=self.description, unit="step", leave=False,
                            dynamic_ncols=True, file=stream)

    def on_step_end(self, state: FitState, step: int) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)

    def on_epoch_end(self, state: FitState, logs: EpochEnd) -> None:
        text = f"loss {np.nanmean(logs.loss):.3f}  accuracy {np.nanmean(logs.accuracy):.3f}"
        if logs.val_accuracy is not None:
            text += f"  validation loss {np.mean(logs.val_loss):.3f}  accuracy {np.mean(logs.val_accuracy):.3f}"
        if self.bar is not None:
            self.bar.set_postfix_str(f"epoch {logs.epoch + 1}: {text}")
        else:
            print(f"{self.description}: epoch {logs.epoch + 1}/{logs.epochs}  {text}", file=self.stream or sys.stderr,
                  flush=True)

    def on_fit_end(self, state: FitState, history: History) -> None:
        if self.bar is not None:
            self.bar.close()
