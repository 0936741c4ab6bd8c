"""The base class of every harcnn network: an ensemble of ``n_models`` independent members.

``n_models=1`` is an ordinary single network. Inputs are windows ``[B, T, C]`` (time steps,
channels last, as the data loader returns them), shared by all members, or ``[R, B, T, C]``
with a batch of its own for each member. Outputs are logits ``[R, B, K]``, or ``[B, K]`` for a
single network given ``[B, T, C]``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from harcnn.errors import HarcnnError
from harcnn.models.layers import EnsembleDropout
from harcnn.seeding import member_streams


class EnsembleModel(nn.Module):
    """Subclasses implement ``forward_members(x [R or 1, B, T, C]) -> logits [R, B, K]``."""

    name: str = ""  # the registry name, set by ``register_model``

    def __init__(self, n_models: int, n_channels: int, n_classes: int, window: int):
        super().__init__()
        if n_models < 1:
            raise HarcnnError(f"n_models must be >= 1, got {n_models}")
        self.n_models, self.n_channels, self.n_classes, self.window = n_models, n_channels, n_classes, window
        self.hparams: dict[str, Any] = {}

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (3, 4) or tuple(x.shape[-2:]) != (self.window, self.n_channels):
            raise HarcnnError(
                f"{self.name} expects windows [batch, {self.window}, {self.n_channels}] "
                f"(or [models, batch, {self.window}, {self.n_channels}]), got {list(x.shape)}")
        if x.dim() == 4 and x.shape[0] != self.n_models:
            raise HarcnnError(f"input has {x.shape[0]} member batches for {self.n_models} members")
        logits = self.forward_members(x)
        return logits[0] if x.dim() == 3 and self.n_models == 1 else logits

    def seed_members(self, seeds: Sequence[int]) -> None:
        """Re-initialise every member from its own seed (weights and dropout streams)."""
        if len(seeds) != self.n_models:
            raise HarcnnError(f"need {self.n_models} seeds, got {len(seeds)}")
        device = next(self.parameters()).device
        streams = [member_streams(seed, device) for seed in seeds]
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                try:
                    module.reset_parameters([s.init for s in streams])
                except TypeError:  # torch layers (batch norm, LSTM) with deterministic or own init
                    module.reset_parameters()
            if isinstance(module, EnsembleDropout):
                module.set_generators([s.dropout for s in streams])

    def config(self) -> dict[str, Any]:
        """The registry name and constructor options (without ``n_models``): enough to rebuild it."""
        return {"model": self.name, **{k: v for k, v in self.hparams.items() if k != "n_models"}}

    def member(self, r: int) -> "EnsembleModel":
        """A single network (``n_models=1``) holding a copy of member ``r``'s weights."""
        from harcnn.models.registry import create_model

        single = create_model(self.name, n_models=1, **self.config_params())
        single.load_state_dict({k: _slice_member(v, r, self.n_models) for k, v in self.state_dict().items()})
        return single.train(self.training).to(next(self.parameters()).device)

    @classmethod
    def from_members(cls, members: Sequence["EnsembleModel"]) -> "EnsembleModel":
        """Stack single networks of one architecture into one ensemble (the inverse of ``member``)."""
        from harcnn.models.registry import create_model

        first = members[0]
        if any(m.config() != first.config() for m in members):
            raise HarcnnError("cannot stack networks of different architectures")
        ensemble = create_model(first.name, n_models=sum(m.n_models for m in members), **first.config_params())
        states = [m.state_dict() for m in members]
        ensemble.load_state_dict({k: _stack([s[k] for s in states]) for k in states[0]})
        return ensemble.train(first.training)

    def config_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.config().items() if k != "model"}

    def num_parameters(self) -> int:
        """Trainable parameters of one member."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad) // self.n_models

    def copy(self) -> "EnsembleModel":
        return copy.deepcopy(self)


def _slice_member(tensor: torch.Tensor, r: int, n_models: int) -> torch.Tensor:
    """Member ``r``'s part of a parameter or buffer whose first axis is member-major."""
    if tensor.dim() == 0:
        return tensor.clone()
    return tensor.unflatten(0, (n_models, -1))[r].clone()


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    if tensors[0].dim() == 0:
        return tensors[0].clone()
    return torch.cat(tensors, dim=0)
