"""Choosing where jobs run: :func:`make_executor` builds a local executor
(:mod:`harcnn.experiments.executors`) or a Ray one (:mod:`harcnn.experiments.ray_executor`, imported
only when asked for) from the command line's ``--executor``, ``--workers``, ``--threads``,
``--address`` and ``--device``."""

from __future__ import annotations

import os

from harcnn.core.errors import HarcnnError
from harcnn.experiments.executors import Executor, InProcessExecutor, ProcessExecutor

__all__ = ["make_executor"]


def make_executor(device: str = "cpu", workers: int | None = None, *, kind: str = "local",
                  address: str | None = None, threads: int | None = None) -> Executor:
    """``kind="local"``: ``workers`` processes (default: 2 on a multi-core CPU, 1 on a GPU), in-process
    when there is one; ``kind="ray"``: Ray tasks (``address``: a running cluster, else a local runtime
    of ``workers`` x ``threads`` CPUs, all cores by default)."""
    if kind == "ray":
        from harcnn.experiments.ray_executor import RayExecutor

        return RayExecutor(address=address, device=device, threads=threads or 1,
                           cpus=None if workers is None else workers * (threads or 1))
    if address is not None:
        raise HarcnnError("--address joins a Ray cluster: add --executor ray")
    cores = os.cpu_count() or 1
    if workers is None:
        workers = 2 if device == "cpu" and cores >= 2 else 1
    if workers <= 1:
        return InProcessExecutor(device=device, threads=threads)
    return ProcessExecutor(workers=workers, threads=threads or max(1, cores // workers), device=device)
