"""Ensemble layers: R independent networks evaluated as one batched computation.

Every layer holds parameters with a leading member axis ``R`` (``n_models``). Member ``r``
never sees another member's weights, gradients, data or dropout masks; training R members
together is the same maths as training each alone, only batched.

Two activation layouts are used:

* **conv layout** ``[B, L, R*C]`` (time-major, channels last): member ``r`` owns channels
  ``r*C:(r+1)*C``. A grouped convolution (``groups=R``) runs all members in one call. Channels
  last is what oneDNN's convolutions are fastest on (2-2.5x faster than ``[B, R*C, L]`` forward
  and backward on a CPU), and it makes 2-step max pooling an element-wise maximum of two
  contiguous slices; time-major also flattens each member's ``[L, C]`` in Keras' order.
* **dense layout** ``[R, B, D]``: one batched matmul (``baddbmm``) runs all members.

Initialisation matches Keras: Glorot-uniform weights and zero biases. ``reset_parameters``
takes one ``torch.Generator`` per member so that a member's initial weights depend only on
its own seed, not on how many members are trained beside it.
"""

from __future__ import annotations

import functools
import math
import warnings
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


class MemberInit:
    """A layer whose ``reset_parameters(generators)`` draws member r's initial weights from ``generators[r]``."""

    def reset_parameters(self, generators: Generators | None = None) -> None:
        raise NotImplementedError


def grouped_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: str,
                 groups: int) -> torch.Tensor:
    """A grouped 1D convolution on conv layout: ``x [B, L, G*C]``, ``weight [G*F, C, k]`` -> ``[B, L', G*F]``.

    It runs as a 2D convolution on the channels-last view ``[B, G*C, 1, L]`` of ``x`` (no copy).
    """
    y = F.conv2d(x.unsqueeze(1).permute(0, 3, 1, 2), weight.unsqueeze(2), bias, padding=padding, groups=groups)
    return y.permute(0, 2, 3, 1).flatten(1, 2)  # a view when the output is channels last, as oneDNN returns it


class EnsembleConv1d(MemberInit, nn.Module):
    """R independent ``Conv1d`` layers ('valid' or 'same' padding) on conv layout ``[B, L, R*C]``."""

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
        bias = self.bias.reshape(-1) if self.bias is not None else None
        return grouped_conv(x, weight, bias, self.padding, R)

    def extra_repr(self) -> str:
        return (f"n_models={self.n_models}, {self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, padding={self.padding!r}")


