"""Ensemble layers: R independent networks evaluated as one batched computation.

Every layer holds parameters with a leading member axis ``R`` (``n_models``). Member ``r``
never sees another member's weights, gradients, data or dropout masks; training R members
together is the same maths as training each alone, only batched.

Two activation layouts are used:

* **conv layout** ``[B, R*C, L]``: member ``r`` owns channels ``r*C:(r+1)*C``. A grouped
  convolution (``groups=R``) then runs all members in one call, and pooling and batch
  norm work unchanged.
* **dense layout** ``[R, B, D]``: one batched matmul (``baddbmm``) runs all members.

Initialisation matches Keras: Glorot-uniform weights and zero biases. ``reset_parameters``
takes one ``torch.Generator`` per member so that a member's initial weights depend only on
its own seed, not on how many members are trained beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

Generators = Sequence[torch.Generator | None]


def glorot_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None) -> None:
    """Keras' default kernel initialiser, in place: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-limit, limit, generator=generator)


def _member_generators(generators: Generators | None, n_models: int) -> Generators:
    if generators is None:
        return [None] * n_models
    if len(generators) != n_models:
        raise ValueError(f"need {n_models} generators, got {len(generators)}")
    return generators


class EnsembleConv1d(nn.Module):
    """R independent ``Conv1d`` layers ('valid' or 'same' padding) on conv layout ``[B, R*C, L]``."""

    def __init__(self, n_models: int, in_channels: int, out_channels: int, kernel_size: int, padding: str = "valid"):
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.n_models, self.in_channels, self.out_channels = n_models, in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, padding
        self.weight = nn.Parameter(torch.empty(n_models, out_channels, in_channels, kernel_size))
        self.bias = nn.Parameter(torch.empty(n_models, out_channels))
        self.reset_parameters()

    def reset_parameters(self, generators: Generators | None = None) -> None:
        fan_in, fan_out = self.in_channels * self.kernel_size, self.out_channels * self.kernel_size
        for r, generator in enumerate(_member_generators(generators, self.n_models)):
            glorot_uniform_(self.weight[r], fan_in, fan_out, generator)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        R = self.n_models
        weight = self.weight.reshape(R * self.out_channels, self.in_channels, self.kernel_size)
        return F.conv1d(x, weight, self.bias.reshape(-1), padding=self.padding, groups=R)

    def extra_repr(self) -> str:
        return (f"n_models={self.n_models}, {self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, padding={self.padding!r}")


class EnsembleLinear(nn.Module):
    """R independent ``Linear`` layers on dense layout ``[R, B, D]``."""

    def __init__(self, n_models: int, in_features: int, out_features: int):
        super().__init__()
        self.n_models, self.in_features, self.out_features = n_models, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n_models, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_models, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self, generators: Generators | None = None) -> None:
        for r, generator in enumerate(_member_generators(generators, self.n_models)):
            glorot_uniform_(self.weight[r], self.in_features, self.out_features, generator)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, {self.in_features}, {self.out_features}"


class EnsembleDropout(nn.Module):
    """Inverted dropout with an independent mask per member.

    ``member_dim`` says where the member axis is: 1 for conv layout ``[B, R*C, L]``, 0 for
    dense layout ``[R, B, D]``. Masks come from the global torch RNG, or, once
    :meth:`set_generators` was called, member ``r``'s mask comes from its own generator, so a
    member draws the same masks whether it is trained alone or beside others.

    The keep probability is ``1 - p`` rounded to a multiple of 1/32768 (exact for p = 0.5).
    """

    def __init__(self, n_models: int, p: float, member_dim: int):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.n_models, self.p, self.member_dim = n_models, p, member_dim
        self.generators: Generators = [None] * n_models

    def set_generators(self, generators: Generators) -> None:
        self.generators = _member_generators(generators, self.n_models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        R = self.n_models
        members = x.unflatten(self.member_dim, (R, -1)).movedim(self.member_dim, 0)  # [R, ...] view
        scale = 1.0 / (1.0 - self.p)
        mask = torch.empty(members.shape, dtype=x.dtype, device=x.device)
        for r in range(R):
            torch.mul(random_keep_mask(members.shape[1:], self.p, self.generators[r], x.device), scale, out=mask[r])
        return _Mask.apply(x, mask.movedim(0, self.member_dim).flatten(self.member_dim, self.member_dim + 1))

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, p={self.p}"


def random_keep_mask(shape: torch.Size, p: float, generator: torch.Generator | None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """A boolean mask of ``shape`` whose entries are True with probability ``1 - p``.

    One 64-bit draw makes four 15-bit uniform numbers (``random_`` fills ``[0, 2**63)``, so
    the top bit of each 16-bit lane is dropped): about 8x cheaper than ``bernoulli_``.
    """
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(generator=generator)
    u15 = words.view(torch.int16).bitwise_and(0x7FFF)[:n]
    return (u15 < round((1.0 - p) * 32768)).view(shape)


class _Mask(torch.autograd.Function):
    """y = x * mask, saving only the mask for backward (x is not needed)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def to_conv_layout(x: torch.Tensor, n_models: int) -> torch.Tensor:
    """``[B, T, C]`` (one input for all members) or ``[R, B, T, C]`` -> conv layout ``[B, R*C, T]``."""
    if x.dim() == 3:
        B, T, C = x.shape
        return x.transpose(1, 2).repeat(1, n_models, 1) if n_models > 1 else x.transpose(1, 2).contiguous()
    R, B, T, C = x.shape
    return x.permute(1, 0, 3, 2).reshape(B, R * C, T)


def conv_to_dense(h: torch.Tensor, n_models: int) -> torch.Tensor:
    """Conv layout ``[B, R*C, L]`` -> flattened dense layout ``[R, B, C*L]``."""
    B = h.shape[0]
    return h.reshape(B, n_models, -1).transpose(0, 1)
