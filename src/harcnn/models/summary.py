"""The shapes a network gives one window, read from the network itself.

:func:`trace_shapes` runs one window of zeros through a fresh single-member copy of a model (eval
mode, no gradients) with forward hooks on every submodule, and records what each submodule takes
and gives, per call, as one member sees it (batch and member axes dropped). Models build their
layer diagrams (:meth:`~harcnn.models.base.EnsembleModel.architecture`) from it, so a diagram never
repeats the arithmetic of a constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from harcnn.models.base import EnsembleModel

__all__ = ["Shapes", "trace_shapes"]


def _member_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """One member's part of an activation of a single-member model given one window: conv layout
    ``[1, L, C]`` -> ``(L, C)``, dense ``[1, 1, D]`` -> ``(D,)``, sequence ``[1, L, 1, H]`` -> ``(L, H)``,
    flat ``[1, C]`` -> ``(C,)``."""
    shape = tuple(tensor.shape)
    if len(shape) == 4:
        return shape[1], shape[3]
    if len(shape) == 3 and shape[:2] == (1, 1):
        return (shape[2],)
    return shape[1:]


@dataclass
class Shapes:
    """Per submodule name (as ``named_modules`` gives it), the shape of every call's first input and of
    its output, in call order; :meth:`inp` and :meth:`out` format one as a diagram shows it ("62 x 64")."""

    inputs: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    outputs: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    def inp(self, name: str, call: int = 0, *, flat: bool = False) -> str:
        return _text(self.inputs[name][call], flat)

    def out(self, name: str, call: int = 0, *, flat: bool = False) -> str:
        return _text(self.outputs[name][call], flat)


def _text(shape: tuple[int, ...], flat: bool) -> str:
    return str(prod(shape)) if flat else " x ".join(map(str, shape))


def trace_shapes(model: EnsembleModel) -> Shapes:
    """The shapes of every submodule's input and output for one window (see the module docstring)."""
    single = model.rebuild(1).eval()
    shapes = Shapes()

    def recorder(name: str):
        def record(module, args, output) -> None:
            if args and isinstance(args[0], torch.Tensor):
                shapes.inputs.setdefault(name, []).append(_member_shape(args[0]))
            if isinstance(output, torch.Tensor):
                shapes.outputs.setdefault(name, []).append(_member_shape(output))
        return record

    handles = [module.register_forward_hook(recorder(name)) for name, module in single.named_modules() if name]
    try:
        with torch.no_grad():
            single(torch.zeros(1, model.window, model.n_channels))
    finally:
        for handle in handles:
            handle.remove()
    return shapes
