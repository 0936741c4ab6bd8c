"""A hybrid network: the deep CNN's learned features beside the windows' statistical features.

The 324 statistics of :mod:`harcnn.models.statistics` (means and percentiles that carry the
gravity direction, spectra, axis correlations, ...) are computed from the input window inside
the forward pass, normalised by batch norm, and concatenated with the CNN's globally pooled
features before the classifier (as in Ignatov, 2018). Input and output are those of every other
harcnn network: raw windows in, logits out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harcnn.core.errors import HarcnnError
from harcnn.models.deepcnn import DEEPCNN_SETTINGS, DeepCNN
from harcnn.models.layers import EnsembleLinear, ensemble_batch_norm
from harcnn.models.registry import register_model
from harcnn.models.statistics import WindowStatistics
from harcnn.models.summary import trace_shapes


@register_model("hybrid", **DEEPCNN_SETTINGS)
class Hybrid(DeepCNN):
    """:class:`DeepCNN` trunk -> GlobalAveragePooling1D, concatenated with BatchNorm(window statistics)
    -> Dropout -> Dense(K). The statistics need the sampling rate (spectra) and the channel names
    (x, y, z triplets get magnitudes and correlations). At the defaults, on UCI HAR's 9 channels:
    164,422 parameters."""

    def __init__(self, *, window: int, n_channels: int, n_classes: int, sampling_rate: float | None,
                 channel_names: Sequence[str] | None = None, n_models: int = 1,
                 blocks: int = 3, filters: int = 32, kernel_size: int = 5, convs_per_block: int = 2,
                 dropout: float = 0.5, pool_size: int = 2):
        super().__init__(window=window, n_channels=n_channels, n_classes=n_classes, n_models=n_models,
                         blocks=blocks, filters=filters, kernel_size=kernel_size, convs_per_block=convs_per_block,
                         dropout=dropout, pool_size=pool_size)
        if sampling_rate is None:
            raise HarcnnError("hybrid computes spectra of its windows, so it needs their sampling rate: give the "
                              "data's input spec (HARClassifier(input_spec=...), or a dataset that says its rate)")
        names = tuple(channel_names) if channel_names is not None else tuple(f"channel_{i}" for i in range(n_channels))
        if len(names) != n_channels:
            raise HarcnnError(f"hybrid: {len(names)} channel names for {n_channels} channels")
        self.statistics = WindowStatistics(names, sampling_rate)
        self.statistics_norm = ensemble_batch_norm(n_models, self.statistics.n_features)
        self.head = EnsembleLinear(n_models, self.widths[-1] + self.statistics.n_features, n_classes)

    def architecture(self) -> dict:
        diagram = super().architecture()
        s = trace_shapes(self)
        cnn = diagram["branches"][0][:-1]  # without the dropout, which follows the concatenation
        statistics = [(f"{self.statistics.n_features} window statistics", s.out("statistics")),
                      ("BatchNorm", s.out("statistics_norm"))]
        diagram["branches"] = [cnn, statistics]
        diagram["merge"] = ("Concatenate", s.inp("dropout"))
        diagram["head"] = [(f"Dropout {self.dropout.p}", s.out("dropout"))] + diagram["head"]
        return diagram

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        R, T, C = self.n_models, self.window, self.n_channels
        learned = self.pooled_features(x)  # [R, B, D]
        stats = self.statistics(x.reshape(-1, T, C))  # [R*B or B, F], member-major
        stats = stats.unflatten(0, (-1, x.shape[-3])).expand(R, -1, -1)  # [R, B, F]
        B, n_stats = stats.shape[1], stats.shape[2]
        stats = (self.statistics_norm(stats.transpose(0, 1).reshape(B, R * n_stats))
                 .reshape(B, R, n_stats).transpose(0, 1))
        joined = torch.cat([learned, stats.to(learned.dtype)], dim=2)
        return self.head(self.dropout(joined))
