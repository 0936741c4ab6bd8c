"""The training loop: R independent members trained at once, observed and steered by callbacks.

The reference recipe (Keras defaults) is the default :class:`TrainConfig`: Adam (lr 1e-3,
epsilon 1e-7), categorical cross-entropy, 10 epochs, batch 32, shuffled every epoch, the last
partial batch kept. Member r draws its own batch order, dropout masks and augmentation from its
own seed.

The loss is the sum of the members' mean batch losses, so each member's gradient is exactly its
own, and Adam, being element-wise, updates each member as if it were trained alone.

Callbacks (:mod:`harcnn.training.callbacks`) see every step and every epoch's per-member training
and validation metrics; they can stop single members (:meth:`Trainer.stop_members`: their weights
and batch-norm statistics stay as they are from then on) or the whole fit (:meth:`Trainer.stop`).
Early stopping is one of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
from torch.nn import functional as F

from harcnn.data.augment import Augmenter
from harcnn.data.transforms import Standardizer, check_windows
from harcnn.data.windows import triplets
from harcnn.errors import HarcnnError
from harcnn.models.base import EnsembleModel
from harcnn.seeding import member_streams
from harcnn.settings import SHARED
from harcnn.training.inference import evaluate_loss_accuracy


@dataclass(frozen=True)
class TrainConfig:
    """The trainer's settings (types, ranges and help: :data:`harcnn.settings.SHARED`)."""

    epochs: int = SHARED["epochs"].default
    batch_size: int = SHARED["batch_size"].default
    learning_rate: float = SHARED["learning_rate"].default
    adam_epsilon: float = SHARED["adam_epsilon"].default
    precision: str = SHARED["precision"].default
    weight_decay: float = SHARED["weight_decay"].default
    label_smoothing: float = SHARED["label_smoothing"].default
    lr_schedule: str = SHARED["lr_schedule"].default
    early_stopping: int = SHARED["early_stopping"].default
    augment_noise: float = SHARED["augment_noise"].default
    augment_scale: float = SHARED["augment_scale"].default
    augment_rotate: float = SHARED["augment_rotate"].default
    augment_shift: int = SHARED["augment_shift"].default

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, SHARED[f.name].convert(getattr(self, f.name)))

    @classmethod
    def from_values(cls, values) -> "TrainConfig":
        """From a :class:`harcnn.settings.Config` (or any mapping holding the training settings)."""
        values = getattr(values, "values", values)
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    @property
    def augmenter(self) -> Augmenter:
        return Augmenter(self.augment_noise, self.augment_scale, self.augment_rotate, self.augment_shift)

    def to_dict(self) -> dict:
        return asdict(self)


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


