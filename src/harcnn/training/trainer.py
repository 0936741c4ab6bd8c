"""The training loop: R independent members trained at once, observed and steered by callbacks.

The reference recipe (Keras defaults) is the default :class:`TrainConfig`: Adam (lr 1e-3,
epsilon 1e-7), categorical cross-entropy, 10 epochs, batch 32, shuffled every epoch, the last
partial batch kept (unless it holds a single window and the model has batch norm, which cannot
normalise one: that window, a different one every epoch, waits for the next epoch). Member r draws
its own batch order, dropout masks and augmentation from its own seed.

The loss is the sum of the members' mean batch losses, so each member's gradient is exactly its
own, and Adam, being element-wise, updates each member as if it were trained alone.

Callbacks (:mod:`harcnn.training.callbacks`) see every step and every epoch's per-member training
and validation metrics, with the fit's :class:`~harcnn.training.state.FitState` (``Trainer.state``);
they can stop single members (:meth:`FitState.stop_members`: their weights and batch-norm statistics
stay as they are from then on) or the whole fit (:meth:`FitState.stop`). Early stopping is one of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, make_dataclass, replace

import numpy as np
import torch
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.seeding import member_streams
from harcnn.core.settings import SHARED
from harcnn.data.augment import Augmenter
from harcnn.data.transforms import Standardizer, check_labels, check_windows
from harcnn.data.windows import triplets
from harcnn.models.base import EnsembleModel
from harcnn.training.callbacks import Callback, EarlyStopping
from harcnn.training.finetune import FreezePretrained, StartingPoint
from harcnn.training.inference import evaluate_loss_accuracy
from harcnn.training.state import EpochEnd, FitState, History


def _from_values(cls, values) -> TrainConfig:
    """From a :class:`harcnn.models.Config` (or any mapping holding the training settings)."""
    values = getattr(values, "values", values)
    return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def _convert_fields(self) -> None:
    for f in fields(self):
        object.__setattr__(self, f.name, SHARED[f.name].convert(getattr(self, f.name)))


#: The trainer's settings: a frozen dataclass with one field per shared setting of the "training",
#: "fine-tuning" (but ``init``, which the fit reads) and "augmentation" groups of
#: :data:`harcnn.core.settings.SHARED` (their names, defaults, and the
#: schema's checks on construction: ``TrainConfig(epochs=0)`` is a SettingError), made from the
#: schema so that nothing is declared twice. ``TrainConfig.from_values(config)`` takes them from a
#: :class:`~harcnn.models.Config`; ``augmenter`` is the :class:`Augmenter` of its augmentation settings.
TrainConfig = make_dataclass(
    "TrainConfig",
    [(name, type(setting.default), field(default=setting.default)) for name, setting in SHARED.items()
     if setting.group in ("training", "fine-tuning", "augmentation") and name != "init"],
    frozen=True,
    namespace={"__post_init__": _convert_fields, "from_values": classmethod(_from_values),
               "augmenter": property(lambda self: Augmenter.from_settings(asdict(self))),
               "to_dict": lambda self: asdict(self), "__module__": __name__},
)


@dataclass
class Trainer:
    """Owns the training loop; the model is a plain ``nn.Module`` of R members."""

    config: TrainConfig = field(default_factory=TrainConfig)
    device: str = "cpu"
    callbacks: Sequence[Callback] = ()
    state: FitState | None = field(default=None, init=False, repr=False)  # the current (or last) fit

    def fit(self, model: EnsembleModel, X: np.ndarray, y: np.ndarray, seeds: Sequence[int],
            validation: tuple[np.ndarray, np.ndarray] | None = None, *, channels: Sequence[str] = (),
            standardizer: Standardizer | None = None, start: StartingPoint | None = None) -> History:
        """Train ``model`` (re-initialised from ``seeds``, one per member) on windows ``X`` [n, T, C].

        ``channels`` names X's channels (rotation turns their ``<sensor>_x/_y/_z`` triplets). With a
        fitted ``standardizer`` the networks see standardized windows; augmentation acts before it,
        on the windows in their physical units. ``start``: a saved model the seeded members start from
        (fine-tuning, :mod:`harcnn.training.finetune`): its pretrained layers are frozen for the first
        ``freeze_epochs`` epochs and then train at ``pretrained_lr`` times the learning rate."""
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
        model.to(self.device)
        model.seed_members(seeds)
        pretrained = start.apply(model) if start is not None else frozenset()
        callbacks = list(self.callbacks) + ([EarlyStopping(cfg.early_stopping)] if cfg.early_stopping else []) \
            + ([FreezePretrained(pretrained, cfg.freeze_epochs)] if pretrained and cfg.freeze_epochs else [])
        streams = [member_streams(seed) for seed in seeds]
        X_t = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        y_t = torch.as_tensor(y, dtype=torch.int64, device=self.device)
        # fine-tuning: the pretrained layers have an optimizer of their own, at pretrained_lr x the learning rate
        parts = ((False, 1.0), (True, cfg.pretrained_lr)) if pretrained else ((False, 1.0),)
        optimizers = [(adamw([p for name, p in model.named_parameters() if (name in pretrained) == part],
                             eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay), lr_scale)
                      for part, lr_scale in parts]
        n = len(X)
        has_batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if has_batch_norm and n > 1 and n % cfg.batch_size == 1:
            n -= 1  # the last window of each epoch's order sits out: batch norm cannot normalise one window
        n_batches = -(-n // cfg.batch_size)
        state = self.state = FitState(model, cfg.epochs, n_batches)
        schedule = learning_rate_schedule(cfg, state.total_steps)
        if standardizer is not None:  # per batch, after augmentation
            mean = torch.as_tensor(standardizer.mean_, dtype=torch.float32, device=self.device)
            std = torch.as_tensor(standardizer.scale_, dtype=torch.float32, device=self.device)

        history = History(np.full((R, cfg.epochs), np.nan), np.full((R, cfg.epochs), np.nan),
                          stopped_epoch=np.full(R, cfg.epochs - 1))
        if validation is not None:
            history.val_loss, history.val_accuracy = np.full((R, cfg.epochs), np.nan), np.full((R, cfg.epochs), np.nan)
        for callback in callbacks:
            callback.on_fit_start(state)
        start = time.perf_counter()
        for epoch in range(cfg.epochs):
            state.epoch = epoch
            model.train()
            order = torch.as_tensor(np.stack([s.shuffle.permutation(len(X))[:n] for s in streams]), device=self.device)
            loss_sum = torch.zeros(R, device=self.device)
            correct = torch.zeros(R, device=self.device)
            for b in range(n_batches):
                idx = order[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]  # [R, B]
                inputs = X_t[idx]  # [R, B, T, C]
                if augmenter.active:
                    inputs = augmenter(inputs, [s.augment for s in streams])
                if standardizer is not None:
                    inputs = (inputs - mean) / std
                with torch.autocast(X_t.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    logits = model(inputs).float()  # [R, B, K]
                targets = y_t[idx]
                losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none",
                                         label_smoothing=cfg.label_smoothing).view(idx.shape)
                for optimizer, _ in optimizers:
                    optimizer.zero_grad()
                losses.mean(dim=1).sum().backward()
                state.step = epoch * n_batches + b + 1
                learning_rate, betas = schedule(state.step - 1)
                for optimizer, lr_scale in optimizers:
                    optimizer.step(learning_rate * lr_scale, betas)
                state.restore_stopped()
                with torch.no_grad():
                    loss_sum += losses.sum(dim=1)
                    correct += (logits.argmax(dim=2) == targets).sum(dim=1)
                for callback in callbacks:
                    callback.on_step_end(state, state.step)
            active = state.active.copy()
            history.loss[active, epoch] = (loss_sum / n).cpu().numpy()[active]
            history.accuracy[active, epoch] = (correct / n).cpu().numpy()[active]
            val_loss = val_acc = None
            if validation is not None:
                val_loss, val_acc = evaluate_loss_accuracy(model, *validation)
                history.val_loss[active, epoch], history.val_accuracy[active, epoch] = val_loss[active], val_acc[active]
            logs = EpochEnd(epoch, cfg.epochs, history.loss[:, epoch], history.accuracy[:, epoch], val_loss, val_acc,
                            active)
            for callback in callbacks:
                callback.on_epoch_end(state, logs)
            history.stopped_epoch[active & ~state.active] = epoch
            if state.stopping or not state.active.any():
                history.stopped_epoch[state.active] = epoch
                break
        history.truncate(epoch + 1)
        history.seconds = time.perf_counter() - start
        for callback in callbacks:
            callback.on_fit_end(state, history)
        model.eval()
        return history


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


class TorchAdamW:
    """``torch.optim.AdamW`` behind :class:`FusedAdamW`'s interface, for devices its kernel does not serve."""

    def __init__(self, params: list[torch.nn.Parameter], eps: float, weight_decay: float):
        self.optimizer = torch.optim.AdamW(params, eps=eps, weight_decay=weight_decay)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self, lr: float, betas: tuple[float, float]) -> None:
        for group in self.optimizer.param_groups:
            group["lr"], group["betas"] = lr, betas
        self.optimizer.step()


def adamw(params: list[torch.nn.Parameter], eps: float, weight_decay: float) -> FusedAdamW | TorchAdamW:
    """AdamW for ``params``: the fused kernel on CPU and CUDA, torch's optimizer elsewhere (MPS, or a torch
    without the kernel); both compute the same update."""
    devices = {p.device.type for p in params}
    if hasattr(torch, "_fused_adamw_") and devices <= {"cpu", "cuda"}:
        return FusedAdamW(params, eps, weight_decay)
    return TorchAdamW(params, eps, weight_decay)


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
