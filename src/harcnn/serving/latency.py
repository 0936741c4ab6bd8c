"""Inference latency of any predict function: per window in batches, and for one window per call."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

BATCH = 256
SINGLE_WINDOW_CALLS = 50


def measure_latency(predict: Callable[[np.ndarray], Any], X: np.ndarray, *, batch_size: int = BATCH,
                    single_calls: int = SINGLE_WINDOW_CALLS, threads: int = 1) -> tuple[float, float]:
    """Milliseconds per window of ``predict`` with ``threads`` threads (torch and BLAS): over all of
    ``X`` in batches of ``batch_size`` (the best of two passes after a warm-up), and for one window at a
    time (the median of ``single_calls`` calls after three warm-up calls)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _blas_threads(threads), torch.inference_mode():
            predict(X[:batch_size])
            best = math.inf
            for _ in range(2):
                start = time.perf_counter()
                for i in range(0, len(X), batch_size):
                    predict(X[i:i + batch_size])
                best = min(best, time.perf_counter() - start)
            one = X[:1]
            for _ in range(3):
                predict(one)
            calls = []
            for _ in range(single_calls):
                start = time.perf_counter()
                predict(one)
                calls.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 1000 * best / len(X), 1000 * statistics.median(calls)


class _blas_threads:
    """Numerical libraries (BLAS/OpenMP) limited to ``n`` threads, when threadpoolctl is there."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self.limits = None
        else:
            self.limits = threadpool_limits(self.n)
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.unregister()
