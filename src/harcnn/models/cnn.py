"""The reference baseline: a two-layer 1D CNN (Keras tutorial, UCI HAR)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harcnn.errors import HarcnnError
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import EnsembleConv1d, EnsembleDropout, EnsembleLinear, conv_to_dense, to_conv_layout
from harcnn.models.registry import register_model


@register_model("cnn")
class CNN(EnsembleModel):
    """Conv1D(f, k, ReLU) -> Conv1D(f, k, ReLU) -> Dropout -> MaxPool(2) -> Flatten -> Dense(100, ReLU) -> Dense(K).

    'valid' padding, Glorot-uniform weights, zero biases: 411,650 parameters at the defaults.
    """

    def __init__(self, n_models: int = 1, n_channels: int = 9, n_classes: int = 6, window: int = 128,
                 filters: int = 64, kernel_size: int = 3, dropout: float = 0.5, dense_units: int = 100,
                 pool_size: int = 2):
        super().__init__(n_models, n_channels, n_classes, window)
        conv_length = window - 2 * (kernel_size - 1)
        if filters < 1 or kernel_size < 1 or conv_length // pool_size < 1:
            raise HarcnnError(f"cnn: filters={filters}, kernel_size={kernel_size} do not fit windows of {window} steps")
        self.pool_size = pool_size
        self.conv1 = EnsembleConv1d(n_models, n_channels, filters, kernel_size)
        self.conv2 = EnsembleConv1d(n_models, filters, filters, kernel_size)
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=1)
        self.dense = EnsembleLinear(n_models, filters * (conv_length // pool_size), dense_units)
        self.head = EnsembleLinear(n_models, dense_units, n_classes)

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_conv_layout(x, self.n_models)
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h))
        h = F.max_pool1d(self.dropout(h), self.pool_size)
        h = F.relu(self.dense(conv_to_dense(h, self.n_models)))
        return self.head(h)
