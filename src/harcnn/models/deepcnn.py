"""A deeper 1D CNN: blocks of Conv-BatchNorm-ReLU with widening filters, global average pooling."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (EnsembleConv1dNoBias, EnsembleDropout, EnsembleLinear, ensemble_batch_norm,
                                  global_average_pool, max_pool, to_conv_layout)
from harcnn.models.registry import register_model
from harcnn.core.settings import Float, Int

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
        self.pool_size = pool_size
        self.widths = [filters * 2 ** b for b in range(blocks)]
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        channels = n_channels
        for width in self.widths:
            for _ in range(convs_per_block):
                self.convs.append(EnsembleConv1dNoBias(n_models, channels, width, kernel_size, padding="same"))
                self.norms.append(ensemble_batch_norm(n_models, width))
                channels = width
        self.convs_per_block = convs_per_block
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=0)
        self.head = EnsembleLinear(n_models, channels, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``)."""
        k, T, boxes = self.convs[0].kernel_size, self.window, []
        for b, width in enumerate(self.widths):
            if b > 0:
                T //= self.pool_size
                boxes.append((f"MaxPool1D {self.pool_size}", f"{T} x {self.widths[b - 1]}"))
            boxes.append((f"{self.convs_per_block} x [Conv1D {width}, k={k}, same, BatchNorm, ReLU]", f"{T} x {width}"))
        boxes += [("GlobalAveragePooling1D", f"{self.widths[-1]}"), (f"Dropout {self.dropout.p}", f"{self.widths[-1]}")]
        return {"input": ("Input", f"{self.window} x {self.n_channels}"), "branches": [boxes],
                "head": [(f"Dense {self.n_classes}, softmax", f"{self.n_classes}")]}

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional trunk, globally average-pooled: dense layout ``[R, B, widths[-1]]``."""
        h = to_conv_layout(x, self.n_models)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i > 0 and i % self.convs_per_block == 0:
                h = max_pool(h, self.pool_size)
            h = F.relu(norm(conv(h)))
        return global_average_pool(h, self.n_models)

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pooled_features(x)))
