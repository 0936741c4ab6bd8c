"""The reference's multi-headed 1D CNN: three heads with kernel sizes 3, 5 and 11."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (EnsembleConv1d, EnsembleDropout, EnsembleLinear, conv_to_dense,
                                  relu_dropout_max_pool, to_conv_layout)
from harcnn.models.registry import register_model
from harcnn.core.settings import Float, Int, Ints


@register_model("multihead",
                filters=(Int(1, 4096), "filters of each head's convolution"),
                kernel_sizes=(Ints(1, 1000), "one head per kernel size"),
                dropout=(Float(0, 1, high_open=True), "dropout rate after each head's convolution"),
                dense_units=(Int(1, 10_000), "units of the hidden dense layer"),
                pool_size=(Int(1, 1000), "max-pooling size"))
class MultiHeadCNN(EnsembleModel):
    """Per head: Conv1D(f, k, ReLU) -> Dropout -> MaxPool(2) -> Flatten; Concatenate -> Dense(100, ReLU) -> Dense(K)."""

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 filters: int = 64, kernel_sizes: Sequence[int] = (3, 5, 11), dropout: float = 0.5,
                 dense_units: int = 100, pool_size: int = 2):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if any((window - k + 1) // pool_size < 1 for k in kernel_sizes):
            raise HarcnnError(f"multihead: kernel sizes {kernel_sizes} do not fit windows of {window} steps")
        self.pool_size = pool_size
        self.convs = nn.ModuleList(EnsembleConv1d(n_models, n_channels, filters, k) for k in kernel_sizes)
        self.dropouts = nn.ModuleList(EnsembleDropout(n_models, dropout, member_dim=2) for _ in kernel_sizes)
        flat = sum(filters * ((window - k + 1) // pool_size) for k in kernel_sizes)
        self.dense = EnsembleLinear(n_models, flat, dense_units)
        self.head = EnsembleLinear(n_models, dense_units, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``)."""
        T, branches = self.window, []
        for conv, drop in zip(self.convs, self.dropouts):
            f, k = conv.out_channels, conv.kernel_size
            pooled = (T - k + 1) // self.pool_size
            branches.append([(f"Conv1D {f}, k={k}, ReLU", f"{T - k + 1} x {f}"),
                             (f"Dropout {drop.p}", f"{T - k + 1} x {f}"),
                             (f"MaxPool1D {self.pool_size}", f"{pooled} x {f}"),
                             ("Flatten", f"{pooled * f}")])
        return {
            "input": ("Input", f"{T} x {self.n_channels}"),
            "branches": branches,
            "merge": ("Concatenate", f"{self.dense.in_features}"),
            "head": [(f"Dense {self.dense.out_features}, ReLU", f"{self.dense.out_features}"),
                     (f"Dense {self.n_classes}, softmax", f"{self.n_classes}")],
        }

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_conv_layout(x, self.n_models)
        heads = [conv_to_dense(relu_dropout_max_pool(conv(h), drop, self.pool_size), self.n_models)
                 for conv, drop in zip(self.convs, self.dropouts)]
        return self.head(F.relu(self.dense(torch.cat(heads, dim=2))))
