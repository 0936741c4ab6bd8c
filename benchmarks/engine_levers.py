"""Candidate speed levers for the training step, A/B against the engine as it is, in one run.

Each lever is a drop-in replacement for part of harcnn's baseline CNN, checked first to compute the
same values and gradients, then timed end to end: one epoch of the baseline on the UCI HAR training
windows, 1 and 10 members, the variants interleaved ``--rounds`` times (medians and minima printed,
since a shared 2-core machine swings by 10-15% between runs of the same thing). The levers:

- ``matmul-conv``: every convolution as ``k`` shifted matrix products per member on the rows of
  the ``[B*L, R*C]`` activation matrix (no im2col copy; rows that straddle two windows are dropped),
  forward and backward, instead of oneDNN's grouped convolution;
- ``fused-pool``: ReLU -> dropout -> 2-step max pooling as one autograd node whose backward is one
  product of the pooled gradient with a route saved in the forward;
- ``malloc``: glibc keeps freed memory (``GLIBC_TUNABLES``: mmap threshold 32 MB, trim threshold
  1 GB), so the 10 MB activations of 10 members are not page-faulted in afresh every step.

None of them is in the engine: on the machine measured (``benchmarks/README.md``, "Levers tried")
none gave a speed-up beyond that noise. Rerun this on another CPU before building one in.

    python benchmarks/engine_levers.py [--rounds 4] [--levers matmul-conv,fused-pool,malloc]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from harcnn.data import load_uci_har
from harcnn.models import cnn, layers
from harcnn.models.config import Config
from harcnn.training.fit import fit_networks

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


class ShiftedMatmulConv(torch.autograd.Function):
    """'valid' conv: ``x [B, L, R*C]``, ``weight [R, F, C, k]``, ``bias [R, F]`` -> ``[B, L-k+1, R*F]``."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        B, L, _ = x.shape
        R, F_out, C, k = weight.shape
        rows = B * L - (k - 1)
        x_rows = x.view(B * L, R * C)
        taps = weight.permute(0, 3, 2, 1).contiguous()  # [R, k, C, F]
        out = x.new_empty(B * L, R * F_out)
        for r in range(R):
            x_r, y_r = x_rows[:, r * C:(r + 1) * C], out[:rows, r * F_out:(r + 1) * F_out]
            torch.addmm(bias[r], x_r[:rows], taps[r, 0], out=y_r)
            for j in range(1, k):
                y_r.addmm_(x_r[j:j + rows], taps[r, j])
        ctx.save_for_backward(x, taps)
        return out.view(B, L, R * F_out)[:, :L - k + 1]

    @staticmethod
    def backward(ctx, grad):
        x, taps = ctx.saved_tensors
        B, L, _ = x.shape
        R, k, C, F_out = taps.shape
        rows = B * L - (k - 1)
        grad_rows = grad.new_zeros(B, L, R * F_out)
        grad_rows[:, :L - k + 1] = grad
        grad_rows = grad_rows.view(B * L, R * F_out)[:rows]
        x_rows = x.view(B * L, R * C)
        grad_taps = torch.empty_like(taps)
        grad_x = x.new_zeros(B * L, R * C) if ctx.needs_input_grad[0] else None
        for r in range(R):
            x_r, g_r = x_rows[:, r * C:(r + 1) * C], grad_rows[:, r * F_out:(r + 1) * F_out]
            for j in range(k):
                torch.mm(x_r[j:j + rows].t(), g_r, out=grad_taps[r, j])
                if grad_x is not None:
                    grad_x[j:j + rows, r * C:(r + 1) * C].addmm_(g_r, taps[r, j].t())
        grad_x = grad_x.view(B, L, R * C) if grad_x is not None else None
        return grad_x, grad_taps.permute(0, 3, 2, 1).contiguous(), grad_rows.sum(0).view(R, F_out)


def matmul_conv_forward(self, x):
    return ShiftedMatmulConv.apply(x.contiguous(), self.weight, self.bias)


class ReluDropoutPool2(torch.autograd.Function):
    """``max_pool(dropout(relu(h)), 2)`` with the dropout mask ``mask`` (0 or ``scale``)."""

    @staticmethod
    def forward(ctx, h, mask, scale):
        n, length = h.shape[1] // 2, h.shape[1]
        dropped = (h * mask)[:, :2 * n].unflatten(1, (n, 2))  # relu(h * m) = relu(h) * m for m >= 0
        first, second = dropped[:, :, 0], dropped[:, :, 1]
        route = h.new_empty(dropped.shape)
        torch.mul(torch.logical_and(first >= second, first > 0), scale, out=route[:, :, 0])
        torch.mul(torch.logical_and(second > first, second > 0), scale, out=route[:, :, 1])
        ctx.save_for_backward(route)
        ctx.length = length
        return torch.maximum(first, second).clamp_min_(0)

    @staticmethod
    def backward(ctx, grad):
        (route,) = ctx.saved_tensors
        grad_h = (grad.unsqueeze(2) * route).flatten(1, 2)
        return F.pad(grad_h, (0, 0, 0, ctx.length - grad_h.shape[1])), None, None


