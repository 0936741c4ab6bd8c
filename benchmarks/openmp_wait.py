"""One model on all cores of a busy machine: how OpenMP's waiting threads decide the training time.

A single model (``harcnn train``, ``harcnn evaluate --repeats 1``) trains in one process with one torch
thread per core. PyTorch's CPU builds use GNU OpenMP (libgomp), whose threads spin at every barrier
(300,000 rounds by default) before they sleep. On a quiet machine that is fastest; when other processes
want the same cores, the spinning threads take the time slices the working thread needs, and a run
slows down several-fold. ``harcnn``'s command line sets ``GOMP_SPINCOUNT`` (unless the environment
already sets it, or ``OMP_WAIT_POLICY``) before torch starts; this benchmark measures the choice.

For each background load (that many busy processes beside the run) and each waiting policy, one epoch
of the baseline CNN (one member, all cores; and on one thread, for comparison) in a fresh process; the
rows rotate every round and the medians are printed.

    python benchmarks/openmp_wait.py [--loads 0,2,4] [--rounds 2] [--epochs 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"
POLICIES = {
    "libgomp default (spin 300,000)": {"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": None},
    "harcnn's command line (GOMP_SPINCOUNT=10000)": {"GOMP_SPINCOUNT": "10000", "OMP_WAIT_POLICY": None},
    "OMP_WAIT_POLICY=PASSIVE": {"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": "PASSIVE"},
    "one thread (--threads 1)": {"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": None, "HARCNN_BENCH_THREADS": "1"},
}
CHILD = """
import os, sys, time
import torch
from harcnn.data import load_uci_har
from harcnn.models.config import Config
from harcnn.training.fit import fit_networks
torch.set_num_threads(int(os.environ.get("HARCNN_BENCH_THREADS", torch.get_num_threads())))
data = load_uci_har(sys.argv[1], progress=False).train
start = time.perf_counter()
fit_networks(Config.from_flat({"epochs": int(sys.argv[2])}), data, [0])
print(time.perf_counter() - start)
"""


def load_list(text: str) -> list[int]:
    """``--loads``: comma-separated counts of busy processes, each 0 or more."""
    try:
        loads = [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts like 0,2,4, got {text!r}") from None
    if any(load < 0 for load in loads):
        raise argparse.ArgumentTypeError(f"counts must be 0 or more, got {text!r}")
    return loads


def busy() -> None:
    while True:
        pass


def time_training(data: Path, epochs: int, policy: dict[str, str | None]) -> float:
    env = {key: value for key, value in os.environ.items() if key not in policy}
    env.update({key: value for key, value in policy.items() if value is not None})
    out = subprocess.run([sys.executable, "-c", CHILD, str(data), str(epochs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    from training_speed import cpu_description

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--loads", type=load_list, default="0,2,4", help="busy processes beside the run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; {os.cpu_count()} cores; baseline CNN, 1 member, {args.epochs} epoch(s) of "
          f"UCI HAR, all cores, each run in a fresh process\n")
    names = list(POLICIES)
    seconds: dict[tuple[int, str], list[float]] = {}
    for load in args.loads:
        workers = [multiprocessing.Process(target=busy, daemon=True) for _ in range(load)]
        for worker in workers:
            worker.start()
        time.sleep(1)
        try:
            for round_ in range(args.rounds):
                for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                    seconds.setdefault((load, name), []).append(time_training(args.data, args.epochs, POLICIES[name]))
                    print(f"load {load}, round {round_ + 1}: {name}: {seconds[(load, name)][-1]:.2f} s", flush=True)
        finally:
            for worker in workers:
                worker.terminate()
    loads = sorted({load for load, _ in seconds})
    print(f"\nTraining seconds, median of {args.rounds} round(s)\n\n| waiting threads | "
          + " | ".join(f"load {load}" for load in loads) + " |\n|---|" + "---:|" * len(loads))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{statistics.median(seconds[(load, name)]):.2f}" for load in loads) + " |")


if __name__ == "__main__":
    main()
