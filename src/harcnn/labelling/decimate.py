"""Signals for the screen: the minimum and maximum of every channel in each of ``buckets`` equal stretches of
time (about one per pixel), so that the drawn line covers every sample's value at any zoom while the page
receives a few thousand points, whatever the recording's length.

:func:`envelope` returns, per bucket, two points at its centre (min then max, or max then min, alternating,
so that consecutive buckets join into one line); when the stretch holds few samples, the samples
themselves. A break (``None``) separates points across a gap in the recording.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Samples further apart than this (s) are a gap: the line breaks there (harcnn's gap rule for recordings).
DEFAULT_MAX_GAP_S = 0.5
MAX_BUCKETS = 20_000


def _with_breaks(x: np.ndarray, y: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN row before each index in ``breaks`` (positions in ``x``/``y``)."""
    if not len(breaks):
        return x, y
    return np.insert(x, breaks, np.nan), np.insert(y, breaks, np.nan, axis=0)


def _listed(values: np.ndarray, decimals: int) -> list[float | None]:
    return [None if math.isnan(v) else v for v in np.round(values.astype(np.float64), decimals).tolist()]


def envelope(times: np.ndarray, values: np.ndarray, start: float, end: float, buckets: int, *,
             origin: float = 0.0, max_gap_s: float = DEFAULT_MAX_GAP_S) -> dict[str, Any]:
    """The samples of ``values`` ``[n, C]`` at ``times`` ``[n]`` (sorted) between ``start`` and ``end`` for a
    plot ``buckets`` points wide (see the module docstring). Returns ``x`` (times minus ``origin``) and
    ``y`` (one list per channel), ``raw`` (True: every sample), ``samples`` (how many the stretch holds)
    and ``bucket_seconds``."""
    buckets = int(min(max(buckets, 1), MAX_BUCKETS))
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ValueError(f"need finite start < end, got {start!r}, {end!r}")
    lo = max(int(np.searchsorted(times, start, "left")) - 1, 0)  # one sample beyond each edge: the line
    hi = min(int(np.searchsorted(times, end, "right")) + 1, len(times))  # reaches the plot's borders
    t, v = times[lo:hi], values[lo:hi]
    width = (end - start) / buckets
    if len(t) <= 2 * buckets:
        x, y = _with_breaks(t, v, np.flatnonzero(np.diff(t) > max_gap_s) + 1)
        raw = True
    else:
        index = np.clip(((t - start) / width).astype(np.int64), 0, buckets - 1)
        first = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])  # each non-empty bucket's first sample
        low = np.minimum.reduceat(v, first, axis=0)
        high = np.maximum.reduceat(v, first, axis=0)
        flip = (np.arange(len(first)) % 2 == 1)[:, None]
        pairs = np.stack([np.where(flip, high, low), np.where(flip, low, high)], axis=1)  # [k, 2, C]
        centre = start + (index[first] + 0.5) * width
        x = np.repeat(centre, 2)
        y = pairs.reshape(-1, v.shape[1])
        gaps = np.flatnonzero(t[first[1:]] - t[first[1:] - 1] > max_gap_s) + 1  # bucket k follows a gap
        x, y = _with_breaks(x, y, 2 * gaps)
        raw = False
    return {"x": _listed(x - origin, 4), "y": [_listed(y[:, c], 4) for c in range(y.shape[1])], "raw": raw,
            "samples": int(len(t)), "bucket_seconds": width}