class EnsembleLinear(MemberInit, nn.Module):
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

    ``member_dim`` says where the member axis is: 2 for conv layout ``[B, L, R*C]``, 0 for
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
        return _Mask.apply(x, self.mask(x))

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """The next mask for ``x``: 0 (dropped) or ``1 / (1 - p)`` in x's dtype, member r's from its generator.

        Each member's 0/1 entries (:func:`random_keep_mask`) are turned into the mask's values by one
        table look-up for all members; the result is a view shaped like ``x`` (not contiguous for
        several members in conv layout)."""
        R, scale = self.n_models, 1.0 / (1.0 - self.p)
        member_shape = x.unflatten(self.member_dim, (R, -1)).select(self.member_dim, 0).shape
        n = math.prod(member_shape)
        if self.p == 0.5:  # 7 entries per random byte (see random_keep_mask), looked up 7 at a time
            n_bytes = -(-n // 7)
            codes = torch.empty(R, n_bytes, dtype=torch.int64, device=x.device)
            for r in range(R):
                codes[r] = _random_bytes(n_bytes, self.generators[r], x.device)
            mask = F.embedding(codes.bitwise_and_(0x7F), _mask_table(scale, x.dtype, x.device)).view(R, -1)[:, :n]
        else:
            mask = torch.empty(R, n, dtype=x.dtype, device=x.device)
            for r in range(R):
                keep = random_keep_mask(member_shape, self.p, self.generators[r], x.device)
                torch.mul(keep.view(-1).to(x.dtype), scale, out=mask[r])
        mask = mask.view(R, *member_shape).movedim(0, self.member_dim)
        return mask.flatten(self.member_dim, self.member_dim + 1)

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, p={self.p}"


def random_keep_mask(shape: torch.Size, p: float, generator: torch.Generator | None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """A 0/1 mask (uint8) of ``shape`` whose entries are 1 with probability ``1 - p``.

    Cheap random bits instead of ``bernoulli_`` (8-50x slower): ``random_`` fills 64-bit words
    with 63 random bits (``[0, 2**63)``). For p = 0.5 each entry is one bit (the 7 low bits of
    each byte are used, 56 entries per draw); otherwise each entry compares 15 bits with
    ``round((1 - p) * 32768)`` (4 entries per draw), so the keep probability is ``1 - p`` rounded
    to a multiple of 1/32768.
    """
    n = math.prod(shape)
    if p == 0.5:
        n_bytes = -(-n // 7)
        shifts = torch.arange(7, dtype=torch.uint8, device=device)
        bits = (_random_bytes(n_bytes, generator, device)[:, None] >> shifts).bitwise_and_(1)
        return bits.view(-1)[:n].view(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(generator=generator)
    u15 = words.view(torch.int16).bitwise_and(0x7FFF)[:n]
    return (u15 < round((1.0 - p) * 32768)).view(torch.uint8).view(shape)


def _random_bytes(n: int, generator: torch.Generator | None, device: torch.device | str) -> torch.Tensor:
    """``n`` bytes (uint8) of 64-bit ``random_`` draws; their 7 low bits are random (the top bit of a draw is 0)."""
    words = torch.empty(-(-n // 8), dtype=torch.int64, device=device).random_(generator=generator)
    return words.view(torch.uint8)[:n]


@functools.lru_cache(maxsize=16)
def _mask_table(scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[128, 7]``: row c holds the mask values (0 or ``scale``, in ``dtype``) of the 7 low bits of c."""
    codes = torch.arange(128, device=device)
    keep = (codes[:, None] >> torch.arange(7, device=device)).bitwise_and_(1)
    return torch.mul(keep.to(dtype), scale)


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
    """``[B, T, C]`` (one input for all members) or ``[R, B, T, C]`` -> conv layout ``[B, T, R*C]``."""
    if x.dim() == 3:
        return x.repeat(1, 1, n_models) if n_models > 1 else x.contiguous()
    return x.permute(1, 2, 0, 3).flatten(2)


def conv_to_dense(h: torch.Tensor, n_models: int) -> torch.Tensor:
    """Conv layout ``[B, L, R*C]`` -> flattened dense layout ``[R, B, L*C]`` (Keras' Flatten order)."""
    return h.unflatten(2, (n_models, -1)).permute(2, 0, 1, 3).flatten(2)


def max_pool(h: torch.Tensor, pool_size: int) -> torch.Tensor:
    """Max pooling over time (stride = size, the tail dropped): conv layout ``[B, L, D]`` -> ``[B, L // size, D]``.

    The maximum of ``size`` contiguous slices; the backward routes each gradient to the first
    maximal step, as ``max_pool1d``, but 5-10x faster on a CPU than ``max_pool1d`` (whose int64
    indices dominate at these sizes).
    """
    if pool_size == 1:
        return h
    if torch.is_grad_enabled() and h.requires_grad:
        return _MaxPool.apply(h, pool_size)
    n = h.shape[1] // pool_size
    return h[:, :n * pool_size].unflatten(1, (n, pool_size)).amax(dim=2)


class _MaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, size: int) -> torch.Tensor:
        n = h.shape[1] // size
        windows = h[:, :n * size].unflatten(1, (n, size))  # [B, n, size, D]
        ctx.length, ctx.size = h.shape[1], size
        if size == 2:
            first, second = windows[:, :, 0], windows[:, :, 1]
            # 1 where first >= second (the first maximal step takes the gradient), else 0: in h's dtype
            # without a bool tensor in between (3x faster than (first >= second).to(dtype) in bf16)
            ctx.save_for_backward(torch.sign(first - second).add_(1).clamp_(max=1))
            return torch.maximum(first, second)
        values, index = windows.max(dim=2)
        ctx.save_for_backward(index)
        return values

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (chosen,) = ctx.saved_tensors
        if ctx.size == 2:
            to_first = grad * chosen
            windows = torch.stack([to_first, grad - to_first], dim=2)
        else:
            windows = grad.new_zeros(*grad.shape[:2], ctx.size, grad.shape[2])
            windows.scatter_(2, chosen.unsqueeze(2), grad.unsqueeze(2))
        out = windows.flatten(1, 2)
        if out.shape[1] != ctx.length:
            out = F.pad(out, (0, 0, 0, ctx.length - out.shape[1]))
        return out, None


def relu_dropout_max_pool(h: torch.Tensor, dropout: EnsembleDropout, pool_size: int) -> torch.Tensor:
    """``max_pool(dropout(relu(h)), pool_size)`` on conv layout ``[B, L, D]``.

    While training with pooling by 2 it is one autograd node with the same values and gradients
    (the same float operations) and fewer passes over the activations: it saves one route tensor
    (which step of each pair takes the gradient, times the dropout scale) instead of the ReLU
    output, the dropout mask and the pooling choice, and its backward is one product.
    """
    if pool_size != 2 or not dropout.training or dropout.p == 0.0 or not (torch.is_grad_enabled() and h.requires_grad):
        return max_pool(dropout(F.relu(h)), pool_size)
    return _ReluDropoutMaxPool2.apply(h, dropout.mask(h), 1.0 / (1.0 - dropout.p))


class MaxPool(nn.Module):
    """Max pooling over time on conv layout (:func:`max_pool`) as a module; with a ``dropout`` given to
    the call, ReLU -> dropout -> max pooling (:func:`relu_dropout_max_pool`). A module, so that a diagram
    (:mod:`harcnn.models.summary`) sees the pooled shape."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, h: torch.Tensor, dropout: EnsembleDropout | None = None) -> torch.Tensor:
        return max_pool(h, self.size) if dropout is None else relu_dropout_max_pool(h, dropout, self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class _ReluDropoutMaxPool2(torch.autograd.Function):
    """The fused node of :func:`relu_dropout_max_pool` (pooling by 2; ``mask`` holds 0 or ``scale``).

    With ``d = h * mask`` (= relu(h) * mask wherever it is positive), the output of a pair is
    ``max(d0, d1, 0)``; the gradient times ``scale`` goes to the first step when ``d0 >= d1`` (as
    ``max_pool1d``), else to the second, and only where that output is positive (there the step
    was kept by dropout and passed by the ReLU). All of it in h's dtype: comparisons that make
    bool tensors, and products of bool and bf16 tensors, are several times slower on a CPU.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
        n = h.shape[1] // 2
        pairs = torch.mul(h[:, :2 * n], mask[:, :2 * n]).unflatten(1, (n, 2))  # [B, n, 2, D]
        first, second = pairs[:, :, 0], pairs[:, :, 1]
        out = torch.maximum(first, second).clamp_min_(0)
        kept = torch.sign(out).mul_(scale)  # scale where the output is positive, else 0
        route = torch.empty_like(pairs)
        first_wins = torch.sign(first - second).add_(1).clamp_(max=1)  # 1 where first >= second, else 0
        torch.mul(first_wins, kept, out=route[:, :, 0])
        torch.sub(kept, route[:, :, 0], out=route[:, :, 1])
        ctx.save_for_backward(route)
        ctx.length = h.shape[1]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (route,) = ctx.saved_tensors
        grad_h = torch.mul(grad.unsqueeze(2), route).flatten(1, 2)
        if grad_h.shape[1] != ctx.length:
            grad_h = F.pad(grad_h, (0, 0, 0, ctx.length - grad_h.shape[1]))
        return grad_h, None, None


def sliding_max3(h: torch.Tensor) -> torch.Tensor:
    """Max pooling of size 3, stride 1, 'same' (edges padded with -inf) on conv layout ``[B, L, D]``."""
    padded = F.pad(h, (0, 0, 1, 1), value=float("-inf"))
    return torch.maximum(torch.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])


def pad_time(h: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Zero padding of conv layout ``[B, L, D]`` along time."""
    return F.pad(h, (0, 0, left, right))


BN_EPSILON = 1e-3  # Keras' BatchNormalization default (PyTorch's is 1e-5)
BN_MOMENTUM = 0.1  # PyTorch's default running-average rate (Keras: 0.01); converges within a short run


class EnsembleBatchNorm(MemberInit, nn.BatchNorm1d):
    """Batch norm over the last axis: conv layout ``[B, L, R*C]`` or ``[B, R*C]``.

    Each member's channels keep their own statistics. Parameters and buffers are ``[R*C]``,
    member-major, so ``member``/``from_members`` slice them.
    """

    def reset_parameters(self, generators: Generators | None = None) -> None:
        """Deterministic (scale 1, shift 0, fresh statistics): the same for every seed."""
        nn.BatchNorm1d.reset_parameters(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        return super().forward(x.flatten(0, 1)).view_as(x)


def ensemble_batch_norm(n_models: int, channels: int) -> EnsembleBatchNorm:
    """Batch norm of ``channels`` per member, with Keras' epsilon."""
    return EnsembleBatchNorm(n_models * channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class GlobalAveragePool(nn.Module):
    """The mean over time: conv layout ``[B, L, R*C]`` -> dense layout ``[R, B, C]``."""

    def __init__(self, n_models: int):
        super().__init__()
        self.n_models = n_models

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean(dim=1).unflatten(1, (self.n_models, -1)).transpose(0, 1)


def to_sequence_layout(x: torch.Tensor, n_models: int) -> torch.Tensor:
    """``[B, T, C]`` (one input for all members) or ``[R, B, T, C]`` -> sequence layout ``[R, T, B, C]``."""
    if x.dim() == 3:
        return x.transpose(0, 1).unsqueeze(0).expand(n_models, -1, -1, -1)
    return x.transpose(1, 2)


def conv_to_sequence(h: torch.Tensor, n_models: int) -> torch.Tensor:
    """Conv layout ``[B, L, R*C]`` -> sequence layout ``[R, L, B, C]``."""
    return h.unflatten(2, (n_models, -1)).permute(2, 1, 0, 3)


class EnsembleLSTM(MemberInit, nn.Module):
    """R independent one-layer LSTMs on sequence layout ``[R, T, B, D]`` (time-major per member).

    The maths is ``torch.nn.LSTM``'s (gate order i, f, g, o, zero initial state) with
    ``weight_ih[r] = lstm.weight_ih_l0.T``, ``weight_hh[r] = lstm.weight_hh_l0.T`` and one bias
    ``bias[r] = b_ih + b_hh``. Every parameter is member-major, so ``member``/``from_members`` work.
    Each member runs PyTorch's fused LSTM kernel (oneDNN on CPU, cuDNN on GPU): measured on a
    2-core CPU, 3-4x faster than one batched recurrence over all members, even for 10 members.

    Keras initialisation: Glorot-uniform input kernel, orthogonal recurrent kernel, zero bias
    except 1 for the forget gate (``unit_forget_bias``).
    """

    def __init__(self, n_models: int, input_size: int, hidden_size: int):
        super().__init__()
        self.n_models, self.input_size, self.hidden_size = n_models, input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n_models, input_size, 4 * hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(n_models, hidden_size, 4 * hidden_size))
        self.bias = nn.Parameter(torch.empty(n_models, 1, 4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self, generators: Generators | None = None) -> None:
        H = self.hidden_size
        for r, generator in enumerate(_member_generators(generators, self.n_models)):
            glorot_uniform_(self.weight_ih[r], self.input_size, 4 * H, generator)
            with torch.no_grad():
                nn.init.orthogonal_(self.weight_hh[r], generator=generator)
        with torch.no_grad():
            self.bias.zero_()
            self.bias[:, :, H:2 * H] = 1.0

    def forward(self, x: torch.Tensor, return_sequences: bool = True) -> torch.Tensor:
        """``x [R, T, B, D]`` -> hidden states ``[R, T, B, H]``, or the last one ``[R, B, H]``."""
        R, H = x.shape[0], self.hidden_size
        # zeros [1, B, H] computed from x's values (inputs are finite): the tracer turns a shape-built
        # zeros tensor into a constant, which would fix the batch size of an exported ONNX graph
        h0 = (x[0, 0, :, :1].detach() * 0 + x.new_zeros(H)).unsqueeze(0)
        zero_bias = x.new_zeros(4 * H)  # the kernel wants two biases; ours is folded into b_ih
        outputs = []
        with warnings.catch_warnings():
            # cuDNN notes that per-member weights are not one flat buffer (it packs them per call)
            warnings.filterwarnings("ignore", message=".*not part of single contiguous chunk of memory.*")
            for r in range(R):
                weights = [self.weight_ih[r].t().contiguous(), self.weight_hh[r].t().contiguous(),
                           self.bias[r, 0], zero_bias]
                out, _, _ = torch.lstm(x[r], (h0, h0), weights, True, 1, 0.0, self.training, False, False)
                outputs.append(out if return_sequences else out[-1])
        return torch.stack(outputs)

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, {self.input_size}, {self.hidden_size}"


def concat_members(tensors: Sequence[torch.Tensor], n_models: int) -> torch.Tensor:
    """Concatenate conv-layout tensors ``[B, L, R*C_i]`` along each member's channels -> ``[B, L, R*sum(C_i)]``.

    (A plain ``torch.cat(dim=2)`` would put all of member 0's first tensor before member 1's.)
    """
    return torch.cat([t.unflatten(2, (n_models, -1)) for t in tensors], dim=3).flatten(2)


class EnsembleConv1dNoBias(EnsembleConv1d):
    """``EnsembleConv1d`` without a bias, for a convolution followed by batch norm.

    Batch norm subtracts the batch mean, so a bias before it gets a gradient that is zero up to
    rounding; Adam would normalise that rounding noise into full-size steps (Keras' InceptionTime
    uses ``use_bias=False`` there for the same reason).
    """

    def __init__(self, n_models: int, in_channels: int, out_channels: int, kernel_size: int, padding: str = "valid"):
        super().__init__(n_models, in_channels, out_channels, kernel_size, padding)
        del self.bias
        self.register_parameter("bias", None)

    def reset_parameters(self, generators: Generators | None = None) -> None:
        fan_in, fan_out = self.in_channels * self.kernel_size, self.out_channels * self.kernel_size
        for r, generator in enumerate(_member_generators(generators, self.n_models)):
            glorot_uniform_(self.weight[r], fan_in, fan_out, generator)
