"""The conv-layout building blocks against PyTorch's own layers."""

import pytest
import torch
from torch.nn import functional as F

from harcnn.core.seeding import member_streams
from harcnn.models.layers import EnsembleDropout, grouped_conv, max_pool, pad_time, relu_dropout_max_pool, sliding_max3
from harcnn.models.statistics import WindowStatistics, window_statistics


def _time_major(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).contiguous()


@pytest.mark.parametrize("padding,kernel", [("valid", 3), ("same", 5), ("valid", 1)])
def test_grouped_conv_equals_conv1d(padding, kernel):
    x = torch.randn(4, 3 * 5, 20)  # [B, G*C, L]
    weight, bias = torch.randn(3 * 7, 5, kernel), torch.randn(3 * 7)
    expected = F.conv1d(x, weight, bias, padding=padding, groups=3)
    got = grouped_conv(_time_major(x), weight, bias, padding, groups=3)
    torch.testing.assert_close(got, _time_major(expected), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size,length", [(2, 12), (2, 13), (3, 14), (4, 16)])
def test_max_pool_equals_max_pool1d_forward_and_backward(size, length):
    x = torch.randn(3, 6, length)
    x[0, 0, :2] = 1.0  # a tie: the gradient goes to the first step, as max_pool1d's
    ref_in = x.clone().requires_grad_()
    ours_in = _time_major(x).requires_grad_()
    expected = F.max_pool1d(ref_in, size)
    got = max_pool(ours_in, size)
    torch.testing.assert_close(got, _time_major(expected))
    grad = torch.randn_like(expected)
    expected.backward(grad)
    got.backward(_time_major(grad))
    torch.testing.assert_close(ours_in.grad, _time_major(ref_in.grad))
    with torch.no_grad():  # the inference path
        torch.testing.assert_close(max_pool(_time_major(x), size), _time_major(F.max_pool1d(x, size)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p,length", [(0.5, 12), (0.5, 13), (0.3, 12)])
def test_fused_relu_dropout_pool_equals_the_three_layers(dtype, p, length):
    """The same values and gradients, bit for bit (same masks from the same generators), ties included."""
    x = torch.randn(4, length, 3 * 5, dtype=dtype).round(decimals=1)  # rounded: many ties within pairs
    grad = torch.randn(4, length // 2, 3 * 5, dtype=dtype)
    results = []
    for fused in (False, True):
        dropout = EnsembleDropout(3, p, member_dim=2)
        dropout.set_generators([member_streams(seed).dropout for seed in (1, 2, 3)])
        h = x.clone().requires_grad_()
        out = relu_dropout_max_pool(h, dropout, 2) if fused else max_pool(dropout(F.relu(h)), 2)
        out.backward(grad)
        results.append((out.detach(), h.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_sliding_max3_and_pad_time():
    x = torch.randn(2, 4, 9)
    torch.testing.assert_close(sliding_max3(_time_major(x)), _time_major(F.max_pool1d(x, 3, stride=1, padding=1)))
    torch.testing.assert_close(pad_time(_time_major(x), 1, 2), _time_major(F.pad(x, (1, 2))))


def test_window_statistics_in_float32_under_bf16_autocast():
    x = torch.randn(8, 128, 9)
    from harcnn.data.uci_har import CHANNEL_NAMES

    exact = window_statistics(x.double(), 50.0, CHANNEL_NAMES)
    layer = WindowStatistics(CHANNEL_NAMES, 50.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = layer(x)
    assert got.dtype == torch.float32 and got.shape == (8, layer.n_features) == exact.shape
    close = torch.isclose(got.double(), exact, rtol=1e-3, atol=1e-3)
    assert close.float().mean() > 0.99  # only sign-change counts of near-zero samples may differ
