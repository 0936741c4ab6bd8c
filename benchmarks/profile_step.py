"""Where a training step of the baseline CNN spends its time, op by op (``torch.profiler``).

Trains one epoch of harcnn's engine on the first ``--windows`` UCI HAR training windows (batch 32)
for each precision and member count, under the profiler, and prints per configuration: ms per model
and step, the share of the step in Python and dispatch overhead (wall time not inside any op), and
the ops with the most self time (ms per model-step). Prints the CPU and its matrix-unit flags first.

Beside each profile, the step's floor: its matrix arithmetic (the convolutions' and dense layers'
floating-point operations, forward and backward, counted by ``torch.utils.flop_counter``) at the rate
of a large matrix product on this CPU, in this precision and thread count; and how fast the
convolutions and matrix products of the step actually ran, against that rate.

    python benchmarks/profile_step.py [--members 1,10] [--precisions fp32,bf16] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from harcnn.data import load_uci_har
from harcnn.models import create_model
from harcnn.models.config import Config
from harcnn.training.fit import fit_networks

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


def profile_fit(data, members: int, precision: str) -> tuple[float, float, list[tuple[str, float]]]:
    """(ms per model-step, ms of op self time per model-step, [(op, ms per model-step)] by self time)."""
    config = Config.from_flat({"epochs": 1, "precision": precision})
    fit_networks(config, data.subset(np.arange(320)), list(range(members)))  # warm-up: kernels, allocator
    steps = -(-len(data) // config.batch_size)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fit_networks(config, data, list(range(members)))
        wall = time.perf_counter() - start
    model_steps = steps * members
    ops = [(e.key, e.self_cpu_time_total / 1000.0 / model_steps) for e in prof.key_averages()]  # us -> ms
    ops.sort(key=lambda item: -item[1])
    return 1000.0 * wall / model_steps, sum(ms for _, ms in ops), ops


MATRIX_OPS = ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::bmm", "aten::baddbmm", "aten::mm",
              "aten::addmm")


def step_flops(window: int, channels: int, classes: int, batch: int = 32) -> float:
    """Matrix floating-point operations of one member's training step (forward and backward)."""
    model = create_model("cnn", window=window, n_channels=channels, n_classes=classes).train()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(batch, window, channels)).sum().backward()
    return float(counter.get_total_flops())


def matmul_rate(precision: str, seconds: float = 1.0) -> float:
    """FLOP/s of a 1024 x 1024 x 1024 matrix product in ``precision`` (the CPU's practical peak)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * 1024 ** 3 * count / (time.perf_counter() - start)


def main() -> None:
    from training_speed import cpu_description

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--windows", type=int, default=2048)
    parser.add_argument("--members", default="1,10")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_uci_har(args.data, progress=False)
    data = dataset.train.subset(np.arange(args.windows))
    print(f"CPU: {cpu_description()}\ntorch {torch.__version__}, {args.threads} threads; baseline CNN, batch 32, "
          f"{len(data)} windows, 1 epoch\n")
    flops = step_flops(data.spec.window, len(data.spec.channels), len(data.spec.classes))
    for precision in args.precisions.split(","):
        rate = matmul_rate(precision)
        floor = 1000.0 * flops / rate
        for members in map(int, args.members.split(",")):
            step, in_ops, ops = profile_fit(data, members, precision)
            matrix = sum(ms for name, ms in ops if name in MATRIX_OPS)
            print(f"## {precision}, {members} member(s): {step:.2f} ms per model-step; ops' self time "
                  f"{in_ops:.2f} ms, the rest ({max(0.0, step - in_ops):.2f} ms) Python and dispatch")
            print(f"Floor: {flops / 1e6:.0f} MFLOP of matrix arithmetic per model-step at {rate / 1e9:.0f} GFLOP/s "
                  f"(a large {precision} matrix product here) = {floor:.2f} ms; the step is {step / floor:.2f}x "
                  f"the floor. Convolutions and matrix products ran {matrix:.2f} ms ({100 * matrix / step:.0f}% of "
                  f"the step, at {100 * floor / matrix:.0f}% of that rate); everything else {step - matrix:.2f} ms.")
            print("| op | ms per model-step | share |\n|---|---:|---:|")
            for name, ms in ops[:args.top]:
                print(f"| {name} | {ms:.3f} | {100 * ms / step:.1f}% |")
            print(flush=True)


if __name__ == "__main__":
    main()
