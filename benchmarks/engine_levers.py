"""Candidate speed levers for the training step, A/B against the engine as it is, in one run.

Each lever is a drop-in replacement for part of harcnn's baseline CNN, checked first to compute the
same values and gradients, then timed end to end: one epoch of the baseline on the UCI HAR training
windows, 1 and 10 members, the variants interleaved ``--rounds`` times (medians and minima printed,
since a shared 2-core machine swings by 10-15% between runs of the same thing). The levers:

- ``matmul-conv``: every convolution as ``k`` shifted matrix products per member on the rows of
  the ``[B*L, R*C]`` activation matrix (no im2col copy; rows that straddle two windows are dropped),
  forward and backward, instead of oneDNN's grouped convolution;
- ``malloc``: glibc keeps freed memory (``GLIBC_TUNABLES``: mmap threshold 32 MB, trim threshold
  1 GB), so the 10 MB activations of 10 members are not page-faulted in afresh every step.

Neither is in the engine: on the machines measured (``benchmarks/README.md``, "Levers tried")
neither gave a speed-up beyond that noise. Rerun this on another CPU before building one in. (A
third, fused ReLU -> dropout -> pooling, is now the engine's ``relu_dropout_max_pool``.)

``--trees`` adds the engine of other source trees as variants (``NAME=DIR``, DIR holding the
``harcnn`` package, e.g. the ``src`` of a ``git worktree`` of an earlier commit): a lever built into
the engine is timed against the commit before it the same way. ``--threads 1`` (what each of the 2
worker processes of ``harcnn evaluate`` uses) also makes the CPU time per step meaningful: it is
printed beside the wall time, and it is less disturbed than wall time by other processes on a
shared machine.

    python benchmarks/engine_levers.py [--rounds 4] [--levers matmul-conv,malloc]
    python benchmarks/engine_levers.py --levers "" --trees before=/tmp/before/src --threads 1 --precision bf16
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


MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


LEVERS = ("matmul-conv", "malloc")
ORIGINAL = {"conv": layers.EnsembleConv1d.forward}


def apply(lever: str | None) -> None:
    layers.EnsembleConv1d.forward = matmul_conv_forward if lever == "matmul-conv" else ORIGINAL["conv"]


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


def time_epoch(data_path: Path, lever: str, members: list[int], precision: str, windows: int | None) -> dict:
    """In this process: (ms per model-step, CPU ms per model-step, page faults) of one epoch per member count."""
    apply(lever if lever in LEVERS and lever != "malloc" else None)
    data = load_uci_har(data_path, progress=False).train
    if windows:
        data = data.subset(np.arange(windows))
    config = Config.from_flat({"epochs": 1, "precision": precision})
    fit_networks(config, data.subset(np.arange(320)), [0])  # warm-up
    steps = -(-len(data) // config.batch_size)
    result = {}
    for count in members:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start, cpu = time.perf_counter(), time.process_time()
        fit_networks(config, data, list(range(count)))
        result[str(count)] = (1000 * (time.perf_counter() - start) / steps / count,
                              1000 * (time.process_time() - cpu) / steps / count,
                              resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
    return result


def main() -> None:
    from training_speed import cpu_description

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--levers", default="matmul-conv,malloc")
    parser.add_argument("--trees", default="", help="NAME=DIR,...: the engine of other source trees as variants")
    parser.add_argument("--members", default="1,10")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--windows", type=int, help="time an epoch of the first WINDOWS training windows")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # time one variant in this process
    args = parser.parse_args()
    members = [int(m) for m in args.members.split(",")]
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(time_epoch(args.data, args.child, members, args.precision, args.windows)))
        return
    levers = [lever for lever in args.levers.split(",") if lever]
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"unknown lever(s) {', '.join(unknown)}: choose from {', '.join(LEVERS)}")
    trees = dict(tree.split("=", 1) for tree in args.trees.split(",") if tree)
    missing = [path for path in trees.values() if not (Path(path) / "harcnn").is_dir()]
    if missing:
        parser.error(f"--trees: no harcnn package in {', '.join(missing)}")
    print(f"CPU: {cpu_description()}\ntorch {torch.__version__}, {args.threads} threads; baseline CNN, 1 epoch "
          f"of {args.windows or 'all'} windows, batch 32, {args.precision}; each variant in a fresh process, "
          f"the order rotated every round\n")
    for lever in levers:
        if lever != "malloc":
            print(f"{lever}: same maths as the engine (float64): {check_same_maths(lever)}")
    variants = ["engine"] + levers + list(trees)
    times: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for round_ in range(args.rounds):
        for variant in variants[round_ % len(variants):] + variants[:round_ % len(variants)]:
            env = dict(os.environ)
            if variant == "malloc":
                env["GLIBC_TUNABLES"] = MALLOC_TUNABLES
            if variant in trees:
                env["PYTHONPATH"] = os.pathsep.join([trees[variant], env.get("PYTHONPATH", "")])
            command = [sys.executable, __file__, "--data", str(args.data), "--child", variant, "--members",
                       args.members, "--precision", args.precision, "--threads", str(args.threads)]
            out = subprocess.run(command + (["--windows", str(args.windows)] if args.windows else []), env=env,
                                 check=True, capture_output=True, text=True).stdout
            for count, value in json.loads(out.splitlines()[-1]).items():
                times.setdefault((variant, count), []).append(tuple(value))
    print("\n| variant | members | CPU ms per model-step, median | min-max | wall ms, median | page faults per epoch |"
          " CPU ms of each round |\n|---|---:|---:|---:|---:|---:|---|")
    for (variant, count), values in sorted(times.items(), key=lambda item: int(item[0][1])):
        cpu = [v[1] for v in values]
        print(f"| {variant} | {count} | {statistics.median(cpu):.2f} | {min(cpu):.2f}-{max(cpu):.2f} | "
              f"{statistics.median(v[0] for v in values):.2f} | {statistics.median(v[2] for v in values):,.0f} | "
              f"{' '.join(f'{v:.2f}' for v in cpu)} |")


if __name__ == "__main__":
    main()
