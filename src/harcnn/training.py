"""Training and inference: one loop trains R independent members at once.

The reference recipe (Keras defaults) is the default ``TrainConfig``: Adam (lr 1e-3,
epsilon 1e-7), categorical cross-entropy, 10 epochs, batch 32, shuffled every epoch, the last
partial batch kept. Member r draws its own batch order and dropout masks from its own seed.

The loss is the sum of the members' mean batch losses, so each member's gradient is exactly
its own, and Adam, being element-wise, updates each member as if it were trained alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from harcnn.data.augment import Augmenter
from harcnn.data.transforms import check_windows
from harcnn.errors import HarcnnError
from harcnn.models.base import EnsembleModel
from harcnn.seeding import member_streams


PRECISIONS = ("fp32", "bf16")
LR_SCHEDULES = ("constant", "cosine", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; the defaults are the reference's."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-7  # Keras' default (PyTorch's is 1e-8)
    precision: str = "fp32"  # "bf16": bfloat16 autocast for the forward pass (weights and Adam stay fp32)
    # Beyond the reference; all off by default.
    weight_decay: float = 0.0  # decoupled (AdamW); 0 is plain Adam
    label_smoothing: float = 0.0
    lr_schedule: str = "constant"  # "cosine": cosine decay to 0; "onecycle": warm-up then cosine decay
    early_stopping: int = 0  # patience in epochs on validation loss, best weights restored (0: off)
    augment_noise: float = 0.0  # see harcnn.data.augment
    augment_scale: float = 0.0
    augment_rotate: float = 0.0
    augment_shift: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.weight_decay < 0 \
                or not 0 <= self.label_smoothing < 1 or self.early_stopping < 0:
            raise HarcnnError(f"invalid training settings: {self}")
        if self.precision not in PRECISIONS:
            raise HarcnnError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise HarcnnError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")

    @property
    def augmenter(self) -> Augmenter:
        return Augmenter(self.augment_noise, self.augment_scale, self.augment_rotate, self.augment_shift)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Per-epoch curves, one row per member: arrays ``[R, epochs]``."""

    loss: np.ndarray
    accuracy: np.ndarray
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    best_epoch: np.ndarray | None = None  # [R], with early stopping: the epoch whose weights were kept
    seconds: float = 0.0

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` columns (training stopped early)."""
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[:, :epochs])

    def member(self, r: int) -> dict[str, list[float]]:
        curves = {"loss": self.loss, "accuracy": self.accuracy,
                  "val_loss": self.val_loss, "val_accuracy": self.val_accuracy}
        return {k: v[r].tolist() for k, v in curves.items() if v is not None}


@dataclass
class Trainer:
    """Owns the training loop; the model is a plain ``nn.Module`` of R members."""

    config: TrainConfig = field(default_factory=TrainConfig)
    device: str = "cpu"
    progress: bool = False
    description: str = "training"
    on_step: Callable[[float], None] | None = None  # called after each step with the fraction of fit done

    def fit(self, model: EnsembleModel, X: np.ndarray, y: np.ndarray, seeds: Sequence[int],
            validation: tuple[np.ndarray, np.ndarray] | None = None) -> History:
        """Train ``model`` (re-initialised from ``seeds``, one per member) on windows ``X`` [n, T, C]."""
        check_windows(X)
        y = _check_labels(y, len(X), model.n_classes)
        cfg, R = self.config, model.n_models
        model.to(self.device)
        model.seed_members(seeds)
        streams = [member_streams(seed) for seed in seeds]
        X_t = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        y_t = torch.as_tensor(y, dtype=torch.int64, device=self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, eps=cfg.adam_epsilon,
                                      weight_decay=cfg.weight_decay, fused=True)
        n = len(X)
        n_batches = -(-n // cfg.batch_size)
        scheduler = _lr_scheduler(optimizer, cfg, cfg.epochs * n_batches)
        augmenter = cfg.augmenter
        if cfg.early_stopping and validation is None:
            raise HarcnnError("early stopping needs validation data (e.g. validation_subjects)")
        stopper = _EarlyStopping(model, cfg.early_stopping) if cfg.early_stopping else None

        history = History(np.zeros((R, cfg.epochs)), np.zeros((R, cfg.epochs)))
        if validation is not None:
            history.val_loss, history.val_accuracy = np.zeros((R, cfg.epochs)), np.zeros((R, cfg.epochs))
        bar = tqdm(total=cfg.epochs * n_batches, desc=self.description, unit="step",
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        start = time.perf_counter()
        for epoch in range(cfg.epochs):
            model.train()
            order = torch.as_tensor(np.stack([s.shuffle.permutation(n) for s in streams]), device=self.device)
            loss_sum = torch.zeros(R, device=self.device)
            correct = torch.zeros(R, device=self.device)
            for b in range(n_batches):
                idx = order[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]  # [R, B]
                inputs = X_t[idx]  # [R, B, T, C]
                if augmenter.active:
                    inputs = augmenter(inputs, [s.augment for s in streams])
                with torch.autocast(X_t.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    logits = model(inputs).float()  # [R, B, K]
                targets = y_t[idx]
                losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none",
                                         label_smoothing=cfg.label_smoothing).view(idx.shape)
                optimizer.zero_grad(set_to_none=True)
                losses.mean(dim=1).sum().backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                with torch.no_grad():
                    loss_sum += losses.sum(dim=1)
                    correct += (logits.argmax(dim=2) == targets).sum(dim=1)
                bar.update()
                if self.on_step is not None:
                    self.on_step((epoch * n_batches + b + 1) / (cfg.epochs * n_batches))
            history.loss[:, epoch] = (loss_sum / n).cpu().numpy()
            history.accuracy[:, epoch] = (correct / n).cpu().numpy()
            if validation is not None:
                val_loss, val_acc = evaluate_loss_accuracy(model, *validation)
                history.val_loss[:, epoch], history.val_accuracy[:, epoch] = val_loss, val_acc
                if stopper is not None and stopper.update(epoch, val_loss):
                    break
            bar.set_postfix(epoch=epoch + 1, loss=f"{history.loss[:, epoch].mean():.3f}",
                            acc=f"{history.accuracy[:, epoch].mean():.3f}")
        history.truncate(epoch + 1)
        if stopper is not None:
            history.best_epoch = stopper.restore()
            if self.on_step is not None:
                self.on_step(1.0)
        bar.close()
        model.eval()
        history.seconds = time.perf_counter() - start
        return history


@torch.inference_mode()
def predict_logits(model: EnsembleModel, X: np.ndarray, batch_size: int = 512,
                   precision: str = "fp32") -> torch.Tensor:
    """Logits of every member for windows ``X`` [n, T, C]: ``[R, n, K]`` (eval mode, no dropout).

    Batches of 512 keep activations in cache (faster than larger ones on a CPU); ``precision="bf16"``
    computes in bfloat16, about 3x faster again on CPUs with native bf16.
    """
    check_windows(X)
    if precision not in PRECISIONS:
        raise HarcnnError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
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
    y_t = torch.as_tensor(_check_labels(y, len(X), model.n_classes), device=logits.device)
    R = logits.shape[0]
    loss = F.cross_entropy(logits.flatten(0, 1), y_t.repeat(R), reduction="none").view(R, -1).mean(1)
    accuracy = (logits.argmax(2) == y_t).float().mean(1)
    return loss.cpu().numpy(), accuracy.cpu().numpy()


class _EarlyStopping:
    """Per-member early stopping on validation loss, keeping each member's best weights.

    Training goes on until every member has run out of patience; a member's result is its
    best epoch's weights either way, so members stay independent of each other.
    """

    def __init__(self, model: EnsembleModel, patience: int):
        self.model, self.patience, R = model, patience, model.n_models
        self.best_loss = np.full(R, np.inf)
        self.best_epoch = np.zeros(R, dtype=int)
        self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, epoch: int, val_loss: np.ndarray) -> bool:
        """Record epoch results; True when all members have run out of patience."""
        improved = val_loss < self.best_loss
        if improved.any():
            self.best_loss[improved], self.best_epoch[improved] = val_loss[improved], epoch
            self._copy_members(self.model.state_dict(), self.best_state, improved)
        return bool(np.all(epoch - self.best_epoch >= self.patience))

    def restore(self) -> np.ndarray:
        state = {k: v.clone() for k, v in self.model.state_dict().items()}
        self._copy_members(self.best_state, state, np.ones(self.model.n_models, dtype=bool))
        self.model.load_state_dict(state)
        return self.best_epoch

    def _copy_members(self, source: dict, target: dict, members: np.ndarray) -> None:
        R, mask = self.model.n_models, torch.as_tensor(members)
        with torch.no_grad():
            for key, value in source.items():
                if value.dim() == 0:
                    continue  # shared counters (batch norm's num_batches_tracked)
                target[key].unflatten(0, (R, -1))[mask.to(value.device)] = value.unflatten(0, (R, -1))[mask.to(value.device)]


def _lr_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if cfg.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.learning_rate, total_steps=total_steps)
    return None


def _check_labels(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise HarcnnError(f"labels must be a vector of {n} class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= n_classes)):
        raise HarcnnError(f"labels must be integers in 0..{n_classes - 1}")
    return y.astype(np.int64)