@dataclass
class Trainer:
    """Owns the training loop; the model is a plain ``nn.Module`` of R members."""

    config: TrainConfig = field(default_factory=TrainConfig)
    device: str = "cpu"
    callbacks: Sequence = ()

    def fit(self, model: EnsembleModel, X: np.ndarray, y: np.ndarray, seeds: Sequence[int],
            validation: tuple[np.ndarray, np.ndarray] | None = None, *, channels: Sequence[str] = (),
            standardizer: Standardizer | None = None) -> History:
        """Train ``model`` (re-initialised from ``seeds``, one per member) on windows ``X`` [n, T, C].

        ``channels`` names X's channels (rotation turns their ``<sensor>_x/_y/_z`` triplets). With a
        fitted ``standardizer`` the networks see standardized windows; augmentation acts before it,
        on the windows in their physical units."""
        from harcnn.training.callbacks import EarlyStopping

        check_windows(X)
        y = check_labels(y, len(X), model.n_classes)
        cfg, R = self.config, model.n_models
        if cfg.early_stopping and validation is None:
            raise HarcnnError("early stopping needs validation data: set validation_subjects (e.g. 5)")
        augmenter = replace(cfg.augmenter, triplets=tuple(axes for _, axes in triplets(channels)))
        if standardizer is not None:
            if validation is not None:
                validation = (standardizer.transform(validation[0]), validation[1])
            if not augmenter.active:  # standardized once, up front
                X, standardizer = standardizer.transform(X), None
        callbacks = list(self.callbacks) + ([EarlyStopping(cfg.early_stopping)] if cfg.early_stopping else [])
        model.to(self.device)
        model.seed_members(seeds)
        streams = [member_streams(seed) for seed in seeds]
        X_t = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        y_t = torch.as_tensor(y, dtype=torch.int64, device=self.device)
        optimizer = FusedAdamW(list(model.parameters()), eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay)
        n = len(X)
        n_batches = -(-n // cfg.batch_size)
        self.total_steps = cfg.epochs * n_batches
        schedule = learning_rate_schedule(cfg, self.total_steps)
        if standardizer is not None:  # per batch, after augmentation
            mean = torch.as_tensor(standardizer.mean_, dtype=torch.float32, device=self.device)
            scale = torch.as_tensor(standardizer.scale_, dtype=torch.float32, device=self.device)
        self.model, self.active, self._frozen = model, np.ones(R, dtype=bool), None
        self._stop = False

        history = History(np.full((R, cfg.epochs), np.nan), np.full((R, cfg.epochs), np.nan),
                          stopped_epoch=np.full(R, cfg.epochs - 1))
        if validation is not None:
            history.val_loss, history.val_accuracy = np.full((R, cfg.epochs), np.nan), np.full((R, cfg.epochs), np.nan)
        for callback in callbacks:
            callback.on_fit_start(self)
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
                if standardizer is not None:
                    inputs = (inputs - mean) / scale
                with torch.autocast(X_t.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    logits = model(inputs).float()  # [R, B, K]
                targets = y_t[idx]
                losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none",
                                         label_smoothing=cfg.label_smoothing).view(idx.shape)
                optimizer.zero_grad()
                losses.mean(dim=1).sum().backward()
                step = epoch * n_batches + b + 1
                optimizer.step(*schedule(step - 1))
                if self._frozen is not None:
                    self._restore_frozen()
                with torch.no_grad():
                    loss_sum += losses.sum(dim=1)
                    correct += (logits.argmax(dim=2) == targets).sum(dim=1)
                for callback in callbacks:
                    callback.on_step_end(self, step)
            active = self.active.copy()
            history.loss[active, epoch] = (loss_sum / n).cpu().numpy()[active]
            history.accuracy[active, epoch] = (correct / n).cpu().numpy()[active]
            val_loss = val_acc = None
            if validation is not None:
                val_loss, val_acc = evaluate_loss_accuracy(model, *validation)
                history.val_loss[active, epoch], history.val_accuracy[active, epoch] = val_loss[active], val_acc[active]
            logs = EpochEnd(epoch, cfg.epochs, history.loss[:, epoch], history.accuracy[:, epoch], val_loss, val_acc,
                            active)
            for callback in callbacks:
                callback.on_epoch_end(self, logs)
            history.stopped_epoch[active & ~self.active] = epoch
            if self._stop or not self.active.any():
                history.stopped_epoch[self.active] = epoch
                break
        history.truncate(epoch + 1)
        history.seconds = time.perf_counter() - start
        for callback in callbacks:
            callback.on_fit_end(self, history)
        model.eval()
        return history

    # -- steering, for callbacks ------------------------------------------------------------------

    def stop(self) -> None:
        """End the fit after this epoch (every member keeps its current weights)."""
        self._stop = True

    def stop_members(self, members: np.ndarray) -> None:
        """Stop training the members where ``members`` is true: from now on their weights and buffers
        (batch-norm statistics) stay as they are while the others train on."""
        members = np.asarray(members, dtype=bool) & self.active
        if not members.any():
            return
        self.active = self.active & ~members
        frozen = torch.as_tensor(~self.active)
        R = self.model.n_models
        self._frozen = (frozen, {k: v.detach().unflatten(0, (R, -1))[frozen.to(v.device)].clone()
                                 for k, v in self.model.state_dict().items() if v.dim() > 0})

    def _restore_frozen(self) -> None:
        mask, saved = self._frozen
        R = self.model.n_models
        with torch.no_grad():
            for key, value in self.model.state_dict().items():
                if key in saved:
                    value.unflatten(0, (R, -1))[mask.to(value.device)] = saved[key]


class FusedAdamW:
    """AdamW exactly as ``torch.optim.AdamW(params, fused=True)`` computes it: the same fused kernel, with
    the same arguments and state, called directly. ``torch.optim``'s wrapper imports ``torch._dynamo``
    (over a second in every process that trains) and adds Python work to every step."""

    def __init__(self, params: list[torch.nn.Parameter], eps: float, weight_decay: float):
        self.params, self.eps, self.weight_decay = params, eps, weight_decay
        self.state: dict[torch.nn.Parameter, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self, lr: float, betas: tuple[float, float]) -> None:
        """One update of every parameter that has a gradient (its state starts at its first gradient)."""
        with_grad = [p for p in self.params if p.grad is not None]
        for p in with_grad:
            if p not in self.state:
                self.state[p] = (torch.zeros_like(p), torch.zeros_like(p),
                                 torch.zeros((), dtype=torch.float32, device=p.device))
        if not with_grad:
            return
        exp_avgs, exp_avg_sqs, steps = (list(part) for part in zip(*(self.state[p] for p in with_grad)))
        torch._foreach_add_(steps, 1)
        torch._fused_adamw_(with_grad, [p.grad for p in with_grad], exp_avgs, exp_avg_sqs, [], steps,
                            amsgrad=False, lr=lr, beta1=betas[0], beta2=betas[1], weight_decay=self.weight_decay,
                            eps=self.eps, maximize=False)


def learning_rate_schedule(cfg: TrainConfig, total_steps: int):
    """``step -> (learning rate, Adam's betas)`` for steps 0.. of the run: constant, or the values
    torch's ``CosineAnnealingLR`` / ``OneCycleLR`` (which also cycles beta1) give an AdamW optimizer,
    worked out once up front."""
    betas = (0.9, 0.999)  # Keras' and torch's defaults
    if cfg.lr_schedule == "constant":
        return lambda step: (cfg.learning_rate, betas)
    dummy = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=cfg.learning_rate, betas=betas)
    if cfg.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(dummy, T_max=total_steps)
    else:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(dummy, max_lr=cfg.learning_rate, total_steps=total_steps)
    values = []
    for _ in range(total_steps):
        group = dummy.param_groups[0]
        values.append((group["lr"], tuple(group["betas"])))
        dummy.step()  # a no-op (no gradient); the scheduler expects it before its own step
        scheduler.step()
    return values.__getitem__


def check_labels(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """Labels must be ``n`` integer class indices in ``0..n_classes-1``."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise HarcnnError(f"labels must be a vector of {n} class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= n_classes)):
        raise HarcnnError(f"labels must be integers in 0..{n_classes - 1}")
    return y.astype(np.int64)
