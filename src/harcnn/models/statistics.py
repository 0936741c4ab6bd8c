"""Statistical features of inertial windows, in PyTorch: one implementation for models and baselines.

Per signal (the channels and the magnitudes of every x, y, z triplet of channels, found by name:
``<sensor>_x``, ``<sensor>_y``, ``<sensor>_z``): mean, standard deviation, min, max, percentiles, energy,
mean absolute deviation, skewness, kurtosis, mean-crossing rate, jerk (first difference) statistics, and from the power
spectrum of the mean-removed window: dominant frequency, spectral centroid, spectral entropy
and log band powers; per sensor: the correlations between its axes and the signal magnitude
area. 324 features for UCI HAR's 9 channels (3 triplets).

Everything is plain tensor algebra (the spectrum is a matmul with a DFT basis, percentiles come
from a sort), so it runs batched inside a network, under autocast, and exports to ONNX.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn

from harcnn.data.windows import triplets

PERCENTILES = (10, 25, 50, 75, 90)
BANDS_HZ = ((0.0, 0.5), (0.5, 1.5), (1.5, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 12.0), (12.0, 25.0))
TINY = 1e-12

SIGNAL_STATS = (
    ["mean", "std", "min", "max"] + [f"p{q}" for q in PERCENTILES]
    + ["energy", "mad", "skewness", "kurtosis", "mean_crossing_rate", "jerk_std", "jerk_mean_abs",
       "dominant_freq", "spectral_centroid", "spectral_entropy"]
    + [f"log_power_{lo:g}-{hi:g}Hz" for lo, hi in BANDS_HZ]
)


def statistic_names(channel_names: Sequence[str]) -> list[str]:
    """The names of :func:`window_statistics`' columns, in order."""
    sensors = [sensor for sensor, _ in triplets(channel_names)]
    signals = list(channel_names) + [f"{sensor}_magnitude" for sensor in sensors]
    names = [f"{signal}:{stat}" for signal in signals for stat in SIGNAL_STATS]
    for sensor in sensors:
        names += [f"{sensor}:corr_xy", f"{sensor}:corr_xz", f"{sensor}:corr_yz", f"{sensor}:sma"]
    return names


def window_statistics(x: torch.Tensor, sampling_rate: float, channel_names: Sequence[str]) -> torch.Tensor:
    """Windows ``[N, T, C]`` -> features ``[N, F]`` in ``x``'s dtype (see :func:`statistic_names`).

    Scale-free statistics of constant signals are 0, not NaN.
    """
    N, T, C = x.shape
    groups = [x[:, :, list(axes)] for _, axes in triplets(channel_names)]
    signals = x
    if groups:
        magnitudes = torch.stack([t.square().sum(dim=2).sqrt() for t in groups], dim=2)
        signals = torch.cat([x, magnitudes], dim=2)
    columns = [_signal_statistics(signals, sampling_rate).flatten(1)]
    for t in groups:
        centred = t - t.mean(dim=1, keepdim=True)
        cov = torch.einsum("ntc,ntd->ncd", centred, centred) / T
        sd = cov.diagonal(dim1=1, dim2=2).sqrt()
        corr = [_safe_divide(cov[:, a, b], sd[:, a] * sd[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))]
        sma = t.abs().sum(dim=2).mean(dim=1)
        columns.append(torch.stack(corr + [sma], dim=1))
    return torch.cat(columns, dim=1)


class WindowStatistics(nn.Module):
    """:func:`window_statistics` as a layer: always computed in float32 (also under autocast)."""

    def __init__(self, channel_names: Sequence[str], sampling_rate: float):
        super().__init__()
        self.channel_names, self.sampling_rate = tuple(channel_names), float(sampling_rate)
        self.n_features = len(statistic_names(self.channel_names))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return window_statistics(x.float(), self.sampling_rate, self.channel_names)

    def extra_repr(self) -> str:
        return f"channels={len(self.channel_names)}, sampling_rate={self.sampling_rate:g}, n_features={self.n_features}"


def _safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > TINY, a / torch.where(b > TINY, b, torch.ones_like(b)), torch.zeros_like(a))


