"""An InceptionTime-style network (Ismail Fawaz et al. 2020), sized for 128-step windows.

Each inception module: a 1x1 bottleneck convolution, then parallel 'same' convolutions with
long kernels (default 9, 19 and 39 steps, the published 10/20/40 scaled to odd sizes that suit
2.56 s windows) beside a MaxPool(3, stride 1) -> 1x1 convolution branch; the branches are
concatenated, batch-normalised and passed through ReLU. Every third module adds a residual
shortcut (1x1 convolution + batch norm) from the input of its group of three, then ReLU.
Global average pooling, then Dense(K) (softmax in the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.settings import Bool, Float, Int, Ints
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (
    EnsembleConv1dNoBias,
    EnsembleDropout,
    EnsembleLinear,
    GlobalAveragePool,
    concat_members,
    ensemble_batch_norm,
    sliding_max3,
    to_conv_layout,
)
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes


class _InceptionModule(nn.Module):
    def __init__(self, n_models: int, in_channels: int, filters: int, bottleneck: int, kernel_sizes: Sequence[int]):
        super().__init__()
        self.n_models = n_models
        use_bottleneck = bottleneck > 0 and in_channels > 1
        self.bottleneck = EnsembleConv1dNoBias(n_models, in_channels, bottleneck, 1) if use_bottleneck else None
        branch_in = bottleneck if use_bottleneck else in_channels
        self.convs = nn.ModuleList(EnsembleConv1dNoBias(n_models, branch_in, filters, k, padding="same")
                                   for k in kernel_sizes)
        self.pool_conv = EnsembleConv1dNoBias(n_models, in_channels, filters, 1)
        self.norm = ensemble_batch_norm(n_models, filters * (len(kernel_sizes) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bottleneck(x) if self.bottleneck is not None else x
        branches = [conv(b) for conv in self.convs]
        branches.append(self.pool_conv(sliding_max3(x)))
        return F.relu(self.norm(concat_members(branches, self.n_models)))


@register_model("inception",
                depth=(Int(1, 100), "inception modules"),
                filters=(Int(1, 4096), "filters of each branch"),
                bottleneck=(Int(0, 4096), "channels of the 1x1 bottleneck (0: none)"),
                kernel_sizes=(Ints(1, 1000), "kernel sizes of the parallel convolutions"),
                residual=(Bool(), "a residual shortcut every third module"),
                dropout=(Float(0, 1, high_open=True), "dropout rate before the classifier"))
class InceptionTime(EnsembleModel):
    """``depth`` inception modules (residual shortcut every 3) -> GAP -> Dense(K).

    Each module outputs ``filters * (len(kernel_sizes) + 1)`` channels (default 16 x 4 = 64). The
    published network uses 32 filters and 32 bottleneck channels; the defaults here are halved so
    that one network trains in minutes on a 2-core CPU (``filters=32, bottleneck=32`` restores it).
    Convolutions have no bias, as published. Parameters: 119,526 at the defaults, 473,542 at 32/32.
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 depth: int = 6, filters: int = 16, bottleneck: int = 16, kernel_sizes: Sequence[int] = (9, 19, 39),
                 residual: bool = True, dropout: float = 0.0):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.kernel_sizes, self.residual = kernel_sizes, bool(residual)
        out = filters * (len(kernel_sizes) + 1)
        self.out_channels = out
        self.inceptions = nn.ModuleList(
            _InceptionModule(n_models, n_channels if d == 0 else out, filters, bottleneck, kernel_sizes)
            for d in range(depth))
        self.shortcuts, self.shortcut_norms = nn.ModuleList(), nn.ModuleList()
        if self.residual:
            for d in range(2, depth, 3):
                self.shortcuts.append(EnsembleConv1dNoBias(n_models, n_channels if d == 2 else out, out, 1))
                self.shortcut_norms.append(ensemble_batch_norm(n_models, out))
        self.global_pool = GlobalAveragePool(n_models)
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=0)
        self.head = EnsembleLinear(n_models, out, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, boxes = trace_shapes(self), []
        first = self.inceptions[0]
        f = first.pool_conv.out_channels
        bottleneck = f"1x1 bottleneck {first.bottleneck.out_channels}, " if first.bottleneck is not None else ""
        kernels = "/".join(map(str, self.kernel_sizes))
        for d in range(len(self.inceptions)):
            boxes.append((f"Inception {d + 1}: {bottleneck}Conv1D {f} k={kernels}, MaxPool-1x1, BatchNorm, ReLU",
                          s.out(f"inceptions.{d}")))
            if self.residual and d % 3 == 2:
                boxes.append(("Add shortcut (1x1 Conv1D + BatchNorm), ReLU", s.out(f"shortcut_norms.{d // 3}")))
        boxes.append(("GlobalAveragePooling1D", s.out("global_pool")))
        if self.dropout.p:
            boxes.append((f"Dropout {self.dropout.p}", s.out("dropout")))
        return {"input": ("Input", s.inp("inceptions.0")), "branches": [boxes],
                "head": [(f"Dense {self.n_classes}, softmax", s.out("head"))]}

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = residual = to_conv_layout(x, self.n_models)
        for d, module in enumerate(self.inceptions):
            h = module(h)
            if self.residual and d % 3 == 2:
                s = d // 3
                h = F.relu(h + self.shortcut_norms[s](self.shortcuts[s](residual)))
                residual = h
        return self.head(self.dropout(self.global_pool(h)))
