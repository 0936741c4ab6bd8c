"""Executors run trial jobs and yield their trials as they complete.

Evaluation, studies and searches only plan jobs (:func:`plan_jobs`), hand them to an executor and
store what comes back, so the engine that runs them can change without touching them:

* :class:`InProcessExecutor`: jobs one after another in this process (any device).
* :class:`ProcessExecutor`: jobs spread over worker processes with a few threads each. On a CPU,
  two single-threaded workers beat one two-threaded process on many small jobs; a single job
  runs in this process with all threads instead.

Results are the same either way up to float rounding (a repeat depends only on its own seed;
batched kernels and thread counts only change the order of sums). Both report
progress as the number of trials done so far, fractions of running trials included.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import torch

from harcnn.data.dataset import Dataset, InputSpec
from harcnn.data.splits import Fold
from harcnn.experiments.trials import Trial, TrialJob, run_trials
from harcnn.settings import Config

Progress = Callable[[float], None]


@dataclass
class InProcessExecutor:
    """Runs jobs one after another in this process; yields each job's trials as it finishes."""

    device: str = "cpu"
    threads: int | None = None  # torch threads while running (None: as they are)
    workers = 1

    def run(self, dataset: Dataset, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[tuple[TrialJob, list[Trial]]]:
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            done = 0
            for job in jobs:
                hook = None if on_progress is None else (lambda f, d=done, n=job.size: on_progress(d + f * n))
                yield job, run_trials(dataset, job, device=self.device, on_step=hook)
                done += job.size
        finally:
            torch.set_num_threads(previous)


@dataclass
class ProcessExecutor:
    """Runs jobs in ``workers`` processes of ``threads`` torch threads each (CPU)."""

    workers: int = 2
    threads: int = 1

    def run(self, dataset: Dataset, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[tuple[TrialJob, list[Trial]]]:
        jobs = list(jobs)
        if len(jobs) <= 1:  # one job: all threads in this process (no start-up, no idle worker)
            yield from InProcessExecutor(threads=self.workers * self.threads).run(dataset, jobs, on_progress)
            return
        workers = min(self.workers, len(jobs))
        context = multiprocessing.get_context("spawn")  # fork after torch started threads can hang
        trials_done = context.Value("d", 0.0)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(dataset, self.threads * self.workers // workers, trials_done)) as pool:
            pending: dict[Future, TrialJob] = {pool.submit(_run_job, job): job for job in jobs}
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                if on_progress is not None:
                    on_progress(trials_done.value)
                for future in finished:
                    yield pending.pop(future), future.result()


Executor = InProcessExecutor | ProcessExecutor


def plan_jobs(todo: Sequence[tuple[str, Config, Fold, list[int], list[int]]], spec: InputSpec,
              models_per_batch: int | None, workers: int) -> list[TrialJob]:
    """Group each (configuration, fold)'s missing repeats into jobs (ensembles trained as one computation).

    ``todo`` holds ``(label, config, fold, repeats, seeds)``. Without ``models_per_batch``, a
    configuration's repeats on a fold stay one job unless that alone is more than a worker's share
    of the work (cost: floating-point operations per window x repeats); then it is split so that
    every worker can take a part. The most expensive jobs come first, so no worker sits idle at the
    end while another trains a big model.
    """
    configs = {config.config_id: config for _, config, _, _, _ in todo}
    # a single configuration needs no costs (it is split evenly); counting FLOPs takes most of a second
    costs = {cid: forward_flops(config, spec) if len(configs) > 1 else 1.0 for cid, config in configs.items()}
    share = sum(costs[config.config_id] * len(repeats) for _, config, _, repeats, _ in todo) / max(1, workers)
    jobs = []
    for label, config, fold, repeats, seeds in todo:
        cost = costs[config.config_id]
        parts = 1 if workers == 1 or share == 0 else max(1, math.ceil(cost * len(repeats) / share - 1e-9))
        per_batch = models_per_batch or max(1, math.ceil(len(repeats) / parts))
        for start in range(0, len(repeats), per_batch):
            jobs.append(TrialJob(config, label, fold, tuple(repeats[start:start + per_batch]),
                                 tuple(seeds[start:start + per_batch])))
    return sorted(jobs, key=lambda job: -costs[job.config.config_id] * job.size)


def forward_flops(config: Config, spec: InputSpec) -> float:
    """Floating-point operations of one member's forward pass over one window (parameters if uncountable)."""
    from torch.utils.flop_counter import FlopCounterMode

    from harcnn.models import create_model

    model = create_model(config.model, **spec.model_inputs(), **config.model_params)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, spec.window, len(spec.channels)))
    return float(counter.get_total_flops() or model.num_parameters())


def make_executor(device: str = "cpu", workers: int | None = None) -> Executor:
    """``workers`` processes on a CPU (default: 2 on a multi-core CPU), in-process otherwise."""
    cores = os.cpu_count() or 1
    if workers is None:
        workers = 2 if device == "cpu" and cores >= 2 else 1
    if workers <= 1 or device != "cpu":
        return InProcessExecutor(device=device)
    return ProcessExecutor(workers=workers, threads=max(1, cores // workers))


_worker: dict = {}


def _init_worker(dataset: Dataset, threads: int, trials_done) -> None:
    torch.set_num_threads(threads)
    _worker.update(dataset=dataset, trials_done=trials_done)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (killed run) stops at once instead of training on for nobody."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _run_job(job: TrialJob) -> list[Trial]:
    trials_done = _worker["trials_done"]
    last = 0.0

    def report(fraction: float) -> None:
        nonlocal last
        with trials_done.get_lock():
            trials_done.value += (fraction - last) * job.size
        last = fraction

    return run_trials(_worker["dataset"], job, on_step=report)
