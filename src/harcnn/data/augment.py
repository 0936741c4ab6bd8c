"""Augmentation of inertial windows during training, independently per member and sample.

All are off by default (the reference uses none):

* ``noise``: add Gaussian noise with this standard deviation (in the channels' units: g, rad/s);
* ``scale``: multiply each sample by a factor drawn from N(1, scale^2);
* ``rotate``: rotate each sample's 3-axis vectors (the ``triplets`` of channel indices: x, y, z of
  every sensor) by one random rotation of up to ``rotate`` degrees (a phone worn differently);
* ``yaw``: rotate each sample's 3-axis vectors about the body's vertical (the canonical frame's up,
  :data:`harcnn.data.bodyframe.CANONICAL`) by an angle uniform in [-yaw, yaw] degrees: the forward
  direction of a body frame is its least certain axis, and gravity of an upright body stays in place
  (before ``rotate``, when both are set);
* ``shift``: roll each sample in time by a random whole number of steps in [-shift, shift].

The trainer augments windows in their physical units, before standardizing them, so a rotation
turns gravity as a turned phone would. Labels never change. Random numbers come from the member's own
generator, so a member augments the same way whether it is trained alone or beside others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import SHARED
from harcnn.data.bodyframe import CANONICAL


@dataclass(frozen=True)
class Augmenter:
    """The augmentations, each checked by its setting in :data:`harcnn.core.settings.SHARED`
    (``augment_noise``, ...); :meth:`from_settings` takes them from those settings."""

    noise: float = 0.0
    scale: float = 0.0
    rotate: float = 0.0  # degrees
    shift: int = 0  # time steps
    triplets: tuple[tuple[int, int, int], ...] = ()  # channel indices of each 3-axis vector, for rotate and yaw
    yaw: float = 0.0  # degrees, about the canonical up

    def __post_init__(self) -> None:
        for name in ("noise", "scale", "rotate", "shift", "yaw"):
            object.__setattr__(self, name, SHARED[f"augment_{name}"].convert(getattr(self, name)))

    @classmethod
    def from_settings(cls, values: Mapping[str, Any], triplets: tuple[tuple[int, int, int], ...] = ()) -> Augmenter:
        """From the ``augment_*`` settings in ``values`` (a Config's values, or a TrainConfig as a dict)."""
        return cls(*(values[f"augment_{name}"] for name in ("noise", "scale", "rotate", "shift")), triplets,
                   values["augment_yaw"])

    @property
    def active(self) -> bool:
        return bool(self.noise or self.scale or self.rotate or self.shift or self.yaw)

    def __call__(self, x: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """Augment member batches ``x [R, B, T, C]``; member r draws from ``generators[r]``."""
        return torch.stack([self.augment(x[r], generators[r]) for r in range(x.shape[0])])

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment one batch of windows ``[B, T, C]``."""
        B, T, C = x.shape
        if self.rotate or self.yaw:
            if not self.triplets:
                raise HarcnnError("rotation turns 3-axis vectors, but no channel triplets were given: name the "
                                  "channels <sensor>_x, <sensor>_y, <sensor>_z, or set augment_rotate=0 and "
                                  "augment_yaw=0")
            axes = torch.tensor(self.triplets, device=x.device).flatten()
            rotation = torch.eye(3, dtype=torch.float64).expand(B, 3, 3)
            if self.yaw:
                rotation = yaw_rotations(B, math.radians(self.yaw), generator)
            if self.rotate:
                rotation = random_rotations(B, math.radians(self.rotate), generator) @ rotation
            rotation = rotation.to(x)  # [B, 3, 3]
            vectors = x[:, :, axes].reshape(B, T, len(self.triplets), 3)
            x = x.clone()
            x[:, :, axes] = torch.einsum("btgj,bij->btgi", vectors, rotation).reshape(B, T, -1)
        if self.scale:
            x = x * (1 + self.scale * _randn((B, 1, 1), generator, x))
        if self.shift:
            offsets = torch.randint(-self.shift, self.shift + 1, (B, 1), generator=generator).to(x.device)
            steps = (torch.arange(T, device=x.device) - offsets) % T  # [B, T]
            x = x.gather(1, steps.unsqueeze(2).expand(B, T, C))
        if self.noise:
            x = x + self.noise * _randn(x.shape, generator, x)
        return x


def random_rotations(n: int, max_angle: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` rotation matrices about uniformly random axes by angles uniform in [0, max_angle]."""
    axis = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    axis = axis / axis.norm(dim=1, keepdim=True)
    angle = torch.rand(n, generator=generator, dtype=torch.float64) * max_angle
    return _about(axis, angle)


def yaw_rotations(n: int, max_angle: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` rotation matrices about the canonical up by angles uniform in [-max_angle, max_angle]."""
    angle = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * max_angle
    return _about(torch.as_tensor(CANONICAL[2], dtype=torch.float64).expand(n, 3), angle)


def _about(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotations ``[n, 3, 3]`` about unit ``axis`` ``[n, 3]`` by ``angle`` ``[n]`` radians (Rodrigues' formula)."""
    n = len(angle)
    kx, ky, kz = axis.unbind(1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(n, 3, 3)
    s, c = angle.sin().view(n, 1, 1), angle.cos().view(n, 1, 1)
    return torch.eye(3, dtype=torch.float64) + s * K + (1 - c) * K @ K


def _randn(shape, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=generator).to(like)