def dropout_mask(dropout, x):
    """The mask ``EnsembleDropout`` draws for ``x`` (same generators, same values)."""
    R, scale = dropout.n_models, 1.0 / (1.0 - dropout.p)
    mask = torch.empty(x.unflatten(dropout.member_dim, (R, -1)).shape, dtype=x.dtype)
    for r in range(R):
        member = mask.select(dropout.member_dim, r)
        keep = layers.random_keep_mask(member.shape, dropout.p, dropout.generators[r])
        torch.mul(keep.to(x.dtype), scale, out=member)
    return mask.view(x.shape), scale


def fused_cnn_forward(self, x):
    h = layers.to_conv_layout(x, self.n_models)
    h = F.relu(self.conv1(h))
    h = self.conv2(h)
    if self.training and self.pool_size == 2 and self.dropout.p > 0:
        h = ReluDropoutPool2.apply(h, *dropout_mask(self.dropout, h))
    else:
        h = layers.max_pool(self.dropout(F.relu(h)), self.pool_size)
    h = F.relu(self.dense(layers.conv_to_dense(h, self.n_models)))
    return self.head(h)


MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


LEVERS = ("matmul-conv", "fused-pool", "malloc")
ORIGINAL = {"conv": layers.EnsembleConv1d.forward, "cnn": cnn.CNN.forward_members}


def apply(lever: str | None) -> None:
    layers.EnsembleConv1d.forward = matmul_conv_forward if lever == "matmul-conv" else ORIGINAL["conv"]
    cnn.CNN.forward_members = fused_cnn_forward if lever == "fused-pool" else ORIGINAL["cnn"]


def check_same_maths(lever: str) -> str:
    """Max differences of outputs and gradients against the engine (same seeds), on 2 members."""
    results = []
    for variant in (None, lever):
        apply(variant)
        torch.manual_seed(0)
        model = cnn.CNN(window=128, n_channels=9, n_classes=6, n_models=2).double().train()
        model.seed_members([1, 2])
        x = torch.randn(2, 16, 128, 9, dtype=torch.float64)
        out = model(x)
        out.square().sum().backward()
        results.append([out.detach()] + [p.grad for p in model.parameters()])
    apply(None)
    diffs = [(a - b).abs().max().item() for a, b in zip(*results)]
    return f"output {diffs[0]:.1e}, gradients {max(diffs[1:]):.1e}"


def time_epoch(data_path: Path, lever: str) -> dict:
    """In this process: ms per model-step and page faults of one epoch, 1 and 10 members."""
    apply(None if lever in ("engine", "malloc") else lever)
    data = load_uci_har(data_path, progress=False).train
    config = Config.from_flat({"epochs": 1})
    fit_networks(config, data.subset(np.arange(320)), [0])  # warm-up
    steps = -(-len(data) // config.batch_size)
    result = {}
    for members in (1, 10):
        before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        fit_networks(config, data, list(range(members)))
        result[str(members)] = (1000 * (time.perf_counter() - start) / steps / members,
                                resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return result


def main() -> None:
    from training_speed import cpu_description

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--levers", default="matmul-conv,fused-pool,malloc")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # time one variant in this process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_epoch(args.data, args.child)))
        return
    levers = args.levers.split(",")
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"unknown lever(s) {', '.join(unknown)}: choose from {', '.join(LEVERS)}")
    print(f"CPU: {cpu_description()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; baseline CNN, "
          f"1 epoch, batch 32, fp32; each variant in a fresh process\n")
    for lever in levers:
        if lever != "malloc":
            print(f"{lever}: same maths as the engine (float64): {check_same_maths(lever)}")
    times: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for _ in range(args.rounds):
        for lever in ["engine"] + levers:
            env = dict(os.environ, GLIBC_TUNABLES=MALLOC_TUNABLES) if lever == "malloc" else None
            out = subprocess.run([sys.executable, __file__, "--data", str(args.data), "--child", lever], env=env,
                                 check=True, capture_output=True, text=True).stdout
            for members, value in json.loads(out.splitlines()[-1]).items():
                times.setdefault((lever, members), []).append(tuple(value))
    print("\n| variant | members | median ms per model-step | min | page faults per epoch | rounds |\n"
          "|---|---:|---:|---:|---:|---|")
    for (lever, members), values in sorted(times.items(), key=lambda item: int(item[0][1])):
        ms = [v[0] for v in values]
        print(f"| {lever} | {members} | {statistics.median(ms):.2f} | {min(ms):.2f} | "
              f"{statistics.median(v[1] for v in values):,.0f} | {' '.join(f'{v:.2f}' for v in ms)} |")


if __name__ == "__main__":
    main()
