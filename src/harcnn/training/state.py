"""What a fit is doing, for callbacks: the per-epoch curves, an epoch's metrics, and the fit's state
with the two ways to steer it (stop single members, or the whole fit).

Callbacks (:mod:`harcnn.training.callbacks`) are given a :class:`FitState`; the trainer
(:mod:`harcnn.training.trainer`) owns one per fit, as ``Trainer.state``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harcnn.models.base import EnsembleModel

__all__ = ["EpochEnd", "FitState", "History"]


@dataclass
class History:
    """Per-epoch curves, one row per member: arrays ``[R, epochs run]`` (NaN after a member stopped)."""

    loss: np.ndarray
    accuracy: np.ndarray
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    best_epoch: np.ndarray | None = None  # [R], with early stopping: the epoch whose weights were kept
    stopped_epoch: np.ndarray | None = None  # [R], the last epoch a member trained in
    seconds: float = 0.0

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` columns (training stopped early)."""
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[:, :epochs])

    def member(self, r: int) -> dict[str, list[float]]:
        """Member r's curves up to its last epoch."""
        last = int(self.stopped_epoch[r]) + 1 if self.stopped_epoch is not None else self.loss.shape[1]
        curves = {"loss": self.loss, "accuracy": self.accuracy, "val_loss": self.val_loss,
                  "val_accuracy": self.val_accuracy}
        return {k: v[r, :last].tolist() for k, v in curves.items() if v is not None}

    def final_validation_accuracy(self, r: int) -> float | None:
        """Member r's validation accuracy with the weights it keeps (the best epoch's, with early stopping)."""
        if self.val_accuracy is None:
            return None
        if self.best_epoch is not None:
            epoch = int(self.best_epoch[r])
        elif self.stopped_epoch is not None:
            epoch = int(self.stopped_epoch[r])
        else:
            epoch = -1
        return float(self.val_accuracy[r, epoch])


@dataclass(frozen=True)
class EpochEnd:
    """What callbacks see after each epoch: per-member arrays ``[R]`` (validation ones None without data)."""

    epoch: int  # from 0
    epochs: int
    loss: np.ndarray
    accuracy: np.ndarray
    val_loss: np.ndarray | None
    val_accuracy: np.ndarray | None
    active: np.ndarray  # [R] bool: members still training


class FitState:
    """One fit in progress: the model, the step counts and which members still train.

    :meth:`stop` ends the fit after the current epoch; :meth:`stop_members` stops single members
    (their weights and batch-norm statistics stay as they are from then on while the others train on).
    """

    def __init__(self, model: EnsembleModel, epochs: int, steps_per_epoch: int):
        self.model = model
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.total_steps = epochs * steps_per_epoch
        self.epoch = 0  # the current epoch, from 0
        self.step = 0  # optimizer steps done
        self.active = np.ones(model.n_models, dtype=bool)
        self.stopping = False
        self._frozen: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None

    def stop(self) -> None:
        """End the fit after this epoch (every member keeps its current weights)."""
        self.stopping = True

    def stop_members(self, members: np.ndarray) -> None:
        """Stop training the members where ``members`` is true."""
        members = np.asarray(members, dtype=bool) & self.active
        if not members.any():
            return
        self.active = self.active & ~members
        frozen = torch.as_tensor(~self.active)
        R = self.model.n_models
        self._frozen = (frozen, {k: v.detach().unflatten(0, (R, -1))[frozen.to(v.device)].clone()
                                 for k, v in self.model.state_dict().items() if v.dim() > 0})

    def restore_stopped(self) -> None:
        """Put the stopped members' weights and buffers back (after an optimizer step moved them)."""
        if self._frozen is None:
            return
        mask, saved = self._frozen
        R = self.model.n_models
        with torch.no_grad():
            for key, value in self.model.state_dict().items():
                if key in saved:
                    value.unflatten(0, (R, -1))[mask.to(value.device)] = saved[key]
