"""Executors run trial jobs on workers and hand back their trials as they complete.

Evaluation, studies and searches only plan jobs (:func:`plan_jobs`), hand them to an executor and
store what comes back, so the engine that runs them can change without touching them. The seam
(:class:`Executor`) is small:

* ``executor.workers``: how many jobs run at once (the plan splits work into that many shares), and
  ``executor.resources``: what each job asks for (torch threads, a GPU with ``device="cuda"``);
* ``executor.open(dataset, on_progress)``: a :class:`JobQueue` for one dataset, on which jobs are
  submitted at any time (``submit``), handed back as they complete (``completed``), each exactly once,
  or dropped (``cancel``);
* ``executor.run(dataset, jobs, on_progress)``: all jobs at once, ``(job, trials)`` as they complete.

Three implementations:

* :class:`InProcessExecutor`: jobs one after another in this process (any device).
* :class:`ProcessExecutor`: jobs spread over worker processes with a few threads each. On a CPU,
  two single-threaded workers beat one two-threaded process on many small jobs; a single job
  runs in this process with all threads instead.
* :class:`harcnn.experiments.ray_executor.RayExecutor`: jobs as Ray tasks on a local Ray runtime or
  a cluster (``pip install 'harcnn[ray]'``).

:func:`harcnn.experiments.execution.make_executor` builds one by name.

Results are the same on all of them up to float rounding (a repeat depends only on its own seed;
batched kernels and thread counts only change the order of sums). Only the caller (the driver)
writes results. Every executor reports progress as the number of trials done so far, fractions of
running trials included.
"""

from __future__ import annotations

import collections
import contextlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

import torch

from harcnn.data.dataset import Dataset, InputSpec
from harcnn.data.splits import Fold
from harcnn.experiments.trials import Trial, TrialJob, run_trials
from harcnn.models.config import Config

Progress = Callable[[float], None]
Done = tuple[TrialJob, list[Trial]]


@dataclass(frozen=True)
class Resources:
    """What one job asks for: CPUs (its torch threads) and GPUs (one per job on CUDA: a GPU trains all
    the job's members at once)."""

    cpus: int = 1
    gpus: int = 0


class JobQueue(Protocol):
    """Jobs in flight on an executor's workers, for one dataset."""

    def submit(self, job: TrialJob) -> None:
        """Start ``job`` (or queue it until a worker is free)."""

    def completed(self, timeout: float | None = None) -> list[Done]:
        """Jobs finished since the last call, each handed back once; waits up to ``timeout`` seconds
        (None: until one finishes) when none has. Empty when nothing is in flight."""

    def cancel(self, job: TrialJob) -> bool:
        """The caller no longer needs ``job``: True when it is dropped (it will never be handed back),
        False when it is already running here and will still be handed back."""

    def __len__(self) -> int:
        """Jobs submitted and neither handed back nor dropped."""


