"""ResNet-1D, the time-series classification baseline of Wang, Yan & Oates (2017).

Three residual blocks of three convolutions (kernels 8, 5, 3; 'same' padding), each followed by
batch norm (ReLU after the first two; after the addition for the third), filters 64/128/128.
The shortcut is a 1x1 convolution + batch norm where the number of channels changes and batch
norm alone where it does not, as in the reference implementation of Fawaz et al. (2019).
Global average pooling, then Dense(K) (softmax in the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.settings import Float, Ints
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (
    EnsembleConv1dNoBias,
    EnsembleDropout,
    EnsembleLinear,
    GlobalAveragePool,
    ensemble_batch_norm,
    pad_time,
    to_conv_layout,
)
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes

BASE_FILTERS = (64, 128, 128)


class _ResidualBlock(nn.Module):
    def __init__(self, n_models: int, in_channels: int, channels: int, kernel_sizes: Sequence[int]):
        super().__init__()
        widths = [in_channels] + [channels] * len(kernel_sizes)
        # 'same' padding done explicitly (as Keras: the extra step of an even kernel on the right), so
        # that even kernels need no hidden padded copy inside the convolution
        self.convs = nn.ModuleList(EnsembleConv1dNoBias(n_models, widths[i], channels, k)
                                   for i, k in enumerate(kernel_sizes))
        self.norms = nn.ModuleList(ensemble_batch_norm(n_models, channels) for _ in kernel_sizes)
        self.shortcut = EnsembleConv1dNoBias(n_models, in_channels, channels, 1) if in_channels != channels else None
        self.shortcut_norm = ensemble_batch_norm(n_models, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            k = conv.kernel_size
            h = norm(conv(pad_time(h, (k - 1) // 2, k // 2)))
            if i < len(self.convs) - 1:
                h = F.relu(h)
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(h + self.shortcut_norm(shortcut))


@register_model("resnet1d",
                width=(Float(0, 64, low_open=True), "filters 64/128/128 times this (1.0: the published network)"),
                kernel_sizes=(Ints(1, 1000), "kernel sizes of the three convolutions of each residual block"),
                dropout=(Float(0, 1, high_open=True), "dropout rate before the classifier"))
class ResNet1D(EnsembleModel):
    """3 residual blocks [Conv(8)-BN-ReLU, Conv(5)-BN-ReLU, Conv(3)-BN, + shortcut, ReLU] -> GAP -> Dense(K).

    Filters are 64/128/128 times ``width`` (rounded): 508,230 parameters at width 1 (the published
    network) and 129,190 at the default width 0.5, which trains about 4x faster on a CPU. The
    convolutions have no bias (batch norm follows each one and cancels it).
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 width: float = 0.5, kernel_sizes: Sequence[int] = (8, 5, 3), dropout: float = 0.0):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.filters = [max(1, round(f * width)) for f in BASE_FILTERS]
        self.kernel_sizes = kernel_sizes
        widths = [n_channels] + self.filters
        self.blocks = nn.ModuleList(_ResidualBlock(n_models, widths[i], widths[i + 1], kernel_sizes)
                                    for i in range(len(self.filters)))
        self.global_pool = GlobalAveragePool(n_models)
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=0)
        self.head = EnsembleLinear(n_models, self.filters[-1], n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, boxes = trace_shapes(self), []
        convs = ", ".join(f"Conv1D k={k}" for k in self.kernel_sizes)
        for i, (block, f) in enumerate(zip(self.blocks, self.filters)):
            shortcut = "1x1 Conv1D + BatchNorm" if block.shortcut is not None else "BatchNorm"
            boxes.append((f"Residual block {f}: [{convs}] + BatchNorm, shortcut {shortcut}, Add, ReLU",
                          s.out(f"blocks.{i}")))
        boxes.append(("GlobalAveragePooling1D", s.out("global_pool")))
        if self.dropout.p:
            boxes.append((f"Dropout {self.dropout.p}", s.out("dropout")))
        return {"input": ("Input", s.inp("blocks.0")), "branches": [boxes],
                "head": [(f"Dense {self.n_classes}, softmax", s.out("head"))]}

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_conv_layout(x, self.n_models)
        for block in self.blocks:
            h = block(h)
        return self.head(self.dropout(self.global_pool(h)))
