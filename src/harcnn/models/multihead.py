"""The reference's multi-headed 1D CNN: three heads with kernel sizes 3, 5 and 11."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Float, Int, Ints
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import EnsembleConv1d, EnsembleDropout, EnsembleLinear, MaxPool, conv_to_dense, to_conv_layout
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes


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
        self.pool = MaxPool(pool_size)
        self.convs = nn.ModuleList(EnsembleConv1d(n_models, n_channels, filters, k) for k in kernel_sizes)
        self.dropouts = nn.ModuleList(EnsembleDropout(n_models, dropout, member_dim=2) for _ in kernel_sizes)
        flat = sum(filters * ((window - k + 1) // pool_size) for k in kernel_sizes)
        self.dense = EnsembleLinear(n_models, flat, dense_units)
        self.head = EnsembleLinear(n_models, dense_units, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s = trace_shapes(self)
        branches = [[(f"Conv1D {conv.out_channels}, k={conv.kernel_size}, ReLU", s.out(f"convs.{i}")),
                     (f"Dropout {drop.p}", s.out(f"dropouts.{i}")),
                     (f"MaxPool1D {self.pool.size}", s.out("pool", i)),
                     ("Flatten", s.out("pool", i, flat=True))]
                    for i, (conv, drop) in enumerate(zip(self.convs, self.dropouts))]
        return {
            "input": ("Input", s.inp("convs.0")),
            "branches": branches,
            "merge": ("Concatenate", s.inp("dense")),
            "head": [(f"Dense {self.dense.out_features}, ReLU", s.out("dense")),
                     (f"Dense {self.n_classes}, softmax", s.out("head"))],
        }

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_conv_layout(x, self.n_models)
        heads = [conv_to_dense(self.pool(conv(h), drop), self.n_models)
                 for conv, drop in zip(self.convs, self.dropouts)]
        return self.head(F.relu(self.dense(torch.cat(heads, dim=2))))
