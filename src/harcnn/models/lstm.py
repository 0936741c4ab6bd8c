"""A stacked LSTM on the raw 9-channel sequence; the last hidden state feeds a dense head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harcnn.core.settings import Float, Int
from harcnn.models.base import EnsembleModel
from harcnn.models.layers import EnsembleDropout, EnsembleLinear, EnsembleLSTM, to_sequence_layout
from harcnn.models.registry import register_model
from harcnn.models.summary import trace_shapes


@register_model("lstm",
                hidden=(Int(1, 4096), "units of each LSTM layer"),
                layers=(Int(1, 100), "stacked LSTM layers"),
                dropout=(Float(0, 1, high_open=True), "dropout rate after each LSTM layer"),
                dense_units=(Int(0, 10_000), "units of a hidden dense layer before the classifier (0: none)"))
class LSTMNet(EnsembleModel):
    """``layers`` x LSTM(``hidden``) (Dropout between layers) -> last hidden state -> Dropout
    -> [Dense(``dense_units``, ReLU) if > 0] -> Dense(K).

    Keras-style initialisation (Glorot input kernels, orthogonal recurrent kernels, forget-gate
    bias 1). At the defaults (2 x 64 units): 53,766 parameters.
    """

    def __init__(self, *, window: int, n_channels: int, n_classes: int, n_models: int = 1,
                 hidden: int = 64, layers: int = 2, dropout: float = 0.2, dense_units: int = 0):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models)
        self.lstms = nn.ModuleList(EnsembleLSTM(n_models, n_channels if i == 0 else hidden, hidden)
                                   for i in range(layers))
        self.dropouts = nn.ModuleList(EnsembleDropout(n_models, dropout, member_dim=0) for _ in range(layers))
        self.dense = EnsembleLinear(n_models, hidden, dense_units) if dense_units else None
        self.head = EnsembleLinear(n_models, dense_units or hidden, n_classes)

    def architecture(self) -> dict:
        """The layer diagram of one member (for ``harcnn.reports.plots.architecture_diagram``), its shapes traced."""
        s, H, boxes = trace_shapes(self), self.lstms[0].hidden_size, []
        for i in range(len(self.lstms)):
            last = i == len(self.lstms) - 1
            boxes.append((f"LSTM {H}" + (", last state" if last else ""), s.out(f"lstms.{i}")))
            if self.dropouts[i].p:
                boxes.append((f"Dropout {self.dropouts[i].p}", s.out(f"dropouts.{i}")))
        head = [(f"Dense {self.dense.out_features}, ReLU", s.out("dense"))] if self.dense else []
        return {"input": ("Input", f"{self.window} x {self.n_channels}"), "branches": [boxes],
                "head": head + [(f"Dense {self.n_classes}, softmax", s.out("head"))]}

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        h = to_sequence_layout(x, self.n_models)
        for i, (lstm, dropout) in enumerate(zip(self.lstms, self.dropouts)):
            h = dropout(lstm(h, return_sequences=i < len(self.lstms) - 1))
        if self.dense is not None:
            h = F.relu(self.dense(h))
        return self.head(h)