class Executor(Protocol):
    workers: int

    @property
    def resources(self) -> Resources: ...

    def open(self, dataset: Dataset,
             on_progress: Progress | None = None) -> contextlib.AbstractContextManager[JobQueue]: ...

    def run(self, dataset: Dataset, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[Done]: ...

    def close(self) -> None: ...


class ExecutorBase:
    """``run`` (submit every job, yield them as they complete) and ``close`` for every executor."""

    def run(self, dataset: Dataset, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[Done]:
        with self.open(dataset, on_progress) as queue:
            for job in jobs:
                queue.submit(job)
            while len(queue):
                yield from queue.completed(timeout=0.5)

    def close(self) -> None:
        """Release what the executor holds (nothing for local ones)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------ in process


@dataclass
class InProcessExecutor(ExecutorBase):
    """Runs jobs one after another in this process; hands back each job's trials as it finishes."""

    device: str = "cpu"
    threads: int | None = None  # torch threads while running (None: as they are)
    workers = 1

    @property
    def resources(self) -> Resources:
        return Resources(cpus=self.threads or torch.get_num_threads(), gpus=int(self.device.startswith("cuda")))

    @contextlib.contextmanager
    def open(self, dataset: Dataset, on_progress: Progress | None = None) -> Iterator[_InProcessQueue]:
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            yield _InProcessQueue(dataset, self.device, on_progress)
        finally:
            torch.set_num_threads(previous)


class _InProcessQueue:
    def __init__(self, dataset: Dataset, device: str, on_progress: Progress | None):
        self.dataset, self.device, self.on_progress = dataset, device, on_progress
        self.waiting: collections.deque[TrialJob] = collections.deque()
        self.done = 0.0

    def submit(self, job: TrialJob) -> None:
        self.waiting.append(job)

    def completed(self, timeout: float | None = None) -> list[Done]:
        if not self.waiting:
            return []
        job = self.waiting.popleft()
        hook = None if self.on_progress is None else (lambda f, d=self.done, n=job.size: self.on_progress(d + f * n))
        trials = run_trials(self.dataset, job, device=self.device, on_step=hook)
        self.done += job.size
        return [(job, trials)]

    def cancel(self, job: TrialJob) -> bool:
        for i, waiting in enumerate(self.waiting):
            if waiting is job:
                del self.waiting[i]
                return True
        return False

    def __len__(self) -> int:
        return len(self.waiting)


# ------------------------------------------------------------------------------------------ processes


@dataclass
class ProcessExecutor(ExecutorBase):
    """Runs jobs in ``workers`` processes of ``threads`` torch threads each (CPU, or sharing a GPU)."""

    workers: int = 2
    threads: int = 1
    device: str = "cpu"

    @property
    def resources(self) -> Resources:
        return Resources(cpus=self.threads, gpus=int(self.device.startswith("cuda")))

    def run(self, dataset: Dataset, jobs: Iterable[TrialJob],
            on_progress: Progress | None = None) -> Iterator[Done]:
        jobs = list(jobs)
        if len(jobs) <= 1:  # one job: all threads in this process (no start-up, no idle worker)
            single = InProcessExecutor(device=self.device, threads=self.workers * self.threads)
            yield from single.run(dataset, jobs, on_progress)
            return
        workers = min(self.workers, len(jobs))
        executor = ProcessExecutor(workers, self.threads * self.workers // workers, self.device)
        yield from ExecutorBase.run(executor, dataset, jobs, on_progress)

    @contextlib.contextmanager
    def open(self, dataset: Dataset, on_progress: Progress | None = None) -> Iterator[_ProcessQueue]:
        context = multiprocessing.get_context("spawn")  # fork after torch started threads can hang
        trials_done = context.Value("d", 0.0)
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                 initargs=(dataset, self.threads, self.device, trials_done)) as pool:
            queue = _ProcessQueue(pool, trials_done, on_progress)
            try:
                yield queue
            finally:
                queue.cancel_all()


class _ProcessQueue:
    def __init__(self, pool: ProcessPoolExecutor, trials_done, on_progress: Progress | None):
        self.pool, self.trials_done, self.on_progress = pool, trials_done, on_progress
        self.pending: dict[Future, TrialJob] = {}

    def submit(self, job: TrialJob) -> None:
        self.pending[self.pool.submit(_run_job, job)] = job

    def completed(self, timeout: float | None = None) -> list[Done]:
        if not self.pending:
            return []
        finished, _ = wait(self.pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if self.on_progress is not None:
            self.on_progress(self.trials_done.value)
        return [(self.pending.pop(future), future.result()) for future in finished]

    def cancel(self, job: TrialJob) -> bool:
        future = next((f for f, j in self.pending.items() if j is job), None)
        if future is None or not future.cancel():
            return False
        del self.pending[future]
        return True

    def cancel_all(self) -> None:
        for future in self.pending:
            future.cancel()

    def __len__(self) -> int:
        return len(self.pending)


# ------------------------------------------------------------------------------------------ planning


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


_worker: dict = {}


def _init_worker(dataset: Dataset, threads: int, device: str, trials_done) -> None:
    torch.set_num_threads(threads)
    _worker.update(dataset=dataset, device=device, trials_done=trials_done)
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

    return run_trials(_worker["dataset"], job, device=_worker["device"], on_step=report)
