"""The reference baseline: a two-layer 1D CNN (Keras tutorial, UCI HAR)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Float, Int
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import EnsembleConv1d, EnsembleDropout, EnsembleLinear, MaxPool, conv_to_dense, to_conv_layout
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes


@register_model("cnn",
                filters=(Int(1, 4096), "filters of both convolutions"),
                kernel_size=(Int(1, 1000), "kernel size of both convolutions"),
                dropout=(Float(0, 1, high_open=True), "dropout rate after the convolutions"),
                dense_units=(Int(1, 10_000), "units of the hidden dense layer"),
                pool_size=(Int(1, 1000), "max-pooling size"))
class CNN(EnsembleModel):
    """Conv1D(f, k, ReLU) -> Conv1D(f, k, ReLU) -> Dropout -> MaxPool(2) -> Flatten -> Dense(100, ReLU) -> Dense(K).

    'valid' padding, Glorot-uniform weights, zero biases: 411,650 parameters at the defaults.
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 filters: int = 64, kernel_size: int = 3, dropout: float = 0.5, dense_units: int = 100,
                 pool_size: int = 2):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        conv_length = window - 2 * (kernel_size - 1)
        if conv_length // pool_size < 1:
            raise HarcnnError(f"cnn: kernel_size={kernel_size} and pool_size={pool_size} do not fit windows of "
                              f"{window} steps")
        self.pool = MaxPool(pool_size)
        self.conv1 = EnsembleConv1d(n_models, n_channels, filters, kernel_size)
        self.conv2 = EnsembleConv1d(n_models, filters, filters, kernel_size)
        self.dropout = EnsembleDropout(n_models, dropout, member_dim=2)
        self.dense = EnsembleLinear(n_models, filters * (conv_length // pool_size), dense_units)
        self.head = EnsembleLinear(n_models, dense_units, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, f, k = trace_shapes(self), self.conv1.out_channels, self.conv1.kernel_size
        return {
            "input": ("Input", s.inp("conv1")),
            "branches": [[
                (f"Conv1D {f}, k={k}, ReLU", s.out("conv1")),
                (f"Conv1D {f}, k={k}, ReLU", s.out("conv2")),
                (f"Dropout {self.dropout.p}", s.out("dropout")),
                (f"MaxPool1D {self.pool.size}", s.out("pool")),
                ("Flatten", s.inp("dense")),
            ]],
            "head": [(f"Dense {self.dense.out_features}, ReLU", s.out("dense")),
                     (f"Dense {self.n_classes}, softmax", s.out("head"))],
        }

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_conv_layout(x, self.n_models)
        h = F.relu(self.conv1(h))
        h = self.pool(self.conv2(h), self.dropout)
        h = F.relu(self.dense(conv_to_dense(h, self.n_models)))
        return self.head(h)
