"""Batched inference of every member: logits, probabilities, loss and accuracy; and the one way
members (or models) are ensembled: their probabilities averaged."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import SHARED
from harcnn.data.transforms import check_labels, check_windows
from harcnn.models.base import EnsembleModel


@torch.inference_mode()
def predict_logits(model: EnsembleModel, X: np.ndarray, batch_size: int = 512,
                   precision: str = "fp32") -> torch.Tensor:
    """Logits of every member for windows ``X`` [n, T, C]: ``[R, n, K]`` (eval mode, no dropout).

    Batches of 512 keep activations in cache (faster than larger ones on a CPU); ``precision="bf16"``
    computes in bfloat16, about 3x faster again on CPUs with native bf16.
    """
    check_windows(X)
    precision = SHARED["precision"].convert(precision)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    X_t = torch.as_tensor(X, dtype=torch.float32)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = [model.forward_members(X_t[i:i + batch_size].to(device)).float()
               for i in range(0, len(X_t), batch_size)]
    model.train(was_training)
    return torch.cat(out, dim=1)


def predict_proba(model: EnsembleModel, X: np.ndarray, batch_size: int = 512, precision: str = "fp32") -> np.ndarray:
    """Class probabilities of every member: ``[R, n, K]``."""
    return torch.softmax(predict_logits(model, X, batch_size, precision), dim=2).cpu().numpy()


def evaluate_loss_accuracy(model: EnsembleModel, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and accuracy of every member: two arrays ``[R]``."""
    logits = predict_logits(model, X)
    y_t = torch.as_tensor(check_labels(y, len(X), model.n_classes), device=logits.device)
    R = logits.shape[0]
    loss = F.cross_entropy(logits.flatten(0, 1), y_t.repeat(R), reduction="none").view(R, -1).mean(1)
    accuracy = (logits.argmax(2) == y_t).float().mean(1)
    return loss.cpu().numpy(), accuracy.cpu().numpy()


def _as_members(probas: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
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
    """The members' mean probabilities ``[n, K]`` float64 (each member weighs the same): the one way
    harcnn ensembles repeats and models (its argmax is the ensemble's prediction)."""
    return _as_members(probas).mean(axis=0)
