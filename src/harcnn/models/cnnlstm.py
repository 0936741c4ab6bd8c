"""DeepConvLSTM (Ordóñez & Roggen 2016): convolutions extract features, LSTMs model their sequence."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Float, Int
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import (
    EnsembleConv1d,
    EnsembleDropout,
    EnsembleLinear,
    EnsembleLSTM,
    conv_to_sequence,
    to_conv_layout,
    to_sequence_layout,
)
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes


@register_model("cnnlstm",
                conv_layers=(Int(0, 100), "convolutions before the LSTMs"),
                filters=(Int(1, 4096), "filters of each convolution"),
                kernel_size=(Int(1, 1000), "kernel size of each convolution"),
                hidden=(Int(1, 4096), "units of each LSTM layer"),
                lstm_layers=(Int(1, 100), "stacked LSTM layers"),
                dropout=(Float(0, 1, high_open=True), "dropout rate between and after the LSTM layers"))
class CNNLSTM(EnsembleModel):
    """``conv_layers`` x Conv1D(``filters``, ``kernel_size``, 'valid', ReLU) -> ``lstm_layers`` x LSTM(``hidden``)
    (Dropout before every LSTM layer after the first) -> last time step -> Dropout -> Dense(K).

    The published network: 4 convolutions of 64 filters (kernel 5) and 2 LSTM layers of 128 units,
    dropout 0.5; 295,750 parameters on 9 channels (one LSTM bias per gate, as Keras).
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 conv_layers: int = 4, filters: int = 64, kernel_size: int = 5, hidden: int = 128,
                 lstm_layers: int = 2, dropout: float = 0.5):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        if window - conv_layers * (kernel_size - 1) < 1:
            raise HarcnnError(f"cnnlstm: {conv_layers} convolutions of kernel {kernel_size} "
                              f"do not fit windows of {window} steps")
        self.convs = nn.ModuleList(EnsembleConv1d(n_models, n_channels if i == 0 else filters, filters, kernel_size)
                                   for i in range(conv_layers))
        features = filters if conv_layers else n_channels
        self.lstms = nn.ModuleList(EnsembleLSTM(n_models, features if i == 0 else hidden, hidden)
                                   for i in range(lstm_layers))
        self.dropouts = nn.ModuleList(EnsembleDropout(n_models, dropout, member_dim=0) for _ in range(lstm_layers))
        self.head = EnsembleLinear(n_models, hidden, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, boxes = trace_shapes(self), []
        for i, conv in enumerate(self.convs):
            boxes.append((f"Conv1D {conv.out_channels}, k={conv.kernel_size}, ReLU", s.out(f"convs.{i}")))
        H = self.lstms[0].hidden_size
        for i in range(len(self.lstms)):
            last = i == len(self.lstms) - 1
            if i > 0 and self.dropouts[i - 1].p:
                boxes.append((f"Dropout {self.dropouts[i - 1].p}", s.out(f"dropouts.{i - 1}")))
            boxes.append((f"LSTM {H}" + (", last state" if last else ""), s.out(f"lstms.{i}")))
        if self.dropouts[-1].p:
            boxes.append((f"Dropout {self.dropouts[-1].p}", s.out(f"dropouts.{len(self.lstms) - 1}")))
        return {"input": ("Input", f"{self.window} x {self.n_channels}"), "branches": [boxes],
                "head": [(f"Dense {self.n_classes}, softmax", s.out("head"))]}

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        R = self.n_models
        if self.convs:
            h = to_conv_layout(x, R)
            for conv in self.convs:
                h = F.relu(conv(h))
            h = conv_to_sequence(h, R)
        else:
            h = to_sequence_layout(x, R)
        for i, (lstm, dropout) in enumerate(zip(self.lstms, self.dropouts)):
            h = dropout(lstm(h, return_sequences=i < len(self.lstms) - 1))
        return self.head(h)