def _percentiles(S: torch.Tensor) -> list[torch.Tensor]:
    """Linear-interpolation percentiles over axis 1 (numpy's default method)."""
    ordered = S.sort(dim=1).values
    T, out = S.shape[1], []
    for q in PERCENTILES:
        position = q / 100 * (T - 1)
        lo = math.floor(position)
        hi, frac = min(lo + 1, T - 1), position - lo
        out.append(ordered[:, lo] * (1 - frac) + ordered[:, hi] * frac)
    return out


@lru_cache(maxsize=8)
def _dft_basis(T: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine bases ``[F, T]`` of the real DFT (F = T // 2 + 1), cached: they are built once,
    as ordinary tensors even when first asked for under inference mode, so autograd can use them later."""
    with torch.inference_mode(False), torch.no_grad():
        t = torch.arange(T, dtype=torch.float64, device=device)
        k = torch.arange(T // 2 + 1, dtype=torch.float64, device=device)
        angle = 2 * math.pi * torch.outer(k, t) / T
        return angle.cos().to(dtype), angle.sin().to(dtype)


@lru_cache(maxsize=8)
def _band_bins(T: int, sampling_rate: float) -> list[tuple[int, int]]:
    """The rFFT bins ``first:stop`` of each band in :data:`BANDS_HZ` (lo <= f < hi; the top band keeps Nyquist)."""
    freqs = [k * sampling_rate / T for k in range(T // 2 + 1)]
    bins = []
    for lo, hi in BANDS_HZ:
        inside = [k for k, f in enumerate(freqs) if f >= lo and (f < hi or (hi >= freqs[-1] and f <= hi))]
        bins.append((inside[0], inside[-1] + 1) if inside else (0, 0))
    return bins


def _signal_statistics(S: torch.Tensor, sampling_rate: float) -> torch.Tensor:
    """``S [N, T, K]`` -> ``[N, K, len(SIGNAL_STATS)]``."""
    N, T, K = S.shape
    mean = S.mean(dim=1)
    centred = S - mean[:, None, :]
    var = centred.square().mean(dim=1)
    std = var.sqrt()
    energy = S.square().mean(dim=1)
    mad = centred.abs().mean(dim=1)
    skewness = _safe_divide(centred.pow(3).mean(dim=1), std.pow(3))
    kurtosis = torch.where(std > TINY, _safe_divide(centred.pow(4).mean(dim=1), var.square()) - 3.0,
                           torch.zeros_like(var))
    below = centred < 0
    crossing_rate = (below[:, 1:] != below[:, :-1]).to(S.dtype).mean(dim=1)
    jerk = (S[:, 1:] - S[:, :-1]) * sampling_rate
    jerk_std = jerk.std(dim=1, unbiased=False)
    jerk_mean_abs = jerk.abs().mean(dim=1)

    cos, sin = _dft_basis(T, S.dtype, S.device)
    power = (torch.einsum("ft,ntk->nfk", cos, centred).square()
             + torch.einsum("ft,ntk->nfk", sin, centred).square()) / T  # [N, F, K]
    freqs = torch.arange(T // 2 + 1, dtype=S.dtype, device=S.device) * (sampling_rate / T)
    ac = power[:, 1:]  # without the DC bin (zero after removing the mean)
    total = ac.sum(dim=1)
    dominant = torch.where(total > TINY, freqs[1:][ac.argmax(dim=1)], torch.zeros_like(total))
    centroid = _safe_divide((ac * freqs[1:, None]).sum(dim=1), total)
    p = ac / torch.where(total > TINY, total, torch.ones_like(total))[:, None, :]
    entropy = -(p * torch.where(p > 0, p, torch.ones_like(p)).log()).sum(dim=1) / math.log(ac.shape[1])
    bands = [(power[:, first:stop].sum(dim=1) + 1e-10).log() for first, stop in _band_bins(T, sampling_rate)]

    stats = [mean, std, S.amin(dim=1), S.amax(dim=1), *_percentiles(S), energy, mad, skewness, kurtosis,
             crossing_rate, jerk_std, jerk_mean_abs, dominant, centroid, entropy, *bands]
    return torch.stack(stats, dim=2)
