"""Trial jobs as Ray tasks, on a local Ray runtime or a cluster (``pip install 'harcnn[ray]'``).

* The dataset goes into Ray's object store once (``ray.put``, per dataset and executor); every task
  gets it from there (zero-copy on the task's node), never pickled with the job.
* Each task asks for its resources: ``threads`` CPUs (its torch threads), and one GPU with
  ``device="cuda"`` (Ray then makes that GPU the task's ``cuda``; one job trains all its members on it).
* Only the driver writes results: tasks return their trials and every job is handed back once. A
  task whose worker dies (killed, out of memory, lost node) is run again by Ray (``max_retries``);
  a trial is deterministic given its seed, so the rerun gives the same trials, and the driver still
  gets one result per job.
* Progress: tasks report the fraction of their fit done to a small actor (at most twice a second);
  the driver turns it into one progress bar over the whole cluster, as the local executors do.

Without ``address`` a local runtime is started on first use (``cpus`` CPUs, all cores by default)
and shut down by :meth:`RayExecutor.close`; a runtime that was already running is left alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.data.dataset import Dataset
from harcnn.experiments.executors import Done, ExecutorBase, Progress, Resources
from harcnn.experiments.trials import Trial, TrialJob, run_trials

REPORT_INTERVAL = 0.5  # seconds between a task's progress reports


def import_ray():
    try:
        import ray
    except ImportError:
        raise HarcnnError("--executor ray needs Ray: pip install 'harcnn[ray]'") from None
    return ray


@dataclass
class RayExecutor(ExecutorBase):
    """Runs jobs as Ray tasks of ``threads`` CPUs (and one GPU each on CUDA)."""

    address: str | None = None  # a running cluster ("auto", "ray://host:10001", "host:6379"); None: local
    device: str = "cpu"
    threads: int = 1
    cpus: int | None = None  # the local runtime's CPUs (None: all cores); not used with an address
    max_retries: int = 3  # reruns of a task whose worker died
    run_job: Callable[..., list[Trial]] = run_trials  # what a task runs (tests inject faults here)
    _started: bool = field(default=False, init=False, repr=False)
    _datasets: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def resources(self) -> Resources:
        return Resources(cpus=self.threads, gpus=int(self.device.startswith("cuda")))

    @property
    def workers(self) -> int:
        """Jobs the cluster runs at once: its CPUs (or GPUs) over what one job asks for."""
        ray = self._connect()
        total = ray.cluster_resources()
        if self.resources.gpus:
            return max(1, int(total.get("GPU", 0)))
        return max(1, int(total.get("CPU", 1)) // self.threads)

    def _connect(self):
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=True)
            try:
                if self.address is not None:
                    ray.init(address=self.address, **options)
                else:
                    ray.init(num_cpus=self.cpus, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray runtime"
                raise HarcnnError(f"cannot start or join {where}: {error}") from None
            self._started = True
        if self.resources.gpus and not ray.cluster_resources().get("GPU"):
            raise HarcnnError("--device cuda with --executor ray: the Ray cluster has no GPUs")
        return ray

    def _dataset_ref(self, ray, dataset: Dataset):
        key = dataset.fingerprint
        if key not in self._datasets:
            self._datasets[key] = ray.put(dataset)
        return self._datasets[key]

    @contextlib.contextmanager
    def open(self, dataset: Dataset, on_progress: Progress | None = None) -> Iterator[_RayQueue]:
        ray = self._connect()
        board = ray.remote(num_cpus=0)(_ProgressBoard).remote()
        task = ray.remote(_task).options(num_cpus=self.threads, num_gpus=self.resources.gpus,
                                         max_retries=self.max_retries)
        queue = _RayQueue(ray, task, self._dataset_ref(ray, dataset), board, self, on_progress)
        try:
            yield queue
        finally:
            queue.cancel_all()
            ray.kill(board)

    def close(self) -> None:
        """Shut the Ray runtime down if this executor started it."""
        if self._started:
            import ray

            self._datasets.clear()
            ray.shutdown()
            self._started = False


class _ProgressBoard:
    """A Ray actor: the latest fraction done of every running job, by job key."""

    def __init__(self) -> None:
        self.fractions: dict[int, float] = {}

    def report(self, key: int, fraction: float) -> None:
        self.fractions[key] = fraction

    def read(self) -> dict[int, float]:
        return self.fractions


def _task(run_job: Callable[..., list[Trial]], dataset: Dataset, job: TrialJob, device: str, threads: int,
          board, key: int) -> list[Trial]:
    """One job, in a Ray worker (the dataset arrives from the object store)."""
    import torch

    torch.set_num_threads(threads)
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= REPORT_INTERVAL:
            board.report.remote(key, fraction)
            last[0] = now

    report(0.0)  # a rerun after a worker died starts again from 0
    return run_job(dataset, job, device=device, on_step=report)


class _RayQueue:
    def __init__(self, ray, task, dataset_ref, board, executor: RayExecutor, on_progress: Progress | None):
        self.ray, self.task, self.dataset_ref, self.board = ray, task, dataset_ref, board
        self.executor, self.on_progress = executor, on_progress
        self.pending: dict[Any, tuple[int, TrialJob]] = {}  # object ref -> (key, job)
        self.keys = 0
        self.done = 0.0  # trials of the jobs handed back

    def submit(self, job: TrialJob) -> None:
        self.keys += 1
        ref = self.task.remote(self.executor.run_job, self.dataset_ref, job, self.executor.device,
                               self.executor.threads, self.board, self.keys)
        self.pending[ref] = (self.keys, job)

    def completed(self, timeout: float | None = None) -> list[Done]:
        if not self.pending:
            return []
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if ready:  # and whatever else is ready by now
            ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
        out = []
        for ref in ready:
            _, job = self.pending.pop(ref)
            out.append((job, self._result(ref, job)))
            self.done += job.size
        self._report()
        return out

    def _result(self, ref, job: TrialJob) -> list[Trial]:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, HarcnnError):
                raise cause from None
            raise
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError) as error:
            raise HarcnnError(f"job {job.label} {job.fold.name} repeats {list(job.repeats)}: its Ray worker died "
                              f"{self.executor.max_retries + 1} times ({type(error).__name__})") from None

    def _report(self) -> None:
        if self.on_progress is None:
            return
        fractions = self.ray.get(self.board.read.remote())
        running = sum(fractions.get(key, 0.0) * job.size for key, job in self.pending.values())
        self.on_progress(self.done + running)

    def cancel(self, job: TrialJob) -> bool:
        ref = next((r for r, (_, j) in self.pending.items() if j is job), None)
        if ref is None:
            return False
        self.ray.cancel(ref)  # not started: never runs; running: interrupted
        del self.pending[ref]
        return True

    def cancel_all(self) -> None:
        for ref in list(self.pending):
            self.ray.cancel(ref)
        self.pending.clear()

    def __len__(self) -> int:
        return len(self.pending)
