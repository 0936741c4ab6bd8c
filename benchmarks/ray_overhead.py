"""Ray's overhead: the same small study on local worker processes and on Ray, side by side in one run.

The study: the baseline CNN (fp32), kernel sizes 3 and 5, ``--repeats`` repeats each on the official
split, ``--epochs`` epochs, one network per job (``models_per_batch=1``, so every trial is a job and
per-job costs show), 2 jobs at a time. It runs four times, interleaved so that a shared machine's
changing load hits both alike: on 2 local worker processes, on a local Ray runtime of 2 CPUs (its
first run, worker start-up included), on Ray again (warm workers), and on local processes again. Ray's
start-up (``ray.init``) is timed apart.

Per run: the wall time, the time inside the executor (training, testing and dispatch, without the
study's tables and plots), the training time per trial, and the overhead: the executor's time beyond
the training it ran (training seconds / 2 slots), per trial. Ratios are against the mean of the two
local runs. Prints the CPU, writes everything to ``benchmarks/results/ray-overhead.json``.

    python benchmarks/ray_overhead.py [--epochs 1] [--repeats 3] [--data ZIP]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harcnn.core.io import write_json
from harcnn.data import load_uci_har
from harcnn.experiments.executors import ProcessExecutor
from harcnn.experiments.ray_executor import RayExecutor, import_ray
from harcnn.experiments.study import grid_study, run_study

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"
RESULTS = Path(__file__).resolve().parent / "results" / "ray-overhead.json"
SLOTS = 2  # jobs at once on either executor


def cpu_model() -> str:
    """The CPU's model name and its widest vector units (bf16 is emulated without AVX-512 BF16)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    vector = [f for f in ("avx512_bf16", "avx512f", "avx2") if f in flags]
    return f"{name} ({', '.join(vector) or 'no AVX'}), {os.cpu_count()} cores"


class Timed:
    """An executor whose ``run`` is timed: the study's training and dispatch, without its outputs."""

    def __init__(self, executor):
        self.executor, self.seconds = executor, 0.0

    @property
    def workers(self) -> int:
        return self.executor.workers

    def run(self, dataset, jobs, on_progress=None):
        start = time.perf_counter()
        yield from self.executor.run(dataset, jobs, on_progress)
        self.seconds = time.perf_counter() - start


def one_study(dataset, executor, folder: Path, epochs: int, repeats: int) -> dict:
    spec = grid_study({"kernel_size": [3, 5]}, name="overhead", settings={"epochs": epochs})
    timed = Timed(executor)
    start = time.perf_counter()
    result = run_study(dataset, spec, folder, repeats=repeats, models_per_batch=1, executor=timed, progress=False,
                       log=lambda _: None)
    wall = time.perf_counter() - start
    n = len(result.records)
    training = float(np.sum([r.train_seconds for r in result.records]))
    return {"trials": n, "wall_s": wall, "executor_s": timed.seconds, "outputs_s": wall - timed.seconds,
            "train_s_per_trial": training / n, "overhead_s_per_trial": (timed.seconds - training / SLOTS) / n,
            "scores": sorted((r.config_id, r.repeat, r.test_accuracy) for r in result.records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    args = parser.parse_args()
    ray = import_ray()
    dataset = load_uci_har(args.data, progress=False)
    machine = cpu_model()
    print(f"Machine: {machine}; torch {torch.__version__}, ray {ray.__version__}; {2 * args.repeats} trials of "
          f"{args.epochs} epoch(s) on {len(dataset.train)} windows, one per job, {SLOTS} at a time\n", flush=True)
    runs = {}
    local = ProcessExecutor(workers=SLOTS, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        runs["local processes"] = one_study(dataset, local, Path(tmp, "local1"), args.epochs, args.repeats)
        start = time.perf_counter()
        ray.init(num_cpus=SLOTS, include_dashboard=False, logging_level="WARNING")
        startup = time.perf_counter() - start
        executor = RayExecutor(threads=1)
        runs["ray, first run"] = one_study(dataset, executor, Path(tmp, "ray1"), args.epochs, args.repeats)
        runs["ray, warm workers"] = one_study(dataset, executor, Path(tmp, "ray2"), args.epochs, args.repeats)
        ray.shutdown()
        runs["local processes, again"] = one_study(dataset, local, Path(tmp, "local2"), args.epochs, args.repeats)
    base = {key: np.mean([runs[name][key] for name in runs if name.startswith("local")])
            for key in ("executor_s", "train_s_per_trial", "overhead_s_per_trial")}
    same = all(run["scores"] == runs["local processes"]["scores"] for run in runs.values())
    print("| executor | wall s | in the executor s | vs local | training s per trial | overhead s per trial |\n"
          "|---|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        ratio = run["executor_s"] / base["executor_s"]
        print(f"| {name} | {run['wall_s']:.1f} | {run['executor_s']:.1f} | {ratio:.2f}x | "
              f"{run['train_s_per_trial']:.2f} | {run['overhead_s_per_trial']:.2f} |")
    print(f"\nRay start-up (ray.init, local runtime of 2 CPUs): {startup:.1f} s")
    print(f"Same scores on every executor: {same}")
    for run in runs.values():
        run.pop("scores")
    write_json(RESULTS, {"machine": machine, "torch": torch.__version__, "ray": ray.__version__,
                         "epochs": args.epochs, "repeats": args.repeats, "ray_startup_s": startup,
                         "same_scores": same, "local_mean": base, "runs": runs})
    print(f"Saved {RESULTS}")


if __name__ == "__main__":
    main()
