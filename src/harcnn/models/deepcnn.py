"""A deeper 1D CNN: blocks of Conv-BatchNorm-ReLU with widening filters, global average pooling."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Float, Int
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (
    EnsembleConv1dNoBias,
    EnsembleDropout,
    EnsembleLinear,
    GlobalAveragePool,
    MaxPool,
    ensemble_batch_norm,
    to_conv_layout,
)
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes

#: The settings of the deep CNN trunk (the hybrid network shares them).
DEEPCNN_SETTINGS = dict(
    blocks=(Int(1, 10), "blocks of convolutions, max-pooled between blocks"),
    filters=(Int(1, 4096), "filters of the first block (doubled in every next block)"),
    kernel_size=(Int(1, 1000), "kernel size of every convolution"),
    convs_per_block=(Int(1, 100), "convolutions (each followed by batch norm and ReLU) per block"),
    dropout=(Float(0, 1, high_open=True), "dropout rate before the classifier"),
    pool_size=(Int(1, 1000), "max-pooling size between blocks"),
)


@register_model("deepcnn", **DEEPCNN_SETTINGS)
class DeepCNN(EnsembleModel):
    """``blocks`` x [``convs_per_block`` x (Conv1D(f_b, k, 'same') -> BatchNorm -> ReLU)], f_b = filters * 2**b,
    with MaxPool1D(pool_size) between blocks -> GlobalAveragePooling1D -> Dropout -> Dense(K).

    The convolutions have no bias (batch norm cancels it). At the defaults (3 blocks of 2 convs,
    32/64/128 filters, kernel 5): 161,830 parameters.
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 blocks: int = 3, filters: int = 32, kernel_size: int = 5, convs_per_block: int = 2,
                 dropout: float = 0.5, pool_size: int = 2):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        if window // pool_size ** (blocks - 1) < 1:
            raise HarcnnError(f"deepcnn: {blocks} blocks with pooling {pool_size} do not fit windows of {window} steps")
        self.pool = MaxPool(pool_size)
        self.widths = [filters * 2 ** b for b in range(blocks)]
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        channels = n_channels
        for width in self.widths:
            for _ in range(convs_per_block):
                self.convs.append(EnsembleConv1dNoBias(n_models, channels, width, kernel_size, padding="same"))
                self.norms.append(ensemble_batch_norm(n_models, width))
                channels = width
        self.convs_per_block = convs_per_block
        self.global_pool = GlobalAveragePool(n_models)
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=0)
        self.head = EnsembleLinear(n_models, channels, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, k, boxes = trace_shapes(self), self.convs[0].kernel_size, []
        for b, width in enumerate(self.widths):
            if b > 0:
                boxes.append((f"MaxPool1D {self.pool.size}", s.out("pool", b - 1)))
            last = (b + 1) * self.convs_per_block - 1
            boxes.append((f"{self.convs_per_block} x [Conv1D {width}, k={k}, same, BatchNorm, ReLU]",
                          s.out(f"norms.{last}")))
        boxes += [("GlobalAveragePooling1D", s.out("global_pool")), (f"Dropout {self.dropout.p}", s.out("dropout"))]
        return {"input": ("Input", s.inp("convs.0")), "branches": [boxes],
                "head": [(f"Dense {self.n_classes}, softmax", s.out("head"))]}

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional trunk, globally average-pooled: dense layout ``[R, B, widths[-1]]``."""
        h = to_conv_layout(x, self.n_models)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i > 0 and i % self.convs_per_block == 0:
                h = self.pool(h)
            h = F.relu(norm(conv(h)))
        return self.global_pool(h)

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pooled_features(x)))
