"""A body frame per recording: the rotation from the phone to the body, estimated from the recording.

A phone can be worn in any orientation; postures differ mainly by the body's tilt against the
vertical. While a person walks, the mean acceleration is "up" and the main horizontal axis of the
acceleration at the step frequency is forward/backward (Mizell 2003; Kunze et al. 2009;
Henpraserttae et al. 2011; Yurtman & Barshan 2017). The frame is mapped onto the phone axes of the
waist-worn phones of UCI HAR and HAPT (:data:`CANONICAL`), so a recording turned into it looks like
theirs. Everything is rotation-equivariant: a turned recording gives the same canonical frame (to
1e-5 degrees). Choices, measured on the 42 labelled HAPT recordings (``benchmarks/body_frame.py``;
the numbers are in ``benchmarks/README.md``, "Body frame"):

* **Walking**, without a model: the acceleration magnitude band-passed 0.5-8 Hz varies by more
  than 0.04 g over 2.56 s (a block of 1.28 s and the one before) and its autocorrelation peaks
  above 0.6 at a lag of 0.3-1.3 s (a step or a stride); blocks count in runs of two or more
  (precision 100%, recall 89.5% of the labelled walking blocks).
* **Up**: the mean acceleration of the walking blocks.
* **Forward axis**: the main axis of the horizontal acceleration band-passed 1.4-3 Hz (the step
  frequency): 6 degrees (median) from the forward direction of the lying posture; the raw
  acceleration's main axis mixes in the sway at the stride frequency (11 degrees, up to 81).
* **Forward sign**: an odd logistic regression on the correlations of vertical and forward
  acceleration at lags of -0.4 to 0.4 s (:data:`SIGN_WEIGHTS`), summed over the walking blocks:
  right in 42 of 42 recordings; per block 99.7% (level), 99.5% (upstairs), 89% (downstairs,
  whose quarter-step lead of forward over vertical acceleration is reversed). The gyroscope is
  not used: its cues depend on which side of the waist the phone is.
* **Without walking**, gravity alone: the most common gravity direction is taken as up (its
  error is the posture's tilt: 7 degrees median, but 84 at the 95th percentile where lying is
  the most common posture), the turn about it is the least one; confidence "low".
* **A phone moved on the body**: a split of the walking blocks where the frames of the walking
  before and after (10-30 s each) differ by more than 40 degrees (75 for a turn about "up"; the
  stairs' forward axis can differ from the level walking's by 60), found where the walking gravity
  turns most, or for a turn about "up" where the blocks fit the two frames best; placed where the
  jump of gravity is best explained by the turn; confirmed once all are found.

All filters are causal, so :class:`StreamingBodyFrame` sees the same block statistics as
:func:`estimate_body_frame`: it starts from gravity alone, takes the walking frame from the first
2.56 s of walking on and converges to the batch frame; it finds a change of orientation after 11.5 s
of walking after it.

Where it is used: the ``frame`` data option (:data:`FRAMES`; ``--frame body``) of the recording
loaders (:func:`harcnn.data.recordings.recording_to_windows`, the recordings folder, HAPT; UCI HAR's
windows are in the canonical frame already), recorded in a model's input spec (:func:`frame_recipe`),
so that ``harcnn predict`` and :class:`harcnn.serving.streaming.StreamingPredictor` turn a new
recording the same way; :class:`FrameTimeline` puts a recording's frames on its clock for the
predictions' frame columns and summary line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from harcnn.core.errors import DataError

__all__ = [
    "CANONICAL",
    "BlockStats",
    "BodyFrame",
    "FrameEstimate",
    "StreamingBodyFrame",
    "block_stats",
    "FRAMES",
    "FRAME_VERSION",
    "FrameTimeline",
    "detect_walking",
    "estimate_body_frame",
    "frame_axes",
    "frame_from_blocks",
    "frame_recipe",
    "frames_note",
    "gravity_frame",
    "largest_change",
    "rotation_angle",
    "sign_features",
]

#: The frames windows can be made in (the ``frame`` data option): the phone's axes as recorded, or the
#: body frame estimated per recording.
FRAMES = ("phone", "body")
#: The version of the body frame a saved model expects (``InputSpec.preprocessing["frame_version"]``):
#: bump when the estimator changes what it gives, so that models trained before say so.
FRAME_VERSION = 1
BLOCK_S = 1.28  # statistics are kept per block of this many seconds
GAIT_BAND_HZ = (0.5, 8.0)  # walking detection (of the magnitude) and the forward sign look at this band
WALK_MIN_STD_G = 0.04
WALK_MIN_AUTOCORR = 0.6
WALK_PERIOD_S = (0.3, 1.3)  # a step or a stride
STEP_BAND_HZ = (1.4, 3.0)
SIGN_LAGS_S = np.round(np.arange(-0.4, 0.401, 0.04), 2)  # the lags of vertical-forward correlations
# Weights of the vertical-forward correlations at SIGN_LAGS_S whose sum is positive when the forward axis
# points forward (an odd logistic regression on the walking blocks of HAPT; benchmarks/body_frame.py)
SIGN_WEIGHTS = np.array([-0.66, 1.31, 1.57, 1.28, 2.34, 3.12, 1.16, -1.28, -1.26, -1.45, -1.48, 1.41, 2.11, -0.83,
                         -2.62, -1.88, -0.79, -0.3, 0.64, 1.23, 0.38])
MIN_WALK_S = 2 * BLOCK_S  # less walking than this (one run of two blocks): the gravity frame
GRAVITY_MODE_DEG = 10.0
HIGH_CONFIDENCE_WALK_S = 20.0
HIGH_CONFIDENCE_AGREEMENT = 0.7
CHANGE_MIN_DEG = 40.0
CHANGE_MIN_WALK_S = 10.0  # walking needed on each side of a change of orientation
CHANGE_WINDOW_S = 30.0  # the walking on each side that a change is judged by
CHANGE_GUARD_S = 5.0  # more walking between a change and the next one
CHANGE_TILT_DEG = 30.0  # a change that tilts "up" less than this is a turn about "up"
CHANGE_MIN_YAW_DEG = 75.0
MIN_RATE_HZ = 10.0
BOOTSTRAP_DRAWS = 50


def _orthonormal(matrix: list[list[float]]) -> np.ndarray:
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    return u @ vt


# Rows: the body's forward, left and up axes in the phone axes of UCI HAR and HAPT (their waist-worn
# phones): the geodesic median of the body frames of the 42 upright HAPT recordings
# (benchmarks/body_frame.py recomputes it).
CANONICAL = _orthonormal([[0.2159, 0.7917, 0.5714], [-0.0703, -0.5711, 0.8179], [0.9739, -0.2168, -0.0677]])


# --------------------------------------------------------------------------- rotations


def rotation_angle(a: np.ndarray, b: np.ndarray | None = None) -> float:
    """The angle in degrees of the rotation ``a`` (or of ``a`` relative to ``b``: ``a @ b.T``)."""
    r = a if b is None else a @ np.asarray(b).T
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation of least angle that turns unit vector ``a`` into unit vector ``b``."""
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-12:  # opposite: half a turn about any axis perpendicular to a
        axis = _unit(np.cross(a, np.eye(3)[np.argmin(np.abs(a))]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a x b`` over the last axis (np.cross is slow for single vectors)."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def _body_axes(up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Rows forward, left, up (phone coordinates) from a unit up and a horizontal unit forward
    (``[..., 3]`` each: stacks of frames give ``[..., 3, 3]``)."""
    return np.stack([forward, _cross(up, forward), up], axis=-2)


# --------------------------------------------------------------------------- block statistics


class BlockStats(NamedTuple):
    """Per-block sufficient statistics of a recording's acceleration (blocks of :data:`BLOCK_S`):
    ``start`` first sample of each block; ``walking`` whether it is walking; ``count`` samples;
    ``acc_sum`` [k, 3] sum of the acceleration (g); ``step_cov`` [k, 3, 3] sum of ``s s^T`` of the
    acceleration ``s`` band-passed to the step frequency (:data:`STEP_BAND_HZ`); ``gait_lag``
    [k, L + 1, 3, 3] sums of ``g(t - l) g(t)^T`` at lags ``l = 0..L`` samples of the acceleration
    ``g`` band-passed to :data:`GAIT_BAND_HZ`; ``rate`` Hz."""

    start: np.ndarray
    walking: np.ndarray
    count: np.ndarray
    acc_sum: np.ndarray
    step_cov: np.ndarray
    gait_lag: np.ndarray
    rate: float

    def seconds(self, blocks: np.ndarray | None = None) -> float:
        count = self.count if blocks is None else self.count[blocks]
        return float(count.sum() / self.rate)


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not math.isfinite(rate) or rate < MIN_RATE_HZ:
        raise DataError(f"the body frame needs a sampling rate of at least {MIN_RATE_HZ:g} Hz, got {rate!r}")
    return float(rate)


def _check_acc(acc, what: str = "acc") -> np.ndarray:
    try:
        x = np.asarray(acc, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be a numeric array [n, 3] in g ({exc})") from None
    if x.ndim != 2 or x.shape[1] != 3:
        raise DataError(f"{what} must have shape [n, 3] (x, y, z in g), got {list(x.shape)}")
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{what} has a non-finite value ({x[row, col]}) at sample {row}, axis {'xyz'[col]}: "
                        "the body frame needs gap-free, finite samples")
    return x


def _band(low: float, high: float, rate: float) -> np.ndarray:
    from scipy import signal

    return signal.butter(2, [low, min(high, 0.8 * rate / 2)], btype="band", fs=rate, output="sos")


class _Filters:
    """The causal band-pass filters and their states, carried across chunks."""

    def __init__(self, rate: float) -> None:
        self.gait = _band(*GAIT_BAND_HZ, rate)
        self.step = _band(*STEP_BAND_HZ, rate)
        self.magnitude_zi = np.zeros((self.gait.shape[0], 2))
        self.gait_zi = np.zeros((self.gait.shape[0], 2, 3))
        self.step_zi = np.zeros((self.step.shape[0], 2, 3))

    def __call__(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(magnitude, gait, step)``: the band-passed magnitude, and the acceleration in both bands."""
        from scipy import signal

        magnitude, self.magnitude_zi = signal.sosfilt(self.gait, np.linalg.norm(acc, axis=1), zi=self.magnitude_zi)
        gait, self.gait_zi = signal.sosfilt(self.gait, acc, axis=0, zi=self.gait_zi)
        step, self.step_zi = signal.sosfilt(self.step, acc, axis=0, zi=self.step_zi)
        return magnitude, gait, step


def _is_walking(magnitude: np.ndarray, rate: float) -> bool:
    """Whether a stretch of band-passed acceleration magnitude looks like walking."""
    x = magnitude - magnitude.mean()
    n = x.size
    energy = float(x @ x)
    if energy / n <= WALK_MIN_STD_G**2:
        return False
    lo, hi = round(WALK_PERIOD_S[0] * rate), min(round(WALK_PERIOD_S[1] * rate), n - 1)
    spectrum = np.fft.rfft(x, 2 * n)
    autocorr = np.fft.irfft(spectrum * spectrum.conj())[:n]
    lags = np.arange(lo, hi + 1)
    normalized = autocorr[lags] / (n - lags) / (energy / n)
    return bool(normalized.max() > WALK_MIN_AUTOCORR)


def _max_lag(rate: float) -> int:
    return math.ceil(max(abs(SIGN_LAGS_S[0]), SIGN_LAGS_S[-1]) * rate) + 1


class _BlockAccumulator:
    """Turns a stream of acceleration chunks into :class:`BlockStats` rows, causally."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.block = max(2, round(BLOCK_S * rate))
        self.lags = _max_lag(rate)
        self.filters = _Filters(rate)
        self.pending = np.zeros((0, 10))  # acc, gait, step, magnitude
        self.previous_magnitude = np.zeros(0)
        self.previous_gait = np.zeros((self.lags, 3))
        self.previous_walking = False
        self.samples = 0
        self.n_blocks = 0
        self.columns = {"start": np.zeros(16, np.int64), "walking": np.zeros(16, bool),
                        "count": np.zeros(16, np.int64), "acc_sum": np.zeros((16, 3)),
                        "step_cov": np.zeros((16, 3, 3)), "gait_lag": np.zeros((16, self.lags + 1, 3, 3))}

    def push(self, acc: np.ndarray) -> int:
        """Add samples; returns how many complete blocks there are now."""
        magnitude, gait, step = self.filters(acc)
        self.pending = np.concatenate([self.pending, np.column_stack([acc, gait, step, magnitude])])
        while self.pending.shape[0] >= self.block:
            self._close(self.block)
        return self.n_blocks

    def finish(self) -> None:
        """Close the last partial block (the batch estimate uses every sample)."""
        if self.pending.shape[0]:
            self._close(self.pending.shape[0])

    def _close(self, n: int) -> None:
        part, self.pending = self.pending[:n], self.pending[n:]
        acc, gait, step, magnitude = part[:, 0:3], part[:, 3:6], part[:, 6:9], part[:, 9]
        walking = n > 1 and _is_walking(np.concatenate([self.previous_magnitude, magnitude]), self.rate)
        self.previous_walking, walking_run = walking, walking and self.previous_walking
        if walking_run and self.n_blocks:  # walking counts in runs of two blocks or more
            self.columns["walking"][self.n_blocks - 1] = True
        history = np.concatenate([self.previous_gait, gait])  # g(t - l) is history[lags - l + i]
        lagged = np.stack([history[self.lags - lag:self.lags - lag + n].T @ gait for lag in range(self.lags + 1)])
        if self.n_blocks == len(self.columns["start"]):
            self.columns = {k: np.concatenate([v, np.zeros_like(v)]) for k, v in self.columns.items()}
        row = {"start": self.samples, "walking": walking_run, "count": n, "acc_sum": acc.sum(0),
               "step_cov": step.T @ step, "gait_lag": lagged}
        for key, value in row.items():
            self.columns[key][self.n_blocks] = value
        self.n_blocks += 1
        self.previous_magnitude = magnitude
        self.previous_gait = history[-self.lags:]
        self.samples += n

    def stats(self) -> BlockStats:
        """The blocks so far (views: valid until the next push)."""
        c = {k: v[:self.n_blocks] for k, v in self.columns.items()}
        return BlockStats(c["start"], c["walking"], c["count"], c["acc_sum"], c["step_cov"], c["gait_lag"], self.rate)


def block_stats(acc, rate: float) -> BlockStats:
    """The per-block statistics of a whole recording's acceleration ``acc`` [n, 3] (g) at ``rate`` Hz."""
    rate = _check_rate(rate)
    x = _check_acc(acc)
    if x.shape[0] < 2 * round(BLOCK_S * rate):
        raise DataError(f"the recording is too short for a body frame: {x.shape[0] / rate:.2f} s; at least "
                        f"{2 * BLOCK_S:.2f} s are needed")
    magnitude = float(np.median(np.linalg.norm(x, axis=1)))
    if not 0.5 <= magnitude <= 2.0:
        raise DataError(f"the acceleration is {magnitude:.3g} in magnitude (median), not about 1 g: the body frame "
                        "needs the total acceleration, gravity included, in g (m/s^2 data: --acc-units m/s2; "
                        "linear acceleration without gravity cannot give 'up')")
    accumulator = _BlockAccumulator(rate)
    accumulator.push(x)
    accumulator.finish()
    return accumulator.stats()


def detect_walking(acc, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """``(start, walking)``: the first sample of every block of :data:`BLOCK_S` and whether it is walking."""
    stats = block_stats(acc, rate)
    return stats.start, stats.walking


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class BodyFrame:
    """The frame of one stretch of a recording, samples ``[start, stop)``.

    ``rotation`` [3, 3] turns phone vectors into the canonical frame (``v_canonical = rotation @
    v_phone``, as :meth:`Recording.rotated <harcnn.data.recordings.Recording.rotated>` takes it);
    ``source`` "walking" (up and forward from walking) or "gravity" (up from gravity alone);
    ``walking_s`` seconds of walking used; ``spread_deg`` the frame's bootstrap spread over the
    walking blocks (RMS angle, degrees; NaN for a gravity frame); ``sign_agreement`` the share of
    the forward-sign evidence that agrees with the chosen sign (0.5-1; NaN for a gravity frame)."""

    start: int
    stop: int
    rotation: np.ndarray
    source: str
    walking_s: float
    spread_deg: float
    sign_agreement: float

    @property
    def confidence(self) -> str:
        """"high" (at least :data:`HIGH_CONFIDENCE_WALK_S` of walking whose forward-sign evidence agrees
        at least :data:`HIGH_CONFIDENCE_AGREEMENT`), "medium" (less walking) or "low" (gravity alone)."""
        if self.source == "gravity":
            return "low"
        enough = self.walking_s >= HIGH_CONFIDENCE_WALK_S and self.sign_agreement >= HIGH_CONFIDENCE_AGREEMENT
        return "high" if enough else "medium"


@dataclass(frozen=True)
class FrameEstimate:
    """A recording's frames, in time order, and the samples where the phone moved on the body."""

    frames: tuple[BodyFrame, ...]
    changes: tuple[int, ...]
    stats: BlockStats

    def rotations(self) -> np.ndarray:
        """The rotation of every sample, ``[n, 3, 3]``."""
        return np.concatenate([np.broadcast_to(f.rotation, (f.stop - f.start, 3, 3)) for f in self.frames])

    def frame_at(self, sample: int) -> BodyFrame:
        """The frame in force at ``sample`` (past the end: the last one)."""
        i = int(np.searchsorted([f.stop for f in self.frames], sample, side="right"))
        return self.frames[min(i, len(self.frames) - 1)]

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """3-axis samples ``[n, 3]`` of the recording (acc, gyro) turned into the canonical frame."""
        out = np.empty_like(np.asarray(vectors, dtype=np.float64))
        for f in self.frames:
            out[f.start:f.stop] = vectors[f.start:f.stop] @ f.rotation.T
        return out


def frame_recipe(frame: str) -> dict[str, object]:
    """What an input spec's preprocessing records of the frame: nothing for the phone's own axes (as
    every model before the body frame), ``{"frame": "body", "frame_version": FRAME_VERSION}`` for it."""
    if frame not in FRAMES:
        raise DataError(f"--frame takes {' or '.join(FRAMES)}, got {frame!r}")
    return {"frame": "body", "frame_version": FRAME_VERSION} if frame == "body" else {}


@dataclass(frozen=True)
class FrameTimeline:
    """A recording's frames on its clock: ``estimate`` was made from samples at ``times`` (s; the
    recording's gap-free stretches one after another), ``origin`` is the recording's first time."""

    estimate: FrameEstimate
    times: np.ndarray
    origin: float

    def index_at(self, t) -> np.ndarray:
        """The index of the frame in force at each time of ``t`` (that of the last sample at or before it)."""
        sample = np.clip(np.searchsorted(self.times, np.asarray(t, dtype=np.float64), side="right") - 1, 0, None)
        stops = np.array([f.stop for f in self.estimate.frames])
        return np.minimum(np.searchsorted(stops, sample, side="right"), len(stops) - 1)

    def changes_s(self) -> list[float]:
        """When the phone moved on the body, in seconds since the recording's start."""
        return [float(self.times[c] - self.origin) for c in self.estimate.changes]

    def spans(self) -> list[dict[str, object]]:
        """Every frame as plain data: its segment number, start and end (s, the recording's clock), where
        it comes from, its confidence, the walking it used and its spread and sign agreement."""
        out = []
        for i, frame in enumerate(self.estimate.frames):
            end = self.times[frame.stop] if frame.stop < len(self.times) else self.times[-1]
            out.append({"segment": i, "start_s": round(float(self.times[frame.start]), 4),
                        "end_s": round(float(end), 4), "frame": frame.source, "confidence": frame.confidence,
                        "walking_s": round(frame.walking_s, 2),
                        "spread_deg": None if math.isnan(frame.spread_deg) else round(frame.spread_deg, 2),
                        "sign_agreement": None if math.isnan(frame.sign_agreement) else round(frame.sign_agreement, 3)})
        return out

    def describe(self) -> str:
        """One line: the frame of every stretch between moves of the phone, and where it moved."""
        parts = []
        for frame, moved in zip(self.estimate.frames, [None, *self.changes_s()]):
            if frame.source == "walking":
                text = (f"{frame.walking_s:.0f} s of walking, {frame.confidence} (spread {frame.spread_deg:.1f} deg, "
                        f"forward sign agreement {frame.sign_agreement:.2f})")
            else:
                text = "gravity alone, low: postures may be misread (no walking to find forward)"
            parts.append(text if moved is None else f"phone moved at {moved:.1f} s, then {text}")
        return "body frame: " + "; ".join(parts)


def frames_note(timelines: Mapping[str, FrameTimeline]) -> str:
    """One line on the frames of many recordings (by name): how many from walking, of which confidence,
    how many from gravity alone, and where the phone moved."""
    frames = [f for t in timelines.values() for f in t.estimate.frames]
    counts = Counter(f.confidence for f in frames if f.source == "walking")
    walking = sum(counts.values())
    moved = [f"{name} at {', '.join(f'{c:.1f}' for c in t.changes_s())} s" for name, t in timelines.items()
             if t.estimate.changes]
    text = (f"body frame of {len(timelines)} recording(s): {walking} frame(s) from walking ("
            + ", ".join(f"{counts[c]} {c}" for c in ("high", "medium") if counts[c]) + ")"
            if walking else f"body frame of {len(timelines)} recording(s): none from walking")
    gravity = len(frames) - walking
    if gravity:
        text += f", {gravity} from gravity alone (low: postures may be misread)"
    if moved:
        text += f"; the phone moved in {len(moved)}: " + "; ".join(moved[:4]) + (" ..." if len(moved) > 4 else "")
    return text


def frame_axes(stats: BlockStats, blocks: np.ndarray, weights: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(up, forward axis)`` of the walking ``blocks``, the axis without its sign yet; with ``weights``
    [d, k] (one row per resampling of the blocks) stacks ``[d, 3]`` of them."""
    w = np.ones(len(blocks)) if weights is None else weights
    up = np.tensordot(w, stats.acc_sum[blocks], 1)
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    cov = np.tensordot(w, stats.step_cov[blocks], 1)
    horizontal = np.eye(3) - up[..., :, None] * up[..., None, :]
    return up, np.linalg.eigh(horizontal @ cov @ horizontal)[1][..., -1]


def sign_features(stats: BlockStats, blocks: np.ndarray, up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """``[k, len(SIGN_LAGS_S)]``: per block, the correlation of vertical and forward acceleration
    (:data:`GAIT_BAND_HZ`), ``corr(v(t), f(t + lag))`` at every lag of :data:`SIGN_LAGS_S`."""
    lagged = stats.gait_lag[blocks]  # [k, L + 1, 3, 3]: sums of g(t - l) g(t)^T
    ahead = np.einsum("i,klij,j->kl", up, lagged, forward)  # sums of v(t) f(t + l)
    behind = np.einsum("i,klij,j->kl", forward, lagged, up)  # sums of v(t) f(t - l)
    lags = lagged.shape[1] - 1
    both = np.concatenate([behind[:, :0:-1], ahead], axis=1)  # column i: lag i - lags
    position = SIGN_LAGS_S * stats.rate + lags
    low = np.floor(position).astype(int)
    fraction = position - low
    high = np.minimum(low + 1, 2 * lags)
    scale = np.sqrt(np.einsum("i,kij,j->k", up, lagged[:, 0], up) * np.einsum("i,kij,j->k", forward, lagged[:, 0],
                                                                            forward))
    return ((1 - fraction) * both[:, low] + fraction * both[:, high]) / np.maximum(scale, 1e-300)[:, None]


def _signed_axes(stats: BlockStats, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(up, forward, votes)`` of these walking blocks: the forward axis with the sign its blocks'
    votes (:data:`SIGN_WEIGHTS` on :func:`sign_features`) choose, and the votes for that sign."""
    up, forward = frame_axes(stats, blocks)
    votes = sign_features(stats, blocks, up, forward) @ SIGN_WEIGHTS
    sign = 1.0 if votes.sum() >= 0 else -1.0
    return up, sign * forward, sign * votes


def _walking_side(stats: BlockStats, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(up, forward)`` of these walking blocks, the forward axis with its sign."""
    return _signed_axes(stats, blocks)[:2]


def frame_from_blocks(stats: BlockStats, blocks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(rotation, spread_deg, sign_agreement)`` of the walking frame of these block indices."""
    up, forward, votes = _signed_axes(stats, blocks)
    agreement = float(votes.clip(0).sum() / max(np.abs(votes).sum(), 1e-300))
    rotation = CANONICAL.T @ _body_axes(up, forward)
    draws = np.random.default_rng(0).integers(0, len(blocks), (BOOTSTRAP_DRAWS, len(blocks)))
    weights = np.zeros((BOOTSTRAP_DRAWS, len(blocks)))
    np.add.at(weights, (np.arange(BOOTSTRAP_DRAWS)[:, None], draws), 1.0)
    b_up, b_forward = frame_axes(stats, blocks, weights)
    b_forward = b_forward * np.where(b_forward @ forward >= 0, 1.0, -1.0)[:, None]
    turns = np.einsum("dij,kj->dik", CANONICAL.T @ _body_axes(b_up, b_forward), rotation)
    cosines = np.clip((np.trace(turns, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return rotation, float(np.degrees(np.sqrt(np.mean(np.arccos(cosines) ** 2)))), agreement


def gravity_frame(stats: BlockStats, blocks: np.ndarray) -> np.ndarray:
    """The rotation of least angle that turns the most common gravity direction of ``blocks`` (the
    mean acceleration of the blocks within :data:`GRAVITY_MODE_DEG` of the direction most blocks are
    near) onto the canonical up."""
    chosen = blocks[np.linspace(0, len(blocks) - 1, min(len(blocks), 2000)).round().astype(int)]
    directions = stats.acc_sum[chosen] / np.linalg.norm(stats.acc_sum[chosen], axis=1, keepdims=True)
    near = directions @ directions.T > math.cos(math.radians(GRAVITY_MODE_DEG))
    centre = int(np.argmax(near @ stats.count[chosen]))
    return _smallest_rotation(_unit(stats.acc_sum[chosen[near[centre]]].sum(0)), CANONICAL[2])


def _frame(stats: BlockStats, first: int, stop: int, start_sample: int, stop_sample: int) -> BodyFrame:
    """The frame of blocks ``[first, stop)``, applied to samples ``[start_sample, stop_sample)``."""
    blocks = np.arange(first, stop)
    walking = blocks[stats.walking[blocks]]
    walking_s = stats.seconds(walking)
    if walking_s >= MIN_WALK_S:
        rotation, spread, agreement = frame_from_blocks(stats, walking)
        return BodyFrame(start_sample, stop_sample, rotation, "walking", walking_s, spread, agreement)
    return BodyFrame(start_sample, stop_sample, gravity_frame(stats, blocks), "gravity", walking_s,
                     math.nan, math.nan)


# --------------------------------------------------------------------------- changes of orientation


def _fit(stats: BlockStats, blocks: np.ndarray, up: np.ndarray, forward: np.ndarray, votes: bool) -> np.ndarray:
    """How well each walking block fits a frame turned about "up": the share of its horizontal
    step-band energy along ``forward`` rather than across (-1 to 1); with ``votes`` instead its
    forward-sign vote, squashed (tanh of a fifth of it), for frames that differ only there."""
    if votes:
        return np.tanh(sign_features(stats, blocks, up, forward) @ SIGN_WEIGHTS / 5)
    left = _cross(up, forward)
    along = np.einsum("i,kij,j->k", forward, stats.step_cov[blocks], forward)
    across = np.einsum("i,kij,j->k", left, stats.step_cov[blocks], left)
    return (along - across) / np.maximum(along + across, 1e-300)


def _sides(stats: BlockStats, walking: np.ndarray, split: int) -> tuple[np.ndarray, np.ndarray]:
    """The walking blocks within :data:`CHANGE_WINDOW_S` of walking before and after a split."""
    seconds = np.concatenate([[0.0], np.cumsum(stats.count[walking]) / stats.rate])
    first = np.searchsorted(seconds, seconds[split] - CHANGE_WINDOW_S)
    stop = np.searchsorted(seconds, seconds[split] + CHANGE_WINDOW_S, side="right") - 1
    return walking[first:split], walking[split:stop]


def _split_angles(stats: BlockStats, walking: np.ndarray, split: int) -> tuple[float, float]:
    """``(tilt, degrees)``: the angles between the ups and between the frames of the walking just
    before and just after a split."""
    before, after = _sides(stats, walking, split)
    (up, forward), (after_up, after_forward) = _walking_side(stats, before), _walking_side(stats, after)
    tilt = math.degrees(math.acos(float(np.clip(up @ after_up, -1, 1))))
    return tilt, rotation_angle(_body_axes(up, forward), _body_axes(after_up, after_forward))


def _gravity_contrast(stats: BlockStats, walking: np.ndarray, split: int) -> float:
    """``|a| + |b| - |a + b|`` for the summed acceleration ``a`` and ``b`` of the walking just before
    and just after a split: it peaks where the walking gravity turns (each side holds one direction)."""
    before, after = _sides(stats, walking, split)
    a, b = stats.acc_sum[before].sum(0), stats.acc_sum[after].sum(0)
    return float(np.linalg.norm(a) + np.linalg.norm(b) - np.linalg.norm(a + b))


def _refine_turn(stats: BlockStats, walking: np.ndarray, split: int, eligible: np.ndarray) -> int:
    """For frames turned about "up": the split among ``eligible`` near ``split`` where the blocks
    before fit the frame of the walking just before ``split`` best and those after the frame after it
    (the largest cumulative sum of :func:`_fit` differences)."""
    before, after = _sides(stats, walking, split)
    first = split - len(before)
    blocks = walking[first:split + len(after)]
    up, forward = _walking_side(stats, before)
    after_up, after_forward = _walking_side(stats, after)
    sign_only = rotation_angle(_body_axes(up, forward), _body_axes(after_up, -after_forward)) < CHANGE_MIN_DEG
    difference = (_fit(stats, blocks, up, forward, sign_only)
                  - _fit(stats, blocks, after_up, after_forward, sign_only))
    cumulative = np.concatenate([[0.0], np.cumsum(difference)])
    score = 2 * cumulative - cumulative[-1]  # how much better the blocks before fit before, and after after
    candidates = [int(i) for i in eligible if first < i < first + len(blocks)]
    return max(candidates, key=lambda i: score[i - first]) if candidates else split


def _largest_split(stats: BlockStats, walking: np.ndarray, newest_only: bool = False,
                   guard: tuple[float, float] = (0.0, 0.0)) -> tuple[int, float] | None:
    """``(split, degrees)``: the most likely change among the splits of the walking blocks (indices into
    ``walking``) with at least :data:`CHANGE_MIN_WALK_S` of walking on each side, and the angle between
    the frames of the walking just before and after it (:data:`CHANGE_WINDOW_S` at most). The split
    where the walking gravity turns most (:func:`_gravity_contrast`) when it turns by
    :data:`CHANGE_TILT_DEG` or more; else, for a turn about "up", the split where the frames differ
    most, moved to where the blocks fit them best (:func:`_refine_turn`) unless that undoes the change.
    None when there is too little walking. ``guard``: seconds of walking more to keep from the first and
    the last block (edges that are changes). ``newest_only`` (the streaming check): only splits with less than
    :data:`CHANGE_WINDOW_S` of walking after them, and None while the best is the newest of them (a
    change may lie beyond it)."""
    seconds = np.concatenate([[0.0], np.cumsum(stats.count[walking]) / stats.rate])
    after = seconds[-1] - seconds
    eligible = np.flatnonzero((seconds >= CHANGE_MIN_WALK_S + guard[0]) & (after >= CHANGE_MIN_WALK_S + guard[1])
                              & ((after < CHANGE_WINDOW_S) | (not newest_only)))
    if not eligible.size:
        return None
    split = int(max(eligible, key=lambda i: _gravity_contrast(stats, walking, i)))
    tilt, degrees = _split_angles(stats, walking, split)
    if tilt < CHANGE_TILT_DEG:
        split = int(max(eligible, key=lambda i: _split_angles(stats, walking, i)[1]))
        refined = _refine_turn(stats, walking, split, eligible)
        if _is_change(*_split_angles(stats, walking, refined)) or not _is_change(*_split_angles(stats, walking, split)):
            split = refined  # (downstairs votes can pull the refinement off a change of the sign alone)
        degrees = _split_angles(stats, walking, split)[1]
    if newest_only and split == eligible[-1]:
        return None
    return split, degrees


def _is_change(tilt: float, degrees: float) -> bool:
    """Whether frames this far apart (and their ups ``tilt`` apart) mean the phone moved: by more than
    :data:`CHANGE_MIN_DEG`, or :data:`CHANGE_MIN_YAW_DEG` for a turn about "up" (the forward axis of
    the stairs can differ from the level walking's by 60 degrees)."""
    return degrees > (CHANGE_MIN_DEG if tilt >= CHANGE_TILT_DEG else CHANGE_MIN_YAW_DEG)


def _find_change(stats: BlockStats, walking: np.ndarray, newest_only: bool = False,
                 guard: tuple[float, float] = (0.0, 0.0)) -> int | None:
    """The split of :func:`_largest_split` when it is a change (:func:`_is_change`)."""
    found = _largest_split(stats, walking, newest_only, guard)
    return found[0] if found is not None and _is_change(*_split_angles(stats, walking, found[0])) else None


def largest_change(stats: BlockStats) -> tuple[int, float] | None:
    """``(block, degrees)``: the first walking block after the split of all walking blocks where the
    frames just before and after differ most, and by how much (None: too little walking)."""
    walking = np.flatnonzero(stats.walking)
    found = _largest_split(stats, walking)
    return None if found is None else (int(walking[found[0]]), found[1])


def _change_boundary(stats: BlockStats, walking: np.ndarray, split: int, first: int) -> int:
    """The block where the phone moved, for a change found at ``split`` of the ``walking`` blocks (none
    before block ``first``): a boundary from the last walking block before the split to the first one
    after it, where the jump of gravity (the mean acceleration of the two blocks on each side) is best
    explained by the turn between the frames before and after; the middle of that stretch when the
    turn tilts "up" by less than :data:`CHANGE_TILT_DEG` (gravity then barely jumps)."""
    before, after = _sides(stats, walking, split)
    up, forward = _walking_side(stats, before)
    after_up, after_forward = _walking_side(stats, after)
    lo, hi = max(int(walking[split - 1]), first + 1), int(walking[split]) + 1
    if math.degrees(math.acos(float(np.clip(up @ after_up, -1, 1)))) < CHANGE_TILT_DEG:
        return (lo + hi) // 2
    turn = _body_axes(after_up, after_forward).T @ _body_axes(up, forward)
    best = (math.inf, (lo + hi) // 2)
    for boundary in range(lo, hi + 1):
        gravity_before = stats.acc_sum[max(boundary - 2, 0):boundary].sum(0)
        gravity_after = stats.acc_sum[boundary:boundary + 2].sum(0)
        if gravity_before.any() and gravity_after.any():
            best = min(best, (-float(_unit(turn @ gravity_before) @ _unit(gravity_after)), boundary))
    return best[1]


def _segments(stats: BlockStats, first: int, stop: int, changed: tuple[bool, bool] = (False, False)) -> list[int]:
    """The blocks where the phone moved on the body, between blocks ``first`` and ``stop`` (binary
    segmentation); ``changed``: whether ``first`` and ``stop`` are changes (a split then keeps
    :data:`CHANGE_GUARD_S` more walking from them)."""
    blocks = np.arange(first, stop)
    walking = blocks[stats.walking[blocks]]
    split = _find_change(stats, walking, guard=tuple(CHANGE_GUARD_S if edge else 0.0 for edge in changed))
    if split is None:
        return []
    boundary = _change_boundary(stats, walking, split, first)
    return [*_segments(stats, first, boundary, (changed[0], True)), boundary,
            *_segments(stats, boundary, stop, (True, changed[1]))]


def _confirmed(stats: BlockStats, boundaries: list[int]) -> list[int]:
    """The changes whose neighbouring stretches' walking frames (:data:`CHANGE_WINDOW_S` of walking
    at most on each side, within the stretches) still differ enough (:func:`_is_change`): a change
    placed where the activity changed (a side holding both orientations) is dropped, and its
    neighbours judged again."""
    while True:
        edges = [0, *boundaries, len(stats.start)]
        for i, boundary in enumerate(boundaries):
            blocks = np.arange(edges[i], edges[i + 2])
            walking = blocks[stats.walking[blocks]]
            split = int(np.searchsorted(walking, boundary))
            if not _is_change(*_split_angles(stats, walking, split)):
                boundaries = boundaries[:i] + boundaries[i + 1:]
                break
        else:
            return boundaries


def estimate_body_frame(acc, rate: float, *, detect_changes: bool = True) -> FrameEstimate:
    """The body frame(s) of a recording from its acceleration ``acc`` [n, 3] (g) at ``rate`` Hz:
    one frame, or one per stretch between changes of the phone's orientation on the body."""
    stats = block_stats(acc, rate)
    n = int(stats.start[-1] + stats.count[-1])
    boundaries = _confirmed(stats, _segments(stats, 0, len(stats.start))) if detect_changes else []
    edges = [0, *boundaries, len(stats.start)]
    samples = [int(stats.start[b]) if b < len(stats.start) else n for b in edges]
    frames = tuple(_frame(stats, a, b, sa, sb)
                   for a, b, sa, sb in zip(edges[:-1], edges[1:], samples[:-1], samples[1:]))
    return FrameEstimate(frames, tuple(samples[1:-1]), stats)


class StreamingBodyFrame:
    """The causal body frame: :meth:`push` chunks of acceleration and get, for every sample, the
    rotation in force when it arrived, from the blocks before it: the gravity frame of the stretch so
    far until :data:`MIN_WALK_S` of walking, then its walking frame. A change of orientation is found
    once :data:`CHANGE_MIN_WALK_S` of walking after it and one block more have been seen; the frame of
    the stretch after it then takes over (``changes`` lists their first samples). The first block gets
    the gravity frame of its first sample. The block statistics of the whole stream are kept (about
    1.5 kB per 1.28 s at 50 Hz)."""

    def __init__(self, rate: float) -> None:
        self.rate = _check_rate(rate)
        self.reset()

    def reset(self) -> None:
        self._blocks = _BlockAccumulator(self.rate)
        self._rotation: np.ndarray | None = None
        self._first_block = 0
        self.frame: BodyFrame | None = None
        self.changes: list[int] = []

    def push(self, acc_chunk) -> np.ndarray:
        """Rotations ``[m, 3, 3]`` for the ``m`` samples of ``acc_chunk`` [m, 3] (g)."""
        x = _check_acc(acc_chunk, "acc_chunk")
        if self._rotation is None and x.shape[0]:
            self._rotation = _smallest_rotation(_unit(x[0]), CANONICAL[2])
        out = np.empty((x.shape[0], 3, 3))
        done = 0
        while done < x.shape[0]:
            part = x[done:done + self._blocks.block - self._blocks.pending.shape[0]]
            out[done:done + part.shape[0]] = self._rotation
            before = self._blocks.n_blocks
            if self._blocks.push(part) > before:
                self._update()
            done += part.shape[0]
        return out

    def _update(self) -> None:
        stats = self._blocks.stats()
        last = len(stats.start)
        if stats.walking[-1]:
            blocks = np.arange(self._first_block, last)
            walking = blocks[stats.walking[blocks]]
            split = _find_change(stats, walking, newest_only=True)
            if split is not None:
                self._first_block = _change_boundary(stats, walking, split, self._first_block)
                self.changes.append(int(stats.start[self._first_block]))
        n = int(stats.start[-1] + stats.count[-1])
        self.frame = _frame(stats, self._first_block, last, int(stats.start[self._first_block]), n)
        self._rotation = self.frame.rotation
