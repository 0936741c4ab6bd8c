"""Executors run trial jobs. A job trains some repeats of one configuration as one ensemble.

The study runner and repeated evaluation only hand jobs to an executor and store what comes
back, so executors can change (threads, processes, machines) without touching them.

* ``InProcessExecutor``: jobs one after another in this process (any device).
* ``ProcessExecutor``: jobs spread over worker processes with a few threads each. On a CPU,
  two single-threaded workers beat one two-threaded process: small kernels parallelise poorly.

Results are identical either way, since a repeat depends only on its own seed. Both report
progress as the number of trials done so far, fractions of running trials included.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from harcnn.data.uci_har import UCIHAR
from harcnn.experiments.config import ExperimentConfig
from harcnn.models import create_model
from harcnn.experiments.trials import PreparedData, TrialOutcome, prepare_data, run_trials

Progress = Callable[[float], None]


@dataclass(frozen=True)
class TrialJob:
    config: ExperimentConfig
    label: str
    repeats: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass
class InProcessExecutor:
    """Runs jobs one after another in this process; yields each job's outcomes as it finishes."""

    device: str = "cpu"
    workers = 1

    def run(self, dataset: UCIHAR, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[tuple[TrialJob, list[TrialOutcome]]]:
        cache, done = _PreparedCache(dataset), 0
        for job in jobs:
            hook = None if on_progress is None else (lambda f, d=done, n=len(job.repeats): on_progress(d + f * n))
            yield job, run_trials(dataset, job.config, job.repeats, job.seeds, data=cache.get(job.config),
                                  device=self.device, description=job.label, on_step=hook)
            done += len(job.repeats)


@dataclass
class ProcessExecutor:
    """Runs jobs in ``workers`` processes of ``threads`` torch threads each (CPU)."""

    workers: int = 2
    threads: int = 1

    def run(self, dataset: UCIHAR, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[tuple[TrialJob, list[TrialOutcome]]]:
        jobs = list(jobs)
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")  # fork after torch started threads can hang
        trials_done = context.Value("d", 0.0)
        with ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=context, initializer=_init_worker,
                                 initargs=(dataset, self.threads, trials_done)) as pool:
            pending: dict[Future, TrialJob] = {pool.submit(_run_job, job): job for job in jobs}
            while pending:
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                if on_progress is not None:
                    on_progress(trials_done.value)
                for future in finished:
                    yield pending.pop(future), future.result()


Executor = InProcessExecutor | ProcessExecutor


def plan_jobs(todo: list[tuple[str, ExperimentConfig, list[int]]], seeds: list[int],
              models_per_batch: int | None, workers: int) -> list[TrialJob]:
    """Group each configuration's missing repeats into jobs (ensembles trained as one computation).

    Without ``models_per_batch``, a configuration stays one job unless it alone is more than a
    worker's share of the work (cost: floating-point operations per window x repeats); then it
    is split so that every worker can take a part. The most expensive jobs come first, so no
    worker sits idle at the end while another trains a big model.
    """
    # one configuration needs no costs (it is split evenly); counting FLOPs takes most of a second
    costs = {label: forward_flops(config) if len(todo) > 1 else 1.0 for label, config, _ in todo}
    share = sum(costs[label] * len(repeats) for label, _, repeats in todo) / max(1, workers)
    jobs = []
    for label, config, repeats in todo:
        parts = 1 if workers == 1 or share == 0 else max(1, math.ceil(costs[label] * len(repeats) / share - 1e-9))
        per_batch = models_per_batch or max(1, math.ceil(len(repeats) / parts))
        for start in range(0, len(repeats), per_batch):
            batch = tuple(repeats[start:start + per_batch])
            jobs.append(TrialJob(config, label, batch, tuple(seeds[r] for r in batch)))
    return sorted(jobs, key=lambda job: -costs[job.label] * len(job.repeats))


def forward_flops(config: ExperimentConfig, window: int = 128, channels: int = 9, classes: int = 6) -> float:
    """Floating-point operations of one member's forward pass over one window (parameters if uncountable)."""
    model = create_model(config.model, window=window, n_channels=channels, n_classes=classes, **config.model_params)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, window, channels))
    return float(counter.get_total_flops() or model.num_parameters())


def make_executor(device: str = "cpu", workers: int | None = None) -> Executor:
    """``workers`` processes on a CPU (default: 2 on a multi-core CPU), in-process otherwise."""
    cores = os.cpu_count() or 1
    if workers is None:
        workers = 2 if device == "cpu" and cores >= 2 else 1
    if workers <= 1 or device != "cpu":
        return InProcessExecutor(device=device)
    return ProcessExecutor(workers=workers, threads=max(1, cores // workers))


class _PreparedCache:
    """Prepared arrays of the last data preparation (standardization is per configuration)."""

    def __init__(self, dataset: UCIHAR):
        self.dataset, self.key, self.data = dataset, None, None

    def get(self, config: ExperimentConfig) -> PreparedData:
        key = (config.standardize, config.validation_subjects)
        if key != self.key:
            self.key, self.data = key, prepare_data(self.dataset, config)
        return self.data


_worker: dict = {}


def _init_worker(dataset: UCIHAR, threads: int, trials_done) -> None:
    torch.set_num_threads(threads)
    _worker.update(cache=_PreparedCache(dataset), trials_done=trials_done)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (killed run) stops at once instead of training on for nobody."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _run_job(job: TrialJob) -> list[TrialOutcome]:
    cache, trials_done = _worker["cache"], _worker["trials_done"]
    last = 0.0

    def report(fraction: float) -> None:
        nonlocal last
        with trials_done.get_lock():
            trials_done.value += (fraction - last) * len(job.repeats)
        last = fraction

    return run_trials(cache.dataset, job.config, job.repeats, job.seeds, data=cache.get(job.config),
                      description=job.label, on_step=report)
