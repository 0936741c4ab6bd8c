"""The base class of every harcnn network: an ensemble of ``n_models`` independent members.

``n_models=1`` is an ordinary single network. Inputs are windows ``[B, T, C]`` (time steps,
channels last, as datasets hold them), shared by all members, or ``[R, B, T, C]`` with a batch
of its own for each member. Outputs are logits ``[R, B, K]``, or ``[B, K]`` for a single
network given ``[B, T, C]``.

A model captures its arguments when it is constructed (:attr:`EnsembleModel.settings` and
:attr:`EnsembleModel.inputs`), so a network built directly (``CNN(window=128, n_channels=9,
n_classes=6, filters=32)``) is described, saved and rebuilt exactly like one from the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from harcnn.core.errors import HarcnnError
from harcnn.core.seeding import member_streams
from harcnn.core.settings import Setting
from harcnn.models.layers import EnsembleDropout, MemberInit

#: What a model is told about its input (from the data, never settings): the window length in
#: samples, the number of channels, the number of classes, and, for models that use them, the
#: sampling rate (Hz) and the channel names.
INPUT_ARGS = ("window", "n_channels", "n_classes", "sampling_rate", "channel_names")


class EnsembleModel(nn.Module):
    """Subclasses implement ``forward_members(x [R or 1, B, T, C]) -> logits [R, B, K]``.

    Constructors take keyword arguments only: the input description, ``n_models`` and the model's
    settings (declared with :func:`harcnn.models.register_model`).
    """

    name: str = ""  # the registry name, set by ``register_model``
    settings: Mapping[str, Setting] = {}  # the declared settings, set by ``register_model``
    #: The final layer, an EnsembleLinear to the classes (weights [R, features, K]): fine-tuning on other
    #: classes gives it new columns, and everything else is the feature extractor.
    head_name: str = "head"

    def __new__(cls, *args: Any, **kwargs: Any) -> EnsembleModel:
        model = super().__new__(cls)
        if not args and not kwargs:  # unpickling or copying: the state comes with the object
            return model
        bound = inspect.signature(cls.__init__).bind(model, *args, **kwargs)
        bound.apply_defaults()
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        values = {k: setting.convert(arguments[k]) for k, setting in cls.settings.items()}
        inputs = {k: arguments[k] for k in INPUT_ARGS if k in arguments}
        object.__setattr__(model, "_captured", (values, inputs, int(arguments.get("n_models", 1))))
        return model

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1):
        super().__init__()
        for what, value in (("n_models", n_models), ("window", window), ("n_channels", n_channels),
                            ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HarcnnError(f"{self.name or type(self).__name__}: {what} must be a positive integer, "
                                  f"got {value!r}")
        self.n_models, self.n_channels, self.n_classes, self.window = n_models, n_channels, n_classes, window

    @property
    def hparams(self) -> dict[str, Any]:
        """The model's own settings as built (without the input description and ``n_models``)."""
        return dict(self._captured[0])

    @property
    def inputs(self) -> dict[str, Any]:
        """The input description it was built for (``window``, ``n_channels``, ``n_classes``, ...)."""
        return dict(self._captured[1])

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def architecture(self) -> dict[str, Any]:
        """One member's layer diagram, for :func:`harcnn.reports.plots.architecture_diagram`: ``input``,
        ``branches`` (lists of ``(layer, output shape)``), ``merge`` and ``head``, with the shapes traced by
        :func:`harcnn.models.summary.trace_shapes` (never worked out by hand)."""
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
            if isinstance(module, MemberInit):
                module.reset_parameters([s.init for s in streams])
            elif module is not self and any(True for _ in module.parameters(recurse=False)):
                raise TypeError(f"{type(module).__name__} has parameters but no per-member initialisation: "
                                "derive it from harcnn.models.layers.MemberInit")
            if isinstance(module, EnsembleDropout):
                module.set_generators([s.dropout for s in streams])

    def config(self) -> dict[str, Any]:
        """The registry name and the settings it was built with."""
        return {"model": self.name, **self.hparams}

    def rebuild(self, n_models: int) -> EnsembleModel:
        """A new, freshly initialised model of the same architecture with ``n_models`` members."""
        return type(self)(n_models=n_models, **self.inputs, **self.hparams)

    def member(self, r: int) -> EnsembleModel:
        """A single network (``n_models=1``) holding a copy of member ``r``'s weights."""
        single = self.rebuild(1)
        single.load_state_dict({k: _slice_member(v, r, self.n_models) for k, v in self.state_dict().items()})
        return single.train(self.training).to(next(self.parameters()).device)

    @classmethod
    def from_members(cls, members: Sequence[EnsembleModel]) -> EnsembleModel:
        """Stack single networks of one architecture into one ensemble (the inverse of ``member``)."""
        first = members[0]
        if any(m.config() != first.config() or m.inputs != first.inputs for m in members):
            raise HarcnnError("cannot stack networks of different architectures")
        ensemble = first.rebuild(sum(m.n_models for m in members))
        states = [m.state_dict() for m in members]
        ensemble.load_state_dict({k: _concat_members([s[k] for s in states]) for k in states[0]})
        return ensemble.train(first.training)

    def num_parameters(self) -> int:
        """Trainable parameters of one member."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad) // self.n_models


def _slice_member(tensor: torch.Tensor, r: int, n_models: int) -> torch.Tensor:
    """Member ``r``'s part of a parameter or buffer whose first axis is member-major."""
    if tensor.dim() == 0:
        return tensor.clone()
    return tensor.unflatten(0, (n_models, -1))[r].clone()


def _concat_members(tensors: list[torch.Tensor]) -> torch.Tensor:
    if tensors[0].dim() == 0:
        return tensors[0].clone()
    return torch.cat(tensors, dim=0)
